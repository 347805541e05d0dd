/* Execution of the step tree: sequences, parallel blocks, foreach (with its concurrency limit
 * and item scopes), `when`, and the `.steps.ID` / output variables. Calls are in call.c.
 *
 * A pump launches children until it must wait; a child finishing synchronously is absorbed in
 * the same loop (no recursion through long runs of skipped steps). When the run stops being
 * RUNNING, pumps launch nothing more and a node completes once its running children settle. */
#include <stdlib.h>
#include <string.h>

#include "loop/engine_int.h"
#include "workflow/json_in.h"

#define G(n) ((mae_group *)(n))
#define F(n) ((mae_fenode *)(n))

static void set_var(cJSON *obj, const char *name, cJSON *val) {
    if (!val) val = cJSON_CreateNull();
    if (!val) return;
    if (cJSON_GetObjectItemCaseSensitive(obj, name)) cJSON_ReplaceItemInObjectCaseSensitive(obj, name, val);
    else cJSON_AddItemToObject(obj, name, val);
}

cJSON *mae__error_json(mae_class cls, int status, const char *msg) {
    cJSON *e = cJSON_CreateObject();
    if (!e) return NULL;
    char cn[64];
    mae__class_format(cls, status, cn, sizeof cn);
    cJSON_AddStringToObject(e, "class", cn);
    cJSON_AddStringToObject(e, "message", msg ? msg : "");
    if (status) cJSON_AddNumberToObject(e, "status", status);
    else cJSON_AddNullToObject(e, "status");
    return e;
}

/* cJSON_ReplaceItemViaPointer does not name the replacement: it takes over the old key. */
static void replace_member(cJSON *obj, cJSON *old, cJSON *with) {
    /* a value copied out of an object (a journal record's output) comes with its own key */
    if (!(with->type & cJSON_StringIsConst)) cJSON_free(with->string);
    with->string = old->string;
    with->type = (with->type & ~cJSON_StringIsConst) | (old->type & cJSON_StringIsConst);
    old->string = NULL;
    cJSON_ReplaceItemViaPointer(obj, old, with);
}

/* A step that runs again (the body of a foreach, once per item) finds its entry in place: the
 * three members are updated instead of building a new object each time (seven allocations per
 * item, issue #15). Returns false when the entry is not in that shape (nothing was changed). */
static bool update_step(cJSON *s, const char *status, cJSON **output, mae_class cls, int status_code,
                        const char *msg) {
    cJSON *st = s->child, *out = st ? st->next : NULL, *err = out ? out->next : NULL;
    if (!err || err->next || !cJSON_IsString(st) || strcmp(st->string, "status") != 0 ||
        strcmp(out->string, "output") != 0 || strcmp(err->string, "error") != 0 ||
        (cls == MAE_CLASS_NONE && !cJSON_IsNull(err)))
        return false;
    cJSON *e = NULL, *o = *output ? *output : cJSON_CreateNull();
    if (!o || (cls != MAE_CLASS_NONE && !(e = mae__error_json(cls, status_code, msg)))) {
        if (o != *output) cJSON_Delete(o);
        return false;
    }
    if (strcmp(st->valuestring, status) != 0 && !cJSON_SetValuestring(st, status)) {
        cJSON_Delete(e);
        if (o != *output) cJSON_Delete(o);
        return false;
    }
    *output = NULL;
    replace_member(s, out, o);
    if (e) replace_member(s, err, e);
    return true;
}

/* .steps.ID = {status, output, error}; output is taken (NULL = null). */
void mae__set_step(mae_run *run, const char *id, const char *status, cJSON *output,
                   mae_class cls, int status_code, const char *msg) {
    if (!id) {
        cJSON_Delete(output);
        return;
    }
    cJSON *s = cJSON_GetObjectItemCaseSensitive(run->steps, id);
    if (s && cJSON_IsObject(s) && !(s->type & cJSON_IsReference) && update_step(s, status, &output, cls, status_code, msg))
        return;
    s = cJSON_CreateObject();
    if (!s) {
        cJSON_Delete(output);
        return;
    }
    cJSON_AddStringToObject(s, "status", status);
    cJSON_AddItemToObject(s, "output", output ? output : cJSON_CreateNull());
    if (cls != MAE_CLASS_NONE) cJSON_AddItemToObject(s, "error", mae__error_json(cls, status_code, msg));
    else cJSON_AddNullToObject(s, "error");
    set_var(run->steps, id, s);
}

