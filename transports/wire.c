/* The shared byte-level rules (see wire.h). */
#include "transports/wire.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool unreserved(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static bool keep_byte(unsigned char c, mae_pct_set keep, bool dots) {
    if (keep == MAE_PCT_PRINTABLE) return c >= 0x20 && c <= 0x7e && c != '%';
    return unreserved(c) && !(c == '.' && dots);
}

size_t mae__pct_encode(const char *s, size_t n, mae_pct_set keep, char *out) {
    static const char hx[] = "0123456789ABCDEF";
    bool dots = keep == MAE_PCT_SEGMENT && n > 0;
    for (size_t i = 0; i < n && dots; i++) dots = s[i] == '.';
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (keep_byte(c, keep, dots)) {
            out[k++] = (char)c;
        } else {
            out[k++] = '%';
            out[k++] = hx[c >> 4];
            out[k++] = hx[c & 15];
        }
    }
    out[k] = 0;
    return k;
}

char *mae__pct_encode_segment(const char *s, size_t n) {
    char *o = malloc(n * 3 + 1);
    if (o) mae__pct_encode(s, n, MAE_PCT_SEGMENT, o);
    return o;
}

static int hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

size_t mae__pct_decode_to(const char *s, size_t n, bool plus_is_space, char *out, size_t cap) {
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++) {
        int h, l;
        if (s[i] == '%' && i + 2 < n && (h = hexval((unsigned char)s[i + 1])) >= 0 &&
            (l = hexval((unsigned char)s[i + 2])) >= 0) {
            out[k++] = (char)(h << 4 | l);
            i += 2;
        } else if (plus_is_space && s[i] == '+') {
            out[k++] = ' ';
        } else {
            out[k++] = s[i];
        }
    }
    out[k] = 0;
    return k;
}

char *mae__pct_decode(const char *s, size_t n, bool plus_is_space, size_t *out_len) {
    char *o = malloc(n + 1);
    if (!o) return NULL;
    size_t k = mae__pct_decode_to(s, n, plus_is_space, o, n + 1);
    if (out_len) *out_len = k;
    return o;
}

bool mae__header_value_ok(const char *s) { return s && strpbrk(s, "\r\n") == NULL; }

bool mae__header_is_bin(const char *name) {
    size_t n = name ? strlen(name) : 0;
    return n > 4 && strcasecmp(name + n - 4, "-bin") == 0;
}

bool mae__header_bin_value_ok(const char *s) {
    if (!s) return false;
    size_t n = 0, pad = 0;
    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        bool b64 = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                   c == '+' || c == '/';
        if (c == '=') pad++;
        else if (!b64 || pad) return false;  /* '=' only at the end */
    }
    if (pad > 2 || (pad && n % 4 != 0)) return false;
    return (n - pad) % 4 != 1;
}

bool mae__header_name_ok(const char *s) {
    if (!s || !*s) return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && !(c && strchr("!#$%&'*+-.^_`|~", c))) return false;
    }
    return true;
}
