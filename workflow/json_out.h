/* The one JSON printer: every JSON text that leaves Maestro or is read back by it (request
 * bodies, query values, template text, the re-printed run input, the report, JSON logs, stdout,
 * the stub's replies and call log) is printed here. cJSON's own printer must not be used: it
 * keeps 15 significant digits, so 9007199254740991 leaves as 9.00719925474099e+15.
 *
 * Numbers (cJSON holds them as doubles):
 * - an integer of magnitude at most 2^53 prints as an integer, without exponent or point;
 *   negative zero prints "-0" (valid JSON; reads back as -0.0);
 * - any other finite double prints as the first of %.15g, %.16g, %.17g that strtod reads back
 *   to the same double (subnormals: the first precision from 1 up), so it is exact and, for
 *   every double whose shortest text has at most 15 digits, that shortest text;
 * - NaN and ±Inf, which JSON cannot carry, print as null.
 * Strings: '"', '\\' and control characters are escaped (\n \r \t \b \f, others \u00XX); each
 * byte that is not part of well-formed UTF-8 becomes \ufffd (as Go's encoding/json does), so
 * the output is always valid JSON.
 *
 * Pure: no I/O, no global state; an explicit stack, no recursion, so depth is bounded only by
 * memory. Locale-independent: the decimal point is '.' whatever LC_NUMERIC says. */
#ifndef MAE_JSON_OUT_H
#define MAE_JSON_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* Bytes mae__json_num needs, NUL included ("-2.2250738585072014e-308" is 24). */
#define MAE_JSON_NUM_MAX 32
/* max for callers whose only bound is memory. */
#define MAE_JSON_UNBOUNDED SIZE_MAX

/* Writes the JSON text of d (rules above) into buf, NUL-terminated; returns its length. */
size_t mae__json_num(double d, char buf[MAE_JSON_NUM_MAX]);

/* Compact JSON text of v (NULL prints "null"). *out is malloc'd, NUL-terminated, caller frees
 * with free(); *len (when non-NULL) is its length. Returns 0, MAE_ELIMIT when the text would be
 * longer than max bytes (nothing is returned), or MAE_ENOMEM. */
int mae__json_print(const cJSON *v, size_t max, char **out, size_t *len);

/* Same, indented by two spaces per level, one member or element per line, "key": value. */
int mae__json_print_pretty(const cJSON *v, size_t max, char **out, size_t *len);

/* mae__json_print without a bound: the malloc'd compact text, or NULL when out of memory.
 * A drop-in for cJSON_PrintUnformatted (but free the result with free()). */
char *mae__json_text(const cJSON *v);

/* A text being written piece by piece, for a caller that assembles one JSON document itself
 * (the journal's records) instead of building a cJSON tree only to print it. Start from
 * {0} with max set (MAE_JSON_UNBOUNDED for none); set len to 0 to reuse the buffer. The first
 * failure sticks in rc (MAE_ELIMIT past max, MAE_ENOMEM) and later writes do nothing; p is
 * malloc'd, NUL-terminated once anything was written, and freed by the owner with free(). */
typedef struct mae_jtext {
    char *p;
    size_t len, cap, max;
    int rc;
    bool lossy;    /* set (never cleared) when a value written would not parse back the same:
                    * NaN or ±Inf, bytes that are not UTF-8, a cJSON_Raw or invalid node */
} mae_jtext;

/* n bytes as they are (the caller's own JSON punctuation). */
void mae__jtext_raw(mae_jtext *b, const char *s, size_t n);
/* A JSON string (NULL prints ""), escaped by the rules above. */
void mae__jtext_str(mae_jtext *b, const char *s);
/* A number by the rules above. */
void mae__jtext_num(mae_jtext *b, double d);
/* The compact text of v (NULL prints null). */
void mae__jtext_value(mae_jtext *b, const cJSON *v);

/* Parses one JSON document that must fill the whole text (whitespace aside): trailing bytes
 * after the value are an error, unlike cJSON_Parse. On failure returns MAE_EPARSE with *out
 * NULL and a message in err such as "line 1, column 9: unexpected text after the JSON value"
 * or "line 2, column 4: not valid JSON" (columns count bytes from 1). */
int mae__json_parse_doc(const char *text, cJSON **out, char *err, size_t errlen);

#endif
