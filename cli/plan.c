/* The input keys a workflow reads and its dry run (see plan.h). */
#include "cli/plan.h"

#include <stdlib.h>
#include <string.h>

#include "grpc_h2/grpc_typed.h"
#include "maestro/maestro.h"
#include "transports/http_util.h"
#include "transports/target.h"
#include "workflow/json_out.h"
#include "workflow/model.h"
#include "workflow/template.h"

/* ---- every template of a workflow, with the step it belongs to ---- */

typedef void (*tmpl_cb)(void *ud, const mae_step *step, const mae_tmpl *t);

typedef struct walker {
    tmpl_cb cb;
    void *ud;
    const mae_step *step;
} walker;

static void on_tval(void *ud, const mae_tval *node) {
    walker *w = ud;
    w->cb(w->ud, w->step, node->tmpl);
}

static void each_target(walker *w, const mae_target *t) {
    if (!t || !t->type->templates) return;
    const mae_tmpl *ts[32];
    size_t offs[32];
    size_t n = t->type->templates(t, ts, offs, 32);
    for (size_t i = 0; i < n && i < 32; i++) w->cb(w->ud, w->step, ts[i]);
}

static void each_step(walker *w, const mae_step *steps, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const mae_step *s = &steps[i];
        w->step = s;
        if (s->when) w->cb(w->ud, s, s->when);
        if (s->foreach) w->cb(w->ud, s, s->foreach);
        mae__tval_each_tmpl(s->input, on_tval, w);
        each_target(w, s->target);
        if (s->compensate) {
            mae__tval_each_tmpl(s->compensate->input, on_tval, w);
            each_target(w, s->compensate->target);
        }
        each_step(w, s->children, s->n_children);
    }
}

/* step is NULL for service headers and the workflow's output. */
static void each_tmpl(const mae_workflow *wf, tmpl_cb cb, void *ud) {
    walker w = {cb, ud, NULL};
    each_step(&w, wf->steps, wf->n_steps);
    w.step = NULL;
    for (size_t i = 0; i < wf->n_services; i++)
        for (size_t h = 0; h < wf->services[i].n_headers; h++) cb(ud, NULL, wf->services[i].headers[h].value);
    mae__tval_each_tmpl(wf->output, on_tval, &w);
}

/* ---- input keys read ---- */

#define MAX_MISSING 32
#define MAX_READERS 6

typedef struct missing {
    const char *key;
    const char *readers[MAX_READERS];
    int n_readers;
    int more;
} missing;

typedef struct ictx {
    const cJSON *input;
    const mae_step *step;
    missing m[MAX_MISSING];
    int n;
} ictx;

static void add_reader(missing *m, const char *who) {
    for (int i = 0; i < m->n_readers; i++)
        if (strcmp(m->readers[i], who) == 0) return;
    if (m->n_readers < MAX_READERS) m->readers[m->n_readers++] = who;
    else m->more = 1;
}

static void on_input_ref(void *ud, const char *root, const char *sub, bool has_default, size_t off) {
    ictx *c = ud;
    (void)off;
    if (has_default || !sub || strcmp(root, "input") != 0) return;
    if (cJSON_GetObjectItemCaseSensitive(c->input, sub)) return;
    const char *who = c->step ? (c->step->id ? c->step->id : "a group") : "the workflow";
    for (int i = 0; i < c->n; i++) {
        if (strcmp(c->m[i].key, sub) == 0) {
            add_reader(&c->m[i], who);
            return;
        }
    }
    if (c->n == MAX_MISSING) return;
    c->m[c->n].key = sub;
    add_reader(&c->m[c->n], who);
    c->n++;
}

static void input_tmpl(void *ud, const mae_step *step, const mae_tmpl *t) {
    ictx *c = ud;
    c->step = step;
    mae__tmpl_refs(t, on_input_ref, c);
}

