/* Internals of template expressions (docs/workflow-language.md#expressions): the token stream, the
 * AST the parser builds in the caller's arena, and the evaluator's entry point. Shared by
 * expr_lex.c, expr_parse.c, expr_eval.c, expr_func.c and template.c only; not a public API. Nothing
 * here does I/O except the `env` function reading the environment. */
#ifndef MAE_EXPR_H
#define MAE_EXPR_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "workflow/arena.h"
#include "workflow/template.h"

/* Bound on the depth of the whole tree (operator chains like a+b+c+... grow it by one per
 * operand); nesting by parentheses/unary/arguments is bounded by MAE_TMPL_MAX_DEPTH. Keeps the
 * recursive evaluator's stack use small whatever the input. */
#define MAE_EXPR_MAX_TREE 256

/* ---- tokens ---- */
typedef enum {
    TK_EOF, TK_CLOSE /* }} */, TK_FIELD /* .name */, TK_IDENT, TK_STRING, TK_NUMBER,
    TK_LPAREN, TK_RPAREN, TK_LBRACK, TK_RBRACK, TK_PIPE,
    TK_OR, TK_AND, TK_NOT, TK_EQ, TK_NE, TK_LT, TK_LE, TK_GT, TK_GE,
    TK_PLUS, TK_MINUS, TK_STAR, TK_SLASH, TK_PERCENT,
    TK_ERROR
} mae_tok_kind;

typedef struct mae_tok {
    mae_tok_kind kind;
    size_t off, end;        /* source span */
    const char *text;       /* FIELD/IDENT: name start (not NUL-terminated); STRING: decoded, arena */
    size_t len;
    double num;             /* NUMBER */
    const char *errmsg;     /* ERROR */
} mae_tok;

typedef struct mae_lexer {
    mae_arena *arena;
    const char *src;
    size_t len, pos;
} mae_lexer;

/* Next token from lx->pos. Decoded strings go into the arena (NULL text + TK_ERROR "out of
 * memory" when it is exhausted). */
mae_tok mae__lex_next(mae_lexer *lx);

/* ---- AST ---- */
typedef enum {
    EX_LIT, EX_PATH, EX_NOT, EX_NEG, EX_BIN, EX_AND, EX_OR, EX_CALL
} mae_ex_kind;

typedef enum {
    OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MOD
} mae_ex_op;

typedef enum { FN_DEFAULT, FN_LEN, FN_UPPER, FN_LOWER, FN_JSON, FN_JOIN, FN_ENV, FN_BASE64 } mae_fn;

typedef enum { LIT_NULL, LIT_BOOL, LIT_NUM, LIT_STR } mae_lit_kind;

typedef struct mae_expr mae_expr;

typedef struct mae_seg {
    const char *name;       /* a .field (NUL-terminated, arena); NULL for [index] */
    mae_expr *index;        /* [EXPR] */
    size_t off, end;        /* source span of the segment */
} mae_seg;

struct mae_expr {
    mae_ex_kind kind;
    int op;                 /* mae_ex_op for EX_BIN, mae_fn for EX_CALL, mae_lit_kind for EX_LIT */
    size_t off, end;        /* source span */
    int depth;              /* height of this subtree */
    /* EX_LIT */
    bool bval;
    double num;
    const char *str;
    /* EX_PATH: root name (NULL when the base is an expression, as in (EXPR).x) */
    const char *root;
    mae_expr *base;
    mae_seg *segs;
    size_t nsegs;
    /* EX_NOT, EX_NEG: a; EX_BIN, EX_AND, EX_OR: a and b */
    mae_expr *a, *b;
    /* EX_CALL */
    mae_expr **args;
    size_t nargs;
};

/* Parses one expression starting at src[start] (just after the "{{" at offset open) up to and
 * including its "}}". On success *end is the offset after "}}". Returns 0, MAE_EPARSE (err
 * filled, offset into src) or MAE_ENOMEM. */
int mae__expr_parse(mae_arena *a, const char *src, size_t len, size_t open, size_t start,
                    mae_expr **out, size_t *end, mae_tmpl_err *err);

const char *mae__fn_name(mae_fn fn);

/* ---- evaluation ---- */

/* A value during evaluation: v borrowed from the scope's data or owned (freed by the holder).
 * v == NULL means "missing", which only happens under `default` (lenient mode). */
typedef struct mae_val {
    cJSON *v;
    bool owned;
} mae_val;

typedef struct mae_ectx {
    const mae_scope *scope;
    const char *src;        /* the template's source */
    size_t part_off, part_end;  /* the {{ ... }} being evaluated, for messages */
    mae_eval_err *err;
    int lenient;            /* > 0 inside the value argument of `default` */
} mae_ectx;

/* Returns 0, MAE_ETEMPLATE (ctx->err filled) or MAE_ENOMEM. */
int mae__expr_eval(mae_ectx *cx, const mae_expr *e, mae_val *out);
int mae__call_eval(mae_ectx *cx, const mae_expr *e, mae_val *out);
void mae__val_free(mae_val *v);
/* Sets ctx->err: "<{{ part }}>: <formatted detail>"; returns MAE_ETEMPLATE. */
int mae__eval_fail(mae_ectx *cx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "a number", "an object", ... for messages. */
const char *mae__type_name(const cJSON *v);
/* The text a value contributes to interpolation: strings raw, others compact JSON.
 * *text is malloc'd. Returns 0, MAE_ETEMPLATE (over MAE_TMPL_MAX_OUTPUT) or MAE_ENOMEM. */
int mae__val_text(mae_ectx *cx, const cJSON *v, char **text, size_t *len);
bool mae__json_equal(const cJSON *a, const cJSON *b);

#endif
