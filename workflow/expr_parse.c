/* Recursive-descent parser for template expressions into an arena AST. Grammar, loosest first:
 *   pipeline := or ( '|' FUNC arg* )*          piped value becomes the call's last argument
 *   or := and ( ('||'|'or') and )*             and := eq ( ('&&'|'and') eq )*
 *   eq := rel ( ('=='|'!=') rel )*             rel := add ( ('<'|'<='|'>'|'>=') add )*
 *   add := mul ( ('+'|'-') mul )*              mul := unary ( ('*'|'/'|'%') unary )*
 *   unary := ('!'|'not'|'-') unary | FUNC arg* | postfix
 *   arg := postfix                             postfix := primary ( .name | '[' pipeline ']' )*
 *   primary := .name | 'str' | "str" | NUMBER | true | false | null | '(' pipeline ')'
 * A .name continues a path only when written right after it (".a.b"); ".a .b" are two values, as
 * in Go templates' `default .fallback .x`. Nesting and tree height are bounded (see expr.h). */
#include <stdio.h>
#include <string.h>

#include "maestro/maestro.h"
#include "workflow/expr.h"
#include "workflow/load_int.h"

typedef struct parser {
    mae_arena *a;
    mae_lexer lx;
    mae_tok tok;
    size_t prev_end;    /* end of the token before tok */
    size_t open;        /* offset of the "{{" */
    int nest;
    int rc;
    mae_tmpl_err *err;
} parser;

static const struct { const char *name; int arity; } fns[] = {
    [FN_DEFAULT] = {"default", 2}, [FN_LEN] = {"len", 1},   [FN_UPPER] = {"upper", 1},
    [FN_LOWER] = {"lower", 1},     [FN_JSON] = {"json", 1}, [FN_JOIN] = {"join", 2},
    [FN_ENV] = {"env", 1},
};

const char *mae__fn_name(mae_fn fn) { return fns[fn].name; }

static void advance(parser *p) {
    p->prev_end = p->tok.end;
    p->tok = mae__lex_next(&p->lx);
}

static void *nomem(parser *p) {
    if (!p->rc) p->rc = MAE_ENOMEM;
    return NULL;
}

static void *fail(parser *p, size_t off, const char *fmt, const char *arg) {
    if (p->rc) return NULL;
    /* A bad token (or the arena running out while decoding it) is the root cause. */
    if (p->tok.kind == TK_ERROR) {
        if (!strcmp(p->tok.errmsg, "out of memory")) return nomem(p);
        off = p->tok.off;
        fmt = "%s";
        arg = p->tok.errmsg;
    }
    p->rc = MAE_EPARSE;
    p->err->offset = off;
    snprintf(p->err->msg, sizeof p->err->msg, fmt, arg);
    return NULL;
}

/* An error at the current token, with the lexer's and end-of-input cases told apart. */
static void *fail_tok(parser *p, const char *what) {
    if (p->tok.kind == TK_EOF)
        return fail(p, p->open, "'{{' has no closing '}}'%s", "");
    if (p->tok.kind == TK_ERROR) return fail(p, p->tok.off, "%s", p->tok.errmsg);
    if (p->tok.kind == TK_CLOSE) return fail(p, p->tok.off, "expected %s before '}}'", what);
    char buf[160];
    size_t n = p->tok.end - p->tok.off;
    if (n > 40) n = 40;
    snprintf(buf, sizeof buf, "expected %s, found '%.*s'", what, (int)n, p->lx.src + p->tok.off);
    return fail(p, p->tok.off, "%s", buf);
}

static mae_expr *node(parser *p, mae_ex_kind k, size_t off, size_t end) {
    mae_expr *e = mae__arena_alloc(p->a, sizeof *e);
    if (!e) return nomem(p);
    e->kind = k;
    e->off = off;
    e->end = end;
    e->depth = 1;
    return e;
}

/* Height bookkeeping after children are attached. */
static mae_expr *grown(parser *p, mae_expr *e, const mae_expr *child) {
    if (child && child->depth + 1 > e->depth) e->depth = child->depth + 1;
    if (e->depth > MAE_EXPR_MAX_TREE)
        return fail(p, e->off, "expression too complex (more than %s levels)", "256");
    return e;
}

static bool enter(parser *p) {
    if (++p->nest > MAE_TMPL_MAX_DEPTH) {
        fail(p, p->tok.off, "expression nested too deeply (limit %s)", "64");
        return false;
    }
    return true;
}

static mae_expr *parse_pipeline(parser *p);

static bool is_word(const mae_tok *t, const char *w) {
    return t->kind == TK_IDENT && t->len == strlen(w) && !memcmp(t->text, w, t->len);
}

