/* Protobuf wire bytes -> JSON for a message type of the pool, by the proto3 JSON mapping, with
 * every field present: unset scalars get their default, unset messages and unset members of a
 * oneof (or proto3 `optional` fields) are null, repeated fields [], maps {}. One pass over the
 * bytes fills a slot per field (last value wins; a message given twice is merged, as protobuf
 * does, by decoding its pieces concatenated); the object is then built in declaration order.
 * Unknown fields are skipped; a known field with the wrong wire type is skipped like one.
 * Output is bounded by pb_dec.budget, nesting by MAE__PB_MAX_DEPTH. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc_h2/pb_int.h"
#include "maestro/maestro.h"
#include "workflow/utf8.h"

/* Records the first error (the innermost, where it happened) and returns rc. */
__attribute__((format(printf, 3, 4))) static int derr(pb_dec *d, int rc, const char *fmt, ...) {
    if (d->err && d->cap && !d->err[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->err, d->cap, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* Charges n bytes of output against the budget. */
static int spend(pb_dec *d, size_t n) {
    if (d->budget < n) {
        return derr(d, MAE_ELIMIT, "decoded JSON larger than max_out");
    }
    d->budget -= n;
    return 0;
}

static cJSON *num64(pb_dec *d, bool is_signed, uint64_t v) {
    char buf[24];
    if (is_signed) snprintf(buf, sizeof buf, "%lld", (long long)(int64_t)v);
    else snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    return cJSON_CreateString(buf);
}

static cJSON *dbl(double v) {
    if (isnan(v)) return cJSON_CreateString("NaN");
    if (isinf(v)) return cJSON_CreateString(v > 0 ? "Infinity" : "-Infinity");
    return cJSON_CreateNumber(v);
}

static cJSON *enum_json(const mae__pb_enum *en, int32_t v) {
    if (en->null_value) return cJSON_CreateNull();
    for (size_t i = 0; i < en->n; i++)
        if (en->numbers[i] == v) return cJSON_CreateString(en->names[i]);
    return cJSON_CreateNumber(v);
}

static bool wire_fits(const mae__pb_field *f, unsigned wt) {
    switch (f->type) {
    case PB_DOUBLE: case PB_FIXED64: case PB_SFIXED64: return wt == 1;
    case PB_FLOAT: case PB_FIXED32: case PB_SFIXED32: return wt == 5;
    case PB_STRING: case PB_BYTES: case PB_MESSAGE: return wt == 2;
    case PB_GROUP: return wt == 3;
    default: return wt == 0;
    }
}

/* A scalar (not message) value of f from a wire field; *out NULL on ENOMEM. */
static int scalar_json(pb_dec *d, const mae__pb_field *f, const pb_wire_field *w, cJSON **out) {
    uint64_t u = w->u;
    int rc = spend(d, 24);
    if (rc) return rc;
    switch (f->type) {
    case PB_INT32: *out = cJSON_CreateNumber((int32_t)u); break;
    case PB_SFIXED32: *out = cJSON_CreateNumber((int32_t)(uint32_t)u); break;
    case PB_SINT32:
        *out = cJSON_CreateNumber((int32_t)((uint32_t)u >> 1) ^ -(int32_t)(u & 1));
        break;
    case PB_UINT32: case PB_FIXED32: *out = cJSON_CreateNumber((uint32_t)u); break;
    case PB_INT64: case PB_SFIXED64: *out = num64(d, true, u); break;
    case PB_SINT64: *out = num64(d, true, (u >> 1) ^ -(u & 1)); break;
    case PB_UINT64: case PB_FIXED64: *out = num64(d, false, u); break;
    case PB_BOOL: *out = cJSON_CreateBool(u != 0); break;
    case PB_ENUM: *out = enum_json(f->en, (int32_t)u); break;
    case PB_DOUBLE: {
        double v;
        memcpy(&v, &u, 8);
        *out = dbl(v);
        break;
    }
    case PB_FLOAT: {
        uint32_t b = (uint32_t)u;
        float v;
        memcpy(&v, &b, 4);
        *out = dbl(mae__pb_float_json(v));
        break;
    }
    case PB_STRING: {
        if ((rc = spend(d, w->vlen))) return rc;
        if (mae__utf8_check(w->val, w->vlen) != w->vlen)
            return derr(d, MAE_EDECODE, "field %s.%s: invalid UTF-8", f->owner->full_name, f->name);
        char *s = malloc(w->vlen + 1);
        if (!s) return MAE_ENOMEM;
        memcpy(s, w->val, w->vlen);
        s[w->vlen] = 0;
        *out = cJSON_CreateString(s);
        free(s);
        break;
    }
    case PB_BYTES: {
        if ((rc = spend(d, w->vlen / 3 * 4 + 4))) return rc;
        char *s = mae__pb_b64_encode(w->val, w->vlen);
        if (!s) return MAE_ENOMEM;
        *out = cJSON_CreateString(s);
        free(s);
        break;
    }
    default:
        *out = cJSON_CreateNull();
    }
    return *out ? 0 : MAE_ENOMEM;
}

/* The default JSON of an unset singular field. */
static cJSON *default_json(const mae__pb_field *f) {
    switch (f->type) {
    case PB_INT64: case PB_SINT64: case PB_SFIXED64: case PB_UINT64: case PB_FIXED64:
        return cJSON_CreateString("0");
    case PB_BOOL: return cJSON_CreateFalse();
    case PB_STRING: case PB_BYTES: return cJSON_CreateString("");
    case PB_ENUM: return enum_json(f->en, 0);
    case PB_MESSAGE: case PB_GROUP: return cJSON_CreateNull();
    default: return cJSON_CreateNumber(0);
    }
}

/* One value of field f (wire field w) as JSON: messages decoded, scalars converted. */
static int value_json(pb_dec *d, const mae__pb_field *f, const pb_wire_field *w, int depth,
                      cJSON **out) {
    if (f->type == PB_MESSAGE)
        return mae__pb_decode_msg(d, f->msg, w->val, w->vlen, depth + 1, out);
    return scalar_json(d, f, w, out);
}

/* Per field: what the bytes said. */
typedef struct slot {
    cJSON *val;                 /* repeated: the array; map: the object; scalar: the value */
    const uint8_t *mp;          /* singular message: its bytes (the first piece) */
    size_t ml;
    uint8_t *merged;            /* pieces concatenated when the message came more than once */
    size_t mcap;                /* its capacity: grows by doubling, so n pieces cost O(total) */
    bool set;
} slot;

/* The key of a map entry as JSON object key text. */
static int map_key(pb_dec *d, const mae__pb_field *kf, const pb_wire_field *w, bool have,
                   char *buf, size_t cap) {
    if (!have) {
        snprintf(buf, cap, "%s", kf->type == PB_BOOL ? "false" : kf->type == PB_STRING ? "" : "0");
        return 0;
    }
    cJSON *k = NULL;
    int rc = scalar_json(d, kf, w, &k);
    if (rc) return rc;
    if (cJSON_IsString(k)) snprintf(buf, cap, "%s", k->valuestring);
    else if (cJSON_IsBool(k)) snprintf(buf, cap, "%s", cJSON_IsTrue(k) ? "true" : "false");
    else snprintf(buf, cap, "%.0f", k->valuedouble);
    cJSON_Delete(k);
    return 0;
}

static int map_entry(pb_dec *d, const mae__pb_field *f, const uint8_t *p, size_t len, int depth,
                     cJSON *obj) {
    const mae__pb_field *kf = &f->msg->fields[0], *vf = &f->msg->fields[1];
    pb_wire_field kw = {0}, vw = {0}, w;
    bool hk = false, hv = false;
    for (size_t off = 0; off < len;) {
        size_t n = mae__pb_get_field(p + off, len - off, &w);
        if (!n)
            return derr(d, MAE_EDECODE, "map %s.%s: malformed entry", f->owner->full_name,
                        f->name);
        off += n;
        if (w.number == 1 && wire_fits(kf, w.wire_type)) kw = w, hk = true;
        else if (w.number == 2 && wire_fits(vf, w.wire_type)) vw = w, hv = true;
    }
    /* Map keys may be long strings: the key buffer is sized by what arrived. */
    size_t kcap = (hk && kf->type == PB_STRING ? kw.vlen : 0) + 32;
    char *key = malloc(kcap);
    if (!key) return MAE_ENOMEM;
    int rc = map_key(d, kf, &kw, hk, key, kcap);
    cJSON *v = NULL;
    if (!rc) {
        if (hv) rc = value_json(d, vf, &vw, depth, &v);
        else if (vf->type == PB_MESSAGE)
            rc = mae__pb_decode_msg(d, vf->msg, NULL, 0, depth + 1, &v);
        else rc = (v = default_json(vf)) ? 0 : MAE_ENOMEM;
    }
    if (!rc) {
        if (!cJSON_AddItemToObject(obj, key, v)) {
            cJSON_Delete(v);
            rc = MAE_ENOMEM;
        }
    }
    free(key);
    return rc;
}

typedef struct keyed {
    cJSON *item;
    size_t pos;
} keyed;

static int cmp_keyed(const void *x, const void *y) {
    const keyed *a = x, *b = y;
    int c = strcmp(a->item->string, b->item->string);
    return c ? c : a->pos < b->pos ? -1 : a->pos > b->pos;
}

/* A map or Struct whose key came more than once keeps the last value, where the first one
 * was (as protobuf's own JSON printers do). Entries are appended as they arrive and the
 * duplicates removed once, by sorting: O(n log n) where a lookup per entry would be O(n^2). */
static int dedupe(cJSON *o) {
    size_t n = 0;
    for (cJSON *c = o->child; c; c = c->next) n++;
    if (n < 2) return 0;
    keyed *k = malloc(n * sizeof *k);
    if (!k) return MAE_ENOMEM;
    size_t i = 0;
    for (cJSON *c = o->child; c; c = c->next, i++) k[i] = (keyed){c, i};
    qsort(k, n, sizeof *k, cmp_keyed);
    for (i = 0; i + 1 < n; i++) {
        if (strcmp(k[i].item->string, k[i + 1].item->string) != 0) continue;
        /* k[i] is replaced by the later k[i + 1]: move the value into the earlier place. */
        cJSON *later = cJSON_DetachItemViaPointer(o, k[i + 1].item);
        cJSON_ReplaceItemViaPointer(o, k[i].item, later);
        k[i + 1].item = later;
    }
    free(k);
    return 0;
}

static int add_repeated(pb_dec *d, const mae__pb_field *f, const pb_wire_field *w, int depth,
                        slot *s) {
    if (!s->val && !(s->val = f->map ? cJSON_CreateObject() : cJSON_CreateArray()))
        return MAE_ENOMEM;
    if (f->map) return w->wire_type == 2 ? map_entry(d, f, w->val, w->vlen, depth, s->val) : 0;
    int rc;
    cJSON *v;
    bool numeric = f->type != PB_STRING && f->type != PB_BYTES && f->type != PB_MESSAGE &&
                   f->type != PB_GROUP;
    if (numeric && w->wire_type == 2) {
        /* Packed: the payload is the values back to back. */
        unsigned wt = f->type == PB_DOUBLE || f->type == PB_FIXED64 || f->type == PB_SFIXED64 ? 1
                      : f->type == PB_FLOAT || f->type == PB_FIXED32 || f->type == PB_SFIXED32 ? 5
                      : 0;
        for (size_t off = 0; off < w->vlen;) {
            pb_wire_field e = {.number = w->number, .wire_type = wt};
            size_t n = wt == 1 ? 8 : wt == 5 ? 4 : 0;
            if (wt == 0) n = mae__pb_get_varint(w->val + off, w->vlen - off, &e.u);
            if (!n || n > w->vlen - off)
                return derr(d, MAE_EDECODE, "field %s.%s: malformed packed values",
                            f->owner->full_name, f->name);
            for (size_t i = 0; wt && i < n; i++) e.u |= (uint64_t)w->val[off + i] << (8 * i);
            off += n;
            if ((rc = scalar_json(d, f, &e, &v))) return rc;
            cJSON_AddItemToArray(s->val, v);
        }
        return 0;
    }
    if (!wire_fits(f, w->wire_type)) return 0;
    if ((rc = value_json(d, f, w, depth, &v))) return rc;
    cJSON_AddItemToArray(s->val, v);
    return 0;
}

static int collect(pb_dec *d, const mae__pb_msg *m, const uint8_t *buf, size_t len, int depth,
                   slot *slots, int *oneof_last) {
    for (size_t off = 0; off < len;) {
        pb_wire_field w;
        size_t n = mae__pb_get_field(buf + off, len - off, &w);
        if (!n)
            return derr(d, MAE_EDECODE, "%s: malformed protobuf at byte %zu", m->full_name, off);
        off += n;
        const mae__pb_field *f = mae__pb_field_by_number(m, w.number);
        if (!f) continue;
        size_t fi = (size_t)(f - m->fields);
        slot *s = &slots[fi];
        int rc;
        if (f->repeated) {
            if ((rc = add_repeated(d, f, &w, depth, s))) return rc;
            continue;
        }
        if (!wire_fits(f, w.wire_type)) continue;
        if (f->oneof >= 0) {
            /* A later member of a oneof replaces an earlier one. */
            int last = oneof_last[f->oneof];
            if (last >= 0 && (size_t)last != fi) {
                cJSON_Delete(slots[last].val);
                free(slots[last].merged);
                memset(&slots[last], 0, sizeof *slots);
            }
            oneof_last[f->oneof] = (int)fi;
        }
        if (f->type == PB_MESSAGE) {
            if (!s->set) {
                s->mp = w.val;
                s->ml = w.vlen;
            } else {
                if (!s->merged || s->ml + w.vlen > s->mcap) {
                    size_t ncap = (s->ml + w.vlen) * 2 + 64;
                    uint8_t *mg = realloc(s->merged, ncap);
                    if (!mg) return MAE_ENOMEM;
                    /* The first piece still points into the input: copy it over. */
                    if (!s->merged) memcpy(mg, s->mp, s->ml);
                    s->merged = mg;
                    s->mcap = ncap;
                }
                memcpy(s->merged + s->ml, w.val, w.vlen);
                s->mp = s->merged;
                s->ml += w.vlen;
            }
            s->set = true;
            continue;
        }
        cJSON *v;
        if ((rc = scalar_json(d, f, &w, &v))) return rc;
        cJSON_Delete(s->val);
        s->val = v;
        s->set = true;
    }
    return 0;
}

int mae__pb_decode_msg(pb_dec *d, const mae__pb_msg *m, const uint8_t *buf, size_t len,
                       int depth, cJSON **out);

static int dec_wkt(pb_dec *d, const mae__pb_msg *m, const uint8_t *buf, size_t len, int depth,
                   cJSON **out);

static int build(pb_dec *d, const mae__pb_msg *m, int depth, slot *slots, cJSON *o) {
    int rc;
    for (size_t i = 0; i < m->nfields; i++) {
        const mae__pb_field *f = &m->fields[i];
        slot *s = &slots[i];
        cJSON *v = NULL;
        if ((rc = spend(d, strlen(f->json_name) + 4))) return rc;
        if (f->repeated) {
            if (f->map && s->val && (rc = dedupe(s->val))) return rc;
            v = s->val ? s->val : f->map ? cJSON_CreateObject() : cJSON_CreateArray();
            s->val = NULL;
        } else if (f->type == PB_MESSAGE && s->set) {
            if ((rc = mae__pb_decode_msg(d, f->msg, s->mp, s->ml, depth + 1, &v))) return rc;
        } else if (s->set) {
            v = s->val;
            s->val = NULL;
        } else if (f->oneof >= 0 || f->type == PB_MESSAGE || f->type == PB_GROUP) {
            /* Unset with presence: null (a Value field set to null is set, not this). */
            v = cJSON_CreateNull();
        } else {
            v = default_json(f);
        }
        if (!v) return MAE_ENOMEM;
        if (!cJSON_AddItemToObject(o, f->json_name, v)) {
            cJSON_Delete(v);
            return MAE_ENOMEM;
        }
    }
    return 0;
}

int mae__pb_decode_msg(pb_dec *d, const mae__pb_msg *m, const uint8_t *buf, size_t len,
                       int depth, cJSON **out) {
    *out = NULL;
    if (depth > MAE__PB_MAX_DEPTH)
        return derr(d, MAE_ELIMIT, "%s: nested deeper than the limit", m->full_name);
    if (m->wkt != PB_WKT_NONE) return dec_wkt(d, m, buf, len, depth, out);
    size_t need = m->nfields + m->noneofs;
    slot *slots = calloc(need ? m->nfields + 1 : 1, sizeof *slots);
    int *oneof_last = malloc((m->noneofs + 1) * sizeof *oneof_last);
    cJSON *o = cJSON_CreateObject();
    int rc = slots && oneof_last && o ? 0 : MAE_ENOMEM;
    for (size_t i = 0; !rc && i < m->noneofs; i++) oneof_last[i] = -1;
    if (!rc) rc = spend(d, 2);
    if (!rc) rc = collect(d, m, buf, len, depth, slots, oneof_last);
    if (!rc) rc = build(d, m, depth, slots, o);
    for (size_t i = 0; slots && i < m->nfields; i++) {
        cJSON_Delete(slots[i].val);
        free(slots[i].merged);
    }
    free(slots);
    free(oneof_last);
    if (rc) {
        cJSON_Delete(o);
        return rc;
    }
    *out = o;
    return 0;
}

/* --- well-known types -------------------------------------------------------------------- */

/* The varint/fixed fields 1 and 2 of a small message (Timestamp, Duration). */
static int two_ints(pb_dec *d, const mae__pb_msg *m, const uint8_t *buf, size_t len, int64_t *a,
                    int64_t *b) {
    *a = *b = 0;
    for (size_t off = 0; off < len;) {
        pb_wire_field w;
        size_t n = mae__pb_get_field(buf + off, len - off, &w);
        if (!n) return derr(d, MAE_EDECODE, "%s: malformed protobuf", m->full_name);
        off += n;
        if (w.wire_type != 0) continue;
        if (w.number == 1) *a = (int64_t)w.u;
        else if (w.number == 2) *b = (int32_t)w.u;
    }
    return 0;
}

static int dec_value(pb_dec *d, const uint8_t *buf, size_t len, int depth, cJSON **out);

static int dec_struct(pb_dec *d, const uint8_t *buf, size_t len, int depth, cJSON **out) {
    if (depth > MAE__PB_MAX_DEPTH)
        return derr(d, MAE_ELIMIT, "Struct nested deeper than the limit");
    cJSON *o = cJSON_CreateObject();
    if (!o) return MAE_ENOMEM;
    int rc = spend(d, 2);
    for (size_t off = 0; !rc && off < len;) {
        pb_wire_field w, x;
        size_t n = mae__pb_get_field(buf + off, len - off, &w);
        if (!n) {
            rc = derr(d, MAE_EDECODE, "google.protobuf.Struct: malformed protobuf");
            break;
        }
        off += n;
        if (w.number != 1 || w.wire_type != 2) continue;
        const uint8_t *kp = NULL, *vp = NULL;
        size_t kl = 0, vl = 0;
        for (size_t o2 = 0; o2 < w.vlen;) {
            size_t m = mae__pb_get_field(w.val + o2, w.vlen - o2, &x);
            if (!m) {
                cJSON_Delete(o);
                return derr(d, MAE_EDECODE, "google.protobuf.Struct: malformed entry");
            }
            o2 += m;
            if (x.number == 1 && x.wire_type == 2) kp = x.val, kl = x.vlen;
            if (x.number == 2 && x.wire_type == 2) vp = x.val, vl = x.vlen;
        }
        if ((rc = spend(d, kl + 4))) break;
        if (kp && mae__utf8_check(kp, kl) != kl) {
            rc = derr(d, MAE_EDECODE, "google.protobuf.Struct: invalid UTF-8 key");
            break;
        }
        char *key = malloc(kl + 1);
        if (!key) {
            rc = MAE_ENOMEM;
            break;
        }
        if (kl) memcpy(key, kp, kl);
        key[kl] = 0;
        cJSON *v = NULL;
        rc = dec_value(d, vp, vl, depth + 1, &v);
        if (!rc) {
            if (!cJSON_AddItemToObject(o, key, v)) {
                cJSON_Delete(v);
                rc = MAE_ENOMEM;
            }
        }
        free(key);
    }
    if (!rc) rc = dedupe(o);
    if (rc) {
        cJSON_Delete(o);
        return rc;
    }
    *out = o;
    return 0;
}

static int dec_list(pb_dec *d, const uint8_t *buf, size_t len, int depth, cJSON **out) {
    if (depth > MAE__PB_MAX_DEPTH)
        return derr(d, MAE_ELIMIT, "ListValue nested deeper than the limit");
    cJSON *a = cJSON_CreateArray();
    if (!a) return MAE_ENOMEM;
    int rc = spend(d, 2);
    for (size_t off = 0; !rc && off < len;) {
        pb_wire_field w;
        size_t n = mae__pb_get_field(buf + off, len - off, &w);
        if (!n) {
            rc = derr(d, MAE_EDECODE, "google.protobuf.ListValue: malformed protobuf");
            break;
        }
        off += n;
        if (w.number != 1 || w.wire_type != 2) continue;
        cJSON *v = NULL;
        if (!(rc = dec_value(d, w.val, w.vlen, depth + 1, &v))) cJSON_AddItemToArray(a, v);
    }
    if (rc) {
        cJSON_Delete(a);
        return rc;
    }
    *out = a;
    return 0;
}

static int dec_value(pb_dec *d, const uint8_t *buf, size_t len, int depth, cJSON **out) {
    if (depth > MAE__PB_MAX_DEPTH) return derr(d, MAE_ELIMIT, "Value nested deeper than the limit");
    int rc = spend(d, 8);
    if (rc) return rc;
    /* The kind is a oneof: the last one on the wire wins. */
    pb_wire_field last = {0}, w;
    for (size_t off = 0; off < len;) {
        size_t n = mae__pb_get_field(buf + off, len - off, &w);
        if (!n) return derr(d, MAE_EDECODE, "google.protobuf.Value: malformed protobuf");
        off += n;
        static const unsigned wt[] = {9, 0, 1, 2, 0, 2, 2};
        if (w.number >= 1 && w.number <= 6 && w.wire_type == wt[w.number]) last = w;
    }
    double v;
    switch (last.number) {
    case 2:
        memcpy(&v, &last.u, 8);
        *out = dbl(v);
        break;
    case 3:
        if ((rc = spend(d, last.vlen))) return rc;
        if (mae__utf8_check(last.val, last.vlen) != last.vlen)
            return derr(d, MAE_EDECODE, "google.protobuf.Value: invalid UTF-8");
        {
            char *s = malloc(last.vlen + 1);
            if (!s) return MAE_ENOMEM;
            memcpy(s, last.val, last.vlen);
            s[last.vlen] = 0;
            *out = cJSON_CreateString(s);
            free(s);
        }
        break;
    case 4: *out = cJSON_CreateBool(last.u != 0); break;
    case 5: return dec_struct(d, last.val, last.vlen, depth + 1, out);
    case 6: return dec_list(d, last.val, last.vlen, depth + 1, out);
    default: *out = cJSON_CreateNull(); break;
    }
    return *out ? 0 : MAE_ENOMEM;
}

const mae__pb_msg *mae__pb_any_type(const mae__pb_pool *pool, const mae__pb_msg *const *extra,
                                    size_t nextra, const char *type_url) {
    const char *slash = strrchr(type_url, '/');
    const char *name = slash ? slash + 1 : type_url;
    for (size_t i = 0; i < nextra; i++)
        if (strcmp(extra[i]->full_name, name) == 0) return extra[i];
    return pool && *name ? mae__pb_pool_message(pool, name) : NULL;
}

int mae__pb_decode_any(pb_dec *d, const uint8_t *buf, size_t len, int depth, cJSON **out) {
    *out = NULL;
    if (depth > MAE__PB_MAX_DEPTH) return derr(d, MAE_ELIMIT, "Any nested deeper than the limit");
    const uint8_t *tp = NULL, *vp = NULL;
    size_t tl = 0, vl = 0;
    for (size_t off = 0; off < len;) {
        pb_wire_field w;
        size_t n = mae__pb_get_field(buf + off, len - off, &w);
        if (!n) return derr(d, MAE_EDECODE, "google.protobuf.Any: malformed protobuf");
        off += n;
        if (w.number == 1 && w.wire_type == 2) tp = w.val, tl = w.vlen;
        if (w.number == 2 && w.wire_type == 2) vp = w.val, vl = w.vlen;
    }
    int rc = spend(d, tl + 16);
    if (rc) return rc;
    if (!tp) {
        *out = cJSON_CreateObject();   /* the empty Any */
        return *out ? 0 : MAE_ENOMEM;
    }
    if (mae__utf8_check(tp, tl) != tl || memchr(tp, 0, tl))
        return derr(d, MAE_EDECODE, "google.protobuf.Any: invalid type URL");
    char *url = malloc(tl + 1);
    if (!url) return MAE_ENOMEM;
    memcpy(url, tp, tl);
    url[tl] = 0;
    const mae__pb_msg *m = mae__pb_any_type(d->pool, d->extra, d->nextra, url);
    cJSON *o = NULL, *body = NULL;
    if (!m) {
        char *b = mae__pb_b64_encode(vp ? vp : (const uint8_t *)"", vl);
        if (!b || (rc = spend(d, strlen(b)))) {
            free(b);
            free(url);
            return b ? rc : MAE_ENOMEM;
        }
        body = cJSON_CreateString(b);
        free(b);
        rc = body ? 0 : MAE_ENOMEM;
    } else {
        rc = mae__pb_decode_msg(d, m, vp, vl, depth + 1, &body);
    }
    if (!rc && !(o = cJSON_CreateObject())) rc = MAE_ENOMEM;
    if (!rc && !cJSON_AddStringToObject(o, "@type", url)) rc = MAE_ENOMEM;
    if (!rc) {
        if (!m || m->wkt != PB_WKT_NONE) {
            if (!cJSON_AddItemToObject(o, "value", body)) rc = MAE_ENOMEM;
            else body = NULL;
        } else {
            /* A plain message: its fields go beside "@type". */
            while (body->child && !rc) {
                cJSON *c = cJSON_DetachItemViaPointer(body, body->child);
                if (!cJSON_AddItemToObject(o, c->string, c)) {
                    cJSON_Delete(c);
                    rc = MAE_ENOMEM;
                }
            }
        }
    }
    cJSON_Delete(body);
    free(url);
    if (rc) {
        cJSON_Delete(o);
        return rc;
    }
    *out = o;
    return 0;
}

static int dec_wkt(pb_dec *d, const mae__pb_msg *m, const uint8_t *buf, size_t len, int depth,
                   cJSON **out) {
    int64_t a, b;
    char txt[64];
    int rc;
    switch (m->wkt) {
    case PB_WKT_TIMESTAMP:
    case PB_WKT_DURATION:
        if ((rc = two_ints(d, m, buf, len, &a, &b)) || (rc = spend(d, 40))) return rc;
        if (m->wkt == PB_WKT_TIMESTAMP ? mae__pb_ts_format(a, (int32_t)b, txt, sizeof txt)
                                       : mae__pb_dur_format(a, (int32_t)b, txt, sizeof txt))
            return derr(d, MAE_EDECODE, "%s out of range", m->full_name);
        *out = cJSON_CreateString(txt);
        return *out ? 0 : MAE_ENOMEM;
    case PB_WKT_STRUCT: return dec_struct(d, buf, len, depth, out);
    case PB_WKT_LIST: return dec_list(d, buf, len, depth, out);
    case PB_WKT_VALUE: return dec_value(d, buf, len, depth, out);
    case PB_WKT_ANY: return mae__pb_decode_any(d, buf, len, depth, out);
    case PB_WKT_EMPTY:
        *out = cJSON_CreateObject();
        return *out ? 0 : MAE_ENOMEM;
    case PB_WKT_FIELDMASK: {
        size_t total = 0, npaths = 0;
        char *s = malloc(len * 2 + 1);
        if (!s) return MAE_ENOMEM;
        s[0] = 0;
        for (size_t off = 0; off < len;) {
            pb_wire_field w;
            size_t n = mae__pb_get_field(buf + off, len - off, &w);
            if (!n) {
                free(s);
                return derr(d, MAE_EDECODE, "%s: malformed protobuf", m->full_name);
            }
            off += n;
            if (w.number != 1 || w.wire_type != 2) continue;
            /* A comma inside a path would read back as two paths. */
            if (memchr(w.val, 0, w.vlen) || memchr(w.val, ',', w.vlen) ||
                mae__utf8_check(w.val, w.vlen) != w.vlen) {
                free(s);
                return derr(d, MAE_EDECODE, "%s: a path with no JSON form", m->full_name);
            }
            char *in = malloc(w.vlen + 1);
            if (!in) {
                free(s);
                return MAE_ENOMEM;
            }
            memcpy(in, w.val, w.vlen);
            in[w.vlen] = 0;
            /* The camel form is never longer than the snake one: it goes straight into s. */
            char *cam = s + total + (npaths ? 1 : 0);
            if (mae__pb_snake_to_camel(in, cam, w.vlen + 1)) {
                rc = derr(d, MAE_EDECODE, "%s: path %s has no lowerCamelCase form",
                          m->full_name, in);
                free(in);
                free(s);
                return rc;
            }
            free(in);
            if (npaths++) s[total++] = ',';
            total += strlen(cam);
        }
        if ((rc = spend(d, total + 2))) {
            free(s);
            return rc;
        }
        *out = cJSON_CreateString(s);
        free(s);
        return *out ? 0 : MAE_ENOMEM;
    }
    default: {
        /* The wrappers: the JSON of field 1 (the last one on the wire), or its default. */
        const mae__pb_field *vf = mae__pb_field_by_number(m, 1);
        if (!vf || vf->repeated || vf->type == PB_MESSAGE || vf->type == PB_GROUP)
            return derr(d, MAE_EDECODE, "%s: not a wrapper", m->full_name);
        pb_wire_field last = {0}, w;
        bool have = false;
        for (size_t off = 0; off < len;) {
            size_t n = mae__pb_get_field(buf + off, len - off, &w);
            if (!n) return derr(d, MAE_EDECODE, "%s: malformed protobuf", m->full_name);
            off += n;
            if (w.number == 1 && wire_fits(vf, w.wire_type)) last = w, have = true;
        }
        if (have) return scalar_json(d, vf, &last, out);
        *out = default_json(vf);
        return *out ? 0 : MAE_ENOMEM;
    }
    }
}

int mae__pb_decode(const mae__pb_msg *m, const uint8_t *buf, size_t len, size_t max_out,
                   cJSON **out, char *err, size_t cap) {
    if (err && cap) err[0] = 0;
    pb_dec d = {.budget = max_out ? max_out : SIZE_MAX, .pool = m->pool, .err = err, .cap = cap};
    int rc = mae__pb_decode_msg(&d, m, buf, len, 1, out);
    if (rc == MAE_ENOMEM && err && cap) snprintf(err, cap, "out of memory");
    return rc;
}
