/* libFuzzer target: arbitrary bytes through the whole workflow loader (YAML tree, model,
 * templates, reference checks) and, when a file loads, the graph printer; otherwise its
 * diagnostics in every format, the pretty one with the bytes as the source lines under the
 * carets. Everything freed. */
#include <stdint.h>
#include <stdio.h>

#include "workflow/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mae_diags d;
    mae__diags_init(&d, "fuzz.yaml");
    mae_workflow *wf = NULL;
    if (mae__workflow_load_buf("fuzz.yaml", (const char *)data, size, &wf, &d) == 0 && wf) {
        FILE *f = fopen("/dev/null", "w");
        if (f) {
            mae__workflow_graph(wf, MAE_GRAPH_DOT, f);
            mae__workflow_graph(wf, MAE_GRAPH_MERMAID, f);
            fclose(f);
        }
        cJSON *in = cJSON_CreateObject();
        mae__input_check(wf, in, &d);
        cJSON_Delete(in);
    }
    mae__diags_sort(&d);
    FILE *null = fopen("/dev/null", "w");
    if (null) {
        mae__diags_print_fmt(&d, null, MAE_DIAG_PRETTY, (const char *)data, size, 1);
        mae__diags_print_fmt(&d, null, MAE_DIAG_JSON, NULL, 0, 0);
        fclose(null);
    }
    mae_workflow_free(wf);
    mae__diags_free(&d);
    return 0;
}
