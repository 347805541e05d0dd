/* The stub file of `maestro stub` (docs/cli.md#the-stub-file): services to fake, their routes
 * (HTTP) or methods (gRPC), and how each answers. Loaded with the workflow loader's accessors, so
 * problems get the same FILE:LINE:COL diagnostics. Pure: the runtime is stub/stub.c. */
#ifndef MAE_STUBFILE_H
#define MAE_STUBFILE_H

#include <stdbool.h>
#include <stdint.h>

#include "workflow/model.h"

typedef struct mae_stub_behavior {
    mae_tval *respond;        /* NULL = {} */
    int status;               /* HTTP status of a success; default 200 */
    uint64_t delay_ms;
    bool hang;                /* never answer (until the client gives up) */
    bool fail;                /* a failure is configured */
    int fail_times;           /* fail the first N calls; 0 = every call */
    int fail_http;            /* HTTP status to fail with; 0 = none */
    int fail_grpc;            /* gRPC code to fail with; -1 = none */
    bool fail_app;            /* gRPC: answer ServiceResponse{success=false, error=message} */
    const char *fail_message;
    int64_t retry_after_s;    /* Retry-After (HTTP) / grpc-retry-pushback-ms/1000 (gRPC); -1 none */
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
    /* gRPC: a FileDescriptorSet (path as written, resolved against the stub file's folder):
     * methods are then the typed methods it describes, and the stub answers reflection.
     * NULL: the Maestro envelope. */
    const char *descriptors;
} mae_stub_service;

typedef struct mae_stub_file {
    mae_arena arena;
    mae_stub_service *services;
    size_t n_services;
} mae_stub_file;

/* Loads a stub file; problems go to diags (MAE_EPARSE), MAE_EIO when unreadable. */
int mae__stub_file_load(const char *path, mae_stub_file **out, mae_diags *diags);
int mae__stub_file_load_buf(const char *name, const char *buf, size_t len, mae_stub_file **out,
                           mae_diags *diags);
void mae__stub_file_free(mae_stub_file *f);
#endif
