/* Unit tests of the client HTTP/2 session without a socket: server bytes (recorded from
 * tests/servers/h2_fault.py into tests/fuzz/seed-fuzz_grpc_client/) are fed with mem_recv to a
 * session with one open stream, and the bytes the client sent are decoded with nghttp2's HPACK
 * inflater to check the request header list. */
#include <nghttp2/nghttp2.h>
#include <uv.h>

#include "grpc_h2/grpc_client_int.h"
#include "grpc_h2/grpc_transport.h"
#include "harness.h"
#include "target_fx.h"
#include "maestro/maestro.h"

typedef struct sess {
    uv_loop_t loop;
    mae_transport *t;
    mae__gpool *pool;
    mae__gconn *conn;
    uint8_t *sent;
    size_t sent_len;
    int called, closed;
    mae_call_result res;
    char msg[256];
    char *out;
} sess;

static void sink(void *ud, const uint8_t *p, size_t len) {
    sess *s = ud;
    s->sent = realloc(s->sent, s->sent_len + len);
    memcpy(s->sent + s->sent_len, p, len);
    s->sent_len += len;
}

static void on_result(mae_call_result *r, void *ud) {
    sess *s = ud;
    s->called++;
    s->res = *r;
    snprintf(s->msg, sizeof s->msg, "%s", r->message ? r->message : "");
    s->out = r->output ? cJSON_PrintUnformatted(r->output) : NULL;
    cJSON_Delete(r->output);
}

static void on_closed(void *ud) { ((sess *)ud)->closed++; }

static const uint8_t settings[] = {0, 0, 0, 4, 0, 0, 0, 0, 0};

/* Opens a session, starts one call, feeds the server's SETTINGS so the request goes out. */
static void open_session(sess *s, mae_svc_cfg *svc, uint64_t timeout_ms) {
    memset(s, 0, sizeof *s);
    ASSERT_EQ_INT(uv_loop_init(&s->loop), 0);
    ASSERT_EQ_INT(mae_grpc_transport_new(&s->loop, &s->t), 0);
    ASSERT_EQ_INT(mae__pool_get((mae__gtransport *)s->t, svc, &s->pool), 0);
    ASSERT_EQ_INT(mae__conn_new_detached(s->pool, sink, s, &s->conn), 0);
    cJSON *in = cJSON_Parse("{\"x\":1}");
    mae_header_kv h[] = {{"X-Custom", "v1"}, {"content-type", "text/evil"}, {":path", "/evil"}};
    mae_call_req req = {.service = svc, .target = FX_GRPC_TARGET("M"), .input = in, .timeout_ms = timeout_ms,
                        .run_id = "r", .step_id = "s", .idempotency_key = "r:s",
                        .traceparent = "00-abc-def-01", .headers = h, .n_headers = 3};
    mae_call *c;
    ASSERT_EQ_INT(mae_transport_start(s->t, &req, on_result, s, &c), 0);
    cJSON_Delete(in);
    ASSERT_EQ_INT(s->sent_len, 0 + s->sent_len);
    ASSERT_EQ_INT(mae__conn_recv(s->conn, settings, sizeof settings), 0);
    ASSERT_CMP_INT(s->sent_len, >, 24);
}

static void close_session(sess *s) {
    s->t->vt->close(s->t, on_closed, s);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(s->closed, 1);
    ASSERT_EQ_INT(s->called, 1);
    ASSERT_EQ_INT(uv_loop_close(&s->loop), 0);
    free(s->sent);
    free(s->out);
}

static void feed_seed(sess *s, const char *name) {
    char rel[128];
    snprintf(rel, sizeof rel, "tests/fuzz/seed-fuzz_grpc_client/%s", name);
    size_t len;
    char *bytes = th_read_file(th_path(rel), &len);
    ASSERT_NOT_NULL(bytes);
    mae__conn_recv(s->conn, (const uint8_t *)bytes, len);
    free(bytes);
    while (!s->called) uv_run(&s->loop, UV_RUN_ONCE);
}

static mae_svc_cfg svc1(void) {
    return (mae_svc_cfg){.name = "s", .type = "grpc", .endpoint = "localhost:50051",
                         .pool_connections = 1, .timeout_ms = 30000};
}

