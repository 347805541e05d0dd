/* YAML event stream → mae_ynode tree. libyaml does the scanning; this file builds the tree with
 * an explicit stack (never recursion, so depth cannot blow the C stack), resolves aliases by
 * sharing the anchored node, and enforces the caps of yaml.h. Every event is deleted. */
#include "workflow/yaml.h"
#include "workflow/utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "maestro/maestro.h"

#define ANCHOR_BUCKETS 1024

typedef struct anchor {
    struct anchor *next;     /* bucket chain; the newest definition of a name comes first */
    char *name;
    mae_ynode *node;
    bool open;               /* its sequence/mapping has not ended yet */
} anchor;

typedef struct frame {
    mae_ynode *node;
    anchor *anc;             /* the anchor naming this node, or NULL */
    mae_ynode **kids;        /* malloc'd while open, copied into the arena at the end */
    size_t n, cap;
} frame;

typedef struct builder {
    mae_arena *a;
    mae_diags *d;
    const char *buf;
    size_t len;
    frame stack[MAE_YAML_MAX_DEPTH + 1];
    size_t depth;
    size_t expanded;         /* nodes so far, aliases counted with their full weight */
    size_t text;             /* scalar bytes so far, aliases counted in full */
    anchor *buckets[ANCHOR_BUCKETS];
    mae_ynode *root;
    int docs;
    size_t aliases;          /* aliases seen so far */
    bool soft_error;         /* duplicate or complex keys: reported, parsing goes on */
} builder;

static mae_pos mark_pos(yaml_mark_t m) {
    return (mae_pos){(int)m.line + 1, (int)m.column + 1};
}

/* Line:col of a byte offset (columns count characters, as libyaml's marks do). */
static mae_pos offset_pos(const char *buf, size_t len, size_t off) {
    mae_pos p = {1, 1};
    for (size_t i = 0; i < off && i < len; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c == '\n') {
            p.line++;
            p.col = 1;
        } else if ((c & 0xC0) != 0x80) {
            p.col++;
        }
    }
    return p;
}

static unsigned hash_name(const char *s) {
    unsigned h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h % ANCHOR_BUCKETS;
}

static anchor *anchor_find(builder *b, const char *name) {
    for (anchor *x = b->buckets[hash_name(name)]; x; x = x->next)
        if (strcmp(x->name, name) == 0) return x;
    return NULL;
}

static int anchor_add(builder *b, const char *name, mae_ynode *node, bool open, anchor **out) {
    anchor *x = calloc(1, sizeof *x);
    if (!x || !(x->name = strdup(name))) {
        free(x);
        return MAE_ENOMEM;
    }
    x->node = node;
    x->open = open;
    unsigned h = hash_name(name);
    x->next = b->buckets[h];
    b->buckets[h] = x;
    if (out) *out = x;
    return 0;
}

static void anchors_free(builder *b) {
    for (size_t i = 0; i < ANCHOR_BUCKETS; i++) {
        anchor *x = b->buckets[i];
        while (x) {
            anchor *n = x->next;
            free(x->name);
            free(x);
            x = n;
        }
    }
}

static int count_nodes(builder *b, size_t w, size_t text, mae_pos pos) {
    b->expanded += w;
    b->text += text;
    if (b->text > MAE_YAML_MAX_TEXT) {
        mae__diag_add(b->d, pos, "alias expansion exceeds %u MiB of text", MAE_YAML_MAX_TEXT >> 20);
        return MAE_EPARSE;
    }
    if (b->expanded > MAE_YAML_MAX_NODES) {
        if (b->aliases)
            mae__diag_add(b->d, pos, "alias expansion exceeds %d nodes", MAE_YAML_MAX_NODES);
        else
            mae__diag_add(b->d, pos, "more than %d YAML nodes", MAE_YAML_MAX_NODES);
        return MAE_EPARSE;
    }
    return 0;
}

/* Hands a finished node to the open parent (or makes it the root). */
static int attach(builder *b, mae_ynode *n) {
    if (b->depth == 0) {
        b->root = n;
        return 0;
    }
    frame *f = &b->stack[b->depth - 1];
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        mae_ynode **k = realloc(f->kids, cap * sizeof *k);
        if (!k) return MAE_ENOMEM;
        f->kids = k;
        f->cap = cap;
    }
    f->kids[f->n++] = n;
    f->node->weight += n->weight;
    f->node->text += n->text;
    return 0;
}

typedef struct keyref {
    const mae_ynode *key;
    size_t idx;
} keyref;

