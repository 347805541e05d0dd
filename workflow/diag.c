/* Diagnostic list: append-only, sorted once before printing. */
#include "workflow/diag.h"

#include <stdarg.h>
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
