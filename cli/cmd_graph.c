/* maestro graph FILE [--format dot|mermaid]: the workflow's steps as a graph on stdout. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "maestro/maestro.h"
#include "workflow/model.h"

static const char help[] =
    "usage: maestro graph WORKFLOW.yaml [--format dot|mermaid]\n"
    "\n"
    "Prints the steps as a Graphviz DOT (default) or Mermaid flowchart on stdout: calls are\n"
    "nodes, parallel and foreach are clusters, solid edges follow the run order and each\n"
    "compensation is a dashed node with a dashed edge back to its step.\n"
    "  maestro graph wf.yaml | dot -Tsvg > wf.svg\n";

int mae_cmd_graph(int argc, char **argv) {
    if (mae_cli_wants_help(argc, argv)) {
        fputs(help, stdout);
        return 0;
    }
    const char *file = NULL;
    mae_graph_format fmt = MAE_GRAPH_DOT;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *f = NULL;
        if (strcmp(a, "--format") == 0) {
            if (++i >= argc) {
                fprintf(stderr, "maestro graph: --format needs a value (dot or mermaid)\n");
                return 2;
            }
            f = argv[i];
        } else if (strncmp(a, "--format=", 9) == 0) {
            f = a + 9;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "maestro graph: unknown option '%s'\n%s", a, help);
            return 2;
        } else if (file) {
            fprintf(stderr, "maestro graph: only one workflow file\n");
            return 2;
        } else {
            file = a;
        }
        if (f) {
            if (strcmp(f, "dot") == 0) fmt = MAE_GRAPH_DOT;
            else if (strcmp(f, "mermaid") == 0) fmt = MAE_GRAPH_MERMAID;
            else {
                fprintf(stderr, "maestro graph: unknown format '%s' (dot or mermaid)\n", f);
                return 2;
            }
        }
    }
    if (!file) {
        fputs(help, stderr);
        return 2;
    }
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