static int keyref_cmp(const void *pa, const void *pb) {
    const keyref *a = pa, *b = pb;
    size_t m = a->key->len < b->key->len ? a->key->len : b->key->len;
    int c = memcmp(a->key->str, b->key->str, m);
    if (c) return c;
    if (a->key->len != b->key->len) return a->key->len < b->key->len ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* A key for a message: at most 100 bytes, control characters shown as '?'. */
static void key_text(const mae_ynode *k, char out[104]) {
    size_t n = k->len < 100 ? k->len : 100;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)k->str[i];
        out[i] = (char)(c < 0x20 || c == 0x7f ? '?' : c);
    }
    if (k->len > 100) memcpy(out + n, "...", 3), n += 3;
    out[n] = 0;
}

/* Reports duplicate keys of a finished mapping (O(n log n): a hostile map can be huge). */
static int check_dup_keys(builder *b, const mae_ynode *m) {
    if (m->n < 2) return 0;
    keyref *r = malloc(m->n * sizeof *r);
    if (!r) return MAE_ENOMEM;
    for (size_t i = 0; i < m->n; i++) r[i] = (keyref){m->pairs[i].key, i};
    qsort(r, m->n, sizeof *r, keyref_cmp);
    int rc = 0;
    size_t first = 0;
    for (size_t i = 1; i < m->n; i++) {
        if (keyref_cmp(&(keyref){r[i].key, 0}, &(keyref){r[first].key, 0}) == 0) {
            char kt[104];
            key_text(r[i].key, kt);
            mae__diag_add(b->d, r[i].key->pos, "duplicate key '%s' (first at line %d)", kt,
                         r[first].key->pos.line);
            rc = MAE_EPARSE;
        } else {
            first = i;
        }
    }
    free(r);
    return rc;
}

static bool is_merge_key(const mae_ynode *k) {
    return !k->quoted && k->len == 2 && memcmp(k->str, "<<", 2) == 0;
}

/* YAML merge keys ("<<: *defaults" or "<<: [*a, *b]"): the merged mappings' pairs are added
 * unless the mapping sets the key itself; among merged mappings the first one wins. The
 * pairs are shared, not copied. Sorting keeps this O(n log n) for hostile sizes. */
static int apply_merge(builder *b, mae_ynode *n) {
    size_t merges = 0, total = 0;
    for (size_t i = 0; i < n->n; i++) {
        if (!is_merge_key(n->pairs[i].key)) { total++; continue; }
        merges++;
        const mae_ynode *v = n->pairs[i].val;
        size_t nv = v->kind == MAE_YN_SEQ ? v->n : 1;
        for (size_t j = 0; j < nv; j++) {
            const mae_ynode *m = v->kind == MAE_YN_SEQ ? v->items[j] : v;
            if (m->kind != MAE_YN_MAP) {
                mae__diag_add(b->d, m->pos, "a merge key '<<' needs a mapping or a sequence of mappings");
                b->soft_error = true;
                continue;
            }
            total += m->n;
        }
    }
    if (!merges) return 0;
    mae_ypair *all = malloc((total ? total : 1) * sizeof *all);
    keyref *r = malloc((total ? total : 1) * sizeof *r);
    if (!all || !r) {
        free(all);
        free(r);
        return MAE_ENOMEM;
    }
    /* Explicit pairs first (they win), then the merged ones in order. */
    size_t k = 0;
    for (size_t i = 0; i < n->n; i++)
        if (!is_merge_key(n->pairs[i].key)) all[k++] = n->pairs[i];
    for (size_t i = 0; i < n->n; i++) {
        if (!is_merge_key(n->pairs[i].key)) continue;
        const mae_ynode *v = n->pairs[i].val;
        size_t nv = v->kind == MAE_YN_SEQ ? v->n : 1;
        for (size_t j = 0; j < nv; j++) {
            const mae_ynode *m = v->kind == MAE_YN_SEQ ? v->items[j] : v;
            if (m->kind != MAE_YN_MAP) continue;
            for (size_t x = 0; x < m->n; x++) all[k++] = m->pairs[x];
        }
    }
    for (size_t i = 0; i < k; i++) r[i] = (keyref){all[i].key, i};
    if (k > 1) qsort(r, k, sizeof *r, keyref_cmp);
    /* Keep the first of each key; mark the others by clearing their key. */
    for (size_t i = 1; i < k; i++)
        if (keyref_cmp(&(keyref){r[i].key, 0}, &(keyref){r[i - 1].key, 0}) == 0) all[r[i].idx].key = NULL;
    mae_ypair *out = mae__arena_alloc(b->a, (k ? k : 1) * sizeof *out);
    int rc = out ? 0 : MAE_ENOMEM;
    size_t o = 0;
    for (size_t i = 0; out && i < k; i++)
        if (all[i].key) out[o++] = all[i];
    if (out) {
        n->pairs = out;
        n->n = o;
    }
    free(all);
    free(r);
    return rc;
}

