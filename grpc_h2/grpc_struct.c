/* cJSON ↔ google.protobuf.Struct/Value/ListValue and Any packing (see grpc_struct.h). */
#include "grpc_h2/grpc_struct.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "maestro/maestro.h"

/* ---- cJSON → protobuf ---- */

static int value_from(const cJSON *j, int depth, Mae__Pb__Value **out);

static int struct_from(const cJSON *obj, int depth, Mae__Pb__Struct **out) {
    if (depth > MAE_GRPC_MAX_DEPTH) return MAE_ELIMIT;
    Mae__Pb__Struct *s = malloc(sizeof *s);
    if (!s) return MAE_ENOMEM;
    mae__pb__struct__init(s);
    size_t n = 0;
    for (const cJSON *c = obj ? obj->child : NULL; c; c = c->next) n++;
    int rc = 0;
    if (n) {
        s->fields = calloc(n, sizeof *s->fields);
        if (!s->fields) rc = MAE_ENOMEM;
    }
    for (const cJSON *c = obj ? obj->child : NULL; c && rc == 0; c = c->next) {
        Mae__Pb__Struct__FieldsEntry *e = malloc(sizeof *e);
        if (!e) { rc = MAE_ENOMEM; break; }
        mae__pb__struct__fields_entry__init(e);
        s->fields[s->n_fields++] = e;
        e->key = strdup(c->string ? c->string : "");
        if (!e->key) { rc = MAE_ENOMEM; break; }
        rc = value_from(c, depth, &e->value);
    }
    if (rc < 0) {
        mae__pb__struct__free_unpacked(s, NULL);
        return rc;
    }
    *out = s;
    return 0;
}

static int list_from(const cJSON *arr, int depth, Mae__Pb__ListValue **out) {
    if (depth > MAE_GRPC_MAX_DEPTH) return MAE_ELIMIT;
    Mae__Pb__ListValue *l = malloc(sizeof *l);
    if (!l) return MAE_ENOMEM;
    mae__pb__list_value__init(l);
    size_t n = 0;
    for (const cJSON *c = arr->child; c; c = c->next) n++;
    int rc = 0;
    if (n) {
        l->values = calloc(n, sizeof *l->values);
        if (!l->values) rc = MAE_ENOMEM;
    }
    for (const cJSON *c = arr->child; c && rc == 0; c = c->next) {
        rc = value_from(c, depth, &l->values[l->n_values]);
        if (rc == 0) l->n_values++;
    }
    if (rc < 0) {
        mae__pb__list_value__free_unpacked(l, NULL);
        return rc;
    }
    *out = l;
    return 0;
}

static int value_from(const cJSON *j, int depth, Mae__Pb__Value **out) {
    Mae__Pb__Value *v = malloc(sizeof *v);
    if (!v) return MAE_ENOMEM;
    mae__pb__value__init(v);
    int rc = 0;
    if (!j || cJSON_IsNull(j)) {
        v->kind_case = MAE__PB__VALUE__KIND_NULL_VALUE;
        v->null_value = MAE__PB__NULL_VALUE__NULL_VALUE;
    } else if (cJSON_IsBool(j)) {
        v->kind_case = MAE__PB__VALUE__KIND_BOOL_VALUE;
        v->bool_value = cJSON_IsTrue(j);
    } else if (cJSON_IsNumber(j)) {
        v->kind_case = MAE__PB__VALUE__KIND_NUMBER_VALUE;
        v->number_value = j->valuedouble;
    } else if (cJSON_IsString(j)) {
        v->kind_case = MAE__PB__VALUE__KIND_STRING_VALUE;
        v->string_value = strdup(j->valuestring);
        if (!v->string_value) rc = MAE_ENOMEM;
    } else if (cJSON_IsObject(j)) {
        rc = struct_from(j, depth + 1, &v->struct_value);
        if (rc == 0) v->kind_case = MAE__PB__VALUE__KIND_STRUCT_VALUE;
    } else if (cJSON_IsArray(j)) {
        rc = list_from(j, depth + 1, &v->list_value);
        if (rc == 0) v->kind_case = MAE__PB__VALUE__KIND_LIST_VALUE;
    } else {
        rc = MAE_EINVAL;
    }
    if (rc < 0) {
        mae__pb__value__free_unpacked(v, NULL);
        return rc;
    }
    *out = v;
    return 0;
}

int mae__grpc_value_from_json(const cJSON *j, Mae__Pb__Value **out) {
    return value_from(j, 0, out);
}

int mae__grpc_struct_from_json(const cJSON *obj, Mae__Pb__Struct **out) {
    if (obj && !cJSON_IsObject(obj)) return MAE_EINVAL;
    return struct_from(obj, 1, out);
}

