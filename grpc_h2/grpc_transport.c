/* The gRPC transport (see grpc_transport.h): calls, per-endpoint pools of connections, the local
 * queue above the peer's stream limit, deadlines, deferred result delivery and shutdown.
 * Connection and HTTP/2 details live in grpc_conn.c. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "grpc_h2/grpc_client_int.h"
#include "grpc_h2/grpc_compress.h"
#include "grpc_h2/grpc_target.h"
#include "grpc_h2/grpc_transport.h"
#include "grpc_h2/grpc_typed.h"
#include "maestro/maestro.h"
#include "transports/wire.h"

#define T(pub) ((mae__gtransport *)(pub))
#define MSG_QUEUED_TIMEOUT "attempt deadline passed while waiting for a free stream"

/* ---- Handles and shutdown ---- */

static void pool_free(mae__gpool *p) {
    free(p->endpoint);
    for (size_t i = 0; i < 4; i++) free(p->key_files[i]);
    free(p->host);
    free(p->authority);
    free(p->tls_name);
    free(p->tls_err);
    mae__tls_ctx_free(p->tls_ctx);
    free(p);
}

void mae__handle_closed(mae__gtransport *t) {
    if (!t->closing || t->n_handles > 0) return;
    while (!mae__gq_empty(&t->pools)) {
        mae__gpool *p = MAE__GQ_ITEM(t->pools.next, mae__gpool, link);
        mae__gq_remove(&p->link);
        pool_free(p);
    }
    void (*done)(void *) = t->done;
    void *ud = t->done_ud;
    free(t);
    if (done) done(ud);
}

static void on_handle_closed(uv_handle_t *h) {
    mae__gtransport *t = h->data;
    t->n_handles--;
    mae__handle_closed(t);
}

static void on_backoff_closed(uv_handle_t *h) {
    mae__gtransport *t = ((mae__gpool *)h->data)->t;
    t->n_handles--;
    mae__handle_closed(t);
}

/* ---- Calls ---- */

static void call_free(mae_call *c) {
    if (mae__grpc_codec_is_typed(c->codec)) mae__grpc_typed_codec_free((mae_grpc_codec *)c->codec);
    free(c->sx);
    free(c);
}

/* Closing: the two call timers go once every call has been delivered. */
static void timers_maybe_close(mae__gtransport *t) {
    if (!t->closing || t->n_calls > 0 || t->timers_closed) return;
    t->timers_closed = true;
    uv_close((uv_handle_t *)&t->deliver, on_handle_closed);
    uv_close((uv_handle_t *)&t->deadlines, on_handle_closed);
}

static void on_deliver(uv_timer_t *tm) {
    mae__gtransport *t = tm->data;
    /* This batch only: a call finished by a callback below waits for the next run. */
    mae__gq batch;
    mae__gq_init(&batch);
    if (!mae__gq_empty(&t->delivering)) {
        batch.next = t->delivering.next;
        batch.prev = t->delivering.prev;
        batch.next->prev = batch.prev->next = &batch;
        mae__gq_init(&t->delivering);
    }
    while (!mae__gq_empty(&batch)) {
        mae_call *c = MAE__GQ_ITEM(batch.next, mae_call, link);
        mae__gq_remove(&c->link);
        c->cb(&c->res, c->ud);  /* the callback owns res.output */
        free(c->res_msg);
        cJSON_Delete(c->res_details);
        call_free(c);
        t->n_calls--;
    }
    timers_maybe_close(t);
}

static void on_deadlines(uv_timer_t *tm);

/* Arms the deadline timer for the earliest timed call (stops it when there is none: an armed
 * timer would keep the loop alive). */
static void deadlines_arm(mae__gtransport *t) {
    if (mae__gq_empty(&t->timed)) {
        uv_timer_stop(&t->deadlines);
        return;
    }
    mae_call *first = MAE__GQ_ITEM(t->timed.next, mae_call, dl_link);
    uint64_t now = uv_now(t->loop);
    uv_timer_start(&t->deadlines, on_deadlines, first->deadline > now ? first->deadline - now : 0, 0);
}

