/* UTF-8 validation, the one copy: strict RFC 3629 (no overlong forms, no surrogates, nothing
 * past U+10FFFF). Used by the YAML reader, the JSON printer, the HTTP body decoder and the text
 * escaping of logs. Pure functions over bytes. */
#ifndef MAE_UTF8_H
#define MAE_UTF8_H
#include <stddef.h>

/* Length of the valid UTF-8 character at s (n bytes left): 1-4, or 0 when invalid or NUL. Reads
 * no further than the first byte that is not a continuation byte, so on a NUL-terminated string
 * n may be 4 whatever is left. */
size_t mae__utf8_char_len(const unsigned char *s, size_t n);
/* Offset of the first byte of s (len bytes) that is not part of valid UTF-8, or len when all is
 * well. NUL bytes count as valid (ASCII). */
size_t mae__utf8_check(const unsigned char *s, size_t len);
#endif
