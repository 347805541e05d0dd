/* libFuzzer target: arbitrary bytes as a journal file — the record decoder (torn tail versus
 * damage, lengths never trusted) and the reader that builds a run's state from the records'
 * JSON payloads (loop/journal_run.c), as `maestro runs`, `show` and `resume` read them. */
#include <stdint.h>
#include <stdlib.h>

#include "loop/journal_run.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mae_jscan s;
    mae__jrnl_scan(data, size, NULL, NULL, &s);
    if (s.header == 0) {
        /* what a scan vouches for lies inside the input, and a clean scan reads it all */
        if (s.valid_end > size) abort();
        if (!s.torn && !s.damaged && s.valid_end != size) abort();
        if (s.damaged && s.damaged_at >= size) abort();
    }
    mae_jfile f = {0};
    char err[256];
    mae__jfile_load_buf(data, size, &f, err, sizeof err);
    mae__jfile_free(&f);
    return 0;
}
