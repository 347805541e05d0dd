/* Evaluator for template expressions: names looked up through the mae_scope chain, operators
 * with JSON semantics. Values found in the data are borrowed, never copied until the caller
 * needs a tree of its own; computed values are owned. Recursion is bounded by the parser's
 * tree-height limit. Functions live in expr_func.c. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maestro/maestro.h"
#include "workflow/expr.h"
#include "workflow/json_out.h"

void mae__val_free(mae_val *v) {
    if (v->owned) cJSON_Delete(v->v);
    v->v = NULL;
    v->owned = false;
}

int mae__eval_fail(mae_ectx *cx, const char *fmt, ...) {
    char detail[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    size_t n = cx->part_end - cx->part_off;
    const char *ell = "";
    if (n > 100) {
        n = 96;
        ell = " ...";
    }
    snprintf(cx->err->msg, sizeof cx->err->msg, "%.*s%s: %s", (int)n, cx->src + cx->part_off, ell,
             detail);
    return MAE_ETEMPLATE;
}

const char *mae__type_name(const cJSON *v) {
    if (!v) return "nothing";
    switch (v->type & 0xff) {
    case cJSON_NULL: return "null";
    case cJSON_True: case cJSON_False: return "a boolean";
    case cJSON_Number: return "a number";
    case cJSON_String: return "a string";
    case cJSON_Array: return "an array";
    case cJSON_Object: return "an object";
    default: return "an invalid value";
    }
}

bool mae__json_equal(const cJSON *a, const cJSON *b) {
    if (cJSON_IsBool(a) && cJSON_IsBool(b)) return cJSON_IsTrue(a) == cJSON_IsTrue(b);
    if ((a->type & 0xff) != (b->type & 0xff)) return false;
    switch (a->type & 0xff) {
    case cJSON_NULL: return true;
    case cJSON_Number: return a->valuedouble == b->valuedouble;
    case cJSON_String: return strcmp(a->valuestring, b->valuestring) == 0;
    case cJSON_Array: {
        const cJSON *x = a->child, *y = b->child;
        for (; x && y; x = x->next, y = y->next)
            if (!mae__json_equal(x, y)) return false;
        return !x && !y;
    }
    case cJSON_Object: {
        /* Member order does not matter; same count and every member of a equal in b. */
        if (cJSON_GetArraySize(a) != cJSON_GetArraySize(b)) return false;
        for (const cJSON *x = a->child; x; x = x->next) {
            const cJSON *y = x->string ? cJSON_GetObjectItemCaseSensitive(b, x->string) : NULL;
            if (!y || !mae__json_equal(x, y)) return false;
        }
        return true;
    }
    default: return false;
    }
}

static int own(mae_val *out, cJSON *v) {
    out->v = v;
    out->owned = true;
    return v ? 0 : MAE_ENOMEM;
}

static int missing(mae_val *out) {
    out->v = NULL;
    out->owned = false;
    return 0;
}

/* The path text before segment i, for messages: ".user" in "no field 'id' in .user". */
static int path_prefix(mae_ectx *cx, const mae_expr *e, size_t i, char *buf, size_t cap) {
    size_t end = i < e->nsegs ? e->segs[i].off : e->end;
    size_t n = end - e->off;
    if (n > 80) return snprintf(buf, cap, "%.*s...", 76, cx->src + e->off);
    return snprintf(buf, cap, "%.*s", (int)n, cx->src + e->off);
}

static const cJSON *scope_lookup(const mae_scope *s, const char *name) {
    for (; s; s = s->parent) {
        if (!cJSON_IsObject(s->vars)) continue;
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(s->vars, name);
        if (v) return v;
    }
    return NULL;
}

