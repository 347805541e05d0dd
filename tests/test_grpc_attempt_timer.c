/* One timer per gRPC call (issue #15): the engine's attempt timer is the call's deadline
 * (mae_call_req.caller_deadline), the transport keeps no timer of its own for such a call, and
 * delivers every result through one timer of its own. What must not change:
 * - a call the caller times itself is never timed out by the transport, and a reply arriving
 *   after the caller cancelled it is dropped (one callback, no use after free under ASan);
 * - a call the transport times itself still ends as MAE_CLASS_TIMEOUT, in deadline order
 *   whatever the order the calls started in;
 * - through the engine, a hung call still fails with class timeout and is retried with its
 *   backoff, against a real `maestro stub` (with ASan in the asan flavour). */
#include <nghttp2/nghttp2.h>
#include <unistd.h>
#include <uv.h>

#include "engine_fx.h"
#include "grpc_h2/grpc_client_int.h"
#include "grpc_h2/grpc_transport.h"
#include "harness.h"
#include "target_fx.h"
#include "maestro/maestro.h"

typedef struct sess {
    uv_loop_t loop;
    mae_transport *t;
    mae__gpool *pool;
    mae__gconn *conn;
    int closed;
} sess;

typedef struct got {
    int called;
    int order;
    mae_class cls;
    char msg[128];
} got;

static int order_seq;

static void sink(void *ud, const uint8_t *p, size_t len) { (void)ud, (void)p, (void)len; }

static void on_result(mae_call_result *r, void *ud) {
    got *g = ud;
    g->called++;
    g->order = ++order_seq;
    g->cls = r->cls;
    snprintf(g->msg, sizeof g->msg, "%s", r->message ? r->message : "");
    cJSON_Delete(r->output);
}

static void on_closed(void *ud) { ((sess *)ud)->closed++; }

static const uint8_t settings[] = {0, 0, 0, 4, 0, 0, 0, 0, 0};

static mae_svc_cfg svc1(void) {
    return (mae_svc_cfg){.name = "s", .type = "grpc", .endpoint = "localhost:50051",
                         .pool_connections = 1, .timeout_ms = 30000};
}

static void open_session(sess *s, mae_svc_cfg *svc) {
    memset(s, 0, sizeof *s);
    ASSERT_EQ_INT(uv_loop_init(&s->loop), 0);
    ASSERT_EQ_INT(mae_grpc_transport_new(&s->loop, &s->t), 0);
    ASSERT_EQ_INT(mae__pool_get((mae__gtransport *)s->t, svc, &s->pool), 0);
    ASSERT_EQ_INT(mae__conn_new_detached(s->pool, sink, s, &s->conn), 0);
}

static mae_call *start(sess *s, const mae_svc_cfg *svc, uint64_t timeout_ms, bool caller, got *g) {
    mae_call_req req = {.service = svc, .target = FX_GRPC_TARGET("M"), .timeout_ms = timeout_ms,
                        .run_id = "r", .step_id = "s", .idempotency_key = "r:s",
                        .caller_deadline = caller};
    mae_call *c = NULL;
    memset(g, 0, sizeof *g);
    ASSERT_EQ_INT(mae_transport_start(s->t, &req, on_result, g, &c), 0);
    return c;
}

static void close_session(sess *s) {
    s->t->vt->close(s->t, on_closed, s);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(s->closed, 1);
    ASSERT_EQ_INT(uv_loop_close(&s->loop), 0);
}

TEST(caller_timed_call_is_not_timed_out_by_the_transport_and_a_late_reply_is_dropped) {
    mae_svc_cfg svc = svc1();
    sess s;
    open_session(&s, &svc);
    got g;
    mae_call *c = start(&s, &svc, 30, true, &g);
    ASSERT_EQ_INT(mae__conn_recv(s.conn, settings, sizeof settings), 0);
    mae__gtransport *gt = s.t->data;
    /* no timer of the transport's is armed for it: its deadline is the caller's */
    ASSERT_FALSE(uv_is_active((uv_handle_t *)&gt->deadlines));
    usleep(80 * 1000);
    uv_update_time(&s.loop);
    uv_run(&s.loop, UV_RUN_NOWAIT);
    ASSERT_EQ_INT(g.called, 0);
    /* what the engine's attempt timer does when it fires */
    s.t->vt->cancel(s.t, c);
    ASSERT_EQ_INT(g.called, 0);   /* never from inside cancel() */
    while (!g.called) uv_run(&s.loop, UV_RUN_ONCE);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_CANCELLED);
    /* the server's reply to stream 1 arrives after the reset */
    size_t len;
    char *bytes = th_read_file(th_path("tests/fuzz/seed-fuzz_grpc_client/ok"), &len);
    ASSERT_NOT_NULL(bytes);
    mae__conn_recv(s.conn, (const uint8_t *)bytes, len);
    free(bytes);
    uv_run(&s.loop, UV_RUN_NOWAIT);
    ASSERT_EQ_INT(g.called, 1);
    close_session(&s);
    ASSERT_EQ_INT(g.called, 1);
}

