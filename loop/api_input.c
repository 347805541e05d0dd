/* A run's input text → a checked JSON object, with every problem handed to the embedder
 * (mae_run_opts.on_input_error) instead of only to a log. */
#include <cjson/cJSON.h>

#include "workflow/json_out.h"
#include "loop/engine_int.h"

static void report(mae_engine *e, const mae_run_opts *opts, mae_diags *d) {
    mae__diags_sort(d);
    if (opts && opts->on_input_error) {
        mae__diags_emit(d, opts->on_input_error, opts->input_ud);
        return;
    }
    for (size_t i = 0; i < d->n; i++) mae__elog(e, MAE_LOG_ERROR, "invalid input: %s", d->items[i].message);
}

int mae__api_input(mae_engine *e, const mae_workflow *wf, const char *json, const mae_run_opts *opts,
                   cJSON **out) {
    const mae_pos nopos = {0, 0};
    mae_diags d;
    mae__diags_init(&d, "input");
    cJSON *input = NULL;
    char perr[96], msg[128];
    int rc = mae__json_parse_doc(json ? json : "{}", &input, perr, sizeof perr);
    if (rc != 0) {
        snprintf(msg, sizeof msg, "input: %s", perr);
        mae__diag_add(&d, nopos, "%s", msg);
    } else {
        rc = mae__input_check(wf, input, &d);
    }
    if (rc == MAE_ENOMEM && d.n == 0) mae__diag_add(&d, nopos, "input: out of memory");
    if (rc != 0) {
        report(e, opts, &d);
        cJSON_Delete(input);
        input = NULL;
    }
    mae__diags_free(&d);
    *out = input;
    return rc;
}
