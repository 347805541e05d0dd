/* Integration tests of the HTTP transport's lifecycle against the real Python server:
 * cancellation mid-transfer and before start, close with calls in flight, callbacks that start
 * calls, close the transport or cancel themselves, cancels racing completions, connections the
 * server closes (fd numbers reused), calls queued behind the pool limit, and a socket the loop
 * cannot watch. Every test ends with uv_loop_close() == 0. */
#include "http_fx.h"

typedef struct cancel_ctx {
    fx *f;
    mae_call *call;
    got *g;
    int fired;
} cancel_ctx;

static void on_cancel_timer(uv_timer_t *t) {
    cancel_ctx *cc = t->data;
    /* Wait (by callback count, not by time) until part of the body has arrived: this call
     * is the only one in flight, so the transport's body byte count is its own. */
    if (fx_stats(cc->f->t).body_bytes == 0) return;
    cc->fired++;
    mae_transport_cancel(cc->f->t, cc->call);
    /* The CANCELLED result comes later, never from inside cancel(). */
    ASSERT_EQ_INT(cc->g->called, 0);
    uv_close((uv_handle_t *)t, NULL);
}

TEST(cancel_mid_transfer_delivers_cancelled_and_frees_everything) {
    fx f;
    fx_start(&f);
    got g = {0};
    mae_call_req req = fx_req(&f, "GET", "/slow", NULL);
    mae_call *c;
    ASSERT_EQ_INT(mae_transport_start(f.t, &req, on_result, &g, &c), 0);
    /* The server sends headers and 1000 bytes at once, then stalls for 30 s: once bytes
     * have arrived the transfer is in the middle of the body. */
    uv_timer_t tm;
    cancel_ctx cc = {&f, c, &g, 0};
    uv_timer_init(&f.loop, &tm);
    tm.data = &cc;
    uv_timer_start(&tm, on_cancel_timer, 10, 10);
    wait_for(&f, &g.called, 1);
    ASSERT_EQ_INT(cc.fired, 1);
    ASSERT_EQ_INT(g.called, 1);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_CANCELLED);
    ASSERT_TRUE(g.sent);
    ASSERT_NULL(g.out);

    /* Cancelled before the loop ever ran: not sent, still asynchronous. */
    got g2 = {0};
    ASSERT_EQ_INT(mae_transport_start(f.t, &req, on_result, &g2, &c), 0);
    mae_transport_cancel(f.t, c);
    ASSERT_EQ_INT(g2.called, 0);
    wait_for(&f, &g2.called, 1);
    ASSERT_EQ_INT(g2.cls, MAE_CLASS_CANCELLED);
    ASSERT_FALSE(g2.sent);
    /* The pool still works after both. */
    got g3;
    req = fx_req(&f, "GET", "/text", NULL);
    call1(&f, &req, &g3);
    ASSERT_EQ_INT(g3.cls, MAE_CLASS_NONE);
    cJSON_Delete(g3.out);
    uv_run(&f.loop, UV_RUN_NOWAIT);
    ASSERT_EQ_INT(g.called + g2.called, 2);
    fx_end(&f);
}

TEST(close_cancels_calls_in_flight_once_each) {
    fx f;
    fx_start(&f);
    got gs[3] = {{0}};
    mae_call_req req = fx_req(&f, "GET", "/hang", NULL);
    for (int i = 0; i < 3; i++) {
        mae_call *c;
        ASSERT_EQ_INT(mae_transport_start(f.t, &req, on_result, &gs[i], &c), 0);
    }
    /* Let them connect and send. */
    for (int i = 0; i < 20; i++) uv_run(&f.loop, UV_RUN_NOWAIT);
    f.t->vt->close(f.t, on_closed, &f);
    for (int i = 0; i < 3; i++) ASSERT_EQ_INT(gs[i].called, 0);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ_INT(gs[i].called, 1);
        ASSERT_EQ_INT(gs[i].cls, MAE_CLASS_CANCELLED);
    }
    ASSERT_EQ_INT(f.closed, 1);
    ASSERT_EQ_INT(uv_loop_close(&f.loop), 0);
    mae__arena_free(&f.arena);
    th_stop(&f.srv);
}

/* A callback that starts another call, and one that closes the transport. */
typedef struct chain {
    fx *f;
    int stage;
    got last;
} chain;

static void on_chain(mae_call_result *r, void *ud) {
    chain *ch = ud;
    ch->stage++;
    cJSON_Delete(r->output);
    if (ch->stage == 1) {
        ASSERT_EQ_INT(r->cls, MAE_CLASS_NONE);
        mae_call_req req = fx_req(ch->f, "GET", "/text", NULL);
        mae_call *c;
        ASSERT_EQ_INT(mae_transport_start(ch->f->t, &req, on_chain, ch, &c), 0);
    } else if (ch->stage == 2) {
        ASSERT_EQ_INT(r->cls, MAE_CLASS_NONE);
        ch->f->t->vt->close(ch->f->t, on_closed, ch->f);
        mae_call_req req = fx_req(ch->f, "GET", "/text", NULL);
        mae_call *c;
        ASSERT_EQ_INT(mae_transport_start(ch->f->t, &req, on_chain, ch, &c), MAE_ESTATE);
    }
}

