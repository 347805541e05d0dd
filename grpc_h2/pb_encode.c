/* JSON -> protobuf wire bytes for a message type of the pool, by the proto3 JSON mapping. Every
 * value is checked against its field's type before anything is written; the first mismatch
 * ends the encode with MAE_ETEMPLATE and the path of the field ("tags.team: expected string,
 * got 5"). Nesting is bounded by MAE__PB_MAX_DEPTH (messages and JSON containers alike). */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc_h2/pb_int.h"
#include "maestro/maestro.h"
#include "workflow/utf8.h"

/* The most a request may encode to (gRPC's own default receive limit is 4 MiB). */
#define ENC_MAX (64u << 20)

typedef struct enc {
    pb_buf b;
    const mae__pb_pool *pool;
    char path[512];
    size_t plen;
    char *err;
    size_t cap;
} enc;

/* --- errors and paths -------------------------------------------------------------------- */

static size_t path_push_key(enc *e, const char *key) {
    size_t old = e->plen;
    if (e->plen < sizeof e->path) {
        int n = snprintf(e->path + e->plen, sizeof e->path - e->plen, "%s%s",
                         e->plen ? "." : "", key);
        e->plen = n < 0 ? e->plen : e->plen + (size_t)n;
        if (e->plen >= sizeof e->path) e->plen = sizeof e->path - 1;
    }
    return old;
}

static size_t path_push_index(enc *e, int i) {
    size_t old = e->plen;
    if (e->plen < sizeof e->path) {
        int n = snprintf(e->path + e->plen, sizeof e->path - e->plen, "[%d]", i);
        e->plen = n < 0 ? e->plen : e->plen + (size_t)n;
        if (e->plen >= sizeof e->path) e->plen = sizeof e->path - 1;
    }
    return old;
}

static void path_pop(enc *e, size_t old) {
    e->plen = old;
    e->path[old] = 0;
}

/* A short rendering of the offending JSON value. */
static void show(const cJSON *j, char *buf, size_t cap) {
    char *s = j ? cJSON_PrintUnformatted(j) : NULL;
    if (!s) {
        snprintf(buf, cap, "%s", "?");
        return;
    }
    if (strlen(s) > 40) snprintf(buf, cap, "%.37s...", s);
    else snprintf(buf, cap, "%s", s);
    free(s);
}