int mae_cli_input_reads_check(const mae_workflow *wf, const cJSON *input, const char *cmd) {
    ictx *c = calloc(1, sizeof *c);
    if (!c) return 2;
    c->input = input;
    each_tmpl(wf, input_tmpl, c);
    if (c->n == 0) {
        free(c);
        return 0;
    }
    fprintf(stderr, "maestro %s: the input lacks ", cmd);
    for (int i = 0; i < c->n; i++) {
        const missing *m = &c->m[i];
        fprintf(stderr, "%s'%s' (read by ", i == 0 ? "" : i + 1 == c->n ? " and " : ", ", m->key);
        for (int r = 0; r < m->n_readers; r++) fprintf(stderr, "%s%s", r ? ", " : "", m->readers[r]);
        fprintf(stderr, "%s)", m->more ? ", ..." : "");
    }
    fprintf(stderr, "; nothing was called\n");
    free(c);
    return 2;
}

/* ---- dry run ---- */

#define MAX_ITEMS_SHOWN 1000

typedef struct dctx {
    cJSON *vars;        /* input, workflow, steps and one placeholder per output variable */
    const mae_workflow *wf;
    FILE *out;
    int rc;
} dctx;

/* Placeholders: an output variable read as .name.field becomes {"field": "<name.field>"}; one
 * read whole becomes the string "<output of STEP>". */
typedef struct pctx {
    cJSON *vars;
    const mae_workflow *wf;
} pctx;

static const mae_step *step_with_output(const mae_step *steps, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++) {
        if (steps[i].output && strcmp(steps[i].output, name) == 0) return &steps[i];
        const mae_step *s = step_with_output(steps[i].children, steps[i].n_children, name);
        if (s) return s;
    }
    return NULL;
}

static void on_output_ref(void *ud, const char *root, const char *sub, bool has_default, size_t off) {
    pctx *c = ud;
    (void)has_default;
    (void)off;
    char ph[300];
    if (strcmp(root, "steps") == 0 && sub) {
        cJSON *steps = cJSON_GetObjectItemCaseSensitive(c->vars, "steps");
        if (cJSON_GetObjectItemCaseSensitive(steps, sub)) return;
        cJSON *s = cJSON_AddObjectToObject(steps, sub);
        snprintf(ph, sizeof ph, "<steps.%s.output>", sub);
        cJSON_AddStringToObject(s, "status", "succeeded");
        cJSON_AddStringToObject(s, "output", ph);
        return;
    }
    const mae_step *st = step_with_output(c->wf->steps, c->wf->n_steps, root);
    if (!st) return;
    cJSON *v = cJSON_GetObjectItemCaseSensitive(c->vars, root);
    if (!sub) {
        if (!v) {
            snprintf(ph, sizeof ph, "<output of %s>", st->id ? st->id : root);
            cJSON_AddStringToObject(c->vars, root, ph);
        }
        return;
    }
    if (v && !cJSON_IsObject(v)) return;
    if (!v) v = cJSON_AddObjectToObject(c->vars, root);
    if (!v || cJSON_GetObjectItemCaseSensitive(v, sub)) return;
    snprintf(ph, sizeof ph, "<%s.%s>", root, sub);
    cJSON_AddStringToObject(v, sub, ph);
}

static void output_tmpl(void *ud, const mae_step *step, const mae_tmpl *t) {
    (void)step;
    mae__tmpl_refs(t, on_output_ref, ud);
}

/* A template's value, or a placeholder when it reads something only a real run knows. */
static cJSON *eval_or_placeholder(const mae_tmpl *t, const mae_scope *scope) {
    cJSON *v = NULL;
    mae_eval_err err;
    if (mae__tmpl_eval(t, scope, &v, &err) == 0) return v;
    char ph[600];
    snprintf(ph, sizeof ph, "<%s>", mae__tmpl_source(t));
    return cJSON_CreateString(ph);
}

static cJSON *render(const mae_tval *v, const mae_scope *scope) {
    if (!v) return cJSON_CreateNull();
    switch (v->kind) {
    case MAE_TV_NULL: return cJSON_CreateNull();
    case MAE_TV_BOOL: return cJSON_CreateBool(v->b);
    case MAE_TV_NUMBER: return cJSON_CreateNumber(v->num);
    case MAE_TV_STRING: return cJSON_CreateString(v->str ? v->str : "");
    case MAE_TV_TEMPLATE: return eval_or_placeholder(v->tmpl, scope);
    case MAE_TV_ARRAY:
    case MAE_TV_OBJECT: {
        cJSON *r = v->kind == MAE_TV_ARRAY ? cJSON_CreateArray() : cJSON_CreateObject();
        for (size_t i = 0; r && i < v->n; i++) {
            cJSON *c = render(&v->items[i], scope);
            if (v->kind == MAE_TV_ARRAY) cJSON_AddItemToArray(r, c);
            else cJSON_AddItemToObject(r, v->items[i].key ? v->items[i].key : "", c);
        }
        return r;
    }
    }
    return cJSON_CreateNull();
}