/* In deadline order; calls mostly arrive in it, so the walk starts from the latest. */
static void timed_add(mae__gtransport *t, mae_call *c) {
    mae__gq *q = t->timed.prev;
    while (q != &t->timed && MAE__GQ_ITEM(q, mae_call, dl_link)->deadline > c->deadline) q = q->prev;
    mae__gq_push(q->next, &c->dl_link);   /* before q->next: right after q */
    if (t->timed.next == &c->dl_link) deadlines_arm(t);
}

static void timed_del(mae_call *c) {
    mae__gtransport *t = c->t;
    if (c->dl_link.next == &c->dl_link) return;
    bool first = t->timed.next == &c->dl_link;
    mae__gq_remove(&c->dl_link);
    if (first) deadlines_arm(t);
}

static void call_release(mae_call *c) {
    free(c->body);
    free(c->hdr_store);
    free(c->reply);
    cJSON_Delete(c->stream_out);
    c->stream_out = NULL;
    mae__grpc_deframer_free(&c->df);
    mae__grpc_resp_free(&c->resp);
    c->body = c->reply = NULL;
    c->nv = NULL;
    c->hdr_store = NULL;
}

void mae__call_finish(mae_call *c, mae_class cls, int status, const char *msg) {
    if (c->state == MAE__CALL_DONE) return;
    mae__gq_remove(&c->link);
    c->state = MAE__CALL_DONE;
    c->conn = NULL;
    c->res.cls = cls;
    c->res.status = status;
    c->res.sent = c->sent;
    if (msg) {
        c->res_msg = strdup(msg);
        c->res.message = c->res_msg ? c->res_msg : "out of memory";
    }
    call_release(c);
    timed_del(c);
    /* Delivered from the timer phase, never from inside start() or cancel(). */
    mae__gtransport *t = c->t;
    if (mae__gq_empty(&t->delivering)) uv_timer_start(&t->deliver, on_deliver, 0, 0);
    mae__gq_push(&t->delivering, &c->link);
}

static bool many_replies(const mae_call *c) {
    return c->sx || c->codec->server_streaming;
}

/* A server-streaming reply's message: decoded now, so only its JSON is kept. */
static int stream_reply(mae_call *c, uint8_t *msg, size_t len) {
    c->stream_bytes += len + 5;
    if (c->stream_bytes > c->df.max) {
        free(msg);
        char buf[160];
        snprintf(buf, sizeof buf,
                 "server-streaming reply exceeds the limit of %zu bytes in total (message %llu)",
                 c->df.max, (unsigned long long)c->df.n_msgs);
        mae__conn_reset_call(c->conn, c);
        mae__call_finish(c, MAE_CLASS_GRPC, MAE_GRPC_RESOURCE_EXHAUSTED, buf);
        return MAE_ECANCELED;
    }
    if (!c->stream_out && !(c->stream_out = cJSON_CreateArray())) {
        free(msg);
        return MAE_ENOMEM;
    }
    mae_grpc_reply rep = {0};
    int rc = c->codec->decode(c->codec, msg, len, &rep);
    free(msg);
    if (rc < 0 || rep.app_error) {
        char buf[160];
        snprintf(buf, sizeof buf, "%s in message %llu of the reply stream%s%s",
                 rc < 0 ? "undecodable reply" : "the service reported failure",
                 (unsigned long long)c->df.n_msgs, ": ",
                 rc < 0 ? mae_strerror(rc) : (rep.error ? rep.error : ""));
        free(rep.error);
        mae__conn_reset_call(c->conn, c);
        mae__call_finish(c, rc < 0 ? MAE_CLASS_DECODE : MAE_CLASS_APP_ERROR, 0, buf);
        return MAE_ECANCELED;
    }
    cJSON *item = rep.output ? rep.output : cJSON_CreateNull();
    if (!item) return MAE_ENOMEM;
    cJSON_AddItemToArray(c->stream_out, item);
    return 0;
}

