/* JSON text of cJSON trees with exact numbers (see json_out.h for the rules). */
#include "workflow/json_out.h"
#include "workflow/utf8.h"

#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maestro/maestro.h"

typedef mae_jtext jbuf;

static void put_slow(jbuf *b, const char *s, size_t n) {
    if (b->rc) return;
    if (n > b->max - b->len) {
        b->rc = MAE_ELIMIT;
        return;
    }
    if (n + 1 > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 64;
        while (n + 1 > cap - b->len) {
            if (cap > SIZE_MAX / 2) {
                b->rc = MAE_ENOMEM;
                return;
            }
            cap *= 2;
        }
        char *np = realloc(b->p, cap);
        if (!np) {
            b->rc = MAE_ENOMEM;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

/* The common case, room already there, without a call (a foreach prints every item's result). */
static inline void put(jbuf *b, const char *s, size_t n) {
    if (!b->rc && n < b->cap - b->len && n <= b->max - b->len) {
        memcpy(b->p + b->len, s, n);
        b->len += n;
        b->p[b->len] = 0;
        return;
    }
    put_slow(b, s, n);
}

static void puts_(jbuf *b, const char *s) { put(b, s, strlen(s)); }

/* printf's and strtod's decimal point is the locale's; JSON's is '.'. Both sides of the
 * round-trip check use the locale's, so only the finished text needs mending. */
static size_t dot_decimal(char *buf, size_t n) {
    const char *dp = localeconv()->decimal_point;
    if (!dp || (dp[0] == '.' && dp[1] == 0) || !dp[0]) return n;
    char *at = strstr(buf, dp);
    if (!at) return n;
    size_t dl = strlen(dp);
    *at = '.';
    memmove(at + 1, at + dl, n - (size_t)(at - buf) - dl + 1);
    return n - dl + 1;
}

size_t mae__json_num(double d, char buf[MAE_JSON_NUM_MAX]) {
    if (!isfinite(d)) {
        memcpy(buf, "null", 5);
        return 4;
    }
    if (d == 0) {
        strcpy(buf, signbit(d) ? "-0" : "0");
        return strlen(buf);
    }
    int n;
    /* Every integer up to 2^53 is a double: print all its digits, never an exponent. */
    if (fabs(d) <= 0x1p53 && d == trunc(d)) {
        /* Exact as an integer; digits by hand: printf's "%.0f" takes the multi-precision path
         * (about 2,000 instructions, twice per foreach item in an HTTP fan-out). */
        unsigned long long u = d < 0 ? (unsigned long long)-d : (unsigned long long)d;
        char rev[20];
        size_t k = 0, len = 0;
        do rev[k++] = (char)('0' + u % 10);
        while ((u /= 10) != 0);
        if (d < 0) buf[len++] = '-';
        while (k) buf[len++] = rev[--k];
        buf[len] = 0;
        return len;
    }
    /* 15 digits always identify a normal double's shortest text when it has at most 15; 17
     * identify every double. Subnormals carry fewer digits, so they start lower. */
    int prec = fabs(d) < DBL_MIN ? 1 : 15;
    for (;; prec++) {
        n = snprintf(buf, MAE_JSON_NUM_MAX, "%.*g", prec, d);
        if (prec >= 17 || strtod(buf, NULL) == d) break;
    }
    return dot_decimal(buf, (size_t)n);
}

static void put_number(jbuf *b, double d) {
    if (!isfinite(d)) b->lossy = true;
    char t[MAE_JSON_NUM_MAX];
    size_t n = mae__json_num(d, t);
    put(b, t, n);
}

static void put_string(jbuf *b, const char *str) {
    const unsigned char *s = (const unsigned char *)(str ? str : ""), *run = s;
    /* printable ASCII without a quote or backslash (keys, ids): written as it is, at once */
    const unsigned char *q = s;
    while (*q >= 0x20 && *q < 0x80 && *q != '"' && *q != '\\') q++;
    if (!*q) {
        size_t n = (size_t)(q - s);
        if (!b->rc && n + 2 < b->cap - b->len && n + 2 <= b->max - b->len) {
            char *o = b->p + b->len;
            o[0] = '"';
            memcpy(o + 1, s, n);
            o[n + 1] = '"';
            o[n + 2] = 0;
            b->len += n + 2;
            return;
        }
    }
    put(b, "\"", 1);
    while (*s && !b->rc) {
        unsigned char c = *s;
        size_t seq = 1;
        if (c >= 0x80) {
            /* the checks stop at the NUL, which is never a continuation byte */
            if ((seq = mae__utf8_char_len(s, 4)) != 0) {
                s += seq;
                continue;
            }
        } else if (c >= 0x20 && c != '"' && c != '\\') {
            s++;
            continue;
        }
        put(b, (const char *)run, (size_t)(s - run));
        char esc[8];
        switch (c) {
        case '"': strcpy(esc, "\\\""); break;
        case '\\': strcpy(esc, "\\\\"); break;
        case '\n': strcpy(esc, "\\n"); break;
        case '\r': strcpy(esc, "\\r"); break;
        case '\t': strcpy(esc, "\\t"); break;
        case '\b': strcpy(esc, "\\b"); break;
        case '\f': strcpy(esc, "\\f"); break;
        default:
            if (c >= 0x80) {
                strcpy(esc, "\\ufffd");
                b->lossy = true;
            } else {
                snprintf(esc, sizeof esc, "\\u%04x", c);
            }
            break;
        }
        puts_(b, esc);
        run = ++s;
    }
    put(b, (const char *)run, (size_t)(s - run));
    put(b, "\"", 1);
}

static bool is_container(const cJSON *v) {
    int t = v->type & 0xff;
    return t == cJSON_Array || t == cJSON_Object;
}

static void put_scalar(jbuf *b, const cJSON *v) {
    switch (v->type & 0xff) {
    case cJSON_False: put(b, "false", 5); return;
    case cJSON_True: put(b, "true", 4); return;
    case cJSON_Number: put_number(b, v->valuedouble); return;
    case cJSON_String: put_string(b, v->valuestring); return;
    case cJSON_Raw:
        b->lossy = true;
        puts_(b, v->valuestring ? v->valuestring : "");
        return;
    case cJSON_Array: put(b, "[]", 2); return;   /* empty ones: put_tree opens the others */
    case cJSON_Object: put(b, "{}", 2); return;
    case cJSON_NULL: put(b, "null", 4); return;
    default:                                     /* cJSON_Invalid */
        b->lossy = true;
        put(b, "null", 4);
        return;
    }
}

/* Starts an item at depth: line break and indent when pretty, then "key": inside objects. */
static void put_item_start(jbuf *b, const cJSON *parent, const cJSON *v, size_t depth, bool pretty) {
    if (pretty) {
        put(b, "\n", 1);
        for (size_t i = 0; i < depth && !b->rc; i++) put(b, "  ", 2);
    }
    if ((parent->type & 0xff) == cJSON_Object) {
        put_string(b, v->string);
        put(b, pretty ? ": " : ":", pretty ? 2 : 1);
    }
}

/* Depth-first walk with an explicit stack of the open containers; the first levels on the C
 * stack (a foreach prints every item's result: no malloc for a small one). */
static void put_tree(jbuf *b, const cJSON *root, bool pretty) {
    const cJSON *local[16], **st = local;
    size_t depth = 0, cap = sizeof local / sizeof *local;
    const cJSON *v = root;
    while (!b->rc) {
        if (is_container(v) && v->child) {
            if (depth == cap) {
                size_t nc = cap * 2;
                const cJSON **ns = st == local ? malloc(nc * sizeof *ns) : realloc(st, nc * sizeof *ns);
                if (!ns) {
                    b->rc = MAE_ENOMEM;
                    break;
                }
                if (st == local) memcpy(ns, local, sizeof local);
                st = ns;
                cap = nc;
            }
            put(b, (v->type & 0xff) == cJSON_Object ? "{" : "[", 1);
            st[depth++] = v;
            v = v->child;
            put_item_start(b, st[depth - 1], v, depth, pretty);
            continue;
        }
        put_scalar(b, v);
        /* close every container whose last item this was */
        while (depth && !v->next) {
            v = st[--depth];
            if (pretty) {
                put(b, "\n", 1);
                for (size_t i = 0; i < depth && !b->rc; i++) put(b, "  ", 2);
            }
            put(b, (v->type & 0xff) == cJSON_Object ? "}" : "]", 1);
        }
        if (!depth) break;
        v = v->next;
        put(b, ",", 1);
        put_item_start(b, st[depth - 1], v, depth, pretty);
    }
    if (st != local) free(st);
}

static int print(const cJSON *v, size_t max, bool pretty, char **out, size_t *len) {
    jbuf b = {0};
    b.max = max;
    *out = NULL;
    put(&b, "", 0);  /* an allocated, terminated buffer even for empty output */
    if (v) put_tree(&b, v, pretty);
    else put(&b, "null", 4);
    if (b.rc) {
        free(b.p);
        return b.rc;
    }
    *out = b.p;
    if (len) *len = b.len;
    return 0;
}

int mae__json_print(const cJSON *v, size_t max, char **out, size_t *len) {
    return print(v, max, false, out, len);
}

int mae__json_print_pretty(const cJSON *v, size_t max, char **out, size_t *len) {
    return print(v, max, true, out, len);
}

char *mae__json_text(const cJSON *v) {
    char *s = NULL;
    return print(v, MAE_JSON_UNBOUNDED, false, &s, NULL) == 0 ? s : NULL;
}

void mae__jtext_raw(mae_jtext *b, const char *s, size_t n) { put(b, s, n); }

void mae__jtext_str(mae_jtext *b, const char *s) { put_string(b, s); }

void mae__jtext_num(mae_jtext *b, double d) { put_number(b, d); }

void mae__jtext_value(mae_jtext *b, const cJSON *v) {
    if (v) put_tree(b, v, false);
    else put(b, "null", 4);
}

static void text_pos(const char *text, const char *at, int *line, int *col) {
    *line = 1;
    *col = 1;
    for (const char *p = text; p < at && *p; p++) {
        if (*p == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

int mae__json_parse_doc(const char *text, cJSON **out, char *err, size_t errlen) {
    const char *end = NULL;
    *out = NULL;
    if (errlen) err[0] = 0;
    /* parse the value alone first, so "valid value, then junk" is told apart from bad JSON */
    cJSON *v = cJSON_ParseWithOpts(text, &end, false);
    int line, col;
    if (!v) {
        text_pos(text, end ? end : text, &line, &col);
        snprintf(err, errlen, "line %d, column %d: not valid JSON", line, col);
        return MAE_EPARSE;
    }
    while (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r') end++;
    if (*end) {
        text_pos(text, end, &line, &col);
        snprintf(err, errlen, "line %d, column %d: unexpected text after the JSON value", line, col);
        cJSON_Delete(v);
        return MAE_EPARSE;
    }
    *out = v;
    return 0;
}
