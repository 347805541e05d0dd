/* gRPC call targets (see grpc_target.h): method names, probes and the endpoint check. */
#include "grpc_h2/grpc_target.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc_h2/grpc_transport.h"
#include "maestro/maestro.h"

/* host:port, the port 1 to 65535, no path. */
static int grpc_check_endpoint(const char *ep, mae_target_err *err) {
    const char *colon = strrchr(ep, ':');
    bool ok = colon && colon != ep && colon[1] && strlen(colon + 1) <= 5 && !strchr(ep, '/');
    for (const char *p = colon ? colon + 1 : ""; ok && *p; p++) ok = *p >= '0' && *p <= '9';
    if (ok) {
        long port = strtol(colon + 1, NULL, 10);
        ok = port > 0 && port < 65536;
    }
    if (ok) return 0;
    snprintf(err->msg, sizeof err->msg, "invalid grpc endpoint '%s' (expected host:port)", ep);
    err->at_offset = false;
    return MAE_EINVAL;
}

/* "pkg.Service/Method" (a leading '/' accepted): the full form of a typed method. Whether the
 * service has descriptors to resolve it is the loader's check. */
static bool full_method(const char *s) {
    if (*s == '/') s++;
    const char *slash = strchr(s, '/');
    if (!slash || slash == s || slash - s > 512 || !mae__target_ident(slash + 1)) return false;
    bool start = true;
    for (const char *p = s; p < slash; p++) {
        bool alpha = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '_';
        bool digit = *p >= '0' && *p <= '9';
        if (*p == '.') {
            if (start) return false;
            start = true;
            continue;
        }
        if (!(alpha || (digit && !start))) return false;
        start = false;
    }
    return !start;
}

bool mae__grpc_method_is_full(const char *s) { return full_method(s); }

static int grpc_compile(mae_arena *a, const char *s, mae_target_use use, mae_target **out,
                        mae_target_err *err) {
    *out = NULL;
    if (!mae__target_ident(s) && (use == MAE_TARGET_PROBE || !full_method(s))) {
        snprintf(err->msg, sizeof err->msg,
                 use == MAE_TARGET_PROBE ? "invalid probe '%s' (expected a method name)"
                                         : "invalid gRPC method '%s' (expected a method name such as CreateUser)",
                 s);
        err->at_offset = false;
        return MAE_EPARSE;
    }
    mae_target *t = mae__arena_alloc(a, sizeof *t);
    if (!t) return MAE_ENOMEM;
    t->type = &mae__grpc_target_type;
    t->text = s;
    *out = t;
    return 0;
}

static size_t grpc_templates(const mae_target *t, const mae_tmpl **out, size_t *offsets, size_t max) {
    return 0;
}

static int grpc_describe(const mae_target *t, const mae_scope *scope, char **out, mae_eval_err *err) {
    *out = strdup(t->text);
    return *out ? 0 : MAE_ENOMEM;
}

const char *mae__grpc_target_method(const mae_target *t) {
    return t && t->type == &mae__grpc_target_type ? t->text : NULL;
}

const mae_target_type mae__grpc_target_type = {
    .name = "grpc",
    .default_max_response = 4u << 20,
    .check_endpoint = grpc_check_endpoint,
    .compile = grpc_compile,
    .templates = grpc_templates,
    .describe = grpc_describe,
    .transport_new = mae_grpc_transport_new,
};
