/* Maestro's public API: workflows. A workflow is loaded once (from a file or from memory),
 * checked completely (every problem reported as FILE:LINE:COL), and is then read-only input to
 * any number of runs on any number of engines. Its contents are private to the library. */
#ifndef MAESTRO_WORKFLOW_H
#define MAESTRO_WORKFLOW_H

#include <stdio.h>

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mae_workflow mae_workflow;

/* Where the loader sends diagnostics; both, one or neither may be set. */
typedef struct mae_load_opts {
    const char *text;       /* NULL: read the file at path. Else the YAML itself (len bytes,
                               NUL not needed); path is then only the name in diagnostics */
    size_t len;
    FILE *diag_out;         /* printed here as FILE:LINE:COL: error: MESSAGE, one per line */
    mae_diag_cb on_diag;    /* and/or passed here, one call per problem, sorted by position */
    void *diag_ud;
} mae_load_opts;

/* Loads and validates a workflow. On success *out is a workflow the caller owns (free it with
 * mae_workflow_free once no run uses it). Returns 0, or with *out NULL:
 *   MAE_EPARSE  the YAML or the workflow is invalid (every problem was reported),
 *   MAE_EIO     the file cannot be read,   MAE_ETOOBIG  the file or text is over the size cap,
 *   MAE_EINVAL  path or out is NULL,       MAE_ENOMEM   out of memory. */
MAE_API int mae_workflow_load_opts(const char *path, const mae_load_opts *opts, mae_workflow **out);
/* The same with diagnostics printed to diag_out (NULL = not printed). */
MAE_API int mae_workflow_load(const char *path, mae_workflow **out, FILE *diag_out);
/* The same from memory: name is used in diagnostics only. */
MAE_API int mae_workflow_load_mem(const char *name, const char *text, size_t len, mae_workflow **out,
                                  FILE *diag_out);
/* NULL is a no-op. No run of this workflow may still be going (runs borrow it). */
MAE_API void mae_workflow_free(mae_workflow *wf);

/* The workflow's `name:`. Borrowed from wf. */
MAE_API const char *mae_workflow_name(const mae_workflow *wf);

/* Points service `service` at another endpoint (what `maestro run --set
 * service.NAME.endpoint=URL` does). The endpoint is checked as the loader checks `endpoint:`
 * (http: http(s)://host[:port][/base]; grpc: host:port; no templates) and copied. Call it
 * before starting runs of wf: runs already going keep the old endpoint or see the new one.
 * When errbuf is not NULL a failure writes a one-line reason there (NUL-terminated, cut to
 * errlen). Returns 0, MAE_EINVAL (NULL argument or endpoint rejected), MAE_ENOTFOUND (no such
 * service), MAE_ENOMEM. */
MAE_API int mae_workflow_set_endpoint(mae_workflow *wf, const char *service, const char *endpoint,
                                      char *errbuf, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
