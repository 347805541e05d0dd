/* Template trees (the `input:` and `output:` of steps and workflows): rendering into a fresh
 * cJSON value (objects keep member order, templates evaluated, scalars copied) and walking the
 * templates they hold. The tree's depth is bounded by the YAML loader. */
#include <string.h>

#include "maestro/maestro.h"
#include "workflow/template.h"

static int render(const mae_tval *v, const mae_scope *scope, cJSON **out, mae_eval_err *err) {
    cJSON *r = NULL;
    int rc;
    switch (v->kind) {
    case MAE_TV_NULL: r = cJSON_CreateNull(); break;
    case MAE_TV_BOOL: r = cJSON_CreateBool(v->b); break;
    case MAE_TV_NUMBER: r = cJSON_CreateNumber(v->num); break;
    case MAE_TV_STRING: r = cJSON_CreateString(v->str ? v->str : ""); break;
    case MAE_TV_TEMPLATE:
        if ((rc = mae__tmpl_eval(v->tmpl, scope, out, err))) return rc;
        return 0;
    case MAE_TV_ARRAY:
    case MAE_TV_OBJECT:
        r = v->kind == MAE_TV_ARRAY ? cJSON_CreateArray() : cJSON_CreateObject();
        if (!r) break;
        for (size_t i = 0; i < v->n; i++) {
            cJSON *c;
            if ((rc = render(&v->items[i], scope, &c, err))) {
                cJSON_Delete(r);
                return rc;
            }
            /* Appending keeps the YAML order (cJSON_AddItemToObject copies the key). */
            if (v->kind == MAE_TV_ARRAY ? !cJSON_AddItemToArray(r, c)
                                        : !cJSON_AddItemToObject(r, v->items[i].key ? v->items[i].key : "", c)) {
                cJSON_Delete(c);
                cJSON_Delete(r);
                r = NULL;
                break;
            }
        }
        break;
    }
    if (!r) {
        strcpy(err->msg, "out of memory");
        return MAE_ENOMEM;
    }
    *out = r;
    return 0;
}

int mae__tval_render(const mae_tval *v, const mae_scope *scope, cJSON **out, mae_eval_err *err) {
    *out = NULL;
    return render(v, scope, out, err);
}

void mae__tval_each_tmpl(const mae_tval *v, void (*cb)(void *ud, const mae_tval *node), void *ud) {
    if (!v) return;
    if (v->kind == MAE_TV_TEMPLATE) cb(ud, v);
    if (v->kind == MAE_TV_ARRAY || v->kind == MAE_TV_OBJECT)
        for (size_t i = 0; i < v->n; i++) mae__tval_each_tmpl(&v->items[i], cb, ud);
}
