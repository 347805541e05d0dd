/* One client HTTP/2 connection (h2c, prior knowledge): uv_tcp glue around an nghttp2 client
 * session driven by nghttp2_session_mem_recv/mem_send (nghttp2 1.52 has no mem_recv2/mem_send2),
 * and the per-stream handling of gRPC responses. Decisions about calls (results, queueing,
 * reconnecting) belong to grpc_transport.c; this file only reports what the peer did. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc_h2/grpc_client_int.h"
#include "maestro.h"

/* ---- Writing ---- */

typedef struct wreq {
    uv_write_t req;
    mae__gconn *conn;
    size_t len;
    uint8_t data[];
} wreq;

static void on_write(uv_write_t *req, int status) {
    wreq *w = (wreq *)req;
    mae__gconn *c = w->conn;
    c->write_backlog -= w->len;
    free(w);
    if (status < 0) return;  /* the read side reports the failure */
    if (c->state != MAE__CONN_CLOSING) mae__conn_flush(c);
}

void mae__conn_flush(mae__gconn *c) {
    /* Never from inside nghttp2 callbacks: mem_recv's caller flushes afterwards. */
    if (!c->ng || c->state == MAE__CONN_CLOSING || c->in_recv) return;
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    while (c->write_backlog + len < MAE__GRPC_WRITE_HIGH) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(c->ng, &data);
        if (n < 0) {
            free(buf);
            mae__conn_fail(c, MAE_CLASS_GRPC, MAE_GRPC_INTERNAL, nghttp2_strerror((int)n));
            return;
        }
        if (n == 0) break;
        if (len + (size_t)n > cap) {
            size_t ncap = cap ? cap * 2 : 16384;
            while (ncap < len + (size_t)n) ncap *= 2;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                mae__conn_fail(c, MAE_CLASS_CONNECT, 0, "out of memory");
                return;
            }
            buf = nb;
            cap = ncap;
        }
        memcpy(buf + len, data, (size_t)n);
        len += (size_t)n;
    }
    if (len && !c->has_tcp) {
        if (c->sink) c->sink(c->sink_ud, buf, len);
    } else if (len) {
        wreq *w = malloc(sizeof *w + len);
        if (!w) {
            free(buf);
            mae__conn_fail(c, MAE_CLASS_CONNECT, 0, "out of memory");
            return;
        }
        memcpy(w->data, buf, len);
        w->conn = c;
        w->len = len;
        uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)len);
        int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
        if (rc < 0) {
            free(w);
            free(buf);
            mae__conn_fail(c, MAE_CLASS_CONNECT, 0, uv_strerror(rc));
            return;
        }
        c->write_backlog += len;
    }
    free(buf);
    if (c->state == MAE__CONN_DRAINING && c->n_streams == 0) mae__conn_close(c);
    else if (!nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng) &&
             c->write_backlog == 0)
        mae__conn_close(c);
}

/* ---- nghttp2 callbacks ---- */

static mae_call *stream_call(mae__gconn *c, int32_t id) {
    return nghttp2_session_get_stream_user_data(c->ng, id);
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
                     const uint8_t *value, size_t vlen, uint8_t flags, void *ud) {
    mae__gconn *c = ud;
    if (f->hd.type != NGHTTP2_HEADERS) return 0;
    mae_call *call = stream_call(c, f->hd.stream_id);
    if (!call) return 0;
    bool trailers = f->headers.cat == NGHTTP2_HCAT_HEADERS ||
                    (f->hd.flags & NGHTTP2_FLAG_END_STREAM);
    if (mae_grpc_resp_field(&call->resp, trailers, name, nlen, value, vlen) < 0) {
        mae__conn_reset_call(c, call);
        mae__call_finish(call, MAE_CLASS_GRPC, MAE_GRPC_INTERNAL, "response headers too large");
    }
    return 0;
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
    mae__gconn *c = ud;
    switch (f->hd.type) {
    case NGHTTP2_HEADERS: {
        mae_call *call = stream_call(c, f->hd.stream_id);
        if (!call) break;
        if (f->headers.cat == NGHTTP2_HCAT_RESPONSE) call->resp.saw_headers = true;
        if (f->hd.flags & NGHTTP2_FLAG_END_STREAM) call->resp.saw_trailers = true;
        break;
    }
    case NGHTTP2_GOAWAY:
        /* No new streams here; nghttp2 closes the ones above last-stream-id with
         * REFUSED_STREAM, which the codec maps to UNAVAILABLE, not an attempt. */
        if (c->state == MAE__CONN_READY) c->state = MAE__CONN_DRAINING;
        mae__pool_dispatch(c->pool);
        break;
    case NGHTTP2_SETTINGS:
        mae__pool_dispatch(c->pool);
        break;
    default: break;
    }
    return 0;
}

