/* Compact JSON text of a cJSON value, bounded: the text templates substitute for non-string
 * values and what `json` returns. Own printer because cJSON's prints 2^53 as
 * 9.00719925474099e+15; here integers up to 1e17 print exactly, other numbers with the shortest
 * of %.15g/%.16g/%.17g that reads back to the same double. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maestro/maestro.h"
#include "workflow/template.h"

typedef struct jbuf {
    char *p;
    size_t len, cap, max;
    int rc;
} jbuf;

static void put(jbuf *b, const char *s, size_t n) {
    if (b->rc) return;
    if (n > b->max - b->len) {
        b->rc = MAE_ELIMIT;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (b->len + n + 1 > cap) cap *= 2;
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

static void put_number(jbuf *b, double d) {
    char t[64];
    if (isnan(d) || isinf(d)) {
        put(b, "null", 4);
        return;
    }
    if (d == floor(d) && fabs(d) < 1e17) {
        snprintf(t, sizeof t, "%.0f", d == 0 ? 0.0 : d);
    } else {
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(t, sizeof t, "%.*g", prec, d);
            if (strtod(t, NULL) == d) break;
        }
    }
    put(b, t, strlen(t));
}

static void put_string(jbuf *b, const char *s) {
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        put(b, run, (size_t)(s - run));
        char esc[8];
        switch (c) {
        case '"': strcpy(esc, "\\\""); break;
        case '\\': strcpy(esc, "\\\\"); break;
        case '\n': strcpy(esc, "\\n"); break;
        case '\r': strcpy(esc, "\\r"); break;
        case '\t': strcpy(esc, "\\t"); break;
        case '\b': strcpy(esc, "\\b"); break;
        case '\f': strcpy(esc, "\\f"); break;
        default: snprintf(esc, sizeof esc, "\\u%04x", c); break;
        }
        put(b, esc, strlen(esc));
        run = s + 1;
    }
    put(b, run, (size_t)(s - run));
}

/* Recursion depth is that of the data, which cJSON_Parse bounds (CJSON_NESTING_LIMIT). */
static void put_value(jbuf *b, const cJSON *v) {
    if (b->rc) return;
    switch (v->type & 0xff) {
    case cJSON_False: put(b, "false", 5); return;
    case cJSON_True: put(b, "true", 4); return;
    case cJSON_Number: put_number(b, v->valuedouble); return;
    case cJSON_String:
        put(b, "\"", 1);
        put_string(b, v->valuestring ? v->valuestring : "");
        put(b, "\"", 1);
        return;
    case cJSON_Raw: put(b, v->valuestring ? v->valuestring : "", v->valuestring ? strlen(v->valuestring) : 0); return;
    case cJSON_Array:
    case cJSON_Object: {
        bool obj = (v->type & 0xff) == cJSON_Object;
        put(b, obj ? "{" : "[", 1);
        for (const cJSON *c = v->child; c && !b->rc; c = c->next) {
            if (c != v->child) put(b, ",", 1);
            if (obj) {
                put(b, "\"", 1);
                put_string(b, c->string ? c->string : "");
                put(b, "\":", 2);
            }
            put_value(b, c);
        }
        put(b, obj ? "}" : "]", 1);
        return;
    }
    default: put(b, "null", 4); return;
    }
}

int mae_json_print(const cJSON *v, size_t max, char **out, size_t *len) {
    jbuf b = {0};
    b.max = max;
    put(&b, "", 0);  /* an allocated, terminated buffer even for empty output */
    if (v) put_value(&b, v);
    else put(&b, "null", 4);
    if (b.rc) {
        free(b.p);
        *out = NULL;
        return b.rc;
    }
    *out = b.p;
    if (len) *len = b.len;
    return 0;
}