__attribute__((format(printf, 2, 3))) static int fail(enc *e, const char *fmt, ...) {
    if (e->err && e->cap) {
        /* A deep path keeps its end, where the problem is. */
        const char *path = e->plen ? e->path : "(input)";
        bool cut = e->plen > 80;
        int n = snprintf(e->err, e->cap, "%s%s: ", cut ? "..." : "",
                         cut ? path + e->plen - 77 : path);
        va_list ap;
        va_start(ap, fmt);
        if (n >= 0 && (size_t)n < e->cap) vsnprintf(e->err + n, e->cap - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return MAE_ETEMPLATE;
}

static int expected(enc *e, const char *type, const cJSON *got) {
    char g[48];
    show(got, g, sizeof g);
    return fail(e, "expected %s, got %s", type, g);
}

static int limit(enc *e, int rc) {
    if (rc == MAE_ELIMIT && e->err && e->cap)
        snprintf(e->err, e->cap, "%s: message larger than %u MiB", e->plen ? e->path : "(input)",
                 ENC_MAX >> 20);
    return rc;
}

/* Protobuf strings are UTF-8; cJSON keeps whatever bytes the text had. */
static bool utf8_ok(const char *s) {
    size_t n = strlen(s);
    return mae__utf8_check((const unsigned char *)s, n) == n;
}

/* --- scalars ----------------------------------------------------------------------------- */

static const char *type_word(const mae__pb_field *f) {
    static const char *const w[] = {"?", "double", "float", "int64", "uint64", "int32",
                                    "fixed64", "fixed32", "bool", "string", "group", "message",
                                    "bytes", "uint32", "enum", "sfixed32", "sfixed64", "sint32",
                                    "sint64"};
    return f->type <= PB_SINT64 ? w[f->type] : "?";
}

/* An integer from a JSON number or a decimal string. */
static int get_int(const cJSON *j, bool is_signed, int64_t *s, uint64_t *u) {
    if (cJSON_IsNumber(j)) {
        double v = j->valuedouble;
        if (!isfinite(v) || v != floor(v)) return -1;
        if (is_signed) {
            if (v < -9223372036854775808.0 || v >= 9223372036854775808.0) return -1;
            *s = (int64_t)v;
        } else {
            if (v < 0 || v >= 18446744073709551616.0) return -1;
            *u = (uint64_t)v;
        }
        return 0;
    }
    if (!cJSON_IsString(j)) return -1;
    const char *t = j->valuestring;
    if (!*t || (*t == '-' && !is_signed)) return -1;
    char *end;
    errno = 0;
    if (is_signed) *s = strtoll(t, &end, 10);
    else *u = strtoull(t, &end, 10);
    if (errno || *end || end == t || *t == ' ' || *t == '+' || (*t == '-' && !t[1]))
        return -1;
    for (const char *c = *t == '-' ? t + 1 : t; *c; c++)
        if (*c < '0' || *c > '9') return -1;
    return 0;
}

static int get_double(const cJSON *j, double *v) {
    if (cJSON_IsNumber(j)) {
        *v = j->valuedouble;
        return 0;
    }
    if (!cJSON_IsString(j)) return -1;
    const char *t = j->valuestring;
    if (strcmp(t, "NaN") == 0) *v = NAN;
    else if (strcmp(t, "Infinity") == 0) *v = INFINITY;
    else if (strcmp(t, "-Infinity") == 0) *v = -INFINITY;
    else {
        char *end;
        if (!*t || *t == ' ') return -1;
        *v = strtod(t, &end);
        if (*end || !isfinite(*v)) return -1;
    }
    return 0;
}

/* The wire value of a scalar (not string/bytes/message) field from JSON: *w (varint or fixed
 * bits), *wt the wire type, *zero whether it is the type's default. */
static int scalar(enc *e, const mae__pb_field *f, const cJSON *j, uint64_t *w, unsigned *wt,
                  bool *zero) {
    int64_t s = 0;
    uint64_t u = 0;
    double d;
    *wt = 0;
    switch (f->type) {
    case PB_INT32: case PB_SINT32: case PB_SFIXED32:
        if (get_int(j, true, &s, &u) || s < INT32_MIN || s > INT32_MAX)
            return expected(e, type_word(f), j);
        *w = f->type == PB_SINT32 ? (uint32_t)(((uint32_t)s << 1) ^ (uint32_t)(s >> 31))
             : f->type == PB_SFIXED32 ? (uint32_t)s : (uint64_t)s;
        *wt = f->type == PB_SFIXED32 ? 5 : 0;
        *zero = s == 0;
        return 0;
    case PB_INT64: case PB_SINT64: case PB_SFIXED64:
        if (get_int(j, true, &s, &u)) return expected(e, type_word(f), j);
        *w = f->type == PB_SINT64 ? ((uint64_t)s << 1) ^ (uint64_t)(s >> 63) : (uint64_t)s;
        *wt = f->type == PB_SFIXED64 ? 1 : 0;
        *zero = s == 0;
        return 0;
    case PB_UINT32: case PB_FIXED32:
        if (get_int(j, false, &s, &u) || u > UINT32_MAX) return expected(e, type_word(f), j);
        *w = u;
        *wt = f->type == PB_FIXED32 ? 5 : 0;
        *zero = u == 0;
        return 0;
    case PB_UINT64: case PB_FIXED64:
        if (get_int(j, false, &s, &u)) return expected(e, type_word(f), j);
        *w = u;
        *wt = f->type == PB_FIXED64 ? 1 : 0;
        *zero = u == 0;
        return 0;
    case PB_DOUBLE:
        if (get_double(j, &d)) return expected(e, "double", j);
        memcpy(w, &d, 8);
        *wt = 1;
        *zero = *w == 0;
        return 0;
    case PB_FLOAT: {
        if (get_double(j, &d) || (isfinite(d) && fabs(d) > FLT_MAX))
            return expected(e, "float", j);
        float fl = (float)d;
        uint32_t b;
        memcpy(&b, &fl, 4);
        *w = b;
        *wt = 5;
        *zero = b == 0;
        return 0;
    }
    case PB_BOOL:
        if (!cJSON_IsBool(j)) return expected(e, "bool", j);
        *w = cJSON_IsTrue(j);
        *zero = !*w;
        return 0;
    case PB_ENUM: {
        const mae__pb_enum *en = f->en;
        if (en->null_value && (cJSON_IsNull(j) ||
                               (cJSON_IsString(j) && strcmp(j->valuestring, "NULL_VALUE") == 0))) {
            *w = 0;
            *zero = true;
            return 0;
        }
        if (cJSON_IsString(j)) {
            for (size_t i = 0; i < en->n; i++) {
                if (strcmp(en->names[i], j->valuestring) == 0) {
                    *w = (uint64_t)(int64_t)en->numbers[i];
                    *zero = en->numbers[i] == 0;
                    return 0;
                }
            }
        } else if (!get_int(j, true, &s, &u) && s >= INT32_MIN && s <= INT32_MAX) {
            *w = (uint64_t)s;
            *zero = s == 0;
            return 0;
        }
        char what[300];
        snprintf(what, sizeof what, "a value of enum %s", en->full_name);
        return expected(e, what, j);
    }
    default:
        return fail(e, "unsupported field type %s", type_word(f));
    }
}

static int put_scalar(enc *e, uint64_t w, unsigned wt) {
    if (wt == 0) return mae__pb_buf_varint(&e->b, w);
    uint8_t tmp[8];
    size_t n = wt == 1 ? 8 : 4;
    for (size_t i = 0; i < n; i++) tmp[i] = (uint8_t)(w >> (8 * i));
    return mae__pb_buf_put(&e->b, tmp, n);
}

/* --- fields ------------------------------------------------------------------------------ */

static int enc_msg(enc *e, const mae__pb_msg *m, const cJSON *j, int depth, bool any_body);
static int enc_wkt(enc *e, const mae__pb_msg *m, const cJSON *j, int depth);

/* A message-typed value as a length-delimited field. */
static int put_msg(enc *e, uint32_t number, const mae__pb_msg *m, const cJSON *j, int depth) {
    int rc = mae__pb_buf_tag(&e->b, number, 2);
    if (rc) return limit(e, rc);
    size_t start = e->b.len;
    if ((rc = enc_msg(e, m, j, depth + 1, false))) return rc;
    return limit(e, mae__pb_buf_close_len(&e->b, start));
}

/* One value of field f (an element when f is repeated); implicit: skip the type's default. */
static int put_value(enc *e, const mae__pb_field *f, const cJSON *j, int depth, bool implicit) {
    int rc;
    if (f->type == PB_MESSAGE) return put_msg(e, (uint32_t)f->number, f->msg, j, depth);
    if (f->type == PB_STRING) {
        if (!cJSON_IsString(j)) return expected(e, "string", j);
        if (!utf8_ok(j->valuestring)) return fail(e, "expected string, got invalid UTF-8");
        size_t n = strlen(j->valuestring);
        if (implicit && n == 0) return 0;
        if ((rc = mae__pb_buf_tag(&e->b, (uint32_t)f->number, 2)) ||
            (rc = mae__pb_buf_varint(&e->b, n)) || (rc = mae__pb_buf_put(&e->b, j->valuestring, n)))
            return limit(e, rc);
        return 0;
    }
    if (f->type == PB_BYTES) {
        uint8_t *bytes;
        size_t n;
        if (!cJSON_IsString(j)) return expected(e, "bytes (base64)", j);
        if ((rc = mae__pb_b64_decode(j->valuestring, &bytes, &n)))
            return rc == -2 ? MAE_ENOMEM : expected(e, "bytes (base64)", j);
        if (!(implicit && n == 0) &&
            ((rc = mae__pb_buf_tag(&e->b, (uint32_t)f->number, 2)) ||
             (rc = mae__pb_buf_varint(&e->b, n)) || (rc = mae__pb_buf_put(&e->b, bytes, n)))) {
            free(bytes);
            return limit(e, rc);
        }
        free(bytes);
        return 0;
    }
    if (f->type == PB_GROUP) return fail(e, "groups are not supported");
    uint64_t w;
    unsigned wt;
    bool zero;
    if ((rc = scalar(e, f, j, &w, &wt, &zero))) return rc;
    if (implicit && zero) return 0;
    if ((rc = mae__pb_buf_tag(&e->b, (uint32_t)f->number, wt)) || (rc = put_scalar(e, w, wt)))
        return limit(e, rc);
    return 0;
}

/* A map key: JSON object keys are strings; integer and bool keys are written as text. */
static int put_map_key(enc *e, const mae__pb_field *kf, const char *key) {
    cJSON tmp = {0};
    if (kf->type == PB_STRING) {
        tmp.type = cJSON_String;
        tmp.valuestring = (char *)key;
        return put_value(e, kf, &tmp, 0, false);
    }
    if (kf->type == PB_BOOL) {
        if (strcmp(key, "true") && strcmp(key, "false")) {
            tmp.type = cJSON_String;
            tmp.valuestring = (char *)key;
            return expected(e, "a bool map key", &tmp);
        }
        tmp.type = strcmp(key, "true") == 0 ? cJSON_True : cJSON_False;
        return put_value(e, kf, &tmp, 0, false);
    }
    tmp.type = cJSON_String;
    tmp.valuestring = (char *)key;
    return put_value(e, kf, &tmp, 0, false);
}

static int enc_field(enc *e, const mae__pb_field *f, const cJSON *j, int depth) {
    int rc;
    if (f->map) {
        if (!cJSON_IsObject(j)) return expected(e, "object (map)", j);
        if (depth + 1 > MAE__PB_MAX_DEPTH)
            return fail(e, "nested deeper than %d", MAE__PB_MAX_DEPTH);
        const mae__pb_field *kf = &f->msg->fields[0], *vf = &f->msg->fields[1];
        for (const cJSON *c = j->child; c; c = c->next) {
            size_t old = path_push_key(e, c->string);
            if ((rc = mae__pb_buf_tag(&e->b, (uint32_t)f->number, 2))) return limit(e, rc);
            size_t start = e->b.len;
            if (cJSON_IsNull(c) && !(vf->msg && vf->msg->wkt == PB_WKT_VALUE))
                return expected(e, "a map value", c);
            if ((rc = put_map_key(e, kf, c->string)) ||
                (rc = put_value(e, vf, c, depth + 1, false)))
                return rc;
            if ((rc = mae__pb_buf_close_len(&e->b, start))) return limit(e, rc);
            path_pop(e, old);
        }
        return 0;
    }
    if (f->repeated) {
        if (!cJSON_IsArray(j)) return expected(e, "array", j);
        size_t start = 0;
        if (f->packed && j->child) {
            if ((rc = mae__pb_buf_tag(&e->b, (uint32_t)f->number, 2))) return limit(e, rc);
            start = e->b.len;
        }
        int i = 0;
        for (const cJSON *c = j->child; c; c = c->next, i++) {
            size_t old = path_push_index(e, i);
            if (cJSON_IsNull(c) && !(f->msg && f->msg->wkt == PB_WKT_VALUE))
                return expected(e, "an element", c);
            if (f->packed) {
                uint64_t w;
                unsigned wt;
                bool zero;
                if ((rc = scalar(e, f, c, &w, &wt, &zero))) return rc;
                if ((rc = put_scalar(e, w, wt))) return limit(e, rc);
            } else if ((rc = put_value(e, f, c, depth, false))) {
                return rc;
            }
            path_pop(e, old);
        }
        if (f->packed && j->child && (rc = mae__pb_buf_close_len(&e->b, start)))
            return limit(e, rc);
        return 0;
    }
    return put_value(e, f, j, depth, !f->presence);
}

static int enc_msg(enc *e, const mae__pb_msg *m, const cJSON *j, int depth, bool any_body) {
    if (depth > MAE__PB_MAX_DEPTH) return fail(e, "nested deeper than %d", MAE__PB_MAX_DEPTH);
    if (m->wkt != PB_WKT_NONE && !any_body) return enc_wkt(e, m, j, depth);
    if (!cJSON_IsObject(j)) {
        char what[300];
        snprintf(what, sizeof what, "object (%s)", m->full_name);
        return expected(e, what, j);
    }
    /* Which fields and oneofs were given, to refuse a field named twice. */
    uint8_t small[64];
    size_t need = m->nfields + m->noneofs;
    uint8_t *seen = need <= sizeof small ? small : calloc(need, 1);
    if (!seen) return MAE_ENOMEM;
    memset(seen, 0, need <= sizeof small ? need : 0);
    uint8_t *oseen = seen + m->nfields;
    int rc = 0;
    for (const cJSON *c = j->child; c && !rc; c = c->next) {
        if (any_body && strcmp(c->string, "@type") == 0) continue;
        size_t old = path_push_key(e, c->string);
        char hint[128];
        const mae__pb_field *f = mae__pb_msg_field(m, c->string, hint, sizeof hint);
        if (!f) {
            if (hint[0]) rc = fail(e, "no such field in %s (did you mean %s?)", m->full_name, hint);
            else rc = fail(e, "no such field in %s", m->full_name);
            break;
        }
        size_t fi = (size_t)(f - m->fields);
        if (seen[fi]) {
            rc = fail(e, "field %s given twice", f->name);
            break;
        }
        seen[fi] = 1;
        bool is_value = f->msg && f->msg->wkt == PB_WKT_VALUE && !f->repeated;
        bool is_null_enum = f->en && f->en->null_value && !f->repeated;
        /* null means "not set", except where null is itself a value. */
        if (cJSON_IsNull(c) && !is_value && !is_null_enum) {
            path_pop(e, old);
            continue;
        }
        if (f->oneof >= 0) {
            if (oseen[f->oneof]) {
                rc = fail(e, "oneof %s already has a value", m->oneofs[f->oneof]);
                break;
            }
            oseen[f->oneof] = 1;
        }
        rc = enc_field(e, f, c, depth);
        if (!rc) path_pop(e, old);
    }
    if (seen != small) free(seen);
    return rc;
}

/* --- well-known types -------------------------------------------------------------------- */

static int put_varint_field(enc *e, uint32_t n, uint64_t v) {
    int rc = mae__pb_buf_tag(&e->b, n, 0);
    if (!rc) rc = mae__pb_buf_varint(&e->b, v);
    return limit(e, rc);
}

static int put_bytes_field(enc *e, uint32_t n, const void *p, size_t len) {
    int rc = mae__pb_buf_tag(&e->b, n, 2);
    if (!rc) rc = mae__pb_buf_varint(&e->b, len);
    if (!rc) rc = mae__pb_buf_put(&e->b, p, len);
    return limit(e, rc);
}

static int enc_value(enc *e, const cJSON *j, int depth);

/* Struct body: map<string, Value> fields = 1. */
static int enc_struct(enc *e, const cJSON *j, int depth) {
    if (!cJSON_IsObject(j)) return expected(e, "object", j);
    if (depth > MAE__PB_MAX_DEPTH) return fail(e, "nested deeper than %d", MAE__PB_MAX_DEPTH);
    for (const cJSON *c = j->child; c; c = c->next) {
        size_t old = path_push_key(e, c->string);
        if (!utf8_ok(c->string)) return fail(e, "a key that is not valid UTF-8");
        int rc = mae__pb_buf_tag(&e->b, 1, 2);
        if (rc) return limit(e, rc);
        size_t start = e->b.len;
        if ((rc = put_bytes_field(e, 1, c->string, strlen(c->string)))) return rc;
        if ((rc = mae__pb_buf_tag(&e->b, 2, 2))) return limit(e, rc);
        size_t vstart = e->b.len;
        if ((rc = enc_value(e, c, depth + 1))) return rc;
        if ((rc = mae__pb_buf_close_len(&e->b, vstart)) ||
            (rc = mae__pb_buf_close_len(&e->b, start)))
            return limit(e, rc);
        path_pop(e, old);
    }
    return 0;
}

/* ListValue body: repeated Value values = 1. */
static int enc_list(enc *e, const cJSON *j, int depth) {
    if (!cJSON_IsArray(j)) return expected(e, "array", j);
    if (depth > MAE__PB_MAX_DEPTH) return fail(e, "nested deeper than %d", MAE__PB_MAX_DEPTH);
    int i = 0;
    for (const cJSON *c = j->child; c; c = c->next, i++) {
        size_t old = path_push_index(e, i);
        int rc = mae__pb_buf_tag(&e->b, 1, 2);
        if (rc) return limit(e, rc);
        size_t start = e->b.len;
        if ((rc = enc_value(e, c, depth + 1))) return rc;
        if ((rc = mae__pb_buf_close_len(&e->b, start))) return limit(e, rc);
        path_pop(e, old);
    }
    return 0;
}

/* Value body: a oneof of null (1), number (2), string (3), bool (4), Struct (5), List (6). */
static int enc_value(enc *e, const cJSON *j, int depth) {
    int rc;
    size_t start;
    if (cJSON_IsNull(j)) return put_varint_field(e, 1, 0);
    if (cJSON_IsNumber(j)) {
        uint64_t w;
        memcpy(&w, &j->valuedouble, 8);
        if ((rc = mae__pb_buf_tag(&e->b, 2, 1)) || (rc = put_scalar(e, w, 1))) return limit(e, rc);
        return 0;
    }
    if (cJSON_IsString(j)) {
        if (!utf8_ok(j->valuestring)) return fail(e, "expected string, got invalid UTF-8");
        return put_bytes_field(e, 3, j->valuestring, strlen(j->valuestring));
    }
    if (cJSON_IsBool(j)) return put_varint_field(e, 4, cJSON_IsTrue(j));
    if (!cJSON_IsObject(j) && !cJSON_IsArray(j)) return expected(e, "a JSON value", j);
    if ((rc = mae__pb_buf_tag(&e->b, cJSON_IsObject(j) ? 5 : 6, 2))) return limit(e, rc);
    start = e->b.len;
    rc = cJSON_IsObject(j) ? enc_struct(e, j, depth) : enc_list(e, j, depth);
    if (rc) return rc;
    return limit(e, mae__pb_buf_close_len(&e->b, start));
}

static int enc_any(enc *e, const mae__pb_msg *m, const cJSON *j, int depth) {
    if (!cJSON_IsObject(j)) return expected(e, "object (google.protobuf.Any)", j);
    if (!j->child) return 0;   /* {} is the empty Any */
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "@type");
    if (!cJSON_IsString(t) || !utf8_ok(t->valuestring))
        return fail(e, "an Any needs a \"@type\"");
    const mae__pb_msg *inner = mae__pb_any_type(m->pool ? m->pool : e->pool, NULL, 0,
                                                t->valuestring);
    if (!inner) return fail(e, "unknown Any type %s", t->valuestring);
    int rc = put_bytes_field(e, 1, t->valuestring, strlen(t->valuestring));
    if (rc) return rc;
    if ((rc = mae__pb_buf_tag(&e->b, 2, 2))) return limit(e, rc);
    size_t start = e->b.len;
    if (inner->wkt != PB_WKT_NONE) {
        for (const cJSON *c = j->child; c; c = c->next)
            if (strcmp(c->string, "@type") && strcmp(c->string, "value")) {
                size_t old = path_push_key(e, c->string);
                rc = fail(e, "an Any of %s holds only \"value\"", inner->full_name);
                path_pop(e, old);
                return rc;
            }
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "value");
        if (!v) return fail(e, "an Any of %s needs a \"value\"", inner->full_name);
        size_t old = path_push_key(e, "value");
        if ((rc = enc_msg(e, inner, v, depth + 1, false))) return rc;
        path_pop(e, old);
    } else if ((rc = enc_msg(e, inner, j, depth + 1, true))) {
        return rc;
    }
    return limit(e, mae__pb_buf_close_len(&e->b, start));
}