/* A grpc_stream.h stream's message: to its callback, which may send, half-close or cancel. */
static int stream_deliver(mae_call *c, uint8_t *msg, size_t len) {
    c->sx->delivering = true;
    int rc = c->sx->on_msg(c->ud, msg, len);
    c->sx->delivering = false;
    free(msg);
    if (rc == 0 && !c->sx->cancel_pending) return 0;
    mae__conn_reset_call(c->conn, c);
    if (c->sx->cancel_pending) {
        mae__call_finish(c, MAE_CLASS_CANCELLED, 0, "cancelled");
    } else {
        char buf[96];
        snprintf(buf, sizeof buf, "message rejected: %s", mae_strerror(rc));
        mae__call_finish(c, MAE_CLASS_DECODE, 0, buf);
    }
    return MAE_ECANCELED;
}

int mae__call_message(mae_call *call, bool compressed, uint8_t *msg, size_t len) {
    if (compressed) {
        free(msg);
        return MAE_EINVAL;
    }
    return call->sx ? stream_deliver(call, msg, len) : stream_reply(call, msg, len);
}

/* A failure's google.rpc.Status (grpc-status-details-bin): its details go with the result, and
 * a RetryInfo.retry_delay is the server's pushback unless grpc-retry-pushback-ms said more. */
static void status_details(mae_call *c) {
    if (!c->resp.details) return;
    cJSON *st = NULL;
    int64_t delay = -1;
    if (mae__pb_status_decode(mae__grpc_typed_codec_pool(c->codec), c->resp.details, c->resp.details_len,
                              &st, &delay) != 0)
        return;
    cJSON *det = cJSON_DetachItemFromObjectCaseSensitive(st, "details");
    cJSON_Delete(st);
    cJSON_Delete(c->res_details);
    c->res_details = det;
    c->res.details = det;
    if (delay >= 0 && c->res.retry_after_ms < 0 && !c->res.no_retry) c->res.retry_after_ms = delay;
}

void mae__call_complete_stream(mae_call *c, uint32_t h2_error) {
    if (c->state == MAE__CALL_DONE) return;
    mae_grpc_outcome o;
    /* Any number of messages is a complete stream: counted as the one a unary reply needs. */
    uint64_t n = many_replies(c) ? 1 : c->df.n_msgs;
    mae__grpc_resp_outcome(&c->resp, h2_error, n, mae__grpc_deframer_partial(&c->df), &o);
    c->res.retry_after_ms = c->resp.pushback_ms;
    c->res.no_retry = c->resp.pushback_stop;
    if (o.code != MAE_GRPC_OK) {
        c->res.not_an_attempt = o.not_an_attempt;
        status_details(c);
        mae__call_finish(c, MAE_CLASS_GRPC, o.code, o.message);
        return;
    }
    if (many_replies(c)) {
        if (!c->sx) {
            c->res.output = c->stream_out ? c->stream_out : cJSON_CreateArray();
            c->stream_out = NULL;
            if (!c->res.output) {
                mae__call_finish(c, MAE_CLASS_INTERNAL, 0, "out of memory");
                return;
            }
        }
        mae__call_finish(c, MAE_CLASS_NONE, 0, NULL);
        return;
    }
    mae_grpc_reply rep;
    int rc = c->codec->decode(c->codec, c->reply, c->reply_len, &rep);
    if (rc < 0) {
        char msg[600];
        const char *why = mae__grpc_typed_error(c->codec);
        snprintf(msg, sizeof msg, "undecodable reply: %s", why[0] ? why : mae_strerror(rc));
        mae__call_finish(c, MAE_CLASS_DECODE, 0, msg);
    } else if (rep.app_error) {
        mae__call_finish(c, MAE_CLASS_APP_ERROR, 0, rep.error);
        free(rep.error);
    } else {
        c->res.output = rep.output;
        mae__call_finish(c, MAE_CLASS_NONE, 0, NULL);
    }
}

