/* The descriptor pool: serialized FileDescriptorProtos in, message/enum/method descriptions out.
 * Adding a file registers its names (all or nothing: a duplicate undoes what the file had
 * registered); link resolves type references once every file is in. Hostile input is bounded
 * before protobuf-c sees it (its unpacker recurses without limit: nesting is checked on the
 * wire first) and by the caps of pb.h. Queries (lookup, hints, skeletons) live in pb_query.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc_h2/pb_int.h"
#include "grpc_h2/pb_pool_int.h"
#include "maestro/internal/descriptor.pb-c.h"
#include "maestro/maestro.h"
#include "workflow/fnv.h"

#define ERR(...) (err && cap ? (void)snprintf(err, cap, __VA_ARGS__) : (void)0)

enum { SYM_FILE, SYM_MSG, SYM_ENUM, SYM_SERVICE };

static const char *const kind_name[] = {"file", "message", "enum", "service"};

int mae__pb_pool_new(mae__pb_pool **out) {
    mae__pb_pool *p = calloc(1, sizeof *p);
    if (!p) return MAE_ENOMEM;
    mae__arena_init(&p->arena, MAE__PB_MAX_POOL_BYTES * 4);
    p->nbuckets = 256;
    p->buckets = calloc(p->nbuckets, sizeof *p->buckets);
    if (!p->buckets) {
        free(p);
        return MAE_ENOMEM;
    }
    *out = p;
    return 0;
}

void mae__pb_pool_free(mae__pb_pool *p) {
    if (!p) return;
    for (size_t i = 0; i < p->nfiles; i++)
        mae__pb__file_descriptor_proto__free_unpacked(p->files[i]->fd, NULL);
    free(p->files);
    free(p->msgs);
    free(p->methods);
    free(p->buckets);
    mae__arena_free(&p->arena);
    free(p);
}

static uint64_t hash(const char *s) { return mae__fnv1a64_str(s); }

void *mae__pb_sym(const mae__pb_pool *p, const char *name, int kind) {
    for (pb_sym *s = p->buckets[hash(name) & (p->nbuckets - 1)]; s; s = s->next)
        if (s->kind == kind && strcmp(s->name, name) == 0) return s->ptr;
    return NULL;
}

/* Any type (message, enum or service) of that full name. */
static pb_sym *any_type(const mae__pb_pool *p, const char *name) {
    for (pb_sym *s = p->buckets[hash(name) & (p->nbuckets - 1)]; s; s = s->next)
        if (s->kind != SYM_FILE && strcmp(s->name, name) == 0) return s;
    return NULL;
}

static int rehash(mae__pb_pool *p) {
    if (p->nsyms < p->nbuckets * 2) return 0;
    size_t nb = p->nbuckets * 4;
    pb_sym **b = calloc(nb, sizeof *b);
    if (!b) return MAE_ENOMEM;
    for (size_t i = 0; i < p->nbuckets; i++) {
        for (pb_sym *s = p->buckets[i], *next; s; s = next) {
            next = s->next;
            size_t h = hash(s->name) & (nb - 1);
            s->next = b[h];
            b[h] = s;
        }
    }
    free(p->buckets);
    p->buckets = b;
    p->nbuckets = nb;
    return 0;
}

/* --- adding a file: state of one add -------------------------------------------------------- */

typedef struct adder {
    mae__pb_pool *p;
    const char *file;           /* its name, for messages */
    bool proto3;
    pb_sym *added;              /* symbols registered so far (undone on failure) */
    size_t msgs0, methods0;     /* counts before, likewise */
    char *err;
    size_t cap;
} adder;

static int add_sym(adder *a, const char *name, int kind, void *ptr) {
    if (kind != SYM_FILE) {
        pb_sym *old = any_type(a->p, name);
        if (old) {
            if (a->err && a->cap)
                snprintf(a->err, a->cap, "%s: duplicate %s %s (already a %s)", a->file,
                         kind_name[kind], name, kind_name[old->kind]);
            return MAE_EINVAL;
        }
    }
    pb_sym *s = mae__arena_alloc(&a->p->arena, sizeof *s);
    if (!s) return MAE_ENOMEM;
    s->name = name;
    s->kind = kind;
    s->ptr = ptr;
    size_t h = hash(name) & (a->p->nbuckets - 1);
    s->next = a->p->buckets[h];
    a->p->buckets[h] = s;
    s->undo = a->added;
    a->added = s;
    a->p->nsyms++;
    return 0;
}