TEST(callbacks_may_start_calls_and_close_the_transport) {
    fx f;
    fx_start(&f);
    chain ch = {.f = &f};
    mae_call_req req = fx_req(&f, "GET", "/empty", NULL);
    mae_call *c;
    mae_call *other;
    got slow = {0};
    ASSERT_EQ_INT(mae_transport_start(f.t, &req, on_chain, &ch, &c), 0);
    mae_call_req hang = fx_req(&f, "GET", "/hang", NULL);
    ASSERT_EQ_INT(mae_transport_start(f.t, &hang, on_result, &slow, &other), 0);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(ch.stage, 2);
    ASSERT_EQ_INT(slow.called, 1);
    ASSERT_EQ_INT(slow.cls, MAE_CLASS_CANCELLED);
    ASSERT_EQ_INT(f.closed, 1);
    ASSERT_EQ_INT(uv_loop_close(&f.loop), 0);
    mae__arena_free(&f.arena);
    th_stop(&f.srv);
}

static int n_closed_ok;
static void on_close_route(mae_call_result *r, void *ud) {
    int *done = ud;
    (*done)++;
    if (r->cls == MAE_CLASS_NONE && cJSON_IsTrue(cJSON_GetObjectItem(r->output, "closed")))
        n_closed_ok++;
    cJSON_Delete(r->output);
}

TEST(connections_closed_by_the_server_are_replaced_fd_numbers_reused) {
    /* Every answer closes its connection: curl removes the socket, closes the fd and opens a
     * new one that usually gets the same number while our old uv_poll is still closing. */
    fx f;
    fx_start(&f);
    f.svc.pool_connections = 3;
    mae_call_req req = fx_req(&f, "GET", "/close", NULL);
    int done = 0;
    for (int i = 0; i < 30; i++) {
        mae_call *c;
        ASSERT_EQ_INT(mae_transport_start(f.t, &req, on_close_route, &done, &c), 0);
        wait_for(&f, &done, i + 1);
    }
    for (int i = 0; i < 60; i++) {
        mae_call *c;
        ASSERT_EQ_INT(mae_transport_start(f.t, &req, on_close_route, &done, &c), 0);
    }
    wait_for(&f, &done, 90);
    ASSERT_EQ_INT(n_closed_ok, 90);
    ASSERT_EQ_INT(fx_stats(f.t).internal_errors, 0);
    got g;
    req = fx_req(&f, "GET", "/stats", NULL);
    call1(&f, &req, &g);
    ASSERT_EQ_INT(cJSON_GetObjectItem(g.out, "accepted")->valueint, 91);
    cJSON_Delete(g.out);
    fx_end(&f);
}

TEST(a_call_queued_behind_the_pool_limit_keeps_its_deadline) {
    fx f;
    fx_start(&f);
    f.svc.pool_connections = 1;
    got hang = {0}, queued = {0};
    mae_call_req req = fx_req(&f, "GET", "/hang", NULL);
    req.timeout_ms = 10000;
    mae_call *c1, *c2;
    ASSERT_EQ_INT(mae_transport_start(f.t, &req, on_result, &hang, &c1), 0);
    req = fx_req(&f, "GET", "/text", NULL);
    req.timeout_ms = 500;
    uint64_t t0 = uv_hrtime();
    ASSERT_EQ_INT(mae_transport_start(f.t, &req, on_result, &queued, &c2), 0);
    wait_for(&f, &queued.called, 1);
    ASSERT_EQ_INT(queued.cls, MAE_CLASS_TIMEOUT);
    ASSERT_FALSE(queued.sent);        /* it never had a connection */
    ASSERT_CMP_INT((queued.at_ns - t0) / 1000000, >=, 500);
    printf("  queued call ended after %llu ms\n", (unsigned long long)((queued.at_ns - t0) / 1000000));
    if (hang.called) printf("  hang: cls %d msg %s\n", hang.cls, hang.msg);
    ASSERT_EQ_INT(hang.called, 0);
    fx_end(&f);                        /* cancels the hanging one */
    ASSERT_EQ_INT(hang.called, 1);
    ASSERT_EQ_INT(hang.cls, MAE_CLASS_CANCELLED);
    ASSERT_TRUE(hang.sent);
}

typedef struct self_cancel {
    fx *f;
    mae_call *call;
    int called;
    mae_class cls;
} self_cancel;

