/* The gRPC transport (SPEC §3.2): unary calls over h2c with the Maestro envelope, per-endpoint
 * pools of HTTP/2 connections, a local queue above the peer's MAX_CONCURRENT_STREAMS, attempt
 * deadlines, cancellation with RST_STREAM(CANCEL). Implements transports/transport.h.
 *
 * Results: MAE_CLASS_GRPC with status = the gRPC code and message = the decoded grpc-message
 * (RST_STREAM, HTTP status and malformed responses mapped per gRPC's documents);
 * MAE_CLASS_CONNECT when the connection is refused, reset or closed under a call;
 * MAE_CLASS_TIMEOUT when our attempt deadline fires (the server's DEADLINE_EXCEEDED stays
 * MAE_CLASS_GRPC); MAE_CLASS_APP_ERROR for envelope success=false; MAE_CLASS_DECODE for an
 * undecodable reply; MAE_CLASS_CANCELLED after cancel(). not_an_attempt is set for
 * REFUSED_STREAM and streams above a GOAWAY's last-stream-id; retry_after_ms comes from
 * grpc-retry-pushback-ms. */
#ifndef MAE_GRPC_TRANSPORT_H
#define MAE_GRPC_TRANSPORT_H

#include <uv.h>

#include "transports/transport.h"

/* Creates the transport on loop. Destroy it with t->vt->close(t, done, ud): every call gets its
 * callback (CANCELLED), every handle closes, then done(ud) runs and uv_loop_close() can succeed.
 * Returns 0 or MAE_ENOMEM. */
int mae_grpc_transport_new(uv_loop_t *loop, mae_transport **out);

#endif
