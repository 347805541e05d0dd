/* gRPC server side (see grpc_server.h). Ownership: the server owns its connections, a
 * connection owns its nghttp2 session and its calls (a list, so a dying connection can abort
 * them: nghttp2_session_del does not report stream closes). A connection's memory is freed in
 * its uv close callback. Replies may come from inside nghttp2 callbacks (on_call runs in
 * on_frame_recv): then the bytes are flushed by the mem_recv caller, never re-entrantly. So may
 * closes (a handler calling mae__grpc_server_close): the session is then deleted by the
 * mem_recv/mem_send caller once nghttp2 has returned, and the callbacks stop it meanwhile. */
#include "grpc_h2/grpc_server.h"

#include <nghttp2/nghttp2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc_h2/grpc_codec.h"
#include "maestro/maestro.h"
#include "transports/listener.h"
#include "transports/errmap.h"

#define MAX_CALL_HEADERS 32
#define MAX_HEADER_BYTES (16 * 1024)
/* Bytes queued to the socket before we stop reading from the peer. */
#define MAX_PENDING_WRITE (16u << 20)

typedef struct srv_conn srv_conn;

struct mae_grpc_scall {
    srv_conn *conn;              /* NULL once aborted */
    mae_grpc_scall *next, *prev;
    int32_t stream_id;
    char path[256];
    mae_header_kv headers[MAX_CALL_HEADERS];
    size_t n_headers;
    char *hbuf;                  /* "name\0value\0" pairs; pointers fixed up at dispatch */
    size_t hbuf_len;
    bool bad_request;            /* too many/large headers, wrong content-type */
    mae_grpc_deframer d;
    uint8_t *msg;
    size_t msg_len;
    int n_msgs;
    int error;                   /* deframer error */
    bool dispatched;
    /* reply */
    uint8_t *out;
    size_t out_len, out_off;
    void *data;
    /* A stream (handler's is_stream): out is a queue of framed answers (out_cap bytes). */
    bool streaming;
    bool peer_done;              /* the client half-closed */
    bool deferred;               /* nghttp2 waits for answers: resume on the next one */
    int end_code;                /* ends the stream with this code once out is sent */
    size_t out_cap;
};

struct srv_conn {
    uv_tcp_t tcp;
    mae_grpc_server *srv;
    srv_conn *next, *prev;
    nghttp2_session *ng;
    mae_grpc_scall *calls;
    bool closing, in_recv;
    size_t pending_write;
    bool reading;
    bool detached;               /* no socket: fed by tests and fuzzers, output dropped */
};

struct mae_grpc_server {
    uv_loop_t *loop;
    mae_listener listener;
    mae_grpc_server_handler h;
    mae_grpc_stream_handler sh;  /* optional streams (is_stream NULL: none) */
    mae_grpc_server_opts o;
    srv_conn *conns;
    unsigned long accepted;
};

static void conn_close(srv_conn *c);
static void conn_flush(srv_conn *c);

/* Deletes the session of a closed connection once no nghttp2 call is running on it. */
static void session_release(srv_conn *c) {
    if (!c->closing || c->in_recv || !c->ng) return;
    nghttp2_session_del(c->ng);
    c->ng = NULL;
}

static void call_free(mae_grpc_scall *call) {
    mae__grpc_deframer_free(&call->d);
    free(call->hbuf);
    free(call->msg);
    free(call->out);
    free(call);
}

/* Detaches a call from its connection (and its stream). */
static void call_unlink(mae_grpc_scall *call) {
    srv_conn *c = call->conn;
    if (!c) return;
    if (call->prev) call->prev->next = call->next; else c->calls = call->next;
    if (call->next) call->next->prev = call->prev;
    if (c->ng) nghttp2_session_set_stream_user_data(c->ng, call->stream_id, NULL);
    call->conn = NULL;
}

/* ---- nghttp2 callbacks ------------------------------------------------------------------- */

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *f, void *ud) {
    srv_conn *c = ud;
    if (c->closing) return NGHTTP2_ERR_CALLBACK_FAILURE;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    mae_grpc_scall *call = calloc(1, sizeof *call);
    if (!call) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    call->conn = c;
    call->stream_id = f->hd.stream_id;
    size_t max = c->srv->o.max_message;
    mae__grpc_deframer_init(&call->d, max);
    call->next = c->calls;
    if (c->calls) c->calls->prev = call;
    c->calls = call;
    nghttp2_session_set_stream_user_data(ng, f->hd.stream_id, call);
    return 0;
}

