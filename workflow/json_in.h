/* Reading back the compact JSON text json_out.c writes (a foreach keeps its items' results as
 * that text until it ends, issue #17), at a fraction of cJSON_ParseWithLength's cost: one pass,
 * each string allocated once at its size (issue #15: the parse-back was 2,200 instructions of
 * a gRPC foreach item).
 *
 * It reads only that text's shape: no whitespace, integers of at most 15 digits, the two-byte
 * string escapes. Anything else (a fraction or exponent, a \u escape, a raw control byte,
 * nesting past MAE_JSON_IN_DEPTH, text that is not JSON) goes to cJSON_ParseWithLength as a
 * whole, so the result is always the tree cJSON would build from the same bytes. Pure. */
#ifndef MAE_JSON_IN_H
#define MAE_JSON_IN_H
#include <stddef.h>

#include <cjson/cJSON.h>

/* Open containers read without falling back to cJSON. */
#define MAE_JSON_IN_DEPTH 32

/* The tree of text[0..len), as cJSON_ParseWithLength(text, len) returns it (nodes from cJSON's
 * allocator, free with cJSON_Delete); NULL when cJSON's would be NULL: not JSON, out of memory. */
cJSON *mae__json_read_back(const char *text, size_t len);
#endif