/* "<run>:<step>", and inside foreach items "<run>:<step>[i]" ("[i][j]" when nested, outermost
 * first): every item is its own request, so a service that deduplicates on the key must not
 * take item 2 for a repeat of item 1. With k NULL, returns the size it needs (with its NUL);
 * else writes it to k. By hand: once per call node, and snprintf was ~850 instructions of it. */
static size_t idem_key(const mae_run *run, const mae_node *parent, const char *step_id, char *k) {
    int idx[32];
    size_t n = 0;
    for (const mae_node *p = parent; p && n < 32; p = p->parent)
        if (p->kind == NODE_ITEM && p->index >= 0) idx[n++] = p->index;
    size_t rl = strlen(run->id), sl = strlen(step_id), w = rl + 1 + sl;
    if (!k) return w + 1 + n * 12;
    memcpy(k, run->id, rl);
    k[rl] = ':';
    memcpy(k + rl + 1, step_id, sl);
    while (n > 0) {
        char d[12];
        size_t dl = 0;
        unsigned v = (unsigned)idx[--n];
        do d[dl++] = (char)('0' + v % 10); while ((v /= 10) != 0);
        k[w++] = '[';
        while (dl > 0) k[w++] = d[--dl];
        k[w++] = ']';
    }
    k[w] = 0;
    return w + 1;
}

mae_node *mae__node_new(mae_run *run, mae_node *parent, const mae_step *step, mae_vars *vars, int index) {
    mae_node *n;
    if (step && step->kind == MAE_STEP_CALL && !(parent && parent->kind == NODE_FOREACH)) {
        /* the idempotency key lives in the node's allocation (no malloc of its own) */
        mae_callnode *c = calloc(1, sizeof *c + idem_key(run, parent, step->id, NULL));
        if (!c) return NULL;
        if (uv_timer_init(run->eng->loop, &c->timer) != 0) {
            free(c);
            return NULL;
        }
        idem_key(run, parent, step->id, c->idem_key);
        c->timer.data = c;
        c->service = step->service;
        c->target = step->target;
        c->in_tmpl = step->input;
        c->step_hdrs = step->headers;
        c->n_step_hdrs = step->n_headers;
        c->policy = &step->retry;
        c->timeout_ms = step->timeout_ms;
        c->step_id = step->id;
        c->retry_after_ms = -1;
        n = &c->base;
        n->kind = NODE_CALL;
    } else {
        bool fe = !(parent && parent->kind == NODE_FOREACH) && step && step->kind != MAE_STEP_SEQUENCE &&
                  step->kind != MAE_STEP_PARALLEL;
        n = calloc(1, fe ? sizeof(mae_fenode) : sizeof(mae_group));
        if (!n) return NULL;
        mae_group *g = G(n);
        if (parent && parent->kind == NODE_FOREACH) {
            n->kind = NODE_ITEM;            /* step is the foreach; its one kid is the body */
            g->kids = step->body;
            g->n_kids = 1;
        } else if (!step || step->kind == MAE_STEP_SEQUENCE) {
            n->kind = NODE_SEQ;
            if (step) {
                g->kids = step->children;
                g->n_kids = step->n_children;
            }
        } else if (step->kind == MAE_STEP_PARALLEL) {
            n->kind = NODE_PAR;
            g->kids = step->children;
            g->n_kids = step->n_children;
        } else {
            n->kind = NODE_FOREACH;
        }
    }
    n->step = step;
    n->run = run;
    n->parent = parent;
    n->vars = vars;
    mae__vars_ref(vars);
    n->index = index;
    return n;
}

void mae__node_free(mae_node *n) {
    if (!n) return;
    if (n->kind == NODE_CALL) {
        mae__call_free((mae_callnode *)n);
        return;
    }
    mae__vars_unref(n->vars);
    cJSON_Delete(n->result);
    if (n->kind == NODE_FOREACH) {
        mae_fenode *f = F(n);
        cJSON_Delete(f->items);
        if (f->results) {
            for (size_t i = 0; i < f->n_items; i++) cJSON_Delete(f->results[i]);
            free(f->results);
        }
        free(f->kept.p);
        free(f->kept_at);
    }
    free(n);
}