static int hb_append(mae_grpc_scall *call, const uint8_t *p, size_t n) {
    if (call->hbuf_len + n + 1 > MAX_HEADER_BYTES) return -1;
    char *b = realloc(call->hbuf, call->hbuf_len + n + 1);
    if (!b) return -1;
    memcpy(b + call->hbuf_len, p, n);
    b[call->hbuf_len + n] = 0;
    call->hbuf = b;
    call->hbuf_len += n + 1;
    return 0;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
                     const uint8_t *value, size_t vlen, uint8_t flags, void *ud) {
    mae_grpc_scall *call = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
    if (!call || f->hd.type != NGHTTP2_HEADERS) return 0;
    if (nlen == 5 && memcmp(name, ":path", 5) == 0) {
        if (vlen >= sizeof call->path) call->bad_request = true;
        else {
            memcpy(call->path, value, vlen);
            call->path[vlen] = 0;
        }
        return 0;
    }
    if (nlen == 12 && memcmp(name, "content-type", 12) == 0 &&
        (vlen < 16 || memcmp(value, "application/grpc", 16) != 0))
        call->bad_request = true;
    if (name[0] == ':') return 0;
    if (call->n_headers == MAX_CALL_HEADERS) return 0;   /* extra metadata is ignored */
    size_t off = call->hbuf_len;
    if (hb_append(call, name, nlen) || hb_append(call, value, vlen)) {
        call->bad_request = true;
        return 0;
    }
    call->headers[call->n_headers].name = (const char *)(uintptr_t)off;
    call->headers[call->n_headers].value = (const char *)(uintptr_t)(off + nlen + 1);
    call->n_headers++;
    return 0;
}

static void stream_answer(mae_grpc_scall *call, uint8_t *msg, size_t len);
static void stream_resume(mae_grpc_scall *call);

static int on_msg(void *ud, bool compressed, uint8_t *msg, size_t len) {
    mae_grpc_scall *call = ud;
    if (call->streaming) {  /* compressed: we never advertise grpc-accept-encoding */
        if (!compressed) stream_answer(call, msg, len);
        free(msg);
        return compressed ? MAE_EPROTO : 0;
    }
    call->n_msgs++;
    if (compressed) call->error = MAE_EPROTO;   /* we never advertise grpc-accept-encoding */
    if (call->n_msgs > 1 || compressed) {
        free(msg);
        return 0;
    }
    call->msg = msg;
    call->msg_len = len;
    return 0;
}

static int on_data(nghttp2_session *ng, uint8_t flags, int32_t sid, const uint8_t *p, size_t len,
                   void *ud) {
    mae_grpc_scall *call = nghttp2_session_get_stream_user_data(ng, sid);
    if (!call || call->error) return 0;
    int rc = mae__grpc_deframer_feed(&call->d, p, len, on_msg, call);
    if (rc < 0) call->error = rc;
    if (rc < 0 && call->streaming && !call->end_code) {
        call->end_code = rc == MAE_ELIMIT ? MAE_GRPC_RESOURCE_EXHAUSTED : MAE_GRPC_INTERNAL;
        stream_resume(call);
    }
    return 0;
}

static void stream_begin(srv_conn *c, mae_grpc_scall *call);

