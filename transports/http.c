/* The HTTP transport (see http.h): call lifecycle, per-service pools, results. Building the
 * curl easy handle from a request lives in http_req.c; pure helpers in http_util.c.
 *
 * Lifecycle of a call: start() configures an easy handle and adds it to the service's multi
 * handle (or, when the request is refused before sending, queues a failure). A finished
 * transfer is turned into a result and delivered from the curl glue's drain (already a later
 * loop iteration). cancel() removes the easy handle at once and queues the CANCELLED result;
 * queued results are delivered from the `defer` timer at 0 ms, so never from inside start()
 * or cancel(). A call is freed right after its callback returns. */
#include "transports/http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maestro/maestro.h"
#include "transports/curl_uv.h"
#include "transports/http_int.h"
#include "transports/http_target.h"
#include "transports/http_util.h"
#include "transports/errmap.h"

static void pool_done(mae_curl_uv *cu, CURL *easy, CURLcode rc);

static mae_http *http_of(mae_transport *t) { return t->data; }

static bool str_eq(const char *a, const char *b) {
    return a == b || (a && b && strcmp(a, b) == 0);
}

static void pool_free_strings(http_pool *p) {
    free(p->name);
    free(p->endpoint);
    free(p->ca_file);
    free(p->cert_file);
    free(p->key_file);
}

static bool dup_opt(const char *s, char **out) {
    *out = s ? strdup(s) : NULL;
    return !s || *out;
}

/* Any of the variables libcurl reads for a proxy (lower case first, as curl does; only
 * http_proxy has no upper-case form in curl, HTTP_PROXY is checked anyway). */
static bool env_proxy(void) {
    static const char *const names[] = {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                                        "all_proxy", "ALL_PROXY"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = getenv(names[i]);
        if (v && *v) return true;
    }
    return false;
}

http_pool *mae__http_pool_get(mae_http *h, const mae_svc_cfg *svc) {
    int conns = svc->pool_connections > 0 ? svc->pool_connections : 5;
    for (http_pool *p = h->pools; p; p = p->next)
        if (p->conns == conns && p->insecure == svc->tls.insecure_skip_verify && str_eq(p->name, svc->name) &&
            str_eq(p->endpoint, svc->endpoint) && str_eq(p->ca_file, svc->tls.ca_file) &&
            str_eq(p->cert_file, svc->tls.cert_file) && str_eq(p->key_file, svc->tls.key_file))
            return p;
    http_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    if (!dup_opt(svc->name, &p->name) || !dup_opt(svc->endpoint, &p->endpoint) ||
        !dup_opt(svc->tls.ca_file, &p->ca_file) || !dup_opt(svc->tls.cert_file, &p->cert_file) ||
        !dup_opt(svc->tls.key_file, &p->key_file)) {
        pool_free_strings(p);
        free(p);
        return NULL;
    }
    p->insecure = svc->tls.insecure_skip_verify;
    p->env_proxy = env_proxy();
    p->h = h;
    p->conns = conns;
    p->max_active = conns * (strncmp(p->endpoint, "https://", 8) == 0 ? MAE_HTTP_ACTIVE_PER_CONN
                                                                      : MAE_HTTP_ACTIVE_PER_CONN_H1);
    p->cu.data = p;
    if (mae__curl_uv_init(&p->cu, h->loop, &h->curl, pool_done) != 0) {
        pool_free_strings(p);
        free(p);
        return NULL;
    }
    /* One multi per service: these limits are the service's pool.connections. HTTP/2 streams
     * share a connection; requests past max_active wait in our queue, not in curl's. */
    CURLM *m = p->cu.multi;
    if (h->curl.multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)conns) != CURLM_OK ||
        h->curl.multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)conns) != CURLM_OK ||
        h->curl.multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)conns) != CURLM_OK ||
        h->curl.multi_setopt(m, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX) != CURLM_OK) {
        /* Nothing was added: closing frees it through the normal path. */
        p->next = h->pools;
        h->pools = p;
        h->n_pools++;
        return NULL;
    }
    p->next = h->pools;
    h->pools = p;
    h->n_pools++;
    return p;
}

