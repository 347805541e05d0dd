/* Integration tests of the gRPC transport against a real grpcio server
 * (tests/servers/grpc_envelope.py) on loopback: the envelope both ways, statuses, deadlines and
 * cancellation, size limits, stream limits across a pool, and a server restart. Every test
 * counts callbacks, closes the transport and asserts uv_loop_close() == 0. */
#include <sys/resource.h>
#include <uv.h>

#include "grpc_h2/grpc_client_int.h"
#include "grpc_h2/grpc_transport.h"
#include "harness.h"
#include "target_fx.h"
#include "maestro/maestro.h"

typedef struct got {
    int called;
    mae_class cls;
    int status;
    char msg[1024];
    char *out;          /* compact JSON of the output, or NULL */
    bool sent, not_an_attempt;
    int64_t retry_after_ms;
    uint64_t at_ms;     /* uv_now when the callback ran */
    int *counter;       /* optional shared counter */
} got;

static uv_loop_t *g_loop;

static void on_result(mae_call_result *r, void *ud) {
    got *g = ud;
    g->called++;
    g->cls = r->cls;
    g->status = r->status;
    snprintf(g->msg, sizeof g->msg, "%s", r->message ? r->message : "");
    g->out = r->output ? cJSON_PrintUnformatted(r->output) : NULL;
    cJSON_Delete(r->output);
    g->sent = r->sent;
    g->not_an_attempt = r->not_an_attempt;
    g->retry_after_ms = r->retry_after_ms;
    g->at_ms = uv_now(g_loop);
    if (g->counter) (*g->counter)++;
}

/* on_result, then the loop stops, so the caller's uv_run(UV_RUN_ONCE) returns. For a result
 * of a cancel made outside the loop: the delivery timer is due when uv_run is entered, and
 * libuv 1.44 runs due timers before its poll, which would then wait for I/O nobody sends. */
static void on_result_stop(mae_call_result *r, void *ud) {
    on_result(r, ud);
    uv_stop(g_loop);
}

static int closed_called;
static void on_closed(void *ud) { closed_called++; }

