/* Keepalive of the gRPC client against a python3-h2 peer (tests/servers/h2_compress_keepalive.py):
 * a connection that goes silent is PINGed, declared dead within time + timeout, and its call
 * fails `connect` while the next call gets a fresh connection; a healthy idle connection is
 * PINGed and kept; GOAWAY ENHANCE_YOUR_CALM makes the pool back off and slow its PINGs. */
#include <uv.h>

#include "grpc_h2/grpc_client_int.h"
#include "grpc_h2/grpc_keepalive.h"
#include "grpc_h2/grpc_transport.h"
#include "harness.h"
#include "maestro/maestro.h"
#include "target_fx.h"

/* ---- The state machine, on a made-up clock ---- */

TEST(keepalive_machine_pings_after_silence_and_declares_death) {
    mae__ka k;
    uint64_t next = 0;
    ASSERT_EQ_INT(mae__ka_start(&k, 1000, 300, 5000), 1000);
    /* Bytes at 5600: at 6000 only 400 ms of silence, check again at 6600. */
    mae__ka_rx(&k, 5600);
    ASSERT_EQ_INT(mae__ka_tick(&k, 6000, &next), MAE__KA_WAIT);
    ASSERT_EQ_INT(next, 600);
    ASSERT_EQ_INT(mae__ka_tick(&k, 6600, &next), MAE__KA_PING);
    ASSERT_EQ_INT(next, 300);
    /* Early wake-up: still waiting for the answer, only the rest of the timeout. */
    ASSERT_EQ_INT(mae__ka_tick(&k, 6700, &next), MAE__KA_WAIT);
    ASSERT_EQ_INT(next, 200);
    ASSERT_EQ_INT(mae__ka_tick(&k, 6900, &next), MAE__KA_DEAD);
    /* Dead exactly time + timeout after the last byte. */
    ASSERT_EQ_INT(6900 - 5600, 1000 + 300);
}

TEST(keepalive_machine_any_bytes_or_the_ack_answer) {
    mae__ka k;
    uint64_t next = 0;
    mae__ka_start(&k, 100, 50, 0);
    ASSERT_EQ_INT(mae__ka_tick(&k, 100, &next), MAE__KA_PING);
    /* A DATA frame after the PING is as good as its ACK. */
    mae__ka_rx(&k, 120);
    ASSERT_EQ_INT(mae__ka_tick(&k, 150, &next), MAE__KA_WAIT);
    ASSERT_EQ_INT(next, 70);
    ASSERT_FALSE(k.ping_out);
    ASSERT_EQ_INT(mae__ka_tick(&k, 220, &next), MAE__KA_PING);
    /* The ACK: the next PING after another full interval. */
    ASSERT_EQ_INT(mae__ka_acked(&k, 230), 100);
    ASSERT_EQ_INT(mae__ka_tick(&k, 330, &next), MAE__KA_PING);
    /* Bytes that arrived before the PING do not answer it. */
    mae__ka_rx(&k, 330);
    ASSERT_EQ_INT(mae__ka_tick(&k, 380, &next), MAE__KA_WAIT);  /* rx == ping_sent: answered */
    mae__ka_start(&k, 100, 50, 1000);
    ASSERT_EQ_INT(mae__ka_tick(&k, 1100, &next), MAE__KA_PING);
    mae__ka_rx(&k, 1099);
    ASSERT_EQ_INT(mae__ka_tick(&k, 1150, &next), MAE__KA_DEAD);
    /* Off. */
    ASSERT_EQ_INT(mae__ka_start(&k, 0, 50, 0), 0);
}

/* ---- Against a python3-h2 peer ---- */

typedef struct got {
    int called;
    mae_class cls;
    int status;
    char msg[512];
    uint64_t at;
} got;

static uv_loop_t g_loop;
static int closed_called;

static void on_result(mae_call_result *r, void *ud) {
    got *g = ud;
    g->called++;
    g->cls = r->cls;
    g->status = r->status;
    g->at = uv_now(&g_loop);
    snprintf(g->msg, sizeof g->msg, "%s", r->message ? r->message : "");
    cJSON_Delete(r->output);
}

static void on_closed(void *ud) { closed_called++; }

static mae_transport *setup(void) {
    ASSERT_EQ_INT(uv_loop_init(&g_loop), 0);
    mae_transport *t = NULL;
    ASSERT_EQ_INT(mae_grpc_transport_new(&g_loop, &t), 0);
    return t;
}

