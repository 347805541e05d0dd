/* maestro: sub-command dispatch, version and help. Nothing else lives here. A command is one
 * line in the table below; its options and help live in its own file (cli/cmd_*.c). */
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/out.h"
#include "maestro/maestro.h"

typedef struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *args;      /* shown after the name in the general help */
    const char *summary;
} command;

static const command commands[] = {
    {"run", mae_cmd_run, "WORKFLOW.yaml [--input JSON|@FILE|-]", "run a workflow"},
    {"execute", mae_cmd_run, "...", "same as run"},
    {"validate", mae_cmd_validate, "FILE...", "check workflow or stub files; nothing is called"},
    {"graph", mae_cmd_graph, "WORKFLOW.yaml [--format FORMAT]", "draw the steps (dot, mermaid, svg, png)"},
    {"describe", mae_cmd_describe, "WORKFLOW.yaml [SERVICE]", "typed gRPC methods and inputs"},
    {"bench", mae_cmd_bench, "WORKFLOW.yaml -n RUNS -c CONC", "run many instances, report figures"},
    {"stub", mae_cmd_stub, "STUBS.yaml [--log FILE]", "serve fake HTTP and gRPC services"},
    {"serve", mae_cmd_serve, "WORKFLOW.yaml... [--listen HOST:PORT]", "run workflows on request over an HTTP API"},
    {"runs", mae_cmd_runs, "[--all] [--json]", "journaled runs: unfinished (or all)"},
    {"show", mae_cmd_show, "RUN_ID", "the report of a journaled run"},
    {"resume", mae_cmd_resume, "RUN_ID|--all [--force]", "continue runs a crash interrupted"},
    {"compensate", mae_cmd_compensate, "RUN_ID [--force]", "undo a run a crash interrupted"},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f) {
    fputs("maestro " MAE_VERSION " - glue services into workflows that survive failure\n\nusage:\n", f);
    for (size_t i = 0; i < N_COMMANDS; i++) {
        char left[96];
        snprintf(left, sizeof left, "%s %s", commands[i].name, commands[i].args);
        fprintf(f, "  maestro %-40s %s\n", left, commands[i].summary);
    }
    fputs("  maestro version | help [COMMAND] | COMMAND --help\n"
          "\n"
          "Try 'maestro help COMMAND' for a command's options; 'man maestro' once installed.\n"
          "\n"
          "exit codes: 0 succeeded, 1 failed and compensated, 2 invalid usage/workflow/input,\n"
          "            3 failed with a compensation failing, 4 succeeded but the output or the\n"
          "            report could not be written, 130 interrupted\n",
          f);
}

static const command *find(const char *name) {
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0) return &commands[i];
    return NULL;
}

static int unknown(const char *name) {
    const char *cands[N_COMMANDS + 3];
    for (size_t i = 0; i < N_COMMANDS; i++) cands[i] = commands[i].name;
    cands[N_COMMANDS] = "help";
    cands[N_COMMANDS + 1] = "version";
    cands[N_COMMANDS + 2] = NULL;
    const char *sug = mae_cli_suggest(name, cands);
    if (sug) fprintf(stderr, "maestro: unknown command '%s'; did you mean '%s'?\n", name, sug);
    else fprintf(stderr, "maestro: unknown command '%s'\n", name);
    fputs("Try 'maestro help'.\n", stderr);
    return 2;
}

static int dispatch(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    const command *c = find(cmd);
    if (c) return c->fn(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("maestro %s\n", MAE_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        if (argc > 2) {
            c = find(argv[2]);
            if (!c) return unknown(argv[2]);
            char *sub[] = {argv[2], "--help", NULL};
            return c->fn(2, sub);
        }
        usage(stdout);
        return 0;
    }
    return unknown(cmd);
}

int main(int argc, char **argv) {
    /* Before anything opens a descriptor: a closed 0, 1 or 2 would otherwise be taken by the
     * loop's epoll or a socket, and the output written into it. */
    mae_cli_std_init();
#ifdef M_TOP_PAD
    /* Grow the heap by at least 512 KiB at a time (glibc's default: 128 KiB). Since libcurl is
     * loaded only for HTTP calls, a gRPC run starts with a small heap, and each run's memory sat
     * at its top: malloc spent about 5,700 instructions more per one-step run extending and
     * consolidating it (bench/README.md, issue #15). The pad is address space, not RSS, until
     * used. */
    mallopt(M_TOP_PAD, 512 * 1024);
#endif
    int rc = dispatch(argc, argv);
    int e = mae_cli_stdout_finish();
    if (e && rc == 0) {
        fprintf(stderr, "maestro: the output could not be written: %s\n", mae_cli_stdout_strerror(e));
        rc = MAE_CLI_EXIT_WRITE;
    }
    return rc;
}
