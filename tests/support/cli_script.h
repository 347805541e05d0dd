/* The test build of the CLI (build/<flavour>/tests/maestro-test): when MAESTRO_SCRIPT names a
 * JSON rules file, `maestro run` and `maestro bench` use the scripted transport (scripted.h)
 * for both service types instead of the network, so the CLI can be tested end to end.
 * cli/transports.c calls these only when compiled with -DMAE_TEST_BUILD; the production
 * binary and libmaestro.a contain none of it.
 *
 * The rules file is a JSON array of objects:
 *   {"method": "Charge", "service": "pay", "match_input": "...", "latency_ms": 5,
 *    "fail_times": 2 (-1 = always), "fail_class": "http_5xx|http_4xx|grpc|connect|timeout|
 *    app_error|decode", "status": 503, "message": "...", "retry_after_ms": 100, "hang": true,
 *    "output": {...}}
 * Calls no rule matches answer with their own input. It is read once at start-up. */
#ifndef MAE_TEST_CLI_SCRIPT_H
#define MAE_TEST_CLI_SCRIPT_H

#include <uv.h>

#include "cli/transports.h"

/* Returns 1 when MAESTRO_SCRIPT is unset or empty (t untouched: use the real transports);
 * 0 when t->http and t->grpc are both the scripted transport; or a negative MAE_E* with a
 * message printed to stderr. */
int mae__test_script_open(uv_loop_t *loop, mae_cli_transports *t);
/* Frees what mae__test_script_open kept alive, once the transports are closed. */
void mae__test_script_release(mae_cli_transports *t);

#endif
