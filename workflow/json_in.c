/* Reads back json_out.c's compact text (see json_in.h): an explicit stack of open containers,
 * each node built as cJSON's parser builds it (children linked both ways, the first child's prev
 * the last, true's valueint 1, valueint saturated as cJSON_SetNumberHelper does). */
#include "workflow/json_in.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

enum { OK, OTHER, NOMEM };   /* OTHER: not the shape read here, cJSON reads it */

static cJSON *node(int type) {
    cJSON *n = cJSON_malloc(sizeof *n);
    if (n) {
        memset(n, 0, sizeof *n);
        n->type = type;
    }
    return n;
}

/* The string opening at **pp ('"'), unescaped into cJSON's allocator; *pp past its end. */
static int read_str(const char **pp, const char *end, char **out) {
    const char *p = *pp + 1, *s = p;
    size_t esc = 0;
    for (;; p++) {
        if (p == end) return OTHER;
        unsigned char c = (unsigned char)*p;
        if (c == '"') break;
        if (c < 0x20) return OTHER;
        if (c == '\\') {
            if (++p == end) return OTHER;
            switch (*p) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't': break;
            default: return OTHER;   /* \u */
            }
            esc++;
        }
    }
    size_t n = (size_t)(p - s) - esc;
    char *o = cJSON_malloc(n + 1);
    if (!o) return NOMEM;
    if (!esc) {
        memcpy(o, s, n);
    } else {
        char *w = o;
        for (const char *q = s; q < p; q++) {
            if (*q != '\\') {
                *w++ = *q;
                continue;
            }
            switch (*++q) {
            case 'b': *w++ = '\b'; break;
            case 'f': *w++ = '\f'; break;
            case 'n': *w++ = '\n'; break;
            case 'r': *w++ = '\r'; break;
            case 't': *w++ = '\t'; break;
            default: *w++ = *q; break;   /* " \ / */
            }
        }
    }
    o[n] = 0;
    *out = o;
    *pp = p + 1;
    return OK;
}

/* An integer of at most 15 digits (exact as a double, as strtod reads it); others are OTHER. */
static int read_int(const char **pp, const char *end, cJSON *v) {
    const char *p = *pp;
    bool neg = p < end && *p == '-';
    if (neg) p++;
    const char *d = p;
    uint64_t u = 0;
    while (p < end && *p >= '0' && *p <= '9' && p - d < 16) u = u * 10 + (uint64_t)(*p++ - '0');
    size_t nd = (size_t)(p - d);
    if (nd == 0 || nd > 15 || (nd > 1 && *d == '0')) return OTHER;
    if (p < end && *p != ',' && *p != ']' && *p != '}') return OTHER;
    double x = neg ? -(double)u : (double)u;
    v->type = cJSON_Number;
    v->valuedouble = x;
    v->valueint = x >= INT_MAX ? INT_MAX : x <= (double)INT_MIN ? INT_MIN : (int)x;
    *pp = p;
    return OK;
}

static bool lit(const char *p, const char *end, const char *w, size_t n) {
    return (size_t)(end - p) >= n && memcmp(p, w, n) == 0;
}

/* One value at **pp into v (a container only opened: its items come next). */
static int read_value(const char **pp, const char *end, cJSON *v) {
    const char *p = *pp;
    if (p == end) return OTHER;
    switch (*p) {
    case '{': v->type = cJSON_Object; *pp = p + 1; return OK;
    case '[': v->type = cJSON_Array; *pp = p + 1; return OK;
    case '"': v->type = cJSON_String; return read_str(pp, end, &v->valuestring);
    case 't':
        if (!lit(p, end, "true", 4)) return OTHER;
        v->type = cJSON_True;
        v->valueint = 1;
        *pp = p + 4;
        return OK;
    case 'f':
        if (!lit(p, end, "false", 5)) return OTHER;
        v->type = cJSON_False;
        *pp = p + 5;
        return OK;
    case 'n':
        if (!lit(p, end, "null", 4)) return OTHER;
        v->type = cJSON_NULL;
        *pp = p + 4;
        return OK;
    default: return read_int(pp, end, v);
    }
}

static int read_tree(const char *p, const char *end, cJSON **out) {
    cJSON *open[MAE_JSON_IN_DEPTH], *last[MAE_JSON_IN_DEPTH];
    size_t depth = 0;
    cJSON *root = NULL;
    int rc = OK;
    for (;;) {
        cJSON *v = node(cJSON_Invalid);
        if (!v) {
            rc = NOMEM;
            break;
        }
        /* linked in at once, so that cleaning up frees it with the rest */
        if (!depth) {
            root = v;
        } else {
            cJSON *parent = open[depth - 1];
            if (!parent->child) {
                parent->child = v;
            } else {
                last[depth - 1]->next = v;
                v->prev = last[depth - 1];
            }
            parent->child->prev = v;
            last[depth - 1] = v;
            if (parent->type == cJSON_Object) {
                if (p == end || *p != '"') {
                    rc = OTHER;
                    break;
                }
                if ((rc = read_str(&p, end, &v->string)) != OK) break;
                if (p == end || *p != ':') {
                    rc = OTHER;
                    break;
                }
                p++;
            }
        }
        if ((rc = read_value(&p, end, v)) != OK) break;
        if (v->type == cJSON_Object || v->type == cJSON_Array) {
            char close = v->type == cJSON_Object ? '}' : ']';
            if (p < end && *p == close) {
                p++;                          /* empty */
            } else if (depth == MAE_JSON_IN_DEPTH) {
                rc = OTHER;
                break;
            } else {
                open[depth] = v;
                last[depth++] = NULL;
                continue;
            }
        }
        /* after a value: the next item, or the end of the containers it closes */
        while (depth && p < end && *p != ',') {
            if (*p != (open[depth - 1]->type == cJSON_Object ? '}' : ']')) break;
            p++;
            depth--;
        }
        if (!depth) {
            if (p != end) rc = OTHER;
            break;
        }
        if (p == end || *p != ',') {
            rc = OTHER;
            break;
        }
        p++;
    }
    if (rc != OK) {
        cJSON_Delete(root);
        root = NULL;
    }
    *out = root;
    return rc;
}

cJSON *mae__json_read_back(const char *text, size_t len) {
    cJSON *v = NULL;
    if (!text) return NULL;
    if (read_tree(text, text + len, &v) == OTHER) return cJSON_ParseWithLength(text, len);
    return v;
}
