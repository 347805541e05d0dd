/* gRPC client keepalive as a pure state machine (like loop/breaker.h): the caller supplies the
 * clock and does the I/O. A connection silent for `time` gets a PING; if nothing at all arrives
 * within `timeout` of it the connection is dead. Any bytes received count as an answer. */
#ifndef MAE_GRPC_KEEPALIVE_H
#define MAE_GRPC_KEEPALIVE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct mae__ka {
    uint64_t time_ms, timeout_ms;  /* the settings; time_ms 0 = keepalive off */
    uint64_t last_rx;              /* clock of the last bytes received */
    uint64_t ping_sent;            /* clock of the PING in flight */
    bool ping_out;                 /* a PING waits for an answer */
} mae__ka;

typedef enum {
    MAE__KA_WAIT,  /* nothing to do: check again in *next_ms */
    MAE__KA_PING,  /* send a PING now, check again in *next_ms */
    MAE__KA_DEAD   /* no answer within timeout: close the connection */
} mae__ka_action;

/* Starts watching a connection that became ready at `now`. Returns the first check's delay
 * (0 when keepalive is off). */
uint64_t mae__ka_start(mae__ka *k, uint64_t time_ms, uint64_t timeout_ms, uint64_t now);
/* Bytes arrived at `now`. */
static inline void mae__ka_rx(mae__ka *k, uint64_t now) { k->last_rx = now; }
/* The PING was answered (its ACK) at `now`: returns the delay of the next check. */
uint64_t mae__ka_acked(mae__ka *k, uint64_t now);
/* The timer fired at `now`: what to do, and when to check next (*next_ms; unset for DEAD). */
mae__ka_action mae__ka_tick(mae__ka *k, uint64_t now, uint64_t *next_ms);

#endif