static int close_frame(builder *b, mae_pos end) {
    frame *f = &b->stack[--b->depth];
    mae_ynode *n = f->node;
    int rc = 0;
    if (n->kind == MAE_YN_SEQ) {
        n->n = f->n;
        n->items = mae__arena_alloc(b->a, (f->n ? f->n : 1) * sizeof *n->items);
        if (!n->items) rc = MAE_ENOMEM;
        else if (f->n) memcpy(n->items, f->kids, f->n * sizeof *n->items);
    } else {
        n->pairs = mae__arena_alloc(b->a, (f->n / 2 ? f->n / 2 : 1) * sizeof *n->pairs);
        if (!n->pairs) rc = MAE_ENOMEM;
        n->n = 0;
        for (size_t i = 0; rc == 0 && i < f->n / 2; i++) {
            /* A non-scalar key is reported and its pair dropped: every key left is a scalar. */
            if (f->kids[2 * i]->kind != MAE_YN_SCALAR) {
                mae__diag_add(b->d, f->kids[2 * i]->pos, "mapping keys must be scalars");
                b->soft_error = true;
                continue;
            }
            n->pairs[n->n].key = f->kids[2 * i];
            n->pairs[n->n].val = f->kids[2 * i + 1];
            n->n++;
        }
        if (rc == 0) rc = check_dup_keys(b, n);
        if (rc == MAE_EPARSE) {
            b->soft_error = true;
            rc = 0;
        }
        if (rc == 0) rc = apply_merge(b, n);
    }
    free(f->kids);
    f->kids = NULL;
    if (f->anc) f->anc->open = false;
    (void)end;
    if (rc) return rc;
    return attach(b, n);
}

static int open_frame(builder *b, mae_ynode_kind kind, yaml_mark_t m, const yaml_char_t *anc) {
    mae_pos pos = mark_pos(m);
    if (b->depth >= MAE_YAML_MAX_DEPTH) {
        mae__diag_add(b->d, pos, "nesting deeper than %d levels", MAE_YAML_MAX_DEPTH);
        return MAE_EPARSE;
    }
    int rc = count_nodes(b, 1, 0, pos);
    if (rc) return rc;
    mae_ynode *n = mae__arena_alloc(b->a, sizeof *n);
    if (!n) return MAE_ENOMEM;
    n->kind = kind;
    n->pos = pos;
    n->weight = 1;
    frame *f = &b->stack[b->depth++];
    memset(f, 0, sizeof *f);
    f->node = n;
    if (anc) return anchor_add(b, (const char *)anc, n, true, &f->anc);
    return 0;
}

static int on_scalar(builder *b, const yaml_event_t *e) {
    mae_pos pos = mark_pos(e->start_mark);
    int rc = count_nodes(b, 1, e->data.scalar.length, pos);
    if (rc) return rc;
    mae_ynode *n = mae__arena_alloc(b->a, sizeof *n);
    if (!n) return MAE_ENOMEM;
    n->kind = MAE_YN_SCALAR;
    n->pos = pos;
    n->weight = 1;
    yaml_scalar_style_t st = e->data.scalar.style;
    n->quoted = st != YAML_PLAIN_SCALAR_STYLE && st != YAML_ANY_SCALAR_STYLE;
    n->block = st == YAML_LITERAL_SCALAR_STYLE || st == YAML_FOLDED_SCALAR_STYLE;
    /* A non-specific "!" tag makes a plain scalar a string, as in YAML's core schema. */
    if (e->data.scalar.tag && strcmp((const char *)e->data.scalar.tag, "!") == 0) n->quoted = true;
    n->len = e->data.scalar.length;
    n->text = n->len;
    n->str = mae__arena_strndup(b->a, (const char *)e->data.scalar.value, n->len);
    if (!n->str) return MAE_ENOMEM;
    if (e->data.scalar.anchor && (rc = anchor_add(b, (const char *)e->data.scalar.anchor, n, false, NULL)))
        return rc;
    return attach(b, n);
}