static int enc_wkt(enc *e, const mae__pb_msg *m, const cJSON *j, int depth) {
    int64_t secs;
    int32_t nanos;
    switch (m->wkt) {
    case PB_WKT_TIMESTAMP:
    case PB_WKT_DURATION: {
        bool ts = m->wkt == PB_WKT_TIMESTAMP;
        if (!cJSON_IsString(j) || (ts ? mae__pb_ts_parse(j->valuestring, &secs, &nanos)
                                      : mae__pb_dur_parse(j->valuestring, &secs, &nanos)))
            return expected(e, ts ? "an RFC 3339 timestamp" : "a duration like \"1.5s\"", j);
        int rc = 0;
        if (secs) rc = put_varint_field(e, 1, (uint64_t)secs);
        if (!rc && nanos) rc = put_varint_field(e, 2, (uint64_t)(int64_t)nanos);
        return rc;
    }
    case PB_WKT_STRUCT: return enc_struct(e, j, depth);
    case PB_WKT_LIST: return enc_list(e, j, depth);
    case PB_WKT_VALUE: return enc_value(e, j, depth);
    case PB_WKT_EMPTY:
        if (!cJSON_IsObject(j) || j->child) return expected(e, "{} (google.protobuf.Empty)", j);
        return 0;
    case PB_WKT_FIELDMASK: {
        if (!cJSON_IsString(j) || !utf8_ok(j->valuestring))
            return expected(e, "a field mask string", j);
        /* "" is no path; otherwise every comma separates one, empty ones included. */
        const char *s = j->valuestring;
        while (*j->valuestring) {
            const char *c = strchr(s, ',');
            size_t n = c ? (size_t)(c - s) : strlen(s);
            char *in = malloc(n + 1), *out = malloc(2 * n + 1);
            if (!in || !out) {
                free(in);
                free(out);
                return MAE_ENOMEM;
            }
            memcpy(in, s, n);
            in[n] = 0;
            int rc = mae__pb_camel_to_snake(in, out, 2 * n + 1)
                         ? expected(e, "a field mask of lowerCamelCase paths", j)
                         : put_bytes_field(e, 1, out, strlen(out));
            free(in);
            free(out);
            if (rc) return rc;
            if (!c) break;
            s = c + 1;
        }
        return 0;
    }
    case PB_WKT_ANY: return enc_any(e, m, j, depth);
    default:
        /* The wrappers: the JSON of their one field "value" (1). */
        if (m->nfields < 1 || cJSON_IsNull(j)) return expected(e, m->full_name, j);
        return put_value(e, &m->fields[0], j, depth, true);
    }
}

int mae__pb_encode(const mae__pb_msg *m, const cJSON *in, size_t prefix, uint8_t **out,
                   size_t *len, char *err, size_t cap) {
    if (err && cap) err[0] = 0;
    enc e = {.b = {.max = ENC_MAX + prefix}, .pool = m->pool, .err = err, .cap = cap};
    int rc = mae__pb_buf_reserve(&e.b, prefix + 16);
    if (rc) {
        if (err && cap) snprintf(err, cap, "out of memory");
        return rc;
    }
    e.b.len = prefix;
    memset(e.b.p, 0, prefix);
    rc = enc_msg(&e, m, in, 1, false);
    if (rc) {
        free(e.b.p);
        if (rc == MAE_ENOMEM && err && cap) snprintf(err, cap, "out of memory");
        return rc;
    }
    *out = e.b.p;
    *len = e.b.len - prefix;
    return 0;
}
