/* Unit tests of the engine's pure parts: retry classification and backoff bounds, the circuit
 * breaker state machine, and path-segment percent-encoding. */
#include "harness.h"
#include "loop/breaker.h"
#include "loop/engine_int.h"
#include "loop/retry.h"

static mae_retry_policy pol(mae_backoff b, uint64_t init, uint64_t max, double mult, bool jitter) {
    mae_retry_policy p = {.attempts = 5, .backoff = b, .initial_ms = init, .max_ms = max,
                          .multiplier = mult, .jitter = jitter};
    return p;
}

TEST(retry_default_classes) {
    mae_retry_policy p = pol(MAE_BACKOFF_EXPONENTIAL, 200, 10000, 2, true);
    ASSERT_TRUE(mae__retry_is_retryable(&p, MAE_CLASS_CONNECT, 0));
    ASSERT_TRUE(mae__retry_is_retryable(&p, MAE_CLASS_TIMEOUT, 0));
    ASSERT_TRUE(mae__retry_is_retryable(&p, MAE_CLASS_HTTP_4XX, 408));
    ASSERT_TRUE(mae__retry_is_retryable(&p, MAE_CLASS_HTTP_4XX, 429));
    ASSERT_FALSE(mae__retry_is_retryable(&p, MAE_CLASS_HTTP_4XX, 400));
    ASSERT_FALSE(mae__retry_is_retryable(&p, MAE_CLASS_HTTP_4XX, 404));
    int ok5[] = {500, 502, 503, 504};
    for (int i = 0; i < 4; i++) ASSERT_TRUE(mae__retry_is_retryable(&p, MAE_CLASS_HTTP_5XX, ok5[i]));
    ASSERT_FALSE(mae__retry_is_retryable(&p, MAE_CLASS_HTTP_5XX, 501));
    ASSERT_TRUE(mae__retry_is_retryable(&p, MAE_CLASS_GRPC, MAE_GRPC_UNAVAILABLE));
    ASSERT_TRUE(mae__retry_is_retryable(&p, MAE_CLASS_GRPC, MAE_GRPC_DEADLINE_EXCEEDED));
    ASSERT_TRUE(mae__retry_is_retryable(&p, MAE_CLASS_GRPC, MAE_GRPC_RESOURCE_EXHAUSTED));
    ASSERT_TRUE(mae__retry_is_retryable(&p, MAE_CLASS_GRPC, MAE_GRPC_ABORTED));
    ASSERT_FALSE(mae__retry_is_retryable(&p, MAE_CLASS_GRPC, MAE_GRPC_INVALID_ARGUMENT));
    ASSERT_FALSE(mae__retry_is_retryable(&p, MAE_CLASS_GRPC, MAE_GRPC_INTERNAL));
    ASSERT_FALSE(mae__retry_is_retryable(&p, MAE_CLASS_APP_ERROR, 0));
    ASSERT_FALSE(mae__retry_is_retryable(&p, MAE_CLASS_TEMPLATE, 0));
    ASSERT_FALSE(mae__retry_is_retryable(&p, MAE_CLASS_DECODE, 0));
    ASSERT_FALSE(mae__retry_is_retryable(&p, MAE_CLASS_CIRCUIT_OPEN, 0));
    ASSERT_FALSE(mae__retry_is_retryable(&p, MAE_CLASS_CANCELLED, 0));
    ASSERT_FALSE(mae__retry_is_retryable(&p, MAE_CLASS_NONE, 0));
}

TEST(retry_on_replaces_the_list) {
    const char *on[] = {"http:404", "grpc:INTERNAL", "app_error"};
    mae_retry_policy p = pol(MAE_BACKOFF_CONSTANT, 1, 1, 1, false);
    p.on = on;
    p.n_on = 3;
    ASSERT_TRUE(mae__retry_is_retryable(&p, MAE_CLASS_HTTP_4XX, 404));
    ASSERT_FALSE(mae__retry_is_retryable(&p, MAE_CLASS_HTTP_4XX, 400));
    ASSERT_FALSE(mae__retry_is_retryable(&p, MAE_CLASS_HTTP_5XX, 503));   /* replaced, not added */
    ASSERT_FALSE(mae__retry_is_retryable(&p, MAE_CLASS_CONNECT, 0));
    ASSERT_TRUE(mae__retry_is_retryable(&p, MAE_CLASS_GRPC, MAE_GRPC_INTERNAL));
    ASSERT_FALSE(mae__retry_is_retryable(&p, MAE_CLASS_GRPC, MAE_GRPC_UNAVAILABLE));
    ASSERT_TRUE(mae__retry_is_retryable(&p, MAE_CLASS_APP_ERROR, 0));
    const char *on2[] = {"http_5xx", "connect"};
    p.on = on2;
    p.n_on = 2;
    ASSERT_TRUE(mae__retry_is_retryable(&p, MAE_CLASS_HTTP_5XX, 501));
    ASSERT_TRUE(mae__retry_is_retryable(&p, MAE_CLASS_CONNECT, 0));
    ASSERT_FALSE(mae__retry_is_retryable(&p, MAE_CLASS_TIMEOUT, 0));
}

