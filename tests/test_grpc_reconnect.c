/* The gRPC pool against servers that never let a connection become usable, and the server's
 * "do not retry" pushback (issue #17, defects 5 and 10):
 * - a server that accepts TCP, reads the preface and closes is a failed connect: the pool backs
 *   off (100 ms doubling to 5 s) instead of reconnecting at once, and the call fails with class
 *   `connect` and says why, not `timeout` after thousands of connections;
 * - grpc-retry-pushback-ms: -1 ends the call after one attempt. */
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "grpc_h2/grpc_client_int.h"
#include "grpc_h2/grpc_transport.h"
#include "harness.h"
#include "target_fx.h"
#include "maestro/maestro.h"

static uv_loop_t loop;
static int closed_called;
static void on_closed(void *ud) { closed_called++; }

typedef struct got {
    int called;
    mae_class cls;
    char msg[256];
    bool no_retry;
    uint64_t done_at;
} got;

static void on_result(mae_call_result *r, void *ud) {
    got *g = ud;
    g->called++;
    g->cls = r->cls;
    g->no_retry = r->no_retry;
    g->done_at = uv_now(&loop);
    snprintf(g->msg, sizeof g->msg, "%s", r->message ? r->message : "");
    cJSON_Delete(r->output);
}

/* The "CONN" lines the server printed so far: one per accepted connection. */
static int count_conns(th_proc *srv) {
    int fd = fileno(srv->out);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    int n = 0;
    char line[64];
    for (;;) {
        if (fgets(line, sizeof line, srv->out)) {
            if (strncmp(line, "CONN", 4) == 0) n++;
            continue;
        }
        clearerr(srv->out);
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 300) <= 0) break;
    }
    return n;
}

static mae_transport *start_server(th_proc *srv, const char *arg, mae_svc_cfg *svc, char *ep) {
    char *argv[] = {TH_PYTHON, (char *)th_path("tests/servers/h2_fault.py"), (char *)arg, NULL};
    ASSERT_EQ_INT(th_spawn(srv, argv, 20), 0);
    ASSERT_EQ_INT(uv_loop_init(&loop), 0);
    mae_transport *t;
    ASSERT_EQ_INT(mae_grpc_transport_new(&loop, &t), 0);
    snprintf(ep, 64, "127.0.0.1:%d", srv->port);
    *svc = (mae_svc_cfg){.name = "f", .type = "grpc", .endpoint = ep, .timeout_ms = 2000,
                         .pool_connections = 2};
    return t;
}

static void finish(mae_transport *t, th_proc *srv) {
    t->vt->close(t, on_closed, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(closed_called, 1);
    ASSERT_EQ_INT(uv_loop_close(&loop), 0);
    th_stop(srv);
}

static void start_call(mae_transport *t, const mae_svc_cfg *svc, uint64_t timeout_ms, got *g) {
    mae_call_req req = {.service = svc, .target = FX_GRPC_TARGET("M"), .timeout_ms = timeout_ms,
                        .run_id = "r", .step_id = "s"};
    mae_call *c;
    memset(g, 0, sizeof *g);
    ASSERT_EQ_INT(mae_transport_start(t, &req, on_result, g, &c), 0);
}

TEST(reconnect_closed_before_handshake_is_one_connect_failure) {
    th_proc srv;
    mae_svc_cfg svc;
    char ep[64];
    mae_transport *t = start_server(&srv, "--close-after-preface", &svc, ep);
    got g;
    start_call(t, &svc, 2000, &g);
    while (!g.called) uv_run(&loop, UV_RUN_ONCE);
    ASSERT_EQ_INT(g.called, 1);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_CONNECT);
    ASSERT_CONTAINS(g.msg, "connection closed before the HTTP/2 handshake");
    ASSERT_CONTAINS(g.msg, ep);
    int n = count_conns(&srv);
    ASSERT_CMP_INT(n, >=, 1);
    ASSERT_CMP_INT(n, <=, 2);
    finish(t, &srv);
}

/* Calls started one after the other for 2 s, as an engine retrying at once would: each new
 * connection waits for the pool's backoff (100, 200, 400, 800 ms ...), so the server sees a
 * handful of connections, not thousands. */
