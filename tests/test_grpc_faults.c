/* Integration tests of the gRPC transport against a raw HTTP/2 server that misbehaves on purpose
 * (tests/servers/h2_fault.py, behaviour chosen by an x-fault request header): each fault ends in
 * its documented status, never a crash or a hang, and the transport keeps working afterwards. */
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
    char msg[256];
    char *out;
    bool not_an_attempt, sent;
    int64_t retry_after_ms;
} got;

/* tests/test_grpc_faults_typed.c runs this file again with a typed method (FAULT_TYPED). */
#ifndef FAULT_TYPED
#define FAULT_OK_OUTPUT "{\"a\":1}"
#define FAULT_SVC_SETUP(svc) (void)(svc)
#endif

static uv_loop_t loop;
static int closed_called;

static void on_result(mae_call_result *r, void *ud) {
    got *g = ud;
    g->called++;
    g->cls = r->cls;
    g->status = r->status;
    snprintf(g->msg, sizeof g->msg, "%s", r->message ? r->message : "");
    g->out = r->output ? cJSON_PrintUnformatted(r->output) : NULL;
    cJSON_Delete(r->output);
    g->not_an_attempt = r->not_an_attempt;
    g->sent = r->sent;
    g->retry_after_ms = r->retry_after_ms;
}

static void on_closed(void *ud) { closed_called++; }

static void call_fault(mae_transport *t, const mae_svc_cfg *svc, const char *fault,
                       uint64_t timeout_ms, got *g) {
    mae_header_kv h[] = {{"x-fault", fault}};
    mae_call_req req = {.service = svc, .target = FX_GRPC_TARGET("M"), .timeout_ms = timeout_ms, .run_id = "r",
                        .step_id = "s", .headers = h, .n_headers = 1};
    mae_call *c;
    memset(g, 0, sizeof *g);
    ASSERT_EQ_INT(mae_transport_start(t, &req, on_result, g, &c), 0);
    while (!g->called) uv_run(&loop, UV_RUN_ONCE);
    ASSERT_EQ_INT(g->called, 1);
}

static const char *server_arg1, *server_arg2;

static mae_transport *setup(th_proc *srv, mae_svc_cfg *svc, char *ep) {
    char *argv[] = {TH_PYTHON, (char *)th_path("tests/servers/h2_fault.py"),
                    (char *)server_arg1, (char *)server_arg2, NULL};
    ASSERT_EQ_INT(th_spawn(srv, argv, 20), 0);
    ASSERT_EQ_INT(uv_loop_init(&loop), 0);
    mae_transport *t;
    ASSERT_EQ_INT(mae_grpc_transport_new(&loop, &t), 0);
    snprintf(ep, 64, "127.0.0.1:%d", srv->port);
    *svc = (mae_svc_cfg){.name = "f", .type = "grpc", .endpoint = ep, .timeout_ms = 10000,
                         .pool_connections = 2};
    FAULT_SVC_SETUP(svc);
    return t;
}

