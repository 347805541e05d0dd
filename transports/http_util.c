/* Pure helpers of the HTTP transport (see http_util.h). */
#include "transports/http_util.h"
#include "workflow/utf8.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "maestro/maestro.h"
#include "transports/wire.h"
#include "workflow/json_out.h"

int mae__hbuf_add(mae_hbuf *b, const char *s, size_t n) {
    if (b->max && (n > b->max || b->len > b->max - n)) return MAE_ETOOBIG;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        /* Never reserve much past the maximum: memory stays bounded by max. */
        if (b->max && cap > b->max + 1) cap = b->max + 1;
        char *p = realloc(b->p, cap);
        if (!p) return MAE_ENOMEM;
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
    return 0;
}

void mae__hbuf_free(mae_hbuf *b) {
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

int mae__http_pct_encode(mae_hbuf *b, const char *s, size_t n) {
    char out[3 * 256 + 1];
    for (size_t i = 0; i < n; i += 256) {
        size_t k = n - i < 256 ? n - i : 256;
        int rc = mae__hbuf_add(b, out, mae__pct_encode(s + i, k, MAE_PCT_UNRESERVED, out));
        if (rc) return rc;
    }
    return 0;
}

int mae__http_query_build(const cJSON *input, char **out) {
    mae_hbuf b = {0};
    int rc = 0;
    *out = NULL;
    if (input && !cJSON_IsObject(input)) return MAE_EINVAL;
    if ((rc = mae__hbuf_add(&b, "", 0))) return rc;
    for (const cJSON *it = input ? input->child : NULL; it && !rc; it = it->next) {
        const char *key = it->string ? it->string : "";
        if (b.len) rc = mae__hbuf_add(&b, "&", 1);
        if (!rc) rc = mae__http_pct_encode(&b, key, strlen(key));
        if (!rc) rc = mae__hbuf_add(&b, "=", 1);
        if (rc) break;
        if (cJSON_IsString(it)) {
            rc = mae__http_pct_encode(&b, it->valuestring, strlen(it->valuestring));
        } else {
            char *js = mae__json_text(it);
            if (!js) { rc = MAE_ENOMEM; break; }
            rc = mae__http_pct_encode(&b, js, strlen(js));
            free(js);
        }
    }
    if (rc) {
        mae__hbuf_free(&b);
        return rc;
    }
    *out = b.p;
    return 0;
}

int64_t mae__http_retry_after_ms(const char *value, time_t now,
                                 time_t (*getdate)(const char *s, const time_t *unused)) {
    if (!value) return -1;
    while (*value == ' ' || *value == '\t') value++;
    size_t n = strlen(value);
    while (n && (value[n - 1] == ' ' || value[n - 1] == '\t')) n--;
    if (n == 0) return -1;
    const int64_t cap = 1000000000000LL;
    if (isdigit((unsigned char)value[0])) {
        int64_t secs = 0;
        for (size_t i = 0; i < n; i++) {
            if (!isdigit((unsigned char)value[i])) goto date;
            if (secs < cap) secs = secs * 10 + (value[i] - '0');
        }
        return secs * 1000 < cap && secs < cap ? secs * 1000 : cap;
    }
date:;
    /* An HTTP-date is at most "Sunday, 06-Nov-1994 08:49:37 GMT" long: cap before parsing. */
    char tmp[64];
    if (n >= sizeof tmp) return -1;
    memcpy(tmp, value, n);
    tmp[n] = 0;
    if (!getdate) return -1;
    time_t t = getdate(tmp, NULL);
    if (t == (time_t)-1) return -1;
    if (t <= now) return 0;
    /* A date millennia ahead must not overflow the multiplication. */
    int64_t secs = (int64_t)t - (int64_t)now;
    return secs < cap / 1000 ? secs * 1000 : cap;
}

void mae__http_excerpt(const char *body, size_t len, char *out) {
    size_t n = len < MAE_HTTP_EXCERPT_MAX ? len : MAE_HTTP_EXCERPT_MAX;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)body[i];
        out[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '.';
    }
    if (n < len) memcpy(out + n, "...", 3), n += 3;
    out[n] = 0;
}