static mae_expr *parse_primary(parser *p) {
    mae_tok t = p->tok;
    mae_expr *e;
    switch (t.kind) {
    case TK_FIELD:
        if (!(e = node(p, EX_PATH, t.off, t.end))) return NULL;
        if (!(e->root = mae__arena_strndup(p->a, t.text, t.len))) return nomem(p);
        advance(p);
        return e;
    case TK_STRING:
        if (!(e = node(p, EX_LIT, t.off, t.end))) return NULL;
        e->op = LIT_STR;
        e->str = t.text;
        advance(p);
        return e;
    case TK_NUMBER:
        if (!(e = node(p, EX_LIT, t.off, t.end))) return NULL;
        e->op = LIT_NUM;
        e->num = t.num;
        advance(p);
        return e;
    case TK_IDENT:
        if (is_word(&t, "true") || is_word(&t, "false") || is_word(&t, "null")) {
            if (!(e = node(p, EX_LIT, t.off, t.end))) return NULL;
            e->op = t.text[0] == 'n' ? LIT_NULL : LIT_BOOL;
            e->bval = t.text[0] == 't';
            advance(p);
            return e;
        }
        return fail_tok(p, "a value");
    case TK_LPAREN:
        if (!enter(p)) return NULL;
        advance(p);
        if (!(e = parse_pipeline(p))) return NULL;
        if (p->tok.kind != TK_RPAREN) return fail_tok(p, "')'");
        e->off = t.off;
        e->end = p->tok.end;
        advance(p);
        p->nest--;
        return e;
    default:
        return fail_tok(p, "a value");
    }
}

static mae_expr *parse_postfix(parser *p) {
    mae_expr *base = parse_primary(p);
    if (!base) return NULL;
    bool adj_field = p->tok.kind == TK_FIELD && p->tok.off == p->prev_end;
    if (!adj_field && p->tok.kind != TK_LBRACK) return base;
    mae_expr *e = base;
    if (base->kind != EX_PATH || !base->root) {
        if (!(e = node(p, EX_PATH, base->off, base->end))) return NULL;
        e->base = base;
        if (!grown(p, e, base)) return NULL;
    }
    size_t cap = 0;
    for (;;) {
        mae_seg seg = {0};
        seg.off = p->tok.off;
        if (p->tok.kind == TK_FIELD && p->tok.off == p->prev_end) {
            if (!(seg.name = mae__arena_strndup(p->a, p->tok.text, p->tok.len))) return nomem(p);
            seg.end = p->tok.end;
            advance(p);
        } else if (p->tok.kind == TK_LBRACK) {
            if (!enter(p)) return NULL;
            advance(p);
            if (!(seg.index = parse_pipeline(p))) return NULL;
            if (p->tok.kind != TK_RBRACK) return fail_tok(p, "']'");
            seg.end = p->tok.end;
            advance(p);
            p->nest--;
            if (!grown(p, e, seg.index)) return NULL;
        } else {
            break;
        }
        if (e->nsegs == cap) {
            size_t ncap = cap ? cap * 2 : 4;
            mae_seg *ns = mae__arena_alloc(p->a, ncap * sizeof *ns);
            if (!ns) return nomem(p);
            if (cap) memcpy(ns, e->segs, cap * sizeof *ns);
            e->segs = ns;
            cap = ncap;
        }
        e->segs[e->nsegs++] = seg;
        e->end = seg.end;
    }
    return e;
}

static bool starts_arg(const mae_tok *t) {
    return t->kind == TK_FIELD || t->kind == TK_STRING || t->kind == TK_NUMBER ||
           t->kind == TK_LPAREN || is_word(t, "true") || is_word(t, "false") || is_word(t, "null");
}

/* FUNC arg*: piped (may be NULL) is appended as the last argument. */
static mae_expr *parse_call(parser *p, mae_expr *piped) {
    mae_tok t = p->tok;
    int fn = -1;
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
        if (t.len == strlen(fns[i].name) && !memcmp(t.text, fns[i].name, t.len)) fn = (int)i;
    if (fn < 0) {
        char name[64];
        size_t n = t.len < sizeof name - 1 ? t.len : sizeof name - 1;
        memcpy(name, t.text, n);
        name[n] = 0;
        const char *names[sizeof fns / sizeof fns[0]];
        for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) names[i] = fns[i].name;
        const char *hint = mae__ld_suggest(name, names, sizeof fns / sizeof fns[0]);
        char msg[160];
        if (hint) snprintf(msg, sizeof msg, "unknown function '%s' (did you mean '%s'?)", name, hint);
        else snprintf(msg, sizeof msg, "unknown function '%s'", name);
        return fail(p, t.off, "%s", msg);
    }
    mae_expr *e = node(p, EX_CALL, piped ? piped->off : t.off, t.end);
    if (!e) return NULL;
    e->op = fn;
    advance(p);
    mae_expr *args[3];
    size_t n = 0;
    while (starts_arg(&p->tok)) {
        if (!enter(p)) return NULL;
        mae_expr *a = parse_postfix(p);
        p->nest--;
        if (!a) return NULL;
        if (n + (piped != NULL) >= (size_t)fns[fn].arity)
            return fail(p, a->off, "too many arguments to %s", fns[fn].name);
        args[n++] = a;
        e->end = a->end;
    }
    if (piped) args[n++] = piped;
    if (n != (size_t)fns[fn].arity) {
        char buf[96];
        snprintf(buf, sizeof buf, "%s takes %d argument%s, got %zu", fns[fn].name, fns[fn].arity,
                 fns[fn].arity == 1 ? "" : "s", n);
        return fail(p, t.off, "%s", buf);
    }
    if (!(e->args = mae__arena_alloc(p->a, n * sizeof *e->args))) return nomem(p);
    for (size_t i = 0; i < n; i++) {
        e->args[i] = args[i];
        if (!grown(p, e, args[i])) return NULL;
    }
    e->nargs = n;
    return e;
}

