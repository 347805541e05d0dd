/* Pure helpers of the HTTP transport: query strings from a JSON input, percent-encoding,
 * Retry-After, response bodies to outputs, error excerpts, and the failure class of a status
 * or a curl error. No I/O and no libuv here, so each is unit-tested with plain byte arrays. */
#ifndef MAE_HTTP_UTIL_H
#define MAE_HTTP_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cjson/cJSON.h>
#include "transports/curl_dl.h"

#include "transports/transport.h"

/* Longest body excerpt put in an error message, in bytes (before the terminating NUL). */
#define MAE_HTTP_EXCERPT_MAX 512

/* A growable string with a hard maximum (max == 0: no maximum). Always NUL-terminated once
 * anything was appended; p is NULL until then. */
typedef struct mae_hbuf {
    char *p;
    size_t len, cap, max;
} mae_hbuf;

/* Appends n bytes. Returns 0, MAE_ETOOBIG (past max: nothing appended) or MAE_ENOMEM. */
int mae__hbuf_add(mae_hbuf *b, const char *s, size_t n);
void mae__hbuf_free(mae_hbuf *b);

/* Appends s percent-encoded with the one codec (transports/wire.h): RFC 3986 unreserved
 * characters (ALPHA DIGIT - . _ ~) stay, every other byte becomes %XX (upper-case hex).
 * Returns 0 or MAE_ENOMEM / MAE_ETOOBIG. */
int mae__http_pct_encode(mae_hbuf *b, const char *s, size_t n);

/* The query string for GET/DELETE/HEAD: "k=v&k2=v2" from the members of a JSON object in
 * order; a string value is its text, any other value its compact JSON; keys and values are
 * percent-encoded. input NULL gives "" (*out still allocated). Returns 0, MAE_EINVAL (input is
 * not an object) or MAE_ENOMEM. The caller frees *out. */
int mae__http_query_build(const cJSON *input, char **out);

/* Retry-After as milliseconds: delta-seconds ("120") or an HTTP-date (past dates give 0).
 * now is the current time for dates; getdate parses them (libcurl's curl_getdate, from the
 * transport's table; NULL: dates are not understood). Returns -1 when value is neither.
 * Capped at 1e12. */
int64_t mae__http_retry_after_ms(const char *value, time_t now,
                                 time_t (*getdate)(const char *s, const time_t *unused));

/* A printable excerpt of a body: at most MAE_HTTP_EXCERPT_MAX bytes of it, every byte outside
 * printable ASCII replaced by '.', "..." appended when cut. out must hold
 * MAE_HTTP_EXCERPT_MAX + 4 bytes. */
void mae__http_excerpt(const char *body, size_t len, char *out);

/* A 2xx body to the step's output: empty → *out NULL (null); a complete JSON text (nothing
 * but whitespace after it) → that value; anything else → a JSON string of the body with NUL
 * and invalid UTF-8 bytes replaced by U+FFFD, unless json_declared (the response said
 * Content-Type: application/json or +json): then it is MAE_EPARSE. A JSON text with \u0000 in a
 * string is MAE_EPARSE too (cJSON's strings end at a NUL: the value would be cut silently).
 * Returns 0, MAE_EPARSE (*why says what is wrong, static text) or MAE_ENOMEM. */
int mae__http_body_to_output(const char *body, size_t len, bool json_declared, cJSON **out,
                             const char **why);

/* A request path as the engine renders it: starts with '/', printable ASCII without space,
 * '#', '"', '<', '>', '\\', '^', '`', '{', '|', '}'. */
bool mae__http_path_ok(const char *path);
/* An HTTP verb: 1 to 16 upper-case letters. */
bool mae__http_verb_ok(const char *verb);

/* The class of a non-2xx status: 4xx and 3xx (redirects are not followed) → HTTP_4XX,
 * 5xx → HTTP_5XX, anything else → DECODE. */
mae_class mae__http_status_class(long status);
/* The class of a failed transfer (see the table in http_util.c). */
mae_class mae__http_curl_class(CURLcode rc);

#endif
