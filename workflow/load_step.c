/* steps: (docs/workflow-language.md#steps) → mae_step trees: call, parallel, sequence, foreach;
 * compensations; methods compiled into call targets by the service's type; retry policies merged
 * over the service's. */
#include <stdlib.h>
#include <string.h>

#include "maestro/maestro.h"
#include "grpc_h2/grpc_target.h"
#include "workflow/load_int.h"
#include "workflow/typed_check.h"

static const char *const step_keys[] = {"id", "service", "method", "input", "output", "when", "compensate",
    "timeout", "retry", "continue_on_error", "parallel", "sequence", "foreach", "as", "concurrency", "max_items", "do",
    "headers", NULL};
static const char *const call_keys[] = {"id", "service", "method", "input", "output", "when", "compensate",
    "timeout", "retry", "continue_on_error", "headers", NULL};
static const char *const group_keys[] = {"id", "parallel", "sequence", "when", "continue_on_error", NULL};
static const char *const foreach_keys[] = {"id", "foreach", "as", "concurrency", "max_items", "do", "output", "when",
    "continue_on_error", NULL};
static const char *const compensate_keys[] = {"service", "method", "input", "retry", "timeout", NULL};

static const char *const kind_names[] = {"call", "parallel", "sequence", "foreach"};

static const mae_service *find_service(mae_loader *ld, const mae_ynode *n) {
    const char *name;
    if (!mae__ld_str(ld, n, "service", &name)) return NULL;
    const mae_service *s = mae__workflow_service(ld->wf, name);
    if (s) return s;
    const char *cands[64];
    size_t nc = 0;
    for (size_t i = 0; i < ld->wf->n_services && nc < 64; i++) cands[nc++] = ld->wf->services[i].name;
    const char *hint = mae__ld_full(ld) ? NULL : mae__ld_suggest(name, cands, nc);
    if (hint)
        mae__ld_err(ld, n->pos, "unknown service '%s' (did you mean '%s'?)", name, hint);
    else
        mae__ld_err(ld, n->pos, "unknown service '%s'", name);
    return NULL;
}

/* The method as written, compiled by the service's type (transports/target.h). */
static void parse_method(mae_loader *ld, const mae_ynode *n, const mae_service *svc, const char **method,
                         const mae_target **target) {
    if (!mae__ld_str(ld, n, "method", method) || !svc || !svc->type) return;
    *target = mae__ld_target(ld, n, svc->type, MAE_TARGET_CALL);
}

static void typed_report(void *ud, mae_pos pos, const char *msg) { mae__ld_err(ud, pos, "%s", msg); }

/* A gRPC call: a full method name needs descriptors; with a descriptor set the method and the
 * literal input are checked now (reflection: when a run starts). */
static void check_typed(mae_loader *ld, const mae_ynode *mn, const mae_service *svc, const char *method,
                        const mae_target *target, const mae_tval *input) {
    if (!svc || !svc->type || !method || !target || strcmp(svc->type->name, "grpc") != 0) return;
    if (!svc->descriptors) {
        if (mae__grpc_method_is_full(method))
            mae__ld_err(ld, mn->pos, "method '%s' is a typed method: service '%s' needs 'descriptors:' "
                        "(reflection or a descriptor set)", method, svc->name);
        return;
    }
    if (svc->typed) mae__typed_check_call(svc->typed, svc, method, mn->pos, input, typed_report, ld);
}

static void load_compensate(mae_loader *ld, const mae_ynode *n, mae_step *st) {
    if (!mae__ld_keys(ld, n, "compensate", compensate_keys)) return;
    mae_compensate *c = mae__arena_alloc(ld->a, sizeof *c);
    if (!c) {
        ld->oom = true;
        return;
    }
    c->pos = n->pos;
    c->service = st->service;
    const mae_ynode *v;
    if ((v = mae__yaml_get(n, "service"))) c->service = find_service(ld, v);
    if (c->service) {
        c->retry = c->service->retry;
        c->retry.attempts = 5;
    } else {
        mae__retry_default(&c->retry);
        c->retry.attempts = 5;
    }
    if ((v = mae__yaml_get(n, "method"))) parse_method(ld, v, c->service, &c->method, &c->target);
    else mae__ld_err(ld, n->pos, "compensate: missing required key 'method'");
    if ((v = mae__yaml_get(n, "input"))) c->input = mae__ld_tval(ld, v);
    if ((v = mae__yaml_get(n, "method"))) check_typed(ld, v, c->service, c->method, c->target, c->input);
    if ((v = mae__yaml_get(n, "retry"))) mae__ld_retry(ld, v, &c->retry);
    if ((v = mae__yaml_get(n, "timeout"))) mae__ld_duration(ld, v, "timeout", true, &c->timeout_ms);
    st->compensate = c;
}

