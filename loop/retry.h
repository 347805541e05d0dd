/* Retry decisions (docs/failure-semantics.md#retries-and-backoff) as pure functions: which failures
 * are retryable under a policy, and how long the n-th backoff delay is. No libuv, no clock, no
 * global random state: the caller passes the random draw, so tests can pin the bounds. */
#ifndef MAE_RETRY_H
#define MAE_RETRY_H

#include <stdbool.h>
#include <stdint.h>

#include "transports/transport.h"
#include "workflow/model.h"

/* True when a failed attempt of class cls (status: the transport's status code) may be retried
 * under policy p: p->on when set, else the default list of §4.1 (transports/class.c). Success, cancelled, template
 * and circuit_open are never retryable unless named in p->on (cancelled never). */
bool mae__retry_is_retryable(const mae_retry_policy *p, mae_class cls, int status);

/* The delay before retry number n (n = 1 for the first retry) before jitter: initial *
 * multiplier^(n-1), initial * n or initial, capped at max_ms. Saturates instead of overflowing. */
uint64_t mae__retry_base_delay(const mae_retry_policy *p, int n);

/* The delay to wait: the base delay, then with full jitter a uniform draw in [0, base] taken
 * from rnd. retry_after_ms >= 0 (the service's own retry hint, from the transport) is a floor. */
uint64_t mae__retry_delay(const mae_retry_policy *p, int n, uint64_t rnd, int64_t retry_after_ms);
/* The longest wait a service's retry hint (Retry-After, grpc-retry-pushback-ms) can impose: a
 * failure asking for more is not retried (docs/failure-semantics.md#retries-and-backoff). */
#define MAE_RETRY_HINT_MAX_MS (5u * 60 * 1000)

#endif