static void dispatch(srv_conn *c, mae_grpc_scall *call) {
    call->dispatched = true;
    if (call->bad_request) {
        mae__grpc_server_fail(call, MAE_GRPC_INTERNAL, "malformed gRPC request", NULL, 0);
        return;
    }
    if (call->error == MAE_ELIMIT) {
        char m[128];
        snprintf(m, sizeof m, "request message of %llu bytes exceeds the limit of %zu",
                 (unsigned long long)call->d.announced, c->srv->o.max_message);
        mae__grpc_server_fail(call, MAE_GRPC_RESOURCE_EXHAUSTED, m, NULL, 0);
        return;
    }
    if (call->error || call->n_msgs != 1 || mae__grpc_deframer_partial(&call->d)) {
        mae__grpc_server_fail(call, MAE_GRPC_INTERNAL,
                             call->n_msgs > 1 ? "unary call with more than one request message"
                                              : "unary call without a complete request message",
                             NULL, 0);
        return;
    }
    mae_header_kv hdrs[MAX_CALL_HEADERS];
    for (size_t i = 0; i < call->n_headers; i++) {
        hdrs[i].name = call->hbuf + (uintptr_t)call->headers[i].name;
        hdrs[i].value = call->hbuf + (uintptr_t)call->headers[i].value;
    }
    c->srv->h.on_call(call, call->path, call->msg, call->msg_len, hdrs, call->n_headers, c->srv->h.ud);
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *f, void *ud) {
    srv_conn *c = ud;
    if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST &&
        c->srv->sh.is_stream) {
        mae_grpc_scall *call = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
        if (call && !call->bad_request && c->srv->sh.is_stream(call->path, c->srv->sh.ud))
            stream_begin(c, call);
    }
    if ((f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS) &&
        (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        mae_grpc_scall *call = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
        if (call && call->streaming) {
            call->peer_done = true;
            stream_resume(call);
        }
    }
    if ((f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS) && (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        mae_grpc_scall *call = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
        if (call && !call->dispatched) dispatch(c, call);
    }
    /* The handler closed the server: stop nghttp2 before it reads further frames. */
    return c->closing ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t sid, uint32_t err, void *ud) {
    srv_conn *c = ud;
    mae_grpc_scall *call = nghttp2_session_get_stream_user_data(ng, sid);
    if (!call) return 0;
    /* Closed before the handler answered (client cancel, RST): tell it, then free. An answered
     * call (call->out set) only had its reply buffer left to free. */
    call_unlink(call);
    if (call->dispatched && !call->out && !call->streaming && c->srv->h.on_abort)
        c->srv->h.on_abort(call, c->srv->h.ud);
    call_free(call);
    return c->closing ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
}

/* ---- replies ------------------------------------------------------------------------------ */

static ssize_t read_reply(nghttp2_session *ng, int32_t sid, uint8_t *buf, size_t len, uint32_t *flags,
                          nghttp2_data_source *src, void *ud) {
    srv_conn *c = ud;
    /* A close inside this mem_send freed every call, src->ptr included. */
    if (c->closing) return NGHTTP2_ERR_CALLBACK_FAILURE;
    mae_grpc_scall *call = src->ptr;
    size_t left = call->out_len - call->out_off;
    size_t n = left < len ? left : len;
    if (n) memcpy(buf, call->out + call->out_off, n);
    call->out_off += n;
    if (call->out_off == call->out_len) {
        *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
        const nghttp2_nv tr[] = {{(uint8_t *)"grpc-status", (uint8_t *)"0", 11, 1, NGHTTP2_NV_FLAG_NONE}};
        if (nghttp2_submit_trailer(ng, sid, tr, 1) != 0) return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return (ssize_t)n;
}

#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE}

/* ---- streams ------------------------------------------------------------------------------ */

static ssize_t read_stream(nghttp2_session *ng, int32_t sid, uint8_t *buf, size_t len,
                           uint32_t *flags, nghttp2_data_source *src, void *ud) {
    srv_conn *c = ud;
    if (c->closing) return NGHTTP2_ERR_CALLBACK_FAILURE;
    mae_grpc_scall *call = src->ptr;
    size_t left = call->out_len - call->out_off;
    if (left == 0 && !call->peer_done && !call->end_code) {
        call->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    size_t n = left < len ? left : len;
    if (n) memcpy(buf, call->out + call->out_off, n);
    call->out_off += n;
    if (call->out_off == call->out_len) {
        call->out_off = call->out_len = 0;
        if (call->peer_done || call->end_code) {
            char st[16];
            snprintf(st, sizeof st, "%d", call->end_code);
            *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
            const nghttp2_nv tr[] = {NV("grpc-status", st)};
            if (nghttp2_submit_trailer(ng, sid, tr, 1) != 0) return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
    }
    return (ssize_t)n;
}

static void stream_resume(mae_grpc_scall *call) {
    srv_conn *c = call->conn;
    if (!c || !c->ng || !call->deferred) return;
    call->deferred = false;
    nghttp2_session_resume_data(c->ng, call->stream_id);
    if (!c->in_recv) conn_flush(c);
}

/* The response headers go out at once; answers follow as request messages come. */
static void stream_begin(srv_conn *c, mae_grpc_scall *call) {
    call->streaming = true;
    call->dispatched = true;
    const nghttp2_nv hdrs[] = {NV(":status", "200"), NV("content-type", "application/grpc")};
    nghttp2_data_provider dp = {.source.ptr = call, .read_callback = read_stream};
    if (nghttp2_submit_response(c->ng, call->stream_id, hdrs, 2, &dp) != 0)
        nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, call->stream_id, NGHTTP2_INTERNAL_ERROR);
}

static void stream_answer(mae_grpc_scall *call, uint8_t *msg, size_t len) {
    srv_conn *c = call->conn;
    if (!c || call->end_code) return;
    uint8_t *reply = NULL;
    size_t rlen = 0;
    int code = c->srv->sh.on_stream_msg(call->path, msg, len, &reply, &rlen, c->srv->sh.ud);
    /* A client that never reads its answers must not grow the queue without end. */
    if (code == 0 && reply && call->out_len + rlen + 5 > MAX_PENDING_WRITE)
        code = MAE_GRPC_RESOURCE_EXHAUSTED;
    if (code == 0 && reply) {
        size_t need = call->out_len + rlen + 5;
        if (need > call->out_cap) {
            size_t cap = call->out_cap ? call->out_cap * 2 : 4096;
            while (cap < need) cap *= 2;
            uint8_t *nb = realloc(call->out, cap);
            if (!nb) code = MAE_GRPC_RESOURCE_EXHAUSTED;
            else {
                call->out = nb;
                call->out_cap = cap;
            }
        }
        if (code == 0) {
            mae__grpc_frame_prefix(call->out + call->out_len, false, (uint32_t)rlen);
            if (rlen) memcpy(call->out + call->out_len + 5, reply, rlen);
            call->out_len += rlen + 5;
        }
    }
    free(reply);
    if (code > 0) call->end_code = code;
    stream_resume(call);
}

/* Sends out (framed messages, taken) then status OK. */
static int reply_out(mae_grpc_scall *call, uint8_t *out, size_t len) {
    srv_conn *c = call->conn;
    call->out = out;
    call->out_len = len;
    const nghttp2_nv hdrs[] = {NV(":status", "200"), NV("content-type", "application/grpc")};
    nghttp2_data_provider dp = {.source.ptr = call, .read_callback = read_reply};
    /* The call stays listed and the stream's user data until the stream closes: it owns the
     * buffer nghttp2 reads from. call->out marks it answered. */
    int rc = nghttp2_submit_response(c->ng, call->stream_id, hdrs, 2, &dp);
    if (rc != 0) {
        call_unlink(call);
        call_free(call);
        return MAE_EPROTO;
    }
    if (!c->in_recv) conn_flush(c);
    return 0;
}

int mae__grpc_server_reply(mae_grpc_scall *call, const uint8_t *msg, size_t len) {
    if (!call->conn) {
        call_free(call);
        return MAE_ECANCELED;
    }
    if (len > UINT32_MAX) return mae__grpc_server_fail(call, MAE_GRPC_RESOURCE_EXHAUSTED, "reply too large", NULL, 0);
    uint8_t *out = malloc(len + 5);
    if (!out) return mae__grpc_server_fail(call, MAE_GRPC_RESOURCE_EXHAUSTED, "out of memory", NULL, 0);
    mae__grpc_frame_prefix(out, false, (uint32_t)len);
    if (len) memcpy(out + 5, msg, len);
    return reply_out(call, out, len + 5);
}

int mae__grpc_server_reply_framed(mae_grpc_scall *call, const uint8_t *frames, size_t len) {
    if (!call->conn) {
        call_free(call);
        return MAE_ECANCELED;
    }
    uint8_t *out = malloc(len ? len : 1);  /* never NULL: call->out marks the call answered */
    if (!out) return mae__grpc_server_fail(call, MAE_GRPC_RESOURCE_EXHAUSTED, "out of memory", NULL, 0);
    if (len) memcpy(out, frames, len);
    return reply_out(call, out, len);
}

int mae__grpc_server_fail(mae_grpc_scall *call, int code, const char *message,
                         const mae_header_kv *extra, size_t n_extra) {
    srv_conn *c = call->conn;
    if (!c) {
        call_free(call);
        return MAE_ECANCELED;
    }
    char st[16];
    snprintf(st, sizeof st, "%d", code);
    char *enc = mae__grpc_message_encode(message ? message : "", message ? strlen(message) : 0);
    nghttp2_nv nv[8] = {NV(":status", "200"), NV("content-type", "application/grpc"), NV("grpc-status", st)};
    size_t n = 3;
    if (enc && *enc) nv[n++] = (nghttp2_nv)NV("grpc-message", enc);
    for (size_t i = 0; i < n_extra && n < 8; i++)
        nv[n++] = (nghttp2_nv){(uint8_t *)extra[i].name, (uint8_t *)extra[i].value, strlen(extra[i].name),
                               strlen(extra[i].value), NGHTTP2_NV_FLAG_NONE};
    int32_t sid = call->stream_id;
    call_unlink(call);
    call_free(call);
    int rc = nghttp2_submit_response(c->ng, sid, nv, n, NULL);   /* Trailers-Only */
    free(enc);
    if (!c->in_recv) conn_flush(c);
    return rc == 0 ? 0 : MAE_EPROTO;
}

void mae__grpc_scall_set_data(mae_grpc_scall *call, void *data) { call->data = data; }
void *mae__grpc_scall_data(const mae_grpc_scall *call) { return call->data; }

/* ---- connection I/O ----------------------------------------------------------------------- */

typedef struct wreq {
    uv_write_t req;
    srv_conn *c;
    size_t len;
    uint8_t data[];
} wreq;

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
    b->base = malloc(65536);
    b->len = b->base ? 65536 : 0;
}

static void read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *b);

static void write_cb(uv_write_t *req, int status) {
    wreq *w = (wreq *)req;
    srv_conn *c = w->c;
    c->pending_write -= w->len;
    free(w);
    if (c->closing) return;
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (!c->reading && c->pending_write < MAX_PENDING_WRITE / 2) {
        c->reading = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) == 0;
    }
    conn_flush(c);
}