/* Our attempt deadline: the server's own DEADLINE_EXCEEDED would be MAE_CLASS_GRPC. */
static void on_deadlines(uv_timer_t *tm) {
    mae__gtransport *t = tm->data;
    uint64_t now = uv_now(t->loop);
    while (!mae__gq_empty(&t->timed)) {
        mae_call *c = MAE__GQ_ITEM(t->timed.next, mae_call, dl_link);
        if (c->deadline > now) break;
        mae__gq_remove(&c->dl_link);
        bool queued = c->state == MAE__CALL_QUEUED;
        if (!queued) mae__conn_reset_call(c->conn, c);
        mae__call_finish(c, MAE_CLASS_TIMEOUT, 0, queued ? MSG_QUEUED_TIMEOUT : "attempt deadline passed");
    }
    deadlines_arm(t);
}

/* ---- Pools ---- */

static void on_backoff(uv_timer_t *tm) {
    mae__gpool *p = tm->data;
    p->backoff_active = false;
    mae__pool_dispatch(p);
}

void mae__pool_calm(mae__gpool *p) {
    p->calms++;
    int shift = p->calms - 1 < 6 ? p->calms - 1 : 6;
    uint64_t delay = 100u << shift;
    if (p->ka_ms && p->ka_ms < 3600000) p->ka_ms *= 2;
    if (p->t->closing) return;
    p->backoff_active = true;
    uv_timer_start(&p->backoff, on_backoff, delay, 0);
}

void mae__pool_conn_failed(mae__gpool *p, mae__gconn *failed, const char *why) {
    p->fails++;
    int shift = p->fails - 1 < 6 ? p->fails - 1 : 6;
    uint64_t delay = 100u << shift;
    if (delay > 5000) delay = 5000;
    if (!p->t->closing) {
        p->backoff_active = true;
        uv_timer_start(&p->backoff, on_backoff, delay, 0);
    }
    for (mae__gq *q = p->conns.next; q != &p->conns; q = q->next) {
        mae__gconn *c = MAE__GQ_ITEM(q, mae__gconn, link);
        if (c != failed && c->state <= MAE__CONN_READY) return;  /* another may serve them */
    }
    while (!mae__gq_empty(&p->queue)) {
        mae_call *c = MAE__GQ_ITEM(p->queue.next, mae_call, link);
        mae__call_finish(c, MAE_CLASS_CONNECT, 0, why);
    }
}

void mae__pool_dispatch(mae__gpool *p) {
    if (p->t->closing) return;
    mae__gconn *touched[MAE__GRPC_MAX_POOL];
    int n_touched = 0;
    while (!mae__gq_empty(&p->queue)) {
        mae__gconn *best = NULL;
        for (mae__gq *q = p->conns.next; q != &p->conns; q = q->next) {
            mae__gconn *c = MAE__GQ_ITEM(q, mae__gconn, link);
            if (mae__conn_capacity(c) > 0 && (!best || c->n_streams < best->n_streams)) best = c;
        }
        if (!best) break;
        mae_call *call = MAE__GQ_ITEM(p->queue.next, mae_call, link);
        uint64_t now = uv_now(p->t->loop);
        if (call->deadline && call->deadline <= now) {
            /* Its timer is due in this very loop turn: never send an expired request. */
            mae__call_finish(call, MAE_CLASS_TIMEOUT, 0, MSG_QUEUED_TIMEOUT);
            continue;
        }
        mae__gq_remove(&call->link);
        char tbuf[10];
        nghttp2_nv stack[24], *nv = MAE__GRPC_FIXED_HEADERS + call->n_nv <= 24 ? stack
                                   : malloc((MAE__GRPC_FIXED_HEADERS + call->n_nv) * sizeof *nv);
        if (!nv) {
            mae__call_finish(call, MAE_CLASS_INTERNAL, 0, "out of memory");
            continue;
        }
        call->nv = nv;
        call->n_nv = mae__grpc_headers_list(call, p, now, tbuf, nv);
        int rc = mae__conn_submit(best, call);
        if (nv != stack) free(nv);
        call->nv = NULL;   /* nghttp2 copied the header list */
        free(call->hdr_store);
        call->hdr_store = NULL;
        if (rc < 0) {
            mae__call_finish(call, MAE_CLASS_GRPC, MAE_GRPC_UNAVAILABLE, "cannot open a stream");
            continue;
        }
        call->state = MAE__CALL_ACTIVE;
        mae__gq_push(&best->calls, &call->link);
        int k = 0;
        while (k < n_touched && touched[k] != best) k++;
        if (k == n_touched && n_touched < MAE__GRPC_MAX_POOL) touched[n_touched++] = best;
    }
    if (!mae__gq_empty(&p->queue) && !p->backoff_active) {
        int live = 0;
        for (mae__gq *q = p->conns.next; q != &p->conns; q = q->next)
            if (MAE__GQ_ITEM(q, mae__gconn, link)->state <= MAE__CONN_READY) live++;
        if (live < p->max_conns) mae__conn_open(p);
    }
    for (int i = 0; i < n_touched; i++) mae__conn_flush(touched[i]);
}

