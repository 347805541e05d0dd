/* The circuit breaker (docs/failure-semantics.md#circuit-breaker) as a pure state machine. The
 * engine owns one per service (shared by every run) and drives its timer: when a transition returns
 * MAE_BRK_START_TIMER it arms a uv timer for open_for_ms and calls mae__breaker_timer() when it
 * fires.
 *
 * Each admitted call gets the breaker's generation; a result reported with an older generation
 * (the call started before a state change) is ignored. */
#ifndef MAE_BREAKER_H
#define MAE_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

#include "workflow/model.h"

typedef enum { MAE_BRK_CLOSED, MAE_BRK_OPEN, MAE_BRK_HALF_OPEN } mae_brk_state;

/* How an attempt ended, as the breaker sees it. */
typedef enum {
    MAE_BRK_SUCCESS,    /* the service answered well */
    MAE_BRK_FAILURE,    /* a retryable failure: counts */
    MAE_BRK_PERMANENT,  /* a permanent error (a bad request): the service is up, does not count */
    MAE_BRK_IGNORE,     /* cancelled by us: says nothing about the service */
} mae_brk_outcome;

typedef enum { MAE_BRK_NOTHING = 0, MAE_BRK_START_TIMER = 1 } mae_brk_action;

typedef struct mae_breaker {
    mae_breaker_cfg cfg;
    mae_brk_state state;
    uint64_t gen;         /* bumped on every state change */
    int failures;         /* consecutive counted failures while closed */
    int probes_used;      /* half-open: trial calls admitted so far in this generation */
    uint64_t opened;      /* times it opened (for logs and tests) */
} mae_breaker;

void mae__breaker_init(mae_breaker *b, const mae_breaker_cfg *cfg);
/* Asks to send one call. Returns true and sets *gen when admitted, false when the call must
 * fail at once with circuit_open. */
bool mae__breaker_allow(mae_breaker *b, uint64_t *gen);
/* Reports the end of an admitted call. */
mae_brk_action mae__breaker_record(mae_breaker *b, uint64_t gen, mae_brk_outcome o);
/* The open_for timer fired: open -> half-open. */
void mae__breaker_timer(mae_breaker *b);
const char *mae__breaker_state_name(mae_brk_state s);

#endif
