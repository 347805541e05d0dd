/* libFuzzer target: arbitrary bytes through the whole workflow loader (YAML tree, model,
 * templates, reference checks) and, when a file loads, the graph printer. Everything freed. */
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
    mae_workflow_free(wf);
    mae__diags_free(&d);
    return 0;
}
