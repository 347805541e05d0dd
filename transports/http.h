/* The HTTP transport: mae_transport calls (transport.h) made with libcurl's multi interface on
 * the caller's libuv loop (curl_uv.h). One multi handle per service (keyed by the values of
 * its mae_svc_cfg, copied), so each service's pool.connections bounds its own TCP connections (HTTP/1.1 keep-alive; HTTP/2 multiplexed
 * over TLS when ALPN offers it); requests past the limit wait inside curl, still bound by
 * their deadline.
 *
 * Request: req->target is an HTTP target (http_target.h), rendered here in req->scope: its verb,
 * and its path with every substituted value percent-encoded as one segment. URL = service
 * endpoint (trailing '/' dropped) + that path, sent as is. GET, DELETE
 * and HEAD carry req->input as query parameters (mae__http_query_build); other verbs carry it
 * as a JSON body with Content-Type: application/json, "{}" when input is NULL. Headers:
 * req->headers, Idempotency-Key, X-Maestro-Run-Id, X-Maestro-Step-Id, traceparent (when
 * given), User-Agent: maestro/<version>, Accept: application/json; no Expect: 100-continue.
 *
 * Result: 2xx → output (JSON, else a JSON string of the body, empty → NULL); other statuses →
 * http_4xx/http_5xx with status, a body excerpt and Retry-After; curl failures → connect or
 * timeout; a body past service->max_response → decode, "response exceeds max_response (N
 * bytes)". A request refused before sending (a path that does not render, CR/LF in a header, a
 * bad path, a GET input that is not an object, a header maestro sets itself) fails with
 * MAE_CLASS_TEMPLATE, not sent. start() returns MAE_EINVAL for a target of another type. */
#ifndef MAE_HTTP_H
#define MAE_HTTP_H

#include <uv.h>

#include "transports/transport.h"

/* Creates the transport on loop. Returns 0, MAE_ENOMEM or MAE_EINTERNAL (curl could not be
 * initialised). Destroy with t->vt->close(t, done, ud): every call in flight gets its
 * callback with MAE_CLASS_CANCELLED, every handle is closed, the transport is freed, then
 * done(ud) runs; after that the loop has nothing of ours left. */
int mae_http_transport_new(uv_loop_t *loop, mae_transport **out);

/* Counters of the transport's life so far, for monitoring: a healthy transport has
 * internal_errors == 0; handles_created stays far below the number of calls because a
 * finished call's curl handle is reset and reused by its service's next calls (up to 64
 * kept per service). */
/* Easy handles one pool lets into curl at once, per connection of pool.connections: calls past
 * that wait in start order outside curl (whose lists some calls walk: curl_multi_remove_handle
 * was O(handles)). For https:// (HTTP/2 may be negotiated) enough to multiplex. A plain http://
 * service speaks HTTP/1.1, one transfer per connection, so exactly one: a transfer curl holds
 * in its own pending queue costs a whole connection setup (URL parsing, proxy environment
 * lookups) each time curl retries it, which was a third of a 100k-item foreach's instructions
 * and grew with the run. */
#define MAE_HTTP_ACTIVE_PER_CONN 32
#define MAE_HTTP_ACTIVE_PER_CONN_H1 1

typedef struct mae_http_stats {
    int pools;                   /* connection pools: one per service */
    int handles_created;         /* curl easy handles created */
    int internal_errors;         /* libuv and curl-multi calls of the event glue that failed */
    int poll_errors;             /* socket polls that reported an error (handed to curl) */
    uint64_t body_bytes;         /* response body bytes received, over every call */
    int max_in_curl;             /* most easy handles one pool's multi handle held at once */
    int waiting;                 /* calls now waiting for room in their pool's multi handle */
} mae_http_stats;
void mae__http_transport_stats(const mae_transport *t, mae_http_stats *out);

#endif
