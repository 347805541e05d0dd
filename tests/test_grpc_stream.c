/* Streaming in the gRPC client against a real grpcio server (tests/servers/grpc_stream.py):
 * server-streaming replies through a codec with server_streaming set (the array of messages,
 * bounded by max_response in total, a failure after some messages), and bidirectional streams
 * (grpc_stream.h): ping-pong, half-close, cancel from the message callback, the deadline. Every
 * test closes the transport and asserts uv_loop_close() == 0. */
#include <uv.h>

#include "grpc_h2/grpc_client_int.h"
#include "grpc_h2/grpc_stream.h"
#include "grpc_h2/grpc_transport.h"
#include "harness.h"
#include "target_fx.h"
#include "maestro/maestro.h"

static uv_loop_t g_loop;
static int closed_called;
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

static void start_server(th_proc *p) {
    char *argv[] = {TH_PYTHON, (char *)th_path("tests/servers/grpc_stream.py"), NULL};
    ASSERT_EQ_INT(th_spawn(p, argv, 30), 0);
}

static mae_svc_cfg svc_for(int port, uint64_t max_response) {
    static char ep[64];
    snprintf(ep, sizeof ep, "127.0.0.1:%d", port);
    return (mae_svc_cfg){.name = "s", .type = "grpc", .endpoint = ep, .timeout_ms = 10000,
                         .max_response = max_response};
}

/* A raw codec: the input string is the request, each reply message becomes a JSON string. */
static int raw_path(const mae_grpc_codec *c, const mae_call_req *req, char *buf, size_t cap) {
    int n = snprintf(buf, cap, "/test.Stream/%s", mae__grpc_target_method(req->target));
    return n > 0 && (size_t)n < cap ? 0 : MAE_ETOOBIG;
}
static int raw_encode(const mae_grpc_codec *c, const mae_call_req *req, uint8_t **msg,
                      size_t *len) {
    const char *s = cJSON_GetStringValue(req->input);
    size_t n = s ? strlen(s) : 0;
    *msg = malloc(n + 5);
    if (!*msg) return MAE_ENOMEM;
    memcpy(*msg + 5, s ? s : "", n);
    *len = n;
    return 0;
}
static int raw_decode(const mae_grpc_codec *c, const uint8_t *msg, size_t len, mae_grpc_reply *out) {
    char *s = malloc(len + 1);  /* msg is not NUL-terminated: no str* function on it */
    if (s) {
        if (len) memcpy(s, msg, len);
        s[len] = 0;
    }
    *out = (mae_grpc_reply){.output = s ? cJSON_CreateString(s) : NULL};
    free(s);
    return out->output ? 0 : MAE_ENOMEM;
}
static const mae_grpc_codec raw_streaming = {.name = "raw", .path = raw_path, .encode = raw_encode,
                                             .decode = raw_decode, .server_streaming = true};

typedef struct got {
    int called;
    mae_class cls;
    int status;
    char msg[512];
    cJSON *out;
} got;

static void on_result(mae_call_result *r, void *ud) {
    got *g = ud;
    g->called++;
    g->cls = r->cls;
    g->status = r->status;
    snprintf(g->msg, sizeof g->msg, "%s", r->message ? r->message : "");
    g->out = r->output;
}

static void call_stream(mae_transport *t, const mae_svc_cfg *svc, const char *method,
                        const char *input, got *g) {
    cJSON *in = cJSON_CreateString(input);
    mae_call_req req = {.service = svc, .target = FX_GRPC_TARGET(method), .input = in,
                        .run_id = "r", .step_id = "s", .idempotency_key = "r:s"};
    mae_call *c;
    memset(g, 0, sizeof *g);
    ASSERT_EQ_INT(mae__grpc_call_start(t, &req, &raw_streaming, on_result, g, &c), 0);
    cJSON_Delete(in);
    ASSERT_EQ_INT(g->called, 0);
    while (!g->called) uv_run(&g_loop, UV_RUN_ONCE);
}

