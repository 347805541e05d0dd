/* Questions asked of a linked pool: methods by name (with did-you-mean and ambiguity), message
 * types, fields by JSON key with a hint, readable type names and request skeletons. Read-only;
 * nothing here allocates except the skeleton the caller owns. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc_h2/pb_int.h"
#include "grpc_h2/pb_pool_int.h"
#include "maestro/maestro.h"

#define ERR(...) (err && cap ? (void)snprintf(err, cap, __VA_ARGS__) : (void)0)

void mae__pb_json_name(const char *name, char *dst, size_t cap) {
    size_t o = 0;
    bool up = false;
    for (; *name && o + 1 < cap; name++) {
        if (*name == '_') {
            up = true;
            continue;
        }
        char c = *name;
        if (up && c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
        up = false;
        dst[o++] = c;
    }
    if (cap) dst[o] = 0;
}

pb_wkt mae__pb_wkt_of(const char *n) {
    static const struct {
        const char *name;
        pb_wkt wkt;
    } t[] = {
        {"Any", PB_WKT_ANY}, {"Timestamp", PB_WKT_TIMESTAMP}, {"Duration", PB_WKT_DURATION},
        {"Struct", PB_WKT_STRUCT}, {"Value", PB_WKT_VALUE}, {"ListValue", PB_WKT_LIST},
        {"Empty", PB_WKT_EMPTY}, {"FieldMask", PB_WKT_FIELDMASK},
        {"DoubleValue", PB_WKT_DOUBLE}, {"FloatValue", PB_WKT_FLOAT},
        {"Int64Value", PB_WKT_INT64}, {"UInt64Value", PB_WKT_UINT64},
        {"Int32Value", PB_WKT_INT32}, {"UInt32Value", PB_WKT_UINT32},
        {"BoolValue", PB_WKT_BOOL}, {"StringValue", PB_WKT_STRING},
        {"BytesValue", PB_WKT_BYTES},
    };
    if (strncmp(n, "google.protobuf.", 16) != 0) return PB_WKT_NONE;
    for (size_t i = 0; i < sizeof t / sizeof *t; i++)
        if (strcmp(n + 16, t[i].name) == 0) return t[i].wkt;
    return PB_WKT_NONE;
}

size_t mae__pb_edit_distance(const char *a, const char *b, size_t cap) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64) return cap + 1;
    if ((la > lb ? la - lb : lb - la) > cap) return cap + 1;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0], best;
        row[0] = best = i;
        for (size_t j = 1; j <= lb; j++) {
            char x = a[i - 1], y = b[j - 1];
            if (x >= 'A' && x <= 'Z') x = (char)(x - 'A' + 'a');
            if (y >= 'A' && y <= 'Z') y = (char)(y - 'A' + 'a');
            size_t v = diag + (x != y);
            if (row[j] + 1 < v) v = row[j] + 1;
            if (row[j - 1] + 1 < v) v = row[j - 1] + 1;
            diag = row[j];
            row[j] = v;
            if (v < best) best = v;
        }
        if (best > cap) return cap + 1;
    }
    return row[lb];
}

/* How far a suggestion may be from what was typed. */
static size_t hint_cap(const char *typed) {
    size_t n = strlen(typed);
    return n < 4 ? 1 : n < 10 ? 2 : 3;
}

