/* maestro validate FILE...: loads every file and prints every problem as
 * FILE:LINE:COL: error: MESSAGE on stderr, sorted by position. Nothing is called. Nothing is
 * written to stdout; a clean file gets a "FILE: ok" line on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include "cli/cli.h"
#include "maestro/maestro.h"
#include "workflow/model.h"
#include "workflow/stubfile.h"

enum { O_STUB = 1, O_FORMAT };

static const mae_cli_opt validate_opts[] = {
    {O_STUB, "--stub", NULL, NULL, "check the files as stub files (maestro stub); the default guesses"},
    {O_FORMAT, "--format", "-f", "FORMAT", "text (one line each), pretty (source line, caret, count), json"},
    {0, NULL, NULL, NULL, NULL},
};

static const mae_cli_spec validate_spec = {
    "validate", "FILE...",
    "Checks each workflow file (YAML, keys, types, services, durations, templates and the\n"
    "variables they use) without calling anything. A file without top-level 'steps' whose\n"
    "services have 'listen', 'routes' or 'methods' is checked as a stub file. Every problem\n"
    "is printed on stderr as FILE:LINE:COL: error: MESSAGE; on a terminal (or with --format\n"
    "pretty) followed by the source line with a caret under the column, and a count at the\n"
    "end, in colour unless NO_COLOR is set. --format json prints one JSON object per problem\n"
    "on stdout ({\"file\",\"line\",\"column\",\"severity\",\"message\"}) for editors and CI.\n",
    validate_opts,
    "exit codes: 0 every file is valid, 2 otherwise\n",
};

/* A stub file has no top-level 'steps' and a service that listens or lists routes/methods. */
static int looks_like_stub(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char line[512];
    int steps = 0, stubby = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "steps:", 6) == 0) steps = 1;
        const char *p = line + strspn(line, " ");
        if (p != line && (strncmp(p, "listen:", 7) == 0 || strncmp(p, "routes:", 7) == 0 || strncmp(p, "methods:", 8) == 0))
            stubby = 1;
    }
    fclose(f);
    return stubby && !steps;
}

int mae_cmd_validate(int argc, char **argv) {
    const char *files[256];
    int n = 0, stub = 0;
    int tty = isatty(2);
    const char *nc = getenv("NO_COLOR");
    mae_diag_format fmt = tty ? MAE_DIAG_PRETTY : MAE_DIAG_TEXT;
    mae_cli_args args;
    mae_cli_args_init(&args, &validate_spec, argc, argv);
    const char *v;
    for (int id; (id = mae_cli_next(&args, &v)) != MAE_CLI_END;) {
        switch (id) {
        case MAE_CLI_HELP: return 0;
        case MAE_CLI_BAD: return 2;
        case MAE_CLI_ARG:
            if (n == 256) return mae_cli_usage(&validate_spec, "at most 256 files at a time");
            files[n++] = v;
            break;
        case O_STUB: stub = 1; break;
        case O_FORMAT:
            if (!strcmp(v, "text")) fmt = MAE_DIAG_TEXT;
            else if (!strcmp(v, "pretty")) fmt = MAE_DIAG_PRETTY;
            else if (!strcmp(v, "json")) fmt = MAE_DIAG_JSON;
            else return mae_cli_usage(&validate_spec, "--format: expected text, pretty or json, got '%s'", v);
            break;
        }
    }
    if (n == 0) return mae_cli_usage(&validate_spec, "no file given");
    int bad = 0;
    for (int i = 0; i < n; i++) {
        mae_diags d;
        mae__diags_init(&d, files[i]);
        int as_stub = stub || looks_like_stub(files[i]);
        mae_workflow *wf = NULL;
        mae_stub_file *sf = NULL;
        int rc = as_stub ? mae__stub_file_load(files[i], &sf, &d) : mae__workflow_load_file(files[i], &wf, &d);
        if (rc == 0) {
            if (fmt != MAE_DIAG_JSON) fprintf(stderr, "%s: ok%s\n", files[i], as_stub ? " (stub file)" : "");
            /* typed services described by reflection cannot be checked without calling them */
            for (size_t k = 0; wf && fmt != MAE_DIAG_JSON && k < wf->n_services; k++)
                if (wf->services[k].reflection)
                    fprintf(stderr, "%s: note: service %s uses descriptors: reflection; its methods and "
                            "inputs are checked when a run starts\n", files[i], wf->services[k].name);
        } else {
            bad = 1;
            if (d.n == 0 && d.dropped == 0) mae__diag_add(&d, (mae_pos){0, 0}, "%s", mae_strerror(rc));
            mae__diags_sort(&d);
            size_t len = 0;
            char *src = fmt == MAE_DIAG_PRETTY ? mae_cli_slurp(files[i], &len) : NULL;
            mae__diags_print_fmt(&d, fmt == MAE_DIAG_JSON ? stdout : stderr, fmt, src, len,
                                 fmt == MAE_DIAG_PRETTY && tty && !(nc && nc[0]));
            free(src);
        }
        mae_workflow_free(wf);
        mae__stub_file_free(sf);
        mae__diags_free(&d);
    }
    return bad ? 2 : 0;
}
