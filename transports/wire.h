/* Byte-level rules every transport and the loader share, so each exists once: the percent codec
 * of RFC 3986 and the checks of a header (or gRPC metadata) name and value. Pure: no I/O, no
 * allocation except where a result is returned. Must not grow protocol logic. */
#ifndef MAE_WIRE_H
#define MAE_WIRE_H

#include <stdbool.h>
#include <stddef.h>

/* Percent-encodes s[0..n) into out, which must hold 3 * n + 1 bytes: RFC 3986 unreserved
 * characters (ALPHA DIGIT - . _ ~) stay, every other byte becomes %XX (upper-case hex).
 * segment: s is one path segment, so a value made only of dots ("." or "..") is encoded too
 * (a server would resolve it as a dot segment and the path would change meaning).
 * Returns the length written (out is NUL-terminated). */
size_t mae_pct_encode(const char *s, size_t n, bool segment, char *out);
/* The same, malloc'd (NULL when out of memory); the shape of a template escape function. */
char *mae_pct_encode_segment(const char *s, size_t n);
/* Decodes %XX (either case; a malformed escape stays as is) and, when plus_is_space, '+'.
 * Returns a malloc'd NUL-terminated string (NULL when out of memory); NUL bytes decoded from
 * %00 are kept in the middle: use *out_len when given. */
char *mae_pct_decode(const char *s, size_t n, bool plus_is_space, size_t *out_len);

/* A header value (HTTP header or gRPC metadata) is sendable: no CR, LF or NUL. A C string
 * cannot hold NUL, so the check is for CR and LF; NULL is not a value. */
bool mae_header_value_ok(const char *s);
/* A header name: a non-empty RFC 9110 token. */
bool mae_header_name_ok(const char *s);

#endif