/* [grpc://|grpcs://]host:port; *tls is set for grpcs://, *rest to host:port. */
static int parse_endpoint(const char *ep, char **host, int *port, bool *tls, const char **rest) {
    const char *colon, *h;
    size_t hlen;
    if (!ep || !*ep) return MAE_EINVAL;
    *tls = strncmp(ep, "grpcs://", 8) == 0;
    if (*tls) ep += 8;
    else if (strncmp(ep, "grpc://", 7) == 0) ep += 7;
    *rest = h = ep;
    if (*ep == '[') {
        const char *close = strchr(ep, ']');
        if (!close || close[1] != ':') return MAE_EINVAL;
        h = ep + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(ep, ':');
        if (!colon) return MAE_EINVAL;
        hlen = (size_t)(colon - ep);
    }
    char *end;
    long v = strtol(colon + 1, &end, 10);
    if (hlen == 0 || *end || end == colon + 1 || v < 1 || v > 65535) return MAE_EINVAL;
    *host = strndup(h, hlen);
    *port = (int)v;
    return *host ? 0 : MAE_ENOMEM;
}

/* Two services share a pool's connections only when endpoint, TLS and keepalive settings
 * agree; an unset file and an empty one are the same. */
static void tls_files(const mae_svc_cfg *svc, const char *f[4]) {
    f[0] = svc->tls.ca_file;
    f[1] = svc->tls.cert_file;
    f[2] = svc->tls.key_file;
    f[3] = svc->tls.server_name;
}

static bool pool_matches(const mae__gpool *p, const mae_svc_cfg *svc) {
    const char *f[4];
    if (strcmp(p->endpoint, svc->endpoint) != 0 || p->key_tls != svc->tls.enabled ||
        p->key_insecure != svc->tls.insecure_skip_verify || p->key_ka_ms != svc->keepalive_ms ||
        p->key_ka_timeout_ms != svc->keepalive_timeout_ms)
        return false;
    tls_files(svc, f);
    for (size_t i = 0; i < 4; i++)
        if (strcmp(p->key_files[i] ? p->key_files[i] : "", f[i] ? f[i] : "") != 0) return false;
    return true;
}

static int pool_key_set(mae__gpool *p, const mae_svc_cfg *svc) {
    const char *f[4];
    p->key_tls = svc->tls.enabled;
    p->key_insecure = svc->tls.insecure_skip_verify;
    p->key_ka_ms = svc->keepalive_ms;
    p->key_ka_timeout_ms = svc->keepalive_timeout_ms;
    tls_files(svc, f);
    for (size_t i = 0; i < 4; i++)
        if (f[i] && !(p->key_files[i] = strdup(f[i]))) return MAE_ENOMEM;
    return 0;
}

/* grpcs: the pool's TLS context, built once; an unusable file is kept as the reason every
 * connect of the pool fails with. */
static int pool_tls(mae__gpool *p, const mae_svc_cfg *svc) {
    p->tls_name = strdup(svc->tls.server_name ? svc->tls.server_name : p->host);
    p->tls_client_cert = svc->tls.cert_file != NULL;
    if (!p->tls_name) return MAE_ENOMEM;
    char err[400], msg[460];
    int rc = mae__tls_ctx_new(&svc->tls, err, sizeof err, &p->tls_ctx);
    if (rc == MAE_ENOMEM) return rc;
    if (rc < 0) {
        snprintf(msg, sizeof msg, "connect to %s: %s", p->authority, err);
        if (!(p->tls_err = strdup(msg))) return MAE_ENOMEM;
    }
    return 0;
}

