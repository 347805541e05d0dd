/* Templates (docs/workflow-language.md#templates-and-expressions): literal text with {{ EXPR }}
 * parts, compiled once into the caller's arena, evaluated to a typed value (whole templates) or an
 * interpolated string, rendered with an optional escape for substituted text, and walked for the
 * names they read. Substituted values are copied as text, never parsed again, so "{{" inside data
 * stays literal. */
#include <stdlib.h>
#include <string.h>

#include "maestro/maestro.h"
#include "workflow/expr.h"
#include "workflow/template.h"

typedef struct tpart {
    const char *text;   /* literal text (arena, NUL-terminated); NULL for an expression */
    size_t len;
    mae_expr *e;
    size_t off, end;    /* source span; for an expression from "{{" to after "}}" */
} tpart;

struct mae_tmpl {
    const char *src;
    size_t len;
    bool whole;
    tpart *parts;
    size_t nparts;
};

bool mae__tmpl_has_expr(const char *src, size_t len) {
    for (size_t i = 0; i + 1 < len; i++)
        if (src[i] == '{' && src[i + 1] == '{') return true;
    return false;
}

bool mae__tmpl_is_whole(const mae_tmpl *t) { return t->whole; }
const char *mae__tmpl_source(const mae_tmpl *t) { return t->src; }

static int add_part(mae_arena *a, mae_tmpl *t, size_t *cap, tpart p) {
    if (t->nparts == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;
        tpart *np = mae__arena_alloc(a, ncap * sizeof *np);
        if (!np) return MAE_ENOMEM;
        if (*cap) memcpy(np, t->parts, *cap * sizeof *np);
        t->parts = np;
        *cap = ncap;
    }
    t->parts[t->nparts++] = p;
    return 0;
}

static size_t find_open(const char *s, size_t len, size_t from) {
    for (size_t i = from; i + 1 < len; i++)
        if (s[i] == '{' && s[i + 1] == '{') return i;
    return len;
}

int mae__tmpl_compile(mae_arena *a, const char *src, size_t len, mae_tmpl **out, mae_tmpl_err *err) {
    *out = NULL;
    if (!len) src = "";  /* (NULL, 0) is the empty template */
    const char *nul = memchr(src, 0, len);
    if (nul) {
        err->offset = (size_t)(nul - src);
        strcpy(err->msg, "NUL byte in template");
        return MAE_EPARSE;
    }
    mae_tmpl *t = mae__arena_alloc(a, sizeof *t);
    char *copy = mae__arena_strndup(a, src, len);
    if (!t || !copy) return MAE_ENOMEM;
    t->src = copy;
    t->len = len;
    size_t cap = 0, pos = 0;
    int rc;
    while (pos < len) {
        size_t open = find_open(copy, len, pos);
        if (open > pos) {
            tpart lit = {0};
            if (!(lit.text = mae__arena_strndup(a, copy + pos, open - pos))) return MAE_ENOMEM;
            lit.len = open - pos;
            lit.off = pos;
            lit.end = open;
            if ((rc = add_part(a, t, &cap, lit))) return rc;
        }
        if (open == len) break;
        tpart ex = {0};
        ex.off = open;
        if ((rc = mae__expr_parse(a, copy, len, open, open + 2, &ex.e, &ex.end, err))) return rc;
        if ((rc = add_part(a, t, &cap, ex))) return rc;
        pos = ex.end;
    }
    t->whole = t->nparts == 1 && t->parts[0].e && t->parts[0].off == 0 && t->parts[0].end == len;
    *out = t;
    return 0;
}

static void ectx_init(mae_ectx *cx, const mae_tmpl *t, const tpart *p, const mae_scope *scope,
                      mae_eval_err *err) {
    memset(cx, 0, sizeof *cx);
    cx->scope = scope;
    cx->src = t->src;
    cx->part_off = p->off;
    cx->part_end = p->end;
    cx->err = err;
}

/* Evaluates one expression part to a value the caller owns. */
static int eval_part(const mae_tmpl *t, const tpart *p, const mae_scope *scope, cJSON **out,
                     mae_eval_err *err) {
    mae_ectx cx;
    mae_val v;
    ectx_init(&cx, t, p, scope, err);
    int rc = mae__expr_eval(&cx, p->e, &v);
    if (rc) return rc;
    if (!v.v) return mae__eval_fail(&cx, "no value");  /* unreachable: lenient only under default */
    *out = v.owned ? v.v : cJSON_Duplicate(v.v, 1);
    if (!*out) return MAE_ENOMEM;
    /* A copy of a member keeps its key; a constant one (a foreach item's variables) points into
     * the workflow, which the value may outlive: a value has no key of its own. */
    if (!v.owned && (*out)->string) {
        if (!((*out)->type & cJSON_StringIsConst)) cJSON_free((*out)->string);
        (*out)->string = NULL;
        (*out)->type &= ~cJSON_StringIsConst;
    }
    return 0;
}

