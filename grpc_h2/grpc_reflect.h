/* gRPC server reflection, client side (issue #11): fetches the descriptors of every service an
 * endpoint exposes over grpc.reflection.v1 (falling back to v1alpha when the server answers
 * UNIMPLEMENTED), with the files they import, into a linked pb pool (grpc_h2/pb.h).
 *
 * It runs on the gRPC transport's own connections (the reflection RPC is a bidirectional
 * stream), so it shares the transport's pool, connect timeout and TLS settings for the
 * endpoint. Asynchronous; the callback comes exactly once, never from inside the fetch call. */
#ifndef MAE_GRPC_REFLECT_H
#define MAE_GRPC_REFLECT_H

#include <stdint.h>

#include "grpc_h2/pb.h"
#include "transports/transport.h"

typedef struct mae__reflect mae__reflect;

/* rc 0: pool is linked and owned by the callback. rc < 0 (MAE_ECONNREFUSED, MAE_ETIMEDOUT,
 * MAE_EPROTO, MAE_EDECODE, MAE_EINVAL for a server without reflection or with unusable
 * descriptors, MAE_ECANCELED, MAE_ENOMEM): pool is NULL and err says why in one line
 * ("127.0.0.1:50051: server reflection not available (UNIMPLEMENTED on v1 and v1alpha)"). */
typedef void (*mae__reflect_cb)(int rc, mae__pb_pool *pool, const char *err, void *ud);

/* Starts fetching from the service's endpoint through the gRPC transport t. timeout_ms bounds
 * the whole fetch (0: the transport's default). Returns 0 (the callback will come) or a negative
 * MAE_E* (no callback). */
int mae__grpc_reflect_fetch(mae_transport *t, const mae_svc_cfg *svc, uint64_t timeout_ms,
                            mae__reflect_cb cb, void *ud, mae__reflect **out);
/* Cancels a fetch: its callback still comes, with MAE_ECANCELED. */
void mae__grpc_reflect_cancel(mae__reflect *r);

#endif
