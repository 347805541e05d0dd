/* maestro graph FILE [--format dot|mermaid]: the workflow's steps as a graph on stdout. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "maestro/maestro.h"
#include "workflow/model.h"

enum { O_FORMAT = 1 };

static const mae_cli_opt graph_opts[] = {
    {O_FORMAT, "--format", "-f", "FORMAT", "dot (default), mermaid, or svg|png (needs Graphviz's dot)"},
    {0, NULL, NULL, NULL, NULL},
};

static const mae_cli_spec graph_spec = {
    "graph", "WORKFLOW.yaml [--format dot|mermaid|svg|png]",
    "Prints the steps as a Graphviz DOT (default) or Mermaid flowchart on stdout: calls are\n"
    "nodes, parallel and foreach are clusters, solid edges follow the run order and each\n"
    "compensation is a dashed node with a dashed edge back to its step.\n",
    graph_opts,
    "example:\n  maestro graph wf.yaml --format svg > wf.svg\n",
};

int mae_cmd_graph(int argc, char **argv) {
    const char *file = NULL;
    mae_graph_format fmt = MAE_GRAPH_DOT;
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
            else return mae_cli_usage(&graph_spec, "unknown format '%s' (dot or mermaid)", v);
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
        mae__diags_sort(&d);
        mae__diags_print(&d, stderr);
        mae__diags_free(&d);
        return 2;
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
