/* libcurl multi on libuv (see curl_uv.h). Differences from curl's multi-uv example, on
 * purpose: poll errors reach curl as CURL_CSELECT_ERR; CURL_POLL_REMOVE stops and closes our
 * uv_poll at once (before curl closes the fd, so a reused fd number can be watched again by a
 * fresh context) and never closes the fd; every curl and uv return code is looked at; no
 * curl_multi_* call other than curl_multi_assign happens inside a curl callback; shutdown
 * cleans up the multi handle before closing the uv handles. */
#include "transports/curl_uv.h"

#include <stdlib.h>

#include "maestro/maestro.h"
#include "transports/errmap.h"

struct mae_curl_sock {
    uv_poll_t poll;              /* poll.data == this */
    mae_curl_uv *cu;
    curl_socket_t fd;
    int events;                  /* what curl asked us to watch */
    bool closing;
    mae_curl_sock *next, *prev;  /* cu->socks */
};

static void sock_unlink_free(mae_curl_sock *s) {
    mae_curl_uv *cu = s->cu;
    if (s->prev) s->prev->next = s->next;
    else cu->socks = s->next;
    if (s->next) s->next->prev = s->prev;
    free(s);
}

static void on_handle_closed(uv_handle_t *h) {
    mae_curl_uv *cu;
    if (h->type == UV_POLL) {
        mae_curl_sock *s = h->data;
        cu = s->cu;
        sock_unlink_free(s);
    } else {
        cu = h->data;
    }
    if (--cu->pending_closes == 0 && cu->closing && cu->closed) cu->closed(cu);
}

static void sock_close(mae_curl_sock *s) {
    if (s->closing) return;
    s->closing = true;
    s->cu->n_socks_live--;
    /* uv_close stops the poll and drops the fd from epoll while curl still has it open. */
    s->cu->pending_closes++;
    uv_close((uv_handle_t *)&s->poll, on_handle_closed);
}

/* Hands every finished transfer to the owner. Runs only outside curl callbacks. */
static void drain(mae_curl_uv *cu) {
    CURLMsg *msg;
    int left;
    while ((msg = cu->api->multi_info_read(cu->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE) continue;
        CURL *easy = msg->easy_handle;
        CURLcode rc = msg->data.result;
        /* msg is invalid after remove_handle: take what we need first. */
        if (cu->api->multi_remove_handle(cu->multi, easy) != CURLM_OK) cu->n_multi_errors++;
        cu->done(cu, easy, rc);
    }
}

static void socket_action(mae_curl_uv *cu, curl_socket_t fd, int flags) {
    CURLMcode mc = cu->api->multi_socket_action(cu->multi, fd, flags, &cu->running);
    if (mc != CURLM_OK) cu->n_multi_errors++;
    drain(cu);
}

static void on_poll(uv_poll_t *p, int status, int events) {
    mae_curl_sock *s = p->data;
    int flags = 0;
    if (status < 0) {
        s->cu->n_poll_errors++;
        flags = CURL_CSELECT_ERR;
    } else {
        if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
    }
    socket_action(s->cu, s->fd, flags);
    /* libuv stops a poll that reported an error. If curl still wants the socket watched
     * (no CURL_POLL_REMOVE came), watch it again so the transfer is not left stranded.
     * s is still valid here: contexts are freed only in their close callback. */
    if (status < 0 && !s->closing && !s->cu->closing && !uv_is_active((uv_handle_t *)p) &&
        uv_poll_start(p, s->events, on_poll) != 0)
        s->cu->n_multi_errors++;
}

/* Finishes transfers whose socket we could not watch, outside any curl callback. */
static void reap_broken(mae_curl_uv *cu) {
    while (cu->n_broken > 0) {
        CURL *easy = cu->broken[--cu->n_broken];
        if (cu->api->multi_remove_handle(cu->multi, easy) != CURLM_OK) cu->n_multi_errors++;
        cu->done(cu, easy, CURLE_COULDNT_CONNECT);
    }
}

static void on_timer(uv_timer_t *t) {
    mae_curl_uv *cu = t->data;
    if (cu->closing) return;
    reap_broken(cu);
    socket_action(cu, CURL_SOCKET_TIMEOUT, 0);
}

static void mark_broken(mae_curl_uv *cu, CURL *easy) {
    for (int i = 0; i < cu->n_broken; i++)
        if (cu->broken[i] == easy) return;
    if (cu->n_broken < MAE_CURL_UV_MAX_BROKEN) cu->broken[cu->n_broken++] = easy;
    /* Else the transfer still ends at its own CURLOPT_TIMEOUT_MS. */
    if (uv_timer_start(&cu->timer, on_timer, 0, 0) != 0) cu->n_multi_errors++;
}

/* CURLMOPT_SOCKETFUNCTION: inside curl. Only uv calls and curl_multi_assign here. */
static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
    mae_curl_uv *cu = userp;
    mae_curl_sock *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        /* curl forgets the association itself; it closes the fd after we return (or keeps
         * it in its connection cache). Either way the fd is not ours to close. */
        if (s) sock_close(s);
        return 0;
    }
    if (cu->closing) return 0;
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s) {
            mark_broken(cu, easy);
            return 0;
        }
        s->cu = cu;
        s->fd = fd;
        if (uv_poll_init_socket(cu->loop, &s->poll, fd) != 0) {
            free(s);
            mark_broken(cu, easy);
            return 0;
        }
        s->poll.data = s;
        s->next = cu->socks;
        if (cu->socks) cu->socks->prev = s;
        cu->socks = s;
        cu->n_socks_live++;
        if (cu->api->multi_assign(cu->multi, fd, s) != CURLM_OK) {
            cu->n_multi_errors++;
            sock_close(s);
            mark_broken(cu, easy);
            return 0;
        }
    }
    int events = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) events |= UV_READABLE;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) events |= UV_WRITABLE;
    s->events = events;
    if (uv_poll_start(&s->poll, events, on_poll) != 0) mark_broken(cu, easy);
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: inside curl. 0 ms means "soon": the uv timer defers it to the loop. */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp) {
    mae_curl_uv *cu = userp;
    if (cu->closing) return 0;
    /* Broken transfers wait for this timer at 0 ms: curl must not push it back or stop it. */
    if (cu->n_broken > 0) timeout_ms = 0;
    if (timeout_ms < 0) return uv_timer_stop(&cu->timer) == 0 ? 0 : -1;
    return uv_timer_start(&cu->timer, on_timer, (uint64_t)timeout_ms, 0) == 0 ? 0 : -1;
}

