/* Text forms the proto3 JSON mapping gives some types: base64 for bytes, RFC 3339 for
 * Timestamp, "1.5s" for Duration, lowerCamelCase FieldMask paths, shortest floats. Pure
 * functions over strings and numbers; ranges are those protobuf's own libraries enforce. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc_h2/pb_int.h"

#define TS_MIN (-62135596800LL)      /* 0001-01-01T00:00:00Z */
#define TS_MAX 253402300799LL        /* 9999-12-31T23:59:59Z */
#define DUR_MAX 315576000000LL       /* 10,000 years */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *mae__pb_b64_encode(const uint8_t *p, size_t len) {
    char *o = malloc(len / 3 * 4 + 5), *s = o;
    if (!o) return NULL;
    size_t i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *s++ = B64[v >> 18];
        *s++ = B64[(v >> 12) & 63];
        *s++ = B64[(v >> 6) & 63];
        *s++ = B64[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);
        *s++ = B64[v >> 18];
        *s++ = B64[(v >> 12) & 63];
        *s++ = i + 1 < len ? B64[(v >> 6) & 63] : '=';
        *s++ = '=';
    }
    *s = 0;
    return o;
}

static int b64_val(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

int mae__pb_b64_decode(const char *s, uint8_t **out, size_t *len) {
    size_t n = strlen(s);
    while (n && s[n - 1] == '=') n--;
    if (strlen(s) - n > 2 || n % 4 == 1) return -1;
    uint8_t *o = malloc(n / 4 * 3 + 3);
    if (!o) return -2;
    size_t ol = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_val(s[i]);
        if (v < 0) {
            free(o);
            return -1;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[ol++] = (uint8_t)(acc >> bits);
        }
    }
    *out = o;
    *len = ol;
    return 0;
}

/* Days since 1970-01-01 of a civil date, and back (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* ".123", ".123456", ".123456789" or "" for nanos. */
static void frac(int32_t nanos, char *buf, size_t cap) {
    if (nanos == 0) snprintf(buf, cap, "%s", "");
    else if (nanos % 1000000 == 0) snprintf(buf, cap, ".%03d", nanos / 1000000);
    else if (nanos % 1000 == 0) snprintf(buf, cap, ".%06d", nanos / 1000);
    else snprintf(buf, cap, ".%09d", nanos);
}

int mae__pb_ts_format(int64_t secs, int32_t nanos, char *buf, size_t cap) {
    if (secs < TS_MIN || secs > TS_MAX || nanos < 0 || nanos > 999999999) return -1;
    int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    int64_t rem = secs - days * 86400, y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    char f[16];
    frac(nanos, f, sizeof f);
    snprintf(buf, cap, "%04d-%02u-%02uT%02d:%02d:%02d%sZ", (int)y, m, d, (int)(rem / 3600),
             (int)(rem / 60 % 60), (int)(rem % 60), f);
    return 0;
}

/* n decimal digits at *s into *v; advances. */
static int digits(const char **s, int n, int *v) {
    *v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*s)[i];
        if (c < '0' || c > '9') return -1;
        *v = *v * 10 + (c - '0');
    }
    *s += n;
    return 0;
}

/* Up to 9 fraction digits after a '.', as nanos. */
static int parse_frac(const char **s, int32_t *nanos) {
    *nanos = 0;
    if (**s != '.') return 0;
    (*s)++;
    int n = 0;
    int32_t v = 0;
    while (**s >= '0' && **s <= '9') {
        if (++n > 9) return -1;
        v = v * 10 + (**s - '0');
        (*s)++;
    }
    if (n == 0) return -1;
    for (; n < 9; n++) v *= 10;
    *nanos = v;
    return 0;
}

int mae__pb_ts_parse(const char *s, int64_t *secs, int32_t *nanos) {
    int y, mo, d, h, mi, se;
    if (digits(&s, 4, &y) || *s++ != '-' || digits(&s, 2, &mo) || *s++ != '-' ||
        digits(&s, 2, &d) || (*s != 'T' && *s != 't') || (s++, digits(&s, 2, &h)) ||
        *s++ != ':' || digits(&s, 2, &mi) || *s++ != ':' || digits(&s, 2, &se))
        return -1;
    if (parse_frac(&s, nanos)) return -1;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || se > 59)
        return -1;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo == 2 && d == 29 && !leap) return -1;
    int64_t off = 0;
    if (*s == 'Z' || *s == 'z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        int sign = *s++ == '-' ? -1 : 1, oh, om;
        if (digits(&s, 2, &oh) || *s++ != ':' || digits(&s, 2, &om) || oh > 23 || om > 59)
            return -1;
        off = sign * (oh * 3600 + om * 60);
    } else {
        return -1;
    }
    if (*s) return -1;
    int64_t t = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 +
                se - off;
    if (t < TS_MIN || t > TS_MAX) return -1;
    *secs = t;
    return 0;
}

int mae__pb_dur_format(int64_t secs, int32_t nanos, char *buf, size_t cap) {
    if (secs < -DUR_MAX || secs > DUR_MAX || nanos < -999999999 || nanos > 999999999 ||
        (secs > 0 && nanos < 0) || (secs < 0 && nanos > 0))
        return -1;
    bool neg = secs < 0 || nanos < 0;
    char f[16];
    frac(nanos < 0 ? -nanos : nanos, f, sizeof f);
    snprintf(buf, cap, "%s%lld%ss", neg ? "-" : "", (long long)(secs < 0 ? -secs : secs), f);
    return 0;
}

int mae__pb_dur_parse(const char *s, int64_t *secs, int32_t *nanos) {
    bool neg = *s == '-';
    if (neg) s++;
    if (*s < '0' || *s > '9') return -1;
    int64_t v = 0;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (*s++ - '0');
        if (v > DUR_MAX) return -1;
    }
    if (parse_frac(&s, nanos) || *s++ != 's' || *s) return -1;
    *secs = neg ? -v : v;
    if (neg) *nanos = -*nanos;
    return 0;
}

double mae__pb_float_json(float f) {
    if (!isfinite(f)) return (double)f;
    char buf[32];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        if (strtof(buf, NULL) == f) break;
    }
    return strtod(buf, NULL);
}

int mae__pb_snake_to_camel(const char *in, char *out, size_t cap) {
    size_t o = 0;
    for (const char *s = in; *s; s++) {
        if (o + 2 > cap) return -1;
        if (*s >= 'A' && *s <= 'Z') return -1;
        if (*s == '_') {
            if (s[1] < 'a' || s[1] > 'z') return -1;
            out[o++] = (char)(*++s - 'a' + 'A');
        } else {
            out[o++] = *s;
        }
    }
    out[o] = 0;
    return 0;
}

int mae__pb_camel_to_snake(const char *in, char *out, size_t cap) {
    size_t o = 0;
    for (const char *s = in; *s; s++) {
        if (o + 3 > cap || *s == '_') return -1;
        if (*s >= 'A' && *s <= 'Z') {
            out[o++] = '_';
            out[o++] = (char)(*s - 'A' + 'a');
        } else {
            out[o++] = *s;
        }
    }
    out[o] = 0;
    return 0;
}
