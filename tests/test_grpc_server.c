/* Tests of the gRPC server side (grpc_server.h) with the envelope helpers of grpc_msgcodec.h:
 * a real grpcio client (tests/servers/grpc_client_check.py, started with uv_spawn so our loop
 * keeps serving) and our own client transport talk to it. */
#include <fcntl.h>
#include <nghttp2/nghttp2.h>
#include <unistd.h>
#include <uv.h>

#include "grpc_h2/grpc_codec.h"
#include "grpc_h2/grpc_msgcodec.h"
#include "grpc_h2/grpc_server.h"
#include "grpc_h2/grpc_transport.h"
#include "harness.h"
#include "target_fx.h"
#include "maestro/maestro.h"

static uv_loop_t loop;
static mae_grpc_scall *never_call;
static int handled, aborted, server_closed;
static char seen_timeout[32];

static void reply_env(mae_grpc_scall *c, bool ok, cJSON *data, const char *err) {
    uint8_t *msg;
    size_t len;
    ASSERT_EQ_INT(mae__grpc_env_reply_encode(ok, data, err, &msg, &len), 0);
    ASSERT_EQ_INT(mae__grpc_server_reply(c, msg, len), 0);
    free(msg);
}

static void on_call(mae_grpc_scall *c, const char *path, const uint8_t *msg, size_t len,
                    const mae_header_kv *hdrs, size_t n_hdrs, void *ud) {
    handled++;
    if (strcmp(path, MAE_GRPC_ENVELOPE_PATH) != 0) {
        ASSERT_EQ_INT(mae__grpc_server_fail(c, MAE_GRPC_UNIMPLEMENTED, "no such path", NULL, 0), 0);
        return;
    }
    mae_grpc_env_request r;
    if (mae__grpc_env_request_decode(msg, len, &r) != 0) {
        mae__grpc_server_fail(c, MAE_GRPC_INVALID_ARGUMENT, "bad envelope", NULL, 0);
        return;
    }
    for (size_t i = 0; i < n_hdrs; i++)
        if (strcmp(hdrs[i].name, "grpc-timeout") == 0)
            snprintf(seen_timeout, sizeof seen_timeout, "%s", hdrs[i].value);
    if (strcmp(r.method, "Echo") == 0) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddItemToObject(d, "input", cJSON_Duplicate(r.input, true));
        cJSON_AddStringToObject(d, "method", r.method);
        cJSON_AddStringToObject(d, "workflow_id", r.workflow_id);
        cJSON_AddStringToObject(d, "correlation_id", r.correlation_id);
        cJSON_AddItemToObject(d, "headers", cJSON_Duplicate(r.headers, true));
        reply_env(c, true, d, NULL);
        cJSON_Delete(d);
    } else if (strcmp(r.method, "Fail") == 0) {
        mae_header_kv pb[] = {{"grpc-retry-pushback-ms", "700"}};
        mae__grpc_server_fail(c, MAE_GRPC_UNAVAILABLE, "busy 100%\r\n\xF0\x9F\x98\x80", pb, 1);
    } else if (strcmp(r.method, "App") == 0) {
        reply_env(c, false, NULL, "nope");
    } else if (strcmp(r.method, "Never") == 0) {
        never_call = c;  /* never answered: the client gives up */
    } else {
        mae__grpc_server_fail(c, MAE_GRPC_UNIMPLEMENTED, "unknown method", NULL, 0);
    }
    mae__grpc_env_request_free(&r);
}

static void on_abort(mae_grpc_scall *c, void *ud) {
    ASSERT_TRUE(c == never_call);
    aborted++;
    never_call = NULL;  /* freed when this returns */
}

static const mae_grpc_server_handler handler = {on_call, on_abort, NULL};

static void on_server_closed(void *ud) { server_closed++; }

static int child_exited;
static int64_t child_status = -1;
static void on_exit_cb(uv_process_t *p, int64_t status, int sig) {
    child_exited++;
    child_status = status;
    uv_close((uv_handle_t *)p, NULL);
}