static int on_message(void *ud, bool compressed, uint8_t *msg, size_t len) {
    mae_call *call = ud;
    if (call->reply || call->df.n_msgs > 1) {
        free(msg);
        return MAE_EPROTO;  /* a second message in a unary reply */
    }
    if (compressed) {
        free(msg);
        return MAE_EINVAL;
    }
    call->reply = msg;
    call->reply_len = len;
    return 0;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                   void *ud) {
    mae__gconn *c = ud;
    mae_call *call = stream_call(c, id);
    if (!call) return 0;
    int rc = mae_grpc_deframer_feed(&call->df, data, len, on_message, call);
    if (rc == 0) return 0;
    char buf[160];
    int code = MAE_GRPC_INTERNAL;
    const char *msg = buf;
    if (rc == MAE_ELIMIT) {
        code = MAE_GRPC_RESOURCE_EXHAUSTED;
        snprintf(buf, sizeof buf, "reply message of %llu bytes exceeds the limit of %zu bytes",
                 (unsigned long long)call->df.announced, call->df.max);
    } else if (rc == MAE_EINVAL) {
        msg = call->resp.encoding_identity ? "compressed message without grpc-encoding"
                                           : "compressed replies are not supported";
    } else if (rc == MAE_EPROTO) {
        msg = call->df.n_msgs > 1 ? "unary reply held several messages" : "bad message flag byte";
    } else {
        msg = mae_strerror(rc);
    }
    mae__conn_reset_call(c, call);
    mae__call_finish(call, MAE_CLASS_GRPC, code, msg);
    return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t error_code, void *ud) {
    mae__gconn *c = ud;
    if (c->n_streams) c->n_streams--;
    mae_call *call = stream_call(c, id);
    if (call) {
        nghttp2_session_set_stream_user_data(s, id, NULL);
        mae__call_complete_stream(call, error_code);
    }
    mae__pool_dispatch(c->pool);
    return 0;
}

static int on_frame_send(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
    mae__gconn *c = ud;
    if (f->hd.type == NGHTTP2_HEADERS) {
        mae_call *call = stream_call(c, f->hd.stream_id);
        if (call) call->sent = true;
    }
    return 0;
}

static int on_frame_not_send(nghttp2_session *s, const nghttp2_frame *f, int err, void *ud) {
    mae__gconn *c = ud;
    if (f->hd.type != NGHTTP2_HEADERS) return 0;
    /* The request never left: no stream exists, so no close callback will come. */
    for (mae__gq *q = c->calls.next; q != &c->calls; q = q->next) {
        mae_call *call = MAE__GQ_ITEM(q, mae_call, link);
        if (call->stream_id != f->hd.stream_id) continue;
        if (!nghttp2_session_find_stream(s, f->hd.stream_id) && c->n_streams) c->n_streams--;
        mae__call_finish(call, MAE_CLASS_GRPC, MAE_GRPC_UNAVAILABLE,
                         "request not sent: the connection is going away");
        call->res.not_an_attempt = true;
        break;
    }
    return 0;
}

static ssize_t read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *ud) {
    mae__gconn *c = ud;
    mae_call *call = stream_call(c, id);
    if (!call) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        return 0;
    }
    size_t left = call->body_len - call->body_off;
    if (len > left) len = left;
    memcpy(buf, call->body + call->body_off, len);
    call->body_off += len;
    if (call->body_off == call->body_len) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)len;
}

/* ---- Session ---- */

