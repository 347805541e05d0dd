/* libFuzzer target: arbitrary bytes through the stub file loader (YAML tree, services, routes,
 * behaviours, response templates). Everything freed. */
#include <stdint.h>

#include "workflow/stubfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mae_diags d;
    mae__diags_init(&d, "fuzz.stub.yaml");
    mae_stub_file *f = NULL;
    mae__stub_file_load_buf("fuzz.stub.yaml", (const char *)data, size, &f, &d);
    mae__diags_sort(&d);
    mae__stub_file_free(f);
    mae__diags_free(&d);
    return 0;
}