static void emit(dctx *c, cJSON *line) {
    char *txt = NULL;
    size_t len = 0;
    if (mae__json_print(line, (size_t)1 << 30, &txt, &len) == 0) {
        fwrite(txt, 1, len, c->out);
        fputc('\n', c->out);
    }
    free(txt);
    cJSON_Delete(line);
}

/* The request fields of a call to svc with target and input. */
static void add_request(cJSON *line, const mae_service *svc, const mae_target *target, const mae_tval *input,
                        const mae_scope *scope) {
    cJSON_AddStringToObject(line, "service", svc ? svc->name : "?");
    cJSON_AddStringToObject(line, "type", svc ? svc->type->name : "?");
    cJSON_AddStringToObject(line, "endpoint", svc && svc->endpoint ? svc->endpoint : "");
    char *desc = NULL;
    mae_eval_err err;
    int query = 0;
    const char *m = target ? target->text : "";
    if (target && mae_target_describe(target, scope, &desc, &err) == 0 && desc) m = desc;
    const char *sp = strchr(m, ' ');
    if (svc && strcmp(svc->type->name, "http") == 0 && sp) {
        char verb[16];
        snprintf(verb, sizeof verb, "%.*s", (int)(sp - m < 15 ? sp - m : 15), m);
        cJSON_AddStringToObject(line, "method", verb);
        const char *ep = svc->endpoint ? svc->endpoint : "";
        size_t el = strlen(ep);
        while (el && ep[el - 1] == '/') el--;
        /* GET, DELETE and HEAD send the input as query parameters, as the transport does */
        query = !strcmp(verb, "GET") || !strcmp(verb, "DELETE") || !strcmp(verb, "HEAD");
        char *q = NULL;
        cJSON *in = query && input ? render(input, scope) : NULL;
        if (query && mae__http_query_build(in, &q) != 0) q = NULL;
        cJSON_Delete(in);
        const char *sep = q && *q ? (strchr(sp + 1, '?') ? "&" : "?") : "";
        char *url = NULL;
        if (asprintf(&url, "%.*s%s%s%s", (int)el, ep, sp + 1, sep, q ? q : "") >= 0) {
            cJSON_AddStringToObject(line, "url", url);
            free(url);
        }
        free(q);
    } else {
        cJSON_AddStringToObject(line, "method", m);
        /* a typed gRPC method: the :path it resolves to (docs/typed-grpc.md) */
        char terr[512];
        const mae__pb_method *pm = svc && svc->typed ? mae__typed_method(svc->typed, m, terr, sizeof terr) : NULL;
        if (pm) cJSON_AddStringToObject(line, "path", pm->path);
        else if (svc && svc->reflection) cJSON_AddStringToObject(line, "path", "(resolved by reflection when the run starts)");
    }
    free(desc);
    cJSON *h = cJSON_AddObjectToObject(line, "headers");
    for (size_t i = 0; svc && h && i < svc->n_headers; i++)
        cJSON_AddItemToObject(h, svc->headers[i].name, eval_or_placeholder(svc->headers[i].value, scope));
    cJSON_AddItemToObject(line, "body", input && !query ? render(input, scope) : cJSON_CreateNull());
}

static cJSON *new_line(const char *key, const char *step, int item) {
    cJSON *l = cJSON_CreateObject();
    cJSON_AddStringToObject(l, key, step ? step : "");
    if (item >= 0) cJSON_AddNumberToObject(l, "item", item);
    return l;
}

static void dry_steps(dctx *c, const mae_step *steps, size_t n, const mae_scope *scope, int item);

