/* One client HTTP/2 connection (h2c, prior knowledge): uv_tcp glue around an nghttp2 client
 * session driven by nghttp2_session_mem_recv/mem_send (nghttp2 1.52 has no mem_recv2/mem_send2),
 * and the per-stream handling of gRPC responses. Decisions about calls (results, queueing,
 * reconnecting) belong to grpc_transport.c; this file only reports what the peer did. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "grpc_h2/grpc_client_int.h"
#include "grpc_h2/grpc_compress.h"
#include "maestro/maestro.h"
#include "transports/errmap.h"

static void conn_lost(mae__gconn *c, mae_class cls, int status, const char *msg);
static void tls_pump(mae__gconn *c);

/* ---- Writing ---- */

/* A burst grew the write buffer: give the memory back rather than keep the peak. */
static void wbuf_shrink(mae__gconn *c) {
    if (c->ccap > MAE__GRPC_WBUF_KEEP) {
        free(c->cbuf);
        c->cbuf = NULL;
        c->ccap = 0;
    }
    if (c->wcap <= MAE__GRPC_WBUF_KEEP) return;
    free(c->wbuf);
    c->wbuf = NULL;
    c->wcap = 0;
}

static void on_write(uv_write_t *req, int status) {
    mae__gconn *c = req->data;
    c->write_backlog = 0;
    c->writing = false;
    if (c->state == MAE__CONN_CLOSING) return;  /* the buffer is freed with the connection */
    wbuf_shrink(c);
    if (status < 0) return;  /* the read side reports the failure */
    if (!c->ng) tls_pump(c);  /* still in the TLS handshake */
    else mae__conn_flush(c);
}

void mae__conn_free(mae__gconn *c) {
    mae__tls_free(c->tls);
    free(c->wbuf);
    free(c->cbuf);
    free(c);
}

void mae__conn_flush(mae__gconn *c) {
    if (!c->has_tcp) {
        mae__conn_flush_now(c);
        return;
    }
    if (c->dirty || c->state == MAE__CONN_CLOSING) return;
    mae__gtransport *t = c->pool->t;
    if (t->closing) {  /* the prepare handle is closed or closing */
        mae__conn_flush_now(c);
        return;
    }
    c->dirty = true;
    if (mae__gq_empty(&t->dirty)) uv_prepare_start(&t->flusher, mae__conn_flush_dirty);
    mae__gq_push(&t->dirty, &c->dirty_link);
}

void mae__conn_flush_dirty(uv_prepare_t *h) {
    mae__gtransport *t = h->data;
    /* A flush may mark connections dirty again (calls dispatched from nghttp2 callbacks, or a
     * connection stopped at the write bound): they are flushed in this same pass. */
    while (!mae__gq_empty(&t->dirty))
        mae__conn_flush_now(MAE__GQ_ITEM(t->dirty.next, mae__gconn, dirty_link));
    uv_prepare_stop(&t->flusher);
}

/* Sends len bytes of c->wbuf: as much as the socket takes now, the rest with one uv_write.
 * Returns 0 or a negative libuv error (the connection is then failed by the caller). */
static int write_out(mae__gconn *c, uint8_t *buf, size_t len) {
    c->pool->t->n_flush_writes++;
    uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == (int)len) return 0;
    if (n > 0) {
        b.base += n;
        b.len -= (unsigned)n;
    }
    /* Partly written, EAGAIN, or an error uv_write reports to on_write (ignored there: the
     * read side reports a broken connection, as before). */
    c->wreq.data = c;
    int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0) return rc;
    c->writing = true;
    c->write_backlog = b.len;
    return 0;
}

/* Sends the ciphertext the TLS layer holds (handshake records, or the records of what the
 * session just wrote) unless a write is in flight: its completion calls here again. Returns 0
 * or a negative error (out of memory, a socket error). */
