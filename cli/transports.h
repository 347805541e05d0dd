/* The transports `maestro run` (and later `bench`) hand to the engine, one per service type.
 * This is the one place the real constructors are wired in (mae_http_transport_new from
 * transports/http.h, mae_grpc_transport_new from grpc_h2/grpc_transport.h). A type left NULL
 * makes its calls fail with a clear "no transport" error.
 *
 * Test hook: when MAESTRO_SCRIPT names a JSON file, both types use the scripted transport with
 * the rules in that file (see cli/transports.c), so the CLI can be tested end to end. */
#ifndef MAE_CLI_TRANSPORTS_H
#define MAE_CLI_TRANSPORTS_H

#include <uv.h>

#include "transports/transport.h"

typedef struct mae_cli_transports {
    mae_transport *http, *grpc;
    cJSON *script;          /* MAESTRO_SCRIPT rules, alive as long as the transport */
    int closing;
    void (*done)(void *ud);
    void *ud;
} mae_cli_transports;

/* Returns 0, or a negative MAE_E* with a message printed to stderr. */
int mae_cli_transports_open(uv_loop_t *loop, mae_cli_transports *t);
/* Closes each transport; done(ud) runs once all are closed (during uv_run). */
void mae_cli_transports_close(mae_cli_transports *t, void (*done)(void *ud), void *ud);

#endif