static void dry_step(dctx *c, const mae_step *s, const mae_scope *scope, int item) {
    const char *when = NULL;
    if (s->when) {
        when = mae__tmpl_source(s->when);
        cJSON *v = NULL;
        mae_eval_err err;
        if (mae__tmpl_eval(s->when, scope, &v, &err) == 0) {
            int go = mae__json_truthy(v);
            cJSON_Delete(v);
            if (!go) {
                cJSON *l = new_line("step", s->id, item);
                cJSON_AddBoolToObject(l, "skipped", 1);
                cJSON_AddStringToObject(l, "when", when);
                emit(c, l);
                return;
            }
        } else {
            /* depends on what earlier steps return: shown, and the step rendered anyway */
            when = NULL;
            cJSON *l = new_line("step", s->id, item);
            cJSON_AddStringToObject(l, "when", mae__tmpl_source(s->when));
            cJSON_AddStringToObject(l, "when_value", "unknown before the run");
            emit(c, l);
        }
    }
    switch (s->kind) {
    case MAE_STEP_CALL: {
        cJSON *l = new_line("step", s->id, item);
        if (when) cJSON_AddStringToObject(l, "when", when);
        add_request(l, s->service, s->target, s->input, scope);
        emit(c, l);
        if (s->compensate) {
            cJSON *k = new_line("compensation_of", s->id, item);
            add_request(k, s->compensate->service ? s->compensate->service : s->service, s->compensate->target,
                        s->compensate->input, scope);
            emit(c, k);
        }
        return;
    }
    case MAE_STEP_PARALLEL:
    case MAE_STEP_SEQUENCE: dry_steps(c, s->children, s->n_children, scope, item); return;
    case MAE_STEP_FOREACH: {
        cJSON *items = NULL;
        mae_eval_err err;
        char idx[300];
        snprintf(idx, sizeof idx, "%s_index", s->as ? s->as : "item");
        if (mae__tmpl_eval(s->foreach, scope, &items, &err) != 0 || !cJSON_IsArray(items)) {
            /* the array comes from an earlier step: the body once, for an unknown item */
            cJSON_Delete(items);
            cJSON *iv = cJSON_CreateObject();
            char ph[300];
            snprintf(ph, sizeof ph, "<an item of %s>", mae__tmpl_source(s->foreach));
            cJSON_AddStringToObject(iv, s->as ? s->as : "item", ph);
            cJSON_AddStringToObject(iv, idx, "<index>");
            mae_scope in = {iv, scope};
            dry_step(c, s->body, &in, item);
            cJSON_Delete(iv);
            return;
        }
        int i = 0;
        for (cJSON *it = items->child; it; it = it->next, i++) {
            if (i == MAX_ITEMS_SHOWN) {
                cJSON *l = new_line("step", s->id, -1);
                cJSON_AddNumberToObject(l, "items_not_shown", cJSON_GetArraySize(items) - i);
                emit(c, l);
                break;
            }
            cJSON *iv = cJSON_CreateObject();
            cJSON_AddItemToObject(iv, s->as ? s->as : "item", cJSON_Duplicate(it, 1));
            cJSON_AddNumberToObject(iv, idx, i);
            mae_scope in = {iv, scope};
            dry_step(c, s->body, &in, i);
            cJSON_Delete(iv);
        }
        cJSON_Delete(items);
        return;
    }
    }
}

static void dry_steps(dctx *c, const mae_step *steps, size_t n, const mae_scope *scope, int item) {
    for (size_t i = 0; i < n; i++) dry_step(c, &steps[i], scope, item);
}

int mae_cli_dry_run(const mae_workflow *wf, const cJSON *input, FILE *out) {
    dctx c = {cJSON_CreateObject(), wf, out, 0};
    if (!c.vars) return 1;
    cJSON_AddItemToObject(c.vars, "input", cJSON_Duplicate(input, 1));
    cJSON *w = cJSON_AddObjectToObject(c.vars, "workflow");
    cJSON_AddStringToObject(w, "id", "<run id>");
    cJSON_AddStringToObject(w, "name", wf->name ? wf->name : "");
    cJSON_AddObjectToObject(c.vars, "steps");
    pctx p = {c.vars, wf};
    each_tmpl(wf, output_tmpl, &p);
    mae_scope scope = {c.vars, NULL};
    dry_steps(&c, wf->steps, wf->n_steps, &scope, -1);
    cJSON_Delete(c.vars);
    return c.rc;
}