/* ---- protobuf → cJSON ---- */

static int value_to(const Mae__Pb__Value *v, int depth, cJSON **out);

/* A key with its entry's position: sorting these needs no state outside the array (qsort's
 * comparator gets no user pointer, and a static one would be shared by every thread). */
typedef struct { const char *key; size_t i; } key_at;
static int cmp_entry(const void *a, const void *b) {
    const key_at *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->i < y->i ? -1 : x->i > y->i);
}

static int struct_to(const Mae__Pb__Struct *s, int depth, cJSON **out) {
    if (depth > MAE_GRPC_MAX_DEPTH) return MAE_ELIMIT;
    cJSON *o = cJSON_CreateObject();
    if (!o) return MAE_ENOMEM;
    size_t n = s->n_fields;
    /* Protobuf maps: the last entry of a key wins. Mark the earlier ones by sorting indices. */
    bool *skip = NULL;
    if (n > 1) {
        key_at *idx = malloc(n * sizeof *idx);
        skip = calloc(n, sizeof *skip);
        if (!idx || !skip) { free(idx); free(skip); cJSON_Delete(o); return MAE_ENOMEM; }
        for (size_t i = 0; i < n; i++) idx[i] = (key_at){s->fields[i]->key ? s->fields[i]->key : "", i};
        qsort(idx, n, sizeof *idx, cmp_entry);
        for (size_t i = 0; i + 1 < n; i++)
            if (strcmp(idx[i].key, idx[i + 1].key) == 0) skip[idx[i].i] = true;
        free(idx);
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (skip && skip[i]) continue;
        const Mae__Pb__Struct__FieldsEntry *e = s->fields[i];
        cJSON *c = NULL;
        if (e->value) rc = value_to(e->value, depth, &c);
        else if (!(c = cJSON_CreateNull())) rc = MAE_ENOMEM;
        if (rc == 0) cJSON_AddItemToObject(o, e->key ? e->key : "", c);
    }
    free(skip);
    if (rc < 0) { cJSON_Delete(o); return rc; }
    *out = o;
    return 0;
}

static int list_to(const Mae__Pb__ListValue *l, int depth, cJSON **out) {
    if (depth > MAE_GRPC_MAX_DEPTH) return MAE_ELIMIT;
    cJSON *a = cJSON_CreateArray();
    if (!a) return MAE_ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < l->n_values && rc == 0; i++) {
        cJSON *c = NULL;
        rc = value_to(l->values[i], depth, &c);
        if (rc == 0) cJSON_AddItemToArray(a, c);
    }
    if (rc < 0) { cJSON_Delete(a); return rc; }
    *out = a;
    return 0;
}

static int value_to(const Mae__Pb__Value *v, int depth, cJSON **out) {
    cJSON *c = NULL;
    switch (v->kind_case) {
    case MAE__PB__VALUE__KIND_NUMBER_VALUE:
        c = isfinite(v->number_value) ? cJSON_CreateNumber(v->number_value) : cJSON_CreateNull();
        break;
    case MAE__PB__VALUE__KIND_STRING_VALUE:
        c = cJSON_CreateString(v->string_value ? v->string_value : "");
        break;
    case MAE__PB__VALUE__KIND_BOOL_VALUE: c = cJSON_CreateBool(v->bool_value); break;
    case MAE__PB__VALUE__KIND_STRUCT_VALUE:
        if (v->struct_value) return struct_to(v->struct_value, depth + 1, out);
        c = cJSON_CreateObject();
        break;
    case MAE__PB__VALUE__KIND_LIST_VALUE:
        if (v->list_value) return list_to(v->list_value, depth + 1, out);
        c = cJSON_CreateArray();
        break;
    default: c = cJSON_CreateNull(); break;  /* null_value, or no kind set */
    }
    if (!c) return MAE_ENOMEM;
    *out = c;
    return 0;
}

int mae__grpc_value_to_json(const Mae__Pb__Value *v, cJSON **out) {
    return value_to(v, 0, out);
}

int mae__grpc_struct_to_json(const Mae__Pb__Struct *s, cJSON **out) {
    return struct_to(s, 1, out);
}

/* ---- Any ---- */

void mae__grpc_any_clear(Mae__Pb__Any *any) {
    free(any->type_url);
    free(any->value.data);
    any->type_url = NULL;
    any->value.data = NULL;
    any->value.len = 0;
}

