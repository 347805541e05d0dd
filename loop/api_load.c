/* mae_workflow_load: the embedding API's one-call loader, printing diagnostics. Its own file so
 * programs that build models another way do not pull in the YAML loader. */
#include <stdio.h>

#include "maestro/maestro.h"
#include "workflow/model.h"

int mae_workflow_load(const char *path, mae_workflow **out, FILE *diag_out) {
    mae_diags d;
    mae_diags_init(&d, path);
    int rc = mae_workflow_load_file(path, out, &d);
    if (rc != 0 && diag_out) {
        mae_diags_sort(&d);
        mae_diags_print(&d, diag_out);
    }
    mae_diags_free(&d);
    return rc;
}
