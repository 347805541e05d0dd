/* Bidirectional gRPC streams over the transport's calls (grpc_stream.h). A stream is a call
 * with an mae__gstream attached: its body is a growing send queue that nghttp2's data source
 * reads (deferring when empty, resumed by send), and its reply messages go to a callback
 * instead of a codec. Everything else (queueing, deadlines, resets, delivery of the end) is
 * the call's own code in grpc_transport.c and grpc_conn.c. */
#include <stdlib.h>
#include <string.h>

#include "grpc_h2/grpc_client_int.h"
#include "grpc_h2/grpc_stream.h"
#include "maestro/maestro.h"

int mae__grpc_stream_open(mae_transport *t, const mae_svc_cfg *svc, const char *path,
                          uint64_t timeout_ms, mae_grpc_stream_msg_cb on_msg, mae_call_cb on_end,
                          void *ud, mae_call **out) {
    if (!t || !svc || !svc->endpoint || !path || path[0] != '/' || !on_msg || !on_end)
        return MAE_EINVAL;
    mae__gstream *sx = calloc(1, sizeof *sx);
    if (!sx) return MAE_ENOMEM;
    sx->on_msg = on_msg;
    mae_call_req req = {.service = svc, .timeout_ms = timeout_ms};
    return mae__gcall_start(t->data, &req, NULL, path, sx, on_end, ud, out);
}

/* Wakes nghttp2 up when it waits for data of this stream. */
static void stream_resume(mae_call *s) {
    if (s->state != MAE__CALL_ACTIVE || !s->sx->deferred || !s->conn || !s->conn->ng) return;
    s->sx->deferred = false;
    nghttp2_session_resume_data(s->conn->ng, s->stream_id);
    mae__conn_flush(s->conn);
}

int mae__grpc_stream_send(mae_call *s, const uint8_t *msg, size_t len) {
    if (!s || !s->sx || s->state == MAE__CALL_DONE || s->sx->half_closed) return MAE_ESTATE;
    if (s->body_off == s->body_len) s->body_off = s->body_len = 0;  /* all sent: reuse */
    /* Queued and not yet taken by nghttp2 (flow control, a slow peer): bounded. */
    if (len > MAE__GRPC_STREAM_MAX_QUEUE - 5 ||
        s->body_len - s->body_off + len + 5 > MAE__GRPC_STREAM_MAX_QUEUE)
        return MAE_ETOOBIG;
    if (s->body_len + len + 5 > s->sx->body_cap) {
        size_t cap = s->sx->body_cap ? s->sx->body_cap * 2 : 256;
        while (cap < s->body_len + len + 5) cap *= 2;
        uint8_t *nb = realloc(s->body, cap);
        if (!nb) return MAE_ENOMEM;
        s->body = nb;
        s->sx->body_cap = cap;
    }
    mae__grpc_frame_prefix(s->body + s->body_len, false, (uint32_t)len);
    if (len) memcpy(s->body + s->body_len + 5, msg, len);
    s->body_len += len + 5;
    stream_resume(s);
    return 0;
}

int mae__grpc_stream_half_close(mae_call *s) {
    if (!s || !s->sx || s->state == MAE__CALL_DONE || s->sx->half_closed) return MAE_ESTATE;
    s->sx->half_closed = true;
    stream_resume(s);
    return 0;
}

void mae__grpc_stream_cancel(mae_call *s) {
    if (s) mae_transport_cancel(&s->t->pub, s);
}
