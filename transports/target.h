/* Call targets: what a step's `method` (or a compensation's, or a breaker's `probe`) becomes
 * when the workflow is loaded. Each transport type compiles its own targets with pure
 * functions (no libuv, no sockets: `maestro validate` runs them); the engine only carries a
 * target to the transport of the same type, with the scope to render it in, and asks it for a
 * text to log. The engine never looks inside.
 *
 * The types are found in one const table keyed by the service `type` string
 * (mae__target_type_find). Adding a transport adds an entry there and a transport; neither the
 * engine nor the loader changes. */
#ifndef MAE_TARGET_H
#define MAE_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "workflow/arena.h"
#include "workflow/template.h"

typedef struct mae_target_type mae_target_type;
struct uv_loop_s;
struct mae_transport;

/* Every target starts with this; the rest is the type's own. Lives in the arena it was
 * compiled into (a workflow's, or the engine's per-service state for a probe). */
typedef struct mae_target {
    const mae_target_type *type;
    const char *text;          /* as written, e.g. "POST /verify/{{ .input.id }}", "CreateUser" */
} mae_target;

/* A problem found while compiling. offset is the byte of the text it is at when at_offset
 * (a template error), else it concerns the whole text. */
typedef struct mae_target_err {
    char msg[512];
    size_t offset;
    bool at_offset;
} mae_target_err;

typedef enum {
    MAE_TARGET_CALL,   /* a step's or a compensation's method: may hold templates */
    MAE_TARGET_PROBE,  /* a breaker probe: sent with nothing to render it with */
} mae_target_use;

struct mae_target_type {
    const char *name;                /* the service `type`: "http", "grpc", ... */
    uint64_t default_max_response;   /* bytes, when the service sets none */
    /* Checks an endpoint as written. Returns 0 or MAE_EINVAL with err->msg set. */
    int (*check_endpoint)(const char *endpoint, mae_target_err *err);
    /* Compiles text into *out, allocated in a (the target lives as long as the arena).
     * Returns 0, MAE_EPARSE (err filled) or MAE_ENOMEM. */
    int (*compile)(mae_arena *a, const char *text, mae_target_use use, mae_target **out,
                   mae_target_err *err);
    /* The templates the target renders at call time with their byte offsets in text (for the
     * loader's reference checks and positions). Returns how many there are (fills at most max). */
    size_t (*templates)(const mae_target *t, const mae_tmpl **out, size_t *offsets, size_t max);
    /* The call as a person reads it, rendered in scope (NULL: as written): "POST /verify/x",
     * "CreateUser". *out is malloc'd. Returns 0, MAE_ETEMPLATE (err: what failed to render) or
     * MAE_ENOMEM. */
    int (*describe)(const mae_target *t, const mae_scope *scope, char **out, mae_eval_err *err);
    /* Creates this type's transport on loop (the one an engine makes for itself when the
     * embedder gave none). Not pure: only the engine calls it. Returns 0 or a negative MAE_E*. */
    int (*transport_new)(struct uv_loop_s *loop, struct mae_transport **out);
};

/* Every known type, NULL-terminated (transports/targets.c). */
extern const mae_target_type *const mae__target_types[];
/* The type named name, NULL when there is none. */
const mae_target_type *mae__target_type_find(const char *name);

/* The transports an embedder put in the engine options, each with the service type it is for
 * (types[i] is a static string). Fills at most max, returns how many. Kept next to the type
 * table so that a new transport type and its option are added in one place. */
struct mae_engine_opts;
size_t mae__opts_transports(const struct mae_engine_opts *o, const char **types,
                            struct mae_transport **out, size_t max);

/* A method name: [A-Za-z_][A-Za-z0-9_]*, at most 128 bytes (the bare form of every type). */
bool mae__target_ident(const char *s);

static inline int mae_target_describe(const mae_target *t, const mae_scope *scope, char **out,
                                      mae_eval_err *err) {
    return t->type->describe(t, scope, out, err);
}

#endif
