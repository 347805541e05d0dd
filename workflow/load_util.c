/* The loader's typed accessors: YAML node → string, integer, duration, name, template, template
 * tree, JSON. Each reports a positioned diagnostic on failure and returns false/NULL. */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maestro/maestro.h"
#include "workflow/load_int.h"

void mae__ld_err(mae_loader *ld, mae_pos pos, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    /* Names in messages come from the file: no control characters reach the terminal. */
    for (char *c = buf; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?';
    mae__diag_add(ld->d, pos, "%s", buf);
    ld->errors++;
}

bool mae__ld_full(const mae_loader *ld) {
    return ld->d->n >= (ld->d->max ? ld->d->max : 200);
}

static size_t edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64) return 99;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cur = row[j];
            size_t sub = prev + (a[i - 1] != b[j - 1]);
            size_t best = row[j] + 1 < row[j - 1] + 1 ? row[j] + 1 : row[j - 1] + 1;
            row[j] = sub < best ? sub : best;
            prev = cur;
        }
    }
    return row[lb];
}

const char *mae__ld_suggest(const char *word, const char *const *cands, size_t n_cands) {
    const char *best = NULL;
    size_t best_d = 3;
    for (size_t i = 0; i < n_cands; i++) {
        size_t d = edit_distance(word, cands[i]);
        if (d < best_d) {
            best_d = d;
            best = cands[i];
        }
    }
    return best;
}

bool mae__ld_keys(mae_loader *ld, const mae_ynode *n, const char *what, const char *const *known) {
    if (!n || n->kind != MAE_YN_MAP) {
        mae__ld_err(ld, n ? n->pos : (mae_pos){0, 0}, "'%s' must be a mapping, not %s", what,
                    mae__yaml_kind_name(n));
        return false;
    }
    size_t nk = 0;
    while (known[nk]) nk++;
    for (size_t i = 0; i < n->n; i++) {
        const mae_ynode *k = n->pairs[i].key;
        if (k->kind != MAE_YN_SCALAR) continue;
        /* Top-level "x-..." keys are free, a place for anchors (as in docker-compose). */
        bool ok = strcmp(what, "workflow") == 0 && strncmp(k->str, "x-", 2) == 0;
        for (size_t j = 0; j < nk && !ok; j++) ok = strcmp(k->str, known[j]) == 0;
        if (ok) continue;
        const char *hint = mae__ld_full(ld) ? NULL : mae__ld_suggest(k->str, known, nk);
        if (hint)
            mae__ld_err(ld, k->pos, "unknown key '%s' (did you mean '%s'?)", k->str, hint);
        else
            mae__ld_err(ld, k->pos, "unknown key '%s' in %s", k->str, what);
    }
    return true;
}

bool mae__ld_str(mae_loader *ld, const mae_ynode *n, const char *what, const char **out) {
    if (!n || n->kind != MAE_YN_SCALAR) {
        mae__ld_err(ld, n ? n->pos : (mae_pos){0, 0}, "'%s' must be a string, not %s", what, mae__yaml_kind_name(n));
        return false;
    }
    if (strlen(n->str) != n->len) {
        mae__ld_err(ld, n->pos, "'%s' must not contain NUL characters", what);
        return false;
    }
    *out = n->str;
    return true;
}

static bool plain_scalar(mae_loader *ld, const mae_ynode *n, const char *what, const char *expected) {
    if (n->kind != MAE_YN_SCALAR) {
        mae__ld_err(ld, n->pos, "'%s' must be %s, not %s", what, expected, mae__yaml_kind_name(n));
        return false;
    }
    return true;
}

bool mae__ld_int(mae_loader *ld, const mae_ynode *n, const char *what, long min, long max, int *out) {
    if (!plain_scalar(ld, n, what, "an integer")) return false;
    double v;
    bool b;
    if (n->quoted || mae__plain_type(n->str, &v, &b) != MAE_PLAIN_INT || v < (double)min || v > (double)max) {
        mae__ld_err(ld, n->pos, "'%s' must be an integer from %ld to %ld, not '%s'", what, min, max, n->str);
        return false;
    }
    *out = (int)v;
    return true;
}