TEST(backoff_base_delays) {
    mae_retry_policy e = pol(MAE_BACKOFF_EXPONENTIAL, 200, 10000, 2, false);
    ASSERT_EQ_INT(mae__retry_base_delay(&e, 1), 200);
    ASSERT_EQ_INT(mae__retry_base_delay(&e, 2), 400);
    ASSERT_EQ_INT(mae__retry_base_delay(&e, 3), 800);
    ASSERT_EQ_INT(mae__retry_base_delay(&e, 6), 6400);
    ASSERT_EQ_INT(mae__retry_base_delay(&e, 7), 10000);        /* capped */
    ASSERT_EQ_INT(mae__retry_base_delay(&e, 1000000), 10000);  /* no overflow */
    mae_retry_policy l = pol(MAE_BACKOFF_LINEAR, 100, 350, 2, false);
    ASSERT_EQ_INT(mae__retry_base_delay(&l, 1), 100);
    ASSERT_EQ_INT(mae__retry_base_delay(&l, 3), 300);
    ASSERT_EQ_INT(mae__retry_base_delay(&l, 4), 350);
    mae_retry_policy c = pol(MAE_BACKOFF_CONSTANT, 70, 10000, 2, false);
    ASSERT_EQ_INT(mae__retry_base_delay(&c, 1), 70);
    ASSERT_EQ_INT(mae__retry_base_delay(&c, 9), 70);
    mae_retry_policy x = pol(MAE_BACKOFF_EXPONENTIAL, 10, 1000, 3, false);
    ASSERT_EQ_INT(mae__retry_base_delay(&x, 3), 90);
}

TEST(full_jitter_stays_in_bounds_and_spreads) {
    mae_retry_policy p = pol(MAE_BACKOFF_EXPONENTIAL, 100, 10000, 2, true);
    uint64_t s = 12345, lo = UINT64_MAX, hi = 0;
    for (int i = 0; i < 10000; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t d = mae__retry_delay(&p, 3, s >> 11, -1);
        ASSERT_CMP_INT(d, <=, 400);
        if (d < lo) lo = d;
        if (d > hi) hi = d;
    }
    /* a uniform draw over [0, 400] reaches near both ends in 10000 tries */
    ASSERT_CMP_INT(lo, <=, 5);
    ASSERT_CMP_INT(hi, >=, 395);
    ASSERT_EQ_INT(mae__retry_delay(&p, 3, 400, -1), 400);
    ASSERT_EQ_INT(mae__retry_delay(&p, 3, 401, -1), 0);
    mae_retry_policy n = pol(MAE_BACKOFF_EXPONENTIAL, 100, 10000, 2, false);
    ASSERT_EQ_INT(mae__retry_delay(&n, 3, 7, -1), 400);
}

TEST(retry_after_is_a_floor) {
    mae_retry_policy p = pol(MAE_BACKOFF_CONSTANT, 100, 10000, 2, true);
    ASSERT_EQ_INT(mae__retry_delay(&p, 1, 0, 1500), 1500);      /* jitter drew 0: floor wins */
    ASSERT_EQ_INT(mae__retry_delay(&p, 1, 100, 50), 100);       /* delay already longer */
    ASSERT_EQ_INT(mae__retry_delay(&p, 1, 100, 0), 100);
    mae_retry_policy q = pol(MAE_BACKOFF_CONSTANT, 100, 200, 2, false);
    ASSERT_EQ_INT(mae__retry_delay(&q, 1, 0, 5000), 5000);      /* above max: still honoured */
}

static mae_breaker mk(int failures, int probes) {
    mae_breaker_cfg cfg = {.failures = failures, .open_for_ms = 1000, .half_open_probes = probes};
    mae_breaker b;
    mae__breaker_init(&b, &cfg);
    return b;
}