TEST_T(server_against_grpcio_client, 90) {
    ASSERT_EQ_INT(uv_loop_init(&loop), 0);
    mae_grpc_server *s;
    ASSERT_EQ_INT(mae__grpc_server_new(&loop, "127.0.0.1", 0, NULL, &handler, &s), 0);
    char port[16];
    snprintf(port, sizeof port, "%d", mae__grpc_server_port(s));
    ASSERT_CMP_INT(mae__grpc_server_port(s), >, 0);
    char *outpath = th_write_temp("", 0, ".jsonl");
    int fd = open(outpath, O_WRONLY | O_TRUNC);
    ASSERT_CMP_INT(fd, >=, 0);
    char *args[] = {TH_PYTHON, (char *)th_path("tests/servers/grpc_client_check.py"), port, NULL};
    uv_stdio_container_t stdio[3] = {{.flags = UV_IGNORE},
                                     {.flags = UV_INHERIT_FD, .data.fd = fd},
                                     {.flags = UV_INHERIT_FD, .data.fd = 2}};
    uv_process_options_t po = {.exit_cb = on_exit_cb, .file = TH_PYTHON, .args = args,
                               .stdio = stdio, .stdio_count = 3};
    uv_process_t proc;
    ASSERT_EQ_INT(uv_spawn(&loop, &proc, &po), 0);
    close(fd);
    while (!child_exited) uv_run(&loop, UV_RUN_ONCE);
    ASSERT_EQ_INT(child_status, 0);
    ASSERT_EQ_INT(aborted, 1);  /* the client reset that stream at its deadline */
    ASSERT_NULL(never_call);
    mae__grpc_server_close(s, on_server_closed, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(server_closed, 1);
    ASSERT_EQ_INT(uv_loop_close(&loop), 0);
    char *out = th_read_file(outpath, NULL);
    ASSERT_CONTAINS(out, "{\"case\": \"echo\", \"data\": {\"correlation_id\": \"w1:s1\", "
                         "\"headers\": {\"k\": \"v\"}, \"input\": {\"a\": [1.0, {\"b\": null}], "
                         "\"s\": \"x\"}, \"method\": \"Echo\", \"workflow_id\": \"w1\"}, "
                         "\"success\": true}");
    ASSERT_CONTAINS(out, "{\"case\": \"fail\", \"code\": \"UNAVAILABLE\", \"details\": "
                         "\"busy 100%\\r\\n\\ud83d\\ude00\", \"pushback\": \"700\"}");
    ASSERT_CONTAINS(out, "{\"case\": \"unknown\", \"code\": \"UNIMPLEMENTED\"");
    ASSERT_CONTAINS(out, "{\"case\": \"deadline\", \"code\": \"DEADLINE_EXCEEDED\"");
    ASSERT_CONTAINS(out, "{\"case\": \"app\", \"error\": \"nope\", \"success\": false}");
    /* grpcio's grpc-timeout (e.g. "10100m" for its 10 s calls) parses with our strict parser. */
    uint64_t ns = 0;
    ASSERT_EQ_INT(mae__grpc_timeout_parse(seen_timeout, strlen(seen_timeout), &ns), 0);
    ASSERT_CMP_INT(ns, >, 9000000000ull);
    ASSERT_CMP_INT(ns, <=, 11000000000ull);
    ASSERT_EQ_INT(handled, 5);
    free(out);
    unlink(outpath);
    free(outpath);
}

typedef struct got {
    int called;
    mae_call_result res;
    char msg[128];
    char *out;
} got;

static void on_result(mae_call_result *r, void *ud) {
    got *g = ud;
    g->called++;
    g->res = *r;
    snprintf(g->msg, sizeof g->msg, "%s", r->message ? r->message : "");
    g->out = r->output ? cJSON_PrintUnformatted(r->output) : NULL;
    cJSON_Delete(r->output);
}

static int client_closed;
static void on_client_closed(void *ud) { client_closed++; }

TEST(server_against_our_client) {
    ASSERT_EQ_INT(uv_loop_init(&loop), 0);
    mae_grpc_server *s;
    ASSERT_EQ_INT(mae__grpc_server_new(&loop, "127.0.0.1", 0, NULL, &handler, &s), 0);
    mae_transport *t;
    ASSERT_EQ_INT(mae_grpc_transport_new(&loop, &t), 0);
    char ep[32];
    snprintf(ep, sizeof ep, "127.0.0.1:%d", mae__grpc_server_port(s));
    mae_svc_cfg svc = {.name = "x", .type = "grpc", .endpoint = ep, .timeout_ms = 5000,
                       .pool_connections = 2};
    static const char *methods[] = {"Echo", "Fail", "App", "Never", "Other"};
    got g[5];
    memset(g, 0, sizeof g);
    cJSON *in = cJSON_Parse("{\"deep\":{\"l\":[true,null,\"s\"]}}");
    for (int i = 0; i < 5; i++) {
        mae_call_req req = {.service = &svc, .target = FX_GRPC_TARGET(methods[i]), .input = in,
                            .timeout_ms = i == 3 ? 200 : 5000, .run_id = "run", .step_id = "st"};
        mae_call *c;
        ASSERT_EQ_INT(mae_transport_start(t, &req, on_result, &g[i], &c), 0);
    }
    cJSON_Delete(in);
    for (;;) {
        int n = 0;
        for (int i = 0; i < 5; i++) n += g[i].called;
        if (n == 5) break;
        uv_run(&loop, UV_RUN_ONCE);
    }
    ASSERT_EQ_INT(g[0].res.cls, MAE_CLASS_NONE);
    ASSERT_CONTAINS(g[0].out, "\"input\":{\"deep\":{\"l\":[true,null,\"s\"]}}");
    ASSERT_CONTAINS(g[0].out, "\"correlation_id\":\"run:st\"");
    ASSERT_EQ_INT(g[1].res.cls, MAE_CLASS_GRPC);
    ASSERT_EQ_INT(g[1].res.status, MAE_GRPC_UNAVAILABLE);
    ASSERT_EQ_STR(g[1].msg, "busy 100%\r\n\xF0\x9F\x98\x80");
    ASSERT_EQ_INT(g[1].res.retry_after_ms, 700);
    ASSERT_EQ_INT(g[2].res.cls, MAE_CLASS_APP_ERROR);
    ASSERT_EQ_STR(g[2].msg, "nope");
    ASSERT_EQ_INT(g[3].res.cls, MAE_CLASS_TIMEOUT);
    ASSERT_EQ_INT(g[4].res.cls, MAE_CLASS_GRPC);
    ASSERT_EQ_INT(g[4].res.status, MAE_GRPC_UNIMPLEMENTED);
    ASSERT_CMP_INT(strlen(seen_timeout), >, 1);
    for (int i = 0; i < 5; i++) free(g[i].out);
    /* Our timeout reset the "Never" stream: the handler heard of it. */
    while (aborted == 0) uv_run(&loop, UV_RUN_ONCE);
    ASSERT_EQ_INT(aborted, 1);
    mae__grpc_server_close(s, on_server_closed, NULL);
    t->vt->close(t, on_client_closed, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(server_closed, 1);
    ASSERT_EQ_INT(client_closed, 1);
    ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}

/* ---- a handler closing the server from inside nghttp2's callbacks ------------------------- */

typedef struct wire {
    uint8_t *p;
    size_t len;
} wire;

static ssize_t wire_send(nghttp2_session *ng, const uint8_t *d, size_t n, int flags, void *ud) {
    wire *w = ud;
    w->p = realloc(w->p, w->len + n);
    memcpy(w->p + w->len, d, n);
    w->len += n;
    return (ssize_t)n;
}

static ssize_t wire_body(nghttp2_session *ng, int32_t sid, uint8_t *buf, size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *ud) {
    /* One empty gRPC message: a zero prefix. */
    memset(buf, 0, 5);
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    return 5;
}

/* Client bytes (preface, SETTINGS, then n unary requests, plus RST_STREAM of the first one when
 * rst) made by a real nghttp2 client session. */
static wire client_bytes(int n, bool rst) {
    wire w = {0};
    nghttp2_session_callbacks *cb;
    ASSERT_EQ_INT(nghttp2_session_callbacks_new(&cb), 0);
    nghttp2_session_callbacks_set_send_callback(cb, wire_send);
    nghttp2_session *ng;
    ASSERT_EQ_INT(nghttp2_session_client_new(&ng, cb, &w), 0);
    nghttp2_session_callbacks_del(cb);
    ASSERT_EQ_INT(nghttp2_submit_settings(ng, NGHTTP2_FLAG_NONE, NULL, 0), 0);
    const nghttp2_nv nv[] = {
        {(uint8_t *)":method", (uint8_t *)"POST", 7, 4, 0},
        {(uint8_t *)":scheme", (uint8_t *)"http", 7, 4, 0},
        {(uint8_t *)":path", (uint8_t *)"/x.Y/Z", 5, 6, 0},
        {(uint8_t *)":authority", (uint8_t *)"a", 10, 1, 0},
        {(uint8_t *)"content-type", (uint8_t *)"application/grpc", 12, 16, 0},
    };
    nghttp2_data_provider dp = {.read_callback = wire_body};
    int32_t first = 0;
    for (int i = 0; i < n; i++) {
        int32_t sid = nghttp2_submit_request(ng, NULL, nv, 5, &dp, NULL);
        ASSERT_CMP_INT(sid, >, 0);
        if (!first) first = sid;
    }
    ASSERT_EQ_INT(nghttp2_session_send(ng), 0);
    if (rst) {
        ASSERT_EQ_INT(nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, first, NGHTTP2_CANCEL), 0);
        ASSERT_EQ_INT(nghttp2_session_send(ng), 0);
    }
    nghttp2_session_del(ng);
    return w;
}

static mae_grpc_server *closer_srv;
static int closer_calls, closer_aborts, closer_closed;
static bool close_in_abort;

static void on_closer_done(void *ud) { closer_closed++; }

static void closer_call(mae_grpc_scall *c, const char *path, const uint8_t *msg, size_t len,
                        const mae_header_kv *hdrs, size_t n_hdrs, void *ud) {
    closer_calls++;
    /* Left unanswered: the close (now, or on the abort) aborts it. */
    if (!close_in_abort) mae__grpc_server_close(closer_srv, on_closer_done, NULL);
}

static void closer_abort(mae_grpc_scall *c, void *ud) {
    closer_aborts++;
    if (close_in_abort) mae__grpc_server_close(closer_srv, on_closer_done, NULL);
}

static void run_closer(bool in_abort, int n_requests) {
    static const mae_grpc_server_handler h = {closer_call, closer_abort, NULL};
    close_in_abort = in_abort;
    closer_calls = closer_aborts = closer_closed = 0;
    ASSERT_EQ_INT(uv_loop_init(&loop), 0);
    ASSERT_EQ_INT(mae__grpc_server_new(&loop, "127.0.0.1", 0, NULL, &h, &closer_srv), 0);
    wire w = client_bytes(n_requests, in_abort);
    /* nghttp2 is still parsing when the handler closes: the session must outlive that. */
    mae__grpc_server_feed(closer_srv, w.p, w.len);
    free(w.p);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(closer_closed, 1);
    ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}

TEST(handler_closes_server_inside_on_call) {
    run_closer(false, 3);
    /* The first call closed the server: the requests after it are never dispatched. */
    ASSERT_EQ_INT(closer_calls, 1);
    ASSERT_EQ_INT(closer_aborts, 1);
}

TEST(handler_closes_server_inside_on_abort) {
    run_closer(true, 2);
    ASSERT_EQ_INT(closer_calls, 2);
    /* The reset stream's abort closed the server, which aborted the other call. */
    ASSERT_EQ_INT(closer_aborts, 2);
}

/* The same over a real connection (read_cb's mem_recv): our client sees the connection end. */
TEST(handler_closes_server_over_tcp) {
    static const mae_grpc_server_handler h = {closer_call, closer_abort, NULL};
    close_in_abort = false;
    closer_calls = closer_aborts = closer_closed = 0;
    client_closed = 0;
    ASSERT_EQ_INT(uv_loop_init(&loop), 0);
    ASSERT_EQ_INT(mae__grpc_server_new(&loop, "127.0.0.1", 0, NULL, &h, &closer_srv), 0);
    mae_transport *t;
    ASSERT_EQ_INT(mae_grpc_transport_new(&loop, &t), 0);
    char ep[32];
    snprintf(ep, sizeof ep, "127.0.0.1:%d", mae__grpc_server_port(closer_srv));
    mae_svc_cfg svc = {.name = "x", .type = "grpc", .endpoint = ep, .timeout_ms = 10000,
                       .pool_connections = 1};
    got g[3];
    memset(g, 0, sizeof g);
    for (int i = 0; i < 3; i++) {
        mae_call_req req = {.service = &svc, .target = FX_GRPC_TARGET("Echo"), .run_id = "r", .step_id = "s"};
        mae_call *c;
        ASSERT_EQ_INT(mae_transport_start(t, &req, on_result, &g[i], &c), 0);
    }
    while (g[0].called + g[1].called + g[2].called < 3) uv_run(&loop, UV_RUN_ONCE);
    for (int i = 0; i < 3; i++) {
        ASSERT_NE_INT(g[i].res.cls, MAE_CLASS_NONE);
        free(g[i].out);
    }
    ASSERT_EQ_INT(closer_calls, 1);
    ASSERT_EQ_INT(closer_aborts, 1);
    t->vt->close(t, on_client_closed, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(closer_closed, 1);
    ASSERT_EQ_INT(client_closed, 1);
    ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}