static int eval_path(mae_ectx *cx, const mae_expr *e, mae_val *out) {
    mae_val cur = {0};
    int rc;
    if (e->root) {
        cur.v = (cJSON *)scope_lookup(cx->scope, e->root);
        if (!cur.v) {
            if (cx->lenient) return missing(out);
            return mae__eval_fail(cx, "no variable '%s'", e->root);
        }
    } else {
        if ((rc = mae__expr_eval(cx, e->base, &cur))) return rc;
        if (!cur.v) return missing(out);
    }
    for (size_t i = 0; i < e->nsegs; i++) {
        const mae_seg *s = &e->segs[i];
        char where[96];
        mae_val key = {0};
        const cJSON *next = NULL;
        if (s->index) {
            if ((rc = mae__expr_eval(cx, s->index, &key))) goto fail;
            if (!key.v) {
                mae__val_free(&cur);
                return missing(out);
            }
        }
        const char *name = s->name ? s->name : cJSON_IsString(key.v) ? key.v->valuestring : NULL;
        if (name) {
            if (!cJSON_IsObject(cur.v)) {
                if (cx->lenient) goto gone;
                path_prefix(cx, e, i, where, sizeof where);
                rc = mae__eval_fail(cx, "cannot read field '%s' of %s (%s)", name,
                                    mae__type_name(cur.v), where);
                goto fail;
            }
            next = cJSON_GetObjectItemCaseSensitive(cur.v, name);
            if (!next) {
                if (cx->lenient) goto gone;
                path_prefix(cx, e, i, where, sizeof where);
                rc = mae__eval_fail(cx, "no field '%s' in %s", name, where);
                goto fail;
            }
        } else if (cJSON_IsNumber(key.v)) {
            double d = key.v->valuedouble;
            if (!cJSON_IsArray(cur.v)) {
                if (cx->lenient) goto gone;
                path_prefix(cx, e, i, where, sizeof where);
                rc = mae__eval_fail(cx, "cannot index %s with a number (%s)", mae__type_name(cur.v),
                                    where);
                goto fail;
            }
            char num[MAE_JSON_NUM_MAX];
            mae_json_num(d, num);
            if (d != floor(d)) {
                path_prefix(cx, e, i, where, sizeof where);
                rc = mae__eval_fail(cx, "index %s is not an integer (%s)", num, where);
                goto fail;
            }
            int n = cJSON_GetArraySize(cur.v);
            if (d < 0 || d >= n) {
                if (cx->lenient) goto gone;
                path_prefix(cx, e, i, where, sizeof where);
                rc = mae__eval_fail(cx, "index %s out of range in %s (length %d)", num, where, n);
                goto fail;
            }
            next = cJSON_GetArrayItem(cur.v, (int)d);
        } else {
            path_prefix(cx, e, i, where, sizeof where);
            rc = mae__eval_fail(cx, "an index must be a number or a string, not %s (%s)",
                                mae__type_name(key.v), where);
            goto fail;
        }
        mae__val_free(&key);
        /* Detach the member from an owned parent so it can outlive it. */
        if (cur.owned) {
            cJSON *copy = cJSON_Duplicate(next, 1);
            mae__val_free(&cur);
            if ((rc = own(&cur, copy))) return rc;
        } else {
            cur.v = (cJSON *)next;
        }
        continue;
    gone:
        mae__val_free(&key);
        mae__val_free(&cur);
        return missing(out);
    fail:
        mae__val_free(&key);
        mae__val_free(&cur);
        return rc;
    }
    *out = cur;
    return 0;
}

static int num_result(mae_ectx *cx, double d, mae_val *out) {
    if (isnan(d) || isinf(d)) return mae__eval_fail(cx, "arithmetic overflow");
    return own(out, cJSON_CreateNumber(d));
}

static const char *op_text(int op) {
    static const char *const t[] = {"==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%"};
    return t[op];
}

