/* The `maestro` command: one function per sub-command, each in its own file. They return the
 * process exit code (SPEC §1). */
#ifndef MAE_CLI_H
#define MAE_CLI_H
int mae_cmd_validate(int argc, char **argv);
int mae_cmd_graph(int argc, char **argv);
int mae_cmd_run(int argc, char **argv);     /* run and execute */
int mae_cmd_bench(int argc, char **argv);
int mae_cmd_stub(int argc, char **argv);
/* True when argv holds -h or --help. */
int mae_cli_wants_help(int argc, char **argv);
#endif
