/* Beyond one request and one reply on the gRPC transport (grpc_transport.h): calls with a codec
 * of the caller's choosing (a server-streaming codec gets the array of reply messages), and
 * bidirectional streams of raw messages for internal clients such as server reflection
 * (grpc_reflect.c). Both run on the transport's pools and connections, with its connect
 * bounds, deadlines and shutdown; a stream is a call that does not end with its request.
 *
 * A stream must not be used to reach a workflow's service directly: the engine only knows
 * calls (transport.h). */
#ifndef MAE_GRPC_STREAM_H
#define MAE_GRPC_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "grpc_h2/grpc_msgcodec.h"
#include "transports/transport.h"

/* start() of the transport with codec instead of the envelope: the same contract as
 * transport.h's start (one callback, never from inside). codec is borrowed for the whole call.
 * Returns 0 or a negative MAE_E*. */
int mae__grpc_call_start(mae_transport *t, const mae_call_req *req, const mae_grpc_codec *codec,
                         mae_call_cb cb, void *ud, mae_call **out);

/* One received message of a stream: msg is borrowed for the call. The callback may send,
 * half-close or cancel the stream. Returning < 0 resets the stream, which then ends with
 * MAE_CLASS_DECODE ("message rejected: ..."). */
typedef int (*mae_grpc_stream_msg_cb)(void *ud, const uint8_t *msg, size_t len);

/* Opens a stream on the service's endpoint, :path = path ("/pkg.Service/Method"), bounded as a
 * whole by timeout_ms (0: the service's timeout_ms; both 0: no bound). Every reply message goes
 * to on_msg (each at most the service's max_response bytes); on_end comes exactly once, never
 * from inside these functions, with MAE_CLASS_NONE and output NULL when the server ended the
 * stream with OK, else the failure as for a call (MAE_CLASS_GRPC with the code, _CONNECT,
 * _TIMEOUT, _CANCELLED ...). The handle stays valid until on_end returns. Returns 0 or
 * MAE_EINVAL / MAE_ESTATE (transport closing) / MAE_ENOMEM (no callback then). */
int mae__grpc_stream_open(mae_transport *t, const mae_svc_cfg *svc, const char *path,
                          uint64_t timeout_ms, mae_grpc_stream_msg_cb on_msg, mae_call_cb on_end,
                          void *ud, mae_call **out);
/* Bytes a stream may have queued and not yet sent (a message and its prefix included). */
#define MAE__GRPC_STREAM_MAX_QUEUE (16u * 1024 * 1024)

/* Queues one message (copied; framed here) to send. Returns 0, MAE_ESTATE (half-closed or
 * ended), MAE_ETOOBIG (the queue would pass MAE__GRPC_STREAM_MAX_QUEUE) or MAE_ENOMEM. */
int mae__grpc_stream_send(mae_call *s, const uint8_t *msg, size_t len);
/* No more messages: END_STREAM goes out after what is queued. Returns 0 or MAE_ESTATE. */
int mae__grpc_stream_half_close(mae_call *s);
/* Resets the stream: on_end still comes, with MAE_CLASS_CANCELLED. */
void mae__grpc_stream_cancel(mae_call *s);

#endif