static void on_self_cancel(mae_call_result *r, void *ud) {
    self_cancel *sc = ud;
    sc->called++;
    sc->cls = r->cls;
    cJSON_Delete(r->output);
    /* The handle is valid until we return: cancelling it now must change nothing. */
    mae_transport_cancel(sc->f->t, sc->call);
}

TEST(cancel_from_inside_the_calls_own_callback_is_harmless) {
    fx f;
    fx_start(&f);
    self_cancel a = {.f = &f}, b = {.f = &f};
    mae_call_req req = fx_req(&f, "GET", "/text", NULL);
    ASSERT_EQ_INT(mae_transport_start(f.t, &req, on_self_cancel, &a, &a.call), 0);
    mae_header_kv bad[] = {{"X-Bad", "a\nb"}};
    req.headers = bad;
    req.n_headers = 1;   /* refused: delivered from the queue instead */
    ASSERT_EQ_INT(mae_transport_start(f.t, &req, on_self_cancel, &b, &b.call), 0);
    wait_for(&f, &a.called, 1);
    wait_for(&f, &b.called, 1);
    uv_run(&f.loop, UV_RUN_NOWAIT);
    ASSERT_EQ_INT(a.called, 1);
    ASSERT_EQ_INT(a.cls, MAE_CLASS_NONE);
    ASSERT_EQ_INT(b.called, 1);
    ASSERT_EQ_INT(b.cls, MAE_CLASS_TEMPLATE);
    fx_end(&f);
}

#define N_MIX 90
typedef struct mix {
    fx *f;
    mae_call *calls[N_MIX];
    got res[N_MIX];
    int done;
} mix;
static mix mx;

static void on_mix(mae_call_result *r, void *ud) {
    int i = (int)(intptr_t)ud;
    on_result(r, &mx.res[i]);
    cJSON_Delete(mx.res[i].out);
    mx.res[i].out = NULL;
    mx.done++;
    /* From inside a completion: cancel a later call, which may be queued in curl, running,
     * or already finished and waiting in curl's message queue. */
    if (i + 1 < N_MIX && i % 2 == 1 && mx.res[i + 1].called == 0)
        mae_transport_cancel(mx.f->t, mx.calls[i + 1]);
}

TEST(cancels_racing_completions_give_exactly_one_callback_each) {
    fx f;
    fx_start(&f);
    f.svc.pool_connections = 3;
    mx.f = &f;
    mae_call_req req = fx_req(&f, "GET", "/work", NULL);
    for (int i = 0; i < N_MIX; i++)
        ASSERT_EQ_INT(mae_transport_start(f.t, &req, on_mix, (void *)(intptr_t)i, &mx.calls[i]), 0);
    for (int i = 0; i < N_MIX; i += 3) mae_transport_cancel(f.t, mx.calls[i]);
    wait_for(&f, &mx.done, N_MIX);
    int ok = 0, cancelled = 0;
    for (int i = 0; i < N_MIX; i++) {
        ASSERT_EQ_INT(mx.res[i].called, 1);
        if (i % 3 == 0) ASSERT_EQ_INT(mx.res[i].cls, MAE_CLASS_CANCELLED);
        ASSERT_TRUE(mx.res[i].cls == MAE_CLASS_NONE || mx.res[i].cls == MAE_CLASS_CANCELLED);
        ok += mx.res[i].cls == MAE_CLASS_NONE;
        cancelled += mx.res[i].cls == MAE_CLASS_CANCELLED;
    }
    ASSERT_EQ_INT(ok + cancelled, N_MIX);
    ASSERT_CMP_INT(ok, >=, 1);
    ASSERT_EQ_INT(fx_stats(f.t).internal_errors, 0);
    uv_run(&f.loop, UV_RUN_NOWAIT);
    for (int i = 0; i < N_MIX; i++) ASSERT_EQ_INT(mx.res[i].called, 1);
    fx_end(&f);
}

static void on_dummy_poll(uv_poll_t *p, int status, int events) {}