const mae__pb_field *mae__pb_field_by_number(const mae__pb_msg *m, uint32_t number) {
    size_t lo = 0, hi = m->nfields;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const mae__pb_field *f = &m->fields[m->by_number[mid]];
        if ((uint32_t)f->number == number) return f;
        if ((uint32_t)f->number < number) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const mae__pb_method *mae__pb_pool_method(const mae__pb_pool *p, const char *name, char *err,
                                          size_t cap) {
    if (err && cap) err[0] = 0;
    if (!p->linked) {
        ERR("descriptors not linked");
        return NULL;
    }
    const char *slash = strchr(name, '/');
    if (slash) {
        const char *want = name[0] == '/' ? name : NULL;
        for (size_t i = 0; i < p->nmethods; i++) {
            const char *path = p->methods[i]->m.path;
            if (want ? strcmp(path, want) == 0 : strcmp(path + 1, name) == 0)
                return &p->methods[i]->m;
        }
    } else {
        const mae__pb_method *found = NULL;
        size_t n = 0;
        for (size_t i = 0; i < p->nmethods; i++) {
            if (strcmp(p->methods[i]->m.name, name) == 0) {
                if (!found) found = &p->methods[i]->m;
                n++;
            }
        }
        if (n == 1) return found;
        if (n > 1) {
            /* "Get is ambiguous: a.v1.A/Get, b.v1.B/Get" */
            size_t o = err && cap ? (size_t)snprintf(err, cap, "%s is ambiguous:", name) : 0;
            const char *sep = " ";
            for (size_t i = 0; i < p->nmethods && err && o < cap; i++) {
                if (strcmp(p->methods[i]->m.name, name) != 0) continue;
                o += (size_t)snprintf(err + o, cap - o, "%s%s", sep, p->methods[i]->m.path + 1);
                sep = ", ";
            }
            return NULL;
        }
    }
    /* Not found: the nearest method, compared the way it was written. */
    const char *bare = slash ? strrchr(name, '/') + 1 : name;
    const char *best = NULL;
    size_t bestd = hint_cap(bare) + 1;
    for (size_t i = 0; i < p->nmethods; i++) {
        const mae__pb_method *m = &p->methods[i]->m;
        size_t d = mae__pb_edit_distance(bare, m->name, bestd - 1);
        /* The full form also matches a method of another service of the same name. */
        if (d < bestd) {
            bestd = d;
            best = slash ? m->path + 1 : m->name;
        }
    }
    if (best) ERR("no method %s; did you mean %s?", name, best);
    else ERR("no method %s among the %zu methods of the descriptors", name, p->nmethods);
    return NULL;
}

size_t mae__pb_pool_methods(const mae__pb_pool *p, const mae__pb_method **out, size_t cap) {
    for (size_t i = 0; i < p->nmethods && i < cap; i++) out[i] = &p->methods[i]->m;
    return p->nmethods;
}

const mae__pb_msg *mae__pb_pool_message(const mae__pb_pool *p, const char *full_name) {
    if (full_name[0] == '.') full_name++;
    return mae__pb_sym(p, full_name, 1);
}

const char *mae__pb_msg_name(const mae__pb_msg *m) { return m->full_name; }

const mae__pb_field *mae__pb_msg_field(const mae__pb_msg *m, const char *key, char *hint,
                                       size_t cap) {
    if (hint && cap) hint[0] = 0;
    for (size_t i = 0; i < m->nfields; i++)
        if (strcmp(m->fields[i].json_name, key) == 0) return &m->fields[i];
    for (size_t i = 0; i < m->nfields; i++)
        if (strcmp(m->fields[i].name, key) == 0) return &m->fields[i];
    const char *best = NULL;
    size_t bestd = hint_cap(key) + 1;
    for (size_t i = 0; i < m->nfields; i++) {
        size_t d = mae__pb_edit_distance(key, m->fields[i].json_name, bestd - 1);
        size_t d2 = mae__pb_edit_distance(key, m->fields[i].name, bestd - 1);
        if (d2 < d) d = d2;
        if (d < bestd) {
            bestd = d;
            best = m->fields[i].json_name;
        }
    }
    if (best && hint && cap) snprintf(hint, cap, "%s", best);
    return NULL;
}

const mae__pb_msg *mae__pb_field_message(const mae__pb_field *f) {
    const mae__pb_msg *m = f->msg;
    if (!m) return NULL;
    if (f->map) m = m->fields[1].msg;
    if (!m) return NULL;
    return m->wkt == PB_WKT_NONE || m->wkt == PB_WKT_EMPTY ? m : NULL;
}

static const char *scalar_name(const mae__pb_field *f) {
    static const char *const names[] = {
        "?", "double", "float", "int64", "uint64", "int32", "fixed64", "fixed32", "bool",
        "string", "group", "message", "bytes", "uint32", "enum", "sfixed32", "sfixed64",
        "sint32", "sint64",
    };
    if (f->type == PB_MESSAGE || f->type == PB_GROUP)
        return f->msg ? f->msg->full_name : f->type_name;
    if (f->type == PB_ENUM) return f->en ? f->en->full_name : f->type_name;
    return f->type <= PB_SINT64 ? names[f->type] : "?";
}

void mae__pb_field_type_name(const mae__pb_field *f, char *buf, size_t cap) {
    if (!cap) return;
    if (f->map)
        snprintf(buf, cap, "map<%s, %s>", scalar_name(&f->msg->fields[0]),
                 scalar_name(&f->msg->fields[1]));
    else
        snprintf(buf, cap, "%s%s", f->repeated ? "repeated " : "", scalar_name(f));
}

/* --- skeleton -------------------------------------------------------------------------------- */

/* Nodes one skeleton may hold: a type with many fields of types with many fields grows
 * exponentially with depth; past the budget, messages become null. */
#define SKEL_BUDGET 20000

typedef struct skel {
    const mae__pb_msg *path[MAE__PB_MAX_DEPTH + 1];
    size_t left;
} skel;

static cJSON *skel_msg(const mae__pb_msg *m, skel *s, int depth);

static cJSON *skel_value(const mae__pb_field *f, skel *s, int depth) {
    switch (f->type) {
    case PB_DOUBLE: case PB_FLOAT: case PB_INT32: case PB_UINT32: case PB_SINT32:
    case PB_FIXED32: case PB_SFIXED32:
        return cJSON_CreateNumber(0);
    case PB_INT64: case PB_UINT64: case PB_SINT64: case PB_FIXED64: case PB_SFIXED64:
        return cJSON_CreateString("0");
    case PB_BOOL:
        return cJSON_CreateFalse();
    case PB_STRING: case PB_BYTES:
        return cJSON_CreateString("");
    case PB_ENUM:
        if (f->en->null_value) return cJSON_CreateNull();
        /* The value numbered 0 is the default in proto3; else the first declared. */
        for (size_t i = 0; i < f->en->n; i++)
            if (f->en->numbers[i] == 0) return cJSON_CreateString(f->en->names[i]);
        return cJSON_CreateString(f->en->names[0]);
    default:
        return skel_msg(f->msg, s, depth);
    }
}

static cJSON *skel_msg(const mae__pb_msg *m, skel *s, int depth) {
    switch (m->wkt) {
    case PB_WKT_TIMESTAMP: return cJSON_CreateString("1970-01-01T00:00:00Z");
    case PB_WKT_DURATION: return cJSON_CreateString("0s");
    case PB_WKT_FIELDMASK: case PB_WKT_STRING: case PB_WKT_BYTES: return cJSON_CreateString("");
    case PB_WKT_INT64: case PB_WKT_UINT64: return cJSON_CreateString("0");
    case PB_WKT_DOUBLE: case PB_WKT_FLOAT: case PB_WKT_INT32: case PB_WKT_UINT32:
        return cJSON_CreateNumber(0);
    case PB_WKT_BOOL: return cJSON_CreateFalse();
    case PB_WKT_STRUCT: case PB_WKT_EMPTY: return cJSON_CreateObject();
    case PB_WKT_LIST: return cJSON_CreateArray();
    case PB_WKT_VALUE: case PB_WKT_ANY: return cJSON_CreateNull();
    default: break;
    }
    /* Recursion (a type inside itself) and absurd depth are cut with null. */
    for (int i = 0; i < depth; i++)
        if (s->path[i] == m) return cJSON_CreateNull();
    if (depth >= MAE__PB_MAX_DEPTH || s->left < m->nfields + 1) return cJSON_CreateNull();
    s->left -= m->nfields + 1;
    s->path[depth] = m;
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; o && i < m->nfields; i++) {
        const mae__pb_field *f = &m->fields[i];
        cJSON *v = f->map ? cJSON_CreateObject()
                   : f->repeated ? cJSON_CreateArray()
                   : skel_value(f, s, depth + 1);
        if (!v || !cJSON_AddItemToObject(o, f->json_name, v)) {
            cJSON_Delete(v);
            cJSON_Delete(o);
            return NULL;
        }
    }
    return o;
}

cJSON *mae__pb_skeleton(const mae__pb_msg *m) {
    skel *s = malloc(sizeof *s);
    if (!s) return NULL;
    s->left = SKEL_BUDGET;
    cJSON *o = skel_msg(m, s, 0);
    free(s);
    return o;
}