static int tls_send(mae__gconn *c) {
    size_t n = mae__tls_pending(c->tls);
    if (!n || c->writing) return 0;
    if (n > c->ccap) {
        uint8_t *nb = realloc(c->cbuf, n);
        if (!nb) return MAE_ENOMEM;
        c->cbuf = nb;
        c->ccap = n;
    }
    n = mae__tls_take(c->tls, c->cbuf, n);
    if (!c->has_tcp) {
        if (c->sink) c->sink(c->sink_ud, c->cbuf, n);
        return 0;
    }
    return write_out(c, c->cbuf, n);
}

/* Handshake records out; a failure to send them is a failed connect. */
static void tls_pump(mae__gconn *c) {
    int rc = tls_send(c);
    if (rc < 0) conn_lost(c, MAE_CLASS_CONNECT, 0, rc == MAE_ENOMEM ? "out of memory" : uv_strerror(rc));
}

void mae__conn_flush_now(mae__gconn *c) {
    if (c->dirty) {
        c->dirty = false;
        mae__gq_remove(&c->dirty_link);
    }
    /* Never from inside nghttp2 callbacks: mem_recv's caller flushes afterwards. While a write
     * is in flight its completion flushes again. */
    if (!c->ng || c->state == MAE__CONN_CLOSING || c->in_recv || c->writing) return;
    size_t len = 0;
    while (len < MAE__GRPC_WRITE_HIGH) {
        const uint8_t *data;
        /* Callbacks run inside mem_send too (a stream closes when its RST goes out): they may
         * submit, but never flush or close re-entrantly; this loop sends what they submit. */
        c->in_recv++;
        ssize_t n = nghttp2_session_mem_send(c->ng, &data);
        c->in_recv--;
        if (c->close_pending) {
            mae__conn_close(c);
            return;
        }
        if (n < 0) {
            mae__conn_fail(c, MAE_CLASS_GRPC, MAE_GRPC_INTERNAL, nghttp2_strerror((int)n));
            return;
        }
        if (n == 0) break;
        if (len + (size_t)n > c->wcap) {
            size_t ncap = c->wcap ? c->wcap * 2 : 16384;
            while (ncap < len + (size_t)n) ncap *= 2;
            uint8_t *nb = realloc(c->wbuf, ncap);
            if (!nb) {
                mae__conn_fail(c, MAE_CLASS_INTERNAL, 0, "out of memory");
                return;
            }
            c->wbuf = nb;
            c->wcap = ncap;
        }
        memcpy(c->wbuf + len, data, (size_t)n);
        len += (size_t)n;
    }
    if (c->tls) {
        /* The plaintext is copied into records at once: wbuf is free again after this. */
        char err[160];
        int rc = len ? mae__tls_write(c->tls, c->wbuf, len, err, sizeof err) : 0;
        if (rc == 0) rc = tls_send(c);
        if (rc < 0) {
            conn_lost(c, MAE_CLASS_CONNECT, 0,
                      rc == MAE_EPROTO ? err : rc == MAE_ENOMEM ? "out of memory" : uv_strerror(rc));
            return;
        }
        if (!c->writing) {
            if (len >= MAE__GRPC_WRITE_HIGH) mae__conn_flush(c);
            else wbuf_shrink(c);
        }
    } else if (len && !c->has_tcp) {
        if (c->sink) c->sink(c->sink_ud, c->wbuf, len);
    } else if (len) {
        int rc = write_out(c, c->wbuf, len);
        if (rc < 0) {
            conn_lost(c, MAE_CLASS_CONNECT, 0, uv_strerror(rc));
            return;
        }
        /* Stopped at the bound with more to send: carry on in this pass (or after on_write). */
        if (!c->writing) {
            if (len >= MAE__GRPC_WRITE_HIGH) mae__conn_flush(c);
            else wbuf_shrink(c);
        }
    }
    if (c->state == MAE__CONN_DRAINING && c->n_streams == 0) {
        mae__conn_close(c);
    } else if (!nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng)) {
        /* nghttp2 ended the session (a protocol error it answered with GOAWAY). */
        char msg[200];
        snprintf(msg, sizeof msg, "HTTP/2 session ended: %s",
                 c->err[0] ? c->err : "the server went away");
        conn_lost(c, MAE_CLASS_GRPC, MAE_GRPC_INTERNAL, msg);
    }
}

