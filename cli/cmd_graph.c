/* maestro graph FILE [--format dot|mermaid|svg|png]: the workflow's steps as a graph on stdout
 * (workflow/graph.c draws it; svg and png go through Graphviz's dot when it is installed). */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "maestro/maestro.h"
#include "workflow/model.h"

extern char **environ;

enum { O_FORMAT = 1 };

static const mae_cli_opt graph_opts[] = {
    {O_FORMAT, "--format", "-f", "FORMAT", "dot (default), mermaid, or svg|png (needs Graphviz's dot)"},
    {0, NULL, NULL, NULL, NULL},
};

static const mae_cli_spec graph_spec = {
    "graph", "WORKFLOW.yaml [--format dot|mermaid|svg|png]",
    "Prints the steps as a Graphviz DOT (default) or Mermaid flowchart on stdout, from start\n"
    "to end: calls are nodes (HTTP rounded, gRPC as components) with their service, method,\n"
    "attempts, timeout and `when`; parallel and foreach are clusters (a foreach says what it\n"
    "iterates and how many at a time); solid edges follow the run order; each compensation\n"
    "sits beside its step, dashed in an accent colour, with an arrow back to it. svg and png\n"
    "run Graphviz's dot (Debian: apt-get install graphviz).\n",
    graph_opts,
    "example:\n  maestro graph wf.yaml --format svg > wf.svg\n",
};

/* The DOT piped through `dot -T<format>`, whose output goes straight to our stdout. 0, or 2
 * with a message when Graphviz is missing or fails. */
static int render_image(const mae_workflow *wf, const char *format) {
    char *dot = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&dot, &len);
    if (!m) return 2;
    int rc = mae__workflow_graph(wf, MAE_GRAPH_DOT, m);
    fclose(m);
    if (rc != 0) {
        free(dot);
        fprintf(stderr, "maestro graph: %s\n", mae_strerror(rc));
        return 2;
    }
    fflush(stdout);
    int fds[2];
    if (pipe(fds) != 0) {
        free(dot);
        return 2;
    }
    char fmtarg[16];
    snprintf(fmtarg, sizeof fmtarg, "-T%s", format);
    char *argv[] = {"dot", fmtarg, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    pid_t pid;
    int e = posix_spawnp(&pid, "dot", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[0]);
    if (e != 0) {
        close(fds[1]);
        free(dot);
        fprintf(stderr, "maestro graph: --format %s needs Graphviz's 'dot' (%s); on Debian: apt-get install graphviz\n",
                format, strerror(e));
        return 2;
    }
    /* dot reads everything before it writes: a failed write shows in its exit status */
    void (*old)(int) = signal(SIGPIPE, SIG_IGN);
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fds[1], dot + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        off += (size_t)w;
    }
    close(fds[1]);
    signal(SIGPIPE, old);
    free(dot);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "maestro graph: Graphviz's dot failed (status %d)\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        return 2;
    }
    return 0;
}

int mae_cmd_graph(int argc, char **argv) {
    const char *file = NULL;
    mae_graph_format fmt = MAE_GRAPH_DOT;
    const char *image = NULL;   /* svg or png: the DOT goes through Graphviz */
    mae_cli_args args;
    mae_cli_args_init(&args, &graph_spec, argc, argv);
    const char *v;
    for (int id; (id = mae_cli_next(&args, &v)) != MAE_CLI_END;) {
        switch (id) {
        case MAE_CLI_HELP: return 0;
        case MAE_CLI_BAD: return 2;
        case MAE_CLI_ARG:
            if (file) return mae_cli_usage(&graph_spec, "only one workflow file");
            file = v;
            break;
        case O_FORMAT:
            if (strcmp(v, "dot") == 0) fmt = MAE_GRAPH_DOT;
            else if (strcmp(v, "mermaid") == 0) fmt = MAE_GRAPH_MERMAID;
            else if (strcmp(v, "svg") == 0 || strcmp(v, "png") == 0) image = v;
            else return mae_cli_usage(&graph_spec, "unknown format '%s' (dot, mermaid, svg or png)", v);
            break;
        }
    }
    if (!file) return mae_cli_usage(&graph_spec, "no workflow file given");
    mae_diags d;
    mae__diags_init(&d, file);
    mae_workflow *wf = NULL;
    int rc = mae__workflow_load_file(file, &wf, &d);
    if (rc != 0) {
        if (d.n == 0 && d.dropped == 0) mae__diag_add(&d, (mae_pos){0, 0}, "%s", mae_strerror(rc));
        mae_cli_print_diags(&d, file);
        mae__diags_free(&d);
        return 2;
    }
    if (image) {
        int code = render_image(wf, image);
        mae_workflow_free(wf);
        mae__diags_free(&d);
        return code;
    }
    rc = mae__workflow_graph(wf, fmt, stdout);
    mae_workflow_free(wf);
    mae__diags_free(&d);
    if (rc != 0) {
        fprintf(stderr, "maestro graph: %s\n", mae_strerror(rc));
        return 2;
    }
    return 0;
}
