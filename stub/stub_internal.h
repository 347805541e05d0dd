/* Internals shared by the stub's HTTP side (stub.c), gRPC side (stub_grpc.c) and file loader. */
#ifndef MAE_STUB_INTERNAL_H
#define MAE_STUB_INTERNAL_H

#include "stub/stub.h"
#include "transports/h1_server.h"

typedef struct mae_stub mae_stub;

/* A delayed reply's timer, listed in its stub so that closing the stub cancels it (a reply
 * delayed by an hour must not keep a closed stub's loop alive for an hour). */
typedef struct mae_stub_delay {
    uv_timer_t timer;
    mae_stub *stub;
    struct mae_stub_delay *next, *prev;
    uv_close_cb closed;      /* the record's close callback: frees it, then calls _closed */
    bool held;               /* the stub's close waits for this timer */
} mae_stub_delay;
typedef struct mae_stub_http {
    mae_stub *stub;
    mae_stub_service *svc;
    struct mae_stub_typed *typed;  /* gRPC with descriptors: stub_typed.h */
    mae_h1_server *h1;       /* HTTP services */
    void *grpc;              /* gRPC services: the grpc_h2 server */
} mae_stub_http;

struct mae_stub {
    uv_loop_t *loop;
    FILE *log;
    mae_stub_file *file;
    mae_stub_http *http;     /* one per service, same index as file->services */
    int open_parts;
    mae_stub_delay *delays;  /* delayed replies not yet sent */
    void (*done)(void *);
    void *done_ud;
};

char *mae__stub_pct_decode(const char *s, size_t len, bool plus_is_space);
void mae__stub_log(mae_stub *s, const char *service, const char *kind, const char *method,
                   unsigned long n, const cJSON *request, int status, const char *key);
cJSON *mae__stub_render(const mae_stub_route *r, const cJSON *request, unsigned long n, char *msg,
                        size_t mlen);
bool mae__stub_should_fail(const mae_stub_route *r);
/* Starts d's timer (timer.data = data) and lists it; closing it unlists it. The record's close
 * callback (closed) calls mae__stub_delay_closed with a copy of d after freeing the record. */
void mae__stub_delay_start(mae_stub *s, mae_stub_delay *d, void *data, uv_timer_cb fire,
                           uv_close_cb closed, uint64_t ms);
void mae__stub_delay_close(mae_stub_delay *d);
void mae__stub_delay_closed(const mae_stub_delay *d);

int mae__stub_grpc_start(mae_stub *s, mae_stub_http *hs);
/* Answers a gRPC call now or after delay_ms: code 0 with the reply message msg (len bytes), else
 * the failure code with msg as its message; pushback_ms >= 0 adds grpc-retry-pushback-ms. Takes
 * msg. */
struct mae_grpc_scall;
void mae__stub_grpc_answer(mae_stub_http *hs, struct mae_grpc_scall *call, int code, char *msg,
                           size_t len, int64_t pushback_ms, uint64_t delay_ms);
/* Answers OK with frames (len bytes of complete length-prefixed messages, taken), now or after
 * delay_ms: a server-streaming reply. */
void mae__stub_grpc_answer_frames(mae_stub_http *hs, struct mae_grpc_scall *call, uint8_t *frames,
                                  size_t len, uint64_t delay_ms);
int mae__stub_grpc_port(const mae_stub_http *hs);
void mae__stub_grpc_close(mae_stub_http *hs, void (*done)(void *), void *ud);
#endif