int mae__curl_uv_init(mae_curl_uv *cu, uv_loop_t *loop, const mae__curl_api *api,
                      mae_curl_uv_done_fn done) {
    void *data = cu->data;
    *cu = (mae_curl_uv){.data = data, .loop = loop, .api = api, .done = done};
    cu->multi = cu->api->multi_init();
    if (!cu->multi) return MAE_ENOMEM;
    if (cu->api->multi_setopt(cu->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket) != CURLM_OK ||
        cu->api->multi_setopt(cu->multi, CURLMOPT_SOCKETDATA, cu) != CURLM_OK ||
        cu->api->multi_setopt(cu->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer) != CURLM_OK ||
        cu->api->multi_setopt(cu->multi, CURLMOPT_TIMERDATA, cu) != CURLM_OK) {
        cu->api->multi_cleanup(cu->multi);
        return MAE_EINTERNAL;
    }
    if (uv_timer_init(loop, &cu->timer) != 0) {
        cu->api->multi_cleanup(cu->multi);
        return MAE_EINTERNAL;
    }
    cu->timer.data = cu;
    return 0;
}

int mae__curl_uv_add(mae_curl_uv *cu, CURL *easy) {
    if (cu->closing) return MAE_ESTATE;
    /* add_handle arms the timer through on_curl_timer; the transfer starts from the loop. */
    return mae__err_from_curlm(cu->api->multi_add_handle(cu->multi, easy));
}

int mae__curl_uv_remove(mae_curl_uv *cu, CURL *easy) {
    for (int i = 0; i < cu->n_broken; i++)
        if (cu->broken[i] == easy) cu->broken[i] = cu->broken[--cu->n_broken];
    int rc = mae__err_from_curlm(cu->api->multi_remove_handle(cu->multi, easy));
    if (rc) cu->n_multi_errors++;
    return rc;
}

void mae__curl_uv_close(mae_curl_uv *cu, mae_curl_uv_closed_fn closed) {
    if (cu->closing) return;
    cu->closed = closed;
    if (uv_timer_stop(&cu->timer) != 0) cu->n_multi_errors++;
    /* Cleanup may still report CURL_POLL_REMOVE for cached connections; on_curl_socket
     * closes those polls. closing makes both callbacks do nothing else. */
    cu->closing = true;
    if (cu->api->multi_cleanup(cu->multi) != CURLM_OK) cu->n_multi_errors++;
    cu->multi = NULL;
    cu->n_broken = 0;
    for (mae_curl_sock *s = cu->socks; s; s = s->next) sock_close(s);
    cu->pending_closes++;
    uv_close((uv_handle_t *)&cu->timer, on_handle_closed);
}