TEST(session_request_header_list) {
    mae_svc_cfg svc = svc1();
    sess s;
    open_session(&s, &svc, 1500);
    /* Skip the preface, walk the frames, inflate the HEADERS of stream 1. */
    ASSERT_EQ_INT(memcmp(s.sent, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24), 0);
    nghttp2_hd_inflater *inf;
    ASSERT_EQ_INT(nghttp2_hd_inflate_new(&inf), 0);
    char hdrs[2048] = "";
    size_t off = 24;
    int data_frames = 0, end_stream = 0;
    while (off + 9 <= s.sent_len) {
        const uint8_t *f = s.sent + off;
        size_t len = (size_t)f[0] << 16 | (size_t)f[1] << 8 | f[2];
        uint8_t type = f[3], flags = f[4];
        if (type == 1) {
            const uint8_t *p = f + 9;
            size_t left = len;
            for (;;) {
                nghttp2_nv nv;
                int fl = 0;
                ssize_t n = nghttp2_hd_inflate_hd2(inf, &nv, &fl, p, left, 1);
                ASSERT_CMP_INT(n, >=, 0);
                p += n;
                left -= (size_t)n;
                if (fl & NGHTTP2_HD_INFLATE_EMIT) {
                    size_t l = strlen(hdrs);
                    /* "(never)": sent as a never-indexed literal (RFC 7541 6.2.3) */
                    snprintf(hdrs + l, sizeof hdrs - l, "%.*s: %.*s%s\n", (int)nv.namelen, nv.name,
                             (int)nv.valuelen, nv.value,
                             nv.flags & NGHTTP2_NV_FLAG_NO_INDEX ? " (never)" : "");
                }
                if (fl & NGHTTP2_HD_INFLATE_FINAL) {
                    nghttp2_hd_inflate_end_headers(inf);
                    break;
                }
                if (n == 0 && left == 0) break;
            }
        }
        if (type == 0) {
            data_frames++;
            if (flags & 1) end_stream = 1;
            /* The request message: 5-byte prefix then the envelope. */
            ASSERT_EQ_INT(f[9], 0);
            ASSERT_EQ_INT((size_t)f[10] << 24 | f[11] << 16 | f[12] << 8 | f[13], len - 5);
        }
        off += 9 + len;
    }
    nghttp2_hd_inflate_del(inf);
    ASSERT_EQ_STR(hdrs, ":method: POST\n"
                        ":scheme: http\n"
                        ":path: /maestro.v1.MaestroService/Execute\n"
                        ":authority: localhost:50051\n"
                        "content-type: application/grpc\n"
                        "te: trailers\n"
                        "user-agent: maestro/" MAE_VERSION "\n"
                        "grpc-timeout: 1500000u\n"
                        "grpc-accept-encoding: identity,deflate,gzip\n"
                        "idempotency-key: r:s (never)\n"
                        "traceparent: 00-abc-def-01 (never)\n"
                        "x-custom: v1\n");
    ASSERT_EQ_INT(data_frames, 1);
    ASSERT_EQ_INT(end_stream, 1);
    feed_seed(&s, "ok");
    close_session(&s);
}

static const struct {
    const char *seed;
    mae_class cls;
    int status;
    bool not_an_attempt;
} seeds[] = {
    {"ok", MAE_CLASS_NONE, 0, false},
    {"one_byte", MAE_CLASS_NONE, 0, false},
    {"refused", MAE_CLASS_GRPC, MAE_GRPC_UNAVAILABLE, true},
    {"goaway", MAE_CLASS_GRPC, MAE_GRPC_UNAVAILABLE, true},
    {"calm", MAE_CLASS_GRPC, MAE_GRPC_RESOURCE_EXHAUSTED, false},
    {"no_status", MAE_CLASS_GRPC, MAE_GRPC_UNKNOWN, false},
    {"no_trailers", MAE_CLASS_GRPC, MAE_GRPC_INTERNAL, false},
    {"http_503", MAE_CLASS_GRPC, MAE_GRPC_UNAVAILABLE, false},
    {"html", MAE_CLASS_GRPC, MAE_GRPC_UNKNOWN, false},
    {"garbage_status", MAE_CLASS_GRPC, MAE_GRPC_UNKNOWN, false},
    {"huge_prefix", MAE_CLASS_GRPC, MAE_GRPC_RESOURCE_EXHAUSTED, false},
    {"two_messages", MAE_CLASS_GRPC, MAE_GRPC_INTERNAL, false},
    {"no_message", MAE_CLASS_GRPC, MAE_GRPC_INTERNAL, false},
    {"compressed", MAE_CLASS_GRPC, MAE_GRPC_INTERNAL, false},
    {"pushback", MAE_CLASS_GRPC, MAE_GRPC_UNAVAILABLE, false},
};

