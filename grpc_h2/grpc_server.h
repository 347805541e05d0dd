/* The server side of our gRPC framer: h2c on a uv_tcp listener, one nghttp2 server session per
 * connection, unary calls only. A complete request (headers + exactly one message + END_STREAM)
 * is handed to on_call; the handler answers with mae__grpc_server_reply (one message, then
 * grpc-status 0 in trailers) or mae__grpc_server_fail (Trailers-Only), now or later. If the
 * client resets the stream or the connection dies first, on_abort runs and the call is freed
 * when it returns. Used by `maestro stub`; not a general gRPC server (no streaming, no TLS). */
#ifndef MAE_GRPC_SERVER_H
#define MAE_GRPC_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "transports/transport.h"

typedef struct mae_grpc_server mae_grpc_server;
typedef struct mae_grpc_scall mae_grpc_scall;

typedef struct mae_grpc_server_handler {
    /* path is ":path"; msg the request message (without the 5-byte prefix), valid during the call. */
    void (*on_call)(mae_grpc_scall *call, const char *path, const uint8_t *msg, size_t len,
                    const mae_header_kv *headers, size_t n_headers, void *ud);
    void (*on_abort)(mae_grpc_scall *call, void *ud);   /* may be NULL */
    void *ud;
} mae_grpc_server_handler;

typedef struct mae_grpc_server_opts {
    size_t max_message;            /* request messages above get RESOURCE_EXHAUSTED; 0 = 4 MiB */
    uint32_t max_concurrent_streams; /* advertised; 0 = 1000 */
} mae_grpc_server_opts;

/* The one exception to "no streaming": paths served as bidirectional streams of one answer per
 * request message (what server reflection needs). is_stream says whether path is one; on_stream_msg answers one message: 0
 * with *reply malloc'd (*reply_len bytes, taken) or NULL for no answer, or a gRPC code > 0 that
 * ends the stream with it. The stream ends with OK once the client half-closed and every answer
 * went out. */
typedef struct mae_grpc_stream_handler {
    bool (*is_stream)(const char *path, void *ud);
    int (*on_stream_msg)(const char *path, const uint8_t *msg, size_t len, uint8_t **reply,
                         size_t *reply_len, void *ud);
    void *ud;
} mae_grpc_stream_handler;

/* Returns 0, MAE_EINVAL (bad host), MAE_EEXISTS (address in use) or MAE_EIO. */
int mae__grpc_server_new(uv_loop_t *loop, const char *host, int port, const mae_grpc_server_opts *o,
                        const mae_grpc_server_handler *h, mae_grpc_server **out);
/* Serves streams as h says (copied) on connections accepted from now on: call it right after
 * mae__grpc_server_new. */
void mae__grpc_server_set_streams(mae_grpc_server *s, const mae_grpc_stream_handler *h);
int mae__grpc_server_port(const mae_grpc_server *s);
unsigned long mae__grpc_server_connections(const mae_grpc_server *s);
/* Closes the listener and every connection (pending calls get on_abort); done runs once all
 * handles are closed and the server is freed. */
void mae__grpc_server_close(mae_grpc_server *s, void (*done)(void *ud), void *ud);

/* Replies with one message (copied) and status OK; extra trailers may be given. Frees call. */
int mae__grpc_server_reply(mae_grpc_scall *call, const uint8_t *msg, size_t len);
/* Replies with len bytes of complete length-prefixed messages (copied; any number of them,
 * none when len is 0: a server-streaming reply) and status OK. Frees call. */
int mae__grpc_server_reply_framed(mae_grpc_scall *call, const uint8_t *frames, size_t len);
/* Replies Trailers-Only with code and message (percent-encoded on the wire) and optional extra
 * trailers (e.g. grpc-retry-pushback-ms). Frees call. */
int mae__grpc_server_fail(mae_grpc_scall *call, int code, const char *message,
                         const mae_header_kv *extra, size_t n_extra);
void mae__grpc_scall_set_data(mae_grpc_scall *call, void *data);
void *mae__grpc_scall_data(const mae_grpc_scall *call);

/* Tests and fuzzers: feeds bytes to a new socketless connection of s (its output is dropped),
 * then closes it, aborting unanswered calls. Returns 0, MAE_EPROTO or MAE_ENOMEM. */
int mae__grpc_server_feed(mae_grpc_server *s, const uint8_t *p, size_t len);

#endif
