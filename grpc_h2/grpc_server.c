/* The gRPC server side (see grpc_server.h): uv_tcp accept, one nghttp2 server session per
 * connection driven by mem_recv/mem_send, unary request collection, and the answers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "grpc_h2/grpc_client_int.h"
#include "grpc_h2/grpc_server.h"
#include "maestro.h"

#define MAX_REQ_HEADERS 64
#define MAX_REQ_HEADER_BYTES (32 * 1024)

typedef struct sconn sconn;

struct mae_grpc_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    int port;
    size_t max_msg;
    mae_grpc_handler handler;
    void *ud;
    mae__gq conns;
    int n_handles;
    bool closing;
    void (*done)(void *);
    void *done_ud;
};

struct sconn {
    mae_grpc_server *srv;
    mae__gq link;
    uv_tcp_t tcp;
    bool has_tcp;                /* false for connections fed by tests and fuzzers */
    nghttp2_session *ng;
    mae__gq calls;               /* calls whose stream is open */
    int in_recv;
    bool closing;
};

struct mae_grpc_srv_call {
    sconn *conn;                 /* NULL once the stream or the server is gone */
    mae__gq link;                /* in conn->calls while conn is set */
    int32_t stream_id;
    char path[256];
    bool grpc_ct;                /* content-type application/grpc[+...] */
    char *names[MAX_REQ_HEADERS], *values[MAX_REQ_HEADERS];
    int n_headers;
    size_t header_bytes;
    mae_grpc_deframer df;
    uint8_t *msg;
    size_t msg_len;
    bool bad;                    /* a framing error already answered */
    bool dispatched;             /* handed to the handler: it owns the answer */
    uint8_t *resp;               /* prefixed reply message */
    size_t resp_len, resp_off;
};

static void call_free(mae_grpc_srv_call *c) {
    for (int i = 0; i < c->n_headers; i++) {
        free(c->names[i]);
        free(c->values[i]);
    }
    mae_grpc_deframer_free(&c->df);
    free(c->msg);
    free(c->resp);
    free(c);
}

/* ---- Output ---- */

static void on_write(uv_write_t *req, int status) { free(req); }

static void conn_close(sconn *c);

static void conn_flush(sconn *c) {
    if (c->closing || c->in_recv) return;
    for (;;) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(c->ng, &data);
        if (n < 0) { conn_close(c); return; }
        if (n == 0) break;
        if (!c->has_tcp) continue;  /* detached: the bytes go nowhere */
        uv_write_t *w = malloc(sizeof *w + (size_t)n);
        if (!w) { conn_close(c); return; }
        memcpy(w + 1, data, (size_t)n);
        uv_buf_t b = uv_buf_init((char *)(w + 1), (unsigned)n);
        if (uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, on_write) < 0) {
            free(w);
            conn_close(c);
            return;
        }
    }
    if (!nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng)) conn_close(c);
}

