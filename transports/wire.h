/* Byte-level rules every transport and the loader share, so each exists once: the percent codec
 * of RFC 3986 and the checks of a header (or gRPC metadata) name and value. Pure: no I/O, no
 * allocation except where a result is returned. Must not grow protocol logic. */
#ifndef MAE_WIRE_H
#define MAE_WIRE_H

#include <stdbool.h>
#include <stddef.h>

/* Which bytes stay as they are; every other byte becomes %XX (upper-case hex). */
typedef enum {
    MAE_PCT_UNRESERVED,  /* RFC 3986 unreserved: ALPHA DIGIT - . _ ~ (query strings) */
    MAE_PCT_SEGMENT,     /* the same, and a value made only of dots ("." or "..") is encoded
                            too: a server would resolve it as a dot segment (path values) */
    MAE_PCT_PRINTABLE,   /* printable ASCII but '%' (gRPC's grpc-message) */
} mae_pct_set;

/* Percent-encodes s[0..n) into out, which must hold 3 * n + 1 bytes. Returns the length
 * written (out is NUL-terminated). */
size_t mae__pct_encode(const char *s, size_t n, mae_pct_set keep, char *out);
/* The same, malloc'd (NULL when out of memory); the shape of a template escape function. */
char *mae__pct_encode_segment(const char *s, size_t n);
/* Decodes %XX (either case; a malformed escape stays as is) and, when plus_is_space, '+'.
 * Returns a malloc'd NUL-terminated string (NULL when out of memory); NUL bytes decoded from
 * %00 are kept in the middle: use *out_len when given. */
char *mae__pct_decode(const char *s, size_t n, bool plus_is_space, size_t *out_len);
/* The same into out[0..cap) (cap > 0), stopping when it is full. Returns the length written
 * (out is NUL-terminated). */
size_t mae__pct_decode_to(const char *s, size_t n, bool plus_is_space, char *out, size_t cap);

/* A header value (HTTP header or gRPC metadata) is sendable: no CR, LF or NUL. A C string
 * cannot hold NUL, so the check is for CR and LF; NULL is not a value. */
bool mae__header_value_ok(const char *s);
/* A header name: a non-empty RFC 9110 token. */
bool mae__header_name_ok(const char *s);
/* gRPC binary metadata: a name ending in "-bin" (any case) carries base64 ... */
bool mae__header_is_bin(const char *name);
/* ... and its value is standard base64, padding optional (gRPC's PROTOCOL-HTTP2.md). */
bool mae__header_bin_value_ok(const char *s);

#endif