static void register_id(mae_loader *ld, const char *id, mae_pos pos) {
    for (size_t i = 0; i < ld->n_ids; i++) {
        if (strcmp(ld->ids[i].id, id) == 0) {
            mae__ld_err(ld, pos, "duplicate step id '%s' (first at line %d)", id, ld->ids[i].pos.line);
            return;
        }
    }
    if (ld->n_ids == ld->cap_ids) {
        size_t cap = ld->cap_ids ? ld->cap_ids * 2 : 16;
        void *p = realloc(ld->ids, cap * sizeof *ld->ids);
        if (!p) {
            ld->oom = true;
            return;
        }
        ld->ids = p;
        ld->cap_ids = cap;
    }
    ld->ids[ld->n_ids].id = id;
    ld->ids[ld->n_ids].pos = pos;
    ld->n_ids++;
}

static void load_step(mae_loader *ld, const mae_ynode *n, mae_step *st, const char *default_id);

static void missing(mae_loader *ld, const mae_ynode *n, const mae_step *st, const char *key) {
    if (st->id)
        mae__ld_err(ld, n->pos, "step '%s': missing required key '%s'", st->id, key);
    else
        mae__ld_err(ld, n->pos, "step: missing required key '%s'", key);
}

static void load_call(mae_loader *ld, const mae_ynode *n, mae_step *st) {
    const mae_ynode *v;
    if ((v = mae__yaml_get(n, "service"))) st->service = find_service(ld, v);
    else missing(ld, n, st, "service");
    if ((v = mae__yaml_get(n, "method"))) parse_method(ld, v, st->service, &st->method, &st->target);
    else missing(ld, n, st, "method");
    if ((v = mae__yaml_get(n, "input"))) st->input = mae__ld_tval(ld, v);
    if ((v = mae__yaml_get(n, "headers")))
        mae__ld_headers(ld, v, st->service ? st->service->type : NULL, &st->headers, &st->n_headers);
    if ((v = mae__yaml_get(n, "method"))) check_typed(ld, v, st->service, st->method, st->target, st->input);
    if ((v = mae__yaml_get(n, "output"))) mae__ld_var(ld, v, "output name", &st->output);
    if (st->service) st->retry = st->service->retry;
    else mae__retry_default(&st->retry);
    if ((v = mae__yaml_get(n, "retry"))) mae__ld_retry(ld, v, &st->retry);
    if ((v = mae__yaml_get(n, "timeout"))) mae__ld_duration(ld, v, "timeout", true, &st->timeout_ms);
    if ((v = mae__yaml_get(n, "compensate"))) load_compensate(ld, v, st);
}

static void load_foreach(mae_loader *ld, const mae_ynode *n, mae_step *st) {
    const mae_ynode *v = mae__yaml_get(n, "foreach");
    const char *s;
    if (mae__ld_str(ld, v, "foreach", &s)) {
        if (!mae__tmpl_has_expr(v->str, v->len))
            mae__ld_err(ld, v->pos, "'foreach' must be a template such as \"{{ .input.items }}\"");
        else
            st->foreach = mae__ld_tmpl(ld, v, 0);
    }
    if ((v = mae__yaml_get(n, "as"))) mae__ld_var(ld, v, "foreach 'as' name", &st->as);
    else missing(ld, n, st, "as");
    if (st->as) {
        /* the item index's name, kept with the step: every item's scope uses it as its key */
        size_t l = strlen(st->as);
        char *idx = mae__arena_alloc(ld->a, l + sizeof "_index");
        if (idx) {
            memcpy(idx, st->as, l);
            memcpy(idx + l, "_index", sizeof "_index");
            st->as_index = idx;
        } else {
            ld->oom = true;
        }
    }
    if ((v = mae__yaml_get(n, "concurrency"))) mae__ld_int(ld, v, "concurrency", 1, 100000, &st->concurrency);
    if ((v = mae__yaml_get(n, "max_items")))
        mae__ld_int(ld, v, "max_items", 1, MAE_FOREACH_MAX_ITEMS_LIMIT, &st->max_items);
    if ((v = mae__yaml_get(n, "output"))) mae__ld_var(ld, v, "output name", &st->output);
    v = mae__yaml_get(n, "do");
    if (!v) {
        missing(ld, n, st, "do");
        return;
    }
    st->children = mae__arena_alloc(ld->a, sizeof *st->children);
    if (!st->children) {
        ld->oom = true;
        return;
    }
    st->n_children = 1;
    st->body = &st->children[0];
    if (v->kind == MAE_YN_SEQ) {
        /* do: [STEP, ...] is a sequence. */
        st->children[0].kind = MAE_STEP_SEQUENCE;
        st->children[0].pos = v->pos;
        mae__ld_steps(ld, v, "do", &st->children[0].children, &st->children[0].n_children);
    } else {
        load_step(ld, v, &st->children[0], st->id);
    }
}

