/* The envelope's bytes straight from and into cJSON (see grpc_envwire.h). Every malloc of the
 * old way (a protobuf-c node per value, a key copy per field, the packed Struct, then the same
 * again on the way back) is gone: one output buffer when writing, the cJSON nodes themselves
 * when reading. Field numbers and wire types are those of proto/maestro/internal/envelope.proto
 * and struct.proto. */
#include "grpc_h2/grpc_envwire.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "grpc_h2/grpc_struct.h"
#include "maestro/maestro.h"

/* ---- Writing ---- */

typedef struct wbuf {
    uint8_t *p;
    size_t len, cap;
    int err;                     /* the first error; writes after it do nothing */
} wbuf;

static bool grow_slow(wbuf *w, size_t more) {
    if (w->err) return false;
    if (w->len + more <= w->cap) return true;
    size_t cap = w->cap * 2 > w->len + more ? w->cap * 2 : w->len + more + 64;
    uint8_t *np = realloc(w->p, cap);
    if (!np) {
        w->err = MAE_ENOMEM;
        return false;
    }
    w->p = np;
    w->cap = cap;
    return true;
}

/* Room for more bytes; the common case (there is) without a call: every byte written asks. */
static inline bool grow(wbuf *w, size_t more) {
    if (!w->err && more <= w->cap - w->len) return true;
    return grow_slow(w, more);
}

static void put_byte(wbuf *w, uint8_t b) {
    if (grow(w, 1)) w->p[w->len++] = b;
}

