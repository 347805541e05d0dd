/* Retry classification and backoff arithmetic (docs/failure-semantics.md#retries-and-backoff).
 * Pure. */
#include "loop/retry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool mae__retry_is_retryable(const mae_retry_policy *p, mae_class cls, int status) {
    /* internal: our own failure (out of memory); trying again would not reach the service */
    if (cls == MAE_CLASS_NONE || cls == MAE_CLASS_CANCELLED || cls == MAE_CLASS_INTERNAL) return false;
    if (!p || !p->on) return mae__class_default_retryable(cls, status);
    for (size_t i = 0; i < p->n_on; i++)
        if (p->on[i] && mae__class_entry_matches(p->on[i], cls, status)) return true;
    return false;
}

uint64_t mae__retry_base_delay(const mae_retry_policy *p, int n) {
    if (n < 1) n = 1;
    double d = (double)p->initial_ms;
    switch (p->backoff) {
    case MAE_BACKOFF_CONSTANT: break;
    case MAE_BACKOFF_LINEAR: d *= (double)n; break;
    case MAE_BACKOFF_EXPONENTIAL:
        for (int i = 1; i < n && d < (double)p->max_ms; i++) d *= p->multiplier > 0 ? p->multiplier : 1;
        break;
    }
    if (d > (double)p->max_ms) d = (double)p->max_ms;
    if (!(d >= 0)) d = 0;
    return (uint64_t)d;
}

uint64_t mae__retry_delay(const mae_retry_policy *p, int n, uint64_t rnd, int64_t retry_after_ms) {
    uint64_t d = mae__retry_base_delay(p, n);
    if (p->jitter) d = d == UINT64_MAX ? rnd : rnd % (d + 1);
    if (retry_after_ms >= 0 && (uint64_t)retry_after_ms > d) d = (uint64_t)retry_after_ms;
    return d;
}