int mae__pool_get(mae__gtransport *t, const mae_svc_cfg *svc, mae__gpool **out) {
    int want = svc->pool_connections > 0 ? svc->pool_connections : 5;
    if (want > MAE__GRPC_MAX_POOL) want = MAE__GRPC_MAX_POOL;
    if (!svc->endpoint) return MAE_EINVAL;
    for (mae__gq *q = t->pools.next; q != &t->pools; q = q->next) {
        mae__gpool *p = MAE__GQ_ITEM(q, mae__gpool, link);
        if (pool_matches(p, svc)) {
            if (want > p->max_conns) p->max_conns = want;
            *out = p;
            return 0;
        }
    }
    mae__gpool *p = calloc(1, sizeof *p);
    if (!p) return MAE_ENOMEM;
    const char *hostport;
    int rc = pool_key_set(p, svc);
    if (rc == 0) rc = parse_endpoint(svc->endpoint, &p->host, &p->port, &p->tls, &hostport);
    if (rc < 0) {
        pool_free(p);
        return rc;
    }
    p->tls = p->tls || svc->tls.enabled;
    p->ka_ms = svc->keepalive_ms;
    p->ka_timeout_ms = svc->keepalive_timeout_ms ? svc->keepalive_timeout_ms : 20000;
    p->endpoint = strdup(svc->endpoint);
    p->authority = strdup(hostport);
    if (!p->endpoint || !p->authority) {
        pool_free(p);
        return MAE_ENOMEM;
    }
    if (p->tls && (rc = pool_tls(p, svc)) < 0) {
        pool_free(p);
        return rc;
    }
    p->t = t;
    p->max_conns = want;
    mae__gq_init(&p->conns);
    mae__gq_init(&p->queue);
    uv_timer_init(t->loop, &p->backoff);
    p->backoff.data = p;
    t->n_handles++;
    mae__gq_push(&t->pools, &p->link);
    *out = p;
    return 0;
}

/* ---- The vtable ---- */

/* Starts a call: with codec, the request it encodes on the codec's path; with sx (taken, freed on
 * failure) a stream on spath with nothing queued to send yet. */
int mae__gcall_start(mae__gtransport *t, const mae_call_req *req, const mae_grpc_codec *codec,
                    const char *spath, mae__gstream *sx, mae_call_cb cb, void *ud,
                    mae_call **out) {
    if (t->closing) {
        free(sx);
        return MAE_ESTATE;
    }
    mae__gpool *p;
    int rc = mae__pool_get(t, req->service, &p);
    mae_call *c = rc < 0 ? NULL : calloc(1, sizeof *c);
    if (!c) {
        free(sx);
        return rc < 0 ? rc : MAE_ENOMEM;
    }
    c->t = t;
    c->pool = p;
    c->cb = cb;
    c->ud = ud;
    c->codec = codec;
    c->sx = sx;
    c->res.retry_after_ms = -1;
    mae__gq_init(&c->link);
    mae__gq_init(&c->dl_link);
    mae__grpc_resp_init(&c->resp);
    uint64_t max = req->service->max_response ? req->service->max_response
                                              : MAE_GRPC_DEFAULT_MAX_MSG;
    mae__grpc_deframer_init(&c->df, max > UINT32_MAX ? UINT32_MAX : (size_t)max);
    uint64_t timeout = req->timeout_ms ? req->timeout_ms : req->service->timeout_ms;
    if (timeout) c->deadline = uv_now(t->loop) + timeout;
    char path[512];
    size_t len = 0;
    bool compressed = false;
    if (sx) {
        rc = strlen(spath) < sizeof path ? 0 : MAE_ETOOBIG;
        if (rc == 0) memcpy(path, spath, strlen(spath) + 1);
    } else {
        rc = c->codec->path(c->codec, req, path, sizeof path);
        if (rc == 0) rc = c->codec->encode(c->codec, req, &c->body, &len);
        if (rc == 0 && len > UINT32_MAX) rc = MAE_ETOOBIG;
        if (rc == 0 && req->service->compression) {
            /* The message after the 5-byte prefix, compressed into a new body with the same room. */
            uint8_t *z;
            size_t zlen;
            mae_grpc_encoding enc = mae__grpc_encoding_parse(
                (const uint8_t *)req->service->compression, strlen(req->service->compression));
            rc = mae__grpc_deflate(enc, c->body + 5, len, 5, &z, &zlen);
            if (rc == 0) {
                free(c->body);
                c->body = z;
                len = zlen - 5;
                compressed = true;
            }
        }
    }
    if (rc == 0) rc = mae__grpc_headers_pack(c, req, path);
    if (rc < 0) {
        call_release(c);
        free(c->sx);   /* the codec stays the caller's when the start fails */
        free(c);
        return rc;
    }
    if (!sx) {
        mae__grpc_frame_prefix(c->body, compressed, (uint32_t)len);
        c->body_len = len + 5;
    }
    t->n_calls++;
    if (timeout && !req->caller_deadline) timed_add(t, c);
    c->state = MAE__CALL_QUEUED;
    mae__gq_push(&p->queue, &c->link);
    *out = c;
    mae__pool_dispatch(p);
    return 0;
}

