/* The `maestro` command: one function per sub-command, each in its own file. They return the
 * process exit code (docs/cli.md#exit-codes). */
#ifndef MAE_CLI_H
#define MAE_CLI_H
int mae_cmd_validate(int argc, char **argv);
int mae_cmd_graph(int argc, char **argv);
int mae_cmd_run(int argc, char **argv);     /* run and execute */
int mae_cmd_bench(int argc, char **argv);
int mae_cmd_stub(int argc, char **argv);
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
 * NULL with a message on stderr. */
char *mae_cli_read_input(const char *cmd, const char *arg);
/* --set service.NAME.endpoint=URL (the workflow keeps a pointer into kv). 0, or 2 with a
 * message on stderr. */
int mae_cli_apply_set(const char *cmd, struct mae_workflow *wf, const char *kv);
/* True when argv holds -h or --help. */
int mae_cli_wants_help(int argc, char **argv);
#endif