/* ---- Keepalive ---- */

static void on_conn_timer(uv_timer_t *tm);

/* Once READY the handshake timer becomes the keepalive timer (or stops when there is none). */
static void keepalive_start(mae__gconn *c) {
    uv_timer_stop(&c->hs_timer);
    uint64_t next = mae__ka_start(&c->ka, c->pool->ka_ms, c->pool->ka_timeout_ms,
                                  uv_now(c->pool->t->loop));
    if (next) uv_timer_start(&c->hs_timer, on_conn_timer, next, 0);
}

/* A dead connection (a load balancer dropped it) fails its calls `connect`: their retries go
 * to a new connection. */
static void keepalive_tick(mae__gconn *c) {
    uint64_t next = 0, now = uv_now(c->pool->t->loop);
    switch (mae__ka_tick(&c->ka, now, &next)) {
    case MAE__KA_DEAD: {
        char msg[200];
        snprintf(msg, sizeof msg, "connection to %s lost: keepalive PING unanswered for %llu ms",
                 c->pool->authority, (unsigned long long)(now - c->ka.ping_sent));
        conn_lost(c, MAE_CLASS_CONNECT, 0, msg);
        return;
    }
    case MAE__KA_PING:
        if (nghttp2_submit_ping(c->ng, NGHTTP2_FLAG_NONE, NULL) != 0) return;
        mae__conn_flush(c);
        break;
    case MAE__KA_WAIT: break;
    }
    uv_timer_start(&c->hs_timer, on_conn_timer, next, 0);
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
    if (mae__grpc_resp_field(&call->resp, trailers, name, nlen, value, vlen) < 0) {
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
        if (f->goaway.error_code == NGHTTP2_ENHANCE_YOUR_CALM) mae__pool_calm(c->pool);
        if (c->state == MAE__CONN_CONNECTING) {
            conn_lost(c, MAE_CLASS_CONNECT, 0, "the server sent GOAWAY");
            break;
        }
        /* No new streams here; nghttp2 closes the ones above last-stream-id with
         * REFUSED_STREAM, which the codec maps to UNAVAILABLE, not an attempt. */
        if (c->state <= MAE__CONN_READY) c->state = MAE__CONN_DRAINING;
        mae__pool_dispatch(c->pool);
        break;
    case NGHTTP2_PING:
        /* Our keepalive PING answered: the next one after another full interval of silence. */
        if ((f->hd.flags & NGHTTP2_FLAG_ACK) && c->ka.ping_out && c->has_tcp)
            uv_timer_start(&c->hs_timer, on_conn_timer,
                           mae__ka_acked(&c->ka, uv_now(c->pool->t->loop)), 0);
        break;
    case NGHTTP2_SETTINGS:
        /* Streams open only once the server's SETTINGS are known, so its
         * MAX_CONCURRENT_STREAMS is honoured from the first request on. */
        if (!(f->hd.flags & NGHTTP2_FLAG_ACK) && c->state == MAE__CONN_CONNECTING) {
            c->state = MAE__CONN_READY;
            if (c->has_tcp) keepalive_start(c);
            c->pool->fails = 0;
        }
        mae__pool_dispatch(c->pool);
        break;
    default: break;
    }
    return 0;
}

