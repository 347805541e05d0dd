/* libFuzzer target: arbitrary bytes as a run's JSON input, checked against a workflow that
 * declares every input type, required fields and defaults (mae__input_check fills defaults in
 * place). Everything freed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "workflow/model.h"

static const char wf_text[] =
    "name: fuzz_input\n"
    "input:\n"
    "  s: {type: string, required: true}\n"
    "  n: {type: number, default: 1.5}\n"
    "  i: {type: integer, required: true}\n"
    "  b: {type: boolean, default: false}\n"
    "  o: {type: object, default: {k: [1, {x: y}]}}\n"
    "  a: {type: array}\n"
    "  any: {default: null}\n"
    "services:\n"
    "  svc: {type: http, endpoint: \"http://127.0.0.1:1\"}\n"
    "steps:\n"
    "  - id: one\n"
    "    service: svc\n"
    "    method: \"POST /x\"\n"
    "    input: {s: \"{{ .input.s }}\"}\n";

static mae_workflow *wf;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!wf) {
        mae_diags d;
        mae__diags_init(&d, "fuzz_input.yaml");
        if (mae__workflow_load_buf("fuzz_input.yaml", wf_text, strlen(wf_text), &wf, &d) != 0) abort();
        mae__diags_free(&d);
    }
    cJSON *in = cJSON_ParseWithLength((const char *)data, size);
    mae_diags d;
    mae__diags_init(&d, "input");
    int rc = mae__input_check(wf, in, &d);
    /* A refused input always says why. */
    if (rc != 0 && d.n == 0) abort();
    if (rc == 0 && !cJSON_IsObject(in)) abort();
    mae__diags_free(&d);
    cJSON_Delete(in);
    return 0;
}