TEST(transport_timed_calls_time_out_in_deadline_order) {
    mae_svc_cfg svc = svc1();
    sess s;
    open_session(&s, &svc);
    got g[4];
    uint64_t ms[4] = {90, 30, 60, 45};
    mae_call *c3 = NULL;
    order_seq = 0;
    /* Deadlines count from the loop's time when each call starts, so the reference is taken
     * before the first start (under ASan on a loaded machine the starts alone took 8 ms). */
    uv_update_time(&s.loop);
    uint64_t t0 = uv_now(&s.loop);
    for (int i = 0; i < 4; i++) {
        mae_call *c = start(&s, &svc, ms[i], false, &g[i]);
        if (i == 3) c3 = c;
    }
    ASSERT_EQ_INT(mae__conn_recv(s.conn, settings, sizeof settings), 0);
    /* one leaves before its deadline: the timer moves on to the next */
    s.t->vt->cancel(s.t, c3);
    while (g[0].called + g[1].called + g[2].called + g[3].called < 4) uv_run(&s.loop, UV_RUN_ONCE);
    ASSERT_CMP_INT(uv_now(&s.loop) - t0, >=, 90);
    ASSERT_EQ_INT(g[3].cls, MAE_CLASS_CANCELLED);
    ASSERT_EQ_INT(g[3].order, 1);
    ASSERT_EQ_INT(g[1].order, 2);
    ASSERT_EQ_INT(g[2].order, 3);
    ASSERT_EQ_INT(g[0].order, 4);
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ_INT(g[i].called, 1);
        ASSERT_EQ_INT(g[i].cls, MAE_CLASS_TIMEOUT);
        ASSERT_EQ_STR(g[i].msg, "attempt deadline passed");
    }
    /* nothing is left armed: the loop ends by itself once the transport is closed */
    mae__gtransport *gt = s.t->data;
    ASSERT_FALSE(uv_is_active((uv_handle_t *)&gt->deadlines));
    close_session(&s);
}

/* Closing with calls not yet delivered: each still gets its one callback first. */
TEST(close_delivers_every_pending_call_then_finishes) {
    mae_svc_cfg svc = svc1();
    sess s;
    open_session(&s, &svc);
    got g[3];
    for (int i = 0; i < 3; i++) start(&s, &svc, i == 0 ? 0 : 5000, i == 2, &g[i]);
    ASSERT_EQ_INT(mae__conn_recv(s.conn, settings, sizeof settings), 0);
    close_session(&s);
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ_INT(g[i].called, 1);
        ASSERT_EQ_INT(g[i].cls, MAE_CLASS_CANCELLED);
    }
}

/* Through the engine against a real stub that answers too late: every attempt times out by the
 * engine's timer (class timeout, its message), the backoff between them is waited, and the
 * stub's late replies (or their resets) harm nothing. */
TEST(engine_hung_grpc_call_times_out_and_is_retried_with_backoff) {
    static const char stubs[] =
        "services:\n"
        "  rpc:\n"
        "    type: grpc\n"
        "    listen: 127.0.0.1:0\n"
        "    methods:\n"
        "      Slow: {respond: {ok: true}, delay: 150ms}\n"
        "      Echo: {respond: {ok: true}}\n";
    char *sf = th_write_temp(stubs, strlen(stubs), ".yaml");
    char *logf = th_write_temp("", 0, ".jsonl");
    const char *bin = getenv("MAESTRO_BIN");
    char *sargv[] = {(char *)(bin ? bin : th_path("bin/maestro")), "stub", sf, "--log", logf, NULL};
    th_proc stub;
    ASSERT_EQ_INT(th_spawn(&stub, sargv, 20), 0);
    char y[1024];
    int n = snprintf(y, sizeof y,
                     "name: hung\n"
                     "services:\n"
                     "  rpc: {type: grpc, endpoint: \"127.0.0.1:%d\", timeout: 60ms,\n"
                     "        retry: {attempts: 3, initial: 40ms, jitter: none, backoff: constant}}\n"
                     "steps:\n"
                     "  - {id: ok1, service: rpc, method: Echo, output: a}\n"
                     "  - {id: slow, service: rpc, method: Slow}\n",
                     stub.port);
    char *wf = th_write_temp(y, (size_t)n, ".yaml"), *rep = th_write_temp("", 0, ".json");
    char *argv[] = {"maestro", "run", wf, "--no-journal", "--report", rep, NULL};
    char *out = NULL, *err = NULL;
    int rc = th_maestro(argv, NULL, &out, &err);
    usleep(300 * 1000);   /* the stub's late replies */
    th_stop(&stub);
    char *t = th_read_file(rep, NULL);
    cJSON *r = t ? cJSON_Parse(t) : NULL;
    ASSERT_NOT_NULL(r);
    if (rc != 1) printf("stderr: %s\n", err);
    ASSERT_EQ_INT(rc, 1);
    const cJSON *s, *slow = NULL;
    cJSON_ArrayForEach(s, cJSON_GetObjectItem(r, "steps"))
        if (!strcmp(fx_str(s, "id"), "slow")) slow = s;
    ASSERT_NOT_NULL(slow);
    ASSERT_EQ_STR(fx_str(slow, "status"), "failed");
    ASSERT_EQ_INT(fx_num(slow, "attempts"), 3);
    ASSERT_EQ_STR(fx_str(slow, "error.class"), "timeout");
    ASSERT_CONTAINS(fx_str(slow, "error.message"), "attempt timed out after");
    char *d = cJSON_PrintUnformatted(cJSON_GetObjectItem((cJSON *)slow, "retry_delays_ms"));
    ASSERT_EQ_STR(d, "[40,40]");
    free(d);
    ASSERT_CMP_INT(fx_num(slow, "duration_ms"), >=, 3 * 60 + 2 * 40);
    /* the stub saw the three attempts */
    char *lg = th_read_file(logf, NULL);
    ASSERT_NOT_NULL(lg);
    int slows = 0;
    for (const char *p = lg; (p = strstr(p, "\"Slow\"")) != NULL; p++) slows++;
    ASSERT_EQ_INT(slows, 3);
    free(lg);
    cJSON_Delete(r);
    free(t);
    free(out);
    free(err);
    unlink(wf);
    unlink(rep);
    unlink(sf);
    unlink(logf);
    free(wf);
    free(rep);
    free(sf);
    free(logf);
}


