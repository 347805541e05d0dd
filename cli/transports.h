/* The transports `maestro run` (and later `bench`) hand to the engine, one per service type.
 * This is the one place the real constructors are wired in: mae_http_transport_new from
 * transports/http.h and mae_grpc_transport_new from grpc_h2/grpc_transport.h. A type left
 * NULL makes its calls fail with a clear "no transport" error.
 *
 * Only the test build (compiled with -DMAE_TEST_BUILD into build/<flavour>/tests/maestro-test)
 * can use the scripted transport instead, when MAESTRO_SCRIPT names a rules file: see
 * tests/support/cli_script.h. bin/maestro has no such path. */
#ifndef MAE_CLI_TRANSPORTS_H
#define MAE_CLI_TRANSPORTS_H

#include <uv.h>

#include "transports/transport.h"

typedef struct mae_cli_transports {
    mae_transport *http, *grpc;
#ifdef MAE_TEST_BUILD
    cJSON *test_script;     /* test build: the MAESTRO_SCRIPT rules, alive as long as the transport */
#endif
    int closing;
    void (*done)(void *ud);
    void *ud;
} mae_cli_transports;

/* Returns 0, or a negative MAE_E* with a message printed to stderr. */
int mae_cli_transports_open(uv_loop_t *loop, mae_cli_transports *t);
/* Closes each transport; done(ud) runs once all are closed (during uv_run). */
void mae_cli_transports_close(mae_cli_transports *t, void (*done)(void *ud), void *ud);

#endif