static void call_link(mae_http *h, mae_call *c) {
    c->next = h->calls;
    c->prev = NULL;
    if (h->calls) h->calls->prev = c;
    h->calls = c;
}

static void call_unlink(mae_http *h, mae_call *c) {
    if (c->prev) c->prev->next = c->next;
    else h->calls = c->next;
    if (c->next) c->next->prev = c->prev;
    c->next = c->prev = NULL;
}

/* The easy handle is in no multi handle here. It is kept for the pool's next call when there
 * is room; connections stay in the multi handle's cache. With easy_reuse it keeps its options:
 * the next call sets every option a call may set (mae__http_call_easy), the pointers into this
 * call are cleared now, and `began` keeps the last transfer's info from being read as the next
 * call's. Otherwise curl_easy_reset drops every option and the last transfer's info. */
static void easy_release(mae_call *c) {
    http_pool *p = c->pool;
    mae_http *h = c->h;
    http_easy *ez = c->ez;
    ez->call = NULL;
    if (p && !h->shutting_down && p->n_spare < MAE_HTTP_SPARE_MAX &&
        (h->easy_reuse ? mae__http_easy_unbind(h, ez) == 0 : (h->curl.easy_reset(ez->easy), true))) {
        p->spare[p->n_spare++] = ez;
    } else {
        mae__http_easy_free(h, ez);
    }
    c->ez = NULL;
}

static void call_free(mae_call *c) {
    if (c->ez) easy_release(c);
    if (c->hdrs) c->h->curl.slist_free_all(c->hdrs);
    free(c->url);
    free(c->body);
    free(c->msg);
    mae__hbuf_free(&c->resp);
    if (c->res.output) cJSON_Delete(c->res.output);
    free(c);
}

/* Hands the result to the owner and frees the call. The output becomes the callback's. */
static void call_deliver(mae_call *c) {
    mae_http *h = c->h;
    call_unlink(h, c);
    /* The result is final: a cancel() from inside the callback is a no-op. */
    c->queued = true;
    c->res.message = c->res.cls == MAE_CLASS_NONE ? NULL : (c->msg ? c->msg : "error");
    cJSON *out = c->res.output;
    c->res.output = NULL;
    mae_call_result res = c->res;
    res.output = out;
    c->cb(&res, c->ud);
    call_free(c);
}

void mae__http_call_set_msg(mae_call *c, const char *fmt, const char *arg) {
    free(c->msg);
    int n = snprintf(NULL, 0, fmt, arg);
    c->msg = malloc((size_t)n + 1);
    if (c->msg) snprintf(c->msg, (size_t)n + 1, fmt, arg);
}

static void on_defer(uv_timer_t *t);
static bool easy_sent(const mae_call *c);

static void on_deadlines(uv_timer_t *t);

/* Arms the deadline timer for `when` (uv_hrtime() ns) unless it already fires sooner. */
static void deadlines_arm(mae_http *h, uint64_t when) {
    if (h->closing || (h->armed_ns && h->armed_ns <= when)) return;
    uint64_t now = uv_hrtime();
    /* Rounded up; uv's cached clock may still fire it a little early: on_deadlines checks
     * against uv_hrtime() and re-arms, so no call ever fails before its deadline. */
    uint64_t ms = when > now ? (when - now + 999999) / 1000000 : 0;
    h->armed_ns = when;
    if (uv_timer_start(&h->deadlines, on_deadlines, ms, 0) != 0) h->glue_errors++;
}

static void wait_unlink(mae_call *c) {
    http_pool *p = c->pool;
    if (c->wprev) c->wprev->wnext = c->wnext;
    else p->wait_head = c->wnext;
    if (c->wnext) c->wnext->wprev = c->wprev;
    else p->wait_tail = c->wprev;
    c->wnext = c->wprev = NULL;
    c->waiting = false;
    p->n_wait--;
}

static void call_queue(mae_call *c);

