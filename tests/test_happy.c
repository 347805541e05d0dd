/* Happy Eyeballs (RFC 8305) in transports/happy.c and the gRPC connect path (issue #17,
 * defect 6): the addresses' order, a blackholed first address overtaken by the second after the
 * attempt delay (asserted on what started each attempt, not on wall time), a refused first one
 * moving on at once, the message when every address fails, cancelling, and no handle left
 * behind (uv_loop_close() == 0; the asan flavour checks for leaks). The blackhole is a loopback
 * listener with a full accept queue: Linux drops further SYNs, so a connect to it stays
 * pending. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "grpc_h2/grpc_client_int.h"
#include "grpc_h2/grpc_transport.h"
#include "harness.h"
#include "target_fx.h"
#include "transports/happy.h"
#include "maestro/maestro.h"

static uv_loop_t loop;

/* ---- fixtures: sockets on loopback ---- */

static int sock_port(int fd) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    ASSERT_EQ_INT(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
    return ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                    : ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* A socket bound to a port on host (127.0.0.1 or ::1), listening with the backlog given, or not
 * listening at all (backlog < 0: connects to it are refused). */
static int bound(const char *host, int backlog, int *port) {
    struct sockaddr_storage ss;
    int v6 = strchr(host, ':') != NULL;
    if (v6) ASSERT_EQ_INT(uv_ip6_addr(host, 0, (struct sockaddr_in6 *)&ss), 0);
    else ASSERT_EQ_INT(uv_ip4_addr(host, 0, (struct sockaddr_in *)&ss), 0);
    int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_CMP_INT(fd, >=, 0);
    ASSERT_EQ_INT(bind(fd, (struct sockaddr *)&ss,
                       v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in)), 0);
    if (backlog >= 0) ASSERT_EQ_INT(listen(fd, backlog), 0);
    *port = sock_port(fd);
    return fd;
}

typedef struct blackhole {
    int lfd, port;
    int fill[8];
    int n_fill;
} blackhole;

/* A listener whose accept queue is full: connects are dropped at the SYN and stay pending. */
static void blackhole_open(blackhole *b) {
    b->lfd = bound("127.0.0.1", 0, &b->port);
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", b->port, &a);
    b->n_fill = 0;
    for (;;) {
        ASSERT_CMP_INT(b->n_fill, <, 8);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        ASSERT_CMP_INT(fd, >=, 0);
        int rc = connect(fd, (struct sockaddr *)&a, sizeof a);
        ASSERT_TRUE(rc == 0 || errno == EINPROGRESS);
        b->fill[b->n_fill++] = fd;
        /* Loopback handshakes complete inside connect(): one that has not (and still has not a
         * little later) was dropped, so the queue is full. */
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (poll(&p, 1, 0) == 0 && poll(&p, 1, 50) == 0) break;
    }
}

static void blackhole_close(blackhole *b) {
    for (int i = 0; i < b->n_fill; i++) close(b->fill[i]);
    close(b->lfd);
}

static struct sockaddr_storage addr_of(const char *host, int port) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (strchr(host, ':')) ASSERT_EQ_INT(uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss), 0);
    else ASSERT_EQ_INT(uv_ip4_addr(host, port, (struct sockaddr_in *)&ss), 0);
    return ss;
}

/* Open descriptors of this process: the losing attempts' sockets must all be closed. */
static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    ASSERT_NOT_NULL(d);
    int n = 0;
    while (readdir(d)) n++;
    closedir(d);
    return n;
}

/* ---- the racer alone ---- */

typedef struct race {
    int done_called, closed_called;
    int fd, status, winner, n_addrs, n_started;
    mae__happy_attempt att[MAE__HAPPY_MAX_ADDRS];
    char msg[1024];
} race;