static ssize_t read_resp(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
                         uint32_t *flags, nghttp2_data_source *src, void *ud) {
    mae_grpc_srv_call *c = nghttp2_session_get_stream_user_data(s, id);
    if (!c) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    size_t left = c->resp_len - c->resp_off;
    if (len > left) len = left;
    memcpy(buf, c->resp + c->resp_off, len);
    c->resp_off += len;
    if (c->resp_off == c->resp_len) {
        /* End of data, not of the stream: the trailers carry the status. */
        *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
        nghttp2_nv tr[] = {{(uint8_t *)"grpc-status", (uint8_t *)"0", 11, 1, 0}};
        if (nghttp2_submit_trailer(s, id, tr, 1) != 0) return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return (ssize_t)len;
}

#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE}

static int answer_status(mae_grpc_srv_call *c, int code, const char *message, int64_t pushback) {
    if (!c->conn) return MAE_ESTATE;
    char codebuf[12], pb[24];
    snprintf(codebuf, sizeof codebuf, "%d", code);
    char *enc = mae_grpc_message_encode(message ? message : "", message ? strlen(message) : 0);
    if (!enc) return MAE_ENOMEM;
    nghttp2_nv nv[5] = {NV(":status", "200"), NV("content-type", "application/grpc"),
                        NV("grpc-status", codebuf), NV("grpc-message", enc)};
    size_t n = 4;
    if (pushback >= 0) {
        snprintf(pb, sizeof pb, "%lld", (long long)pushback);
        nv[n++] = (nghttp2_nv)NV("grpc-retry-pushback-ms", pb);
    }
    int rc = nghttp2_submit_response(c->conn->ng, c->stream_id, nv, n, NULL);
    free(enc);
    conn_flush(c->conn);
    return rc == 0 ? 0 : MAE_ESTATE;
}

/* Stream closed or server gone: the call lives on only if the handler still owes an answer. */
static void detach(mae_grpc_srv_call *c) {
    if (c->conn && c->conn->ng) nghttp2_session_set_stream_user_data(c->conn->ng, c->stream_id, NULL);
    if (c->conn) mae__gq_remove(&c->link);
    c->conn = NULL;
    if (!c->dispatched) call_free(c);
}

int mae_grpc_srv_call_reply(mae_grpc_srv_call *c, const uint8_t *msg, size_t len) {
    int rc = MAE_ESTATE;
    c->dispatched = false;  /* answered: the stream's close frees it from now on */
    if (c->conn && len <= UINT32_MAX) {
        c->resp = malloc(len + 5);
        if (!c->resp) {
            rc = MAE_ENOMEM;
        } else {
            mae_grpc_frame_prefix(c->resp, false, (uint32_t)len);
            if (len) memcpy(c->resp + 5, msg, len);
            c->resp_len = len + 5;
            nghttp2_nv nv[] = {NV(":status", "200"), NV("content-type", "application/grpc")};
            nghttp2_data_provider dp = {.source.ptr = c, .read_callback = read_resp};
            rc = nghttp2_submit_response(c->conn->ng, c->stream_id, nv, 2, &dp) == 0
                     ? 0 : MAE_ESTATE;
            sconn *conn = c->conn;
            if (rc == 0) {
                conn_flush(conn);
                return 0;
            }
        }
    }
    if (!c->conn) call_free(c);
    else nghttp2_submit_rst_stream(c->conn->ng, NGHTTP2_FLAG_NONE, c->stream_id,
                                   NGHTTP2_INTERNAL_ERROR);
    return rc;
}

int mae_grpc_srv_call_fail(mae_grpc_srv_call *c, int code, const char *message,
                           int64_t pushback_ms) {
    c->dispatched = false;
    if (!c->conn) {
        call_free(c);
        return MAE_ESTATE;
    }
    return answer_status(c, code, message, pushback_ms);
}

const char *mae_grpc_srv_call_header(const mae_grpc_srv_call *c, const char *name) {
    for (int i = 0; i < c->n_headers; i++)
        if (strcmp(c->names[i], name) == 0) return c->values[i];
    return NULL;
}

/* ---- nghttp2 callbacks ---- */

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
    sconn *conn = ud;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    mae_grpc_srv_call *c = calloc(1, sizeof *c);
    if (!c) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    c->conn = conn;
    mae__gq_push(&conn->calls, &c->link);
    c->stream_id = f->hd.stream_id;
    mae_grpc_deframer_init(&c->df, conn->srv->max_msg);
    nghttp2_session_set_stream_user_data(s, f->hd.stream_id, c);
    return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
                     const uint8_t *value, size_t vlen, uint8_t flags, void *ud) {
    mae_grpc_srv_call *c = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (!c || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    c->header_bytes += nlen + vlen + 32;
    if (c->header_bytes > MAX_REQ_HEADER_BYTES) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    if (nlen == 5 && memcmp(name, ":path", 5) == 0) {
        if (vlen >= sizeof c->path) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        memcpy(c->path, value, vlen);
        c->path[vlen] = 0;
        return 0;
    }
    if (nlen == 12 && memcmp(name, "content-type", 12) == 0)
        c->grpc_ct = vlen >= 16 && memcmp(value, "application/grpc", 16) == 0 &&
                     (vlen == 16 || value[16] == '+' || value[16] == ';');
    if (name[0] == ':' || c->n_headers == MAX_REQ_HEADERS) return 0;
    c->names[c->n_headers] = strndup((const char *)name, nlen);
    c->values[c->n_headers] = strndup((const char *)value, vlen);
    if (!c->names[c->n_headers] || !c->values[c->n_headers]) {
        free(c->names[c->n_headers]);
        free(c->values[c->n_headers]);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    c->n_headers++;
    return 0;
}

static int on_req_msg(void *ud, bool compressed, uint8_t *msg, size_t len) {
    mae_grpc_srv_call *c = ud;
    if (c->df.n_msgs > 1 || compressed) {
        free(msg);
        return MAE_EPROTO;
    }
    c->msg = msg;
    c->msg_len = len;
    return 0;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                   void *ud) {
    mae_grpc_srv_call *c = nghttp2_session_get_stream_user_data(s, id);
    if (!c || c->bad) return 0;
    int rc = mae_grpc_deframer_feed(&c->df, data, len, on_req_msg, c);
    if (rc < 0) {
        c->bad = true;
        answer_status(c, rc == MAE_ELIMIT ? 8 /* RESOURCE_EXHAUSTED */ : 13 /* INTERNAL */,
                      rc == MAE_ELIMIT ? "request message too large" : "bad request framing", -1);
    }
    return 0;
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
    sconn *conn = ud;
    if ((f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) ||
        !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    mae_grpc_srv_call *c = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (!c || c->bad || c->dispatched) return 0;
    if (!c->grpc_ct) {
        nghttp2_nv nv[] = {NV(":status", "415"), NV("content-type", "text/plain")};
        nghttp2_submit_response(s, c->stream_id, nv, 2, NULL);
        c->bad = true;
        return 0;
    }
    if (c->df.n_msgs != 1 || mae_grpc_deframer_partial(&c->df)) {
        c->bad = true;
        answer_status(c, 13, "a unary request needs exactly one message", -1);
        return 0;
    }
    c->dispatched = true;
    uint8_t *msg = c->msg;
    size_t len = c->msg_len;
    c->msg = NULL;
    conn->srv->handler(c, c->path, msg, len, conn->srv->ud);
    free(msg);
    return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t err, void *ud) {
    mae_grpc_srv_call *c = nghttp2_session_get_stream_user_data(s, id);
    if (c) detach(c);
    return 0;
}

/* ---- Connections ---- */

static void on_conn_closed(uv_handle_t *h) {
    sconn *c = h->data;
    mae_grpc_server *s = c->srv;
    free(c);
    if (--s->n_handles == 0 && s->closing) {
        void (*done)(void *) = s->done;
        void *ud = s->done_ud;
        free(s);
        if (done) done(ud);
    }
}

static void conn_close(sconn *c) {
    if (c->closing) return;
    c->closing = true;
    if (c->in_recv) return;  /* finished after mem_recv returns */
    mae__gq_remove(&c->link);
    /* nghttp2_session_del runs no stream-close callbacks: orphan the calls ourselves. */
    while (!mae__gq_empty(&c->calls))
        detach(MAE__GQ_ITEM(c->calls.next, mae_grpc_srv_call, link));
    nghttp2_session *ng = c->ng;
    c->ng = NULL;
    if (ng) nghttp2_session_del(ng);
    if (c->has_tcp) uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
    /* else: a detached connection is freed by mae__grpc_server_feed */
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
    static char slab[65536];
    buf->base = slab;
    buf->len = sizeof slab;
}

/* Feeds received bytes; returns false when the connection was closed. */
static bool conn_recv(sconn *c, const uint8_t *p, size_t len) {
    c->in_recv++;
    ssize_t rv = nghttp2_session_mem_recv(c->ng, p, len);
    c->in_recv--;
    if (c->closing) {
        c->closing = false;
        conn_close(c);
        return false;
    }
    if (rv < 0) {
        conn_close(c);
        return false;
    }
    conn_flush(c);
    return !c->closing;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
    sconn *c = st->data;
    if (n == 0) return;
    if (n < 0) {
        conn_close(c);
        return;
    }
    conn_recv(c, (const uint8_t *)buf->base, (size_t)n);
}

static int session_new(sconn *c) {
    nghttp2_session_callbacks *cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0) return MAE_ENOMEM;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_option *opt;
    if (nghttp2_option_new(&opt) != 0) {
        nghttp2_session_callbacks_del(cbs);
        return MAE_ENOMEM;
    }
    nghttp2_option_set_no_closed_streams(opt, 1);
    int rc = nghttp2_session_server_new2(&c->ng, cbs, c, opt);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_option_del(opt);
    if (rc != 0) return MAE_ENOMEM;
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1000},
                                   {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, MAE__GRPC_STREAM_WINDOW}};
    nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, 2);
    nghttp2_session_set_local_window_size(c->ng, NGHTTP2_FLAG_NONE, 0, MAE__GRPC_CONN_WINDOW);
    return 0;
}

