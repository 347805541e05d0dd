/* The server side of the gRPC framer (for `maestro stub`): h2c (prior knowledge) on a uv_tcp
 * listener, unary calls routed to one handler callback with the :path, the request message and
 * its metadata; the handler answers now or later with a message (headers + message + trailers)
 * or a status (Trailers-Only). Runs on the caller's loop; no threads. Message bytes only: the
 * envelope helpers in grpc_msgcodec.h turn them into cJSON and back. */
#ifndef MAE_GRPC_SERVER_H
#define MAE_GRPC_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

typedef struct mae_grpc_server mae_grpc_server;
typedef struct mae_grpc_srv_call mae_grpc_srv_call;

/* Called once per complete unary request. The handler must answer every call exactly once with
 * mae_grpc_srv_call_reply or mae_grpc_srv_call_fail, now or later; the call stays valid until
 * then, even when the client has gone away or the server was closed (the answer then goes
 * nowhere). msg is valid only during the callback. */
typedef void (*mae_grpc_handler)(mae_grpc_srv_call *call, const char *path, const uint8_t *msg,
                                 size_t len, void *ud);

/* Listens on host:port (port 0 = any; see mae_grpc_server_port). max_msg bounds request
 * messages (0 = 4 MiB). Returns 0, MAE_EINVAL, MAE_EIO (bind/listen failed) or MAE_ENOMEM. */
int mae_grpc_server_new(uv_loop_t *loop, const char *host, int port, size_t max_msg,
                        mae_grpc_handler handler, void *ud, mae_grpc_server **out);
int mae_grpc_server_port(const mae_grpc_server *s);
/* Stops listening, closes every connection; done(ud) runs once all handles are closed.
 * Calls still unanswered stay the handler's to answer (their answers are dropped). */
void mae_grpc_server_close(mae_grpc_server *s, void (*done)(void *ud), void *ud);

/* A request header (lower-case name); NULL when absent. Valid until the call is answered. */
const char *mae_grpc_srv_call_header(const mae_grpc_srv_call *c, const char *name);
/* Answers with one message and grpc-status 0. Frees the call. Returns 0, or MAE_ESTATE when the
 * client or the server is gone (the call is freed all the same). */
int mae_grpc_srv_call_reply(mae_grpc_srv_call *c, const uint8_t *msg, size_t len);
/* Answers with a Trailers-Only status (code != 0) and a message (percent-encoded on the wire),
 * plus an optional grpc-retry-pushback-ms (< 0 = none). Frees the call. */
int mae_grpc_srv_call_fail(mae_grpc_srv_call *c, int code, const char *message,
                           int64_t pushback_ms);

/* Tests and fuzzers: feeds bytes to a new socketless connection of s, then closes it.
 * Returns 0, or MAE_EPROTO when the session failed on them, or MAE_ENOMEM. */
int mae__grpc_server_feed(mae_grpc_server *s, const uint8_t *p, size_t len);

#endif