static void on_done(void *ud, const mae__happy_result *r) {
    race *x = ud;
    x->done_called++;
    x->fd = r->fd;
    x->status = r->status;
    x->winner = r->winner;
    x->n_addrs = r->n_addrs;
    x->n_started = r->n_started;
    memcpy(x->att, r->attempts, sizeof x->att[0] * (size_t)r->n_addrs);
    snprintf(x->msg, sizeof x->msg, "%s", r->message);
}

static void on_race_closed(void *ud) { ((race *)ud)->closed_called++; }

static void run_race(race *x, struct sockaddr_storage *ss, int n, uint64_t delay_ms) {
    const struct sockaddr *sa[16];
    for (int i = 0; i < n; i++) sa[i] = (const struct sockaddr *)&ss[i];
    memset(x, 0, sizeof *x);
    mae__happy *h;
    ASSERT_EQ_INT(mae__happy_start(&loop, sa, n, delay_ms, on_done, on_race_closed, x, &h), 0);
    ASSERT_EQ_INT(x->done_called, 0);  /* never from inside start, even when all fail at once */
    uv_run(&loop, UV_RUN_DEFAULT);     /* ends once the racer has closed every handle */
    ASSERT_EQ_INT(x->done_called, 1);
    ASSERT_EQ_INT(x->closed_called, 1);
}

static int peer_port(int fd) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    ASSERT_EQ_INT(getpeername(fd, (struct sockaddr *)&ss, &len), 0);
    return ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                    : ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

TEST(order_interleaves_families_from_the_first) {
    struct sockaddr_storage ss[10];
    const char *hosts[10] = {"::1", "::2", "::3", "10.0.0.1", "10.0.0.2", "::4", "::5", "::6",
                             "::7", "10.0.0.3"};
    const struct sockaddr *in[10], *out[10];
    for (int i = 0; i < 10; i++) {
        ss[i] = addr_of(hosts[i], 1);
        in[i] = (const struct sockaddr *)&ss[i];
    }
    ASSERT_EQ_INT(mae__happy_order(in, 10, out), MAE__HAPPY_MAX_ADDRS);
    /* The first 8 resolved are kept, then interleaved: ::1 10.0.0.1 ::2 10.0.0.2 ::3, and IPv4
     * has run out (10.0.0.3 was the 10th): ::4 ::5 ::6. */
    int want8[] = {0, 3, 1, 4, 2, 5, 6, 7};
    for (int i = 0; i < 8; i++) ASSERT_TRUE(out[i] == in[want8[i]]);
    ASSERT_EQ_INT(mae__happy_order(in + 3, 7, out), 7);  /* IPv4 first: 10.0.0.1 ::4 10.0.0.2 ... */
    ASSERT_TRUE(out[0] == in[3]);
    ASSERT_TRUE(out[1] == in[5]);
    ASSERT_TRUE(out[2] == in[4]);
    ASSERT_TRUE(out[3] == in[6]);
    ASSERT_TRUE(out[4] == in[9]);
    ASSERT_TRUE(out[5] == in[7]);
    ASSERT_TRUE(out[6] == in[8]);
    char name[64];
    mae__happy_addr_name(in[0], name, sizeof name);
    ASSERT_EQ_STR(name, "[::1]:1");
    mae__happy_addr_name(in[3], name, sizeof name);
    ASSERT_EQ_STR(name, "10.0.0.1:1");
}

