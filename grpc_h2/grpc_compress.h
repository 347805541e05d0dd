/* gRPC message compression (grpc-encoding gzip and deflate) with zlib. Sans-I/O: pure functions
 * over buffers. Inflating is peer input: the output is bounded by the caller's limit and grows
 * with what actually inflates, so a small message that would inflate to gigabytes stops at the
 * limit (MAE_ETOOBIG) having allocated at most limit + 1 bytes. */
#ifndef MAE_GRPC_COMPRESS_H
#define MAE_GRPC_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    MAE_GRPC_ENC_IDENTITY,
    MAE_GRPC_ENC_GZIP,     /* RFC 1952 */
    MAE_GRPC_ENC_DEFLATE,  /* zlib format, RFC 1950 (what gRPC implementations send) */
    MAE_GRPC_ENC_OTHER     /* a name we do not implement */
} mae_grpc_encoding;

/* The sent grpc-accept-encoding value. */
#define MAE_GRPC_ACCEPT_ENCODING "identity,deflate,gzip"

/* "gzip" → GZIP, "identity" or empty → IDENTITY, unknown → OTHER. */
mae_grpc_encoding mae__grpc_encoding_parse(const uint8_t *v, size_t len);
const char *mae__grpc_encoding_name(mae_grpc_encoding enc);  /* NULL for OTHER */

/* Inflates one message into *out (malloc'd, *out_len bytes; NULL when empty). Returns 0,
 * MAE_ETOOBIG when it inflates past max (nothing kept), MAE_EDECODE for corrupt data or bytes
 * after the end of the compressed stream, MAE_EINVAL for IDENTITY/OTHER, MAE_ENOMEM. */
int mae__grpc_inflate(mae_grpc_encoding enc, const uint8_t *in, size_t len, size_t max,
                      uint8_t **out, size_t *out_len);
/* Compresses len bytes into *out (malloc'd) after `reserve` uninitialised leading bytes (room
 * for the 5-byte prefix). Returns 0, MAE_EINVAL (IDENTITY/OTHER, or len above 4 GiB) or
 * MAE_ENOMEM. */
int mae__grpc_deflate(mae_grpc_encoding enc, const uint8_t *in, size_t len, size_t reserve,
                      uint8_t **out, size_t *out_len);

#endif