static void load_step(mae_loader *ld, const mae_ynode *n, mae_step *st, const char *default_id) {
    st->pos = n->pos;
    if (!mae__ld_keys(ld, n, "step", step_keys)) return;
    bool has[4] = {mae__yaml_get(n, "service") || mae__yaml_get(n, "method"), mae__yaml_get(n, "parallel") != NULL,
                   mae__yaml_get(n, "sequence") != NULL, mae__yaml_get(n, "foreach") != NULL};
    int kinds = 0, kind = -1, second = -1;
    for (int i = 0; i < 4; i++) {
        if (!has[i]) continue;
        if (kind < 0) kind = i;
        else if (second < 0) second = i;
        kinds++;
    }
    if (kinds == 0) {
        mae__ld_err(ld, n->pos, "step is none of call (service + method), parallel, sequence or foreach");
        return;
    }
    if (kinds > 1) {
        mae__ld_err(ld, n->pos, "step cannot be both %s and %s", kind_names[kind], kind_names[second]);
        return;
    }
    st->kind = (mae_step_kind)kind;
    const char *const *allowed = kind == MAE_STEP_CALL ? call_keys : kind == MAE_STEP_FOREACH ? foreach_keys : group_keys;
    for (size_t i = 0; i < n->n; i++) {
        const mae_ynode *k = n->pairs[i].key;
        bool ok = false, known = false;
        for (size_t j = 0; allowed[j] && !ok; j++) ok = strcmp(k->str, allowed[j]) == 0;
        for (size_t j = 0; step_keys[j] && !known; j++) known = strcmp(k->str, step_keys[j]) == 0;
        if (!ok && known) mae__ld_err(ld, k->pos, "'%s' is not allowed in a %s step", k->str, kind_names[kind]);
    }
    const mae_ynode *v;
    if ((v = mae__yaml_get(n, "id"))) {
        if (mae__ld_name(ld, v, "step id", &st->id)) register_id(ld, st->id, v->pos);
    } else if (kind == MAE_STEP_CALL || kind == MAE_STEP_FOREACH) {
        if (default_id) st->id = default_id;
        else mae__ld_err(ld, n->pos, "%s step: missing required key 'id'", kind_names[kind]);
    }
    if ((v = mae__yaml_get(n, "when"))) {
        const char *s;
        if (mae__ld_str(ld, v, "when", &s)) {
            if (!mae__tmpl_has_expr(v->str, v->len))
                mae__ld_err(ld, v->pos, "'when' must be a template such as \"{{ .input.plan == 'premium' }}\"");
            else
                st->when = mae__ld_tmpl(ld, v, 0);
        }
    }
    if ((v = mae__yaml_get(n, "continue_on_error"))) mae__ld_bool(ld, v, "continue_on_error", &st->continue_on_error);
    switch (st->kind) {
    case MAE_STEP_CALL: load_call(ld, n, st); break;
    case MAE_STEP_FOREACH: load_foreach(ld, n, st); break;
    default: {
        const char *key = st->kind == MAE_STEP_PARALLEL ? "parallel" : "sequence";
        v = mae__yaml_get(n, key);
        mae__ld_steps(ld, v, key, &st->children, &st->n_children);
        if (v->kind == MAE_YN_SEQ && v->n == 0) mae__ld_err(ld, v->pos, "'%s' must not be empty", key);
    }
    }
}

void mae__ld_steps(mae_loader *ld, const mae_ynode *n, const char *what, mae_step **out, size_t *n_out) {
    *out = NULL;
    *n_out = 0;
    if (n->kind != MAE_YN_SEQ) {
        mae__ld_err(ld, n->pos, "'%s' must be a sequence, not %s", what, mae__yaml_kind_name(n));
        return;
    }
    mae_step *steps = mae__arena_alloc(ld->a, (n->n ? n->n : 1) * sizeof *steps);
    if (!steps) {
        ld->oom = true;
        return;
    }
    for (size_t i = 0; i < n->n; i++) load_step(ld, n->items[i], &steps[i], NULL);
    *out = steps;
    *n_out = n->n;
}