TEST(a_socket_the_loop_cannot_watch_fails_the_call_instead_of_hanging) {
    fx f;
    fx_start(&f);
    got g;
    /* A first call creates the service's multi handle (and its fds); its connection closes. */
    mae_call_req first = fx_req(&f, "GET", "/close", NULL);
    call1(&f, &first, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    cJSON_Delete(g.out);
    /* Occupy, in the loop's table, the fd number curl's next socket will get: a uv_poll on
     * it whose fd is then closed. uv_poll_init_socket on curl's socket fails with EEXIST. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_CMP_INT(fd, >=, 0);
    uv_poll_t squat;
    ASSERT_EQ_INT(uv_poll_init_socket(&f.loop, &squat, fd), 0);
    ASSERT_EQ_INT(uv_poll_start(&squat, UV_READABLE, on_dummy_poll), 0);
    uv_run(&f.loop, UV_RUN_NOWAIT);   /* the fd enters epoll now, while it is still open */
    close(fd);
    uv_unref((uv_handle_t *)&squat);  /* it will never fire: it must not keep the loop up */
    mae_call_req req = fx_req(&f, "GET", "/text", NULL);
    req.timeout_ms = 10000;
    uint64_t t0 = uv_hrtime();
    call1(&f, &req, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_CONNECT);
    ASSERT_CMP_INT((g.at_ns - t0) / 1000000, <, 10000);   /* not left to its deadline */
    uv_close((uv_handle_t *)&squat, NULL);
    /* The transport still works. */
    call1(&f, &req, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    cJSON_Delete(g.out);
    fx_end(&f);
}

/* Issue #17 defect 4: curl's lists stay short however many calls are started at once: a pool
 * lets at most pool.connections x MAE_HTTP_ACTIVE_PER_CONN handles into curl (x 1 for plain
 * http://, HTTP/1.1: nothing waits in curl's pending queue), the rest wait in order, keep their
 * deadlines, and a cancelled waiting call leaves the line at once. */
#define PER_CONN MAE_HTTP_ACTIVE_PER_CONN_H1
enum { N_MANY = 200 };
static got many[N_MANY];
static int many_done;
static void on_many(mae_call_result *r, void *ud) {
    on_result(r, ud);
    cJSON_Delete(r->output);
    many_done++;
}

TEST_T(hundreds_of_calls_keep_curl_to_a_bounded_number_of_handles, 180) {
    fx f;
    fx_start(&f);
    f.svc.pool_connections = 2;
    mae_call_req req = fx_req(&f, "GET", "/text", NULL);
    req.timeout_ms = 120000;
    mae_call *calls[N_MANY];
    for (int i = 0; i < N_MANY; i++) ASSERT_EQ_INT(mae_transport_start(f.t, &req, on_many, &many[i], &calls[i]), 0);
    ASSERT_EQ_INT(fx_stats(f.t).max_in_curl, 2 * PER_CONN);
    ASSERT_EQ_INT(fx_stats(f.t).waiting, N_MANY - 2 * PER_CONN);
    /* the last one is cancelled while it waits: not sent, delivered once */
    mae_transport_cancel(f.t, calls[N_MANY - 1]);
    ASSERT_EQ_INT(fx_stats(f.t).waiting, N_MANY - 2 * PER_CONN - 1);
    wait_for(&f, &many_done, N_MANY);
    for (int i = 0; i < N_MANY - 1; i++) {
        ASSERT_EQ_INT(many[i].called, 1);
        if (many[i].cls != MAE_CLASS_NONE) printf("  call %d: %s\n", i, many[i].msg);
        ASSERT_EQ_INT(many[i].cls, MAE_CLASS_NONE);
    }
    ASSERT_EQ_INT(many[N_MANY - 1].cls, MAE_CLASS_CANCELLED);
    ASSERT_FALSE(many[N_MANY - 1].sent);
    ASSERT_EQ_INT(fx_stats(f.t).max_in_curl, 2 * PER_CONN);
    /* a waiting call holds no curl handle; one that enters curl reuses a finished one's */
    ASSERT_CMP_INT(fx_stats(f.t).handles_created, <=, 2 * PER_CONN);
    ASSERT_EQ_INT(fx_stats(f.t).waiting, 0);
    ASSERT_EQ_INT(fx_stats(f.t).internal_errors, 0);
    fx_end(&f);
}

TEST(calls_waiting_outside_curl_keep_their_deadlines) {
    fx f;
    fx_start(&f);
    f.svc.pool_connections = 1;
    enum { N = 64 };
    static got g[N];
    many_done = 0;
    mae_call_req req = fx_req(&f, "GET", "/hang", NULL);
    req.timeout_ms = 300;
    uint64_t t0 = uv_hrtime();
    for (int i = 0; i < N; i++) {
        mae_call *c;
        ASSERT_EQ_INT(mae_transport_start(f.t, &req, on_many, &g[i], &c), 0);
    }
    ASSERT_EQ_INT(fx_stats(f.t).waiting, N - PER_CONN);
    wait_for(&f, &many_done, N);
    for (int i = 0; i < N; i++) ASSERT_EQ_INT(g[i].cls, MAE_CLASS_TIMEOUT);
    /* the waiting half never reached curl: not sent, and no later than the others */
    for (int i = PER_CONN; i < N; i++) {
        ASSERT_FALSE(g[i].sent);
        ASSERT_CONTAINS(g[i].msg, "waiting for a connection");
    }
    ASSERT_CMP_INT((uv_hrtime() - t0) / 1000000, <, 5000);
    ASSERT_EQ_INT(fx_stats(f.t).waiting, 0);
    fx_end(&f);
}
