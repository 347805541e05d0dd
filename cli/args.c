/* Arguments: the option parser every command uses (did-you-mean, --opt=value, help generated
 * from one table), and the values shared by `run` and `bench`: --input (inline JSON, @FILE, or
 * - for stdin, bounded) and --set service.NAME.endpoint=URL. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "maestro/maestro.h"
#include "workflow/model.h"

#define MAX_INPUT (64u << 20)

/* The whole stream, NUL-terminated; NULL with errno set (EFBIG past MAX_INPUT). */
static char *read_stream(FILE *f) {
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    for (;;) {
        if (n + 1 >= cap) {
            char *nb = cap >= MAX_INPUT ? NULL : realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                errno = cap > MAX_INPUT ? EFBIG : ENOMEM;
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        if (r == 0) break;
        n += r;
    }
    if (ferror(f)) {
        int e = errno ? errno : EIO;
        free(buf);
        errno = e;
        return NULL;
    }
    buf[n] = 0;
    return buf;
}

char *mae_cli_read_input(const char *cmd, const char *arg) {
    if (!arg) return strdup("{}");
    if (arg[0] != '@' && strcmp(arg, "-") != 0) return strdup(arg);
    int is_stdin = arg[0] == '-';
    const char *what = is_stdin ? "stdin" : arg + 1;
    errno = 0;
    FILE *f = is_stdin ? stdin : fopen(arg + 1, "rb");
    char *s = f ? read_stream(f) : NULL;
    int e = errno;
    if (f && !is_stdin) fclose(f);
    if (s) return s;
    if (e == EFBIG)
        fprintf(stderr, "maestro %s: --input: %s is larger than %u bytes; nothing was called\n", cmd, what, MAX_INPUT);
    else
        fprintf(stderr, "maestro %s: --input: cannot read %s: %s; nothing was called\n", cmd, what, strerror(e ? e : EIO));
    return NULL;
}

int mae_cli_apply_set(const char *cmd, mae_workflow *wf, const char *kv) {
    static const char pre[] = "service.", suf[] = ".endpoint";
    const char *eq = strchr(kv, '=');
    size_t pl = sizeof pre - 1, sl = sizeof suf - 1;
    if (!eq || strncmp(kv, pre, pl) != 0 || (size_t)(eq - kv) <= pl + sl || strncmp(eq - sl, suf, sl) != 0) {
        fprintf(stderr, "maestro %s: --set expects service.NAME.endpoint=URL, got '%s'\n", cmd, kv);
        return 2;
    }
    if (!eq[1]) {
        fprintf(stderr, "maestro %s: --set: empty endpoint in '%s'\n", cmd, kv);
        return 2;
    }
    size_t nl = (size_t)(eq - kv) - pl - sl;
    char name[256], err[600];
    snprintf(name, sizeof name, "%.*s", (int)nl, kv + pl);
    int rc = mae_workflow_set_endpoint(wf, name, eq + 1, err, sizeof err);
    if (rc == 0) return 0;
    const char *names[65];
    size_t n = 0;
    for (size_t i = 0; rc == MAE_ENOTFOUND && i < wf->n_services && n < 64; i++) names[n++] = wf->services[i].name;
    names[n] = NULL;
    const char *sug = n ? mae_cli_suggest(name, names) : NULL;
    if (sug) fprintf(stderr, "maestro %s: --set: %s; did you mean '%s'?\n", cmd, err, sug);
    else fprintf(stderr, "maestro %s: --set: %s; nothing was called\n", cmd, err);
    return 2;
}

/* ---- option parsing ---- */

int mae_cli_wants_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) return 0;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return 1;
    }
    return 0;
}

/* Optimal string alignment distance, case-insensitive, for words up to 63 bytes. */
static size_t edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return (size_t)-1;
    size_t d[64][64];
    for (size_t i = 0; i <= la; i++) d[i][0] = i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
            size_t best = d[i - 1][j - 1] + (ca != cb);
            if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) && tolower((unsigned char)a[i - 2]) == cb &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[la][lb];
}

static const char *skip_dashes(const char *s) {
    while (*s == '-') s++;
    return s;
}

/* A typo is at most 1 edit in a short word, 2 in a longer one, and never the whole word. */
static int close_enough(const char *word, const char *cand, size_t *best) {
    const char *w = skip_dashes(word), *c = skip_dashes(cand);
    size_t d = edit_distance(w, c), lw = strlen(w);
    size_t limit = lw <= 4 ? 1 : lw <= 8 ? 2 : 3;
    if (d == (size_t)-1 || d > limit || d >= lw || d >= *best) return 0;
    *best = d;
    return 1;
}

const char *mae_cli_suggest(const char *word, const char *const *cands) {
    const char *out = NULL;
    size_t best = (size_t)-1;
    for (size_t i = 0; cands && cands[i]; i++)
        if (close_enough(word, cands[i], &best)) out = cands[i];
    return out;
}

