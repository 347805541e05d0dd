/* Templates and expressions (docs/workflow-language.md#templates-and-expressions): "{{ EXPR }}"
 * inside YAML string scalars, compiled once at load into a small AST, evaluated against cJSON data.
 * Pure: no I/O except env "NAME".
 *
 * A template whose whole text is exactly one {{ EXPR }} (surrounding spaces inside the braces
 * allowed, nothing outside) is "whole": it evaluates to the JSON value of EXPR with its type.
 * Otherwise it is interpolated: literal text plus each value's text (strings raw, others as
 * compact JSON) and the result is a string. A substituted value is never evaluated again. */
#ifndef MAE_TEMPLATE_H
#define MAE_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "workflow/arena.h"
#include "workflow/diag.h"
#include "workflow/json_out.h"  /* mae__json_print: the text of a non-string value */

/* Bound on one rendered string / serialised value (also applies to interpolation). */
#define MAE_TMPL_MAX_OUTPUT (16u << 20)
/* Bound on expression nesting (parentheses, unary chains), checked at compile time. */
#define MAE_TMPL_MAX_DEPTH 64

typedef struct mae_tmpl mae_tmpl;

/* Where names are looked up. A chain: the innermost scope first (a foreach item's variables),
 * then its parents (the run's variables: input, outputs, steps, workflow). Each vars is a cJSON
 * object whose members are root names ("input", "user", "steps", "workflow", "res", ...). */
typedef struct mae_scope {
    const cJSON *vars;
    const struct mae_scope *parent;
} mae_scope;

/* A compile error: byte offset into the template source and a message. */
typedef struct mae_tmpl_err {
    size_t offset;
    char msg[256];
} mae_tmpl_err;

/* Compiles src[0..len) into the arena. Text without "{{" compiles to a literal template.
 * Returns 0, MAE_EPARSE (err filled), or MAE_ENOMEM. */
int mae__tmpl_compile(mae_arena *a, const char *src, size_t len, mae_tmpl **out, mae_tmpl_err *err);
/* True if src holds "{{" (i.e. the scalar is a template rather than plain text). */
bool mae__tmpl_has_expr(const char *src, size_t len);
bool mae__tmpl_is_whole(const mae_tmpl *t);
/* The source text, as compiled (for error messages). */
const char *mae__tmpl_source(const mae_tmpl *t);

/* An evaluation error. message names the template text and the missing name, e.g.
 * "{{ .user.id }}: no field 'id' in .user". */
typedef struct mae_eval_err {
    char msg[512];
} mae_eval_err;

/* Evaluates: a whole template gives EXPR's value with its JSON type, any other template a
 * string. *out is a new cJSON tree the caller owns. Returns 0, MAE_ETEMPLATE (err filled:
 * missing field, type error, output over MAE_TMPL_MAX_OUTPUT), or MAE_ENOMEM. */
int mae__tmpl_eval(const mae_tmpl *t, const mae_scope *scope, cJSON **out, mae_eval_err *err);

/* Renders to a string (a whole template's non-string value as compact JSON). When escape is
 * non-NULL each substituted value's text (never the literal text) is passed through it:
 * used to percent-encode path segments. *out is malloc'd, caller frees. */
typedef char *(*mae_escape_fn)(const char *s, size_t len);  /* returns malloc'd, NULL on OOM */
int mae__tmpl_render(const mae_tmpl *t, const mae_scope *scope, mae_escape_fn escape, char **out,
                    mae_eval_err *err);

/* Truthiness for `when`: false, null, 0, "" , [] and {} are false. */
bool mae__json_truthy(const cJSON *v);

/* Every root name the template reads (".user.id" → "user"; ".steps.x.output" → "steps",
 * with sub "x"), for the validator. Names read only under `default` are reported with
 * has_default = true. Offsets point into the source for diagnostics. */
typedef void (*mae_ref_cb)(void *ud, const char *root, const char *sub, bool has_default, size_t offset);
void mae__tmpl_refs(const mae_tmpl *t, mae_ref_cb cb, void *ud);

/* A template tree: the `input:` and `output:` of steps and workflows. YAML scalars keep the
 * type YAML's core schema gives them (plain `3` is a number, quoted "3" a string), and string
 * scalars holding "{{" are templates. */
typedef enum {
    MAE_TV_NULL, MAE_TV_BOOL, MAE_TV_NUMBER, MAE_TV_STRING, MAE_TV_TEMPLATE, MAE_TV_ARRAY,
    MAE_TV_OBJECT
} mae_tv_kind;

typedef struct mae_tval {
    mae_tv_kind kind;
    mae_pos pos;
    const char *key;          /* member name when inside an object */
    mae_pos key_pos;          /* where that name is (typed input checks point at it) */
    bool b;
    double num;
    const char *str;          /* MAE_TV_STRING text; for MAE_TV_NUMBER the literal text */
    mae_tmpl *tmpl;           /* MAE_TV_TEMPLATE */
    struct mae_tval *items;   /* ARRAY / OBJECT children */
    size_t n;
} mae_tval;

/* Renders a tree into a new cJSON value. On error err->msg names the failing template. */
int mae__tval_render(const mae_tval *v, const mae_scope *scope, cJSON **out, mae_eval_err *err);
/* Calls cb for every template in the tree (validation, reference checks). */
void mae__tval_each_tmpl(const mae_tval *v, void (*cb)(void *ud, const mae_tval *node), void *ud);

#endif