static int on_message(void *ud, bool compressed, uint8_t *msg, size_t len) {
    mae_call *call = ud;
    if (call->sx || call->codec->server_streaming)  /* several messages: decoded one by one */
        return mae__call_message(call, compressed, msg, len);
    if (call->reply || call->df.n_msgs > 1) {
        free(msg);
        return MAE_EPROTO;  /* a second message in a unary reply */
    }
    if (compressed) {
        mae_grpc_encoding enc = (mae_grpc_encoding)call->resp.encoding;
        if (enc == MAE_GRPC_ENC_IDENTITY || enc == MAE_GRPC_ENC_OTHER) {
            free(msg);
            return MAE_EINVAL;
        }
        /* Bounded by the same limit as an uncompressed reply, counted after inflation. */
        uint8_t *plain;
        size_t plen;
        int rc = mae__grpc_inflate(enc, msg, len, call->df.max, &plain, &plen);
        free(msg);
        if (rc < 0) return rc == MAE_ETOOBIG || rc == MAE_ENOMEM ? rc : MAE_EDECODE;
        msg = plain;
        len = plen;
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
    /* A non-gRPC response's body (an error page) is not framed: drop it, the status says it. */
    if (call->resp.http_status != 200 || !call->resp.content_type_grpc) return 0;
    int rc = mae__grpc_deframer_feed(&call->df, data, len, on_message, call);
    if (rc == 0 || call->state == MAE__CALL_DONE) return 0;  /* or already finished by it */
    char buf[160];
    int code = MAE_GRPC_INTERNAL;
    const char *msg = buf;
    if (rc == MAE_ELIMIT) {
        code = MAE_GRPC_RESOURCE_EXHAUSTED;
        snprintf(buf, sizeof buf, "reply message of %llu bytes exceeds the limit of %zu bytes",
                 (unsigned long long)call->df.announced, call->df.max);
    } else if (rc == MAE_ETOOBIG) {
        code = MAE_GRPC_RESOURCE_EXHAUSTED;
        snprintf(buf, sizeof buf, "reply message inflates past the limit of %zu bytes (grpc-encoding %s)",
                 call->df.max, mae__grpc_encoding_name((mae_grpc_encoding)call->resp.encoding));
    } else if (rc == MAE_EDECODE) {
        snprintf(buf, sizeof buf, "reply message cannot be decompressed (grpc-encoding %s)",
                 mae__grpc_encoding_name((mae_grpc_encoding)call->resp.encoding));
    } else if (rc == MAE_EINVAL) {
        msg = call->resp.encoding_identity ? "compressed message without grpc-encoding"
                                           : "reply compressed with an unsupported grpc-encoding";
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
    if (left == 0 && call->sx && !call->sx->half_closed) {
        /* A stream with nothing queued: mae__grpc_stream_send resumes it. */
        call->sx->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    if (len > left) len = left;
    if (len) memcpy(buf, call->body + call->body_off, len);
    call->body_off += len;
    if (call->body_off == call->body_len && (!call->sx || call->sx->half_closed)) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        /* A unary request is copied out whole: a call waiting for its reply keeps no copy. */
        if (!call->sx) {
            free(call->body);
            call->body = NULL;
            call->body_len = call->body_off = 0;
        }
    }
    return (ssize_t)len;
}

static int on_error(nghttp2_session *s, int code, const char *msg, size_t len, void *ud) {
    mae__gconn *c = ud;
    if (len >= sizeof c->err) len = sizeof c->err - 1;
    memcpy(c->err, msg, len);
    c->err[len] = 0;
    return 0;
}

/* ---- Session ---- */

int mae__conn_session_init(mae__gconn *c) {
    nghttp2_session_callbacks *cbs;
    nghttp2_option *opt;
    int rc = nghttp2_session_callbacks_new(&cbs);
    if (rc != 0) return mae__err_from_nghttp2(rc);
    if ((rc = nghttp2_option_new(&opt)) != 0) {
        nghttp2_session_callbacks_del(cbs);
        return mae__err_from_nghttp2(rc);
    }
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
    nghttp2_session_callbacks_set_on_frame_not_send_callback(cbs, on_frame_not_send);
    nghttp2_session_callbacks_set_error_callback2(cbs, on_error);
    /* Closed streams are not kept for priority bookkeeping; the peer's SETTINGS flood and
     * outbound ACK queues are bounded by nghttp2's defaults. */
    nghttp2_option_set_no_closed_streams(opt, 1);
    rc = nghttp2_session_client_new2(&c->ng, cbs, c, opt);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_option_del(opt);
    if (rc != 0) return mae__err_from_nghttp2(rc);
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, MAE__GRPC_STREAM_WINDOW},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, MAE_GRPC_MAX_HEADER_BYTES},
    };
    rc = nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof *iv);
    if (rc == 0)
        rc = nghttp2_session_set_local_window_size(c->ng, NGHTTP2_FLAG_NONE, 0, MAE__GRPC_CONN_WINDOW);
    if (rc != 0) {
        nghttp2_session_del(c->ng);
        c->ng = NULL;
        return mae__err_from_nghttp2(rc);
    }
    c->state = MAE__CONN_CONNECTING;  /* READY when the server's SETTINGS arrive */
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
    if (id < 0) return mae__err_from_nghttp2(id);
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
        snprintf(msg, sizeof msg, "HTTP/2 session ended: %s", nghttp2_strerror((int)n));
        /* nghttp2 queued a GOAWAY; send what we can, then fail the calls. */
        mae__conn_flush_now(c);
        conn_lost(c, MAE_CLASS_GRPC, MAE_GRPC_INTERNAL, msg);
        return MAE_EPROTO;
    }
    if (c->close_pending) {
        mae__conn_close(c);
        return 0;
    }
    mae__conn_flush(c);
    return 0;
}

