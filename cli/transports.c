/* Wiring of the transports for the CLI (see transports.h). The MAE_TEST_BUILD blocks exist only
 * in the CLI's test build (build/<flavour>/tests/maestro-test), linked with tests/support/. */
#include "cli/transports.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maestro/maestro.h"
#include "grpc_h2/grpc_transport.h"
#include "transports/http.h"
#ifdef MAE_TEST_BUILD
#include "tests/support/cli_script.h"
#endif

int mae_cli_transports_open(uv_loop_t *loop, mae_cli_transports *t) {
    memset(t, 0, sizeof *t);
#ifdef MAE_TEST_BUILD
    int trc = mae__test_script_open(loop, t);
    if (trc <= 0) return trc;
#endif
    int rc = mae_http_transport_new(loop, &t->http);
    if (rc != 0) {
        fprintf(stderr, "maestro: cannot start the HTTP transport: %s\n", mae_strerror(rc));
        return rc;
    }
    rc = mae_grpc_transport_new(loop, &t->grpc);
    if (rc != 0) {
        fprintf(stderr, "maestro: cannot start the gRPC transport: %s\n", mae_strerror(rc));
        t->http->vt->close(t->http, NULL, NULL);   /* freed during the caller's uv_run */
        t->http = NULL;
        return rc;
    }
    return 0;
}

static void one_closed(void *ud) {
    mae_cli_transports *t = ud;
    if (--t->closing != 0) return;
#ifdef MAE_TEST_BUILD
    mae__test_script_release(t);
#endif
    if (t->done) t->done(t->ud);
}

void mae_cli_transports_close(mae_cli_transports *t, void (*done)(void *ud), void *ud) {
    t->done = done;
    t->ud = ud;
    t->closing = 1;   /* held until both are asked, so done cannot run early */
    mae_transport *list[2] = {t->http, t->grpc == t->http ? NULL : t->grpc};
    for (int i = 0; i < 2; i++) {
        if (!list[i]) continue;
        t->closing++;
        list[i]->vt->close(list[i], one_closed, t);
    }
    t->http = t->grpc = NULL;
    one_closed(t);
}
