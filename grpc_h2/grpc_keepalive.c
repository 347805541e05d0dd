/* gRPC client keepalive decisions (see grpc_keepalive.h). */
#include "grpc_h2/grpc_keepalive.h"

uint64_t mae__ka_start(mae__ka *k, uint64_t time_ms, uint64_t timeout_ms, uint64_t now) {
    *k = (mae__ka){.time_ms = time_ms, .timeout_ms = timeout_ms, .last_rx = now};
    return time_ms;
}

uint64_t mae__ka_acked(mae__ka *k, uint64_t now) {
    k->ping_out = false;
    k->last_rx = now;
    return k->time_ms;
}

mae__ka_action mae__ka_tick(mae__ka *k, uint64_t now, uint64_t *next_ms) {
    if (k->ping_out) {
        if (k->last_rx < k->ping_sent) {
            uint64_t waited = now - k->ping_sent;
            if (waited >= k->timeout_ms) return MAE__KA_DEAD;
            *next_ms = k->timeout_ms - waited;
            return MAE__KA_WAIT;
        }
        k->ping_out = false;  /* something arrived since: alive */
    }
    uint64_t idle = now - k->last_rx;
    if (idle < k->time_ms) {
        *next_ms = k->time_ms - idle;
        return MAE__KA_WAIT;
    }
    k->ping_out = true;
    k->ping_sent = now;
    *next_ms = k->timeout_ms;
    return MAE__KA_PING;
}