static int on_alias(builder *b, const yaml_event_t *e) {
    mae_pos pos = mark_pos(e->start_mark);
    const char *name = (const char *)e->data.alias.anchor;
    anchor *x = anchor_find(b, name);
    if (!x) {
        mae__diag_add(b->d, pos, "unknown alias '*%s'", name);
        return MAE_EPARSE;
    }
    if (x->open) {
        mae__diag_add(b->d, pos, "alias '*%s' refers to a node that contains it", name);
        return MAE_EPARSE;
    }
    b->aliases++;
    int rc = count_nodes(b, x->node->weight, x->node->text, pos);
    if (rc) return rc;
    return attach(b, x->node);
}

static void parser_error(builder *b, yaml_parser_t *p) {
    mae_pos pos;
    if (p->error == YAML_READER_ERROR)
        pos = offset_pos(b->buf, b->len, p->problem_offset);
    else
        pos = mark_pos(p->problem_mark);
    const char *problem = p->problem ? p->problem : "invalid YAML";
    if (p->context)
        mae__diag_add(b->d, pos, "yaml: %s %s", problem, p->context);
    else
        mae__diag_add(b->d, pos, "yaml: %s", problem);
}

static int run(builder *b, yaml_parser_t *p) {
    for (;;) {
        yaml_event_t e;
        if (!yaml_parser_parse(p, &e)) {
            if (p->error == YAML_MEMORY_ERROR) return MAE_ENOMEM;
            parser_error(b, p);
            return MAE_EPARSE;
        }
        int rc = 0;
        bool done = false;
        switch (e.type) {
        case YAML_STREAM_END_EVENT: done = true; break;
        case YAML_DOCUMENT_START_EVENT:
            if (++b->docs > 1) {
                mae__diag_add(b->d, mark_pos(e.start_mark), "more than one YAML document in the file");
                rc = MAE_EPARSE;
            }
            break;
        case YAML_SEQUENCE_START_EVENT:
            rc = open_frame(b, MAE_YN_SEQ, e.start_mark, e.data.sequence_start.anchor);
            break;
        case YAML_MAPPING_START_EVENT:
            rc = open_frame(b, MAE_YN_MAP, e.start_mark, e.data.mapping_start.anchor);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            rc = close_frame(b, mark_pos(e.start_mark));
            break;
        case YAML_SCALAR_EVENT: rc = on_scalar(b, &e); break;
        case YAML_ALIAS_EVENT: rc = on_alias(b, &e); break;
        default: break;
        }
        yaml_event_delete(&e);
        if (rc) return rc;
        if (done) return 0;
    }
}

int mae__yaml_parse(mae_arena *a, const char *buf, size_t len, mae_ynode **root, mae_diags *diags) {
    *root = NULL;
    if (len > MAE_YAML_MAX_FILE) {
        mae__diag_add(diags, (mae_pos){0, 0}, "file too large (%zu bytes, limit %u)", len, MAE_YAML_MAX_FILE);
        return MAE_ETOOBIG;
    }
    size_t bad = mae__utf8_check((const unsigned char *)buf, len);
    if (bad < len) {
        mae__diag_add(diags, offset_pos(buf, len, bad), "invalid UTF-8 (byte 0x%02X)", (unsigned char)buf[bad]);
        return MAE_EPARSE;
    }
    builder *b = calloc(1, sizeof *b);
    if (!b) return MAE_ENOMEM;
    b->a = a;
    b->d = diags;
    b->buf = buf;
    b->len = len;
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        free(b);
        return MAE_ENOMEM;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
    yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);
    int rc = run(b, &p);
    yaml_parser_delete(&p);
    while (b->depth > 0) free(b->stack[--b->depth].kids);
    anchors_free(b);
    if (rc == 0) *root = b->root;
    if (rc == 0 && b->soft_error) rc = MAE_EPARSE;
    free(b);
    return rc;
}

mae_ynode *mae__yaml_get(const mae_ynode *map, const char *key) {
    if (!map || map->kind != MAE_YN_MAP) return NULL;
    size_t kl = strlen(key);
    for (size_t i = 0; i < map->n; i++)
        if (map->pairs[i].key->len == kl && memcmp(map->pairs[i].key->str, key, kl) == 0)
            return map->pairs[i].val;
    return NULL;
}

const char *mae__yaml_kind_name(const mae_ynode *n) {
    if (!n) return "nothing";
    switch (n->kind) {
    case MAE_YN_SCALAR: return "a scalar";
    case MAE_YN_SEQ: return "a sequence";
    default: return "a mapping";
    }
}