static mae_expr *parse_unary(parser *p) {
    mae_tok t = p->tok;
    if (t.kind == TK_NOT || t.kind == TK_MINUS) {
        if (!enter(p)) return NULL;
        advance(p);
        mae_expr *a = parse_unary(p);
        if (!a) return NULL;
        p->nest--;
        mae_expr *e = node(p, t.kind == TK_NOT ? EX_NOT : EX_NEG, t.off, a->end);
        if (!e) return NULL;
        e->a = a;
        return grown(p, e, a);
    }
    if (t.kind == TK_IDENT && !is_word(&t, "true") && !is_word(&t, "false") && !is_word(&t, "null"))
        return parse_call(p, NULL);
    return parse_postfix(p);
}

static mae_expr *binary(parser *p, mae_ex_kind k, int op, mae_expr *a, mae_expr *b) {
    mae_expr *e = node(p, k, a->off, b->end);
    if (!e) return NULL;
    e->op = op;
    e->a = a;
    e->b = b;
    if (!grown(p, e, a)) return NULL;
    return grown(p, e, b);
}

static int binop_of(mae_tok_kind k, int level) {
    switch (level) {
    case 0: return k == TK_EQ ? OP_EQ : k == TK_NE ? OP_NE : -1;
    case 1: return k == TK_LT ? OP_LT : k == TK_LE ? OP_LE : k == TK_GT ? OP_GT : k == TK_GE ? OP_GE : -1;
    case 2: return k == TK_PLUS ? OP_ADD : k == TK_MINUS ? OP_SUB : -1;
    default: return k == TK_STAR ? OP_MUL : k == TK_SLASH ? OP_DIV : k == TK_PERCENT ? OP_MOD : -1;
    }
}

/* Levels 0..3: == != / < <= > >= / + - / * / %. */
static mae_expr *parse_binary(parser *p, int level) {
    mae_expr *a = level < 3 ? parse_binary(p, level + 1) : parse_unary(p);
    int op;
    while (a && (op = binop_of(p->tok.kind, level)) >= 0) {
        advance(p);
        mae_expr *b = level < 3 ? parse_binary(p, level + 1) : parse_unary(p);
        if (!b) return NULL;
        a = binary(p, EX_BIN, op, a, b);
    }
    return a;
}

static mae_expr *parse_and(parser *p) {
    mae_expr *a = parse_binary(p, 0);
    while (a && p->tok.kind == TK_AND) {
        advance(p);
        mae_expr *b = parse_binary(p, 0);
        if (!b) return NULL;
        a = binary(p, EX_AND, 0, a, b);
    }
    return a;
}

static mae_expr *parse_or(parser *p) {
    mae_expr *a = parse_and(p);
    while (a && p->tok.kind == TK_OR) {
        advance(p);
        mae_expr *b = parse_and(p);
        if (!b) return NULL;
        a = binary(p, EX_OR, 0, a, b);
    }
    return a;
}

static mae_expr *parse_pipeline(parser *p) {
    mae_expr *e = parse_or(p);
    while (e && p->tok.kind == TK_PIPE) {
        advance(p);
        if (p->tok.kind != TK_IDENT) return fail_tok(p, "a function name after '|'");
        e = parse_call(p, e);
    }
    return e;
}

int mae__expr_parse(mae_arena *a, const char *src, size_t len, size_t open, size_t start,
                    mae_expr **out, size_t *end, mae_tmpl_err *err) {
    parser p = {0};
    p.a = a;
    p.lx.arena = a;
    p.lx.src = src;
    p.lx.len = len;
    p.lx.pos = start;
    p.open = open;
    p.err = err;
    p.prev_end = start;
    p.tok = mae__lex_next(&p.lx);
    if (p.tok.kind == TK_CLOSE) {
        err->offset = p.tok.off;
        snprintf(err->msg, sizeof err->msg, "empty expression");
        return MAE_EPARSE;
    }
    mae_expr *e = parse_pipeline(&p);
    if (e && p.tok.kind != TK_CLOSE) fail_tok(&p, "an operator or '}}'");
    if (p.rc) return p.rc;
    *out = e;
    *end = p.tok.end;
    return 0;
}