TEST(server_streaming_reply_is_the_array_of_messages) {
    th_proc srv;
    start_server(&srv);
    mae_transport *t = setup();
    mae_svc_cfg svc = svc_for(srv.port, 0);
    got g;
    call_stream(t, &svc, "Count", "50", &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    ASSERT_TRUE(cJSON_IsArray(g.out));
    ASSERT_EQ_INT(cJSON_GetArraySize(g.out), 50);
    for (int i = 0; i < 50; i++) {
        char want[16];
        snprintf(want, sizeof want, "msg-%d", i);
        ASSERT_EQ_STR(cJSON_GetStringValue(cJSON_GetArrayItem(g.out, i)), want);
    }
    cJSON_Delete(g.out);
    /* No message at all is an empty array, not a failure. */
    call_stream(t, &svc, "Count", "0", &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    ASSERT_TRUE(cJSON_IsArray(g.out));
    ASSERT_EQ_INT(cJSON_GetArraySize(g.out), 0);
    cJSON_Delete(g.out);
    finish(t);
    th_stop(&srv);
}

TEST(server_streaming_reply_bounded_in_total_by_max_response) {
    th_proc srv;
    start_server(&srv);
    mae_transport *t = setup();
    /* 100 messages of 100 bytes: each fits the 2000-byte bound, together they do not. */
    mae_svc_cfg svc = svc_for(srv.port, 2000);
    got g;
    call_stream(t, &svc, "Count", "100:100", &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_GRPC);
    ASSERT_EQ_INT(g.status, MAE_GRPC_RESOURCE_EXHAUSTED);
    ASSERT_CONTAINS(g.msg, "in total");
    ASSERT_NULL(g.out);
    /* Just under the bound (18 * 105 = 1890 bytes) passes. */
    call_stream(t, &svc, "Count", "18:100", &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    ASSERT_EQ_INT(cJSON_GetArraySize(g.out), 18);
    cJSON_Delete(g.out);
    /* The connection is still usable after the reset stream. */
    call_stream(t, &svc, "Count", "3", &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    ASSERT_EQ_INT(cJSON_GetArraySize(g.out), 3);
    cJSON_Delete(g.out);
    finish(t);
    th_stop(&srv);
}

TEST(server_streaming_status_after_messages_wins) {
    th_proc srv;
    start_server(&srv);
    mae_transport *t = setup();
    mae_svc_cfg svc = svc_for(srv.port, 0);
    got g;
    call_stream(t, &svc, "FailAt", "2", &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_GRPC);
    ASSERT_EQ_INT(g.status, MAE_GRPC_NOT_FOUND);
    ASSERT_EQ_STR(g.msg, "gone after 2");
    ASSERT_NULL(g.out);
    finish(t);
    th_stop(&srv);
}

/* ---- Bidirectional streams ---- */

typedef struct pingpong {
    mae_call *s;
    int rounds, received;
    bool cancel_at_first;
    char last[64];
    got end;
    int send_in_end;   /* what a send from inside on_end returned (the handle is valid there) */
} pingpong;

static int pp_msg(void *ud, const uint8_t *msg, size_t len) {
    pingpong *pp = ud;
    pp->received++;
    snprintf(pp->last, sizeof pp->last, "%.*s", (int)len, (const char *)msg);
    if (pp->cancel_at_first) {
        mae__grpc_stream_cancel(pp->s);
        return 0;
    }
    /* The next message only goes out once the previous answer came: a real conversation. */
    if (pp->received < pp->rounds) {
        char buf[32];
        int n = snprintf(buf, sizeof buf, "ping-%d", pp->received);
        if (mae__grpc_stream_send(pp->s, (const uint8_t *)buf, (size_t)n) != 0) return MAE_EINVAL;
    } else if (mae__grpc_stream_half_close(pp->s) != 0) {
        return MAE_EINVAL;
    }
    return 0;
}

static void pp_end(mae_call_result *r, void *ud) {
    pingpong *pp = ud;
    on_result(r, &pp->end);
    if (pp->s) pp->send_in_end = mae__grpc_stream_send(pp->s, (const uint8_t *)"x", 1);
}

static void pp_run(mae_transport *t, const mae_svc_cfg *svc, pingpong *pp, uint64_t timeout) {
    ASSERT_EQ_INT(mae__grpc_stream_open(t, svc, "/test.Stream/Echo", timeout, pp_msg, pp_end, pp,
                                        &pp->s), 0);
    ASSERT_EQ_INT(mae__grpc_stream_send(pp->s, (const uint8_t *)"ping-start", 10), 0);
    while (!pp->end.called) uv_run(&g_loop, UV_RUN_ONCE);
    ASSERT_EQ_INT(pp->end.called, 1);
}

TEST(bidi_stream_ping_pong_then_half_close) {
    th_proc srv;
    start_server(&srv);
    mae_transport *t = setup();
    mae_svc_cfg svc = svc_for(srv.port, 0);
    pingpong pp = {.rounds = 20};
    pp_run(t, &svc, &pp, 0);
    ASSERT_EQ_INT(pp.end.cls, MAE_CLASS_NONE);
    ASSERT_NULL(pp.end.out);
    ASSERT_EQ_INT(pp.received, 20);
    ASSERT_EQ_STR(pp.last, "echo:ping-19");
    finish(t);
    th_stop(&srv);
}

TEST(bidi_stream_cancel_from_message_callback) {
    th_proc srv;
    start_server(&srv);
    mae_transport *t = setup();
    mae_svc_cfg svc = svc_for(srv.port, 0);
    pingpong pp = {.rounds = 5, .cancel_at_first = true};
    pp_run(t, &svc, &pp, 0);
    ASSERT_EQ_INT(pp.end.cls, MAE_CLASS_CANCELLED);
    ASSERT_EQ_INT(pp.received, 1);
    ASSERT_EQ_STR(pp.last, "echo:ping-start");
    finish(t);
    th_stop(&srv);
}

TEST(bidi_stream_without_half_close_ends_at_its_deadline) {
    th_proc srv;
    start_server(&srv);
    mae_transport *t = setup();
    mae_svc_cfg svc = svc_for(srv.port, 0);
    pingpong pp = {.rounds = 1000000};
    mae_call *s;
    ASSERT_EQ_INT(mae__grpc_stream_open(t, &svc, "/test.Stream/Echo", 300, pp_msg, pp_end, &pp,
                                        &s), 0);
    pp.s = s;
    uint64_t t0 = uv_now(&g_loop);
    while (!pp.end.called) uv_run(&g_loop, UV_RUN_ONCE);
    /* Nothing was sent: the stream stays open until the bound ends it (grpc-timeout went out,
     * so the server's DEADLINE_EXCEEDED may come first). */
    if (pp.end.cls == MAE_CLASS_GRPC) ASSERT_EQ_INT(pp.end.status, MAE_GRPC_DEADLINE_EXCEEDED);
    else ASSERT_EQ_INT(pp.end.cls, MAE_CLASS_TIMEOUT);
    ASSERT_EQ_INT(pp.received, 0);
    ASSERT_CMP_INT(uv_now(&g_loop) - t0, >=, 290);
    /* the handle is valid until on_end returns, no longer (grpc_stream.h) */
    ASSERT_EQ_INT(pp.send_in_end, MAE_ESTATE);
    finish(t);
    th_stop(&srv);
}

TEST_T(bidi_stream_send_queue_is_bounded, 120) {
    th_proc srv;
    start_server(&srv);
    mae_transport *t = setup();
    mae_svc_cfg svc = svc_for(srv.port, 0);
    pingpong pp = {.rounds = 1, .cancel_at_first = true};
    ASSERT_EQ_INT(mae__grpc_stream_open(t, &svc, "/test.Stream/Echo", 0, pp_msg, pp_end, &pp,
                                        &pp.s), 0);
    /* Nothing is taken before the stream is dispatched: the queue fills up to the bound. */
    static uint8_t chunk[1 << 20];
    int sent = 0;
    while (mae__grpc_stream_send(pp.s, chunk, sizeof chunk) == 0) sent++;
    ASSERT_EQ_INT(sent, MAE__GRPC_STREAM_MAX_QUEUE / (sizeof chunk + 5));
    ASSERT_EQ_INT(mae__grpc_stream_send(pp.s, chunk, sizeof chunk), MAE_ETOOBIG);
    ASSERT_EQ_INT(mae__grpc_stream_send(pp.s, chunk, 1), 0);  /* a small one still fits */
    while (!pp.end.called) uv_run(&g_loop, UV_RUN_ONCE);
    ASSERT_EQ_INT(pp.end.cls, MAE_CLASS_CANCELLED);  /* the first echo came back */
    finish(t);
    th_stop(&srv);
}

TEST(bidi_stream_bad_arguments_refused) {
    mae_transport *t = setup();
    mae_svc_cfg svc = svc_for(1, 0);
    pingpong pp = {0};
    mae_call *s;
    ASSERT_EQ_INT(mae__grpc_stream_open(t, &svc, "no-slash", 0, pp_msg, pp_end, &pp, &s),
                  MAE_EINVAL);
    ASSERT_EQ_INT(mae__grpc_stream_open(t, &svc, "/a/b", 0, NULL, pp_end, &pp, &s), MAE_EINVAL);
    finish(t);
}
