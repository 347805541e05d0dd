/* gRPC message compression with zlib (see grpc_compress.h). */
#include "grpc_h2/grpc_compress.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "maestro/maestro.h"

static bool name_is(const uint8_t *v, size_t len, const char *lit) {
    return len == strlen(lit) && memcmp(v, lit, len) == 0;
}

mae_grpc_encoding mae__grpc_encoding_parse(const uint8_t *v, size_t len) {
    if (len == 0 || name_is(v, len, "identity")) return MAE_GRPC_ENC_IDENTITY;
    if (name_is(v, len, "gzip")) return MAE_GRPC_ENC_GZIP;
    if (name_is(v, len, "deflate")) return MAE_GRPC_ENC_DEFLATE;
    return MAE_GRPC_ENC_OTHER;
}

const char *mae__grpc_encoding_name(mae_grpc_encoding enc) {
    switch (enc) {
    case MAE_GRPC_ENC_IDENTITY: return "identity";
    case MAE_GRPC_ENC_GZIP: return "gzip";
    case MAE_GRPC_ENC_DEFLATE: return "deflate";
    default: return NULL;
    }
}

/* zlib's windowBits: 15 + 16 selects the gzip wrapper, 15 alone the zlib one. */
static int window_bits(mae_grpc_encoding enc) { return enc == MAE_GRPC_ENC_GZIP ? 31 : 15; }

int mae__grpc_inflate(mae_grpc_encoding enc, const uint8_t *in, size_t len, size_t max,
                      uint8_t **out, size_t *out_len) {
    *out = NULL;
    *out_len = 0;
    if (enc != MAE_GRPC_ENC_GZIP && enc != MAE_GRPC_ENC_DEFLATE) return MAE_EINVAL;
    if (len > UINT32_MAX) return MAE_EDECODE;  /* a message is at most 4 GiB */
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, window_bits(enc)) != Z_OK) return MAE_ENOMEM;
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    /* One byte past max tells "exactly max" from "more than max" without a second buffer. */
    size_t limit = max < SIZE_MAX ? max + 1 : max;
    size_t cap = len < 16384 ? 16384 : len * 2, used = 0, alloc = 0;
    if (cap > limit) cap = limit;
    uint8_t *buf = NULL;
    int rc = 0;
    for (;;) {
        if (used == cap) {
            if (cap == limit) {
                rc = MAE_ETOOBIG;
                break;
            }
            cap = cap * 2 < limit && cap * 2 > cap ? cap * 2 : limit;
        }
        if (cap > alloc) {
            /* Grows with what inflated so far, never past max + 1. */
            uint8_t *nb = realloc(buf, cap);
            if (!nb) {
                rc = MAE_ENOMEM;
                break;
            }
            buf = nb;
            alloc = cap;
        }
        size_t room = cap - used;
        z.next_out = buf + used;
        z.avail_out = room > UINT32_MAX ? UINT32_MAX : (uInt)room;
        uInt before = z.avail_out;
        int zr = inflate(&z, Z_NO_FLUSH);
        used += before - z.avail_out;
        if (zr == Z_STREAM_END) break;
        if ((zr == Z_OK || zr == Z_BUF_ERROR) && z.avail_out == 0) continue;  /* full: grow */
        /* Room left but no end: the input ended early (Z_OK/Z_BUF_ERROR) or is corrupt. */
        rc = zr == Z_MEM_ERROR ? MAE_ENOMEM : MAE_EDECODE;
        break;
    }
    if (rc == 0 && used > max) rc = MAE_ETOOBIG;
    if (rc == 0 && z.avail_in != 0) rc = MAE_EDECODE;  /* bytes after the compressed stream */
    inflateEnd(&z);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    if (used == 0) {
        free(buf);
        buf = NULL;
    }
    *out = buf;
    *out_len = used;
    return 0;
}

int mae__grpc_deflate(mae_grpc_encoding enc, const uint8_t *in, size_t len, size_t reserve,
                      uint8_t **out, size_t *out_len) {
    *out = NULL;
    *out_len = 0;
    if ((enc != MAE_GRPC_ENC_GZIP && enc != MAE_GRPC_ENC_DEFLATE) || len > UINT32_MAX)
        return MAE_EINVAL;
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, window_bits(enc), 8,
                     Z_DEFAULT_STRATEGY) != Z_OK)
        return MAE_ENOMEM;
    size_t bound = deflateBound(&z, (uLong)len) + 32;  /* + the gzip header and trailer */
    uint8_t *buf = malloc(reserve + bound);
    if (!buf) {
        deflateEnd(&z);
        return MAE_ENOMEM;
    }
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    z.next_out = buf + reserve;
    z.avail_out = (uInt)bound;
    int zr = deflate(&z, Z_FINISH);
    size_t n = bound - z.avail_out;
    deflateEnd(&z);
    if (zr != Z_STREAM_END) {
        free(buf);
        return MAE_ENOMEM;
    }
    *out = buf;
    *out_len = reserve + n;
    return 0;
}
