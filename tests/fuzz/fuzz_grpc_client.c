/* Fuzz target: arbitrary server bytes into a client HTTP/2 session that has one open gRPC
 * stream (sent after the server's SETTINGS). Whatever arrives, the call must end exactly once,
 * without a crash or leak, and the transport must close cleanly. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "../target_fx.h"
#include "grpc_h2/grpc_client_int.h"
#include "grpc_h2/grpc_transport.h"

static int called, closed;
static void on_result(mae_call_result *r, void *ud) {
    called++;
    cJSON_Delete(r->output);
}
static void on_closed(void *ud) { closed++; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const uint8_t settings[] = {0, 0, 0, 4, 0, 0, 0, 0, 0};
    uv_loop_t loop;
    mae_transport *t;
    if (uv_loop_init(&loop) != 0 || mae_grpc_transport_new(&loop, &t) != 0) abort();
    mae_svc_cfg svc = {.name = "f", .type = "grpc", .endpoint = "127.0.0.1:1",
                       .pool_connections = 1, .max_response = 65536};
    mae__gpool *p;
    mae__gconn *c;
    if (mae__pool_get((mae__gtransport *)t, &svc, &p) != 0) abort();
    if (mae__conn_new_detached(p, NULL, NULL, &c) != 0) abort();
    cJSON *in = cJSON_Parse("{\"a\":[1,{\"b\":null}]}");
    mae_call_req req = {.service = &svc, .target = FX_GRPC_TARGET("M"), .input = in, .run_id = "r",
                        .step_id = "s"};
    mae_call *call;
    called = closed = 0;
    if (mae_transport_start(t, &req, on_result, NULL, &call) != 0) abort();
    cJSON_Delete(in);
    mae__conn_recv(c, settings, sizeof settings);
    /* The connection may already be gone (it never is after a valid SETTINGS). */
    if (!mae__gq_empty(&p->conns)) {
        /* Feed in two pieces so a frame split across reads is covered. */
        size_t half = size ? data[0] % (size + 1) : 0;
        if (mae__conn_recv(c, data, half) == 0 && !mae__gq_empty(&p->conns))
            mae__conn_recv(c, data + half, size - half);
    }
    uv_run(&loop, UV_RUN_NOWAIT);
    t->vt->close(t, on_closed, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (called != 1 || closed != 1 || uv_loop_close(&loop) != 0) abort();
    return 0;
}
