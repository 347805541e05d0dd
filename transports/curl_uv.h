/* libcurl's multi interface driven by a libuv loop: one uv_poll per socket curl asks us to
 * watch (its context found with curl_multi_assign), one uv_timer for curl's timeout, and
 * curl_multi_info_read drained after every curl_multi_socket_action.
 *
 * What this module must not do: close a socket (curl owns every fd; CURL_POLL_REMOVE only
 * stops and closes our uv_poll), call a curl_multi_* function other than curl_multi_assign
 * from inside a curl callback (such work is deferred to the timer at 0 ms), or block.
 *
 * Ownership: the caller embeds a mae_curl_uv, owns the easy handles it adds, and gets each
 * finished one back through done() after it has been removed from the multi handle. */
#ifndef MAE_CURL_UV_H
#define MAE_CURL_UV_H

#include <stdbool.h>
#include <stddef.h>

#include "transports/curl_dl.h"
#include <uv.h>

typedef struct mae_curl_uv mae_curl_uv;
typedef struct mae_curl_sock mae_curl_sock;

/* A transfer finished (rc from CURLMSG_DONE). easy is no longer in the multi handle. */
typedef void (*mae_curl_uv_done_fn)(mae_curl_uv *cu, CURL *easy, CURLcode rc);
/* Every uv handle of cu is closed and the multi handle cleaned up; cu may be freed. */
typedef void (*mae_curl_uv_closed_fn)(mae_curl_uv *cu);

#define MAE_CURL_UV_MAX_BROKEN 64

struct mae_curl_uv {
    void *data;                  /* the owner's */
    uv_loop_t *loop;
    const mae__curl_api *api;    /* libcurl's functions (borrowed: the owner's table) */
    CURLM *multi;
    uv_timer_t timer;            /* curl's timeout, and deferred work at 0 ms */
    mae_curl_uv_done_fn done;
    mae_curl_uv_closed_fn closed;
    mae_curl_sock *socks;        /* every socket context not yet freed */
    int pending_closes;          /* uv handles whose close callback has not run */
    int running;                 /* transfers curl says are still running */
    bool closing;
    /* Transfers whose socket could not be watched (uv_poll_init failed inside the socket
     * callback): finished from the timer with CURLE_COULDNT_CONNECT. */
    CURL *broken[MAE_CURL_UV_MAX_BROKEN];
    int n_broken;
    /* Counters (summed into mae__http_transport_stats): curl_multi_* calls that failed, polls
     * reporting errors. */
    int n_multi_errors;
    int n_poll_errors;
    int n_socks_live;            /* socket contexts currently watched */
};

/* Creates the multi handle and the timer; api (a loaded table, see curl_dl.h) must outlive cu.
 * Returns 0, MAE_ENOMEM or MAE_EINTERNAL. On failure nothing needs closing. */
int mae__curl_uv_init(mae_curl_uv *cu, uv_loop_t *loop, const mae__curl_api *api,
                      mae_curl_uv_done_fn done);
/* Adds a configured easy handle; curl will be driven from the loop (never synchronously).
 * Returns 0 or MAE_EINTERNAL (curl refused it; the caller still owns it). */
int mae__curl_uv_add(mae_curl_uv *cu, CURL *easy);
/* Removes an easy handle that done() has not reported yet (a cancel). Not to be called from
 * inside a curl callback. Returns 0 or MAE_EINTERNAL. */
int mae__curl_uv_remove(mae_curl_uv *cu, CURL *easy);
/* Every easy handle must have been removed. Cleans up the multi handle, closes every uv handle
 * and calls closed(cu) from the loop once all are closed. */
void mae__curl_uv_close(mae_curl_uv *cu, mae_curl_uv_closed_fn closed);

#endif
