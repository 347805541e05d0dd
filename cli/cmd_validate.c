/* maestro validate FILE...: loads every file and prints every problem as
 * FILE:LINE:COL: error: MESSAGE on stderr, sorted by position. Nothing is called. Nothing is
 * written to stdout; a clean file gets a "FILE: ok" line on stderr. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "maestro/maestro.h"
#include "workflow/model.h"

static const char help[] =
    "usage: maestro validate WORKFLOW.yaml...\n"
    "\n"
    "Checks each workflow file (YAML, keys, types, services, durations, templates and the\n"
    "variables they use) without calling anything. Every problem is printed on stderr as\n"
    "FILE:LINE:COL: error: MESSAGE. Exit code 0 when every file is valid, 2 otherwise.\n";

int mae_cmd_validate(int argc, char **argv) {
    if (mae_cli_wants_help(argc, argv)) {
        fputs(help, stdout);
        return 0;
    }
    if (argc < 2) {
        fputs(help, stderr);
        return 2;
    }
    int bad = 0;
    for (int i = 1; i < argc; i++) {
        mae_diags d;
        mae__diags_init(&d, argv[i]);
        mae_workflow *wf = NULL;
        int rc = mae__workflow_load_file(argv[i], &wf, &d);
        if (rc == 0) {
            fprintf(stderr, "%s: ok\n", argv[i]);
        } else {
            bad = 1;
            if (d.n == 0 && d.dropped == 0) mae__diag_add(&d, (mae_pos){0, 0}, "%s", mae_strerror(rc));
            mae__diags_sort(&d);
            mae__diags_print(&d, stderr);
        }
        mae_workflow_free(wf);
        mae__diags_free(&d);
    }
    return bad ? 2 : 0;
}
