/* Engine tests (scripted transport): retries (counts, delays, permanent classes, Retry-After,
 * the run deadline, not_an_attempt, attempt timeouts) and the circuit breaker shared by runs. */
#include "engine_fx.h"

static const char *call_times(fx *f, const char *method, uint64_t *t, int max, int *n) {
    size_t k;
    const mae_script_entry *e = mae_scripted_log(f->tr, &k);
    *n = 0;
    for (size_t i = 0; i < k && *n < max; i++)
        if (e[i].ev == MAE_SCRIPT_CALL && !strcmp(e[i].method, method)) t[(*n)++] = e[i].at_ms;
    return NULL;
}

static const char retry_wf[] =
    "name: retry\n"
    "services:\n  s:\n    type: grpc\n    endpoint: \"127.0.0.1:1\"\n"
    "    retry: {attempts: 4, backoff: exponential, initial: 10ms, max: 25ms, multiplier: 2, jitter: none}\n"
    "    circuit_breaker: {failures: 100}\n"
    "steps:\n"
    "  - {id: a, service: s, method: A, output: ra}\n"
    "output: {r: \"{{ .ra }}\"}\n";

TEST(retries_count_attempts_and_wait_the_backoff) {
    fx f;
    fx_init(&f, retry_wf);
    mae_script_rule *r = fx_rule(&f, "A", "{\"ok\":1}", 0, 3);   /* 503 x3, then ok */
    ASSERT_EQ_INT(fx_run(&f, NULL), 0);
    ASSERT_EQ_INT(f.exit_code, 0);
    ASSERT_EQ_INT(r->calls, 4);
    ASSERT_EQ_INT(fx_num(fx_step(&f, "a", 0), "attempts"), 4);
    uint64_t t[8];
    int n;
    call_times(&f, "A", t, 8, &n);
    ASSERT_EQ_INT(n, 4);
    /* delays 10, 20, then 40 capped at 25: never sooner */
    ASSERT_CMP_INT(t[1] - t[0], >=, 10);
    ASSERT_CMP_INT(t[2] - t[1], >=, 20);
    ASSERT_CMP_INT(t[3] - t[2], >=, 25);
    /* the same idempotency key on every attempt */
    size_t k;
    const mae_script_entry *e = mae_scripted_log(f.tr, &k);
    ASSERT_EQ_STR(e[0].idempotency_key, e[k - 2].idempotency_key);
    fx_close(&f);
}

static const char jitter_wf[] =
    "name: jitter\n"
    "services:\n  s:\n    type: grpc\n    endpoint: \"127.0.0.1:1\"\n"
    "    retry: {attempts: 6, backoff: exponential, initial: 8ms, max: 20ms, multiplier: 2, jitter: full}\n"
    "    circuit_breaker: {failures: 100}\n"
    "steps:\n"
    "  - {id: a, service: s, method: A}\n";

TEST(full_jitter_delays_stay_within_the_policy_and_are_waited) {
    for (int round = 0; round < 5; round++) {
        fx f;
        fx_init(&f, jitter_wf);
        mae_script_rule *r = fx_rule(&f, "A", NULL, 0, 5);
        ASSERT_EQ_INT(fx_run(&f, NULL), 0);
        ASSERT_EQ_INT(f.exit_code, 0);
        ASSERT_EQ_INT(r->calls, 6);
        const cJSON *d = cJSON_GetObjectItem(fx_step(&f, "a", 0), "retry_delays_ms");
        ASSERT_EQ_INT(cJSON_GetArraySize(d), 5);
        static const int base[] = {8, 16, 20, 20, 20};   /* 8 * 2^(n-1), capped at 20 */
        uint64_t t[8];
        int n;
        call_times(&f, "A", t, 8, &n);
        ASSERT_EQ_INT(n, 6);
        for (int i = 0; i < 5; i++) {
            int v = cJSON_GetArrayItem(d, i)->valueint;
            ASSERT_CMP_INT(v, >=, 0);
            ASSERT_CMP_INT(v, <=, base[i]);
            ASSERT_CMP_INT(t[i + 1] - t[i], >=, v);      /* and it was waited */
        }
        fx_close(&f);
    }
}

