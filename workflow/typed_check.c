/* Typed call checks (see typed_check.h). */
#include "workflow/typed_check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maestro/maestro.h"

typedef struct checker {
    mae_typed_report cb;
    void *ud;
    size_t n;
    int depth;
} checker;

static void report(checker *k, mae_pos pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void report(checker *k, mae_pos pos, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    k->n++;
    if (k->cb) k->cb(k->ud, pos, msg);
}

static bool has_template(const mae_tval *v) {
    if (v->kind == MAE_TV_TEMPLATE) return true;
    if (v->kind == MAE_TV_ARRAY || v->kind == MAE_TV_OBJECT)
        for (size_t i = 0; i < v->n; i++)
            if (has_template(&v->items[i])) return true;
    return false;
}

static void check_object(checker *k, const mae__pb_msg *m, const mae_tval *obj, const char *path);

/* A field's value: nested message literals are checked key by key. */
static void check_value(checker *k, const mae__pb_field *f, const mae_tval *v, const char *path) {
    const mae__pb_msg *fm = mae__pb_field_message(f);
    if (!fm) return;
    char tn[256];
    mae__pb_field_type_name(f, tn, sizeof tn);
    bool is_map = strncmp(tn, "map<", 4) == 0, is_rep = strncmp(tn, "repeated ", 9) == 0;
    char sub[512];
    if (is_map && v->kind == MAE_TV_OBJECT) {
        for (size_t i = 0; i < v->n; i++) {
            if (v->items[i].kind != MAE_TV_OBJECT) continue;
            snprintf(sub, sizeof sub, "%.300s[%.100s]", path, v->items[i].key);
            check_object(k, fm, &v->items[i], sub);
        }
    } else if (is_rep && v->kind == MAE_TV_ARRAY) {
        for (size_t i = 0; i < v->n; i++) {
            if (v->items[i].kind != MAE_TV_OBJECT) continue;
            snprintf(sub, sizeof sub, "%.300s[%zu]", path, i);
            check_object(k, fm, &v->items[i], sub);
        }
    } else if (!is_map && !is_rep && v->kind == MAE_TV_OBJECT) {
        check_object(k, fm, v, path);
    }
}

static void check_object(checker *k, const mae__pb_msg *m, const mae_tval *obj, const char *path) {
    if (obj->kind != MAE_TV_OBJECT || ++k->depth > MAE__PB_MAX_DEPTH) {
        k->depth--;
        return;
    }
    for (size_t i = 0; i < obj->n; i++) {
        const mae_tval *it = &obj->items[i];
        char hint[128] = "";
        const mae__pb_field *f = mae__pb_msg_field(m, it->key, hint, sizeof hint);
        char sub[512];
        snprintf(sub, sizeof sub, "%.300s%s%.100s", path, *path ? "." : "", it->key);
        mae_pos pos = it->key_pos.line ? it->key_pos : it->pos;
        if (!f) {
            if (hint[0])
                report(k, pos, "input %s: no such field in %s (did you mean %s?)", sub,
                       mae__pb_msg_name(m), hint);
            else
                report(k, pos, "input %s: no such field in %s", sub, mae__pb_msg_name(m));
            continue;
        }
        check_value(k, f, it, sub);
    }
    k->depth--;
}

size_t mae__typed_check_call(const mae__typed_desc *d, const mae_service *svc, const char *method,
                             mae_pos mpos, const mae_tval *input, mae_typed_report cb, void *ud) {
    checker k = {.cb = cb, .ud = ud};
    if (!d || !method) return 0;
    char err[512] = "";
    const mae__pb_method *m = mae__typed_method(d, method, err, sizeof err);
    if (!m) {
        report(&k, mpos, "service %s: %s", svc->name, err[0] ? err : "no such method");
        return k.n;
    }
    if (!input) return 0;
    if (input->kind == MAE_TV_OBJECT) {
        check_object(&k, m->input, input, "");
    } else if (input->kind != MAE_TV_TEMPLATE && input->kind != MAE_TV_NULL) {
        report(&k, input->pos, "input of %s must be an object (message %s)", method,
               mae__pb_msg_name(m->input));
    }
    if (k.n || has_template(input)) return k.n;
    /* Wholly literal: encode it now, so a value of the wrong type is found before any run. */
    cJSON *json = NULL;
    mae_eval_err ee;
    memset(&ee, 0, sizeof ee);
    if (mae__tval_render(input, NULL, &json, &ee) != 0) return k.n;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = mae__pb_encode(m->input, json, 0, &buf, &len, err, sizeof err);
    if (rc == MAE_ETEMPLATE) report(&k, input->pos, "input: %s", err);
    free(buf);
    cJSON_Delete(json);
    return k.n;
}

static void walk(checker *k, const mae_step *s, size_t n, const mae_service *svc,
                 const mae__typed_desc *d) {
    for (size_t i = 0; i < n; i++) {
        const mae_step *st = &s[i];
        if (st->kind == MAE_STEP_CALL) {
            if (st->service == svc)
                k->n += mae__typed_check_call(d, svc, st->method, st->pos, st->input, k->cb, k->ud);
            const mae_compensate *c = st->compensate;
            if (c && c->service == svc)
                k->n += mae__typed_check_call(d, svc, c->method, c->pos, c->input, k->cb, k->ud);
        }
        walk(k, st->children, st->n_children, svc, d);
    }
}

size_t mae__typed_check_workflow(const mae_workflow *wf, const mae_service *svc,
                                 const mae__typed_desc *d, mae_typed_report cb, void *ud) {
    checker k = {.cb = cb, .ud = ud};
    walk(&k, wf->steps, wf->n_steps, svc, d);
    return k.n;
}