static size_t varint_to(uint64_t v, uint8_t out[10]) {
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

static void put_varint(wbuf *w, uint64_t v) {
    uint8_t tmp[10];
    size_t n = varint_to(v, tmp);
    if (grow(w, n)) {
        memcpy(w->p + w->len, tmp, n);
        w->len += n;
    }
}

/* A length-delimited field of bytes; tag is the whole first byte (all our numbers are < 16). */
static void put_bytes(wbuf *w, uint8_t tag, const void *s, size_t n) {
    put_byte(w, tag);
    put_varint(w, n);
    if (grow(w, n)) {
        memcpy(w->p + w->len, s, n);
        w->len += n;
    }
}

/* proto3: an empty string is the default and is not written. */
static void put_str(wbuf *w, uint8_t tag, const char *s) {
    if (s && *s) put_bytes(w, tag, s, strlen(s));
}

/* A nested message: tag, one byte kept for its length, then its contents; close() writes the
 * length, moving the contents only in the rare case of 128 bytes or more. */
static size_t open_msg(wbuf *w, uint8_t tag) {
    put_byte(w, tag);
    put_byte(w, 0);
    return w->len;
}

static void close_msg(wbuf *w, size_t start) {
    if (w->err) return;
    size_t n = w->len - start;
    if (n < 0x80) {
        w->p[start - 1] = (uint8_t)n;
        return;
    }
    uint8_t tmp[10];
    size_t k = varint_to(n, tmp);
    if (!grow(w, k - 1)) return;
    memmove(w->p + start + k - 1, w->p + start, n);
    memcpy(w->p + start - 1, tmp, k);
    w->len += k - 1;
}

static void put_value(wbuf *w, const cJSON *j, int depth);

/* Struct.fields entries: {key = 1, value = 2}. depth counts this Struct (the top one is 1). */
static void put_fields(wbuf *w, const cJSON *obj, int depth) {
    if (depth > MAE_GRPC_MAX_DEPTH && !w->err) w->err = MAE_ELIMIT;
    for (const cJSON *c = obj ? obj->child : NULL; c && !w->err; c = c->next) {
        size_t e = open_msg(w, 0x0a);
        put_str(w, 0x0a, c->string);
        size_t v = open_msg(w, 0x12);
        put_value(w, c, depth);
        close_msg(w, v);
        close_msg(w, e);
    }
}

/* ListValue.values = 1. */
static void put_list(wbuf *w, const cJSON *arr, int depth) {
    if (depth > MAE_GRPC_MAX_DEPTH && !w->err) w->err = MAE_ELIMIT;
    for (const cJSON *c = arr->child; c && !w->err; c = c->next) {
        size_t v = open_msg(w, 0x0a);
        put_value(w, c, depth);
        close_msg(w, v);
    }
}

/* Value's oneof: null_value = 1 (varint), number_value = 2 (double), string_value = 3,
 * bool_value = 4, struct_value = 5, list_value = 6; a set member is written even when zero. */
static void put_value(wbuf *w, const cJSON *j, int depth) {
    if (!j || cJSON_IsNull(j)) {
        put_byte(w, 0x08);
        put_byte(w, 0);
    } else if (cJSON_IsBool(j)) {
        put_byte(w, 0x20);
        put_byte(w, cJSON_IsTrue(j) ? 1 : 0);
    } else if (cJSON_IsNumber(j)) {
        uint64_t bits;
        memcpy(&bits, &j->valuedouble, 8);
        put_byte(w, 0x11);
        if (grow(w, 8))
            for (int i = 0; i < 8; i++) w->p[w->len++] = (uint8_t)(bits >> (8 * i));
    } else if (cJSON_IsString(j)) {
        put_bytes(w, 0x1a, j->valuestring, strlen(j->valuestring));
    } else if (cJSON_IsObject(j)) {
        size_t s = open_msg(w, 0x2a);
        put_fields(w, j, depth + 1);
        close_msg(w, s);
    } else if (cJSON_IsArray(j)) {
        size_t s = open_msg(w, 0x32);
        put_list(w, j, depth + 1);
        close_msg(w, s);
    } else if (!w->err) {
        w->err = MAE_EINVAL;
    }
}

static const char *nz(const char *s) { return s ? s : ""; }

int mae__envwire_request(const char *method, const cJSON *input, const char *run_id,
                         const char *step_id, const mae_header_kv *headers, size_t n_headers,
                         size_t prefix, uint8_t **out, size_t *len) {
    wbuf w = {0};
    if (grow(&w, prefix + 128)) w.len = prefix;
    /* ServiceRequest: method = 1, payload = 2 (Any), headers = 3, correlation_id = 4,
     * workflow_id = 5, step_id = 6 */
    put_str(&w, 0x0a, method);
    size_t any = open_msg(&w, 0x12);
    bool obj = !input || cJSON_IsObject(input);
    put_str(&w, 0x0a, obj ? MAE_GRPC_TYPE_STRUCT : MAE_GRPC_TYPE_VALUE);
    size_t val = open_msg(&w, 0x12);
    if (obj) put_fields(&w, input, 1);
    else put_value(&w, input, 0);
    /* Any.value is bytes: an empty Struct leaves it out */
    if (!w.err && w.len == val) w.len -= 2;
    else close_msg(&w, val);
    close_msg(&w, any);
    for (size_t i = 0; i < n_headers; i++) {
        size_t e = open_msg(&w, 0x1a);
        put_str(&w, 0x0a, headers[i].name);
        put_str(&w, 0x12, headers[i].value);
        close_msg(&w, e);
    }
    /* correlation_id is "<run>:<step>" */
    size_t rl = strlen(nz(run_id)), sl = strlen(nz(step_id));
    put_byte(&w, 0x22);
    put_varint(&w, rl + 1 + sl);
    if (grow(&w, rl + 1 + sl)) {
        memcpy(w.p + w.len, nz(run_id), rl);
        w.p[w.len + rl] = ':';
        memcpy(w.p + w.len + rl + 1, nz(step_id), sl);
        w.len += rl + 1 + sl;
    }
    put_str(&w, 0x2a, run_id);
    put_str(&w, 0x32, step_id);
    if (w.err) {
        free(w.p);
        return w.err;
    }
    *out = w.p;
    *len = w.len - prefix;
    return 0;
}

/* ---- Reading ---- */

#define OTHER MAE__ENVWIRE_OTHER

typedef struct field {
    uint32_t num;
    unsigned wt;
    uint64_t u;                  /* varint, or the 8 bytes of a fixed64 */
    const uint8_t *s;            /* wire type 2 */
    size_t n;
} field;

static size_t get_varint_long(const uint8_t *p, const uint8_t *end, uint64_t *v) {
    uint64_t r = 0;
    for (size_t i = 0; p + i < end && i < 10; i++) {
        if (i == 9 && p[i] > 1) return 0;
        r |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            *v = r;
            return i + 1;
        }
    }
    return 0;
}