int mae__grpc_server_feed(mae_grpc_server *s, const uint8_t *p, size_t len) {
    sconn *c = calloc(1, sizeof *c);
    if (!c) return MAE_ENOMEM;
    c->srv = s;
    mae__gq_init(&c->calls);
    mae__gq_push(&s->conns, &c->link);
    int rc = session_new(c) == 0 ? 0 : MAE_ENOMEM;
    if (rc == 0) conn_flush(c);
    if (rc == 0 && !c->closing && !conn_recv(c, p, len)) rc = MAE_EPROTO;
    if (!c->closing) conn_close(c);
    free(c);
    return rc;
}

static void on_connection(uv_stream_t *l, int status) {
    mae_grpc_server *s = l->data;
    if (status < 0 || s->closing) return;
    sconn *c = calloc(1, sizeof *c);
    if (!c) return;
    c->srv = s;
    mae__gq_init(&c->calls);
    uv_tcp_init(s->loop, &c->tcp);
    c->has_tcp = true;
    c->tcp.data = c;
    s->n_handles++;
    mae__gq_push(&s->conns, &c->link);
    if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0 || session_new(c) != 0 ||
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    conn_flush(c);
}

static void on_listener_closed(uv_handle_t *h) {
    mae_grpc_server *s = h->data;
    if (--s->n_handles == 0 && s->closing) {
        void (*done)(void *) = s->done;
        void *ud = s->done_ud;
        free(s);
        if (done) done(ud);
    }
}

