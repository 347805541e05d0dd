/* Test helper: compiles a call target with its type's functions (transports/target.h), as the
 * loader does, into an arena the test frees. Test-only: static functions. */
#ifndef MAE_TEST_TARGET_FX_H
#define MAE_TEST_TARGET_FX_H

#include <stdio.h>
#include <string.h>

#include "grpc_h2/grpc_target.h"
#include "transports/target.h"

/* NULL when text does not compile (or the type is unknown). */
static inline const mae_target *fx_target(mae_arena *a, const char *type, const char *text) {
    const mae_target_type *ty = mae__target_type_find(type);
    char *copy = mae__arena_strdup(a, text);
    mae_target *t = NULL;
    mae_target_err err;
    if (!ty || !copy || ty->compile(a, copy, MAE_TARGET_CALL, &t, &err) != 0) return NULL;
    return t;
}

/* A gRPC target is its method name and nothing else: built in place, valid in its scope. */
#define FX_GRPC_TARGET(m) (&(mae_target){.type = &mae__grpc_target_type, .text = (m)})

#endif