/* Tags and lengths are nearly all one byte: that case without a call. */
static inline size_t get_varint(const uint8_t *p, const uint8_t *end, uint64_t *v) {
    if (p < end && *p < 0x80) {
        *v = *p;
        return 1;
    }
    return get_varint_long(p, end, v);
}

/* The next field at *p; false on anything but wire types 0, 1 and 2 well formed. */
static bool next_field(const uint8_t **p, const uint8_t *end, field *f) {
    uint64_t tag;
    size_t k = get_varint(*p, end, &tag);
    if (!k || tag >> 3 == 0 || tag >> 3 > 0x1fffffff) return false;
    *p += k;
    f->num = (uint32_t)(tag >> 3);
    f->wt = (unsigned)(tag & 7);
    if (f->wt == 0) {
        k = get_varint(*p, end, &f->u);
        if (!k) return false;
        *p += k;
    } else if (f->wt == 1) {
        if (end - *p < 8) return false;
        f->u = 0;
        for (int i = 0; i < 8; i++) f->u |= (uint64_t)(*p)[i] << (8 * i);
        *p += 8;
    } else if (f->wt == 2) {
        uint64_t n;
        k = get_varint(*p, end, &n);
        if (!k || n > (uint64_t)(end - *p - (ptrdiff_t)k)) return false;
        f->s = *p + k;
        f->n = (size_t)n;
        *p += k + n;
    } else {
        return false;
    }
    return true;
}

/* protobuf-c's string ends at a NUL: such bytes go the general way. */
static bool plain(const uint8_t *s, size_t n) { return n == 0 || !memchr(s, 0, n); }

static char *dup_str(const uint8_t *s, size_t n) {
    char *o = cJSON_malloc(n + 1);
    if (!o) return NULL;
    if (n) memcpy(o, s, n);
    o[n] = 0;
    return o;
}

static int read_value(const uint8_t *p, size_t n, int depth, cJSON **out);

typedef struct entry {
    const uint8_t *key, *val;
    size_t klen, vlen;
    bool has_val, skip;
} entry;

static int cmp_entry(const void *a, const void *b) {
    const entry *x = *(const entry *const *)a, *y = *(const entry *const *)b;
    size_t m = x->klen < y->klen ? x->klen : y->klen;
    int c = m ? memcmp(x->key, y->key, m) : 0;
    if (c) return c;
    if (x->klen != y->klen) return x->klen < y->klen ? -1 : 1;
    return x < y ? -1 : x > y;
}

static bool same_key(const entry *a, const entry *b) {
    return a->klen == b->klen && (a->klen == 0 || memcmp(a->key, b->key, a->klen) == 0);
}

/* Protobuf maps: the last entry of a key wins, at its own position. */
static int mark_repeats(entry *e, size_t n) {
    if (n <= 16) {
        for (size_t i = 0; i + 1 < n; i++)
            for (size_t j = i + 1; j < n && !e[i].skip; j++)
                if (same_key(&e[i], &e[j])) e[i].skip = true;
        return 0;
    }
    entry **by = malloc(n * sizeof *by);
    if (!by) return MAE_ENOMEM;
    for (size_t i = 0; i < n; i++) by[i] = &e[i];
    qsort(by, n, sizeof *by, cmp_entry);
    for (size_t i = 0; i + 1 < n; i++)
        if (same_key(by[i], by[i + 1])) by[i]->skip = true;
    free(by);
    return 0;
}