/* The text of one expression part, escaped when asked. */
static int part_text(const mae_tmpl *t, const tpart *p, const mae_scope *scope, mae_escape_fn escape,
                     char **text, size_t *len, mae_eval_err *err) {
    cJSON *v;
    int rc = eval_part(t, p, scope, &v, err);
    if (rc) return rc;
    mae_ectx cx;
    ectx_init(&cx, t, p, scope, err);
    rc = mae__val_text(&cx, v, text, len);
    cJSON_Delete(v);
    if (rc || !escape) return rc;
    char *e = escape(*text, *len);
    free(*text);
    *text = NULL;
    if (!e) return MAE_ENOMEM;
    *text = e;
    *len = strlen(e);
    return 0;
}

/* Interpolation: literal text plus each part's text, bounded by MAE_TMPL_MAX_OUTPUT. */
static int interpolate(const mae_tmpl *t, const mae_scope *scope, mae_escape_fn escape, char **out,
                       mae_eval_err *err) {
    size_t len = 0, cap = t->len + 1;
    char *buf = malloc(cap);
    if (!buf) return MAE_ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < t->nparts && !rc; i++) {
        const tpart *p = &t->parts[i];
        char *text = NULL;
        size_t tl = p->len;
        if (p->e) rc = part_text(t, p, scope, escape, &text, &tl, err);
        if (rc) break;
        const char *src = p->e ? text : p->text;
        if (len + tl > MAE_TMPL_MAX_OUTPUT) {
            mae_ectx cx;
            ectx_init(&cx, t, p, scope, err);
            rc = mae__eval_fail(&cx, "rendered text longer than %u bytes", MAE_TMPL_MAX_OUTPUT);
        } else if (len + tl + 1 > cap) {
            while (len + tl + 1 > cap) cap *= 2;
            char *nb = realloc(buf, cap);
            if (nb) buf = nb;
            else rc = MAE_ENOMEM;
        }
        if (!rc) {
            memcpy(buf + len, src, tl);
            len += tl;
        }
        free(text);
    }
    if (rc) {
        free(buf);
        return rc;
    }
    buf[len] = 0;
    *out = buf;
    return 0;
}

static int oom(mae_eval_err *err, int rc) {
    if (rc == MAE_ENOMEM) strcpy(err->msg, "out of memory");
    return rc;
}

int mae__tmpl_eval(const mae_tmpl *t, const mae_scope *scope, cJSON **out, mae_eval_err *err) {
    *out = NULL;
    if (t->whole) return oom(err, eval_part(t, &t->parts[0], scope, out, err));
    char *s;
    int rc = interpolate(t, scope, NULL, &s, err);
    if (rc) return oom(err, rc);
    *out = cJSON_CreateString(s);
    free(s);
    return *out ? 0 : oom(err, MAE_ENOMEM);
}

int mae__tmpl_render(const mae_tmpl *t, const mae_scope *scope, mae_escape_fn escape, char **out,
                    mae_eval_err *err) {
    *out = NULL;
    if (t->whole) {
        size_t len;
        return oom(err, part_text(t, &t->parts[0], scope, escape, out, &len, err));
    }
    return oom(err, interpolate(t, scope, escape, out, err));
}

bool mae__json_truthy(const cJSON *v) {
    if (!v) return false;
    switch (v->type & 0xff) {
    case cJSON_True: return true;
    case cJSON_Number: return v->valuedouble != 0;
    case cJSON_String: return v->valuestring && v->valuestring[0];
    case cJSON_Array: case cJSON_Object: return v->child != NULL;
    default: return false;  /* false, null, invalid */
    }
}

/* The name a segment reads when it is known at compile time: .name or ["name"]. */
static const char *seg_name(const mae_seg *s) {
    if (!s) return NULL;
    if (s->name) return s->name;
    if (s->index->kind == EX_LIT && s->index->op == LIT_STR) return s->index->str;
    return NULL;
}

static void walk(const mae_expr *e, bool dflt, mae_ref_cb cb, void *ud) {
    switch (e->kind) {
    case EX_LIT: return;
    case EX_PATH:
        if (e->root) {
            cb(ud, e->root, seg_name(e->nsegs ? &e->segs[0] : NULL), dflt, e->off);
        } else if (e->base->kind == EX_PATH && e->base->root && !e->base->nsegs) {
            /* (.a).b reads a.b just as .a.b does. */
            cb(ud, e->base->root, seg_name(e->nsegs ? &e->segs[0] : NULL), dflt, e->base->off);
        } else {
            walk(e->base, dflt, cb, ud);
        }
        for (size_t i = 0; i < e->nsegs; i++)
            if (e->segs[i].index) walk(e->segs[i].index, dflt, cb, ud);
        return;
    case EX_NOT: case EX_NEG:
        walk(e->a, dflt, cb, ud);
        return;
    case EX_BIN: case EX_AND: case EX_OR:
        walk(e->a, dflt, cb, ud);
        walk(e->b, dflt, cb, ud);
        return;
    case EX_CALL:
        for (size_t i = 0; i < e->nargs; i++)
            walk(e->args[i], dflt || (e->op == FN_DEFAULT && i == e->nargs - 1), cb, ud);
        return;
    }
}

void mae__tmpl_refs(const mae_tmpl *t, mae_ref_cb cb, void *ud) {
    for (size_t i = 0; i < t->nparts; i++)
        if (t->parts[i].e) walk(t->parts[i].e, false, cb, ud);
}