static void teardown(mae_transport *t, th_proc *srv) {
    t->vt->close(t, on_closed, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(closed_called, 1);
    ASSERT_EQ_INT(uv_loop_close(&loop), 0);
    th_stop(srv);
}

TEST(fault_table_each_ends_in_its_status) {
    th_proc srv;
    mae_svc_cfg svc;
    char ep[64];
    mae_transport *t = setup(&srv, &svc, ep);
    static const struct {
        const char *fault;
        mae_class cls;
        int status;
        bool not_an_attempt;
    } cases[] = {
        {"ok", MAE_CLASS_NONE, 0, false},
        {"one_byte", MAE_CLASS_NONE, 0, false},
        {"refused", MAE_CLASS_GRPC, MAE_GRPC_UNAVAILABLE, true},
        {"calm", MAE_CLASS_GRPC, MAE_GRPC_RESOURCE_EXHAUSTED, false},
        {"no_status", MAE_CLASS_GRPC, MAE_GRPC_UNKNOWN, false},
        {"no_trailers", MAE_CLASS_GRPC, MAE_GRPC_INTERNAL, false},
        {"http_503", MAE_CLASS_GRPC, MAE_GRPC_UNAVAILABLE, false},
        {"http_404", MAE_CLASS_GRPC, MAE_GRPC_UNIMPLEMENTED, false},
        {"html", MAE_CLASS_GRPC, MAE_GRPC_UNKNOWN, false},
        {"garbage_status", MAE_CLASS_GRPC, MAE_GRPC_UNKNOWN, false},
        {"huge_prefix", MAE_CLASS_GRPC, MAE_GRPC_RESOURCE_EXHAUSTED, false},
        {"two_messages", MAE_CLASS_GRPC, MAE_GRPC_INTERNAL, false},
        {"no_message", MAE_CLASS_GRPC, MAE_GRPC_INTERNAL, false},
        {"compressed", MAE_CLASS_GRPC, MAE_GRPC_INTERNAL, false},
        {"ok", MAE_CLASS_NONE, 0, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        got g;
        call_fault(t, &svc, cases[i].fault, 5000, &g);
        if (g.cls != cases[i].cls || g.status != cases[i].status ||
            g.not_an_attempt != cases[i].not_an_attempt)
            th_fail(__FILE__, __LINE__, "%s: class %d status %d not_an_attempt %d (%s)",
                    cases[i].fault, g.cls, g.status, g.not_an_attempt, g.msg);
        if (cases[i].cls == MAE_CLASS_NONE) ASSERT_EQ_STR(g.out, FAULT_OK_OUTPUT);
        free(g.out);
    }
    teardown(t, &srv);
}

TEST(fault_pushback_is_reported) {
    th_proc srv;
    mae_svc_cfg svc;
    char ep[64];
    mae_transport *t = setup(&srv, &svc, ep);
    got g;
    call_fault(t, &svc, "pushback", 5000, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_GRPC);
    ASSERT_EQ_INT(g.status, MAE_GRPC_UNAVAILABLE);
    ASSERT_EQ_STR(g.msg, "busy");
    ASSERT_EQ_INT(g.retry_after_ms, 1500);
    call_fault(t, &svc, "ok", 5000, &g);
    ASSERT_EQ_INT(g.retry_after_ms, -1);
    free(g.out);
    teardown(t, &srv);
}

TEST(fault_goaway_below_stream_is_not_an_attempt_then_new_connection) {
    th_proc srv;
    mae_svc_cfg svc;
    char ep[64];
    mae_transport *t = setup(&srv, &svc, ep);
    got g;
    call_fault(t, &svc, "ok", 5000, &g);  /* stream 1 */
    free(g.out);
    call_fault(t, &svc, "goaway", 5000, &g);  /* stream 3, GOAWAY last-stream-id 1 */
    ASSERT_EQ_INT(g.cls, MAE_CLASS_GRPC);
    ASSERT_EQ_INT(g.status, MAE_GRPC_UNAVAILABLE);
    ASSERT_TRUE(g.not_an_attempt);
    /* The draining connection takes no new streams: the next call goes to a new one. */
    call_fault(t, &svc, "ok", 5000, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    free(g.out);
    teardown(t, &srv);
}

TEST(fault_silent_server_times_out_on_our_deadline) {
    th_proc srv;
    mae_svc_cfg svc;
    char ep[64];
    mae_transport *t = setup(&srv, &svc, ep);
    got g;
    uv_update_time(&loop);
    uint64_t t0 = uv_now(&loop);
    call_fault(t, &svc, "silent", 300, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_TIMEOUT);
    ASSERT_TRUE(g.sent);
    ASSERT_CMP_INT(uv_now(&loop) - t0, >=, 299);
    ASSERT_CMP_INT(uv_now(&loop) - t0, <, 3000);
    call_fault(t, &svc, "ok", 5000, &g);  /* the connection survives a reset stream */
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    free(g.out);
    teardown(t, &srv);
}

TEST(fault_connection_closed_mid_call_is_connect) {
    th_proc srv;
    mae_svc_cfg svc;
    char ep[64];
    mae_transport *t = setup(&srv, &svc, ep);
    got g;
    call_fault(t, &svc, "close", 5000, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_CONNECT);
    ASSERT_TRUE(g.sent);
    call_fault(t, &svc, "ok", 5000, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    free(g.out);
    teardown(t, &srv);
}

TEST(fault_queue_above_stream_limit_honours_deadline) {
    /* The server allows 2 concurrent streams and one connection is allowed: 2 silent calls
     * hold the streams, 18 wait in our queue. Every call ends by its own deadline as TIMEOUT
     * (a stream beyond the limit would have been refused by the server instead). */
    server_arg1 = "--max-streams";
    server_arg2 = "2";
    th_proc srv;
    mae_svc_cfg svc;
    char ep[64];
    mae_transport *t = setup(&srv, &svc, ep);
    svc.pool_connections = 1;
    got gs[20];
    int n = 20;
    mae_header_kv h[] = {{"x-fault", "silent"}};
    for (int i = 0; i < n; i++) {
        mae_call_req req = {.service = &svc, .target = FX_GRPC_TARGET("M"), .timeout_ms = 300,
                            .run_id = "r", .step_id = "s", .headers = h, .n_headers = 1};
        mae_call *c;
        memset(&gs[i], 0, sizeof gs[i]);
        ASSERT_EQ_INT(mae_transport_start(t, &req, on_result, &gs[i], &c), 0);
    }
    int done;
    do {
        uv_run(&loop, UV_RUN_ONCE);
        done = 0;
        for (int i = 0; i < n; i++) done += gs[i].called;
    } while (done < n);
    int queued = 0;
    for (int i = 0; i < n; i++) {
        ASSERT_EQ_INT(gs[i].called, 1);
        ASSERT_EQ_INT(gs[i].cls, MAE_CLASS_TIMEOUT);
        if (strstr(gs[i].msg, "waiting for a free stream")) {
            queued++;
            ASSERT_FALSE(gs[i].sent);
        }
    }
    /* Two held the streams until the shared deadline; the rest never left the queue (an
     * expired call is not sent when a stream frees up at its own deadline). */
    ASSERT_EQ_INT(queued, n - 2);
    teardown(t, &srv);
}

static mae_transport *closing_t;
static got inner[3];
static void on_result_then_close(mae_call_result *r, void *ud) {
    on_result(r, ud);
    /* Closing from inside a callback is allowed: the others still get theirs. */
    closing_t->vt->close(closing_t, on_closed, NULL);
}

TEST(fault_cancel_queued_call_then_close_from_its_callback) {
    server_arg1 = "--max-streams";
    server_arg2 = "2";
    th_proc srv;
    mae_svc_cfg svc;
    char ep[64];
    mae_transport *t = setup(&srv, &svc, ep);
    closing_t = t;
    svc.pool_connections = 1;
    mae_header_kv h[] = {{"x-fault", "silent"}};
    mae_call *calls[3];
    memset(inner, 0, sizeof inner);
    for (int i = 0; i < 3; i++) {
        mae_call_req req = {.service = &svc, .target = FX_GRPC_TARGET("M"), .timeout_ms = 20000, .run_id = "r",
                            .step_id = "s", .headers = h, .n_headers = 1};
        ASSERT_EQ_INT(mae_transport_start(t, &req, i == 2 ? on_result_then_close : on_result,
                                          &inner[i], &calls[i]), 0);
    }
    /* Connected and two streams sent once the server's SETTINGS are in; run until then. */

    for (int i = 0; i < 200; i++) uv_run(&loop, UV_RUN_NOWAIT);
    mae_transport_cancel(t, calls[2]);
    ASSERT_EQ_INT(inner[2].called, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(closed_called, 1);
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ_INT(inner[i].called, 1);
        ASSERT_EQ_INT(inner[i].cls, MAE_CLASS_CANCELLED);
    }
    ASSERT_FALSE(inner[2].sent);  /* it never left the queue */
    ASSERT_EQ_INT(uv_loop_close(&loop), 0);
    th_stop(&srv);
}

/* A peer that accepts TCP and never speaks HTTP/2. */
static uv_tcp_t silent_listener, silent_peers[8];
static int n_silent;
static void on_silent_conn(uv_stream_t *l, int status) {
    if (status < 0 || n_silent == 8) return;
    uv_tcp_init(&loop, &silent_peers[n_silent]);
    ASSERT_EQ_INT(uv_accept(l, (uv_stream_t *)&silent_peers[n_silent]), 0);
    n_silent++;
}

TEST(fault_silent_peer_fails_the_handshake_and_frees_the_slot) {
    ASSERT_EQ_INT(uv_loop_init(&loop), 0);
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_init(&loop, &silent_listener);
    ASSERT_EQ_INT(uv_tcp_bind(&silent_listener, (struct sockaddr *)&a, 0), 0);
    ASSERT_EQ_INT(uv_listen((uv_stream_t *)&silent_listener, 8, on_silent_conn), 0);
    int alen = sizeof a;
    uv_tcp_getsockname(&silent_listener, (struct sockaddr *)&a, &alen);
    char ep[64];
    snprintf(ep, sizeof ep, "127.0.0.1:%d", ntohs(a.sin_port));
    mae_svc_cfg svc = {.name = "s", .type = "grpc", .endpoint = ep, .timeout_ms = 10000,
                       .pool_connections = 1};
    mae_transport *t;
    ASSERT_EQ_INT(mae_grpc_transport_new(&loop, &t), 0);
    mae__grpc_transport_set_handshake_timeout(t, 300);
    got g;
    uv_update_time(&loop);
    uint64_t t0 = uv_now(&loop);
    call_fault(t, &svc, "ok", 10000, &g);
    /* Not our 10 s deadline: the handshake bound fails the connection and its queued call. */
    ASSERT_EQ_INT(g.cls, MAE_CLASS_CONNECT);
    ASSERT_CONTAINS(g.msg, "no HTTP/2 SETTINGS");
    ASSERT_FALSE(g.sent);
    ASSERT_CMP_INT(uv_now(&loop) - t0, <, 5000);
    /* The slot is free again: the next call opens a new connection (after the backoff). */
    call_fault(t, &svc, "ok", 10000, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_CONNECT);
    ASSERT_EQ_INT(n_silent, 2);
    t->vt->close(t, on_closed, NULL);
    for (int i = 0; i < n_silent; i++) uv_close((uv_handle_t *)&silent_peers[i], NULL);
    uv_close((uv_handle_t *)&silent_listener, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(closed_called, 1);
    ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}

TEST(fault_queued_call_takes_the_stream_a_timed_out_call_frees) {
    /* One stream allowed: A (silent) holds it until its deadline; the RST_STREAM that frees it
     * is sent from inside nghttp2's mem_send, whose stream-close callback hands the stream to B,
     * which must then be sent by the same flush and succeed. */
    server_arg1 = "--max-streams";
    server_arg2 = "1";
    th_proc srv;
    mae_svc_cfg svc;
    char ep[64];
    mae_transport *t = setup(&srv, &svc, ep);
    svc.pool_connections = 1;
    got a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    mae_header_kv ha[] = {{"x-fault", "silent"}}, hb[] = {{"x-fault", "ok"}};
    mae_call_req ra = {.service = &svc, .target = FX_GRPC_TARGET("M"), .timeout_ms = 300, .run_id = "r",
                       .step_id = "a", .headers = ha, .n_headers = 1};
    mae_call_req rb = {.service = &svc, .target = FX_GRPC_TARGET("M"), .timeout_ms = 10000, .run_id = "r",
                       .step_id = "b", .headers = hb, .n_headers = 1};
    mae_call *ca, *cb;
    ASSERT_EQ_INT(mae_transport_start(t, &ra, on_result, &a, &ca), 0);
    ASSERT_EQ_INT(mae_transport_start(t, &rb, on_result, &b, &cb), 0);
    while (!a.called || !b.called) uv_run(&loop, UV_RUN_ONCE);
    ASSERT_EQ_INT(a.cls, MAE_CLASS_TIMEOUT);
    ASSERT_TRUE(a.sent);
    ASSERT_EQ_INT(b.cls, MAE_CLASS_NONE);
    ASSERT_EQ_STR(b.out, FAULT_OK_OUTPUT);
    free(b.out);
    teardown(t, &srv);
}