int mae__conn_session_init(mae__gconn *c) {
    nghttp2_session_callbacks *cbs;
    nghttp2_option *opt;
    if (nghttp2_session_callbacks_new(&cbs) != 0) return MAE_ENOMEM;
    if (nghttp2_option_new(&opt) != 0) {
        nghttp2_session_callbacks_del(cbs);
        return MAE_ENOMEM;
    }
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
    nghttp2_session_callbacks_set_on_frame_not_send_callback(cbs, on_frame_not_send);
    /* Closed streams are not kept for priority bookkeeping; the peer's SETTINGS flood and
     * outbound ACK queues are bounded by nghttp2's defaults. */
    nghttp2_option_set_no_closed_streams(opt, 1);
    int rc = nghttp2_session_client_new2(&c->ng, cbs, c, opt);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_option_del(opt);
    if (rc != 0) return MAE_ENOMEM;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, MAE__GRPC_STREAM_WINDOW},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, MAE_GRPC_MAX_HEADER_BYTES},
    };
    if (nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof *iv) != 0 ||
        nghttp2_session_set_local_window_size(c->ng, NGHTTP2_FLAG_NONE, 0,
                                              MAE__GRPC_CONN_WINDOW) != 0) {
        nghttp2_session_del(c->ng);
        c->ng = NULL;
        return MAE_ENOMEM;
    }
    c->state = MAE__CONN_READY;
    return 0;
}

uint32_t mae__conn_capacity(const mae__gconn *c) {
    if (c->state != MAE__CONN_READY || !c->ng) return 0;
    uint32_t max = nghttp2_session_get_remote_settings(c->ng,
                                                       NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
    if (!nghttp2_session_check_request_allowed(c->ng)) return 0;
    return c->n_streams < max ? max - c->n_streams : 0;
}

int mae__conn_submit(mae__gconn *c, mae_call *call) {
    nghttp2_data_provider dp = {.source.ptr = call, .read_callback = read_body};
    int32_t id = nghttp2_submit_request(c->ng, NULL, call->nv, call->n_nv, &dp, call);
    if (id < 0) return id == NGHTTP2_ERR_NOMEM ? MAE_ENOMEM : MAE_ESTATE;
    call->stream_id = id;
    call->conn = c;
    c->n_streams++;
    return 0;
}

void mae__conn_reset_call(mae__gconn *c, mae_call *call) {
    if (!c || !c->ng || call->stream_id <= 0) return;
    nghttp2_session_set_stream_user_data(c->ng, call->stream_id, NULL);
    nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, call->stream_id, NGHTTP2_CANCEL);
    if (!c->in_recv) mae__conn_flush(c);
}

int mae__conn_recv(mae__gconn *c, const uint8_t *p, size_t len) {
    c->in_recv++;
    ssize_t n = nghttp2_session_mem_recv(c->ng, p, len);
    c->in_recv--;
    if (n < 0) {
        char msg[128];
        snprintf(msg, sizeof msg, "HTTP/2 error from the server: %s", nghttp2_strerror((int)n));
        /* nghttp2 queued a GOAWAY; send what we can, then fail the calls. */
        mae__conn_flush(c);
        mae__conn_fail(c, MAE_CLASS_GRPC, MAE_GRPC_INTERNAL, msg);
        return MAE_EPROTO;
    }
    if (c->close_pending) {
        mae__conn_close(c);
        return 0;
    }
    mae__conn_flush(c);
    return 0;
}

/* ---- TCP ---- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
    static char slab[65536];  /* one loop thread; consumed before the next read */
    buf->base = slab;
    buf->len = sizeof slab;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
    mae__gconn *c = s->data;
    if (n == 0) return;
    if (n < 0) {
        mae__conn_fail(c, MAE_CLASS_CONNECT, 0,
                       n == UV_EOF ? "connection closed by the server" : uv_strerror((int)n));
        return;
    }
    mae__conn_recv(c, (const uint8_t *)buf->base, (size_t)n);
}

static void on_connect(uv_connect_t *req, int status) {
    mae__gconn *c = req->data;
    if (c->state == MAE__CONN_CLOSING) return;
    if (status < 0) {
        char msg[128];
        snprintf(msg, sizeof msg, "connect to %s: %s", c->pool->authority, uv_strerror(status));
        mae__pool_conn_failed(c->pool, c, msg);
        mae__conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    int rc = mae__conn_session_init(c);
    if (rc == 0) rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc < 0) {
        mae__pool_conn_failed(c->pool, c, "cannot set up the HTTP/2 session");
        mae__conn_close(c);
        return;
    }
    c->pool->fails = 0;
    mae__conn_flush(c);
    mae__pool_dispatch(c->pool);
}