TEST(breaker_opens_after_n_consecutive_retryable_failures) {
    mae_breaker b = mk(3, 1);
    uint64_t g;
    for (int i = 0; i < 2; i++) {
        ASSERT_TRUE(mae__breaker_allow(&b, &g));
        ASSERT_EQ_INT(mae__breaker_record(&b, g, MAE_BRK_FAILURE), MAE_BRK_NOTHING);
    }
    /* a success in between resets the count */
    ASSERT_TRUE(mae__breaker_allow(&b, &g));
    mae__breaker_record(&b, g, MAE_BRK_SUCCESS);
    for (int i = 0; i < 2; i++) {
        ASSERT_TRUE(mae__breaker_allow(&b, &g));
        mae__breaker_record(&b, g, MAE_BRK_FAILURE);
    }
    /* permanent errors neither count nor reset */
    ASSERT_TRUE(mae__breaker_allow(&b, &g));
    ASSERT_EQ_INT(mae__breaker_record(&b, g, MAE_BRK_PERMANENT), MAE_BRK_NOTHING);
    ASSERT_EQ_INT(b.state, MAE_BRK_CLOSED);
    ASSERT_TRUE(mae__breaker_allow(&b, &g));
    ASSERT_EQ_INT(mae__breaker_record(&b, g, MAE_BRK_FAILURE), MAE_BRK_START_TIMER);
    ASSERT_EQ_INT(b.state, MAE_BRK_OPEN);
    ASSERT_FALSE(mae__breaker_allow(&b, &g));
}

TEST(breaker_half_open_probe_closes_or_reopens) {
    mae_breaker b = mk(1, 2);
    uint64_t g, g1, g2;
    ASSERT_TRUE(mae__breaker_allow(&b, &g));
    ASSERT_EQ_INT(mae__breaker_record(&b, g, MAE_BRK_FAILURE), MAE_BRK_START_TIMER);
    mae__breaker_timer(&b);
    ASSERT_EQ_INT(b.state, MAE_BRK_HALF_OPEN);
    ASSERT_TRUE(mae__breaker_allow(&b, &g1));
    ASSERT_TRUE(mae__breaker_allow(&b, &g2));
    ASSERT_FALSE(mae__breaker_allow(&b, &g));         /* only 2 probes */
    ASSERT_EQ_INT(mae__breaker_record(&b, g1, MAE_BRK_FAILURE), MAE_BRK_START_TIMER);
    ASSERT_EQ_INT(b.state, MAE_BRK_OPEN);
    /* the second probe's success is stale: it started before the reopen */
    ASSERT_EQ_INT(mae__breaker_record(&b, g2, MAE_BRK_SUCCESS), MAE_BRK_NOTHING);
    ASSERT_EQ_INT(b.state, MAE_BRK_OPEN);
    mae__breaker_timer(&b);
    ASSERT_TRUE(mae__breaker_allow(&b, &g1));
    mae__breaker_record(&b, g1, MAE_BRK_SUCCESS);
    ASSERT_EQ_INT(b.state, MAE_BRK_CLOSED);
    ASSERT_TRUE(mae__breaker_allow(&b, &g));
}

TEST(breaker_stale_failure_does_not_reopen) {
    mae_breaker b = mk(2, 1);
    uint64_t old, g;
    ASSERT_TRUE(mae__breaker_allow(&b, &old));       /* a slow call started while closed */
    ASSERT_TRUE(mae__breaker_allow(&b, &g));
    mae__breaker_record(&b, g, MAE_BRK_FAILURE);
    ASSERT_TRUE(mae__breaker_allow(&b, &g));
    mae__breaker_record(&b, g, MAE_BRK_FAILURE);
    ASSERT_EQ_INT(b.state, MAE_BRK_OPEN);
    mae__breaker_timer(&b);
    ASSERT_TRUE(mae__breaker_allow(&b, &g));
    mae__breaker_record(&b, g, MAE_BRK_SUCCESS);
    ASSERT_EQ_INT(b.state, MAE_BRK_CLOSED);
    mae__breaker_record(&b, old, MAE_BRK_FAILURE);   /* arrives late */
    mae__breaker_record(&b, old, MAE_BRK_FAILURE);
    ASSERT_EQ_INT(b.state, MAE_BRK_CLOSED);
    ASSERT_EQ_INT(b.failures, 0);
}

TEST(breaker_cancelled_probe_gives_its_slot_back) {
    mae_breaker b = mk(1, 1);
    uint64_t g;
    mae__breaker_allow(&b, &g);
    mae__breaker_record(&b, g, MAE_BRK_FAILURE);
    mae__breaker_timer(&b);
    ASSERT_TRUE(mae__breaker_allow(&b, &g));
    ASSERT_FALSE(mae__breaker_allow(&b, &g));
    mae__breaker_record(&b, g, MAE_BRK_IGNORE);
    ASSERT_EQ_INT(b.state, MAE_BRK_HALF_OPEN);
    ASSERT_TRUE(mae__breaker_allow(&b, &g));
}

