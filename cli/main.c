/* maestro: sub-command dispatch, version and help. Nothing else lives here. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/out.h"
#include "maestro/maestro.h"

static const char usage[] =
    "maestro " MAE_VERSION " - glue services into workflows that survive failure\n"
    "\n"
    "usage:\n"
    "  maestro run WORKFLOW.yaml [--input JSON|@FILE|-] [options]   run a workflow\n"
    "  maestro execute ...                                          same as run\n"
    "  maestro validate WORKFLOW.yaml...                            check files; nothing is called\n"
    "  maestro graph WORKFLOW.yaml [--format dot|mermaid]           draw the steps\n"
    "  maestro bench WORKFLOW.yaml --input ... -n RUNS -c CONC      run many instances, report figures\n"
    "  maestro stub STUBS.yaml [--log FILE]                         serve fake HTTP and gRPC services\n"
    "  maestro runs [--all] [--json] | show ID | resume ID|--all | compensate ID   journaled runs\n"
    "  maestro version | help | <command> --help\n"
    "\n"
    "exit codes: 0 succeeded, 1 failed and compensated, 2 invalid usage/workflow/input,\n"
    "            3 failed with a compensation failing, 4 succeeded but the output or the\n"
    "            report could not be written, 130 interrupted\n";

int mae_cli_wants_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return 1;
    return 0;
}

static int dispatch(int argc, char **argv) {
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "run") == 0 || strcmp(cmd, "execute") == 0) return mae_cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "validate") == 0) return mae_cmd_validate(argc - 1, argv + 1);
    if (strcmp(cmd, "graph") == 0) return mae_cmd_graph(argc - 1, argv + 1);
    if (strcmp(cmd, "bench") == 0) return mae_cmd_bench(argc - 1, argv + 1);
    if (strcmp(cmd, "stub") == 0) return mae_cmd_stub(argc - 1, argv + 1);
    if (strcmp(cmd, "runs") == 0) return mae_cmd_runs(argc - 1, argv + 1);
    if (strcmp(cmd, "show") == 0) return mae_cmd_show(argc - 1, argv + 1);
    if (strcmp(cmd, "resume") == 0) return mae_cmd_resume(argc - 1, argv + 1);
    if (strcmp(cmd, "compensate") == 0) return mae_cmd_compensate(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("maestro %s\n", MAE_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    fprintf(stderr, "maestro: unknown command '%s'\n\n%s", cmd, usage);
    return 2;
}

int main(int argc, char **argv) {
    /* Before anything opens a descriptor: a closed 0, 1 or 2 would otherwise be taken by the
     * loop's epoll or a socket, and the output written into it. */
    mae_cli_std_init();
    int rc = dispatch(argc, argv);
    int e = mae_cli_stdout_finish();
    if (e && rc == 0) {
        fprintf(stderr, "maestro: the output could not be written: %s\n", mae_cli_stdout_strerror(e));
        rc = MAE_CLI_EXIT_WRITE;
    }
    return rc;
}