static int parse_entry(const uint8_t *p, size_t n, entry *e) {
    const uint8_t *end = p + n;
    bool has_key = false;
    *e = (entry){.key = (const uint8_t *)""};
    while (p < end) {
        field f;
        if (!next_field(&p, end, &f) || f.wt != 2) return OTHER;
        if (f.num == 1 && !has_key && plain(f.s, f.n)) {
            has_key = true;
            e->key = f.s;
            e->klen = f.n;
        } else if (f.num == 2 && !e->has_val) {
            e->has_val = true;
            e->val = f.s;
            e->vlen = f.n;
        } else {
            return OTHER;
        }
    }
    return 0;
}

/* A Struct (depth counts it) into a new object. */
static int read_struct(const uint8_t *p, size_t n, int depth, cJSON **out) {
    if (depth > MAE_GRPC_MAX_DEPTH) return OTHER;
    const uint8_t *end = p + n, *q;
    size_t count = 0;
    field f;
    for (q = p; q < end; count++)
        if (!next_field(&q, end, &f) || f.num != 1 || f.wt != 2) return OTHER;
    entry small[16], *e = count <= 16 ? small : malloc(count * sizeof *e);
    if (!e) return MAE_ENOMEM;
    int rc = 0;
    size_t i = 0;
    for (q = p; q < end && rc == 0; i++) {
        next_field(&q, end, &f);
        rc = parse_entry(f.s, f.n, &e[i]);
    }
    if (rc == 0 && count > 1) rc = mark_repeats(e, count);
    cJSON *o = rc == 0 ? cJSON_CreateObject() : NULL;
    if (rc == 0 && !o) rc = MAE_ENOMEM;
    for (i = 0; i < count && rc == 0; i++) {
        cJSON *c = NULL;
        if (e[i].has_val) rc = read_value(e[i].val, e[i].vlen, depth, &c);
        else if (!(c = cJSON_CreateNull())) rc = MAE_ENOMEM;
        if (rc != 0) break;
        /* a replaced entry is still read: protobuf-c refuses the message if it is malformed */
        if (e[i].skip) {
            cJSON_Delete(c);
            continue;
        }
        if (!(c->string = dup_str(e[i].key, e[i].klen))) {
            cJSON_Delete(c);
            rc = MAE_ENOMEM;
            break;
        }
        cJSON_AddItemToArray(o, c);  /* an object is a list of named items */
    }
    if (e != small) free(e);
    if (rc != 0) {
        cJSON_Delete(o);
        return rc;
    }
    *out = o;
    return 0;
}

/* A ListValue (depth counts it) into a new array. */
static int read_list(const uint8_t *p, size_t n, int depth, cJSON **out) {
    if (depth > MAE_GRPC_MAX_DEPTH) return OTHER;
    cJSON *a = cJSON_CreateArray();
    if (!a) return MAE_ENOMEM;
    const uint8_t *end = p + n;
    int rc = 0;
    while (p < end && rc == 0) {
        field f;
        cJSON *c = NULL;
        if (!next_field(&p, end, &f) || f.num != 1 || f.wt != 2) rc = OTHER;
        else if ((rc = read_value(f.s, f.n, depth, &c)) == 0) cJSON_AddItemToArray(a, c);
    }
    if (rc != 0) {
        cJSON_Delete(a);
        return rc;
    }
    *out = a;
    return 0;
}

