/* Maestro's public API: the transports that carry calls to services, one per service type.
 * An engine given no transport creates (on its first call of that type) and closes its own, so
 * most programs never touch these. Create one yourself to share it between engines; then you
 * own it: close it after every engine using it is closed (or set close_transports in the
 * engine options to hand it over). A transport that is never closed keeps its pooled
 * connections, and with them uv_run, alive. */
#ifndef MAESTRO_TRANSPORT_H
#define MAESTRO_TRANSPORT_H

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

struct uv_loop_s;
typedef struct mae_transport mae_transport;

/* HTTP/1.1 and HTTP/2 through libcurl, driven by the loop. loop and out must not be NULL.
 * libcurl (libcurl.so.4) is loaded by the transport's first call, not here; when it cannot be
 * loaded, each call fails with class internal. Returns 0 with *out set (the caller owns it),
 * MAE_ENOMEM or MAE_EINTERNAL. */
MAE_API int mae_http_transport_new(struct uv_loop_s *loop, mae_transport **out);
/* gRPC (cleartext HTTP/2) through the library's own client. loop and out must not be NULL.
 * Returns 0 with *out set (the caller owns it) or MAE_ENOMEM. */
MAE_API int mae_grpc_transport_new(struct uv_loop_s *loop, mae_transport **out);
/* Cancels every call still in flight (each gets its result, class cancelled), closes every
 * connection and handle, frees the transport, then calls done(ud) (may be NULL) from the loop:
 * keep running it until then. Close the engines using it first. NULL is a no-op. */
MAE_API void mae_transport_close(mae_transport *t, void (*done)(void *ud), void *ud);

#ifdef __cplusplus
}
#endif
#endif
