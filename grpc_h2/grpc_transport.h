/* The gRPC transport (docs/workflow-language.md#grpc-calls-on-the-wire): unary calls over h2c with
 * the Maestro envelope, per-endpoint pools of HTTP/2 connections, a local queue above the peer's
 * MAX_CONCURRENT_STREAMS, attempt deadlines, cancellation with RST_STREAM(CANCEL). Implements
 * transports/transport.h: the request's target is a gRPC target (grpc_target.h) whose method name
 * goes in the envelope (start() returns MAE_EINVAL for another type); pools are keyed by the
 * endpoint string, copied.
 *
 * Results: MAE_CLASS_GRPC with status = the gRPC code and message = the decoded grpc-message
 * (RST_STREAM, HTTP status and malformed responses mapped per gRPC's documents);
 * MAE_CLASS_CONNECT when the connection is refused, reset or closed under a call;
 * MAE_CLASS_TIMEOUT when our attempt deadline fires (the server's DEADLINE_EXCEEDED stays
 * MAE_CLASS_GRPC); MAE_CLASS_APP_ERROR for envelope success=false; MAE_CLASS_DECODE for an
 * undecodable reply; MAE_CLASS_CANCELLED after cancel(). not_an_attempt is set for
 * REFUSED_STREAM and streams above a GOAWAY's last-stream-id; retry_after_ms comes from
 * grpc-retry-pushback-ms.
 *
 * Connections: at most service->pool_connections per endpoint ("host:port", names resolved with
 * uv_getaddrinfo), h2c with prior knowledge, TCP_NODELAY, 8 MiB stream / 32 MiB connection
 * windows; a connection takes streams once the server's SETTINGS arrived (10 s bound on connect
 * + SETTINGS), calls go to the least loaded one, and wait in a local queue (still bound by their
 * deadline) when every connection is at the peer's MAX_CONCURRENT_STREAMS. Failed connects back
 * off 100 ms doubling to 5 s; a GOAWAY'd connection drains and a new one is opened. */
#ifndef MAE_GRPC_TRANSPORT_H
#define MAE_GRPC_TRANSPORT_H

#include <uv.h>

#include "transports/transport.h"

/* Creates the transport on loop. Destroy it with t->vt->close(t, done, ud): every call gets its
 * callback (CANCELLED), every handle closes, then done(ud) runs and uv_loop_close() can succeed.
 * Returns 0 or MAE_ENOMEM. */
int mae_grpc_transport_new(uv_loop_t *loop, mae_transport **out);

/* Bounds connect + the server's first SETTINGS of every connection opened from now on
 * (default 10 s); 0 is taken as 1 ms. A connection past it fails with MAE_CLASS_CONNECT. */
void mae__grpc_transport_set_handshake_timeout(mae_transport *t, uint64_t ms);

/* Counters of the transport, for monitoring. */
typedef struct mae_grpc_stats {
    int pools;                   /* one per endpoint */
    int connections;             /* open or opening now, over every pool */
    unsigned long socket_writes; /* flushes of frames to a socket so far: calls started in one
                                    loop iteration leave together, in one write per connection
                                    (plus one uv_write for what the socket did not take) */
} mae_grpc_stats;
void mae__grpc_transport_stats(const mae_transport *t, mae_grpc_stats *out);

#endif