/* Does a JSON text hold the escape \u0000 (a backslash run of odd length before "u0000")? */
static bool has_nul_escape(const char *s, size_t len) {
    for (size_t i = 0; i + 6 <= len; i++) {
        if (s[i] != '\\') continue;
        size_t j = i;
        while (j < len && s[j] == '\\') j++;
        if ((j - i) % 2 == 1 && j + 5 <= len && s[j] == 'u' && memcmp(s + j + 1, "0000", 4) == 0) return true;
        i = j - 1;
    }
    return false;
}

int mae__http_body_to_output(const char *body, size_t len, bool json_declared, cJSON **out,
                             const char **why) {
    *out = NULL;
    if (why) *why = NULL;
    if (len == 0) return 0;
    const char *end = NULL;
    /* body is NUL-terminated by mae_hbuf; a NUL inside it must not end the JSON early. */
    cJSON *v = cJSON_ParseWithLengthOpts(body, len, &end, false);
    if (v) {
        const char *p = end;
        while (p < body + len && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
        if (p == body + len) {
            if (has_nul_escape(body, len)) {
                cJSON_Delete(v);
                if (why) *why = "a JSON string holds \\u0000 (NUL), which Maestro does not accept";
                return MAE_EPARSE;
            }
            *out = v;
            return 0;
        }
        cJSON_Delete(v);
    }
    if (json_declared) {
        if (why) *why = "the body is not valid JSON though its Content-Type says JSON";
        return MAE_EPARSE;
    }
    mae_hbuf s = {0};
    const unsigned char *u = (const unsigned char *)body;
    for (size_t i = 0; i < len;) {
        size_t k = mae__utf8_char_len(u + i, len - i);
        int rc = k ? mae__hbuf_add(&s, body + i, k) : mae__hbuf_add(&s, "\xef\xbf\xbd", 3);
        if (rc) {
            mae__hbuf_free(&s);
            return MAE_ENOMEM;
        }
        i += k ? k : 1;
    }
    *out = cJSON_CreateString(s.p);
    mae__hbuf_free(&s);
    return *out ? 0 : MAE_ENOMEM;
}

bool mae__http_path_ok(const char *path) {
    if (!path || path[0] != '/') return false;
    for (const char *p = path; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c >= 0x7f || strchr("#\"<>\\^`{|}", c)) return false;
    }
    return true;
}

bool mae__http_verb_ok(const char *verb) {
    size_t n = 0;
    if (!verb) return false;
    for (; verb[n]; n++)
        if (verb[n] < 'A' || verb[n] > 'Z' || n >= 16) return false;
    return n > 0;
}

mae_class mae__http_status_class(long status) {
    if (status >= 300 && status < 500) return MAE_CLASS_HTTP_4XX;
    if (status >= 500 && status < 600) return MAE_CLASS_HTTP_5XX;
    return MAE_CLASS_DECODE;
}

mae_class mae__http_curl_class(CURLcode rc) {
    switch (rc) {
    case CURLE_OK: return MAE_CLASS_NONE;
    case CURLE_OPERATION_TIMEDOUT: return MAE_CLASS_TIMEOUT;
    /* The reply could not be understood, or was bigger than allowed: permanent. */
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_FILESIZE_EXCEEDED:
    case CURLE_WRITE_ERROR:
    case CURLE_TOO_MANY_REDIRECTS:
        return MAE_CLASS_DECODE;
    /* The URL itself (endpoint + path) is not acceptable: retrying cannot help. */
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return MAE_CLASS_TEMPLATE;
    /* Refused, unresolvable, reset, closed early, TLS handshake or verification failed, and
     * anything else the network did: connect. */
    default:
        return MAE_CLASS_CONNECT;
    }
}