/* ---- TLS ---- */

/* A failed TLS handshake is a failed connect: the pool backs off, queued calls fail `connect`. */
static void tls_failed(mae__gconn *c, const char *why) {
    char msg[320];
    snprintf(msg, sizeof msg, "connect to %s: %s", c->pool->authority, why);
    mae__pool_conn_failed(c->pool, c, msg);
    mae__conn_close(c);
}

int mae__conn_tls_start(mae__gconn *c) {
    mae__gpool *p = c->pool;
    int rc = mae__tls_new(p->tls_ctx, p->tls_name, &c->tls);
    if (rc < 0) return rc;
    char err[160];
    rc = mae__tls_handshake(c->tls, err, sizeof err);  /* the ClientHello */
    if (rc < 0) {
        tls_failed(c, err);
        return 0;
    }
    tls_pump(c);
    return 0;
}

static void recv_tls(mae__gconn *c, const uint8_t *p, size_t len);

void mae__conn_recv_tls(mae__gconn *c, const uint8_t *p, size_t len) {
    /* A socketless connection is freed as soon as it closes: not while we still look at it. */
    c->tls_busy = true;
    recv_tls(c, p, len);
    c->tls_busy = false;
    if (c->free_later) mae__conn_free(c);
}

static void recv_tls(mae__gconn *c, const uint8_t *p, size_t len) {
    char err[200];
    if (mae__tls_feed(c->tls, p, len) < 0) {
        conn_lost(c, MAE_CLASS_INTERNAL, 0, "out of memory");
        return;
    }
    if (!mae__tls_done(c->tls)) {
        int rc = mae__tls_handshake(c->tls, err, sizeof err);
        if (rc < 0) {
            tls_send(c);  /* our alert, best effort */
            tls_failed(c, err);
            return;
        }
        tls_pump(c);
        if (rc == 0 || c->state == MAE__CONN_CLOSING) return;
        if (mae__conn_session_init(c) < 0) {
            tls_failed(c, "cannot set up the HTTP/2 session");
            return;
        }
        mae__conn_flush(c);  /* the preface and SETTINGS */
    }
    mae__gtransport *t = c->pool->t;
    for (;;) {
        ssize_t n = mae__tls_read(c->tls, t->pbuf, sizeof t->pbuf, err, sizeof err);
        if (n == 0) break;
        if (n < 0) {
            conn_lost(c, MAE_CLASS_CONNECT, 0, err);
            return;
        }
        if (mae__conn_recv(c, t->pbuf, (size_t)n) < 0 || c->state == MAE__CONN_CLOSING) return;
    }
    /* Records OpenSSL answered on its own (a key update): out with the next flush. */
    if (mae__tls_pending(c->tls)) mae__conn_flush(c);
}