int mae__grpc_call_start(mae_transport *pub, const mae_call_req *req, const mae_grpc_codec *codec,
                         mae_call_cb cb, void *ud, mae_call **out) {
    if (!req || !req->service || !mae__grpc_target_method(req->target) || !cb || !codec)
        return MAE_EINVAL;
    return mae__gcall_start(T(pub), req, codec, NULL, NULL, cb, ud, out);
}

/* A call that fails before anything is sent (a typed input that does not fit its message): its
 * result is delivered like any other, from a later loop iteration. */
static int fail_later(mae__gtransport *t, mae_call_cb cb, void *ud, mae_class cls, const char *msg,
                      mae_call **out) {
    if (t->closing) return MAE_ESTATE;
    mae_call *c = calloc(1, sizeof *c);
    if (!c) return MAE_ENOMEM;
    c->t = t;
    c->cb = cb;
    c->ud = ud;
    c->codec = &mae__grpc_envelope_codec;
    c->res.retry_after_ms = -1;
    mae__gq_init(&c->link);
    mae__gq_init(&c->dl_link);
    mae__grpc_resp_init(&c->resp);
    mae__grpc_deframer_init(&c->df, MAE_GRPC_DEFAULT_MAX_MSG);
    t->n_calls++;
    c->state = MAE__CALL_QUEUED;
    *out = c;
    mae__call_finish(c, cls, 0, msg);
    return 0;
}

/* The codec: the envelope, or for a service with descriptors the typed method the target names
 * (grpc_typed.h), owned by the call from here on. */
static int t_start(mae_transport *pub, const mae_call_req *req, mae_call_cb cb, void *ud,
                   mae_call **out) {
    if (!req || !req->service || !req->service->typed)
        return mae__grpc_call_start(pub, req, &mae__grpc_envelope_codec, cb, ud, out);
    if (!mae__grpc_target_method(req->target) || !cb) return MAE_EINVAL;
    mae_grpc_codec *tc;
    char err[600];
    /* JSON is bigger than the wire form; 8x max_response (4 MiB: 32 MiB) bounds a reply */
    uint64_t max = req->service->max_response ? req->service->max_response : MAE_GRPC_DEFAULT_MAX_MSG;
    size_t max_out = max > SIZE_MAX / 8 ? SIZE_MAX : (size_t)max * 8;
    int rc = mae__grpc_typed_codec_new(req->service->typed, mae__grpc_target_method(req->target), max_out,
                                       &tc, err, sizeof err);
    if (rc == MAE_ENOMEM) return rc;
    if (rc < 0) return fail_later(T(pub), cb, ud, MAE_CLASS_TEMPLATE, err, out);
    rc = mae__grpc_call_start(pub, req, tc, cb, ud, out);
    if (rc == MAE_ETEMPLATE) {
        snprintf(err, sizeof err, "%s", mae__grpc_typed_error(tc));
        mae__grpc_typed_codec_free(tc);
        return fail_later(T(pub), cb, ud, MAE_CLASS_TEMPLATE, err, out);
    }
    if (rc < 0) mae__grpc_typed_codec_free(tc);
    return rc;
}

