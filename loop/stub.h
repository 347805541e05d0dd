/* `maestro stub` (SPEC §5): fake HTTP and gRPC services served from a stub file, on one libuv
 * loop, so workflows can run before the real services exist and benchmarks have a fast
 * backend. Replies are template trees rendered with {{ .request.X }} and {{ .n }}; behaviours
 * are delays, injected failures for the first N calls (or all), and hangs. */
#ifndef MAE_STUB_H
#define MAE_STUB_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "workflow/model.h"

typedef struct mae_stub_behavior {
    mae_tval *respond;        /* NULL = {} */
    int status;               /* HTTP status of a success; default 200 */
    uint64_t delay_ms;
    bool hang;                /* never answer (until the client gives up) */
    bool fail;                /* a failure is configured */
    int fail_times;           /* fail the first N calls; 0 = every call */
    int fail_http;            /* HTTP status to fail with (HTTP routes; gRPC: as :status) */
    int fail_grpc;            /* gRPC code to fail with; -1 = none */
    const char *fail_message;
    int64_t retry_after_s;    /* Retry-After (HTTP) / grpc-retry-pushback-ms (gRPC); -1 none */
} mae_stub_behavior;

typedef struct mae_stub_route {
    mae_pos pos;
    const char *key;          /* as written: "POST /verify", "Transcode" */
    const char *verb;         /* HTTP: upper-case verb */
    const char *path;         /* HTTP: pattern, "{name}" segments capture into .request.name */
    mae_stub_behavior b;
    unsigned long calls;      /* runtime: calls received */
} mae_stub_route;

typedef struct mae_stub_service {
    mae_pos pos;
    const char *name;
    mae_svc_type type;
    const char *host;
    int port;
    mae_stub_route *routes;
    size_t n_routes;
} mae_stub_service;

typedef struct mae_stub_file {
    mae_arena arena;
    mae_stub_service *services;
    size_t n_services;
} mae_stub_file;

/* Loads a stub file; problems go to diags as FILE:LINE:COL errors (MAE_EPARSE). */
int mae_stub_file_load(const char *path, mae_stub_file **out, mae_diags *diags);
void mae_stub_file_free(mae_stub_file *f);

typedef struct mae_stub mae_stub;
/* Starts every service of f on loop (f must outlive the stub). log (may be NULL) receives one
 * JSON line per call. On failure errbuf says which service and why (e.g. port in use). */
int mae_stub_start(uv_loop_t *loop, mae_stub_file *f, FILE *log, mae_stub **out, char *errbuf,
                   size_t errlen);
/* The port a service actually listens on (after port 0). -1 if unknown. */
int mae_stub_port(const mae_stub *s, const char *service);
void mae_stub_close(mae_stub *s, void (*done)(void *ud), void *ud);

/* Matches "VERB /path" against a route (pure, for tests). Captured {params} go into params
 * (a cJSON object) when non-NULL. */
bool mae_stub_route_match(const mae_stub_route *r, const char *verb, const char *path, cJSON *params);
#endif
