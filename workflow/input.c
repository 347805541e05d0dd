/* A run's input against the workflow's `input:` declaration: types, required fields, defaults
 * filled in place. Undeclared extra fields are kept. */
#include <math.h>
#include <string.h>

#include "maestro/maestro.h"
#include "workflow/json_out.h"
#include "workflow/model.h"

const char *mae__input_type_name(mae_input_type t) {
    switch (t) {
    case MAE_IN_STRING: return "string";
    case MAE_IN_NUMBER: return "number";
    case MAE_IN_INTEGER: return "integer";
    case MAE_IN_BOOLEAN: return "boolean";
    case MAE_IN_OBJECT: return "object";
    case MAE_IN_ARRAY: return "array";
    default: return "any";
    }
}

static const char *json_type_name(const cJSON *v) {
    if (cJSON_IsString(v)) return "string";
    if (cJSON_IsNumber(v)) return "number";
    if (cJSON_IsBool(v)) return "boolean";
    if (cJSON_IsObject(v)) return "object";
    if (cJSON_IsArray(v)) return "array";
    return "null";
}

bool mae__input_type_ok(mae_input_type t, const cJSON *v) {
    switch (t) {
    case MAE_IN_STRING: return cJSON_IsString(v);
    case MAE_IN_NUMBER: return cJSON_IsNumber(v);
    case MAE_IN_INTEGER:
        return cJSON_IsNumber(v) && isfinite(v->valuedouble) && floor(v->valuedouble) == v->valuedouble;
    case MAE_IN_BOOLEAN: return cJSON_IsBool(v);
    case MAE_IN_OBJECT: return cJSON_IsObject(v);
    case MAE_IN_ARRAY: return cJSON_IsArray(v);
    default: return true;
    }
}

int mae_input_check(const mae_workflow *wf, cJSON *input, mae_diags *diags) {
    const mae_pos nopos = {0, 0};
    if (!cJSON_IsObject(input)) {
        mae_diag_add(diags, nopos, "input: must be a JSON object, not %s", input ? json_type_name(input) : "nothing");
        return MAE_EINVAL;
    }
    int rc = 0;
    for (size_t i = 0; i < wf->n_inputs; i++) {
        const mae_input_decl *d = &wf->inputs[i];
        cJSON *v = cJSON_GetObjectItemCaseSensitive(input, d->name);
        if (!v) {
            if (d->default_value) {
                cJSON *c = cJSON_Duplicate(d->default_value, 1);
                if (!c) return MAE_ENOMEM;
                if (!cJSON_AddItemToObject(input, d->name, c)) {
                    cJSON_Delete(c);
                    return MAE_ENOMEM;
                }
            } else if (d->required) {
                mae_diag_add(diags, nopos, "input.%s: required", d->name);
                rc = MAE_EINVAL;
            }
            continue;
        }
        if (!mae__input_type_ok(d->type, v)) {
            char num[MAE_JSON_NUM_MAX];
            if (d->type == MAE_IN_INTEGER && cJSON_IsNumber(v) && mae_json_num(v->valuedouble, num))
                mae_diag_add(diags, nopos, "input.%s: expected integer, got %s", d->name, num);
            else
                mae_diag_add(diags, nopos, "input.%s: expected %s, got %s", d->name, mae__input_type_name(d->type),
                             json_type_name(v));
            rc = MAE_EINVAL;
        }
    }
    return rc;
}