TEST(retries_stop_after_the_policy_attempts) {
    fx f;
    fx_init(&f, retry_wf);
    mae_script_rule *r = fx_rule(&f, "A", NULL, 0, -1);
    r->fail_cls = MAE_CLASS_GRPC;
    r->fail_status = MAE_GRPC_UNAVAILABLE;
    r->fail_message = "backend unavailable";
    ASSERT_EQ_INT(fx_run(&f, NULL), 0);
    ASSERT_EQ_INT(f.exit_code, 1);
    ASSERT_EQ_INT(r->calls, 4);
    ASSERT_EQ_INT(fx_num(f.report, "error.attempts"), 4);
    ASSERT_EQ_STR(fx_str(f.report, "error.class"), "grpc:UNAVAILABLE");
    ASSERT_EQ_STR(fx_str(f.report, "error.message"), "backend unavailable");
    ASSERT_CONTAINS(f.summary, "after 4 attempts");
    fx_close(&f);
}

TEST(permanent_classes_are_not_retried) {
    struct { mae_class cls; int status; } cases[] = {
        {MAE_CLASS_HTTP_4XX, 400}, {MAE_CLASS_HTTP_4XX, 404}, {MAE_CLASS_HTTP_5XX, 501},
        {MAE_CLASS_GRPC, MAE_GRPC_INVALID_ARGUMENT}, {MAE_CLASS_APP_ERROR, 0}, {MAE_CLASS_DECODE, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        fx f;
        fx_init(&f, retry_wf);
        mae_script_rule *r = fx_rule(&f, "A", NULL, 0, -1);
        r->fail_cls = cases[i].cls;
        r->fail_status = cases[i].status;
        ASSERT_EQ_INT(fx_run(&f, NULL), 0);
        ASSERT_EQ_INT(r->calls, 1);
        ASSERT_EQ_INT(f.exit_code, 1);
        fx_close(&f);
    }
    /* while 429 and 408 are */
    fx f;
    fx_init(&f, retry_wf);
    mae_script_rule *r = fx_rule(&f, "A", NULL, 0, 2);
    r->fail_cls = MAE_CLASS_HTTP_4XX;
    r->fail_status = 429;
    ASSERT_EQ_INT(fx_run(&f, NULL), 0);
    ASSERT_EQ_INT(r->calls, 3);
    ASSERT_EQ_INT(f.exit_code, 0);
    fx_close(&f);
}

TEST(retry_after_is_honoured_as_a_floor) {
    fx f;
    fx_init(&f, retry_wf);
    mae_script_rule *r = fx_rule(&f, "A", NULL, 0, 1);
    r->fail_status = 503;
    r->retry_after_ms = 120;          /* far above the policy's 10ms */
    ASSERT_EQ_INT(fx_run(&f, NULL), 0);
    ASSERT_EQ_INT(r->calls, 2);
    uint64_t t[4];
    int n;
    call_times(&f, "A", t, 4, &n);
    ASSERT_EQ_INT(n, 2);
    ASSERT_CMP_INT(t[1] - t[0], >=, 120);
    const cJSON *d = cJSON_GetObjectItem(fx_step(&f, "a", 0), "retry_delays_ms");
    ASSERT_EQ_INT(cJSON_GetArrayItem(d, 0)->valueint, 120);
    fx_close(&f);
}

static const char deadline_wf[] =
    "name: dl\n"
    "timeout: 150ms\n"
    "services:\n  s:\n    type: grpc\n    endpoint: \"127.0.0.1:1\"\n"
    "    retry: {attempts: 5, backoff: constant, initial: 1s, jitter: none}\n"
    "steps:\n"
    "  - {id: a, service: s, method: A}\n";

TEST(no_retry_is_started_past_the_run_deadline) {
    fx f;
    fx_init(&f, deadline_wf);
    mae_script_rule *r = fx_rule(&f, "A", NULL, 0, -1);
    ASSERT_EQ_INT(fx_run(&f, NULL), 0);
    ASSERT_EQ_INT(r->calls, 1);              /* a 1s backoff would pass the 150ms deadline */
    ASSERT_EQ_INT(f.exit_code, 1);
    ASSERT_EQ_STR(fx_str(f.report, "error.class"), "http_5xx");
    ASSERT_CONTAINS(fx_str(f.report, "error.message"), "not retried");
    /* it gave up at once rather than waiting for the deadline */
    ASSERT_CMP_INT(fx_num(f.report, "duration_ms"), <, 150);
    fx_close(&f);
}

TEST(not_an_attempt_is_retried_without_counting) {
    fx f;
    fx_init(&f, retry_wf);
    mae_script_rule *r = fx_rule(&f, "A", "{\"v\":2}", 0, 0);
    r->not_an_attempt_times = 3;
    ASSERT_EQ_INT(fx_run(&f, NULL), 0);
    ASSERT_EQ_INT(f.exit_code, 0);
    ASSERT_EQ_INT(r->calls, 4);
    ASSERT_EQ_INT(fx_num(fx_step(&f, "a", 0), "attempts"), 1);
    fx_close(&f);
}

static const char attempt_to_wf[] =
    "name: ato\n"
    "services:\n  s:\n    type: grpc\n    endpoint: \"127.0.0.1:1\"\n    timeout: 5s\n"
    "    retry: {attempts: 3, initial: 1ms, max: 1ms}\n"
    "steps:\n"
    "  - {id: a, service: s, method: Hang, timeout: 20ms}\n";

TEST(attempt_timeout_cancels_and_retries_as_timeout) {
    fx f;
    fx_init(&f, attempt_to_wf);
    mae_script_rule *r = fx_rule(&f, "Hang", NULL, 0, 0);
    r->hang = true;
    ASSERT_EQ_INT(fx_run(&f, NULL), 0);
    ASSERT_EQ_INT(r->calls, 3);
    ASSERT_EQ_INT(mae_scripted_count(f.tr, MAE_SCRIPT_CANCEL, "Hang"), 3);
    ASSERT_EQ_STR(fx_str(f.report, "error.class"), "timeout");
    ASSERT_EQ_INT(fx_num(f.report, "error.attempts"), 3);
    size_t k;
    const mae_script_entry *e = mae_scripted_log(f.tr, &k);
    ASSERT_EQ_INT(e[0].timeout_ms, 20);      /* the step's timeout, not the service's */
    uint64_t t[4];
    int n;
    call_times(&f, "Hang", t, 4, &n);
    ASSERT_CMP_INT(t[1] - t[0], >=, 20);
    fx_close(&f);
}

/* ---- circuit breaker ---- */

static const char brk_wf[] =
    "name: brk\n"
    "services:\n  s:\n    type: grpc\n    endpoint: \"127.0.0.1:1\"\n"
    "    retry: {attempts: 1}\n"
    "    circuit_breaker: {failures: 3, open_for: 200ms, half_open_probes: 1}\n"
    "steps:\n"
    "  - {id: a, service: s, method: A}\n";

static mae_breaker *brk_of(fx *f) {
    mae_svc_state *s = mae__svc(f->eng, &f->wf->services[0]);
    ASSERT_NOT_NULL(s);
    return &s->brk;
}

/* Runs the loop until pred(f) holds, checking every millisecond (bounded by the test's limit). */
typedef struct {
    fx *f;
    bool (*pred)(fx *f);
    uv_timer_t t;
} waiter;

static void wait_cb(uv_timer_t *t) {
    waiter *w = t->data;
    if (w->pred(w->f)) uv_timer_stop(t);
}

static void wait_until(fx *f, bool (*pred)(fx *f)) {
    waiter w = {.f = f, .pred = pred};
    uv_timer_init(&f->loop, &w.t);
    w.t.data = &w;
    if (!pred(f)) {
        uv_timer_start(&w.t, wait_cb, 1, 1);
        uv_run(&f->loop, UV_RUN_DEFAULT);
    }
    uv_close((uv_handle_t *)&w.t, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    ASSERT_TRUE(pred(f));
}

static bool is_half_open(fx *f) { return brk_of(f)->state == MAE_BRK_HALF_OPEN; }

TEST(breaker_opens_short_circuits_half_opens_and_closes) {
    fx f;
    fx_init(&f, brk_wf);
    mae_script_rule *r = fx_rule(&f, "A", NULL, 0, 3);    /* three 503s, then ok */
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ_INT(brk_of(&f)->state, MAE_BRK_CLOSED);
        ASSERT_EQ_INT(fx_run(&f, NULL), 0);
        ASSERT_EQ_INT(f.exit_code, 1);
    }
    ASSERT_EQ_INT(brk_of(&f)->state, MAE_BRK_OPEN);
    /* open: fails at once with circuit_open, the transport is not called */
    ASSERT_EQ_INT(fx_run(&f, NULL), 0);
    ASSERT_EQ_INT(r->calls, 3);
    ASSERT_EQ_STR(fx_str(f.report, "error.class"), "circuit_open");
    /* its timer moves it to half-open; the probe succeeds and closes it */
    wait_until(&f, is_half_open);
    ASSERT_EQ_INT(brk_of(&f)->state, MAE_BRK_HALF_OPEN);
    ASSERT_EQ_INT(fx_run(&f, NULL), 0);
    ASSERT_EQ_INT(f.exit_code, 0);
    ASSERT_EQ_INT(r->calls, 4);
    ASSERT_EQ_INT(brk_of(&f)->state, MAE_BRK_CLOSED);
    fx_close(&f);
}

TEST(breaker_probe_failure_reopens) {
    fx f;
    fx_init(&f, brk_wf);
    mae_script_rule *r = fx_rule(&f, "A", NULL, 0, -1);
    for (int i = 0; i < 3; i++) ASSERT_EQ_INT(fx_run(&f, NULL), 0);
    ASSERT_EQ_INT(brk_of(&f)->state, MAE_BRK_OPEN);
    wait_until(&f, is_half_open);
    ASSERT_EQ_INT(brk_of(&f)->state, MAE_BRK_HALF_OPEN);
    ASSERT_EQ_INT(fx_run(&f, NULL), 0);       /* the probe fails */
    ASSERT_EQ_INT(r->calls, 4);
    ASSERT_EQ_INT(brk_of(&f)->state, MAE_BRK_OPEN);
    ASSERT_EQ_INT(brk_of(&f)->opened, 2);
    ASSERT_EQ_INT(fx_run(&f, NULL), 0);       /* open again: not sent */
    ASSERT_EQ_INT(r->calls, 4);
    ASSERT_EQ_STR(fx_str(f.report, "error.class"), "circuit_open");
    fx_close(&f);
}

TEST(breaker_ignores_permanent_errors) {
    fx f;
    fx_init(&f, brk_wf);
    mae_script_rule *r = fx_rule(&f, "A", NULL, 0, -1);
    r->fail_cls = MAE_CLASS_HTTP_4XX;
    r->fail_status = 400;
    for (int i = 0; i < 6; i++) ASSERT_EQ_INT(fx_run(&f, NULL), 0);
    ASSERT_EQ_INT(r->calls, 6);
    ASSERT_EQ_INT(brk_of(&f)->state, MAE_BRK_CLOSED);
    ASSERT_EQ_INT(brk_of(&f)->failures, 0);
    fx_close(&f);
}

static const char stale_wf[] =
    "name: stale\n"
    "services:\n  s:\n    type: grpc\n    endpoint: \"127.0.0.1:1\"\n"
    "    retry: {attempts: 1}\n"
    "    circuit_breaker: {failures: 2, open_for: 20ms, half_open_probes: 1}\n"
    "steps:\n"
    "  - parallel:\n"
    "    - {id: slow, service: s, method: Slow, continue_on_error: true}\n"
    "    - {id: f1, service: s, method: F, continue_on_error: true}\n"
    "    - {id: f2, service: s, method: F, continue_on_error: true}\n";

static const char probe_wf[] =
    "name: probe\n"
    "services:\n  s:\n    type: grpc\n    endpoint: \"127.0.0.1:1\"\n"
    "    retry: {attempts: 1}\n"
    "    circuit_breaker: {failures: 2, open_for: 20ms, half_open_probes: 1}\n"
    "steps:\n"
    "  - {id: p, service: s, method: Ok}\n";

typedef struct {
    fx *f;
    mae_workflow *probe;
    const mae_service *probe_svc;
    int probe_done;
} stale_ctx;

static void probe_done(mae_run *run, const mae_run_result *res, void *ud) {
    stale_ctx *c = ud;
    c->probe_done = res->exit_code == 0 ? 1 : -1;
    mae_run_free(run);
}

/* Polls until the breaker is half-open, then starts the probe run once. */
static void start_probe(uv_timer_t *t) {
    stale_ctx *c = t->data;
    if (brk_of(c->f)->state != MAE_BRK_HALF_OPEN) return;
    mae_run *run;
    ASSERT_EQ_INT(mae_run_start(c->f->eng, c->probe, NULL, NULL, probe_done, c, &run), 0);
    uv_close((uv_handle_t *)t, NULL);
}

TEST(breaker_result_of_a_call_started_before_a_state_change_is_ignored) {
    fx f;
    fx_init(&f, stale_wf);
    stale_ctx c = {.f = &f};
    mae_diags d;
    mae__diags_init(&d, "probe.yaml");
    ASSERT_EQ_INT(mae__workflow_load_buf("probe.yaml", probe_wf, strlen(probe_wf), &c.probe, &d), 0);
    mae__diags_free(&d);
    /* both workflows must share the breaker: point the probe's step at the first's service */
    c.probe->steps[0].service = &f.wf->services[0];
    fx_rule(&f, "Slow", NULL, 300, -1);      /* started while closed, fails late */
    fx_rule(&f, "F", NULL, 0, -1);           /* two fast failures open the breaker */
    fx_rule(&f, "Ok", NULL, 0, 0);
    uv_timer_t t;
    uv_timer_init(&f.loop, &t);
    t.data = &c;
    uv_timer_start(&t, start_probe, 1, 1);    /* once half-open: a probe run closes it */
    ASSERT_EQ_INT(fx_run(&f, NULL), 0);
    ASSERT_EQ_INT(c.probe_done, 1);
    ASSERT_EQ_INT(f.exit_code, 0);            /* continue_on_error everywhere */
    ASSERT_EQ_INT(brk_of(&f)->opened, 1);
    /* the slow failure came after the close: it neither reopened nor counted */
    ASSERT_EQ_INT(brk_of(&f)->state, MAE_BRK_CLOSED);
    ASSERT_EQ_INT(brk_of(&f)->failures, 0);
    ASSERT_EQ_STR(fx_str(fx_step(&f, "slow", 0), "status"), "failed");
    fx_close(&f);
    mae_workflow_free(c.probe);
}

static const char probe_brk_wf[] =
    "name: pb\n"
    "services:\n  s:\n    type: http\n    endpoint: \"http://127.0.0.1:1\"\n"
    "    retry: {attempts: 1}\n"
    "    circuit_breaker: {failures: 1, open_for: 100ms, half_open_probes: 1, probe: \"GET /health\"}\n"
    "steps:\n"
    "  - {id: a, service: s, method: \"POST /a\"}\n";

static bool opened_twice(fx *f) { return brk_of(f)->opened == 2; }
static bool is_closed(fx *f) { return brk_of(f)->state == MAE_BRK_CLOSED; }
static bool probe_sent(fx *f) { return mae_scripted_count(f->tr, MAE_SCRIPT_CALL, "GET /health") == 1; }

TEST(breaker_active_probe_reopens_then_closes) {
    fx f;
    fx_init(&f, probe_brk_wf);
    mae_script_rule *a = fx_rule(&f, "POST /a", NULL, 0, 1);    /* fails once, then ok */
    mae_script_rule *h = fx_rule(&f, "GET /health", NULL, 0, 1); /* first probe fails */
    ASSERT_EQ_INT(fx_run(&f, NULL), 0);
    ASSERT_EQ_INT(f.exit_code, 1);
    ASSERT_EQ_INT(brk_of(&f)->state, MAE_BRK_OPEN);
    ASSERT_EQ_INT(h->calls, 0);
    wait_until(&f, opened_twice);         /* half-open: the probe is sent, fails, reopens */
    ASSERT_EQ_INT(h->calls, 1);
    ASSERT_EQ_INT(brk_of(&f)->state, MAE_BRK_OPEN);
    wait_until(&f, is_closed);            /* the second probe succeeds */
    ASSERT_EQ_INT(h->calls, 2);
    ASSERT_EQ_INT(brk_of(&f)->opened, 2);
    ASSERT_EQ_INT(brk_of(&f)->state, MAE_BRK_CLOSED);
    size_t n;
    const mae_script_entry *e = mae_scripted_log(f.tr, &n);
    int probes = 0;
    for (size_t i = 0; i < n; i++)
        if (e[i].ev == MAE_SCRIPT_CALL && e[i].desc && !strcmp(e[i].desc, "GET /health")) {
            ASSERT_EQ_STR(e[i].method, "GET /health");
            ASSERT_EQ_STR(e[i].step_id, "probe");
            probes++;
        }
    ASSERT_EQ_INT(probes, 2);
    ASSERT_EQ_INT(fx_run(&f, NULL), 0);
    ASSERT_EQ_INT(f.exit_code, 0);
    ASSERT_EQ_INT(a->calls, 2);
    fx_close(&f);
}

TEST(engine_close_cancels_a_probe_in_flight) {
    fx f;
    fx_init(&f, probe_brk_wf);
    fx_rule(&f, "POST /a", NULL, 0, -1);
    fx_rule(&f, "GET /health", NULL, 0, 0)->hang = true;
    ASSERT_EQ_INT(fx_run(&f, NULL), 0);
    wait_until(&f, probe_sent);
    ASSERT_EQ_INT(mae_scripted_in_flight(f.tr), 1);
    fx_close(&f);   /* asserts every handle closed */
    ASSERT_EQ_INT(f.tr_closed, 1);
}