TEST(session_recorded_server_replies_map_to_statuses) {
    for (size_t i = 0; i < sizeof seeds / sizeof *seeds; i++) {
        mae_svc_cfg svc = svc1();
        sess s;
        open_session(&s, &svc, 0);
        feed_seed(&s, seeds[i].seed);
        if (s.res.cls != seeds[i].cls || s.res.status != seeds[i].status ||
            s.res.not_an_attempt != seeds[i].not_an_attempt)
            th_fail(__FILE__, __LINE__, "%s: class %d status %d not_an_attempt %d (%s)",
                    seeds[i].seed, s.res.cls, s.res.status, s.res.not_an_attempt, s.msg);
        if (seeds[i].cls == MAE_CLASS_NONE) ASSERT_EQ_STR(s.out, "{\"a\":1}");
        if (strcmp(seeds[i].seed, "pushback") == 0) {
            ASSERT_EQ_INT(s.res.retry_after_ms, 1500);
            ASSERT_EQ_STR(s.msg, "busy");
        }
        close_session(&s);
    }
}

TEST(session_garbage_from_server_fails_the_call_once) {
    mae_svc_cfg svc = svc1();
    sess s;
    open_session(&s, &svc, 0);
    const uint8_t junk[] = "HTTP/1.1 400 Bad Request\r\n\r\n";
    /* nghttp2 answers with GOAWAY(PROTOCOL_ERROR) and ends the session. */
    mae__conn_recv(s.conn, junk, sizeof junk - 1);
    while (!s.called) uv_run(&s.loop, UV_RUN_ONCE);
    ASSERT_EQ_INT(s.res.cls, MAE_CLASS_GRPC);
    ASSERT_EQ_INT(s.res.status, MAE_GRPC_INTERNAL);
    ASSERT_CONTAINS(s.msg, "HTTP/2 session ended");
    ASSERT_TRUE(mae__gq_empty(&s.pool->conns));
    close_session(&s);
}

static void closed_cb(void *ud) { (*(int *)ud)++; }

/* Services share a pool exactly when endpoint, TLS and keepalive settings agree (compared field
 * by field on every call); an unset TLS file is the same as an empty one. */
TEST(session_pool_lookup_by_settings) {
    uv_loop_t loop;
    ASSERT_EQ_INT(uv_loop_init(&loop), 0);
    mae_transport *t;
    ASSERT_EQ_INT(mae_grpc_transport_new(&loop, &t), 0);
    mae__gtransport *gt = t->data;
    mae_svc_cfg a = svc1(), b = svc1();
    mae__gpool *pa, *pb;
    ASSERT_EQ_INT(mae__pool_get(gt, &a, &pa), 0);
    b.name = "other";
    b.tls.ca_file = "";
    ASSERT_EQ_INT(mae__pool_get(gt, &b, &pb), 0);
    ASSERT_TRUE(pa == pb);
    mae_svc_cfg diff[5];
    for (int i = 0; i < 5; i++) diff[i] = svc1();
    diff[0].endpoint = "localhost:50052";
    diff[1].keepalive_ms = 1000;
    diff[2].keepalive_timeout_ms = 5000;
    diff[3].tls.server_name = "other.example";
    diff[4].tls.insecure_skip_verify = true;
    for (int i = 0; i < 5; i++) {
        ASSERT_EQ_INT(mae__pool_get(gt, &diff[i], &pb), 0);
        if (pb == pa) th_fail(__FILE__, __LINE__, "setting %d did not make a new pool", i);
        mae__gpool *again;
        ASSERT_EQ_INT(mae__pool_get(gt, &diff[i], &again), 0);
        ASSERT_TRUE(again == pb);
    }
    mae_grpc_stats st;
    mae__grpc_transport_stats(t, &st);
    ASSERT_EQ_INT(st.pools, 6);
    int closed = 0;
    t->vt->close(t, closed_cb, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(closed, 1);
    ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}
