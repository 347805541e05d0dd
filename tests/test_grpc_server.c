/* Tests of the gRPC server side (grpc_server.h) with the envelope helpers of grpc_msgcodec.h:
 * a real grpcio client (tests/servers/grpc_client_check.py, started with uv_spawn so our loop
 * keeps serving) and our own client transport talk to it. */
#include <fcntl.h>
#include <unistd.h>
#include <uv.h>

#include "grpc_h2/grpc_codec.h"
#include "grpc_h2/grpc_msgcodec.h"
#include "grpc_h2/grpc_server.h"
#include "grpc_h2/grpc_transport.h"
#include "harness.h"
#include "maestro.h"

static uv_loop_t loop;
static mae_grpc_scall *never_call;
static int handled, aborted, server_closed;
static char seen_timeout[32];

static void reply_env(mae_grpc_scall *c, bool ok, cJSON *data, const char *err) {
    uint8_t *msg;
    size_t len;
    ASSERT_EQ_INT(mae_grpc_env_reply_encode(ok, data, err, &msg, &len), 0);
    ASSERT_EQ_INT(mae_grpc_server_reply(c, msg, len), 0);
    free(msg);
}

static void on_call(mae_grpc_scall *c, const char *path, const uint8_t *msg, size_t len,
                    const mae_header_kv *hdrs, size_t n_hdrs, void *ud) {
    handled++;
    if (strcmp(path, MAE_GRPC_ENVELOPE_PATH) != 0) {
        ASSERT_EQ_INT(mae_grpc_server_fail(c, MAE_GRPC_UNIMPLEMENTED, "no such path", NULL, 0), 0);
        return;
    }
    mae_grpc_env_request r;
    if (mae_grpc_env_request_decode(msg, len, &r) != 0) {
        mae_grpc_server_fail(c, MAE_GRPC_INVALID_ARGUMENT, "bad envelope", NULL, 0);
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
        mae_grpc_server_fail(c, MAE_GRPC_UNAVAILABLE, "busy 100%\r\n\xF0\x9F\x98\x80", pb, 1);
    } else if (strcmp(r.method, "App") == 0) {
        reply_env(c, false, NULL, "nope");
    } else if (strcmp(r.method, "Never") == 0) {
        never_call = c;  /* never answered: the client gives up */
    } else {
        mae_grpc_server_fail(c, MAE_GRPC_UNIMPLEMENTED, "unknown method", NULL, 0);
    }
    mae_grpc_env_request_free(&r);
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
    ASSERT_EQ_INT(mae_grpc_server_new(&loop, "127.0.0.1", 0, NULL, &handler, &s), 0);
    char port[16];
    snprintf(port, sizeof port, "%d", mae_grpc_server_port(s));
    ASSERT_CMP_INT(mae_grpc_server_port(s), >, 0);
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
    mae_grpc_server_close(s, on_server_closed, NULL);
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
    ASSERT_EQ_INT(mae_grpc_timeout_parse(seen_timeout, strlen(seen_timeout), &ns), 0);
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
    ASSERT_EQ_INT(mae_grpc_server_new(&loop, "127.0.0.1", 0, NULL, &handler, &s), 0);
    mae_transport *t;
    ASSERT_EQ_INT(mae_grpc_transport_new(&loop, &t), 0);
    char ep[32];
    snprintf(ep, sizeof ep, "127.0.0.1:%d", mae_grpc_server_port(s));
    mae_service svc = {.name = "x", .type = MAE_SVC_GRPC, .endpoint = ep, .timeout_ms = 5000,
                       .pool_connections = 2};
    static const char *methods[] = {"Echo", "Fail", "App", "Never", "Other"};
    got g[5];
    memset(g, 0, sizeof g);
    cJSON *in = cJSON_Parse("{\"deep\":{\"l\":[true,null,\"s\"]}}");
    for (int i = 0; i < 5; i++) {
        mae_call_req req = {.service = &svc, .method = methods[i], .input = in,
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
    mae_grpc_server_close(s, on_server_closed, NULL);
    t->vt->close(t, on_client_closed, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(server_closed, 1);
    ASSERT_EQ_INT(client_closed, 1);
    ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}
