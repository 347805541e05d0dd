/* `maestro stub` (docs/cli.md#stub): fake HTTP and gRPC services served from a stub file, on one
 * libuv loop, so workflows can run before the real services exist and benchmarks have a fast
 * backend. Replies are template trees rendered with {{ .request.X }} and {{ .n }}; behaviours are
 * delays, injected failures for the first N calls (or all), and hangs. */
#ifndef MAE_STUB_H
#define MAE_STUB_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "workflow/stubfile.h"

typedef struct mae_stub mae_stub;
/* Starts every service of f on loop (f must outlive the stub). log (may be NULL) receives one
 * JSON line per call. On failure errbuf says which service and why (e.g. port in use). */
int mae__stub_start(uv_loop_t *loop, mae_stub_file *f, FILE *log, mae_stub **out, char *errbuf,
                   size_t errlen);
/* The port a service actually listens on (after port 0). -1 if unknown. */
int mae__stub_port(const mae_stub *s, const char *service);
void mae__stub_close(mae_stub *s, void (*done)(void *ud), void *ud);

/* Matches "VERB /path" against a route (pure, for tests). Captured {params} go into params
 * (a cJSON object) when non-NULL. */
bool mae__stub_route_match(const mae_stub_route *r, const char *verb, const char *path, cJSON *params);
#endif