static void call_left_multi(mae_call *c);
static void call_timed_out(mae_call *c);

/* Lets waiting calls into curl while the pool has room (never while closing). A call that
 * has less than MAE_HTTP_DEADLINE_SLACK_NS of its attempt left fails as a timeout instead:
 * curl could not connect and answer in that time, and the slot goes to the next call. */
static void pool_pump(http_pool *p) {
    mae_http *h = p->h;
    uint64_t now = 0;
    while (!h->closing && p->n_active < p->max_active && p->wait_head) {
        mae_call *c = p->wait_head;
        wait_unlink(c);
        if (c->deadline_ns) {
            if (!now) now = uv_hrtime();
            if (c->deadline_ns < now + MAE_HTTP_DEADLINE_SLACK_NS) {
                call_left_multi(c);
                call_timed_out(c);
                continue;
            }
        }
        if (mae__http_call_easy(c) != 0 || mae__curl_uv_add(&p->cu, c->ez->easy) != 0) {
            c->in_multi = false;
            h->n_in_multi--;
            h->glue_errors++;
            c->res.cls = MAE_CLASS_INTERNAL;
            mae__http_call_set_msg(c, "%s", "the transfer could not be set up (out of memory?)");
            call_queue(c);
            continue;
        }
        if (++p->n_active > h->max_in_curl) h->max_in_curl = p->n_active;
    }
}

/* A new call: into curl when its pool has room, else it waits its turn (still watched by the
 * deadline timer). Returns 0 or a negative MAE_E*. */
static int call_enter(mae_call *c) {
    http_pool *p = c->pool;
    mae_http *h = c->h;
    if (p->n_active < p->max_active && !p->wait_head) {
        int rc = mae__http_call_easy(c);
        if (rc) return rc;
        if (mae__curl_uv_add(&p->cu, c->ez->easy) != 0) return MAE_EINTERNAL;
        if (++p->n_active > h->max_in_curl) h->max_in_curl = p->n_active;
    } else {
        c->waiting = true;
        c->wprev = p->wait_tail;
        c->wnext = NULL;
        if (p->wait_tail) p->wait_tail->wnext = c;
        else p->wait_head = c;
        p->wait_tail = c;
        p->n_wait++;
    }
    c->in_multi = true;
    h->n_in_multi++;
    return 0;
}

/* Takes a call out of curl (or out of the waiting line): 0, or MAE_EINTERNAL from curl. */
static int call_leave(mae_call *c) {
    if (c->waiting) {
        wait_unlink(c);
        return 0;
    }
    c->pool->n_active--;
    return mae__curl_uv_remove(&c->pool->cu, c->ez->easy);
}

/* A call left its multi handle: with none left, the deadline timer has nothing to watch. */
static void call_left_multi(mae_call *c) {
    mae_http *h = c->h;
    c->in_multi = false;
    /* its handle is free for the next call let in (results were read from it already) */
    if (c->ez) easy_release(c);
    /* room for a waiting call: let it in from the defer timer, after the results queued by
     * then were delivered (a run cancelling its calls empties the line first) */
    if (c->pool->wait_head) {
        h->pump_pending = true;
        if (uv_timer_start(&h->defer, on_defer, 0, 0) != 0) h->glue_errors++;
    }
    if (--h->n_in_multi == 0) {
        h->armed_ns = 0;
        if (uv_timer_stop(&h->deadlines) != 0) h->glue_errors++;
    }
}

/* Fails every call past its deadline that curl has not ended, then re-arms. Runs from the
 * loop, never inside curl; results go through the delivery queue. */
static void on_deadlines(uv_timer_t *t) {
    mae_http *h = t->data;
    uint64_t now = uv_hrtime(), next = 0;
    h->armed_ns = 0;
    for (mae_call *c = h->calls; c; c = c->next) {
        if (!c->in_multi || !c->deadline_ns) continue;
        if (c->deadline_ns > now) {
            if (!next || c->deadline_ns < next) next = c->deadline_ns;
            continue;
        }
        c->res.sent = !c->waiting && easy_sent(c);
        if (call_leave(c) != 0) h->glue_errors++;
        call_left_multi(c);
        call_timed_out(c);
    }
    if (next) deadlines_arm(h, next);
}

