/* The `maestro` command: one function per sub-command, each in its own file. They return the
 * process exit code (docs/cli.md#exit-codes). */
#ifndef MAE_CLI_H
#define MAE_CLI_H
#include <stddef.h>
#include <stdio.h>

int mae_cmd_validate(int argc, char **argv);
int mae_cmd_graph(int argc, char **argv);
int mae_cmd_describe(int argc, char **argv);
int mae_cmd_run(int argc, char **argv);     /* run and execute */
int mae_cmd_bench(int argc, char **argv);
int mae_cmd_stub(int argc, char **argv);
int mae_cmd_serve(int argc, char **argv);
int mae_cmd_runs(int argc, char **argv);        /* cmd_runs.c: the journal's commands */
int mae_cmd_show(int argc, char **argv);
int mae_cmd_resume(int argc, char **argv);
int mae_cmd_compensate(int argc, char **argv);
/* The journal directory of a run: NULL when off (--no-journal), arg (--journal), else the
 * default (docs/journal.md#where). */
const char *mae_cli_journal_dir(const char *arg, int off);
/* --retain: "7d" (days) or any duration ("36h"). 0 or -1. */
int mae_cli_parse_retain(const char *s, unsigned long long *ms);
/* Deletes finished runs' journals in dir older than retain_ms (unfinished ones stay). */
void mae_cli_journal_prune(const char *dir, unsigned long long retain_ms);
struct mae_workflow;
/* --input: inline JSON, @FILE or - (stdin), at most 64 MiB; "{}" when arg is NULL. malloc'd;
 * NULL with one message on stderr (the system's reason for a file that cannot be read). */
char *mae_cli_read_input(const char *cmd, const char *arg);
/* --set service.NAME.endpoint=URL (the workflow keeps a pointer into kv). 0, or 2 with a
 * message on stderr. */
int mae_cli_apply_set(const char *cmd, struct mae_workflow *wf, const char *kv);
/* True when argv holds -h or --help (before any "--"). */
int mae_cli_wants_help(int argc, char **argv);

/* Diagnostics of a file on stderr: on a terminal as a compiler prints them (source line, caret,
 * count; colour unless NO_COLOR), else one FILE:LINE:COL line each. Sorts d. */
struct mae_diags;
void mae_cli_print_diags(struct mae_diags *d, const char *path);
/* A file's text for source lines, at most 16 MiB (like the loader); NULL when unreadable. */
char *mae_cli_slurp(const char *path, size_t *len);

/* ---- Option parsing shared by every command (cli/args.c) ----
 * A command describes itself once in a mae_cli_spec; the parser and the help text both come
 * from it, so adding a flag is one line in the command's option table (plus its case).
 * Accepted forms: --name VALUE, --name=VALUE, -x VALUE, flags without a value, "--" ending the
 * options, and "-" as an ordinary argument. Unknown options are never taken for file names. */
typedef struct mae_cli_opt {
    int id;              /* what mae_cli_next returns for this option (> 0) */
    const char *name;    /* "--input" */
    const char *alias;   /* "-q", or NULL */
    const char *arg;     /* the value's placeholder ("JSON|@FILE|-"), NULL for a flag */
    const char *help;    /* one line */
} mae_cli_opt;

typedef struct mae_cli_spec {
    const char *cmd;       /* "run" */
    const char *synopsis;  /* after "usage: maestro CMD " */
    const char *about;     /* paragraph(s) between the usage line and the options, or NULL */
    const mae_cli_opt *opts; /* ends with an entry whose name is NULL; may be NULL */
    const char *footer;    /* after the options (exit codes, examples), or NULL */
} mae_cli_spec;

enum {
    MAE_CLI_END = 0,      /* no more arguments */
    MAE_CLI_ARG = -1,     /* an ordinary argument, in *val */
    MAE_CLI_HELP = -2,    /* -h or --help: the help was printed on stdout; exit 0 */
    MAE_CLI_BAD = -3      /* a usage error was printed on stderr; exit 2 */
};

typedef struct mae_cli_args {
    const mae_cli_spec *spec;
    int argc;
    char **argv;
    int i;
    int only_args;   /* after "--" */
} mae_cli_args;

/* argv[0] is the command's name (argv as given to mae_cmd_*). */
void mae_cli_args_init(mae_cli_args *a, const mae_cli_spec *spec, int argc, char **argv);
/* The next option's id (its value in *val, NULL for a flag), MAE_CLI_ARG, MAE_CLI_END,
 * MAE_CLI_HELP or MAE_CLI_BAD. */
int mae_cli_next(mae_cli_args *a, const char **val);
/* The command's help (usage, about, options, footer). */
void mae_cli_help(const mae_cli_spec *spec, FILE *f);
/* Prints "maestro CMD: MESSAGE" and "Try 'maestro help CMD'." on stderr; returns 2. */
int mae_cli_usage(const mae_cli_spec *spec, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The candidate closest to word (case-insensitive edit distance, transpositions count one),
 * when it is close enough to be a likely typo; else NULL. cands ends with NULL. */
const char *mae_cli_suggest(const char *word, const char *const *cands);
#endif