bool mae__ld_num(mae_loader *ld, const mae_ynode *n, const char *what, double min, double *out) {
    if (!plain_scalar(ld, n, what, "a number")) return false;
    double v;
    bool b;
    mae_plain_kind k = n->quoted ? MAE_PLAIN_STRING : mae__plain_type(n->str, &v, &b);
    if ((k != MAE_PLAIN_INT && k != MAE_PLAIN_FLOAT) || !isfinite(v) || v < min) {
        mae__ld_err(ld, n->pos, "'%s' must be a number of at least %g, not '%s'", what, min, n->str);
        return false;
    }
    *out = v;
    return true;
}

bool mae__ld_bool(mae_loader *ld, const mae_ynode *n, const char *what, bool *out) {
    if (!plain_scalar(ld, n, what, "true or false")) return false;
    double v;
    if (n->quoted || mae__plain_type(n->str, &v, out) != MAE_PLAIN_BOOL) {
        mae__ld_err(ld, n->pos, "'%s' must be true or false, not '%s'", what, n->str);
        return false;
    }
    return true;
}

bool mae__ld_duration(mae_loader *ld, const mae_ynode *n, const char *what, bool positive, uint64_t *out) {
    if (!plain_scalar(ld, n, what, "a duration")) return false;
    uint64_t ms;
    if (mae__parse_duration_ms(n->str, &ms) != 0) {
        mae__ld_err(ld, n->pos, "invalid duration '%s' for '%s' (expected e.g. 250ms, 30s, 1h30m)", n->str, what);
        return false;
    }
    if (positive && ms == 0) {
        mae__ld_err(ld, n->pos, "'%s' must be longer than 0", what);
        return false;
    }
    *out = ms;
    return true;
}

bool mae__ld_size(mae_loader *ld, const mae_ynode *n, const char *what, uint64_t *out) {
    if (!plain_scalar(ld, n, what, "a size")) return false;
    uint64_t v;
    if (mae__parse_size(n->str, &v) != 0 || v == 0) {
        mae__ld_err(ld, n->pos, "invalid size '%s' for '%s' (expected e.g. 16MiB, 512KB, 1024)", n->str, what);
        return false;
    }
    *out = v;
    return true;
}

bool mae__ld_name(mae_loader *ld, const mae_ynode *n, const char *what, const char **out) {
    if (!mae__ld_str(ld, n, what, out)) return false;
    const char *s = *out;
    bool ok = *s != 0 && strlen(s) <= 128;
    for (; ok && *s; s++) ok = isalnum((unsigned char)*s) || *s == '_' || *s == '-';
    if (!ok) {
        mae__ld_err(ld, n->pos, "invalid %s '%s': use letters, digits, '_' and '-'", what, *out);
        return false;
    }
    return true;
}

bool mae__is_ident(const char *s) {
    if (!*s || !(isalpha((unsigned char)*s) || *s == '_') || strlen(s) > 128) return false;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_')) return false;
    return true;
}

bool mae__ld_var(mae_loader *ld, const mae_ynode *n, const char *what, const char **out) {
    if (!mae__ld_str(ld, n, what, out)) return false;
    if (!mae__is_ident(*out)) {
        mae__ld_err(ld, n->pos, "invalid %s '%s': use letters, digits and '_', not starting with a digit",
                    what, *out);
        return false;
    }
    if (strcmp(*out, "input") == 0 || strcmp(*out, "steps") == 0 || strcmp(*out, "workflow") == 0) {
        mae__ld_err(ld, n->pos, "%s '%s' is reserved", what, *out);
        return false;
    }
    return true;
}