int mae__grpc_any_pack_json(const cJSON *j, Mae__Pb__Any *any) {
    mae__pb__any__init(any);
    ProtobufCMessage *m = NULL;
    const char *url;
    int rc;
    if (j && cJSON_IsObject(j)) {
        Mae__Pb__Struct *s = NULL;
        rc = mae__grpc_struct_from_json(j, &s);
        m = s ? &s->base : NULL;
        url = MAE_GRPC_TYPE_STRUCT;
    } else {
        Mae__Pb__Value *v = NULL;
        rc = mae__grpc_value_from_json(j, &v);
        m = v ? &v->base : NULL;
        url = MAE_GRPC_TYPE_VALUE;
    }
    if (rc < 0) return rc;
    size_t len = protobuf_c_message_get_packed_size(m);
    any->value.data = malloc(len ? len : 1);
    any->type_url = strdup(url);
    if (!any->value.data || !any->type_url) {
        protobuf_c_message_free_unpacked(m, NULL);
        mae__grpc_any_clear(any);
        return MAE_ENOMEM;
    }
    any->value.len = protobuf_c_message_pack(m, any->value.data);
    protobuf_c_message_free_unpacked(m, NULL);
    return 0;
}

static bool url_is(const char *url, const char *full) {
    /* Any host before the last '/' is accepted; the type name must match exactly. */
    const char *name = strrchr(full, '/') + 1;
    const char *slash = url ? strrchr(url, '/') : NULL;
    return slash && strcmp(slash + 1, name) == 0;
}

int mae__grpc_any_to_json(const char *type_url, const uint8_t *p, size_t len, cJSON **out) {
    char kind = url_is(type_url, MAE_GRPC_TYPE_STRUCT) ? 's'
              : url_is(type_url, MAE_GRPC_TYPE_VALUE)  ? 'v'
              : url_is(type_url, MAE_GRPC_TYPE_LIST)   ? 'l' : 0;
    if (!kind) return MAE_EDECODE;
    int rc = mae__grpc_wire_depth_check(p, len, kind, MAE_GRPC_MAX_DEPTH);
    if (rc < 0) return rc;
    if (kind == 's') {
        Mae__Pb__Struct *s = mae__pb__struct__unpack(NULL, len, p);
        if (!s) return MAE_EDECODE;
        rc = mae__grpc_struct_to_json(s, out);
        mae__pb__struct__free_unpacked(s, NULL);
    } else if (kind == 'v') {
        Mae__Pb__Value *v = mae__pb__value__unpack(NULL, len, p);
        if (!v) return MAE_EDECODE;
        rc = mae__grpc_value_to_json(v, out);
        mae__pb__value__free_unpacked(v, NULL);
    } else {
        Mae__Pb__ListValue *l = mae__pb__list_value__unpack(NULL, len, p);
        if (!l) return MAE_EDECODE;
        rc = list_to(l, 1, out);
        mae__pb__list_value__free_unpacked(l, NULL);
    }
    return rc;
}

/* ---- Wire depth check ---- */

static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end) return MAE_EDECODE;
        uint8_t b = *(*p)++;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) { *v = r; return 0; }
    }
    return MAE_EDECODE;
}

/* kinds: 's' Struct, 'e' map entry, 'v' Value, 'l' ListValue. depth counts containers. */
static int walk(const uint8_t *p, const uint8_t *end, char kind, int depth, int max) {
    if ((kind == 's' || kind == 'l') && ++depth > max) return MAE_ELIMIT;
    while (p < end) {
        uint64_t key, n;
        if (read_varint(&p, end, &key) < 0) return MAE_EDECODE;
        uint64_t field = key >> 3;
        switch (key & 7) {
        case 0: if (read_varint(&p, end, &n) < 0) return MAE_EDECODE; break;
        case 1: if (end - p < 8) return MAE_EDECODE; p += 8; break;
        case 5: if (end - p < 4) return MAE_EDECODE; p += 4; break;
        case 2: {
            if (read_varint(&p, end, &n) < 0 || n > (uint64_t)(end - p)) return MAE_EDECODE;
            char sub = kind == 's' && field == 1 ? 'e'
                     : kind == 'e' && field == 2 ? 'v'
                     : kind == 'v' && field == 5 ? 's'
                     : kind == 'v' && field == 6 ? 'l'
                     : kind == 'l' && field == 1 ? 'v' : 0;
            if (sub) {
                int rc = walk(p, p + n, sub, depth, max);
                if (rc < 0) return rc;
            }
            p += n;
            break;
        }
        default: return MAE_EDECODE;  /* groups and invalid wire types */
        }
    }
    return 0;
}

int mae__grpc_wire_depth_check(const uint8_t *p, size_t len, char kind, int max_depth) {
    if (len == 0) return max_depth >= 1 ? 0 : MAE_ELIMIT;
    if (!p) return MAE_EDECODE;
    return walk(p, p + len, kind, 0, max_depth);
}