/* ---- TCP ---- */

/* The connection broke. Before the server's SETTINGS (connected, never usable) that is a failed
 * connect for the pool: it backs off and its queued calls fail with `connect`, instead of a
 * new connection being opened at once (a server that accepts and closes would get thousands).
 * Afterwards the calls on it fail with the class given. */
static void conn_lost(mae__gconn *c, mae_class cls, int status, const char *msg) {
    if (c->state == MAE__CONN_CLOSING) return;
    bool tls_hs = c->tls && !mae__tls_done(c->tls);
    if (c->state != MAE__CONN_CONNECTING || (!c->ng && !tls_hs)) {
        mae__conn_fail(c, cls, status, msg);
        return;
    }
    char buf[320];
    if (tls_hs)
        snprintf(buf, sizeof buf, "connect to %s: TLS handshake: %s", c->pool->authority, msg);
    else if (c->tls)
        /* A server that wants a client certificate it did not get says so only in its log. */
        snprintf(buf, sizeof buf, "connect to %s: the server closed the connection after the TLS "
                 "handshake, before HTTP/2 (%s)%s", c->pool->authority, msg,
                 c->pool->tls_client_cert ? "" : "; does it require a client certificate?");
    else
        snprintf(buf, sizeof buf, "connect to %s: connection closed before the HTTP/2 handshake (%s)",
                 c->pool->authority, msg);
    mae__pool_conn_failed(c->pool, c, buf);
    mae__conn_close(c);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
    mae__gtransport *t = ((mae__gconn *)h->data)->pool->t;
    buf->base = t->rbuf;
    buf->len = sizeof t->rbuf;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
    mae__gconn *c = s->data;
    if (n == 0) return;
    if (n < 0) {
        conn_lost(c, MAE_CLASS_CONNECT, 0,
                  n == UV_EOF ? "connection closed by the server" : uv_strerror((int)n));
        return;
    }
    mae__ka_rx(&c->ka, uv_now(c->pool->t->loop));
    if (c->tls) mae__conn_recv_tls(c, (const uint8_t *)buf->base, (size_t)n);
    else mae__conn_recv(c, (const uint8_t *)buf->base, (size_t)n);
}

/* One of the connection's handles or requests finished closing: the last one frees it. */
static void conn_unref(mae__gconn *c) {
    mae__gtransport *t = c->pool->t;
    if (--c->refs == 0) mae__conn_free(c);
    t->n_handles--;
    mae__handle_closed(t);
}

/* The race is over: the winner's socket becomes the connection's, or every address failed. */
static void on_raced(void *ud, const mae__happy_result *r) {
    mae__gconn *c = ud;
    c->happy = NULL;
    char msg[768];
    if (r->fd < 0) {
        if (r->n_addrs > 1)
            snprintf(msg, sizeof msg, "connect to %s: %s (each of its %d addresses failed: %s)",
                     c->pool->authority, uv_strerror(r->status), r->n_addrs, r->message);
        else
            snprintf(msg, sizeof msg, "connect to %s: %s", c->pool->authority,
                     uv_strerror(r->status));
        mae__pool_conn_failed(c->pool, c, msg);
        mae__conn_close(c);
        return;
    }
    int rc = uv_tcp_open(&c->tcp, r->fd);
    if (rc < 0) {
        close(r->fd);
        snprintf(msg, sizeof msg, "connect to %s: %s", c->pool->authority, uv_strerror(rc));
        mae__pool_conn_failed(c->pool, c, msg);
        mae__conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc == 0 && c->pool->tls) {
        /* The session starts when the handshake is complete (mae__conn_recv_tls). */
        if (mae__conn_tls_start(c) < 0) {
            mae__pool_conn_failed(c->pool, c, "out of memory");
            mae__conn_close(c);
        }
        return;
    }
    if (rc == 0) rc = mae__conn_session_init(c);
    if (rc < 0) {
        mae__pool_conn_failed(c->pool, c, "cannot set up the HTTP/2 session");
        mae__conn_close(c);
        return;
    }
    mae__conn_flush(c);
}

