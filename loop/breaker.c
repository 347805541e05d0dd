/* Circuit breaker transitions (docs/failure-semantics.md#circuit-breaker). Pure: the timer lives
 * with the caller. */
#include "loop/breaker.h"

void mae__breaker_init(mae_breaker *b, const mae_breaker_cfg *cfg) {
    b->cfg = *cfg;
    if (b->cfg.failures < 1) b->cfg.failures = 1;
    if (b->cfg.half_open_probes < 1) b->cfg.half_open_probes = 1;
    b->state = MAE_BRK_CLOSED;
    b->gen = 1;
    b->failures = 0;
    b->probes_used = 0;
    b->opened = 0;
}

bool mae__breaker_allow(mae_breaker *b, uint64_t *gen) {
    switch (b->state) {
    case MAE_BRK_CLOSED:
        *gen = b->gen;
        return true;
    case MAE_BRK_OPEN:
        return false;
    case MAE_BRK_HALF_OPEN:
        if (b->probes_used >= b->cfg.half_open_probes) return false;
        b->probes_used++;
        *gen = b->gen;
        return true;
    }
    return false;
}

static mae_brk_action open_it(mae_breaker *b) {
    b->state = MAE_BRK_OPEN;
    b->gen++;
    b->failures = 0;
    b->probes_used = 0;
    b->opened++;
    return MAE_BRK_START_TIMER;
}

mae_brk_action mae__breaker_record(mae_breaker *b, uint64_t gen, mae_brk_outcome o) {
    if (gen != b->gen) return MAE_BRK_NOTHING;  /* stale: started before a state change */
    switch (b->state) {
    case MAE_BRK_CLOSED:
        if (o == MAE_BRK_SUCCESS) b->failures = 0;
        else if (o == MAE_BRK_FAILURE && ++b->failures >= b->cfg.failures) return open_it(b);
        return MAE_BRK_NOTHING;
    case MAE_BRK_HALF_OPEN:
        if (o == MAE_BRK_FAILURE) return open_it(b);
        if (o == MAE_BRK_IGNORE) {
            /* a cancelled probe proves nothing: give its slot back */
            if (b->probes_used > 0) b->probes_used--;
            return MAE_BRK_NOTHING;
        }
        /* success, or a permanent error: the service answered, so it is up */
        b->state = MAE_BRK_CLOSED;
        b->gen++;
        b->failures = 0;
        b->probes_used = 0;
        return MAE_BRK_NOTHING;
    case MAE_BRK_OPEN:
        return MAE_BRK_NOTHING;
    }
    return MAE_BRK_NOTHING;
}

void mae__breaker_timer(mae_breaker *b) {
    if (b->state != MAE_BRK_OPEN) return;
    b->state = MAE_BRK_HALF_OPEN;
    b->gen++;
    b->probes_used = 0;
}

const char *mae__breaker_state_name(mae_brk_state s) {
    switch (s) {
    case MAE_BRK_CLOSED: return "closed";
    case MAE_BRK_OPEN: return "open";
    case MAE_BRK_HALF_OPEN: return "half_open";
    }
    return "?";
}