/* Drains nghttp2's output into one uv_write. */
static void conn_flush(srv_conn *c) {
    if (c->closing) return;
    size_t cap = 0, len = 0;
    wreq *w = NULL;
    for (;;) {
        const uint8_t *data;
        /* Callbacks run inside mem_send too (on_abort): replies they make must not flush. */
        c->in_recv = true;
        ssize_t n = nghttp2_session_mem_send(c->ng, &data);
        c->in_recv = false;
        if (c->closing) {
            session_release(c);
            free(w);
            return;
        }
        if (n < 0) {
            free(w);
            conn_close(c);
            return;
        }
        if (n == 0) break;
        if (len + (size_t)n > cap) {
            cap = (len + (size_t)n) * 2 + 4096;
            wreq *nw = realloc(w, sizeof *w + cap);
            if (!nw) {
                free(w);
                conn_close(c);
                return;
            }
            w = nw;
        }
        memcpy(w->data + len, data, (size_t)n);
        len += (size_t)n;
    }
    if (len == 0 || c->detached) {
        free(w);
        if (!nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng)) conn_close(c);
        return;
    }
    w->c = c;
    w->len = len;
    c->pending_write += len;
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, write_cb) < 0) {
        c->pending_write -= len;
        free(w);
        conn_close(c);
        return;
    }
    /* A peer that does not read its replies is not allowed to grow our memory without end. */
    if (c->pending_write > MAX_PENDING_WRITE && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

static void read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
    srv_conn *c = st->data;
    if (n < 0) {
        free(b->base);
        conn_close(c);
        return;
    }
    c->in_recv = true;
    ssize_t r = nghttp2_session_mem_recv(c->ng, (const uint8_t *)b->base, (size_t)n);
    c->in_recv = false;
    free(b->base);
    session_release(c);
    if (r < 0) {
        conn_close(c);
        return;
    }
    conn_flush(c);
}

