/* libFuzzer target: the HTTP transport's decoders of peer bytes (http_util.c). The first byte
 * picks a decoder, the rest is its input: a Retry-After value, a response body turned into the
 * step's output, header name/value, path and verb checks, percent-encoding and query building.
 * Invariants are checked (abort on a break), every result freed. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "transports/http_util.h"
#include "transports/wire.h"

/* A NUL-terminated copy, as curl hands header values and the engine hands strings. */
static char *cstr(const uint8_t *d, size_t n) {
    char *s = malloc(n + 1);
    if (!s) abort();
    memcpy(s, d, n);
    s[n] = 0;
    return s;
}

static void check_encoded(const mae_hbuf *b) {
    for (size_t i = 0; i < b->len; i++) {
        unsigned char c = (unsigned char)b->p[i];
        if (c == '%') {
            if (i + 2 >= b->len) abort();
            if (!isxdigit((unsigned char)b->p[i + 1]) || !isxdigit((unsigned char)b->p[i + 2])) abort();
            i += 2;
        } else if (!(isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')) {
            abort();
        }
    }
}

/* libcurl's date parser for Retry-After dates: the library loads libcurl on demand. */
static mae__curl_api curl_api;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    char err[256];
    if (mae__curl_load(&curl_api, err, sizeof err) != 0) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    uint8_t op = data[0] % 5;
    data++, size--;
    char *s = cstr(data, size);
    switch (op) {
    case 0: {
        int64_t ms = mae__http_retry_after_ms(s, (time_t)1700000000, curl_api.getdate);
        if (ms < -1 || ms > 1000000000000LL) abort();
        break;
    }
    case 1: {
        cJSON *out = NULL;
        int rc = mae__http_body_to_output(s, size, false, &out, NULL);
        if (rc == 0 && size > 0 && !out) abort();
        if (rc == 0 && out) {
            char *js = cJSON_PrintUnformatted(out);
            /* Whatever the body, the output prints back as JSON that parses. */
            if (js) {
                cJSON *back = cJSON_Parse(js);
                if (!back) abort();
                cJSON_Delete(back);
                cJSON_free(js);
            }
        }
        cJSON_Delete(out);
        char ex[MAE_HTTP_EXCERPT_MAX + 4];
        mae__http_excerpt(s, size, ex);
        for (char *p = ex; *p; p++)
            if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f) abort();
        break;
    }
    case 2:
        /* A value or name the checks accept can never split a header. */
        if (mae__header_value_ok(s) && strpbrk(s, "\r\n")) abort();
        if (mae__header_name_ok(s) && strpbrk(s, " :\r\n")) abort();
        if (mae__http_path_ok(s) && (s[0] != '/' || strpbrk(s, " #\r\n"))) abort();
        (void)mae__http_verb_ok(s);
        break;
    case 3: {
        mae_hbuf b = {0};
        b.max = 4096;
        int rc = mae__http_pct_encode(&b, (const char *)data, size);
        if (rc == 0 && b.p) check_encoded(&b);
        if (b.len > 4096) abort();
        mae__hbuf_free(&b);
        break;
    }
    default: {
        cJSON *in = cJSON_ParseWithLength((const char *)data, size);
        char *q = NULL;
        if (mae__http_query_build(in, &q) == 0) {
            if (!q) abort();
            for (char *p = q; *p; p++)
                if (*p != '&' && *p != '=' && *p != '%' && !isalnum((unsigned char)*p) && !strchr("-._~", *p)) abort();
        }
        free(q);
        cJSON_Delete(in);
        break;
    }
    }
    free(s);
    return 0;
}
