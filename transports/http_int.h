/* Internals shared by http.c (lifecycle) and http_req.c (building the request). Not a public
 * header: only the HTTP transport's own files include it. */
#ifndef MAE_HTTP_INT_H
#define MAE_HTTP_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "transports/curl_dl.h"
#include <uv.h>

#include "transports/curl_uv.h"
#include "transports/http_util.h"
#include "transports/transport.h"

/* A waiting call with less than this left before its deadline is failed as a timeout rather
 * than handed to curl (2 ms). */
#define MAE_HTTP_DEADLINE_SLACK_NS 2000000ull

/* Results delivered per pass of the defer timer (one loop iteration). */
#define MAE_HTTP_DELIVER_BATCH 1024

typedef struct mae_http mae_http;
typedef struct http_pool http_pool;

/* A curl easy handle and what its callbacks and CURLOPT_PRIVATE point at (this), set once when
 * the handle is made: a call only says whose turn it is. Kept in its pool's spare list between
 * calls; freed with the handle. */
typedef struct http_easy {
    CURL *easy;
    mae_call *call;              /* the call using the handle, NULL while it is spare */
    char errbuf[CURL_ERROR_SIZE];  /* CURLOPT_ERRORBUFFER, cleared for each call */
} http_easy;

/* Easy handles kept per pool for reuse (curl_easy_init and the first setup of a handle cost
 * more than reusing one): a finished call's handle is kept, up to this many. With curl >= 7.80
 * it keeps the pool's fixed options and each call sets only its own (mae_http.easy_reuse);
 * older curl resets it (curl_easy_reset) and every option is set again. */
#define MAE_HTTP_SPARE_MAX 64

/* One service's connections: its own multi handle, so its limits are its own. Keyed by value
 * on the service's name, endpoint, pool size and TLS files (owned copies): nothing points
 * into a workflow or into the caller's configuration. */
struct http_pool {
    mae_curl_uv cu;              /* cu.data == this */
    http_easy *spare[MAE_HTTP_SPARE_MAX];  /* finished handles, in no multi, owned by the pool */
    int n_spare;
    mae_http *h;
    char *name, *endpoint;       /* owned copies: the key */
    char *ca_file, *cert_file, *key_file;  /* owned copies (NULL = none): the key */
    bool insecure;
    /* A proxy variable was set when the pool was made: curl looks the proxy up for each
     * transfer. When none is, every transfer sets "no proxy" itself, and curl's six getenv calls
     * (and the string copies around them) per transfer are skipped. */
    bool env_proxy;
    int conns;
    /* At most max_active easy handles are in the multi handle at once (curl's own lists grow
     * with it, and some of its calls walk them); further calls wait here in start order. */
    int n_active, max_active;
    mae_call *wait_head, *wait_tail;
    int n_wait;
    http_pool *next;
};


struct mae_http {
    mae_transport base;          /* base.data == this */
    uv_loop_t *loop;
    http_pool *pools;
    int n_pools;
    mae_call *calls;             /* every call not yet delivered */
    mae_call *q_head, *q_tail;   /* finished, waiting for the defer timer */
    uv_timer_t defer;            /* delivers queued results; drives shutdown */
    /* Attempt deadlines: the only timeout of a call, in curl or waiting for room (curl is
     * given no CURLOPT_TIMEOUT_MS: one timer for all calls instead of one per transfer; curl
     * 7.88 also checked none while a transfer waited for a connection past the pool limit).
     * Armed for the earliest deadline of any call in a multi handle (armed_ns, 0 = not armed). */
    uv_timer_t deadlines;
    uint64_t armed_ns;
    int n_in_multi;              /* calls with a deadline to watch: in a multi or waiting */
    int max_in_curl;             /* high-water mark of a pool's n_active */
    bool closing, shutting_down;
    bool curl_on;                /* libcurl loaded and curl_global_init done (by the first call) */
    /* curl >= 7.80 (CURLOPT_PREREQFUNCTION): spare handles keep their options, no reset. */
    bool easy_reuse;
    /* The line curl would send for CURLOPT_ACCEPT_ENCODING "" (from its features), sent as
     * one of our headers: curl then skips formatting its own (an aprintf) for every request.
     * "" when curl has no zlib: then curl's own line is sent. */
    char accept_enc[64];
    mae__curl_api curl;          /* libcurl's functions, once curl_on */
    char curl_err[256];          /* why libcurl could not be loaded */
    bool pump_pending;           /* a pool has room and calls waiting: on_defer lets them in */
    int pending_closes;
    /* counters of mae__http_transport_stats */
    int glue_errors;             /* libuv/curl-multi calls that failed in this file */
    int easy_created;            /* curl_easy_init calls */
    uint64_t body_bytes;         /* response body bytes received */
    void (*close_done)(void *ud);
    void *close_ud;
};

struct mae_call {
    mae_http *h;
    http_pool *pool;
    http_easy *ez;               /* ez->call == this while the call holds it */
    struct curl_slist *hdrs;
    char *url, *body;            /* owned: curl only borrows them */
    size_t body_len;
    mae_call_cb cb;
    void *ud;
    mae_hbuf resp;               /* the body, capped at max_response */
    uint64_t max_response;
    uint64_t timeout_ms;
    uint64_t started_ns, deadline_ns;  /* on uv_hrtime()'s clock; deadline 0 = none */
    uint64_t received;           /* body bytes seen, stored or not */
    char retry_after[64];        /* the last response's Retry-After value, "" = none */
    bool too_big, in_multi, queued;
    /* curl began this call's transfer (opened its socket or is about to send the request):
     * until then a reused handle's transfer info is still the previous call's. */
    bool began;
    bool waiting;                /* in pool->wait_head, not yet in curl (in_multi is also set);
                                    ez is NULL until the call enters curl */
    char verb[17];               /* for the easy handle, made when the call enters curl */
    bool query_verb;
    mae_call *wnext, *wprev;     /* pool->wait_head */
    bool json_declared;          /* the last response said Content-Type: application/json or +json */
    int sock_errno;              /* errno of a socket() that failed for this call, 0 = none */
    mae_call_result res;         /* message is set from msg at delivery */
    char *msg;
    mae_call *next, *prev;       /* h->calls */
    mae_call *qnext;             /* h->q_head */
};

/* Builds c->url, c->body, c->hdrs, c->pool and what the easy handle will need from req (which
 * is only borrowed). Returns 0 (c->res.cls set to MAE_CLASS_TEMPLATE when the request is
 * refused before sending) or a negative MAE_E* (no callback will come). */
int mae__http_call_prepare(mae_call *c, const mae_call_req *req);
/* Makes c->ez (a spare of the pool when there is one) from the prepared call, when it enters
 * curl: a call waiting for room holds no easy handle. Returns 0 or a negative MAE_E*. */
int mae__http_call_easy(mae_call *c);
/* Clears the options of a kept handle that point into its finished call (headers, body);
 * easy_reuse only. Returns 0 or MAE_EINTERNAL (the handle should then be cleaned up). */
int mae__http_easy_unbind(mae_http *h, http_easy *ez);
/* Frees a handle and its context (NULL: nothing). */
void mae__http_easy_free(mae_http *h, http_easy *ez);
/* The service's pool, created on first use (NULL: out of memory). */
http_pool *mae__http_pool_get(mae_http *h, const mae_svc_cfg *svc);
void mae__http_call_refuse(mae_call *c, const char *fmt, const char *arg);
void mae__http_call_set_msg(mae_call *c, const char *fmt, const char *arg);

#endif