/* The attempt's deadline passed (c->res.sent already set): queues the TIMEOUT result. */
static void call_timed_out(mae_call *c) {
    c->res.cls = MAE_CLASS_TIMEOUT;
    char m[96];
    snprintf(m, sizeof m, "timed out after %llu ms%s", (unsigned long long)c->timeout_ms,
             c->res.sent ? "" : " waiting for a connection");
    mae__http_call_set_msg(c, "%s", m);
    call_queue(c);
}

/* Queues a finished call for delivery from the defer timer (a later loop iteration). */
static void call_queue(mae_call *c) {
    mae_http *h = c->h;
    c->queued = true;
    c->qnext = NULL;
    if (h->q_tail) h->q_tail->qnext = c;
    else h->q_head = c;
    h->q_tail = c;
    if (uv_timer_start(&h->defer, on_defer, 0, 0) != 0) h->glue_errors++;
}

/* May the request have reached the service? Yes once a connection was made or bytes sent. */
static bool easy_sent(const mae_call *c) {
    /* a kept handle's info is the previous call's until curl begins this transfer */
    if (c->h->easy_reuse && !c->began) return false;
    curl_off_t t_conn = 0, t_pre = 0;
    long req_size = 0, code = 0;
    const mae__curl_api *api = &c->h->curl;
    /* a status line came back (every answered call): no need to look further */
    api->easy_getinfo(c->ez->easy, CURLINFO_RESPONSE_CODE, &code);
    if (code > 0) return true;
    api->easy_getinfo(c->ez->easy, CURLINFO_CONNECT_TIME_T, &t_conn);
    api->easy_getinfo(c->ez->easy, CURLINFO_PRETRANSFER_TIME_T, &t_pre);
    api->easy_getinfo(c->ez->easy, CURLINFO_REQUEST_SIZE, &req_size);
    return t_conn > 0 || t_pre > 0 || req_size > 0;
}

static void result_from_response(mae_call *c) {
    long code = 0;
    mae_call_result *r = &c->res;
    c->h->curl.easy_getinfo(c->ez->easy, CURLINFO_RESPONSE_CODE, &code);
    r->status = (int)code;
    if (c->retry_after[0]) r->retry_after_ms = mae__http_retry_after_ms(c->retry_after, time(NULL),
                                                                        c->h->curl.getdate);
    const char *body = c->resp.p ? c->resp.p : "";
    if (code >= 200 && code < 300) {
        const char *why = NULL;
        int rc = mae__http_body_to_output(body, c->resp.len, c->json_declared, &r->output, &why);
        if (rc == MAE_EPARSE) {
            /* the service answered (it may have acted): sent, permanent, with an excerpt */
            char ex[MAE_HTTP_EXCERPT_MAX + 4], m[MAE_HTTP_EXCERPT_MAX + 160];
            mae__http_excerpt(body, c->resp.len, ex);
            snprintf(m, sizeof m, "HTTP %ld: %s: %s", code, why, ex);
            r->cls = MAE_CLASS_DECODE;
            mae__http_call_set_msg(c, "%s", m);
        } else if (rc != 0) {
            r->cls = MAE_CLASS_INTERNAL;
            mae__http_call_set_msg(c, "%s", "out of memory decoding the response");
        }
        return;
    }
    r->cls = mae__http_status_class(code);
    char ex[MAE_HTTP_EXCERPT_MAX + 4], head[32];
    /* resp holds at most one byte past the excerpt; received says whether more came. */
    mae__http_excerpt(body, c->received > c->resp.len ? c->received : c->resp.len, ex);
    snprintf(head, sizeof head, "HTTP %ld: ", code);
    size_t n = strlen(head) + strlen(ex) + 1;
    free(c->msg);
    c->msg = malloc(n);
    if (c->msg) snprintf(c->msg, n, "%s%s", head, ex);
}

