/* Lexer for template expressions: turns the text after "{{" into tokens up to "}}". Pure; string
 * literals are decoded into the arena. Never reads past len; NUL bytes are rejected. */
#include <stdlib.h>
#include <string.h>

#include "workflow/expr.h"

static bool is_name_start(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
static bool is_name_char(unsigned char c) {
    return is_name_start(c) || (c >= '0' && c <= '9');
}
static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static mae_tok tok_err(size_t off, const char *msg) {
    mae_tok t = {0};
    t.kind = TK_ERROR;
    t.off = t.end = off;
    t.errmsg = msg;
    return t;
}

/* Single quotes: raw text up to the next '. Double quotes: \" \\ \n \t \r \/ escapes. */
static mae_tok lex_string(mae_lexer *lx, size_t start) {
    const char *s = lx->src;
    char q = s[start];
    size_t i = start + 1, n = 0;
    /* First pass: find the end and the decoded length. */
    for (;;) {
        if (i >= lx->len) return tok_err(start, "unterminated string");
        char c = s[i];
        if (c == q) break;
        if (c == '\\' && q == '"') {
            if (i + 1 >= lx->len) return tok_err(start, "unterminated string");
            if (!strchr("\"\\ntr/", s[i + 1]) || s[i + 1] == 0)
                return tok_err(i, "unknown escape in string (use \\\" \\\\ \\n \\t \\r \\/)");
            i += 2;
        } else {
            i++;
        }
        n++;
    }
    char *d = mae__arena_alloc(lx->arena, n + 1);
    if (!d) return tok_err(start, "out of memory");
    size_t k = 0;
    for (size_t j = start + 1; j < i;) {
        char c = s[j];
        if (c == '\\' && q == '"') {
            char e = s[j + 1];
            d[k++] = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
            j += 2;
        } else {
            d[k++] = c;
            j++;
        }
    }
    d[k] = 0;
    mae_tok t = {0};
    t.kind = TK_STRING;
    t.off = start;
    t.end = i + 1;
    t.text = d;
    t.len = k;
    lx->pos = i + 1;
    return t;
}

static mae_tok lex_number(mae_lexer *lx, size_t start) {
    const char *s = lx->src;
    size_t i = start;
    while (i < lx->len && is_digit((unsigned char)s[i])) i++;
    if (i + 1 < lx->len && s[i] == '.' && is_digit((unsigned char)s[i + 1])) {
        i++;
        while (i < lx->len && is_digit((unsigned char)s[i])) i++;
    }
    if (i < lx->len && (s[i] == 'e' || s[i] == 'E')) {
        size_t j = i + 1;
        if (j < lx->len && (s[j] == '+' || s[j] == '-')) j++;
        if (j < lx->len && is_digit((unsigned char)s[j])) {
            while (j < lx->len && is_digit((unsigned char)s[j])) j++;
            i = j;
        }
    }
    if (i < lx->len && (is_name_char((unsigned char)s[i]) || s[i] == '.'))
        return tok_err(start, "malformed number");
    /* strtod needs a terminated copy; numbers longer than this are not meaningful. */
    char buf[128];
    if (i - start >= sizeof buf) return tok_err(start, "number too long");
    memcpy(buf, s + start, i - start);
    buf[i - start] = 0;
    double v = strtod(buf, NULL);
    if (v - v != 0) return tok_err(start, "number out of range");
    mae_tok t = {0};
    t.kind = TK_NUMBER;
    t.off = start;
    t.end = i;
    t.num = v;
    lx->pos = i;
    return t;
}

mae_tok mae__lex_next(mae_lexer *lx) {
    const char *s = lx->src;
    size_t i = lx->pos;
    while (i < lx->len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
    mae_tok t = {0};
    t.off = i;
    if (i >= lx->len) {
        t.kind = TK_EOF;
        t.end = i;
        lx->pos = i;
        return t;
    }
    unsigned char c = (unsigned char)s[i];
    unsigned char c2 = i + 1 < lx->len ? (unsigned char)s[i + 1] : 0;
    if (c == '"' || c == '\'') return lex_string(lx, i);
    if (is_digit(c)) return lex_number(lx, i);
    if (c == '.') {
        size_t j = i + 1;
        while (j < lx->len && is_name_char((unsigned char)s[j])) j++;
        if (j == i + 1) return tok_err(i, "expected a name after '.'");
        t.kind = TK_FIELD;
        t.text = s + i + 1;
        t.len = j - i - 1;
        t.end = j;
        lx->pos = j;
        return t;
    }
    if (is_name_start(c)) {
        size_t j = i;
        while (j < lx->len && is_name_char((unsigned char)s[j])) j++;
        t.kind = TK_IDENT;
        t.text = s + i;
        t.len = j - i;
        t.end = j;
        lx->pos = j;
        /* The word operators. */
        if (t.len == 3 && !memcmp(t.text, "and", 3)) t.kind = TK_AND;
        else if (t.len == 2 && !memcmp(t.text, "or", 2)) t.kind = TK_OR;
        else if (t.len == 3 && !memcmp(t.text, "not", 3)) t.kind = TK_NOT;
        return t;
    }
    size_t w = 2;
    switch (c) {
    case '}': if (c2 == '}') { t.kind = TK_CLOSE; break; } return tok_err(i, "unexpected '}'");
    case '|': if (c2 == '|') t.kind = TK_OR; else { t.kind = TK_PIPE; w = 1; } break;
    case '&': if (c2 == '&') { t.kind = TK_AND; break; } return tok_err(i, "unexpected '&' (use &&)");
    case '=': if (c2 == '=') { t.kind = TK_EQ; break; } return tok_err(i, "unexpected '=' (use ==)");
    case '!': if (c2 == '=') t.kind = TK_NE; else { t.kind = TK_NOT; w = 1; } break;
    case '<': if (c2 == '=') t.kind = TK_LE; else { t.kind = TK_LT; w = 1; } break;
    case '>': if (c2 == '=') t.kind = TK_GE; else { t.kind = TK_GT; w = 1; } break;
    case '(': t.kind = TK_LPAREN; w = 1; break;
    case ')': t.kind = TK_RPAREN; w = 1; break;
    case '[': t.kind = TK_LBRACK; w = 1; break;
    case ']': t.kind = TK_RBRACK; w = 1; break;
    case '+': t.kind = TK_PLUS; w = 1; break;
    case '-': t.kind = TK_MINUS; w = 1; break;
    case '*': t.kind = TK_STAR; w = 1; break;
    case '/': t.kind = TK_SLASH; w = 1; break;
    case '%': t.kind = TK_PERCENT; w = 1; break;
    default: return tok_err(i, c == 0 ? "NUL byte in expression" : "unexpected character");
    }
    t.end = i + w;
    lx->pos = i + w;
    return t;
}