/* Item i's result (taken). Results wait for the end of the foreach as JSON text in one buffer,
 * not as cJSON trees: a 100k-item foreach kept 100k small trees (about 340 bytes in six
 * allocations each) scattered through the heap every later item allocates in, and each item
 * cost more the longer the run (issue #17). A value the text would not carry exactly (NaN, bytes
 * that are not UTF-8) stays a tree, as does any when the buffer cannot grow. */
static void keep_result(mae_fenode *p, size_t i, cJSON *v) {
    if (!v) return;
    mae_jtext *t = &p->kept;
    size_t at = t->len;
    t->lossy = false;
    mae__jtext_value(t, v);
    if (t->rc || t->lossy) {
        t->len = at;
        t->rc = 0;
        /* a call body's result refers to .steps.ID.output, which the next item replaces */
        if (v->type & cJSON_IsReference) {
            cJSON *own = cJSON_Duplicate(v, 1);
            cJSON_Delete(v);
            v = own;
        }
        p->results[i] = v;
        return;
    }
    p->kept_at[i] = (mae_kept){at, t->len - at};
    cJSON_Delete(v);
}

/* A child is over: take what the parent needs from it, then free it. */
static void absorb(mae_node *p, mae_node *child) {
    if (child->failed) p->failed = true;
    if (p->kind == NODE_FOREACH && child->index >= 0 && (size_t)child->index < F(p)->n_items) {
        keep_result(F(p), (size_t)child->index, child->result);
        child->result = NULL;
    } else if (p->kind == NODE_ITEM && child->kind == NODE_CALL) {
        p->result = child->result;   /* a call body: the item's result is the call's output */
        child->result = NULL;
    }
    mae__node_free(child);
}

/* The run is no longer RUNNING and children were left unstarted: this node did not complete. */
/* While a resumed run replays its journal, everything the old run had started is launched even
 * once the run fails: its results (and their compensations) are in the journal. */
static bool aborted(mae_node *n) { return !mae__run_going(n->run) && !n->run->replaying; }

static void item_complete(mae_node *n) {
    if (n->result || G(n)->kids[0].kind == MAE_STEP_CALL) return;
    /* a group body: the item's result is an object of its variables */
    cJSON *o = cJSON_Duplicate(n->vars->obj, 1);
    if (o) {
        cJSON_DeleteItemFromObjectCaseSensitive(o, n->step->as);
        cJSON_DeleteItemFromObjectCaseSensitive(o, n->step->as_index);
    }
    n->result = o;
}

static void foreach_complete(mae_node *n) {
    const mae_step *st = n->step;
    if (n->failed || G(n)->next < F(n)->n_items) {
        n->failed = true;
        return;
    }
    cJSON *arr = cJSON_CreateArray();
    bool oom = !arr;
    for (size_t i = 0; arr && i < F(n)->n_items; i++) {
        cJSON *v = F(n)->results[i];
        F(n)->results[i] = NULL;
        if (!v && F(n)->kept_at[i].len) {
            v = mae__json_read_back(F(n)->kept.p + F(n)->kept_at[i].off, F(n)->kept_at[i].len);
            if (!v) oom = true;   /* it was printed from a tree: only memory can fail it */
        }
        cJSON_AddItemToArray(arr, v ? v : cJSON_CreateNull());
    }
    free(F(n)->kept.p);
    F(n)->kept = (mae_jtext){0};
    if (oom) {
        cJSON_Delete(arr);
        mae__run_fail(n->run, st->id, MAE_CLASS_INTERNAL, 0, 0, "out of memory");
        n->failed = true;
        return;
    }
    if (n->parent && n->parent->kind == NODE_ITEM) n->result = cJSON_Duplicate(arr, 1);
    /* Outside any item the step runs once, so .steps.ID (in the same tree as the run's
     * variables) is written once and holds the array for the whole run: the output variable
     * can then be a reference to its items rather than a second copy of every result (a
     * 100k-item foreach kept both: tens of MB). Replacing the variable frees only the
     * reference. */
    bool share = st->output && st->id && n->vars == n->run->vars;
    if (st->output && !share) mae__vars_set(n->vars, st->output, cJSON_Duplicate(arr, 1));
    mae__set_step(n->run, st->id, "succeeded", arr, MAE_CLASS_NONE, 0, NULL);
    if (share) {
        cJSON *s = cJSON_GetObjectItemCaseSensitive(n->run->steps, st->id);
        cJSON *held = s ? cJSON_GetObjectItemCaseSensitive(s, "output") : NULL;
        /* Out of memory .steps.ID may not hold it: the variable is null then, never dangling. */
        mae__vars_set(n->vars, st->output, arr && held == arr ? cJSON_CreateArrayReference(arr->child) : NULL);
    }
}