static void conn_closed_cb(uv_handle_t *h) {
    srv_conn *c = h->data;
    mae_grpc_server *s = c->srv;
    free(c);
    mae__listener_conn_closed(&s->listener);
}

static void conn_close(srv_conn *c) {
    if (c->closing) return;
    c->closing = true;
    mae_grpc_server *s = c->srv;
    if (c->prev) c->prev->next = c->next; else s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    /* Calls still waiting for their handler are aborted; answered ones are just freed. */
    while (c->calls) {
        mae_grpc_scall *call = c->calls;
        bool waiting = call->dispatched && !call->out && !call->streaming;
        call_unlink(call);
        if (waiting && s->h.on_abort) s->h.on_abort(call, s->h.ud);
        call_free(call);
    }
    /* Inside nghttp2 (a handler closed us): the mem_recv/mem_send caller deletes it. */
    session_release(c);
    if (!c->detached) uv_close((uv_handle_t *)&c->tcp, conn_closed_cb);
    /* else: freed by mae__grpc_server_feed */
}

/* ---- listener ----------------------------------------------------------------------------- */

static int session_new(srv_conn *c) {
    nghttp2_session_callbacks *cb;
    int rc = nghttp2_session_callbacks_new(&cb);
    if (rc != 0) return mae__err_from_nghttp2(rc);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    nghttp2_option *opt;
    nghttp2_option_new(&opt);
    nghttp2_option_set_no_closed_streams(opt, 1);
    rc = nghttp2_session_server_new2(&c->ng, cb, c, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    if (rc != 0) return mae__err_from_nghttp2(rc);
    /* Windows sized for multi-megabyte messages; streams as advertised in the options. */
    const nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, c->srv->o.max_concurrent_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 8u << 20},
    };
    rc = nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, 2);
    if (rc == 0) rc = nghttp2_session_set_local_window_size(c->ng, NGHTTP2_FLAG_NONE, 0, 32 << 20);
    return mae__err_from_nghttp2(rc);
    return 0;
}