TEST(blackholed_first_is_overtaken_after_the_delay) {
    ASSERT_EQ_INT(uv_loop_init(&loop), 0);
    int fds0 = count_fds();  /* the loop's own descriptors included */
    blackhole bh;
    blackhole_open(&bh);
    int good_port;
    int good = bound("127.0.0.1", 16, &good_port);
    struct sockaddr_storage ss[] = {addr_of("127.0.0.1", bh.port), addr_of("127.0.0.1", good_port)};
    race x;
    run_race(&x, ss, 2, 0);
    ASSERT_EQ_INT(x.n_started, 2);
    ASSERT_EQ_INT(x.winner, 1);
    ASSERT_EQ_INT(x.att[0].why, MAE__HAPPY_FIRST);
    ASSERT_EQ_INT(x.att[0].status, 0);  /* still pending when the second won: closed */
    ASSERT_EQ_INT(x.att[1].why, MAE__HAPPY_AFTER_DELAY);
    ASSERT_CMP_INT(x.fd, >=, 0);
    ASSERT_EQ_INT(peer_port(x.fd), good_port);
    close(x.fd);
    close(good);
    blackhole_close(&bh);
    ASSERT_EQ_INT(count_fds(), fds0);
    ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}

TEST(refused_first_moves_on_at_once) {
    ASSERT_EQ_INT(uv_loop_init(&loop), 0);
    int refused_port, good_port;
    int refused = bound("127.0.0.1", -1, &refused_port);
    int good = bound("127.0.0.1", 16, &good_port);
    struct sockaddr_storage ss[] = {addr_of("127.0.0.1", refused_port),
                                    addr_of("127.0.0.1", good_port)};
    race x;
    /* A minute's delay: only the failure can start the second attempt within the test's time. */
    run_race(&x, ss, 2, 60000);
    ASSERT_EQ_INT(x.winner, 1);
    ASSERT_EQ_INT(x.att[0].status, UV_ECONNREFUSED);
    ASSERT_EQ_INT(x.att[1].why, MAE__HAPPY_AFTER_FAILURE);
    ASSERT_EQ_INT(peer_port(x.fd), good_port);
    close(x.fd);
    ASSERT_EQ_INT(uv_loop_close(&loop), 0);
    close(refused);
    close(good);
}

TEST(only_address_connects) {
    ASSERT_EQ_INT(uv_loop_init(&loop), 0);
    int good_port;
    int good = bound("127.0.0.1", 16, &good_port);
    struct sockaddr_storage ss[] = {addr_of("127.0.0.1", good_port)};
    race x;
    run_race(&x, ss, 1, 0);
    ASSERT_EQ_INT(x.winner, 0);
    ASSERT_EQ_INT(x.n_started, 1);
    ASSERT_EQ_STR(x.msg, "");
    ASSERT_EQ_INT(peer_port(x.fd), good_port);
    close(x.fd);
    ASSERT_EQ_INT(uv_loop_close(&loop), 0);
    close(good);
}

TEST(every_address_failing_lists_them_all) {
    ASSERT_EQ_INT(uv_loop_init(&loop), 0);
    int fds0 = count_fds();  /* the loop's own descriptors included */
    int p6, p4;
    int r6 = bound("::1", -1, &p6);
    int r4 = bound("127.0.0.1", -1, &p4);
    struct sockaddr_storage ss[] = {addr_of("::1", p6), addr_of("127.0.0.1", p4)};
    race x;
    run_race(&x, ss, 2, 60000);
    ASSERT_EQ_INT(x.fd, -1);
    ASSERT_EQ_INT(x.winner, -1);
    ASSERT_EQ_INT(x.n_started, 2);
    ASSERT_EQ_INT(x.status, UV_ECONNREFUSED);
    char want[160];
    snprintf(want, sizeof want, "[::1]:%d connection refused, 127.0.0.1:%d connection refused", p6,
             p4);
    ASSERT_EQ_STR(x.msg, want);
    close(r6);
    close(r4);
    ASSERT_EQ_INT(count_fds(), fds0);
    ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}

/* Closes the racer from a timer while both attempts are pending. */
static void on_cancel_timer(uv_timer_t *t) {
    mae__happy_cancel(t->data);
    uv_close((uv_handle_t *)t, NULL);
}

