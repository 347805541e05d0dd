/* What `maestro run` knows before anything is called: the input keys the workflow reads, and
 * (--dry-run) every request it would send, rendered in order, without sending any. Reads the
 * workflow model and the template engine only: no loop, no transport. */
#ifndef MAE_CLI_PLAN_H
#define MAE_CLI_PLAN_H
#include <cjson/cJSON.h>
#include <stdio.h>

struct mae_workflow;

/* Every `.input.X` the workflow reads outside a `default` must be in input (after the `input:`
 * declaration's defaults were filled in). 0, or 2 with one line on stderr naming each missing
 * key and the steps that read it. */
int mae_cli_input_reads_check(const struct mae_workflow *wf, const cJSON *input, const char *cmd);

/* Prints one JSON object per line on out for every step in run order: its `when` (skipped steps
 * say so), and for calls the request (service, type, endpoint, method and URL or gRPC method,
 * headers, body; GET, DELETE and HEAD carry the input in the URL's query, as sent), then its
 * compensation's request. Outputs of earlier steps are unknown: a
 * template that needs one shows a placeholder naming it ("<validated.storage_path>"). A
 * foreach over a known array is expanded item by item (at most 1000 lines per foreach).
 * A template that fails for another reason shows "<its source>" too. Returns 0 (1: no memory). */
int mae_cli_dry_run(const struct mae_workflow *wf, const cJSON *input, FILE *out);
#endif