static void start_connect(mae__gconn *c, const struct sockaddr *sa) {
    c->state = MAE__CONN_CONNECTING;
    c->creq.data = c;
    int rc = uv_tcp_connect(&c->creq, &c->tcp, sa, on_connect);
    if (rc < 0) {
        char msg[128];
        snprintf(msg, sizeof msg, "connect to %s: %s", c->pool->authority, uv_strerror(rc));
        mae__pool_conn_failed(c->pool, c, msg);
        mae__conn_close(c);
    }
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
    mae__gconn *c = req->data;
    c->gai_pending = false;
    mae__gtransport *t = c->pool->t;
    if (c->state == MAE__CONN_CLOSING) {
        uv_freeaddrinfo(res);
        if (!c->has_tcp) free(c);  /* its TCP handle closed first */
        t->n_handles--;
        mae__handle_closed(t);
        return;
    }
    t->n_handles--;
    if (status < 0 || !res) {
        char msg[160];
        snprintf(msg, sizeof msg, "resolve %s: %s", c->pool->host, uv_strerror(status));
        uv_freeaddrinfo(res);
        mae__pool_conn_failed(c->pool, c, msg);
        mae__conn_close(c);
        return;
    }
    start_connect(c, res->ai_addr);
    uv_freeaddrinfo(res);
}

static void on_tcp_closed(uv_handle_t *h) {
    mae__gconn *c = h->data;
    mae__gtransport *t = c->pool->t;
    if (!c->gai_pending) free(c);
    else c->has_tcp = false;  /* freed when the resolution callback runs */
    t->n_handles--;
    mae__handle_closed(t);
}

int mae__conn_open(mae__gpool *p) {
    mae__gconn *c = calloc(1, sizeof *c);
    if (!c) return MAE_ENOMEM;
    c->pool = p;
    mae__gq_init(&c->calls);
    if (uv_tcp_init(p->t->loop, &c->tcp) != 0) {
        free(c);
        return MAE_ENOMEM;
    }
    c->tcp.data = c;
    c->has_tcp = true;
    p->t->n_handles++;
    mae__gq_push(&p->conns, &c->link);
    struct sockaddr_storage ss;
    if (uv_ip4_addr(p->host, p->port, (struct sockaddr_in *)&ss) == 0 ||
        uv_ip6_addr(p->host, p->port, (struct sockaddr_in6 *)&ss) == 0) {
        start_connect(c, (struct sockaddr *)&ss);
        return 0;
    }
    /* A name: resolved off the loop thread by libuv's pool. */
    c->state = MAE__CONN_RESOLVING;
    c->gai.data = c;
    char port[8];
    snprintf(port, sizeof port, "%d", p->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    int rc = uv_getaddrinfo(p->t->loop, &c->gai, on_resolved, p->host, port, &hints);
    if (rc < 0) {
        mae__pool_conn_failed(p, c, uv_strerror(rc));
        mae__conn_close(c);
        return 0;
    }
    c->gai_pending = true;
    p->t->n_handles++;
    return 0;
}

void mae__conn_fail(mae__gconn *c, mae_class cls, int status, const char *msg) {
    while (!mae__gq_empty(&c->calls)) {
        mae_call *call = MAE__GQ_ITEM(c->calls.next, mae_call, link);
        if (c->ng && call->stream_id > 0)
            nghttp2_session_set_stream_user_data(c->ng, call->stream_id, NULL);
        mae__call_finish(call, cls, status, msg);  /* unlinks it */
    }
    mae__conn_close(c);
}

void mae__conn_close(mae__gconn *c) {
    if (c->state == MAE__CONN_CLOSING && !c->close_pending) return;
    if (c->in_recv) {
        /* nghttp2 is on the stack: finish after mem_recv returns. */
        c->state = MAE__CONN_CLOSING;
        c->close_pending = true;
        return;
    }
    c->close_pending = false;
    c->state = MAE__CONN_CLOSING;
    while (!mae__gq_empty(&c->calls)) {
        mae_call *call = MAE__GQ_ITEM(c->calls.next, mae_call, link);
        if (c->ng && call->stream_id > 0)
            nghttp2_session_set_stream_user_data(c->ng, call->stream_id, NULL);
        mae__call_finish(call, MAE_CLASS_CONNECT, 0, "connection closed");
    }
    mae__gq_remove(&c->link);
    if (c->ng) {
        nghttp2_session_del(c->ng);
        c->ng = NULL;
    }
    if (c->gai_pending) uv_cancel((uv_req_t *)&c->gai);
    mae__gpool *p = c->pool;
    if (c->has_tcp) {
        uv_close((uv_handle_t *)&c->tcp, on_tcp_closed);
    } else if (!c->gai_pending) {
        free(c);
    }
    mae__pool_dispatch(p);
}
