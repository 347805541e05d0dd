/* Internals shared by the stub's HTTP side (stub.c), gRPC side (stub_grpc.c) and file loader. */
#ifndef MAE_STUB_INTERNAL_H
#define MAE_STUB_INTERNAL_H

#include "loop/stub.h"
#include "transports/h1_server.h"

typedef struct mae_stub mae_stub;
typedef struct mae_stub_http {
    mae_stub *stub;
    mae_stub_service *svc;
    mae_h1_server *h1;       /* HTTP services */
    void *grpc;              /* gRPC services: the grpc_h2 server */
} mae_stub_http;

struct mae_stub {
    uv_loop_t *loop;
    FILE *log;
    mae_stub_file *file;
    mae_stub_http *http;     /* one per service, same index as file->services */
    int open_parts;
    void (*done)(void *);
    void *done_ud;
};

char *mae__stub_pct_decode(const char *s, size_t len, bool plus_is_space);
void mae__stub_log(mae_stub *s, const char *service, const char *kind, const char *method,
                   unsigned long n, const cJSON *request, int status, const char *key);
cJSON *mae__stub_render(const mae_stub_route *r, const cJSON *request, unsigned long n, char *msg,
                        size_t mlen);
bool mae__stub_should_fail(const mae_stub_route *r);

int mae__stub_grpc_start(mae_stub *s, mae_stub_http *hs);
int mae__stub_grpc_port(const mae_stub_http *hs);
void mae__stub_grpc_close(mae_stub_http *hs, void (*done)(void *), void *ud);
#endif
