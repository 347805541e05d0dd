/* TLS for the gRPC client: an OpenSSL engine over two memory BIOs, sans-I/O. Ciphertext from
 * the socket goes in with mae__tls_feed, plaintext for the nghttp2 session comes out of
 * mae__tls_read; plaintext from the session goes in with mae__tls_write, ciphertext for the
 * socket comes out of mae__tls_take. It never touches a socket and never blocks: a handshake
 * step that needs the peer's bytes returns 0 and is resumed when they are fed.
 * Errors carry OpenSSL's reason ("certificate verify failed: certificate has expired").
 * libssl.so.3 is loaded (dlopen) when the first context is made, not linked (grpc_tls.c). */
#ifndef MAE_GRPC_TLS_H
#define MAE_GRPC_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "transports/transport.h"

/* Shared by every connection of a pool: CAs, client certificate, verification mode. */
typedef struct mae__tls_ctx mae__tls_ctx;
/* One connection's TLS state. */
typedef struct mae__tls mae__tls;

/* Builds the context from the service's settings: the system CAs or cfg->ca_file, the client
 * certificate (cert_file, key_file; the key may sit in cert_file), ALPN "h2", TLS 1.2 or later.
 * Reads the files now. Returns 0, MAE_EINVAL (a file that cannot be used: err says which and
 * why), MAE_EINTERNAL (libssl cannot be loaded: err says why) or MAE_ENOMEM. */
int mae__tls_ctx_new(const mae_svc_tls *cfg, char *err, size_t errlen, mae__tls_ctx **out);
void mae__tls_ctx_free(mae__tls_ctx *ctx);  /* NULL is a no-op; connections keep their own ref */

/* The server side (`maestro stub`): a certificate chain and its key, ALPN h2 selected (a client
 * that does not offer h2 fails the handshake). Returns 0, MAE_EINVAL or MAE_EINTERNAL (err says
 * why) or MAE_ENOMEM. */
int mae__tls_server_ctx_new(const char *cert_file, const char *key_file, char *err, size_t errlen,
                            mae__tls_ctx **out);
/* A server connection. Returns 0 or MAE_ENOMEM. */
int mae__tls_new_server(mae__tls_ctx *ctx, mae__tls **out);

/* A client connection to `name` (the server name to verify and to send as SNI; an IP address
 * is verified against the certificate's IP entries and sends no SNI). Returns 0 or MAE_ENOMEM. */
int mae__tls_new(mae__tls_ctx *ctx, const char *name, mae__tls **out);
void mae__tls_free(mae__tls *t);  /* NULL is a no-op */

/* Ciphertext received from the peer. Returns 0 or MAE_ENOMEM. */
int mae__tls_feed(mae__tls *t, const uint8_t *p, size_t len);
/* Advances the handshake. Returns 1 when it is complete (the server selected ALPN h2), 0 when
 * it waits for the peer, MAE_EPROTO with err filled on failure (verification, alert, no h2). */
int mae__tls_handshake(mae__tls *t, char *err, size_t errlen);
bool mae__tls_done(const mae__tls *t);
/* Decrypted bytes into buf: > 0 bytes, 0 when nothing more is ready, MAE_EPROTO with err filled
 * when the stream is broken or the peer closed it. */
ssize_t mae__tls_read(mae__tls *t, uint8_t *buf, size_t cap, char *err, size_t errlen);
/* Encrypts len bytes (all of them). Returns 0, MAE_EPROTO (err filled) or MAE_ENOMEM. */
int mae__tls_write(mae__tls *t, const uint8_t *p, size_t len, char *err, size_t errlen);
/* Ciphertext waiting to be sent, and taking up to cap bytes of it (returns how many). */
size_t mae__tls_pending(const mae__tls *t);
size_t mae__tls_take(mae__tls *t, uint8_t *buf, size_t cap);

#endif