static void finish(mae_transport *t) {
    t->vt->close(t, on_closed, NULL);
    ASSERT_EQ_INT(closed_called, 0);  /* never synchronously */
    uv_run(g_loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(closed_called, 1);
    ASSERT_EQ_INT(uv_loop_close(g_loop), 0);
}

static mae_svc_cfg svc_for(int port) {
    static char ep[64];
    snprintf(ep, sizeof ep, "127.0.0.1:%d", port);
    mae_svc_cfg s = {.name = "svc", .type = "grpc", .endpoint = ep, .timeout_ms = 10000,
                     .pool_connections = 5};
    return s;
}

static mae_transport *setup(void) {
    static uv_loop_t loop;
    g_loop = &loop;
    ASSERT_EQ_INT(uv_loop_init(&loop), 0);
    mae_transport *t = NULL;
    ASSERT_EQ_INT(mae_grpc_transport_new(&loop, &t), 0);
    return t;
}

static void start_server(th_proc *p, const char *extra, const char *extra2) {
    char *argv[] = {TH_PYTHON, (char *)th_path("tests/servers/grpc_envelope.py"),
                    (char *)extra, (char *)extra2, NULL};
    ASSERT_EQ_INT(th_spawn(p, argv, 30), 0);
}

/* Starts one call and runs the loop until its callback. */
static void call1(mae_transport *t, const mae_svc_cfg *svc, const char *method, const char *input,
                  uint64_t timeout_ms, const char *step, got *g) {
    cJSON *in = input ? cJSON_Parse(input) : NULL;
    if (input) ASSERT_NOT_NULL(in);
    mae_header_kv hdrs[] = {{"X-Tenant", "acme"}};
    mae_call_req req = {.service = svc, .target = FX_GRPC_TARGET(method), .input = in, .timeout_ms = timeout_ms,
                        .run_id = "run-1", .step_id = step ? step : "step-a",
                        .idempotency_key = "run-1:step-a",
                        .traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                        .headers = hdrs, .n_headers = 1};
    mae_call *c = NULL;
    memset(g, 0, sizeof *g);
    ASSERT_EQ_INT(mae_transport_start(t, &req, on_result, g, &c), 0);
    cJSON_Delete(in);  /* borrowed only during start */
    ASSERT_EQ_INT(g->called, 0);
    while (!g->called) uv_run(g_loop, UV_RUN_ONCE);
    ASSERT_EQ_INT(g->called, 1);
}

TEST(grpc_envelope_roundtrip_nested_both_ways) {
    th_proc srv;
    start_server(&srv, NULL, NULL);
    mae_transport *t = setup();
    mae_svc_cfg svc = svc_for(srv.port);
    got g;
    const char *in = "{\"image\":\"nginx\",\"n\":3.5,\"ok\":true,\"none\":null,"
                     "\"deep\":{\"list\":[1,\"two\",[3],{\"four\":{}}],\"empty\":[]}}";
    call1(t, &svc, "Echo", in, 5000, NULL, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    ASSERT_TRUE(g.sent);
    cJSON *out = cJSON_Parse(g.out), *want = cJSON_Parse(in);
    ASSERT_NOT_NULL(out);
    /* Protobuf maps have no order: compare as JSON values. */
    char *got_in = cJSON_PrintUnformatted(cJSON_GetObjectItem(out, "input"));
    char *want_s = cJSON_PrintUnformatted(want);
    if (!cJSON_Compare(cJSON_GetObjectItem(out, "input"), want, true))
        th_fail(__FILE__, __LINE__, "input differs:\n  %s\n  %s", got_in, want_s);
    ASSERT_EQ_STR(cJSON_GetObjectItem(out, "method")->valuestring, "Echo");
    ASSERT_EQ_STR(cJSON_GetObjectItem(out, "workflow_id")->valuestring, "run-1");
    ASSERT_EQ_STR(cJSON_GetObjectItem(out, "step_id")->valuestring, "step-a");
    ASSERT_EQ_STR(cJSON_GetObjectItem(out, "correlation_id")->valuestring, "run-1:step-a");
    cJSON *h = cJSON_GetObjectItem(out, "headers");
    ASSERT_EQ_STR(cJSON_GetObjectItem(h, "X-Tenant")->valuestring, "acme");
    cJSON *md = cJSON_GetObjectItem(out, "metadata");
    ASSERT_EQ_STR(cJSON_GetObjectItem(md, "x-tenant")->valuestring, "acme");
    ASSERT_EQ_STR(cJSON_GetObjectItem(md, "idempotency-key")->valuestring, "run-1:step-a");
    ASSERT_CONTAINS(cJSON_GetObjectItem(md, "user-agent")->valuestring, "maestro/" MAE_VERSION);
    ASSERT_EQ_STR(cJSON_GetObjectItem(md, "traceparent")->valuestring,
                  "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    free(got_in);
    free(want_s);
    cJSON_Delete(out);
    cJSON_Delete(want);
    free(g.out);
    /* A non-object input travels as a Value and still arrives. */
    call1(t, &svc, "Echo", NULL, 5000, NULL, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    free(g.out);
    finish(t);
    th_stop(&srv);
}

TEST(grpc_app_error_invalid_argument_and_unknown_method) {
    th_proc srv;
    start_server(&srv, NULL, NULL);
    mae_transport *t = setup();
    mae_svc_cfg svc = svc_for(srv.port);
    got g;
    call1(t, &svc, "Fail", "{}", 5000, NULL, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_APP_ERROR);
    ASSERT_EQ_STR(g.msg, "quota exceeded");
    ASSERT_NULL(g.out);
    call1(t, &svc, "Invalid", "{}", 5000, NULL, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_GRPC);
    ASSERT_EQ_INT(g.status, MAE_GRPC_INVALID_ARGUMENT);
    ASSERT_EQ_STR(g.msg, "bad input");
    call1(t, &svc, "NoSuchMethod", "{}", 5000, NULL, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_GRPC);
    ASSERT_EQ_INT(g.status, MAE_GRPC_UNIMPLEMENTED);
    finish(t);
    th_stop(&srv);
}

TEST(grpc_server_without_the_service_is_unimplemented) {
    th_proc srv;
    start_server(&srv, "--bare", NULL);
    mae_transport *t = setup();
    mae_svc_cfg svc = svc_for(srv.port);
    got g;
    call1(t, &svc, "Echo", "{}", 5000, NULL, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_GRPC);
    ASSERT_EQ_INT(g.status, MAE_GRPC_UNIMPLEMENTED);
    finish(t);
    th_stop(&srv);
}

TEST(grpc_unavailable_twice_then_ok) {
    th_proc srv;
    start_server(&srv, NULL, NULL);
    mae_transport *t = setup();
    mae_svc_cfg svc = svc_for(srv.port);
    got g;
    int expect[] = {MAE_GRPC_UNAVAILABLE, MAE_GRPC_UNAVAILABLE};
    for (int i = 0; i < 2; i++) {
        call1(t, &svc, "Flaky", "{}", 5000, "flaky-step", &g);
        ASSERT_EQ_INT(g.cls, MAE_CLASS_GRPC);
        ASSERT_EQ_INT(g.status, expect[i]);
        ASSERT_FALSE(g.not_an_attempt);
    }
    call1(t, &svc, "Flaky", "{}", 5000, "flaky-step", &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    ASSERT_EQ_STR(g.out, "{\"attempts\":3}");
    free(g.out);
    finish(t);
    th_stop(&srv);
}

TEST(grpc_message_bytes_exact) {
    th_proc srv;
    start_server(&srv, NULL, NULL);
    mae_transport *t = setup();
    mae_svc_cfg svc = svc_for(srv.port);
    got g;
    /* '%', CR/LF, a non-BMP character (U+1F600) and a literal "%41" that must stay as is. */
    call1(t, &svc, "Status",
          "{\"code\":\"FAILED_PRECONDITION\",\"message\":\"100% done\\r\\nnext \\ud83d\\ude00 %41\"}",
          5000, NULL, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_GRPC);
    ASSERT_EQ_INT(g.status, MAE_GRPC_FAILED_PRECONDITION);
    ASSERT_EQ_STR(g.msg, "100% done\r\nnext \xF0\x9F\x98\x80 %41");
    finish(t);
    th_stop(&srv);
}

TEST(grpc_deadline_our_timeout_and_server_sees_cancel) {
    th_proc srv;
    start_server(&srv, NULL, NULL);
    mae_transport *t = setup();
    mae_svc_cfg svc = svc_for(srv.port);
    got g;
    uv_update_time(g_loop);
    uint64_t t0 = uv_now(g_loop);
    call1(t, &svc, "Sleep", "{\"seconds\":5}", 400, NULL, &g);
    /* Either our timer or the server's deadline (from our grpc-timeout) ends it, on time. */
    ASSERT_TRUE(g.cls == MAE_CLASS_TIMEOUT ||
                (g.cls == MAE_CLASS_GRPC && g.status == MAE_GRPC_DEADLINE_EXCEEDED));
    ASSERT_CMP_INT(g.at_ms - t0, >=, 390);
    ASSERT_CMP_INT(g.at_ms - t0, <, 2000);
    ASSERT_TRUE(g.sent);
    /* The handler saw a deadline (grpc-timeout) and its context went inactive. */
    call1(t, &svc, "Stats", "{\"wait_cancelled\":1}", 15000, NULL, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    cJSON *st = cJSON_Parse(g.out);
    ASSERT_EQ_INT(cJSON_GetObjectItem(st, "cancelled")->valuedouble, 1);
    ASSERT_EQ_INT(cJSON_GetObjectItem(st, "deadline_seen")->valuedouble, 1);
    cJSON_Delete(st);
    free(g.out);
    finish(t);
    th_stop(&srv);
}

TEST(grpc_cancel_yields_cancelled_and_server_sees_it) {
    th_proc srv;
    start_server(&srv, NULL, NULL);
    mae_transport *t = setup();
    mae_svc_cfg svc = svc_for(srv.port);
    got g, warm;
    call1(t, &svc, "Echo", "{}", 5000, NULL, &warm);  /* connection up first */
    free(warm.out);
    cJSON *in = cJSON_Parse("{\"seconds\":5}");
    mae_call_req req = {.service = &svc, .target = FX_GRPC_TARGET("Sleep"), .input = in, .timeout_ms = 0,
                        .run_id = "r", .step_id = "s"};
    mae_call *c;
    memset(&g, 0, sizeof g);
    ASSERT_EQ_INT(mae_transport_start(t, &req, on_result_stop, &g, &c), 0);
    cJSON_Delete(in);
    /* Wait until the handler runs (the server says so), then cancel. */
    got sl;
    call1(t, &svc, "Stats", "{\"wait_sleeping\":1}", 15000, NULL, &sl);
    ASSERT_CONTAINS(sl.out, "\"sleeping\":1");
    free(sl.out);
    ASSERT_EQ_INT(g.called, 0);
    mae_transport_cancel(t, c);
    ASSERT_EQ_INT(g.called, 0);  /* not from inside cancel() */
    while (!g.called) uv_run(g_loop, UV_RUN_ONCE);
    ASSERT_EQ_INT(g.called, 1);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_CANCELLED);
    ASSERT_TRUE(g.sent);
    got st;
    call1(t, &svc, "Stats", "{\"wait_cancelled\":1}", 15000, NULL, &st);
    cJSON *j = cJSON_Parse(st.out);
    ASSERT_EQ_INT(cJSON_GetObjectItem(j, "cancelled")->valuedouble, 1);
    cJSON_Delete(j);
    free(st.out);
    finish(t);
    th_stop(&srv);
}

TEST(grpc_big_reply_and_limit) {
    th_proc srv;
    start_server(&srv, NULL, NULL);
    mae_transport *t = setup();
    mae_svc_cfg svc = svc_for(srv.port);
    got g;
    call1(t, &svc, "Big", "{\"size\":3145728}", 20000, NULL, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    cJSON *j = cJSON_Parse(g.out);
    const char *blob = cJSON_GetObjectItem(j, "blob")->valuestring;
    ASSERT_EQ_INT(strlen(blob), 3145728);
    ASSERT_EQ_INT(strspn(blob, "x"), 3145728);
    cJSON_Delete(j);
    free(g.out);
    call1(t, &svc, "Big", "{\"size\":5242880}", 20000, NULL, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_GRPC);
    ASSERT_EQ_INT(g.status, MAE_GRPC_RESOURCE_EXHAUSTED);
    ASSERT_CONTAINS(g.msg, "exceeds the limit of 4194304 bytes");
    /* The connection is still usable afterwards. */
    call1(t, &svc, "Echo", "{}", 5000, NULL, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    free(g.out);
    finish(t);
    th_stop(&srv);
}

static long maxrss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

TEST(grpc_reply_above_limit_keeps_memory_bounded) {
    th_proc srv;
    start_server(&srv, NULL, NULL);
    mae_transport *t = setup();
    mae_svc_cfg svc = svc_for(srv.port);
    got g;
    call1(t, &svc, "Echo", "{}", 5000, NULL, &g);  /* connection and buffers warmed up */
    free(g.out);
    long before = maxrss_kb();
    /* 12 MiB announced and sent: refused at the 5-byte prefix, the rest is dropped unread. */
    call1(t, &svc, "Big", "{\"size\":12582912}", 20000, NULL, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_GRPC);
    ASSERT_EQ_INT(g.status, MAE_GRPC_RESOURCE_EXHAUSTED);
    long grown = maxrss_kb() - before;
    ASSERT_CMP_INT(grown, <, 4096);  /* KiB: far below the 12 MiB a buffering client needs */
    finish(t);
    th_stop(&srv);
}

#define N_MANY 2000
TEST_T(grpc_2000_calls_over_5_connections_100_streams, 120) {
    th_proc srv;
    start_server(&srv, "--max-streams", "100");
    mae_transport *t = setup();
    mae_svc_cfg svc = svc_for(srv.port);
    static got gs[N_MANY];
    int done = 0;
    cJSON *in = cJSON_Parse("{\"k\":1}");
    for (int i = 0; i < N_MANY; i++) {
        char step[32];
        snprintf(step, sizeof step, "s%d", i);
        mae_call_req req = {.service = &svc, .target = FX_GRPC_TARGET("Echo"), .input = in, .timeout_ms = 60000,
                            .run_id = "many", .step_id = step};
        mae_call *c;
        gs[i].counter = &done;
        ASSERT_EQ_INT(mae_transport_start(t, &req, on_result, &gs[i], &c), 0);
    }
    cJSON_Delete(in);
    while (done < N_MANY) uv_run(g_loop, UV_RUN_ONCE);
    int ok = 0;
    char peers[8][64];
    int n_peers = 0;
    for (int i = 0; i < N_MANY; i++) {
        cJSON *j = gs[i].out ? cJSON_Parse(gs[i].out) : NULL;
        cJSON *peer = cJSON_GetObjectItem(j, "peer");
        if (cJSON_IsString(peer)) {
            int k = 0;
            while (k < n_peers && strcmp(peers[k], peer->valuestring) != 0) k++;
            if (k == n_peers && n_peers < 8) snprintf(peers[n_peers++], 64, "%s", peer->valuestring);
        }
        cJSON_Delete(j);
        ASSERT_EQ_INT(gs[i].called, 1);
        if (gs[i].cls == MAE_CLASS_NONE) ok++;
        else printf("call %d: class %d status %d %s\n", i, gs[i].cls, gs[i].status, gs[i].msg);
        char want[48];
        snprintf(want, sizeof want, "\"correlation_id\":\"many:s%d\"", i);
        if (gs[i].out) ASSERT_CONTAINS(gs[i].out, want);
        free(gs[i].out);
    }
    ASSERT_EQ_INT(ok, N_MANY);
    ASSERT_EQ_INT(n_peers, 5);  /* the pool opened exactly pool.connections connections */
    finish(t);
    th_stop(&srv);
}

TEST(grpc_server_restart_recovers_on_new_connection) {
    th_proc srv;
    start_server(&srv, NULL, NULL);
    int port = srv.port;
    mae_transport *t = setup();
    mae_svc_cfg svc = svc_for(port);
    got g;
    call1(t, &svc, "Echo", "{}", 5000, NULL, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    free(g.out);
    th_stop(&srv);
    /* The dead server: calls fail as connect errors (reset, closed or refused), never hang. */
    call1(t, &svc, "Echo", "{}", 5000, NULL, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_CONNECT);
    char pbuf[16];
    snprintf(pbuf, sizeof pbuf, "%d", port);
    start_server(&srv, "--port", pbuf);
    ASSERT_EQ_INT(srv.port, port);
    /* Recovery: within a few attempts (the reconnect backoff may refuse the first). */
    int attempts = 0;
    do {
        call1(t, &svc, "Echo", "{}", 5000, NULL, &g);
        free(g.out);
        attempts++;
    } while (g.cls != MAE_CLASS_NONE && attempts < 20);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    finish(t);
    th_stop(&srv);
}

TEST(grpc_connection_refused_is_connect_class) {
    mae_transport *t = setup();
    /* A port nobody listens on: bind one, close it. */
    uv_tcp_t s;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_init(g_loop, &s);
    uv_tcp_bind(&s, (struct sockaddr *)&a, 0);
    int len = sizeof a;
    uv_tcp_getsockname(&s, (struct sockaddr *)&a, &len);
    uv_close((uv_handle_t *)&s, NULL);
    uv_run(g_loop, UV_RUN_NOWAIT);
    mae_svc_cfg svc = svc_for(ntohs(a.sin_port));
    got g;
    call1(t, &svc, "Echo", "{}", 5000, NULL, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_CONNECT);
    ASSERT_FALSE(g.sent);
    ASSERT_CONTAINS(g.msg, "refused");
    finish(t);
}

TEST(grpc_start_rejects_bad_input_synchronously) {
    mae_transport *t = setup();
    mae_svc_cfg svc = svc_for(1);
    svc.endpoint = "no-port";
    mae_call_req req = {.service = &svc, .target = FX_GRPC_TARGET("Echo")};
    mae_call *c;
    got g = {0};
    ASSERT_EQ_INT(mae_transport_start(t, &req, on_result, &g, &c), MAE_EINVAL);
    mae_svc_cfg ok = svc_for(1);
    mae_header_kv bad[] = {{"x-bad", "a\r\nb"}};
    mae_call_req r2 = {.service = &ok, .target = FX_GRPC_TARGET("Echo"), .headers = bad, .n_headers = 1};
    ASSERT_EQ_INT(mae_transport_start(t, &r2, on_result, &g, &c), MAE_EINVAL);
    ASSERT_EQ_INT(g.called, 0);
    finish(t);
    ASSERT_EQ_INT(g.called, 0);
}

TEST(grpc_close_cancels_queued_and_active_calls) {
    th_proc srv;
    start_server(&srv, NULL, NULL);
    mae_transport *t = setup();
    mae_svc_cfg svc = svc_for(srv.port);
    cJSON *in = cJSON_Parse("{\"seconds\":5}");
    got gs[3];
    memset(gs, 0, sizeof gs);
    for (int i = 0; i < 3; i++) {
        mae_call_req req = {.service = &svc, .target = FX_GRPC_TARGET("Sleep"), .input = in, .run_id = "r",
                            .step_id = "s"};
        mae_call *c;
        ASSERT_EQ_INT(mae_transport_start(t, &req, on_result, &gs[i], &c), 0);
    }
    cJSON_Delete(in);
    for (int i = 0; i < 50; i++) uv_run(g_loop, UV_RUN_NOWAIT);
    t->vt->close(t, on_closed, NULL);
    for (int i = 0; i < 3; i++) ASSERT_EQ_INT(gs[i].called, 0);
    uv_run(g_loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(closed_called, 1);
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ_INT(gs[i].called, 1);
        ASSERT_EQ_INT(gs[i].cls, MAE_CLASS_CANCELLED);
    }
    ASSERT_EQ_INT(uv_loop_close(g_loop), 0);
    th_stop(&srv);
}

/* Sending is deferred to one flush per connection per loop iteration: calls started in one tick
 * write nothing from start(), then all leave in a single write, and every one is answered. */
static unsigned long socket_writes(const mae_transport *t) {
    mae_grpc_stats st;
    mae__grpc_transport_stats(t, &st);
    return st.socket_writes;
}

#define N_BATCH 50
TEST(grpc_calls_started_in_one_tick_leave_in_one_write) {
    th_proc srv;
    start_server(&srv, NULL, NULL);
    mae_transport *t = setup();
    mae_svc_cfg svc = svc_for(srv.port);
    svc.pool_connections = 1;
    got warm;
    call1(t, &svc, "Echo", "{}", 5000, NULL, &warm);  /* the connection is up and READY */
    free(warm.out);
    mae_grpc_stats st;
    mae__grpc_transport_stats(t, &st);
    ASSERT_EQ_INT(st.pools, 1);
    ASSERT_EQ_INT(st.connections, 1);
    static got gs[N_BATCH];
    int done = 0;
    cJSON *in = cJSON_Parse("{\"k\":1}");
    unsigned long before = socket_writes(t);
    for (int i = 0; i < N_BATCH; i++) {
        char step[32];
        snprintf(step, sizeof step, "b%d", i);
        mae_call_req req = {.service = &svc, .target = FX_GRPC_TARGET("Echo"), .input = in, .timeout_ms = 10000,
                            .run_id = "batch", .step_id = step};
        mae_call *c;
        gs[i].counter = &done;
        ASSERT_EQ_INT(mae_transport_start(t, &req, on_result, &gs[i], &c), 0);
    }
    cJSON_Delete(in);
    ASSERT_EQ_INT(socket_writes(t), before);  /* nothing sent from start() */
    uv_run(g_loop, UV_RUN_NOWAIT);  /* one iteration: its prepare phase flushes */
    ASSERT_EQ_INT(socket_writes(t), before + 1);
    while (done < N_BATCH) uv_run(g_loop, UV_RUN_ONCE);
    for (int i = 0; i < N_BATCH; i++) {
        ASSERT_EQ_INT(gs[i].called, 1);
        ASSERT_EQ_INT(gs[i].cls, MAE_CLASS_NONE);
        char want[48];
        snprintf(want, sizeof want, "\"correlation_id\":\"batch:b%d\"", i);
        ASSERT_NOT_NULL(gs[i].out);
        ASSERT_CONTAINS(gs[i].out, want);
        free(gs[i].out);
    }
    finish(t);
    th_stop(&srv);
}