TEST(cancel_closes_pending_attempts_without_done) {
    ASSERT_EQ_INT(uv_loop_init(&loop), 0);
    int fds0 = count_fds();  /* the loop's own descriptors included */
    blackhole bh;
    blackhole_open(&bh);
    struct sockaddr_storage ss[] = {addr_of("127.0.0.1", bh.port), addr_of("127.0.0.1", bh.port)};
    const struct sockaddr *sa[] = {(struct sockaddr *)&ss[0], (struct sockaddr *)&ss[1]};
    race x;
    memset(&x, 0, sizeof x);
    mae__happy *h;
    ASSERT_EQ_INT(mae__happy_start(&loop, sa, 2, 10, on_done, on_race_closed, &x, &h), 0);
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    t.data = h;
    uv_timer_start(&t, on_cancel_timer, 50, 0);  /* after the second attempt started (10 ms) */
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(x.done_called, 0);
    ASSERT_EQ_INT(x.closed_called, 1);
    blackhole_close(&bh);
    ASSERT_EQ_INT(count_fds(), fds0);
    ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}

TEST(bad_arguments) {
    ASSERT_EQ_INT(uv_loop_init(&loop), 0);
    mae__happy *h;
    race x;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_family = AF_UNIX;
    const struct sockaddr *sa[] = {(struct sockaddr *)&ss};
    ASSERT_EQ_INT(mae__happy_start(&loop, sa, 0, 0, on_done, NULL, &x, &h), MAE_EINVAL);
    ASSERT_EQ_INT(mae__happy_start(&loop, sa, 1, 0, on_done, NULL, &x, &h), MAE_EINVAL);
    ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}

/* ---- through the gRPC client ---- */

typedef struct got {
    int called;
    mae_class cls;
    char msg[1024];
} got;

static int closed_called;
static void on_closed(void *ud) { closed_called++; }

static void on_result(mae_call_result *r, void *ud) {
    got *g = ud;
    g->called++;
    g->cls = r->cls;
    snprintf(g->msg, sizeof g->msg, "%s", r->message ? r->message : "");
    cJSON_Delete(r->output);
}

static void grpc_call(mae_transport *t, const mae_svc_cfg *svc, int timeout_ms, got *g) {
    mae_call_req req = {.service = svc, .target = FX_GRPC_TARGET("Echo"), .timeout_ms = timeout_ms,
                        .run_id = "r", .step_id = "s"};
    mae_call *c;
    memset(g, 0, sizeof *g);
    ASSERT_EQ_INT(mae_transport_start(t, &req, on_result, g, &c), 0);
    while (!g->called) uv_run(&loop, UV_RUN_ONCE);
}

