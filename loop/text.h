/* Text a person reads (log lines, the failure summary) made safe: bytes that came from a service
 * (a grpc-message, an error body) must not move the cursor, clear the terminal, start a forged
 * line, or make a JSON log line invalid UTF-8. Pure functions; no I/O. */
#ifndef MAE_LOOP_TEXT_H
#define MAE_LOOP_TEXT_H
#include <stddef.h>

/* A copy of s (n bytes) for a text line: \r, \n and \t as those two-character escapes, every
 * other control character, DEL and each byte that is not part of valid UTF-8 as \xHH (so ESC is
 * \x1b and an invalid 0xFF is \xFF). Valid UTF-8 and backslashes are kept. At most max bytes of
 * output (0: no limit), never cut inside an escape or a character; "..." marks a cut. malloc'd,
 * NULL on OOM. */
char *mae__text_escape(const char *s, size_t n, size_t max);
/* A copy of s (n bytes) with each byte that is not part of valid UTF-8 replaced by U+FFFD, for a
 * JSON string (the JSON printer escapes control characters itself). malloc'd, NULL on OOM. */
char *mae__utf8_scrub(const char *s, size_t n);
#endif