/* A Value: at most one member of its oneof (none is null). */
static int read_value(const uint8_t *p, size_t n, int depth, cJSON **out) {
    static const unsigned wire_of[7] = {9, 0, 1, 2, 0, 2, 2};
    const uint8_t *end = p + n;
    field f, kind = {0};
    while (p < end) {
        if (!next_field(&p, end, &f) || f.num > 6 || f.wt != wire_of[f.num] || kind.num) return OTHER;
        kind = f;
    }
    cJSON *c = NULL;
    switch (kind.num) {
    case 2: {
        double d;
        memcpy(&d, &kind.u, 8);
        c = isfinite(d) ? cJSON_CreateNumber(d) : cJSON_CreateNull();
        break;
    }
    case 3:
        if (!plain(kind.s, kind.n)) return OTHER;
        if ((c = cJSON_CreateNull())) {
            c->type = cJSON_String;
            if (!(c->valuestring = dup_str(kind.s, kind.n))) {
                cJSON_Delete(c);
                return MAE_ENOMEM;
            }
        }
        break;
    case 4: c = cJSON_CreateBool(kind.u != 0); break;
    case 5: return read_struct(kind.s, kind.n, depth + 1, out);
    case 6: return read_list(kind.s, kind.n, depth + 1, out);
    default: c = cJSON_CreateNull(); break;  /* null_value, or no member set */
    }
    if (!c) return MAE_ENOMEM;
    *out = c;
    return 0;
}

/* The type name after the URL's last '/', as grpc_struct.c accepts it. */
static bool url_is(const uint8_t *url, size_t n, const char *full) {
    const char *name = strrchr(full, '/') + 1;
    size_t nl = strlen(name);
    const uint8_t *slash = NULL;
    for (size_t i = 0; i < n; i++)
        if (url[i] == '/') slash = url + i;
    return slash && (size_t)(url + n - slash - 1) == nl && memcmp(slash + 1, name, nl) == 0;
}

int mae__envwire_response(const uint8_t *p, size_t len, mae_grpc_reply *out) {
    memset(out, 0, sizeof *out);
    if (!len) p = (const uint8_t *)"";   /* an empty message may come as NULL: no arithmetic on it */
    const uint8_t *end = p + len;
    bool success = false, seen[4] = {false};
    field data = {0}, error = {0};
    /* ServiceResponse: success = 1, data = 2 (Any), error = 3; metadata (4) goes the general
     * way */
    while (p < end) {
        field f;
        if (!next_field(&p, end, &f) || f.num > 3 || seen[f.num]) return OTHER;
        seen[f.num] = true;
        if (f.num == 1 && f.wt == 0) success = f.u != 0;
        else if (f.num == 2 && f.wt == 2) data = f;
        else if (f.num == 3 && f.wt == 2 && plain(f.s, f.n)) error = f;
        else return OTHER;
    }
    /* Any: type_url = 1, value = 2 (checked even when unused: protobuf-c parses it) */
    field url = {0}, value = {0};
    const uint8_t *q = data.num ? data.s : p, *qend = data.num ? data.s + data.n : p;
    while (q < qend) {
        field f;
        if (!next_field(&q, qend, &f) || f.wt != 2) return OTHER;
        if (f.num == 1 && !url.num && plain(f.s, f.n)) url = f;
        else if (f.num == 2 && !value.num) value = f;
        else return OTHER;
    }
    if (!success) {
        /* the caller frees it with free(): not cJSON's allocator */
        out->app_error = true;
        out->error = error.n ? malloc(error.n + 1) : strdup("service reported failure");
        if (out->error && error.n) {
            memcpy(out->error, error.s, error.n);
            out->error[error.n] = 0;
        }
        return out->error ? 0 : MAE_ENOMEM;
    }
    if (!data.num) return 0;
    const uint8_t *v = value.num ? value.s : (const uint8_t *)"";
    if (url_is(url.s, url.n, MAE_GRPC_TYPE_STRUCT)) return read_struct(v, value.n, 1, &out->output);
    if (url_is(url.s, url.n, MAE_GRPC_TYPE_VALUE)) return read_value(v, value.n, 0, &out->output);
    if (url_is(url.s, url.n, MAE_GRPC_TYPE_LIST)) return read_list(v, value.n, 1, &out->output);
    return MAE_EDECODE;
}