static void on_connection(uv_stream_t *l, int status) {
    mae_grpc_server *s = l->data;
    if (status < 0 || s->listener.closing) return;
    srv_conn *c = calloc(1, sizeof *c);
    if (!c) return;
    if (uv_tcp_init(s->loop, &c->tcp) < 0) {
        free(c);
        return;
    }
    c->tcp.data = c;
    c->srv = s;
    mae__listener_conn_opened(&s->listener);
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    if (uv_accept(l, (uv_stream_t *)&c->tcp) < 0 || session_new(c) != 0) {
        conn_close(c);
        return;
    }
    s->accepted++;
    uv_tcp_nodelay(&c->tcp, 1);
    c->reading = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) == 0;
    if (!c->reading) conn_close(c);
    else conn_flush(c);   /* our SETTINGS */
}

int mae__grpc_server_feed(mae_grpc_server *s, const uint8_t *p, size_t len) {
    srv_conn *c = calloc(1, sizeof *c);
    if (!c) return MAE_ENOMEM;
    c->srv = s;
    c->detached = true;
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    int rc = session_new(c);
    if (rc == 0) {
        conn_flush(c);
        if (!c->closing) {
            c->in_recv = true;
            ssize_t r = nghttp2_session_mem_recv(c->ng, p, len);
            c->in_recv = false;
            session_release(c);
            if (r < 0 && !c->closing) rc = MAE_EPROTO;
            else conn_flush(c);
        }
    }
    conn_close(c);
    free(c);
    return rc;
}

int mae__grpc_server_new(uv_loop_t *loop, const char *host, int port, const mae_grpc_server_opts *o,
                        const mae_grpc_server_handler *h, mae_grpc_server **out) {
    mae_grpc_server *s = calloc(1, sizeof *s);
    if (!s) return MAE_ENOMEM;
    s->loop = loop;
    s->h = *h;
    if (o) s->o = *o;
    if (!s->o.max_message) s->o.max_message = MAE_GRPC_DEFAULT_MAX_MSG;
    if (!s->o.max_concurrent_streams) s->o.max_concurrent_streams = 1000;
    int rc = mae__listener_start(&s->listener, loop, host, port, s, free, on_connection);
    if (rc < 0) return rc;   /* s was handed to free() by the listener */
    *out = s;
    return 0;
}

void mae__grpc_server_set_streams(mae_grpc_server *s, const mae_grpc_stream_handler *h) {
    s->sh = *h;
}

int mae__grpc_server_port(const mae_grpc_server *s) { return mae__listener_port(&s->listener); }

unsigned long mae__grpc_server_connections(const mae_grpc_server *s) { return s->accepted; }

void mae__grpc_server_close(mae_grpc_server *s, void (*done)(void *ud), void *ud) {
    if (s->listener.closing) return;
    mae__listener_close(&s->listener, done, ud);
    while (s->conns) conn_close(s->conns);
}