TEST(reconnect_backoff_bounds_connections_over_two_seconds) {
    th_proc srv;
    mae_svc_cfg svc;
    char ep[64];
    mae_transport *t = start_server(&srv, "--close-after-preface", &svc, ep);
    uv_update_time(&loop);
    uint64_t t0 = uv_now(&loop);
    int calls = 0, connect_fails = 0;
    while (uv_now(&loop) - t0 < 2000) {
        got g;
        start_call(t, &svc, 2000, &g);
        while (!g.called) uv_run(&loop, UV_RUN_ONCE);
        calls++;
        if (g.cls == MAE_CLASS_CONNECT) connect_fails++;
    }
    int n = count_conns(&srv);
    printf("  %d calls, %d connections in 2 s\n", calls, n);
    ASSERT_EQ_INT(connect_fails, calls);
    /* 0, 100, 300, 700, 1500 ms (+ one more started near the end) */
    ASSERT_CMP_INT(n, >=, 3);
    ASSERT_CMP_INT(n, <=, 10);
    ASSERT_CMP_INT(calls, <=, 10);
    finish(t, &srv);
}

TEST(pushback_negative_is_reported_as_no_retry) {
    th_proc srv;
    mae_svc_cfg svc;
    char ep[64];
    mae_transport *t = start_server(&srv, NULL, &svc, ep);
    mae_header_kv h[] = {{"x-fault", "pushback_stop"}};
    mae_call_req req = {.service = &svc, .target = FX_GRPC_TARGET("M"), .timeout_ms = 5000,
                        .run_id = "r", .step_id = "s", .headers = h, .n_headers = 1};
    mae_call *c;
    got g = {0};
    ASSERT_EQ_INT(mae_transport_start(t, &req, on_result, &g, &c), 0);
    while (!g.called) uv_run(&loop, UV_RUN_ONCE);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_GRPC);
    ASSERT_TRUE(g.no_retry);
    h[0].value = "pushback";  /* 1500: a delay, retries allowed */
    memset(&g, 0, sizeof g);
    ASSERT_EQ_INT(mae_transport_start(t, &req, on_result, &g, &c), 0);
    while (!g.called) uv_run(&loop, UV_RUN_ONCE);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_GRPC);
    ASSERT_FALSE(g.no_retry);
    finish(t, &srv);
}

/* End to end: the engine makes exactly one attempt though three are allowed. */
TEST(pushback_negative_stops_the_engines_retries) {
    th_proc srv;
    char *argv[] = {TH_PYTHON, (char *)th_path("tests/servers/h2_fault.py"), NULL};
    ASSERT_EQ_INT(th_spawn(&srv, argv, 20), 0);
    char wf[1024];
    snprintf(wf, sizeof wf,
             "name: pushback_stop\n"
             "services:\n"
             "  svc:\n"
             "    type: grpc\n"
             "    endpoint: \"127.0.0.1:%d\"\n"
             "    timeout: 5s\n"
             "    headers: {x-fault: pushback_stop}\n"
             "    retry: {attempts: 3, initial: 10ms, max: 50ms}\n"
             "steps:\n"
             "  - id: only\n"
             "    service: svc\n"
             "    method: M\n",
             srv.port);
    char *path = th_write_temp(wf, strlen(wf), ".yaml");
    char report[256];
    snprintf(report, sizeof report, "%s.report.json", path);
    char *run[] = {"maestro", "run", path, "--report", report, NULL};
    char *out, *err;
    int rc = th_maestro(run, NULL, &out, &err);
    ASSERT_EQ_INT(rc, 1);
    ASSERT_CONTAINS(err, "go away");
    char *rep = th_read_file(report, NULL);
    ASSERT_NOT_NULL(rep);
    cJSON *j = cJSON_Parse(rep);
    ASSERT_NOT_NULL(j);
    cJSON *steps = cJSON_GetObjectItem(j, "steps");
    cJSON *st = cJSON_IsArray(steps) ? cJSON_GetArrayItem(steps, 0)
                                     : cJSON_GetObjectItem(steps, "only");
    ASSERT_NOT_NULL(st);
    ASSERT_EQ_INT(cJSON_GetObjectItem(st, "attempts")->valuedouble, 1);
    cJSON_Delete(j);
    free(rep);
    free(out);
    free(err);
    unlink(report);
    unlink(path);
    free(path);
    th_stop(&srv);
}