static void t_cancel(mae_transport *pub, mae_call *c) {
    if (!c || c->state == MAE__CALL_DONE) return;
    if (c->sx && c->sx->delivering) {
        c->sx->cancel_pending = true;  /* the stream's message callback is on the stack */
        return;
    }
    if (c->state == MAE__CALL_ACTIVE) mae__conn_reset_call(c->conn, c);
    mae__call_finish(c, MAE_CLASS_CANCELLED, 0, "cancelled");
}

static void t_close(mae_transport *pub, void (*done)(void *ud), void *ud) {
    mae__gtransport *t = T(pub);
    if (t->closing) return;
    /* What was queued this tick (an RST_STREAM for a cancelled call) still goes out. */
    while (!mae__gq_empty(&t->dirty))
        mae__conn_flush_now(MAE__GQ_ITEM(t->dirty.next, mae__gconn, dirty_link));
    uv_prepare_stop(&t->flusher);
    uv_close((uv_handle_t *)&t->flusher, on_handle_closed);
    t->closing = true;
    t->done = done;
    t->done_ud = ud;
    for (mae__gq *q = t->pools.next; q != &t->pools; q = q->next) {
        mae__gpool *p = MAE__GQ_ITEM(q, mae__gpool, link);
        while (!mae__gq_empty(&p->queue))
            mae__call_finish(MAE__GQ_ITEM(p->queue.next, mae_call, link), MAE_CLASS_CANCELLED, 0,
                             "transport closed");
        while (!mae__gq_empty(&p->conns)) {
            mae__gconn *c = MAE__GQ_ITEM(p->conns.next, mae__gconn, link);
            mae__conn_fail(c, MAE_CLASS_CANCELLED, 0, "transport closed");
        }
        uv_timer_stop(&p->backoff);
        uv_close((uv_handle_t *)&p->backoff, on_backoff_closed);
    }
    /* Our own handle guarantees done() runs from a later callback, never from here. */
    uv_close((uv_handle_t *)&t->keepalive, on_handle_closed);
    timers_maybe_close(t);
}

void mae__grpc_transport_stats(const mae_transport *pub, mae_grpc_stats *out) {
    const mae__gtransport *t = pub->data;
    *out = (mae_grpc_stats){.socket_writes = t->n_flush_writes};
    for (const mae__gq *q = t->pools.next; q != &t->pools; q = q->next) {
        const mae__gpool *p = MAE__GQ_ITEM(q, mae__gpool, link);
        out->pools++;
        for (const mae__gq *c = p->conns.next; c != &p->conns; c = c->next) out->connections++;
    }
}

void mae__grpc_transport_set_handshake_timeout(mae_transport *pub, uint64_t ms) {
    T(pub)->handshake_ms = ms ? ms : 1;
}

static const mae_transport_vtbl grpc_vt = {
    .name = "grpc",
    .start = t_start,
    .cancel = t_cancel,
    .close = t_close,
};

int mae_grpc_transport_new(uv_loop_t *loop, mae_transport **out) {
    mae__gtransport *t = calloc(1, sizeof *t);
    if (!t) return MAE_ENOMEM;
    t->pub.vt = &grpc_vt;
    t->pub.data = t;
    t->loop = loop;
    mae__gq_init(&t->pools);
    mae__gq_init(&t->dirty);
    uv_timer_init(loop, &t->keepalive);
    t->keepalive.data = t;
    uv_prepare_init(loop, &t->flusher);
    t->flusher.data = t;
    uv_timer_init(loop, &t->deliver);
    t->deliver.data = t;
    uv_timer_init(loop, &t->deadlines);
    t->deadlines.data = t;
    mae__gq_init(&t->delivering);
    mae__gq_init(&t->timed);
    t->n_handles = 4;
    t->handshake_ms = MAE__GRPC_HANDSHAKE_MS;
    *out = &t->pub;
    return 0;
}