static bool pump(mae_node *n);

/* Launches one child; returns false when it is pending. */
static bool launch(mae_node *n, const mae_step *kid, mae_vars *vars, int index) {
    mae_node *c = mae__node_new(n->run, n, kid, vars, index);
    if (!c) {
        mae__run_fail(n->run, kid->id, MAE_CLASS_INTERNAL, 0, 0, "out of memory");
        n->failed = true;
        return true;
    }
    if (mae__node_start(c)) {
        absorb(n, c);
        return true;
    }
    G(n)->pending++;
    return false;
}

/* A group with an id (`parallel` or `sequence`) is visible as .steps.ID.status too. */
static void group_done(mae_node *n) {
    if (n->step && n->step->id && (n->kind == NODE_SEQ || n->kind == NODE_PAR))
        mae__set_step(n->run, n->step->id, n->failed ? "failed" : "succeeded", NULL, MAE_CLASS_NONE, 0, NULL);
    if (n->kind == NODE_SEQ || n->kind == NODE_PAR) mae__ev_group_end(n);
}

static bool seq_pump(mae_node *n) {
    while (G(n)->pending == 0 && G(n)->next < G(n)->n_kids) {
        if (n->failed || aborted(n)) {
            n->failed = true;
            break;
        }
        const mae_step *kid = &G(n)->kids[G(n)->next++];
        launch(n, kid, n->vars, n->index);
    }
    if (G(n)->pending) return false;
    if (n->kind == NODE_ITEM && !n->failed) item_complete(n);
    group_done(n);
    return true;
}

static bool par_pump(mae_node *n) {
    while (G(n)->next < G(n)->n_kids && !aborted(n)) launch(n, &G(n)->kids[G(n)->next++], n->vars, n->index);
    if (G(n)->pending) return false;
    if (G(n)->next < G(n)->n_kids) n->failed = true;
    group_done(n);
    return true;
}

static bool foreach_pump(mae_node *n) {
    const mae_step *st = n->step;
    size_t lim = F(n)->concurrency > 0 ? (size_t)F(n)->concurrency : F(n)->n_items;
    while (G(n)->next < F(n)->n_items && G(n)->pending < lim && (!n->failed || n->run->replaying) && !aborted(n)) {
        size_t i = G(n)->next++;
        /* The array is the foreach's own copy, so each item moves into its scope instead of
         * being copied: what is left shrinks as the run goes (issue #17: 100k items held the
         * input twice to the end). Items start in order, so it is always the first. */
        mae_vars *iv = mae__vars_new_item(n->vars, st->as, st->as_index,
                                          cJSON_DetachItemViaPointer(F(n)->items, F(n)->items->child), (int)i);
        if (!iv) {
            mae__run_fail(n->run, st->id, MAE_CLASS_INTERNAL, 0, 0, "out of memory");
            n->failed = true;
            break;
        }
        launch(n, st, iv, (int)i);
        mae__vars_unref(iv);
    }
    if (G(n)->pending) return false;
    foreach_complete(n);
    mae__ev_group_end(n);
    return true;
}

static bool pump(mae_node *n) {
    switch (n->kind) {
    case NODE_SEQ:
    case NODE_ITEM: return seq_pump(n);
    case NODE_PAR: return par_pump(n);
    case NODE_FOREACH: return foreach_pump(n);
    case NODE_CALL: break;
    }
    return true;
}

/* A step failed before any call (`when` or `foreach` would not evaluate): class template, or
 * internal when evaluating ran out of memory (eval_rc MAE_ENOMEM). */