static const char *suggest_opt(const mae_cli_opt *opts, const char *word) {
    const char *out = NULL;
    size_t best = (size_t)-1;
    for (size_t i = 0; opts && opts[i].name; i++) {
        /* a long option is compared with long names only, a short one with aliases */
        const char *c = word[1] == '-' ? opts[i].name : opts[i].alias;
        if (c && close_enough(word, c, &best)) out = c;
    }
    return out;
}

void mae_cli_help(const mae_cli_spec *spec, FILE *f) {
    fprintf(f, "usage: maestro %s %s\n", spec->cmd, spec->synopsis);
    if (spec->about) fprintf(f, "\n%s", spec->about);
    if (spec->opts && spec->opts[0].name) fputs("\noptions:\n", f);
    for (size_t i = 0; spec->opts && spec->opts[i].name; i++) {
        const mae_cli_opt *o = &spec->opts[i];
        char left[80];
        snprintf(left, sizeof left, "%s%s%s%s%s", o->alias ? o->alias : "", o->alias ? ", " : "", o->name,
                 o->arg ? " " : "", o->arg ? o->arg : "");
        if (strlen(left) > 28) fprintf(f, "  %s\n  %-28s %s\n", left, "", o->help);
        else fprintf(f, "  %-28s %s\n", left, o->help);
    }
    fputs("  -h, --help                   this help\n", f);
    if (spec->footer) fprintf(f, "\n%s", spec->footer);
}

int mae_cli_usage(const mae_cli_spec *spec, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "maestro %s: ", spec->cmd);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'maestro help %s'.\n", spec->cmd);
    return 2;
}

void mae_cli_args_init(mae_cli_args *a, const mae_cli_spec *spec, int argc, char **argv) {
    memset(a, 0, sizeof *a);
    a->spec = spec;
    a->argc = argc;
    a->argv = argv;
    a->i = 1;
}

int mae_cli_next(mae_cli_args *a, const char **val) {
    *val = NULL;
    if (a->i >= a->argc) return MAE_CLI_END;
    const char *s = a->argv[a->i++];
    if (a->only_args || s[0] != '-' || s[1] == 0) {
        *val = s;
        return MAE_CLI_ARG;
    }
    if (strcmp(s, "--") == 0) {
        a->only_args = 1;
        return mae_cli_next(a, val);
    }
    if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
        mae_cli_help(a->spec, stdout);
        return MAE_CLI_HELP;
    }
    /* --name=value: the name is what precedes the first '=' */
    const char *eq = s[1] == '-' ? strchr(s, '=') : NULL;
    size_t nl = eq ? (size_t)(eq - s) : strlen(s);
    const mae_cli_opt *o = NULL;
    for (size_t k = 0; a->spec->opts && a->spec->opts[k].name && !o; k++) {
        const mae_cli_opt *c = &a->spec->opts[k];
        if ((strlen(c->name) == nl && strncmp(c->name, s, nl) == 0) || (!eq && c->alias && strcmp(c->alias, s) == 0)) o = c;
    }
    if (!o) {
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(nl < 60 ? nl : 60), s);
        const char *sug = suggest_opt(a->spec->opts, name);
        if (sug) return mae_cli_usage(a->spec, "unknown option '%s'; did you mean '%s'?", name, sug), MAE_CLI_BAD;
        return mae_cli_usage(a->spec, "unknown option '%s'", name), MAE_CLI_BAD;
    }
    if (!o->arg) {
        if (eq) return mae_cli_usage(a->spec, "%s takes no value", o->name), MAE_CLI_BAD;
        return o->id;
    }
    if (eq) {
        *val = eq + 1;
        return o->id;
    }
    /* "--report --quiet" is a forgotten value, not a file called --quiet */
    const char *v = a->i < a->argc ? a->argv[a->i] : NULL;
    if (!v || (v[0] == '-' && v[1] == '-' && v[2]))
        return mae_cli_usage(a->spec, "%s needs a value (%s)", s, o->arg), MAE_CLI_BAD;
    a->i++;
    *val = v;
    return o->id;
}

/* ---- diagnostics ---- */

char *mae_cli_slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
        if (n == cap) {
            char *nb = cap >= (16u << 20) ? NULL : realloc(buf, cap * 2);
            if (!nb) break;
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

void mae_cli_print_diags(mae_diags *d, const char *path) {
    mae__diags_sort(d);
    if (!isatty(2)) {
        mae__diags_print(d, stderr);
        return;
    }
    const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");
    int color = !(nc && nc[0]) && !(term && strcmp(term, "dumb") == 0);
    size_t len = 0;
    char *src = mae_cli_slurp(path, &len);
    mae__diags_print_fmt(d, stderr, MAE_DIAG_PRETTY, src, len, color);
    free(src);
}