/* Core schema: null, booleans, integers (decimal, 0o, 0x), floats (.inf, .nan). */
mae_plain_kind mae__plain_type(const char *s, double *num, bool *b) {
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    for (size_t i = 0; i < 5; i++)
        if (strcmp(s, nulls[i]) == 0) return MAE_PLAIN_NULL;
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) { *b = true; return MAE_PLAIN_BOOL; }
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) { *b = false; return MAE_PLAIN_BOOL; }
    const char *p = s;
    if ((p[0] == '0' && p[1] == 'x' && p[2]) || (p[0] == '0' && p[1] == 'o' && p[2])) {
        int base = p[1] == 'x' ? 16 : 8;
        double v = 0;
        for (p += 2; *p; p++) {
            int d = isdigit((unsigned char)*p) ? *p - '0'
                  : (base == 16 && isxdigit((unsigned char)*p)) ? (tolower((unsigned char)*p) - 'a' + 10) : 99;
            if (d >= base) return MAE_PLAIN_STRING;
            v = v * base + d;
        }
        *num = v;
        return MAE_PLAIN_INT;
    }
    p = s;
    if (*p == '-' || *p == '+') p++;
    if (!strcmp(p, ".inf") || !strcmp(p, ".Inf") || !strcmp(p, ".INF")) {
        *num = *s == '-' ? -INFINITY : INFINITY;
        return MAE_PLAIN_FLOAT;
    }
    if (!strcmp(s, ".nan") || !strcmp(s, ".NaN") || !strcmp(s, ".NAN")) {
        *num = NAN;
        return MAE_PLAIN_FLOAT;
    }
    size_t digits = 0;
    while (isdigit((unsigned char)*p)) { p++; digits++; }
    bool is_float = false;
    if (*p == '.') {
        is_float = true;
        p++;
        while (isdigit((unsigned char)*p)) { p++; digits++; }
    }
    if (!digits) return MAE_PLAIN_STRING;
    if (*p == 'e' || *p == 'E') {
        is_float = true;
        p++;
        if (*p == '-' || *p == '+') p++;
        if (!isdigit((unsigned char)*p)) return MAE_PLAIN_STRING;
        while (isdigit((unsigned char)*p)) p++;
    }
    if (*p) return MAE_PLAIN_STRING;
    *num = strtod(s, NULL);
    return is_float ? MAE_PLAIN_FLOAT : MAE_PLAIN_INT;
}

static size_t utf8_len(unsigned char c) {
    return c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
}