static void close_transport(mae_transport *t) {
    closed_called = 0;
    t->vt->close(t, on_closed, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(closed_called, 1);
    ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}

/* The first address blackholed, grpcio on the second: before Happy Eyeballs the connection
 * waited on the first for the whole 10 s connect bound, so a call with a 5 s deadline failed
 * with `timeout`; now the second attempt starts after 250 ms and the call succeeds. */
TEST(grpc_blackholed_first_address_grpcio_second) {
    th_proc srv;
    char *argv[] = {TH_PYTHON, (char *)th_path("tests/servers/grpc_envelope.py"), NULL};
    ASSERT_EQ_INT(th_spawn(&srv, argv, 30), 0);
    blackhole bh;
    blackhole_open(&bh);
    ASSERT_EQ_INT(uv_loop_init(&loop), 0);
    mae_transport *t;
    ASSERT_EQ_INT(mae_grpc_transport_new(&loop, &t), 0);
    char ep[64];
    snprintf(ep, sizeof ep, "localhost:%d", srv.port);
    mae_svc_cfg svc = {.name = "f", .type = "grpc", .endpoint = ep, .timeout_ms = 5000,
                       .pool_connections = 1};
    mae__gpool *p;
    ASSERT_EQ_INT(mae__pool_get(t->data, &svc, &p), 0);
    struct sockaddr_storage ss[] = {addr_of("127.0.0.1", bh.port), addr_of("127.0.0.1", srv.port)};
    const struct sockaddr *sa[] = {(struct sockaddr *)&ss[0], (struct sockaddr *)&ss[1]};
    ASSERT_EQ_INT(mae__conn_open_addrs(p, sa, 2), 0);
    uint64_t t0 = uv_now(&loop);
    got g;
    grpc_call(t, &svc, 5000, &g);
    printf("  connected and answered after %llu ms\n", (unsigned long long)(uv_now(&loop) - t0));
    if (g.cls != MAE_CLASS_NONE) printf("  %s\n", g.msg);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    mae_grpc_stats st;
    mae__grpc_transport_stats(t, &st);
    ASSERT_EQ_INT(st.connections, 1);
    close_transport(t);
    blackhole_close(&bh);
    th_stop(&srv);
}

/* Every address blackholed: the connect bound still holds, and its message says what each
 * started attempt was doing. */
TEST(grpc_all_blackholed_hits_the_connect_bound) {
    blackhole bh;
    blackhole_open(&bh);
    ASSERT_EQ_INT(uv_loop_init(&loop), 0);
    mae_transport *t;
    ASSERT_EQ_INT(mae_grpc_transport_new(&loop, &t), 0);
    ((mae__gtransport *)t->data)->handshake_ms = 400;
    char ep[64];
    snprintf(ep, sizeof ep, "localhost:%d", bh.port);
    mae_svc_cfg svc = {.name = "f", .type = "grpc", .endpoint = ep, .timeout_ms = 5000,
                       .pool_connections = 1};
    mae__gpool *p;
    ASSERT_EQ_INT(mae__pool_get(t->data, &svc, &p), 0);
    struct sockaddr_storage ss[] = {addr_of("127.0.0.1", bh.port), addr_of("127.0.0.1", bh.port)};
    const struct sockaddr *sa[] = {(struct sockaddr *)&ss[0], (struct sockaddr *)&ss[1]};
    ASSERT_EQ_INT(mae__conn_open_addrs(p, sa, 2), 0);
    got g;
    grpc_call(t, &svc, 5000, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_CONNECT);
    char want[128];
    snprintf(want, sizeof want, "not connected within 400 ms (127.0.0.1:%d no answer", bh.port);
    ASSERT_CONTAINS(g.msg, want);
    close_transport(t);
    blackhole_close(&bh);
}

/* Refused on ::1 and on 127.0.0.1: the call fails with `connect` and names each address with
 * its error. */
TEST(grpc_every_address_refused_lists_them) {
    int p6, p4;
    int r6 = bound("::1", -1, &p6);
    int r4 = bound("127.0.0.1", -1, &p4);
    ASSERT_EQ_INT(uv_loop_init(&loop), 0);
    mae_transport *t;
    ASSERT_EQ_INT(mae_grpc_transport_new(&loop, &t), 0);
    mae_svc_cfg svc = {.name = "f", .type = "grpc", .endpoint = "localhost:1", .timeout_ms = 5000,
                       .pool_connections = 1};
    mae__gpool *p;
    ASSERT_EQ_INT(mae__pool_get(t->data, &svc, &p), 0);
    struct sockaddr_storage ss[] = {addr_of("::1", p6), addr_of("127.0.0.1", p4)};
    const struct sockaddr *sa[] = {(struct sockaddr *)&ss[0], (struct sockaddr *)&ss[1]};
    ASSERT_EQ_INT(mae__conn_open_addrs(p, sa, 2), 0);
    got g;
    grpc_call(t, &svc, 5000, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_CONNECT);
    char want[200];
    snprintf(want, sizeof want,
             "connect to localhost:1: connection refused (each of its 2 addresses failed: "
             "[::1]:%d connection refused, 127.0.0.1:%d connection refused)", p6, p4);
    ASSERT_EQ_STR(g.msg, want);
    close_transport(t);
    close(r6);
    close(r4);
}
