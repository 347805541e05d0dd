/* Template functions (default len upper lower json join env) and the text of a value. `env` is
 * the only place a template reads the environment: an unset variable reads as "". Every string
 * built here is bounded by MAE_TMPL_MAX_OUTPUT. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "maestro/maestro.h"
#include "workflow/expr.h"

int mae__val_text(mae_ectx *cx, const cJSON *v, char **text, size_t *len) {
    int rc;
    if (cJSON_IsString(v)) {
        size_t n = strlen(v->valuestring);
        if (n > MAE_TMPL_MAX_OUTPUT) rc = MAE_ELIMIT;
        else if (!(*text = strdup(v->valuestring))) rc = MAE_ENOMEM;
        else {
            *len = n;
            rc = 0;
        }
    } else {
        rc = mae__json_print(v, MAE_TMPL_MAX_OUTPUT, text, len);
    }
    if (rc == MAE_ELIMIT) return mae__eval_fail(cx, "value longer than %u bytes", MAE_TMPL_MAX_OUTPUT);
    return rc;
}

static int own_str(mae_val *out, char *s) {
    if (!s) return MAE_ENOMEM;
    out->v = cJSON_CreateString(s);
    out->owned = true;
    free(s);
    return out->v ? 0 : MAE_ENOMEM;
}

static int fn_join(mae_ectx *cx, const cJSON *sep, const cJSON *arr, mae_val *out) {
    if (!cJSON_IsString(sep))
        return mae__eval_fail(cx, "join: the separator must be a string, not %s",
                              mae__type_name(sep));
    if (!cJSON_IsArray(arr))
        return mae__eval_fail(cx, "join needs an array, not %s", mae__type_name(arr));
    size_t seplen = strlen(sep->valuestring), len = 0, cap = 64;
    char *buf = malloc(cap);
    if (!buf) return MAE_ENOMEM;
    int rc = 0;
    for (const cJSON *it = arr->child; it; it = it->next) {
        char *t;
        size_t tl;
        if ((rc = mae__val_text(cx, it, &t, &tl))) break;
        size_t add = tl + (it != arr->child ? seplen : 0);
        if (len + add > MAE_TMPL_MAX_OUTPUT) {
            free(t);
            rc = mae__eval_fail(cx, "join: result longer than %u bytes", MAE_TMPL_MAX_OUTPUT);
            break;
        }
        if (len + add + 1 > cap) {
            while (len + add + 1 > cap) cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(t);
                rc = MAE_ENOMEM;
                break;
            }
            buf = nb;
        }
        if (it != arr->child) {
            memcpy(buf + len, sep->valuestring, seplen);
            len += seplen;
        }
        memcpy(buf + len, t, tl);
        len += tl;
        free(t);
    }
    if (rc) {
        free(buf);
        return rc;
    }
    buf[len] = 0;
    return own_str(out, buf);
}

static int apply(mae_ectx *cx, const mae_expr *e, mae_val *args, mae_val *out) {
    const cJSON *x = args[e->nargs - 1].v;
    const char *fname = mae__fn_name((mae_fn)e->op);
    switch (e->op) {
    case FN_LEN: {
        double n;
        if (cJSON_IsString(x)) n = (double)strlen(x->valuestring);
        else if (cJSON_IsArray(x) || cJSON_IsObject(x)) n = cJSON_GetArraySize(x);
        else return mae__eval_fail(cx, "len needs a string, array or object, not %s", mae__type_name(x));
        out->owned = true;
        out->v = cJSON_CreateNumber(n);
        return out->v ? 0 : MAE_ENOMEM;
    }
    case FN_UPPER:
    case FN_LOWER: {
        if (!cJSON_IsString(x))
            return mae__eval_fail(cx, "%s needs a string, not %s", fname, mae__type_name(x));
        char *s = strdup(x->valuestring);
        if (!s) return MAE_ENOMEM;
        /* ASCII only: multi-byte UTF-8 sequences are left as they are. */
        for (char *p = s; *p; p++) {
            unsigned char c = (unsigned char)*p;
            if (c < 0x80) *p = (char)(e->op == FN_UPPER ? toupper(c) : tolower(c));
        }
        return own_str(out, s);
    }
    case FN_JSON: {
        /* Compact JSON text of any value; a string comes out quoted. */
        char *s;
        int rc = mae__json_print(x, MAE_TMPL_MAX_OUTPUT, &s, NULL);
        if (rc == MAE_ELIMIT)
            return mae__eval_fail(cx, "json: result longer than %u bytes", MAE_TMPL_MAX_OUTPUT);
        if (rc) return rc;
        return own_str(out, s);
    }
    case FN_JOIN:
        return fn_join(cx, args[0].v, x, out);
    case FN_BASE64: {
        /* Standard alphabet with padding: what gRPC's -bin metadata carries. */
        static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        if (!cJSON_IsString(x))
            return mae__eval_fail(cx, "base64 needs a string, not %s", mae__type_name(x));
        const unsigned char *in = (const unsigned char *)x->valuestring;
        size_t n = strlen(x->valuestring);
        if (n / 3 * 4 + 4 > MAE_TMPL_MAX_OUTPUT)
            return mae__eval_fail(cx, "base64: result longer than %u bytes", MAE_TMPL_MAX_OUTPUT);
        char *s = malloc(n / 3 * 4 + 5), *o = s;
        if (!s) return MAE_ENOMEM;
        for (size_t i = 0; i < n; i += 3) {
            uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
                         (i + 2 < n ? in[i + 2] : 0);
            *o++ = tab[v >> 18 & 63];
            *o++ = tab[v >> 12 & 63];
            *o++ = i + 1 < n ? tab[v >> 6 & 63] : '=';
            *o++ = i + 2 < n ? tab[v & 63] : '=';
        }
        *o = 0;
        return own_str(out, s);
    }
    case FN_ENV: {
        if (!cJSON_IsString(x))
            return mae__eval_fail(cx, "env needs a variable name string, not %s", mae__type_name(x));
        const char *v = getenv(x->valuestring);
        return own_str(out, strdup(v ? v : ""));
    }
    }
    return MAE_EINTERNAL;
}

int mae__call_eval(mae_ectx *cx, const mae_expr *e, mae_val *out) {
    int rc;
    if (e->op == FN_DEFAULT) {
        /* The value (last argument) may name missing fields: they only select the fallback. */
        mae_val v = {0};
        cx->lenient++;
        rc = mae__expr_eval(cx, e->args[1], &v);
        cx->lenient--;
        if (rc) return rc;
        if (v.v && !cJSON_IsNull(v.v)) {
            *out = v;
            return 0;
        }
        mae__val_free(&v);
        return mae__expr_eval(cx, e->args[0], out);
    }
    mae_val args[2] = {{0}};
    for (size_t i = 0; i < e->nargs; i++) {
        if ((rc = mae__expr_eval(cx, e->args[i], &args[i]))) goto done;
        if (!args[i].v) goto done;  /* missing under an outer default: stays missing */
    }
    rc = apply(cx, e, args, out);
done:
    for (size_t i = 0; i < e->nargs; i++) mae__val_free(&args[i]);
    return rc;
}