static void on_race_closed(void *ud) { conn_unref(ud); }

/* Races the addresses; the racer holds a reference on the connection until it has closed. */
static void conn_race(mae__gconn *c, const struct sockaddr *const *sa, int n) {
    c->state = MAE__CONN_CONNECTING;
    int rc = mae__happy_start(c->pool->t->loop, sa, n, 0, on_raced, on_race_closed, c, &c->happy);
    if (rc < 0) {
        mae__pool_conn_failed(c->pool, c, mae_strerror(rc));
        mae__conn_close(c);
        return;
    }
    c->refs++;
    c->pool->t->n_handles++;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
    mae__gconn *c = req->data;
    c->gai_pending = false;
    if (c->state == MAE__CONN_CLOSING) {
        uv_freeaddrinfo(res);
        conn_unref(c);
        return;
    }
    conn_unref(c);  /* the TCP handle and the timer still hold it */
    const struct sockaddr *sa[MAE__GRPC_MAX_ADDRS];
    int n = 0;
    for (struct addrinfo *ai = res; ai && n < MAE__GRPC_MAX_ADDRS; ai = ai->ai_next)
        if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6) sa[n++] = ai->ai_addr;
    if (status < 0 || n == 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "resolve %s: %s", c->pool->host,
                 status < 0 ? uv_strerror(status) : "no IPv4 or IPv6 address");
        uv_freeaddrinfo(res);
        mae__pool_conn_failed(c->pool, c, msg);
        mae__conn_close(c);
        return;
    }
    conn_race(c, sa, n);  /* the racer copies the addresses */
    uv_freeaddrinfo(res);
}

static void on_part_closed(uv_handle_t *h) { conn_unref(h->data); }

/* The connection's one timer: the opening bound until READY, then keepalive. */
static void on_conn_timer(uv_timer_t *tm) {
    mae__gconn *c = tm->data;
    if (c->state == MAE__CONN_CLOSING) return;
    if (c->state >= MAE__CONN_READY) {
        keepalive_tick(c);
        return;
    }
    char msg[768];
    if (c->tls && !mae__tls_done(c->tls)) {
        snprintf(msg, sizeof msg, "connect to %s: TLS handshake not finished within %llu ms",
                 c->pool->authority, (unsigned long long)c->pool->t->handshake_ms);
    } else if (c->ng) {
        snprintf(msg, sizeof msg, "no HTTP/2 SETTINGS from %s within %llu ms", c->pool->authority,
                 (unsigned long long)c->pool->t->handshake_ms);
    } else {
        char tried[600] = "";
        if (c->happy) mae__happy_describe(c->happy, tried, sizeof tried);
        snprintf(msg, sizeof msg, "connect to %s: not connected within %llu ms%s%s%s",
                 c->pool->authority, (unsigned long long)c->pool->t->handshake_ms,
                 tried[0] ? " (" : "", tried, tried[0] ? ")" : "");
    }
    mae__pool_conn_failed(c->pool, c, msg);
    mae__conn_close(c);
}