static void undo(adder *a) {
    for (pb_sym *s = a->added; s; s = s->undo) {
        pb_sym **pp = &a->p->buckets[hash(s->name) & (a->p->nbuckets - 1)];
        while (*pp && *pp != s) pp = &(*pp)->next;
        if (*pp) *pp = s->next;
        a->p->nsyms--;
    }
    a->added = NULL;
    a->p->nmsgs = a->msgs0;
    a->p->nmethods = a->methods0;
}

static bool ident_ok(const char *s) {
    if (!s || !*s) return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

static char *join(adder *a, const char *scope, const char *name) {
    size_t ls = scope && *scope ? strlen(scope) : 0, ln = strlen(name);
    char *s = mae__arena_alloc(&a->p->arena, ls + ln + 2);
    if (!s) return NULL;
    if (ls) {
        memcpy(s, scope, ls);
        s[ls++] = '.';
    }
    memcpy(s + ls, name, ln + 1);
    return s;
}

static int grow(void **arr, size_t *capn, size_t n, size_t elem) {
    if (n < *capn) return 0;
    size_t nc = *capn ? *capn * 2 : 16;
    void *np = realloc(*arr, nc * elem);
    if (!np) return MAE_ENOMEM;
    *arr = np;
    *capn = nc;
    return 0;
}

static int bad_enum(adder *a, const char *scope) {
    if (a->err && a->cap)
        snprintf(a->err, a->cap, "%s: enum with an invalid name or value in %s", a->file,
                 scope && *scope ? scope : "(file)");
    return MAE_EINVAL;
}

static int add_enum(adder *a, const char *scope, const Mae__Pb__EnumDescriptorProto *e) {
    if (!ident_ok(e->name)) return bad_enum(a, scope);
    mae__pb_enum *en = mae__arena_alloc(&a->p->arena, sizeof *en);
    if (!en || !(en->full_name = join(a, scope, e->name))) return MAE_ENOMEM;
    const char **names = mae__arena_alloc(&a->p->arena, (e->n_value + 1) * sizeof *names);
    int32_t *nums = mae__arena_alloc(&a->p->arena, (e->n_value + 1) * sizeof *nums);
    if (!names || !nums) return MAE_ENOMEM;
    for (size_t i = 0; i < e->n_value; i++) {
        if (!ident_ok(e->value[i]->name)) return bad_enum(a, scope);
        names[i] = e->value[i]->name;
        nums[i] = e->value[i]->number;
    }
    en->names = names;
    en->numbers = nums;
    en->n = e->n_value;
    en->null_value = strcmp(en->full_name, "google.protobuf.NullValue") == 0;
    if (en->n == 0) {
        if (a->err && a->cap)
            snprintf(a->err, a->cap, "%s: enum %s has no values", a->file, en->full_name);
        return MAE_EINVAL;
    }
    return add_sym(a, en->full_name, SYM_ENUM, en);
}

typedef struct numidx {
    int32_t number;
    uint32_t idx;
} numidx;

static int cmp_numidx(const void *x, const void *y) {
    const numidx *a = x, *b = y;
    return a->number < b->number ? -1 : a->number > b->number;
}

static int cmp_str(const void *x, const void *y) {
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

static int field_err(adder *a, const char *msg, const char *field, const char *why) {
    if (a->err && a->cap)
        snprintf(a->err, a->cap, "%s: field %s.%s: %s", a->file, msg, field ? field : "?", why);
    return MAE_EINVAL;
}

static int add_fields(adder *a, mae__pb_msg *m, const Mae__Pb__DescriptorProto *d) {
    mae__pb_field *fs = mae__arena_alloc(&a->p->arena, (d->n_field + 1) * sizeof *fs);
    uint32_t *byn = mae__arena_alloc(&a->p->arena, (d->n_field + 1) * sizeof *byn);
    numidx *tmp = malloc((d->n_field + 1) * sizeof *tmp);
    if (!fs || !byn || !tmp) {
        free(tmp);
        return MAE_ENOMEM;
    }
    int rc = 0;
    for (size_t i = 0; i < d->n_field && !rc; i++) {
        const Mae__Pb__FieldDescriptorProto *fd = d->field[i];
        mae__pb_field *f = &fs[i];
        f->owner = m;
        f->name = fd->name;
        f->number = fd->number;
        f->type = (uint8_t)fd->type;
        f->oneof = -1;
        if (!ident_ok(fd->name)) rc = field_err(a, m->full_name, fd->name, "invalid name");
        else if (!fd->has_number || fd->number < 1 || fd->number > 0x1fffffff)
            rc = field_err(a, m->full_name, fd->name, "field number out of range");
        else if (!fd->has_type || fd->type < PB_DOUBLE || fd->type > PB_SINT64)
            rc = field_err(a, m->full_name, fd->name, "unknown field type");
        else if (fd->has_label && (fd->label < 1 || fd->label > 3))
            rc = field_err(a, m->full_name, fd->name, "unknown label");
        else if ((fd->type == PB_MESSAGE || fd->type == PB_ENUM || fd->type == PB_GROUP) &&
                 (!fd->type_name || !*fd->type_name))
            rc = field_err(a, m->full_name, fd->name, "no type name");
        else if (fd->has_oneof_index &&
                 (fd->oneof_index < 0 || (size_t)fd->oneof_index >= d->n_oneof_decl))
            rc = field_err(a, m->full_name, fd->name, "oneof index out of range");
        if (rc) break;
        f->type_name = fd->type_name;
        f->repeated = fd->label == 3;
        if (fd->has_oneof_index) f->oneof = fd->oneof_index;
        bool scalar = fd->type != PB_STRING && fd->type != PB_BYTES && fd->type != PB_MESSAGE &&
                      fd->type != PB_GROUP;
        f->packed = f->repeated && scalar &&
                    (fd->options && fd->options->has_packed ? fd->options->packed : a->proto3);
        f->presence = !f->repeated && (fd->proto3_optional || fd->has_oneof_index ||
                                       fd->type == PB_MESSAGE || fd->type == PB_GROUP ||
                                       !a->proto3);
        if (fd->json_name && *fd->json_name) {
            f->json_name = fd->json_name;
        } else {
            size_t n = strlen(fd->name) + 1;
            char *j = mae__arena_alloc(&a->p->arena, n);
            if (!j) rc = MAE_ENOMEM;
            else mae__pb_json_name(fd->name, j, n);
            f->json_name = j;
        }
        tmp[i].number = fd->number;
        tmp[i].idx = (uint32_t)i;
    }
    if (!rc) {
        qsort(tmp, d->n_field, sizeof *tmp, cmp_numidx);
        for (size_t i = 0; i < d->n_field; i++) {
            byn[i] = tmp[i].idx;
            if (i && tmp[i].number == tmp[i - 1].number) {
                if (a->err && a->cap)
                    snprintf(a->err, a->cap, "%s: %s: field number %d used twice", a->file,
                             m->full_name, (int)tmp[i].number);
                rc = MAE_EINVAL;
                break;
            }
        }
    }
    free(tmp);
    /* Duplicate names, found by sorting (a message may have many fields). */
    const char **names = rc ? NULL : malloc((d->n_field + 1) * sizeof *names);
    if (!rc && !names) rc = MAE_ENOMEM;
    for (size_t i = 0; !rc && i < d->n_field; i++) names[i] = fs[i].name;
    if (!rc) qsort(names, d->n_field, sizeof *names, cmp_str);
    for (size_t i = 1; !rc && i < d->n_field; i++)
        if (strcmp(names[i], names[i - 1]) == 0)
            rc = field_err(a, m->full_name, names[i], "declared twice");
    free(names);
    m->fields = fs;
    m->by_number = byn;
    m->nfields = d->n_field;
    return rc;
}

static int add_msg(adder *a, const char *scope, const Mae__Pb__DescriptorProto *d, int depth) {
    if (depth > MAE__PB_MAX_DEPTH) {
        if (a->err && a->cap)
            snprintf(a->err, a->cap, "%s: types nested deeper than %d", a->file,
                     MAE__PB_MAX_DEPTH);
        return MAE_ELIMIT;
    }
    if (!ident_ok(d->name)) {
        if (a->err && a->cap)
            snprintf(a->err, a->cap, "%s: message with an invalid name in %s", a->file,
                     scope && *scope ? scope : "(file)");
        return MAE_EINVAL;
    }
    mae__pb_msg *m = mae__arena_alloc(&a->p->arena, sizeof *m);
    if (!m || !(m->full_name = join(a, scope, d->name))) return MAE_ENOMEM;
    m->pool = a->p;
    m->map_entry = d->options && d->options->has_map_entry && d->options->map_entry;
    m->wkt = mae__pb_wkt_of(m->full_name);
    const char **oneofs = mae__arena_alloc(&a->p->arena, (d->n_oneof_decl + 1) * sizeof *oneofs);
    if (!oneofs) return MAE_ENOMEM;
    for (size_t i = 0; i < d->n_oneof_decl; i++)
        oneofs[i] = d->oneof_decl[i]->name ? d->oneof_decl[i]->name : "";
    m->oneofs = oneofs;
    m->noneofs = d->n_oneof_decl;
    int rc = add_sym(a, m->full_name, SYM_MSG, m);
    if (!rc) rc = add_fields(a, m, d);
    if (!rc) rc = grow((void **)&a->p->msgs, &a->p->capmsgs, a->p->nmsgs, sizeof *a->p->msgs);
    if (rc) return rc;
    a->p->msgs[a->p->nmsgs++] = m;
    for (size_t i = 0; i < d->n_enum_type && !rc; i++)
        rc = add_enum(a, m->full_name, d->enum_type[i]);
    for (size_t i = 0; i < d->n_nested_type && !rc; i++)
        rc = add_msg(a, m->full_name, d->nested_type[i], depth + 1);
    return rc;
}

static int add_service(adder *a, const char *pkg, const Mae__Pb__ServiceDescriptorProto *s) {
    if (!ident_ok(s->name)) {
        if (a->err && a->cap) snprintf(a->err, a->cap, "%s: service with an invalid name", a->file);
        return MAE_EINVAL;
    }
    char *full = join(a, pkg, s->name);
    if (!full) return MAE_ENOMEM;
    int rc = add_sym(a, full, SYM_SERVICE, full);
    for (size_t i = 0; i < s->n_method && !rc; i++) {
        const Mae__Pb__MethodDescriptorProto *md = s->method[i];
        if (!ident_ok(md->name) || !md->input_type || !md->output_type) {
            if (a->err && a->cap)
                snprintf(a->err, a->cap, "%s: service %s: a method without a name or types",
                         a->file, full);
            return MAE_EINVAL;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(s->method[j]->name, md->name) == 0) {
                if (a->err && a->cap)
                    snprintf(a->err, a->cap, "%s: duplicate method %s/%s", a->file, full,
                             md->name);
                return MAE_EINVAL;
            }
        }
        pb_method_ent *e = mae__arena_alloc(&a->p->arena, sizeof *e);
        size_t pl = strlen(full) + strlen(md->name) + 3;
        char *path = mae__arena_alloc(&a->p->arena, pl);
        if (!e || !path) return MAE_ENOMEM;
        snprintf(path, pl, "/%s/%s", full, md->name);
        e->m.name = md->name;
        e->m.service = full;
        e->m.path = path;
        e->m.client_streaming = md->client_streaming;
        e->m.server_streaming = md->server_streaming;
        e->in_name = md->input_type;
        e->out_name = md->output_type;
        e->file = a->file;
        rc = grow((void **)&a->p->methods, &a->p->capmethods, a->p->nmethods,
                  sizeof *a->p->methods);
        if (rc) return rc;
        a->p->methods[a->p->nmethods++] = e;
    }
    return rc;
}

/* DescriptorProto nesting (field 3) measured on the wire, before protobuf-c recurses into it. */
static int nest_ok(const uint8_t *p, size_t len, int depth) {
    if (depth > MAE__PB_MAX_DEPTH) return MAE_ELIMIT;
    size_t off = 0;
    while (off < len) {
        pb_wire_field f;
        size_t n = mae__pb_get_field(p + off, len - off, &f);
        if (!n) return MAE_EDECODE;
        off += n;
        if (f.number == 3 && f.wire_type == 2) {
            int rc = nest_ok(f.val, f.vlen, depth + 1);
            if (rc) return rc;
        }
    }
    return 0;
}

static int file_nest_ok(const uint8_t *p, size_t len) {
    size_t off = 0;
    while (off < len) {
        pb_wire_field f;
        size_t n = mae__pb_get_field(p + off, len - off, &f);
        if (!n) return MAE_EDECODE;
        off += n;
        if (f.number == 4 && f.wire_type == 2) {
            int rc = nest_ok(f.val, f.vlen, 1);
            if (rc) return rc;
        }
    }
    return 0;
}

/* protobuf-c's unpack returns NULL for bad bytes and for a failed allocation alike: this
 * allocator tells them apart. */
static void *pc_alloc(void *data, size_t n) {
    void *q = malloc(n);
    if (!q) *(bool *)data = true;
    return q;
}

static void pc_free(void *data, void *q) { free(q); }

int mae__pb_pool_add_file(mae__pb_pool *p, const uint8_t *buf, size_t len, char *err,
                          size_t cap) {
    if (err && cap) err[0] = 0;
    if (len > MAE__PB_MAX_POOL_BYTES - p->total_bytes) {
        ERR("descriptors larger than %d MiB in all", MAE__PB_MAX_POOL_BYTES >> 20);
        return MAE_ELIMIT;
    }
    int rc = file_nest_ok(buf, len);
    if (rc == MAE_ELIMIT) ERR("descriptor: types nested deeper than %d", MAE__PB_MAX_DEPTH);
    if (rc == MAE_EDECODE) ERR("not a FileDescriptorProto (malformed protobuf)");
    if (rc) return rc;
    bool oom = false;
    ProtobufCAllocator pa = {pc_alloc, pc_free, &oom};
    Mae__Pb__FileDescriptorProto *fd = mae__pb__file_descriptor_proto__unpack(&pa, len, buf);
    if (!fd) {
        ERR("%s", oom ? "out of memory" : "not a FileDescriptorProto");
        return oom ? MAE_ENOMEM : MAE_EDECODE;
    }
    if (!fd->name || !*fd->name) {
        ERR("a FileDescriptorProto without a name");
        rc = MAE_EDECODE;
        goto fail;
    }
    const pb_file *old = mae__pb_sym(p, fd->name, SYM_FILE);
    if (old) {
        bool same = old->len == len && memcmp(old->bytes, buf, len) == 0;
        if (!same) ERR("%s: added twice with different contents", fd->name);
        rc = same ? 0 : MAE_EINVAL;
        goto fail;
    }
    if (p->nfiles >= MAE__PB_MAX_FILES) {
        ERR("more than %d descriptor files", MAE__PB_MAX_FILES);
        rc = MAE_ELIMIT;
        goto fail;
    }
    if ((rc = rehash(p)) ||
        (rc = grow((void **)&p->files, &p->capfiles, p->nfiles, sizeof *p->files)))
        goto fail;
    if (fd->package && *fd->package) {
        /* Dots separate identifiers; nothing else. */
        for (const char *s = fd->package; *s; s++) {
            if (*s == '.' && (s == fd->package || s[1] == '.' || s[1] == 0)) {
                ERR("%s: invalid package name", fd->name);
                rc = MAE_EINVAL;
                goto fail;
            }
        }
    }
    adder a = {.p = p, .file = fd->name, .err = err, .cap = cap, .msgs0 = p->nmsgs,
               .methods0 = p->nmethods};
    a.proto3 = fd->syntax && strcmp(fd->syntax, "proto3") == 0;
    uint8_t *copy = mae__arena_alloc(&p->arena, len ? len : 1);
    if (!copy) {
        rc = MAE_ENOMEM;
        goto fail;
    }
    memcpy(copy, buf, len);
    const char *pkg = fd->package ? fd->package : "";
    for (size_t i = 0; i < fd->n_enum_type && !rc; i++) rc = add_enum(&a, pkg, fd->enum_type[i]);
    for (size_t i = 0; i < fd->n_message_type && !rc; i++)
        rc = add_msg(&a, pkg, fd->message_type[i], 1);
    for (size_t i = 0; i < fd->n_service && !rc; i++) rc = add_service(&a, pkg, fd->service[i]);
    pb_file *f = mae__arena_alloc(&p->arena, sizeof *f);
    if (!f) {
        undo(&a);
        rc = MAE_ENOMEM;
        goto fail;
    }
    p->files[p->nfiles] = f;
    f->idx = p->nfiles;
    f->name = fd->name;
    f->bytes = copy;
    f->len = len;
    f->fd = fd;
    if (!rc) rc = add_sym(&a, fd->name, SYM_FILE, f);
    if (rc) {
        if (rc == MAE_ENOMEM) ERR("out of memory");
        undo(&a);
        goto fail;
    }
    p->nfiles++;
    p->total_bytes += len;
    p->linked = false;
    return 0;
fail:
    mae__pb__file_descriptor_proto__free_unpacked(fd, NULL);
    return rc;
}

int mae__pb_pool_add_set(mae__pb_pool *p, const uint8_t *buf, size_t len, char *err,
                         size_t cap) {
    if (err && cap) err[0] = 0;
    /* The set is walked on the wire, file by file: no unpacked copy of the whole set. */
    size_t off = 0;
    int nfiles = 0;
    while (off < len) {
        pb_wire_field f;
        size_t n = mae__pb_get_field(buf + off, len - off, &f);
        if (!n) {
            ERR("not a FileDescriptorSet (malformed protobuf at byte %zu)", off);
            return MAE_EDECODE;
        }
        off += n;
        if (f.number != 1) continue;
        if (f.wire_type != 2) {
            ERR("not a FileDescriptorSet (field 1 is not a message)");
            return MAE_EDECODE;
        }
        int rc = mae__pb_pool_add_file(p, f.val, f.vlen, err, cap);
        if (rc) return rc;
        nfiles++;
    }
    if (nfiles == 0) {
        ERR("an empty FileDescriptorSet");
        return MAE_EDECODE;
    }
    return 0;
}

size_t mae__pb_pool_missing(const mae__pb_pool *p, const char **names, size_t cap) {
    /* Names already counted, in a small open-addressing set sized for every import. */
    size_t ndeps = 0;
    for (size_t i = 0; i < p->nfiles; i++) ndeps += p->files[i]->fd->n_dependency;
    size_t nb = 16;
    while (nb < ndeps * 2) nb *= 2;
    const char **seen = calloc(nb, sizeof *seen);
    if (!seen) return 0;   /* out of memory: the caller sees nothing to fetch and link says why */
    size_t total = 0;
    for (size_t i = 0; i < p->nfiles; i++) {
        const Mae__Pb__FileDescriptorProto *fd = p->files[i]->fd;
        for (size_t j = 0; j < fd->n_dependency; j++) {
            const char *d = fd->dependency[j];
            if (!d || mae__pb_sym(p, d, SYM_FILE)) continue;
            size_t h = hash(d) & (nb - 1);
            while (seen[h] && strcmp(seen[h], d) != 0) h = (h + 1) & (nb - 1);
            if (seen[h]) continue;
            seen[h] = d;
            if (total < cap) names[total] = d;
            total++;
        }
    }
    free(seen);
    return total;
}

/* --- link ------------------------------------------------------------------------------------ */

/* A type name as a descriptor writes it: ".pkg.Msg" (absolute), else relative to scope, looked
 * up from the innermost scope outwards. */
static int resolve(mae__pb_pool *p, const char *scope, const char *name, int kind, void **res) {
    *res = NULL;
    if (name[0] == '.') {
        *res = mae__pb_sym(p, name + 1, kind);
        return 0;
    }
    size_t ls = strlen(scope), ln = strlen(name);
    char *buf = malloc(ls + ln + 2);
    if (!buf) return MAE_ENOMEM;
    memcpy(buf, scope, ls);
    for (;;) {
        size_t at = ls;
        if (ls) buf[at++] = '.';
        memcpy(buf + at, name, ln + 1);
        if ((*res = mae__pb_sym(p, buf, kind))) break;
        if (!ls) break;
        size_t k = ls;
        while (k && buf[k - 1] != '.') k--;
        ls = k ? k - 1 : 0;
    }
    free(buf);
    return 0;
}

/* Imports: every one present, no cycle (depth-first with an explicit stack). */
static int link_files(mae__pb_pool *p, char *err, size_t cap) {
    uint8_t *color = calloc(p->nfiles + 1, 1);          /* 0 new, 1 on the stack, 2 done */
    size_t *stack = malloc((p->nfiles + 1) * sizeof *stack);
    size_t *next = calloc(p->nfiles + 1, sizeof *next);  /* next dependency to visit */
    int rc = 0;
    if (!color || !stack || !next) {
        ERR("out of memory");
        rc = MAE_ENOMEM;
    }
    for (size_t r = 0; !rc && r < p->nfiles; r++) {
        if (color[r]) continue;
        size_t sp = 0;
        stack[sp++] = r;
        color[r] = 1;
        while (sp && !rc) {
            size_t i = stack[sp - 1];
            const Mae__Pb__FileDescriptorProto *fd = p->files[i]->fd;
            if (next[i] == fd->n_dependency) {
                color[i] = 2;
                sp--;
                continue;
            }
            const char *dname = fd->dependency[next[i]++];
            const pb_file *d = dname ? mae__pb_sym(p, dname, SYM_FILE) : NULL;
            if (!d) {
                ERR("%s imports %s, which is missing", fd->name, dname ? dname : "(null)");
                rc = MAE_EINVAL;
                break;
            }
            size_t di = d->idx;
            if (color[di] == 1) {
                ERR("cycle of imports: %s imports %s, which imports it back", fd->name, dname);
                rc = MAE_EINVAL;
            } else if (color[di] == 0) {
                color[di] = 1;
                stack[sp++] = di;
            }
        }
    }
    free(color);
    free(stack);
    free(next);
    return rc;
}

int mae__pb_pool_link(mae__pb_pool *p, char *err, size_t cap) {
    if (err && cap) err[0] = 0;
    if (p->nfiles == 0) {
        ERR("no descriptors");
        return MAE_EINVAL;
    }
    int rc = link_files(p, err, cap);
    if (rc) return rc;
    for (size_t i = 0; i < p->nmsgs; i++) {
        mae__pb_msg *m = p->msgs[i];
        for (size_t j = 0; j < m->nfields; j++) {
            mae__pb_field *f = (mae__pb_field *)&m->fields[j];
            void *r;
            if (f->type == PB_MESSAGE || f->type == PB_GROUP) {
                if (resolve(p, m->full_name, f->type_name, SYM_MSG, &r)) goto oom;
                if (!(f->msg = r)) goto unresolved;
                f->map = f->repeated && f->msg->map_entry && f->msg->nfields == 2 &&
                         f->msg->fields[0].number == 1 && f->msg->fields[1].number == 2;
            } else if (f->type == PB_ENUM) {
                if (resolve(p, m->full_name, f->type_name, SYM_ENUM, &r)) goto oom;
                if (!(f->en = r)) goto unresolved;
            }
            continue;
        oom:
            ERR("out of memory");
            return MAE_ENOMEM;
        unresolved:
            ERR("field %s.%s: unknown %s type %s", m->full_name, f->name,
                f->type == PB_ENUM ? "enum" : "message", f->type_name);
            return MAE_EINVAL;
        }
    }
    for (size_t i = 0; i < p->nmethods; i++) {
        pb_method_ent *e = p->methods[i];
        void *in, *out;
        if (resolve(p, e->m.service, e->in_name, SYM_MSG, &in) ||
            resolve(p, e->m.service, e->out_name, SYM_MSG, &out)) {
            ERR("out of memory");
            return MAE_ENOMEM;
        }
        e->m.input = in;
        e->m.output = out;
        if (!e->m.input || !e->m.output) {
            ERR("%s: method %s: unknown message type %s", e->file, e->m.path + 1,
                e->m.input ? e->out_name : e->in_name);
            return MAE_EINVAL;
        }
    }
    p->linked = true;
    return 0;
}
