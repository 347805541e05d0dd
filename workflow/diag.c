/* Diagnostic list: append-only, sorted once before printing. */
#include "workflow/diag.h"

#include <cjson/cJSON.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mae__diags_init(mae_diags *d, const char *file) {
    memset(d, 0, sizeof *d);
    d->file = strdup(file ? file : "<input>");
}

void mae__diags_free(mae_diags *d) {
    for (size_t i = 0; i < d->n; i++) free(d->items[i].message);
    free(d->items);
    free(d->file);
    memset(d, 0, sizeof *d);
}

void mae__diag_add(mae_diags *d, mae_pos pos, const char *fmt, ...) {
    size_t max = d->max ? d->max : 200;
    if (d->n >= max) { d->dropped++; return; }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        mae_diag *items = realloc(d->items, cap * sizeof *items);
        if (!items) { d->dropped++; return; }
        d->items = items;
        d->cap = cap;
    }
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0) msg = NULL;
    va_end(ap);
    if (!msg) { d->dropped++; return; }
    d->items[d->n].line = pos.line;
    d->items[d->n].col = pos.col;
    d->items[d->n].message = msg;
    d->n++;
}

void mae__diags_sort(mae_diags *d) {
    /* Stable: insertion sort keeps equal positions in the order they were found. */
    for (size_t i = 1; i < d->n; i++) {
        mae_diag t = d->items[i];
        size_t j = i;
        while (j > 0 && (d->items[j - 1].line > t.line ||
                         (d->items[j - 1].line == t.line && d->items[j - 1].col > t.col))) {
            d->items[j] = d->items[j - 1];
            j--;
        }
        d->items[j] = t;
    }
}

void mae__diags_print(const mae_diags *d, FILE *out) {
    for (size_t i = 0; i < d->n; i++) {
        const mae_diag *g = &d->items[i];
        if (g->line > 0)
            fprintf(out, "%s:%d:%d: error: %s\n", d->file, g->line, g->col, g->message);
        else
            fprintf(out, "%s: error: %s\n", d->file, g->message);
    }
    if (d->dropped) fprintf(out, "%s: error: %zu more errors not shown\n", d->file, d->dropped);
}

/* Line number line (1-based) of src: its start and length, or NULL. */
static const char *find_line(const char *src, size_t len, int line, size_t *ll) {
    if (!src || line < 1) return NULL;
    const char *p = src, *end = src + len;
    for (int i = 1; i < line; i++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) return NULL;
        p = nl + 1;
    }
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    *ll = (size_t)((nl ? nl : end) - p);
    if (*ll && p[*ll - 1] == '\r') (*ll)--;
    return p;
}

/* The source line (control characters but tabs shown as spaces, at most 300 bytes) and a
 * caret under character column col, aligned over tabs and multi-byte UTF-8. */
static void print_snippet(FILE *out, const char *ln, size_t ll, int line, int col, int color) {
    if (ll > 300) ll = 300;
    fprintf(out, "%5d | ", line);
    for (size_t i = 0; i < ll; i++) {
        unsigned char c = (unsigned char)ln[i];
        fputc(c < 0x20 && c != '\t' ? ' ' : c, out);
    }
    fputs("\n      | ", out);
    /* col counts characters (UTF-8 sequences), as the loader does */
    int chars = 0;
    for (size_t i = 0; i < ll && chars + 1 < col; i++) {
        unsigned char c = (unsigned char)ln[i];
        if ((c & 0xC0) == 0x80) continue;
        fputc(c == '\t' ? '\t' : ' ', out);
        chars++;
    }
    fprintf(out, "%s^%s\n", color ? "\033[1;32m" : "", color ? "\033[0m" : "");
}

static void print_json(const mae_diags *d, FILE *out) {
    for (size_t i = 0; i <= d->n; i++) {
        if (i == d->n && !d->dropped) break;
        cJSON *o = cJSON_CreateObject();
        if (!o) return;
        cJSON_AddStringToObject(o, "file", d->file);
        if (i < d->n && d->items[i].line > 0) {
            cJSON_AddNumberToObject(o, "line", d->items[i].line);
            cJSON_AddNumberToObject(o, "column", d->items[i].col);
        }
        cJSON_AddStringToObject(o, "severity", "error");
        char more[64];
        snprintf(more, sizeof more, "%zu more errors not shown", d->dropped);
        cJSON_AddStringToObject(o, "message", i < d->n ? d->items[i].message : more);
        char *t = cJSON_PrintUnformatted(o);
        if (t) fprintf(out, "%s\n", t);
        free(t);
        cJSON_Delete(o);
    }
}

void mae__diags_print_fmt(const mae_diags *d, FILE *out, mae_diag_format fmt, const char *src, size_t len,
                          int color) {
    if (fmt == MAE_DIAG_JSON) {
        print_json(d, out);
        return;
    }
    if (fmt == MAE_DIAG_TEXT) {
        mae__diags_print(d, out);
        return;
    }
    const char *b = color ? "\033[1m" : "", *r = color ? "\033[1;31m" : "", *z = color ? "\033[0m" : "";
    for (size_t i = 0; i < d->n; i++) {
        const mae_diag *g = &d->items[i];
        if (g->line > 0) fprintf(out, "%s%s:%d:%d:%s %serror:%s %s\n", b, d->file, g->line, g->col, z, r, z, g->message);
        else fprintf(out, "%s%s:%s %serror:%s %s\n", b, d->file, z, r, z, g->message);
        size_t ll = 0;
        const char *ln = find_line(src, len, g->line, &ll);
        if (ln) print_snippet(out, ln, ll, g->line, g->col, color);
    }
    size_t total = d->n + d->dropped;
    if (d->dropped) fprintf(out, "%s%s:%s %serror:%s %zu more errors not shown\n", b, d->file, z, r, z, d->dropped);
    fprintf(out, "%zu error%s\n", total, total == 1 ? "" : "s");
}
