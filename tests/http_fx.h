/* Shared fixture of the HTTP transport's integration tests: a real Python HTTP/1.1 server
 * (tests/servers/http_echo.py) on loopback, the transport on a fresh uv loop, a hand-built
 * service, and a result recorder. fx_end closes the transport and asserts uv_loop_close()==0.
 * Test-only: static functions, included by one test file each. */
#ifndef MAE_TEST_HTTP_FX_H
#define MAE_TEST_HTTP_FX_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "harness.h"
#include "maestro/maestro.h"
#include "target_fx.h"
#include "transports/http.h"

typedef struct got {
    int called;
    mae_class cls;
    int status;
    cJSON *out;
    char msg[2048];
    int64_t retry_after_ms;
    bool sent;
    uint64_t at_ns;          /* uv_hrtime() when the callback ran */
} got;

static inline void on_result(mae_call_result *r, void *ud) {
    got *g = ud;
    g->called++;
    g->cls = r->cls;
    g->status = r->status;
    g->out = r->output;      /* ours now */
    snprintf(g->msg, sizeof g->msg, "%s", r->message ? r->message : "");
    g->retry_after_ms = r->retry_after_ms;
    g->sent = r->sent;
    g->at_ns = uv_hrtime();
}

typedef struct fx {
    uv_loop_t loop;
    mae_transport *t;
    th_proc srv;
    mae_svc_cfg svc;
    mae_arena arena;         /* the targets of fx_req */
    char ep[128];
    int closed;
} fx;

static inline void fx_start(fx *f) {
    memset(f, 0, sizeof *f);
    char *argv[] = {TH_PYTHON, (char *)th_path("tests/servers/http_echo.py"), NULL};
    ASSERT_EQ_INT(th_spawn(&f->srv, argv, 20), 0);
    snprintf(f->ep, sizeof f->ep, "http://127.0.0.1:%d", f->srv.port);
    ASSERT_EQ_INT(uv_loop_init(&f->loop), 0);
    ASSERT_EQ_INT(mae_http_transport_new(&f->loop, &f->t), 0);
    f->svc.name = "svc";
    f->svc.type = "http";
    f->svc.endpoint = f->ep;
    f->svc.timeout_ms = 20000;
    f->svc.pool_connections = 5;
    f->svc.max_response = 16u << 20;
}

/* The target "VERB path" as the HTTP type compiles it (NULL when it does not compile). */
static inline const mae_target *fx_http_target(fx *f, const char *verb, const char *path) {
    char text[10000];
    snprintf(text, sizeof text, "%s %s", verb, path);
    return fx_target(&f->arena, "http", text);
}

static inline mae_call_req fx_req(fx *f, const char *verb, const char *path, const cJSON *input) {
    const mae_target *t = fx_http_target(f, verb, path);
    ASSERT_NOT_NULL(t);
    return (mae_call_req){
        .service = &f->svc, .target = t, .input = input,
        .timeout_ms = 20000, .run_id = "run-1", .step_id = "step-a",
        .idempotency_key = "run-1:step-a",
        .traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    };
}

static inline void wait_for(fx *f, const int *counter, int n) {
    while (*counter < n) uv_run(&f->loop, UV_RUN_ONCE);
}

/* The transport's counters (mae__http_transport_stats). */
static inline mae_http_stats fx_stats(const mae_transport *t) {
    mae_http_stats st;
    mae__http_transport_stats(t, &st);
    return st;
}

static inline void on_closed(void *ud) { ((fx *)ud)->closed++; }

static inline void fx_end(fx *f) {
    f->t->vt->close(f->t, on_closed, f);
    ASSERT_EQ_INT(f->closed, 0);          /* done runs from the loop, not from close() */
    uv_run(&f->loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(f->closed, 1);
    ASSERT_EQ_INT(uv_loop_close(&f->loop), 0);
    mae__arena_free(&f->arena);
    if (f->srv.pid) th_stop(&f->srv);
}

/* One call, waited for; the callback never comes from inside start(). */
static inline void call1(fx *f, const mae_call_req *req, got *g) {
    mae_call *c = NULL;
    memset(g, 0, sizeof *g);
    ASSERT_EQ_INT(mae_transport_start(f->t, req, on_result, g, &c), 0);
    ASSERT_NOT_NULL(c);
    ASSERT_EQ_INT(g->called, 0);
    wait_for(f, &g->called, 1);
    ASSERT_EQ_INT(g->called, 1);
}

static inline const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

#endif
