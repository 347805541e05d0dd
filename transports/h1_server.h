/* A small HTTP/1.1 server on a libuv loop, parsed with http-parser: keep-alive, one request at
 * a time per connection (pipelined requests wait their turn), bounded URL, headers and body.
 * Used by `maestro stub` and by tests; not a general web server (no chunked responses, no TLS).
 *
 * A request is handed to on_request with an exchange; the handler answers with
 * mae__h1_respond(), now or later (a delay timer). If the connection dies first, on_abort(x)
 * runs instead and the exchange is freed when it returns: a handler holding x must drop it. */
#ifndef MAE_H1_SERVER_H
#define MAE_H1_SERVER_H

#include <stddef.h>
#include <uv.h>

#include "transports/transport.h"

#define MAE_H1_MAX_URL (8 * 1024)
#define MAE_H1_MAX_HEADERS 64
#define MAE_H1_MAX_HEADER_BYTES (32 * 1024)
#define MAE_H1_DEFAULT_MAX_BODY (16u << 20)

typedef struct mae_h1_server mae_h1_server;
typedef struct mae_h1_exchange mae_h1_exchange;

typedef struct mae_h1_request {
    const char *method;          /* "GET" */
    const char *path;            /* URL path, still percent-encoded */
    const char *query;           /* after '?', "" when none */
    const mae_header_kv *headers;
    size_t n_headers;
    const char *body;            /* NUL-terminated for convenience; may hold NULs */
    size_t body_len;
    const char *peer;            /* "127.0.0.1:54321" */
    unsigned long conn_id;       /* distinct per accepted connection */
} mae_h1_request;

typedef struct mae_h1_handler {
    void (*on_request)(mae_h1_exchange *x, const mae_h1_request *req, void *ud);
    void (*on_abort)(mae_h1_exchange *x, void *ud);   /* may be NULL */
    void *ud;
} mae_h1_handler;

/* Listens on host:port (port 0 = any; see mae__h1_server_port). Returns 0 or a negative
 * MAE_E* (MAE_EEXISTS when the address is in use). */
int mae__h1_server_new(uv_loop_t *loop, const char *host, int port, const mae_h1_handler *h,
                      mae_h1_server **out);
int mae__h1_server_port(const mae_h1_server *s);
void mae__h1_server_set_max_body(mae_h1_server *s, size_t max);

/* What a hostile or broken client may cost (all per server; 0 = no limit). A connection past
 * max_conns is accepted and closed at once. A request must arrive whole within
 * request_timeout_ms of its first byte (else 408 and close: slowloris); a keep-alive
 * connection idle for idle_timeout_ms is closed. While more than write_hwm bytes of responses
 * wait to be written (a client that pipelines and never reads), the connection is not read or
 * parsed further, and is closed if the peer takes no bytes for request_timeout_ms. A request
 * announcing a Content-Length over max_body is refused with 413 before its body is read. */
typedef struct mae_h1_limits {
    size_t max_conns;
    uint64_t request_timeout_ms;
    uint64_t idle_timeout_ms;
    size_t write_hwm;
} mae_h1_limits;
void mae__h1_server_set_limits(mae_h1_server *s, const mae_h1_limits *l);
size_t mae__h1_server_open(const mae_h1_server *s);   /* connections open now */
/* Stops accepting (the listening socket is closed); open connections go on until
 * mae__h1_server_close. */
void mae__h1_server_stop_accepting(mae_h1_server *s);
/* Closes the listener and every connection (pending exchanges get on_abort); done runs when
 * every handle is closed and the server is freed. */
void mae__h1_server_close(mae_h1_server *s, void (*done)(void *ud), void *ud);
unsigned long mae__h1_server_connections(const mae_h1_server *s);  /* accepted so far */

/* Sends the response and frees the exchange. content_type NULL = application/json.
 * extra headers must be free of CR/LF (checked: MAE_EINVAL, and a 500 is sent instead).
 * The body is left out after 1xx, 204 and 304 statuses and in answers to HEAD. */
int mae__h1_respond(mae_h1_exchange *x, int status, const char *content_type,
                   const mae_header_kv *extra, size_t n_extra, const char *body, size_t len);
/* Closes the connection without a response (a fault to inject); frees the exchange. */
void mae__h1_drop(mae_h1_exchange *x);
/* The handler's own pointer for this exchange (set by the handler, e.g. its timer). */
void mae__h1_exchange_set_data(mae_h1_exchange *x, void *data);
void *mae__h1_exchange_data(const mae_h1_exchange *x);

#endif
