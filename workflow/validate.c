/* Reference checks (docs/workflow-language.md#names-a-template-can-read): every name a template
 * reads must exist at that point of the workflow. Walks the steps in run order keeping the names
 * visible so far: outputs of earlier steps, ids of earlier steps, foreach variables inside their
 * body. Parallel siblings cannot see each other; a compensation sees its own step's output. */
#include <stdlib.h>
#include <string.h>

#include "maestro/maestro.h"
#include "workflow/load_int.h"

typedef struct vis {
    const char *name;
    bool is_id;
} vis;

typedef struct walker {
    mae_loader *ld;
    vis *v;
    size_t n, cap;
    const struct mae_tmpl_src *src;   /* the template being checked */
} walker;

static void push(walker *w, const char *name, bool is_id) {
    if (!name) return;
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 32;
        vis *p = realloc(w->v, cap * sizeof *p);
        if (!p) {
            w->ld->oom = true;
            return;
        }
        w->v = p;
        w->cap = cap;
    }
    w->v[w->n++] = (vis){name, is_id};
}

static bool visible(const walker *w, const char *name, bool is_id) {
    for (size_t i = w->n; i-- > 0;)
        if (w->v[i].is_id == is_id && strcmp(w->v[i].name, name) == 0) return true;
    return false;
}

/* The step (anywhere in the workflow) whose output is name, for a helpful message; *in_foreach
 * is set to the enclosing foreach when the name belongs to a foreach item. */
static const mae_step *producer(const mae_step *steps, size_t n, const char *name, const mae_step **in_foreach) {
    for (size_t i = 0; i < n; i++) {
        const mae_step *s = &steps[i];
        if (s->output && strcmp(s->output, name) == 0) return s;
        const mae_step *c = producer(s->children, s->n_children, name, in_foreach);
        bool idx = false;
        if (s->as) {
            size_t l = strlen(s->as);
            idx = strncmp(name, s->as, l) == 0 && strcmp(name + l, "_index") == 0;
        }
        if (s->kind == MAE_STEP_FOREACH && (c || idx || (s->as && strcmp(s->as, name) == 0))) {
            if (!*in_foreach) *in_foreach = s;
            return s;
        }
        if (c) return c;
    }
    return NULL;
}

static int src_cmp(const void *a, const void *b) {
    const mae_tmpl *x = ((const struct mae_tmpl_src *)a)->t, *y = ((const struct mae_tmpl_src *)b)->t;
    return x < y ? -1 : x > y;
}

/* A reference's line:col costs a walk through its scalar, so it is computed only when a
 * diagnostic is emitted: a string holding 100k references validates in linear time. */
static mae_pos ref_pos(walker *w, size_t offset) {
    return w->src ? mae__ld_scalar_pos(w->ld, w->src->n, w->src->skip + offset) : (mae_pos){0, 0};
}

/* The visible name (id or variable) closest to name, for a "did you mean"; NULL when none is. */
static const char *near(const walker *w, const char *name, bool is_id) {
    /* one letter off a two-letter name is another name, not a typo */
    if (strlen(name) < 4) return NULL;
    const char *c[64];
    size_t n = 0;
    if (!is_id) {
        c[n++] = "input";
        c[n++] = "steps";
        c[n++] = "workflow";
    }
    for (size_t i = w->n; i-- > 0 && n < 64;)
        if (w->v[i].is_id == is_id) c[n++] = w->v[i].name;
    return mae__ld_suggest(name, c, n);
}

static void on_ref(void *ud, const char *root, const char *sub, bool has_default, size_t offset) {
    walker *w = ud;
    mae_loader *ld = w->ld;
    if (has_default || !root || !*root || ld->oom) return;
    const mae_workflow *wf = ld->wf;
    if (strcmp(root, "workflow") == 0) return;
    if (strcmp(root, "input") == 0) {
        if (!sub || wf->n_inputs == 0) return;
        const char *c[64];
        size_t n = 0;
        for (size_t i = 0; i < wf->n_inputs; i++) {
            if (strcmp(wf->inputs[i].name, sub) == 0) return;
            if (n < 64) c[n++] = wf->inputs[i].name;
        }
        const char *hint = mae__ld_full(ld) || strlen(sub) < 4 ? NULL : mae__ld_suggest(sub, c, n);
        if (hint)
            mae__ld_err(ld, ref_pos(w, offset), "'.input.%s' is not declared in the workflow's input (did you mean '.input.%s'?)",
                        sub, hint);
        else
            mae__ld_err(ld, ref_pos(w, offset), "'.input.%s' is not declared in the workflow's input", sub);
        return;
    }
    if (strcmp(root, "steps") == 0) {
        if (!sub || visible(w, sub, true)) return;
        const char *hint = mae__ld_full(ld) ? NULL : near(w, sub, true);
        if (hint)
            mae__ld_err(ld, ref_pos(w, offset), "'.steps.%s' does not name an earlier step (did you mean '.steps.%s'?)", sub,
                        hint);
        else
            mae__ld_err(ld, ref_pos(w, offset), "'.steps.%s' does not name an earlier step", sub);
        return;
    }
    if (visible(w, root, false)) return;
    if (mae__ld_full(ld)) {
        mae__ld_err(ld, ref_pos(w, offset), "unknown variable '.%s'", root);
        return;
    }
    const mae_step *fe = NULL;
    const mae_step *p = producer(wf->steps, wf->n_steps, root, &fe);
    if (fe)
        mae__ld_err(ld, ref_pos(w, offset), "'.%s' belongs to the items of foreach '%s' and is only visible inside it", root,
                    fe->id ? fe->id : "?");
    else if (p && p->id)
        mae__ld_err(ld, ref_pos(w, offset), "'.%s' is set by step '%s', which does not run before this point", root, p->id);
    else if (p)
        mae__ld_err(ld, ref_pos(w, offset), "'.%s' is not set before this point", root);
    else if (near(w, root, false))
        mae__ld_err(ld, ref_pos(w, offset), "unknown variable '.%s' (did you mean '.%s'?)", root, near(w, root, false));
    else
        mae__ld_err(ld, ref_pos(w, offset), "unknown variable '.%s' (no step has output '%s')", root, root);
}