static void result_from_error(mae_call *c, CURLcode rc) {
    mae_call_result *r = &c->res;
    if (c->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
        char m[96];
        r->cls = MAE_CLASS_DECODE;
        snprintf(m, sizeof m, "response exceeds max_response (%llu bytes)",
                 (unsigned long long)c->max_response);
        mae__http_call_set_msg(c, "%s", m);
        return;
    }
    const char *cerr = c->ez->errbuf[0] ? c->ez->errbuf : c->h->curl.easy_strerror(rc);
    if (c->sock_errno == EMFILE || c->sock_errno == ENFILE) {
        /* our own descriptor limit: nothing was sent, and the service is not to blame */
        char m[160];
        r->cls = MAE_CLASS_INTERNAL;
        r->sent = false;
        snprintf(m, sizeof m, "cannot open a connection: %s (this process's descriptor limit, not the service)",
                 strerror(c->sock_errno));
        mae__http_call_set_msg(c, "%s", m);
        return;
    }
    r->cls = mae__http_curl_class(rc);
    long code = 0;
    c->h->curl.easy_getinfo(c->ez->easy, CURLINFO_RESPONSE_CODE, &code);
    if (r->cls == MAE_CLASS_TEMPLATE && r->sent) {
        /* the request went out and the reply was not HTTP/1.x or 2 (an HTTP/0.9 reply) */
        r->cls = MAE_CLASS_DECODE;
        mae__http_call_set_msg(c, "the reply is not valid HTTP/1.1 or HTTP/2: %s", cerr);
        return;
    }
    if (code > 0 && r->cls == MAE_CLASS_CONNECT) {
        /* a status line arrived, then the connection failed mid-reply: the service has the
         * request and may have acted on it (sent) */
        char m[CURL_ERROR_SIZE + 160];
        snprintf(m, sizeof m, "reply cut short after %llu body bytes (HTTP %ld): the service may have acted: %s",
                 (unsigned long long)c->received, code, cerr);
        r->sent = true;
        mae__http_call_set_msg(c, "%s", m);
        return;
    }
    mae__http_call_set_msg(c, "%s", cerr);
}

/* The glue says a transfer ended (its easy handle is out of the multi already). */
static void pool_done(mae_curl_uv *cu, CURL *easy, CURLcode rc) {
    http_easy *ez = NULL;
    http_pool *cp = cu->data;
    if (cp->h->curl.easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&ez) != CURLE_OK || !ez || !ez->call) return;
    mae_call *c = ez->call;
    http_pool *p = c->pool;
    p->n_active--;
    if (rc != CURLE_OK && (c->sock_errno == EMFILE || c->sock_errno == ENFILE) && p->n_active > 0 &&
        !c->h->closing) {
        /* Our own descriptor limit, and calls of this pool hold descriptors: fewer calls go into
         * curl from now on, and this one waits (first in line, still unsent, deadline kept)
         * for one of them to end. */
        p->max_active = p->n_active;
        easy_release(c);
        c->sock_errno = 0;
        c->received = 0;
        c->too_big = c->json_declared = false;
        c->retry_after[0] = 0;
        mae__hbuf_free(&c->resp);
        c->waiting = true;
        c->wprev = NULL;
        c->wnext = p->wait_head;
        if (p->wait_head) p->wait_head->wprev = c;
        else p->wait_tail = c;
        p->wait_head = c;
        p->n_wait++;
        return;
    }
    c->res.sent = easy_sent(c);
    if (rc == CURLE_OK) result_from_response(c);
    else result_from_error(c, rc);
    call_left_multi(c);
    call_deliver(c);
}

/* Refused before sending: a classified, permanent failure delivered later. */
void mae__http_call_refuse(mae_call *c, const char *fmt, const char *arg) {
    c->res.cls = MAE_CLASS_TEMPLATE;
    c->res.sent = false;
    mae__http_call_set_msg(c, fmt, arg);
}