/* A connection with its handles, in the pool, its opening bounded by the handshake timer. */
static mae__gconn *conn_alloc(mae__gpool *p) {
    mae__gconn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->pool = p;
    mae__gq_init(&c->calls);
    mae__gq_init(&c->dirty_link);
    if (uv_tcp_init(p->t->loop, &c->tcp) != 0) {
        free(c);
        return NULL;
    }
    uv_timer_init(p->t->loop, &c->hs_timer);
    c->tcp.data = c->hs_timer.data = c;
    c->has_tcp = true;
    c->refs = 2;
    p->t->n_handles += 2;
    mae__gq_push(&p->conns, &c->link);
    /* Bounds the whole opening (connect, then the server's SETTINGS): a peer that accepts and
     * stays silent must not hold a pool slot for ever. */
    uv_timer_start(&c->hs_timer, on_conn_timer, p->t->handshake_ms, 0);
    return c;
}

int mae__conn_open_addrs(mae__gpool *p, const struct sockaddr *const *addrs, int n) {
    if (n < 1) return MAE_EINVAL;
    mae__gconn *c = conn_alloc(p);
    if (!c) return MAE_ENOMEM;
    conn_race(c, addrs, n);
    return 0;
}

int mae__conn_open(mae__gpool *p) {
    if (p->tls && !p->tls_ctx) {
        /* The service's TLS files are unusable: every connect fails the same way. */
        mae__pool_conn_failed(p, NULL, p->tls_err ? p->tls_err : "TLS setup failed");
        return 0;
    }
    struct sockaddr_storage ss;
    if (uv_ip4_addr(p->host, p->port, (struct sockaddr_in *)&ss) == 0 ||
        uv_ip6_addr(p->host, p->port, (struct sockaddr_in6 *)&ss) == 0) {
        const struct sockaddr *one = (const struct sockaddr *)&ss;
        return mae__conn_open_addrs(p, &one, 1);
    }
    mae__gconn *c = conn_alloc(p);
    if (!c) return MAE_ENOMEM;
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
    c->refs++;
    p->t->n_handles++;
    return 0;
}

int mae__conn_new_detached(mae__gpool *p, void (*sink)(void *, const uint8_t *, size_t),
                           void *sink_ud, mae__gconn **out) {
    mae__gconn *c = calloc(1, sizeof *c);
    if (!c) return MAE_ENOMEM;
    c->pool = p;
    c->sink = sink;
    c->sink_ud = sink_ud;
    mae__gq_init(&c->calls);
    mae__gq_init(&c->dirty_link);
    int rc = mae__conn_session_init(c);
    if (rc < 0) {
        free(c);
        return rc;
    }
    mae__gq_push(&p->conns, &c->link);
    *out = c;
    return 0;
}

int mae__conn_new_detached_tls(mae__gpool *p, void (*sink)(void *, const uint8_t *, size_t),
                               void *sink_ud, mae__gconn **out) {
    if (!p->tls_ctx) return MAE_EINVAL;
    mae__gconn *c = calloc(1, sizeof *c);
    if (!c) return MAE_ENOMEM;
    c->pool = p;
    c->sink = sink;
    c->sink_ud = sink_ud;
    c->state = MAE__CONN_CONNECTING;
    mae__gq_init(&c->calls);
    mae__gq_init(&c->dirty_link);
    mae__gq_push(&p->conns, &c->link);
    *out = c;
    return mae__conn_tls_start(c);  /* the ClientHello goes to sink */
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
    if (c->dirty) {
        c->dirty = false;
        mae__gq_remove(&c->dirty_link);
    }
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
    if (c->happy) {  /* its close callback drops its reference */
        mae__happy_cancel(c->happy);
        c->happy = NULL;
    }
    mae__gpool *p = c->pool;
    if (c->has_tcp) {
        uv_close((uv_handle_t *)&c->tcp, on_part_closed);
        uv_close((uv_handle_t *)&c->hs_timer, on_part_closed);
    } else if (c->tls_busy) {
        c->free_later = true;  /* mae__conn_recv_tls frees it on its way out */
    } else {
        mae__conn_free(c);  /* detached: no handles */
    }
    mae__pool_dispatch(p);
}