static void check_tmpl(walker *w, const mae_tmpl *t) {
    if (!t) return;
    struct mae_tmpl_src key = {t, NULL, 0};
    w->src = w->ld->n_tsrc ? bsearch(&key, w->ld->tsrc, w->ld->n_tsrc, sizeof key, src_cmp) : NULL;
    mae__tmpl_refs(t, on_ref, w);
    w->src = NULL;
}

/* The templates a call target renders (an HTTP path). */
static void check_target(walker *w, const mae_target *t) {
    if (!t) return;
    const mae_tmpl *tm[8];
    size_t off[8];
    size_t k = t->type->templates(t, tm, off, 8);
    for (size_t i = 0; i < k && i < 8; i++) check_tmpl(w, tm[i]);
}

static void check_tval(walker *w, const mae_tval *v) {
    if (!v) return;
    if (v->kind == MAE_TV_TEMPLATE) check_tmpl(w, v->tmpl);
    if (v->kind == MAE_TV_ARRAY || v->kind == MAE_TV_OBJECT)
        for (size_t i = 0; i < v->n; i++) check_tval(w, &v->items[i]);
}

static void walk(walker *w, const mae_step *s);

static void walk_list(walker *w, const mae_step *steps, size_t n) {
    for (size_t i = 0; i < n; i++) walk(w, &steps[i]);
}

static void walk(walker *w, const mae_step *s) {
    check_tmpl(w, s->when);
    switch (s->kind) {
    case MAE_STEP_CALL:
        check_target(w, s->target);
        check_tval(w, s->input);
        for (size_t i = 0; i < s->n_headers; i++) check_tmpl(w, s->headers[i].value);
        push(w, s->output, false);
        push(w, s->id, true);
        if (s->compensate) {
            check_target(w, s->compensate->target);
            check_tval(w, s->compensate->input);
        }
        return;
    case MAE_STEP_SEQUENCE:
        walk_list(w, s->children, s->n_children);
        break;
    case MAE_STEP_PARALLEL: {
        size_t mark = w->n;
        vis *made = NULL;
        size_t n_made = 0;
        for (size_t i = 0; i < s->n_children && !w->ld->oom; i++) {
            walk(w, &s->children[i]);
            size_t k = w->n - mark;
            vis *p = realloc(made, (n_made + k + 1) * sizeof *p);
            if (!p) {
                w->ld->oom = true;
                break;
            }
            made = p;
            if (k) memcpy(made + n_made, w->v + mark, k * sizeof *made);
            n_made += k;
            w->n = mark;
        }
        for (size_t i = 0; i < n_made; i++) push(w, made[i].name, made[i].is_id);
        free(made);
        break;
    }
    case MAE_STEP_FOREACH: {
        check_tmpl(w, s->foreach);
        size_t mark = w->n;
        /* The item's variables: the element, its index, and the body's outputs. */
        push(w, s->as, false);
        push(w, s->as_index, false);
        walk_list(w, s->children, s->n_children);
        w->n = mark;
        push(w, s->output, false);
        break;
    }
    }
    push(w, s->id, true);
}

void mae__validate_refs(mae_loader *ld) {
    if (ld->n_tsrc) qsort(ld->tsrc, ld->n_tsrc, sizeof *ld->tsrc, src_cmp);
    walker w = {.ld = ld};
    walk_list(&w, ld->wf->steps, ld->wf->n_steps);
    if (!ld->oom) check_tval(&w, ld->wf->output);
    free(w.v);
}