static void finish(mae_transport *t) {
    t->vt->close(t, on_closed, NULL);
    uv_run(&g_loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(closed_called, 1);
    ASSERT_EQ_INT(uv_loop_close(&g_loop), 0);
}

static void start_peer(th_proc *p, const char *opt, const char *arg) {
    char *argv[] = {TH_PYTHON, (char *)th_path("tests/servers/h2_compress_keepalive.py"),
                    (char *)opt, (char *)arg, NULL};
    ASSERT_EQ_INT(th_spawn(p, argv, 30), 0);
}

static mae_svc_cfg svc_for(int port, uint64_t ka, uint64_t ka_timeout) {
    static char ep[64];
    snprintf(ep, sizeof ep, "127.0.0.1:%d", port);
    return (mae_svc_cfg){.name = "ka", .type = "grpc", .endpoint = ep, .timeout_ms = 20000,
                         .pool_connections = 1, .keepalive_ms = ka,
                         .keepalive_timeout_ms = ka_timeout};
}

static void start_call(mae_transport *t, const mae_svc_cfg *svc, got *g) {
    mae_call_req req = {.service = svc, .target = FX_GRPC_TARGET("Echo"), .timeout_ms = 20000,
                        .run_id = "r", .step_id = "s", .idempotency_key = "r:s"};
    mae_call *c = NULL;
    memset(g, 0, sizeof *g);
    ASSERT_EQ_INT(mae_transport_start(t, &req, on_result, g, &c), 0);
}

static void call1(mae_transport *t, const mae_svc_cfg *svc, got *g) {
    start_call(t, svc, g);
    while (!g->called) uv_run(&g_loop, UV_RUN_ONCE);
}

/* Lines of the peer's output starting with `word`, read until `want` of them were seen. */
static int count_lines(th_proc *p, const char *word, int want) {
    char line[256];
    int n = 0;
    while (n < want && fgets(line, sizeof line, p->out))
        if (strncmp(line, word, strlen(word)) == 0) n++;
    return n;
}

TEST(keepalive_unanswered_ping_kills_the_connection_and_calls_fail_over) {
    th_proc srv;
    start_peer(&srv, "--mute-after", "1");
    mae_transport *t = setup();
    mae_svc_cfg svc = svc_for(srv.port, 200, 300);
    got g1, g2, g3;
    call1(t, &svc, &g1);
    ASSERT_EQ_INT(g1.cls, MAE_CLASS_NONE);
    /* The connection is now silent: this call gets no answer, and only keepalive ends it,
     * long before its 20 s deadline: PING after 200 ms of silence, dead 300 ms later. */
    start_call(t, &svc, &g2);
    while (!g2.called) uv_run(&g_loop, UV_RUN_ONCE);
    ASSERT_EQ_INT(g2.cls, MAE_CLASS_CONNECT);
    ASSERT_CONTAINS(g2.msg, "keepalive PING unanswered for 3");
    ASSERT_CMP_INT(g2.at - g1.at, >=, 450);
    ASSERT_CMP_INT(g2.at - g1.at, <, 2000);
    /* The next call goes to a new connection (the peer mutes each after one reply). */
    call1(t, &svc, &g3);
    ASSERT_EQ_INT(g3.cls, MAE_CLASS_NONE);
    finish(t);
    ASSERT_EQ_INT(count_lines(&srv, "PING", 1), 1);
    th_stop(&srv);
}

static void on_wait(uv_timer_t *tm) { *(int *)tm->data = 1; }

TEST(keepalive_pings_keep_a_healthy_idle_connection) {
    th_proc srv;
    start_peer(&srv, NULL, NULL);
    mae_transport *t = setup();
    mae_svc_cfg svc = svc_for(srv.port, 100, 500);
    got g;
    call1(t, &svc, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    /* Idle for 700 ms: several PINGs, each answered. */
    uv_timer_t wait;
    int done = 0;
    uv_timer_init(&g_loop, &wait);
    wait.data = &done;
    uv_timer_start(&wait, on_wait, 700, 0);
    while (!done) uv_run(&g_loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&wait, NULL);
    call1(t, &svc, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    mae_grpc_stats st;
    mae__grpc_transport_stats(t, &st);
    ASSERT_EQ_INT(st.connections, 1);
    finish(t);
    ASSERT_EQ_INT(count_lines(&srv, "PING", 3), 3);
    th_stop(&srv);
}

TEST(keepalive_enhance_your_calm_backs_off) {
    th_proc srv;
    start_peer(&srv, "--calm", NULL);
    mae_transport *t = setup();
    mae_svc_cfg svc = svc_for(srv.port, 1000, 500);
    got g1, g2, g3;
    call1(t, &svc, &g1);
    ASSERT_EQ_INT(g1.cls, MAE_CLASS_NONE);
    /* GOAWAY ENHANCE_YOUR_CALM after the reply: the pool waits before its next connection
     * (100 ms, then 200 ms) and PINGs half as often. */
    mae__gtransport *gt = t->data;
    mae__gpool *p = MAE__GQ_ITEM(gt->pools.next, mae__gpool, link);
    while (p->calms < 1) uv_run(&g_loop, UV_RUN_ONCE);
    ASSERT_EQ_INT(p->ka_ms, 2000);
    uint64_t t0 = uv_now(&g_loop);
    call1(t, &svc, &g2);
    ASSERT_EQ_INT(g2.cls, MAE_CLASS_NONE);
    ASSERT_CMP_INT(g2.at - t0, >=, 90);
    while (p->calms < 2) uv_run(&g_loop, UV_RUN_ONCE);
    t0 = uv_now(&g_loop);
    call1(t, &svc, &g3);
    ASSERT_EQ_INT(g3.cls, MAE_CLASS_NONE);
    ASSERT_CMP_INT(g3.at - t0, >=, 190);
    /* Doubled once per GOAWAY (the third may already have come with its reply). */
    ASSERT_CMP_INT(p->calms, >=, 2);
    ASSERT_EQ_INT(p->ka_ms, 1000u << p->calms);
    finish(t);
    ASSERT_EQ_INT(count_lines(&srv, "CONN", 3), 3);
    th_stop(&srv);
}