static size_t cp_len(unsigned long cp) {
    return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/* Exact position of decoded byte off of a one-line flow scalar, found by walking its source
 * (past an anchor or tag, through quotes and escapes). False when that is not possible
 * (the scalar spans lines): the caller approximates. */
static bool source_pos(mae_loader *ld, const mae_ynode *n, size_t off, mae_pos *out) {
    const char *b = ld->buf;
    size_t len = ld->len, i = 0;
    int line = 1, col = 1;
    if (!ld->lines64) {
        size_t cap = len / 64 + 2, k = 0;
        ld->lines64 = mae__arena_alloc(ld->a, cap * sizeof *ld->lines64);
        if (!ld->lines64) return false;
        ld->lines64[k++] = 0;
        for (size_t x = 0, l = 1; x < len && k < cap; x++)
            if (b[x] == '\n' && ++l % 64 == 1) ld->lines64[k++] = (uint32_t)(x + 1);
        ld->n_lines64 = k;
    }
    size_t slot = (size_t)(n->pos.line - 1) / 64;
    if (slot < ld->n_lines64) {
        i = ld->lines64[slot];
        line = (int)(slot * 64) + 1;
    }
    while (line < n->pos.line && i < len)
        if (b[i++] == '\n') line++;
#define ADV() do { i += utf8_len((unsigned char)b[i]); col++; } while (0)
    while (col < n->pos.col && i < len && b[i] != '\n') ADV();
    /* Node properties: "&anchor " and "!tag " come before the scalar itself. */
    while (i < len && (b[i] == '&' || b[i] == '!')) {
        while (i < len && b[i] != ' ' && b[i] != '\n') ADV();
        while (i < len && b[i] == ' ') ADV();
    }
    char q = 0;
    if (i < len && (b[i] == '"' || b[i] == '\'')) {
        q = b[i];
        ADV();
    }
    size_t dec = 0;
    while (dec < off) {
        if (i >= len) return false;
        char c = b[i];
        /* A line break (with the blanks around it) folds into one space, or into one '\n'
         * per empty line that follows. */
        size_t j = i;
        while (j < len && (b[j] == ' ' || b[j] == '\t')) j++;
        if (j < len && (b[j] == '\n' || b[j] == '\r')) {
            size_t breaks = 0;
            for (;;) {
                if (j < len && b[j] == '\r') j++;
                if (j >= len || b[j] != '\n') break;
                j++;
                line++;
                breaks++;
                col = 1;
                while (j < len && (b[j] == ' ' || b[j] == '\t')) { j++; col++; }
            }
            i = j;
            dec += breaks > 1 ? breaks - 1 : 1;
            continue;
        }
        if (q == '\'' && c == '\'') {
            if (i + 1 >= len || b[i + 1] != '\'') return false;
            i += 2;
            col += 2;
            dec++;
        } else if (q == '"' && c == '\\') {
            if (i + 1 >= len || b[i + 1] == '\n' || b[i + 1] == '\r') return false;
            char e = b[i + 1];
            size_t hex = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0, d;
            if (hex) {
                if (i + 2 + hex > len) return false;
                char digits[9] = {0};
                memcpy(digits, b + i + 2, hex);
                unsigned long cp = strtoul(digits, NULL, 16);
                d = e == 'x' ? 1 : cp_len(cp);
            } else {
                d = (e == 'N' || e == '_') ? 2 : (e == 'L' || e == 'P') ? 3 : 1;
            }
            i += 2 + hex;
            col += 2 + (int)hex;
            dec += d;
        } else {
            dec += utf8_len((unsigned char)c);
            ADV();
        }
    }
#undef ADV
    *out = (mae_pos){line, col};
    return true;
}

mae_pos mae__ld_scalar_pos(mae_loader *ld, const mae_ynode *n, size_t off) {
    if (off > n->len) off = n->len;
    /* Past the cap the message is dropped anyway: skip the walk through the source. */
    if (mae__ld_full(ld)) return n->pos;
    mae_pos exact;
    if (!n->block && ld->buf && source_pos(ld, n, off, &exact)) return exact;
    size_t nl = 0, col = 0;
    for (size_t i = 0; i < off; i++) {
        unsigned char c = (unsigned char)n->str[i];
        if (c == '\n') { nl++; col = 0; }
        else if ((c & 0xC0) != 0x80) col++;
    }
    if (!n->block) {
        if (nl == 0) return (mae_pos){n->pos.line, n->pos.col + (n->quoted ? 1 : 0) + (int)col};
        return (mae_pos){n->pos.line + (int)nl, (int)col + 1};
    }
    /* Block scalar: content starts on the next line, after that line's indentation. */
    int line = n->pos.line + 1 + (int)nl;
    size_t i = 0;
    for (int l = 1; l < line && i < ld->len; i++)
        if (ld->buf[i] == '\n') l++;
    int indent = 0;
    while (i < ld->len && ld->buf[i] == ' ') { i++; indent++; }
    return (mae_pos){line, indent + (int)col + 1};
}

static bool tsrc_add(mae_loader *ld, const mae_tmpl *t, const mae_ynode *n, size_t skip);

mae_tmpl *mae__ld_tmpl(mae_loader *ld, const mae_ynode *n, size_t skip) {
    mae_tmpl *t = NULL;
    mae_tmpl_err err;
    memset(&err, 0, sizeof err);
    int rc = mae__tmpl_compile(ld->a, n->str + skip, n->len - skip, &t, &err);
    if (rc == MAE_ENOMEM) {
        ld->oom = true;
        return NULL;
    }
    if (rc != 0) {
        mae__ld_err(ld, mae__ld_scalar_pos(ld, n, skip + err.offset), "template: %s", err.msg);
        return NULL;
    }
    return tsrc_add(ld, t, n, skip) ? t : NULL;
}

/* Remembers where template t came from (n, from byte skip) for positions of reference errors. */
static bool tsrc_add(mae_loader *ld, const mae_tmpl *t, const mae_ynode *n, size_t skip) {
    if (ld->n_tsrc == ld->cap_tsrc) {
        size_t cap = ld->cap_tsrc ? ld->cap_tsrc * 2 : 64;
        void *p = realloc(ld->tsrc, cap * sizeof *ld->tsrc);
        if (!p) {
            ld->oom = true;
            return false;
        }
        ld->tsrc = p;
        ld->cap_tsrc = cap;
    }
    ld->tsrc[ld->n_tsrc++] = (struct mae_tmpl_src){t, n, skip};
    return true;
}

const mae_target *mae__ld_target(mae_loader *ld, const mae_ynode *n, const mae_target_type *type,
                                 mae_target_use use) {
    mae_target *t = NULL;
    mae_target_err err;
    memset(&err, 0, sizeof err);
    int rc = type->compile(ld->a, n->str, use, &t, &err);
    if (rc == MAE_ENOMEM) {
        ld->oom = true;
        return NULL;
    }
    if (rc != 0) {
        mae__ld_err(ld, err.at_offset ? mae__ld_scalar_pos(ld, n, err.offset) : n->pos, "%s", err.msg);
        return NULL;
    }
    const mae_tmpl *tm[8];
    size_t off[8];
    size_t k = type->templates(t, tm, off, 8);
    for (size_t i = 0; i < k && i < 8; i++)
        if (!tsrc_add(ld, tm[i], n, off[i])) return NULL;
    return t;
}

static bool tval_fill(mae_loader *ld, const mae_ynode *n, mae_tval *v) {
    v->pos = n->pos;
    if (n->kind == MAE_YN_SCALAR) {
        double num = 0;
        bool b = false;
        mae_plain_kind k = n->quoted ? MAE_PLAIN_STRING : mae__plain_type(n->str, &num, &b);
        switch (k) {
        case MAE_PLAIN_NULL: v->kind = MAE_TV_NULL; return true;
        case MAE_PLAIN_BOOL: v->kind = MAE_TV_BOOL; v->b = b; return true;
        case MAE_PLAIN_INT:
        case MAE_PLAIN_FLOAT:
            if (!isfinite(num)) {
                mae__ld_err(ld, n->pos, "'%s' is not a JSON number", n->str);
                return false;
            }
            v->kind = MAE_TV_NUMBER;
            v->num = num;
            v->str = n->str;
            return true;
        default: break;
        }
        if (mae__tmpl_has_expr(n->str, n->len)) {
            v->kind = MAE_TV_TEMPLATE;
            v->tmpl = mae__ld_tmpl(ld, n, 0);
            return v->tmpl != NULL;
        }
        v->kind = MAE_TV_STRING;
        v->str = n->str;
        return true;
    }
    v->kind = n->kind == MAE_YN_SEQ ? MAE_TV_ARRAY : MAE_TV_OBJECT;
    v->n = n->n;
    v->items = mae__arena_alloc(ld->a, (n->n ? n->n : 1) * sizeof *v->items);
    if (!v->items) {
        ld->oom = true;
        return false;
    }
    bool ok = true;
    for (size_t i = 0; i < n->n; i++) {
        if (n->kind == MAE_YN_SEQ) {
            ok &= tval_fill(ld, n->items[i], &v->items[i]);
        } else {
            v->items[i].key = n->pairs[i].key->str;
            ok &= tval_fill(ld, n->pairs[i].val, &v->items[i]);
            v->items[i].key_pos = n->pairs[i].key->pos;
        }
    }
    return ok;
}

mae_tval *mae__ld_tval(mae_loader *ld, const mae_ynode *n) {
    mae_tval *v = mae__arena_alloc(ld->a, sizeof *v);
    if (!v) {
        ld->oom = true;
        return NULL;
    }
    /* A tree with a bad template is still returned (that node's tmpl is NULL) so that the
     * reference checks can go on; the load fails on the error already reported. */
    tval_fill(ld, n, v);
    return ld->oom ? NULL : v;
}

cJSON *mae__ld_json(mae_loader *ld, const mae_ynode *n) {
    cJSON *out = NULL;
    if (n->kind == MAE_YN_SCALAR) {
        double num = 0;
        bool b = false;
        switch (n->quoted ? MAE_PLAIN_STRING : mae__plain_type(n->str, &num, &b)) {
        case MAE_PLAIN_NULL: out = cJSON_CreateNull(); break;
        case MAE_PLAIN_BOOL: out = cJSON_CreateBool(b); break;
        case MAE_PLAIN_INT:
        case MAE_PLAIN_FLOAT:
            if (!isfinite(num)) {
                mae__ld_err(ld, n->pos, "'%s' is not a JSON number", n->str);
                return NULL;
            }
            out = cJSON_CreateNumber(num);
            break;
        default: out = cJSON_CreateString(n->str); break;
        }
        if (!out) ld->oom = true;
        return out;
    }
    out = n->kind == MAE_YN_SEQ ? cJSON_CreateArray() : cJSON_CreateObject();
    if (!out) {
        ld->oom = true;
        return NULL;
    }
    for (size_t i = 0; i < n->n; i++) {
        cJSON *c = mae__ld_json(ld, n->kind == MAE_YN_SEQ ? n->items[i] : n->pairs[i].val);
        bool added = c && (n->kind == MAE_YN_SEQ ? cJSON_AddItemToArray(out, c)
                                                 : cJSON_AddItemToObject(out, n->pairs[i].key->str, c));
        if (!added) {
            if (c) ld->oom = true;
            cJSON_Delete(c);
            cJSON_Delete(out);
            return NULL;
        }
    }
    return out;
}
