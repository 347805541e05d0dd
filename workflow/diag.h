/* Diagnostics: FILE:LINE:COL: error: MESSAGE, collected (never only the first) and printed
 * in source order. */
#ifndef MAE_DIAG_H
#define MAE_DIAG_H
#include <stddef.h>
#include <stdio.h>

typedef struct mae_pos {
    int line, col;  /* 1-based; 0 when unknown */
} mae_pos;

typedef struct mae_diag {
    int line, col;
    char *message;  /* owned */
} mae_diag;

typedef struct mae_diags {
    char *file;     /* owned copy of the file name used in messages */
    mae_diag *items;
    size_t n, cap;
    size_t max;     /* stop collecting past this many (a hostile file can have millions); 0 = 200 */
    size_t dropped;
} mae_diags;

void mae__diags_init(mae_diags *d, const char *file);
void mae__diags_free(mae_diags *d);
void mae__diag_add(mae_diags *d, mae_pos pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Sorted by line, then column, stable. */
void mae__diags_sort(mae_diags *d);
/* One "FILE:LINE:COL: error: MESSAGE" line each (LINE:COL omitted when unknown). */
void mae__diags_print(const mae_diags *d, FILE *out);

typedef enum {
    MAE_DIAG_TEXT,    /* mae__diags_print: one line each, stable for grep and tests */
    MAE_DIAG_PRETTY,  /* as a compiler: each line, then the source line with a caret under the
                         column, then a count ("3 errors") */
    MAE_DIAG_JSON     /* one JSON object per line: file, line, column, severity, message */
} mae_diag_format;
/* Prints in format fmt. src/len: the file's text for PRETTY's source lines (NULL: none).
 * color: ANSI colours (PRETTY only). */
void mae__diags_print_fmt(const mae_diags *d, FILE *out, mae_diag_format fmt, const char *src, size_t len,
                          int color);
#endif