static bool fail_early(mae_node *n, int eval_rc, const char *msg) {
    const mae_step *st = n->step;
    mae_class cls = eval_rc == MAE_ENOMEM ? MAE_CLASS_INTERNAL : MAE_CLASS_TEMPLATE;
    mae__ev_step_early_end(n, "failed", cls, msg);
    mae__report_step(n->run, st->id, n->index, "failed", 0, 0, cls, 0, msg);
    mae__set_step(n->run, st->id, "failed", NULL, cls, 0, msg);
    if (st->continue_on_error) {
        char cn[32];
        mae__class_format(cls, 0, cn, sizeof cn);
        if (st->output) mae__vars_set(n->vars, st->output, NULL);
        mae__log(n->run, MAE_LOG_WARN, st->id, 0, -1, cn, "failed (continue_on_error): %s", msg);
        return true;
    }
    n->failed = true;
    mae__run_fail(n->run, st->id, cls, 0, 0, msg);
    return true;
}

static bool foreach_begin(mae_node *n) {
    const mae_step *st = n->step;
    cJSON *v = NULL;
    mae_eval_err err;
    int rc = mae__tmpl_eval(st->foreach, &n->vars->scope, &v, &err);
    if (rc != 0) return fail_early(n, rc, err.msg);
    if (!cJSON_IsArray(v)) {
        cJSON_Delete(v);
        char msg[600];
        snprintf(msg, sizeof msg, "%s: foreach needs an array", mae__tmpl_source(st->foreach));
        return fail_early(n, MAE_ETEMPLATE, msg);
    }
    /* The array may come from a service: past max_items nothing starts (a reply must not be
     * able to fan out a run without bound). */
    size_t n_items = (size_t)cJSON_GetArraySize(v);
    size_t max = st->max_items > 0 ? (size_t)st->max_items : MAE_FOREACH_MAX_ITEMS;
    if (n_items > max) {
        cJSON_Delete(v);
        char msg[700];
        snprintf(msg, sizeof msg, "%s: foreach has %zu items, more than max_items (%zu): no item started",
                 mae__tmpl_source(st->foreach), n_items, max);
        return fail_early(n, MAE_ETEMPLATE, msg);
    }
    F(n)->items = v;
    F(n)->n_items = n_items;
    F(n)->results = calloc(F(n)->n_items ? F(n)->n_items : 1, sizeof *F(n)->results);
    F(n)->kept_at = calloc(F(n)->n_items ? F(n)->n_items : 1, sizeof *F(n)->kept_at);
    if (!F(n)->results || !F(n)->kept_at) return fail_early(n, MAE_ENOMEM, "out of memory");
    F(n)->kept.max = MAE_JSON_UNBOUNDED;
    F(n)->concurrency = st->concurrency > 0 ? st->concurrency : MAE_FOREACH_CONCURRENCY;
    mae__log(n->run, MAE_LOG_DEBUG, st->id, 0, -1, NULL, "foreach over %zu items", F(n)->n_items);
    return foreach_pump(n);
}

bool mae__node_start(mae_node *n) {
    const mae_step *st = n->step;
    mae__ev_step_start(n);
    if (n->kind != NODE_ITEM && st && st->when) {
        cJSON *v = NULL;
        mae_eval_err err;
        int rc = mae__tmpl_eval(st->when, &n->vars->scope, &v, &err);
        if (rc != 0) return fail_early(n, rc, err.msg);
        bool go = mae__json_truthy(v);
        cJSON_Delete(v);
        if (!go) {
            if (st->output) mae__vars_set(n->vars, st->output, NULL);
            if (st->id) {
                mae__set_step(n->run, st->id, "skipped", NULL, MAE_CLASS_NONE, 0, NULL);
                mae__report_step(n->run, st->id, n->index, "skipped", 0, 0, MAE_CLASS_NONE, 0, NULL);
            }
            mae__log(n->run, MAE_LOG_INFO, st->id, 0, -1, NULL, "skipped (when is false)");
            mae__ev_step_early_end(n, "skipped", MAE_CLASS_NONE, NULL);
            return true;
        }
    }
    switch (n->kind) {
    case NODE_CALL: return mae__call_start((mae_callnode *)n);
    case NODE_FOREACH: return foreach_begin(n);
    default: return pump(n);
    }
}

void mae__node_finish(mae_node *n) {
    mae_node *p = n->parent;
    if (!p) {
        if (n->kind == NODE_CALL && ((mae_callnode *)n)->is_comp) mae__run_comp_done(n->run, (mae_callnode *)n);
        else mae__run_root_done(n->run, n);
        return;
    }
    G(p)->pending--;
    absorb(p, n);
    if (pump(p)) mae__node_finish(p);
}