int mae_grpc_server_new(uv_loop_t *loop, const char *host, int port, size_t max_msg,
                        mae_grpc_handler handler, void *ud, mae_grpc_server **out) {
    struct sockaddr_storage ss;
    if (!handler || (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
                     uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0))
        return MAE_EINVAL;
    mae_grpc_server *s = calloc(1, sizeof *s);
    if (!s) return MAE_ENOMEM;
    s->loop = loop;
    s->handler = handler;
    s->ud = ud;
    s->max_msg = max_msg ? max_msg : MAE_GRPC_DEFAULT_MAX_MSG;
    mae__gq_init(&s->conns);
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    s->n_handles = 1;
    struct sockaddr_storage name;
    int len = sizeof name;
    if (uv_tcp_bind(&s->listener, (struct sockaddr *)&ss, 0) != 0 ||
        uv_listen((uv_stream_t *)&s->listener, 128, on_connection) != 0 ||
        uv_tcp_getsockname(&s->listener, (struct sockaddr *)&name, &len) != 0) {
        s->closing = true;
        uv_close((uv_handle_t *)&s->listener, on_listener_closed);
        return MAE_EIO;
    }
    s->port = ntohs(name.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&name)->sin6_port
                                               : ((struct sockaddr_in *)&name)->sin_port);
    *out = s;
    return 0;
}

int mae_grpc_server_port(const mae_grpc_server *s) { return s->port; }

void mae_grpc_server_close(mae_grpc_server *s, void (*done)(void *ud), void *ud) {
    if (s->closing) return;
    s->closing = true;
    s->done = done;
    s->done_ud = ud;
    for (mae__gq *q = s->conns.next, *next; q != &s->conns; q = next) {
        next = q->next;
        conn_close(MAE__GQ_ITEM(q, sconn, link));  /* one inside mem_recv closes after it */
    }
    uv_close((uv_handle_t *)&s->listener, on_listener_closed);
}
