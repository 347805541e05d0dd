/* Closing a stub while replies are delayed: the delay timers are closed with it, so the loop
 * ends (and uv_loop_close succeeds) at once instead of when the longest delay runs out. Real
 * clients on loopback: a raw HTTP/1.1 request over uv_tcp and our own gRPC transport. */
#include <uv.h>

#include "grpc_h2/grpc_transport.h"
#include "harness.h"
#include "target_fx.h"
#include "stub/stub.h"
#include "maestro/maestro.h"

static const char stub_text[] =
    "services:\n"
    "  web:\n"
    "    type: http\n"
    "    listen: 127.0.0.1:0\n"
    "    routes:\n"
    "      \"POST /slow\": {respond: {ok: true}, delay: 1h}\n"
    "  rpc:\n"
    "    type: grpc\n"
    "    listen: 127.0.0.1:0\n"
    "    methods:\n"
    "      Slow: {respond: {ok: true}, delay: 1h}\n";

static uv_loop_t loop;
static int stub_done, watchdog_fired, results, transport_closed, tcp_closed;

static void on_stub_done(void *ud) { stub_done++; }
static void on_watchdog(uv_timer_t *t) {
    watchdog_fired++;
    uv_stop(t->loop);
}
static void on_result(mae_call_result *r, void *ud) {
    results++;
    cJSON_Delete(r->output);
}
static void on_transport_closed(void *ud) { transport_closed++; }
static void on_tcp_closed(uv_handle_t *h) { tcp_closed++; }

static void on_alloc(uv_handle_t *h, size_t s, uv_buf_t *b) {
    static char buf[4096];
    *b = uv_buf_init(buf, sizeof buf);
}
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
    if (n < 0) uv_read_stop(s);
}
static void on_write(uv_write_t *w, int status) { ASSERT_EQ_INT(status, 0); }
static void on_connect(uv_connect_t *c, int status) {
    ASSERT_EQ_INT(status, 0);
    static const char req[] = "POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
    static uv_write_t w;
    uv_buf_t b = uv_buf_init((char *)req, sizeof req - 1);
    ASSERT_EQ_INT(uv_write(&w, c->handle, &b, 1, on_write), 0);
    ASSERT_EQ_INT(uv_read_start(c->handle, on_alloc, on_read), 0);
}

static int log_lines(FILE *f) {
    fflush(f);
    rewind(f);
    int n = 0, ch;
    while ((ch = fgetc(f)) != EOF) n += ch == '\n';
    fseek(f, 0, SEEK_END);
    return n;
}

TEST(stub_close_cancels_delayed_replies) {
    ASSERT_EQ_INT(uv_loop_init(&loop), 0);
    mae_diags d;
    mae__diags_init(&d, "stub.yaml");
    mae_stub_file *f = NULL;
    ASSERT_EQ_INT(mae__stub_file_load_buf("stub.yaml", stub_text, sizeof stub_text - 1, &f, &d), 0);
    mae__diags_free(&d);
    FILE *log = tmpfile();
    ASSERT_NOT_NULL(log);
    mae_stub *s;
    char err[256];
    ASSERT_EQ_INT(mae__stub_start(&loop, f, log, &s, err, sizeof err), 0);

    /* One HTTP request and one gRPC call, both answered in an hour. */
    uv_tcp_t tcp;
    uv_connect_t conn;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", mae__stub_port(s, "web"), &a);
    ASSERT_EQ_INT(uv_tcp_init(&loop, &tcp), 0);
    ASSERT_EQ_INT(uv_tcp_connect(&conn, &tcp, (const struct sockaddr *)&a, on_connect), 0);
    mae_transport *t;
    ASSERT_EQ_INT(mae_grpc_transport_new(&loop, &t), 0);
    char ep[32];
    snprintf(ep, sizeof ep, "127.0.0.1:%d", mae__stub_port(s, "rpc"));
    mae_svc_cfg svc = {.name = "rpc", .type = "grpc", .endpoint = ep, .timeout_ms = 600000};
    cJSON *in = cJSON_CreateObject();
    mae_call_req req = {.service = &svc, .target = FX_GRPC_TARGET("Slow"), .input = in, .run_id = "r", .step_id = "s"};
    mae_call *call;
    ASSERT_EQ_INT(mae_transport_start(t, &req, on_result, NULL, &call), 0);
    cJSON_Delete(in);
    /* The stub logs each call when it has received it, before the delay. */
    while (log_lines(log) < 2) uv_run(&loop, UV_RUN_ONCE);

    mae__stub_close(s, on_stub_done, NULL);
    uv_close((uv_handle_t *)&tcp, on_tcp_closed);
    t->vt->close(t, on_transport_closed, NULL);
    /* Unref'd: it stops the loop only if something else (an hour's timer) keeps it alive. */
    uv_timer_t watchdog;
    ASSERT_EQ_INT(uv_timer_init(&loop, &watchdog), 0);
    ASSERT_EQ_INT(uv_timer_start(&watchdog, on_watchdog, 5000, 0), 0);
    uv_unref((uv_handle_t *)&watchdog);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(watchdog_fired, 0);
    ASSERT_EQ_INT(stub_done, 1);
    ASSERT_EQ_INT(results, 1);
    ASSERT_EQ_INT(transport_closed, 1);
    ASSERT_EQ_INT(tcp_closed, 1);
    uv_close((uv_handle_t *)&watchdog, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(uv_loop_close(&loop), 0);
    mae__stub_file_free(f);
    fclose(log);
}