/* libcurl is loaded and initialised by the first call, not by mae_http_transport_new: a
 * transport that never makes a call (a gRPC-only run) never maps libcurl and its libraries.
 * Returns NULL, or why libcurl cannot be used. */
static const char *curl_start(mae_http *h) {
    if (mae__curl_load(&h->curl, h->curl_err, sizeof h->curl_err) != 0) return h->curl_err;
    if (h->curl.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return "curl_global_init failed";
    h->curl_on = true;
    const curl_version_info_data *v = h->curl.version_info(CURLVERSION_NOW);
    /* CURLOPT_PREREQFUNCTION came with 7.80.0: older curl resets kept handles instead. */
    h->easy_reuse = v && v->version_num >= 0x075000;
    /* curl's own list (Curl_all_content_encodings): its decoders in this order */
    if (v && (v->features & CURL_VERSION_LIBZ)) {
        snprintf(h->accept_enc, sizeof h->accept_enc, "Accept-Encoding: deflate, gzip%s%s",
                 (v->features & CURL_VERSION_BROTLI) ? ", br" : "",
                 (v->features & CURL_VERSION_ZSTD) ? ", zstd" : "");
    }
    return NULL;
}

static int http_start(mae_transport *t, const mae_call_req *req, mae_call_cb cb, void *ud,
                      mae_call **out) {
    mae_http *h = http_of(t);
    if (!req || !cb || !out || !req->service || !req->service->endpoint || !req->target ||
        req->target->type != &mae__http_target_type)
        return MAE_EINVAL;
    if (h->closing) return MAE_ESTATE;
    /* before the call's clock starts: loading libcurl takes milliseconds, once */
    const char *why = h->curl_on ? NULL : curl_start(h);
    mae_call *c = calloc(1, sizeof *c);
    if (!c) return MAE_ENOMEM;
    c->h = h;
    c->started_ns = uv_hrtime();
    c->cb = cb;
    c->ud = ud;
    c->res.retry_after_ms = -1;
    int rc = 0;
    if (why) {
        c->res.cls = MAE_CLASS_INTERNAL;
        mae__http_call_set_msg(c, "%s", why);
    } else {
        rc = mae__http_call_prepare(c, req);
    }
    if (rc < 0) {
        call_free(c);
        return rc;
    }
    if (c->res.cls != MAE_CLASS_NONE) {
        /* Refused before sending: delivered from the loop, never from here. */
        call_link(h, c);
        call_queue(c);
        *out = c;
        return 0;
    }
    if (c->timeout_ms) c->deadline_ns = c->started_ns + c->timeout_ms * 1000000;
    if ((rc = call_enter(c)) != 0) {
        call_free(c);
        return rc;
    }
    call_link(h, c);
    if (c->deadline_ns) deadlines_arm(h, c->deadline_ns);
    *out = c;
    return 0;
}

static void cancel_call(mae_call *c) {
    if (c->queued) return;  /* its result is already on the way */
    if (c->in_multi) {
        c->res.sent = !c->waiting && easy_sent(c);
        if (call_leave(c) != 0) c->h->glue_errors++;
        call_left_multi(c);
    }
    if (c->res.output) cJSON_Delete(c->res.output);
    c->res.output = NULL;
    c->res.cls = MAE_CLASS_CANCELLED;
    c->res.status = 0;
    c->res.retry_after_ms = -1;
    mae__http_call_set_msg(c, "%s", "cancelled");
    call_queue(c);
}

static void http_cancel(mae_transport *t, mae_call *c) {
    if (!c) return;
    cancel_call(c);
}

static void finish_close(mae_http *h) {
    void (*done)(void *) = h->close_done;
    void *ud = h->close_ud;
    bool curl_on = h->curl_on;
    void (*global_cleanup)(void) = h->curl.global_cleanup;
    free(h);
    if (curl_on) global_cleanup();
    if (done) done(ud);
}

static void on_pool_closed(mae_curl_uv *cu) {
    http_pool *p = cu->data;
    mae_http *h = p->h;
    pool_free_strings(p);
    free(p);
    if (--h->pending_closes == 0) finish_close(h);
}

static void on_defer_closed(uv_handle_t *hd) {
    mae_http *h = hd->data;
    if (--h->pending_closes == 0) finish_close(h);
}

static void on_defer(uv_timer_t *t) {
    mae_http *h = t->data;
    for (int n = 0; h->q_head; n++) {
        /* a long line (a run cancelling 100k calls) is delivered over several loop iterations,
         * so the loop still polls in between: a second signal acts at once */
        if (n == MAE_HTTP_DELIVER_BATCH) {
            if (uv_timer_start(&h->defer, on_defer, 0, 0) != 0) h->glue_errors++;
            return;
        }
        mae_call *c = h->q_head;
        h->q_head = c->qnext;
        if (!h->q_head) h->q_tail = NULL;
        call_deliver(c);
    }
    if (h->pump_pending && !h->closing) {
        h->pump_pending = false;
        for (http_pool *p = h->pools; p; p = p->next) pool_pump(p);
    }
    if (!h->closing || h->shutting_down) return;
    /* Every call has had its callback: clean up the multi handles, then close our timers. */
    h->shutting_down = true;
    h->pending_closes = 1;
    for (http_pool *p = h->pools, *next; p; p = next) {
        next = p->next;
        h->glue_errors += p->cu.n_multi_errors;
        while (p->n_spare) mae__http_easy_free(h, p->spare[--p->n_spare]);
        h->pending_closes++;
        mae__curl_uv_close(&p->cu, on_pool_closed);
    }
    h->pools = NULL;
    h->pending_closes++;
    uv_close((uv_handle_t *)&h->deadlines, on_defer_closed);
    uv_close((uv_handle_t *)&h->defer, on_defer_closed);
}

static void http_close(mae_transport *t, void (*done)(void *ud), void *ud) {
    mae_http *h = http_of(t);
    if (h->closing) return;
    h->closing = true;
    h->close_done = done;
    h->close_ud = ud;
    for (mae_call *c = h->calls; c; c = c->next) cancel_call(c);
    /* Shutdown continues from the defer timer, outside whatever called us. */
    if (uv_timer_start(&h->defer, on_defer, 0, 0) != 0) h->glue_errors++;
}

static const mae_transport_vtbl http_vtbl = {
    .name = "http",
    .start = http_start,
    .cancel = http_cancel,
    .close = http_close,
};

int mae_http_transport_new(uv_loop_t *loop, mae_transport **out) {
    *out = NULL;
    mae_http *h = calloc(1, sizeof *h);
    if (!h) return MAE_ENOMEM;
    h->loop = loop;
    h->base.vt = &http_vtbl;
    h->base.data = h;
    if (uv_timer_init(loop, &h->defer) != 0) {
        free(h);
        return MAE_EINTERNAL;
    }
    h->defer.data = h;
    if (uv_timer_init(loop, &h->deadlines) != 0) {
        /* defer is initialised: it must be closed before h can go. */
        h->closing = h->shutting_down = true;
        h->pending_closes = 1;
        uv_close((uv_handle_t *)&h->defer, on_defer_closed);
        return MAE_EINTERNAL;
    }
    h->deadlines.data = h;
    /* Calls keep the loop alive through curl's sockets and timer, not through this one. */
    uv_unref((uv_handle_t *)&h->deadlines);
    *out = &h->base;
    return 0;
}

void mae__http_transport_stats(const mae_transport *t, mae_http_stats *out) {
    const mae_http *h = t->data;
    *out = (mae_http_stats){.pools = h->n_pools, .handles_created = h->easy_created,
                            .internal_errors = h->glue_errors, .body_bytes = h->body_bytes,
                            .max_in_curl = h->max_in_curl};
    for (const http_pool *p = h->pools; p; p = p->next) {
        out->waiting += p->n_wait;
        out->internal_errors += p->cu.n_multi_errors;
        out->poll_errors += p->cu.n_poll_errors;
    }
}