static int eval_bin(mae_ectx *cx, int op, const cJSON *a, const cJSON *b, mae_val *out) {
    if (op == OP_EQ || op == OP_NE) {
        bool eq = mae__json_equal(a, b);
        return own(out, cJSON_CreateBool(op == OP_EQ ? eq : !eq));
    }
    bool nums = cJSON_IsNumber(a) && cJSON_IsNumber(b);
    bool strs = cJSON_IsString(a) && cJSON_IsString(b);
    if (op <= OP_GE) {
        int c;
        if (nums) c = a->valuedouble < b->valuedouble ? -1 : a->valuedouble > b->valuedouble;
        else if (strs) c = strcmp(a->valuestring, b->valuestring);
        else
            return mae__eval_fail(cx, "cannot compare %s with %s (%s)", mae__type_name(a),
                                  mae__type_name(b), op_text(op));
        bool r = op == OP_LT ? c < 0 : op == OP_LE ? c <= 0 : op == OP_GT ? c > 0 : c >= 0;
        return own(out, cJSON_CreateBool(r));
    }
    if (op == OP_ADD && strs) {
        size_t la = strlen(a->valuestring), lb = strlen(b->valuestring);
        if (la + lb > MAE_TMPL_MAX_OUTPUT)
            return mae__eval_fail(cx, "string longer than %u bytes", MAE_TMPL_MAX_OUTPUT);
        char *s = malloc(la + lb + 1);
        if (!s) return MAE_ENOMEM;
        memcpy(s, a->valuestring, la);
        memcpy(s + la, b->valuestring, lb + 1);
        cJSON *r = cJSON_CreateString(s);
        free(s);
        return own(out, r);
    }
    if (!nums)
        return mae__eval_fail(cx, "'%s' needs two numbers%s, not %s and %s", op_text(op),
                              op == OP_ADD ? " or two strings" : "", mae__type_name(a),
                              mae__type_name(b));
    double x = a->valuedouble, y = b->valuedouble;
    switch (op) {
    case OP_ADD: return num_result(cx, x + y, out);
    case OP_SUB: return num_result(cx, x - y, out);
    case OP_MUL: return num_result(cx, x * y, out);
    case OP_DIV:
        if (y == 0) return mae__eval_fail(cx, "division by zero");
        return num_result(cx, x / y, out);
    default:
        if (y == 0) return mae__eval_fail(cx, "modulo by zero");
        return num_result(cx, fmod(x, y), out);
    }
}

int mae__expr_eval(mae_ectx *cx, const mae_expr *e, mae_val *out) {
    mae_val a = {0}, b = {0};
    int rc;
    out->v = NULL;
    out->owned = false;
    switch (e->kind) {
    case EX_LIT:
        switch (e->op) {
        case LIT_NULL: return own(out, cJSON_CreateNull());
        case LIT_BOOL: return own(out, cJSON_CreateBool(e->bval));
        case LIT_NUM: return own(out, cJSON_CreateNumber(e->num));
        default: return own(out, cJSON_CreateString(e->str));
        }
    case EX_PATH:
        return eval_path(cx, e, out);
    case EX_CALL:
        return mae__call_eval(cx, e, out);
    case EX_NOT:
    case EX_NEG:
        if ((rc = mae__expr_eval(cx, e->a, &a))) return rc;
        if (!a.v) return missing(out);
        if (e->kind == EX_NOT) {
            rc = own(out, cJSON_CreateBool(!mae_json_truthy(a.v)));
        } else if (cJSON_IsNumber(a.v)) {
            rc = num_result(cx, -a.v->valuedouble, out);
        } else {
            rc = mae__eval_fail(cx, "cannot negate %s", mae__type_name(a.v));
        }
        mae__val_free(&a);
        return rc;
    case EX_AND:
    case EX_OR: {
        if ((rc = mae__expr_eval(cx, e->a, &a))) return rc;
        if (!a.v) return missing(out);
        bool t = mae_json_truthy(a.v);
        mae__val_free(&a);
        /* Short-circuit: the right side is not evaluated (nor can it fail) once decided. */
        if (t == (e->kind == EX_OR)) return own(out, cJSON_CreateBool(t));
        if ((rc = mae__expr_eval(cx, e->b, &b))) return rc;
        if (!b.v) return missing(out);
        t = mae_json_truthy(b.v);
        mae__val_free(&b);
        return own(out, cJSON_CreateBool(t));
    }
    case EX_BIN:
        if ((rc = mae__expr_eval(cx, e->a, &a))) return rc;
        if (!a.v) return missing(out);
        if ((rc = mae__expr_eval(cx, e->b, &b))) {
            mae__val_free(&a);
            return rc;
        }
        if (!b.v) {
            mae__val_free(&a);
            return missing(out);
        }
        rc = eval_bin(cx, e->op, a.v, b.v, out);
        mae__val_free(&a);
        mae__val_free(&b);
        return rc;
    }
    return MAE_EINTERNAL;
}
