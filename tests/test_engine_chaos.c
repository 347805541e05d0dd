/* Randomised runs (fixed seeds) of a workflow mixing sequence, parallel and foreach, with random
 * latencies, failures, hangs, failing compensations, run timeouts and cancels. Whatever happens,
 * the saga invariants must hold: one callback; success means nothing compensated; failure means
 * exactly the completed steps with a compensate are compensated, once each, newest completion
 * first; exit 3 exactly when a compensation failed; nothing left in flight; every handle closed. */
#include "engine_fx.h"

static const char chaos_wf[] =
    "name: chaos\n"
    "timeout: 80ms\n"
    "input: {xs: {type: array, required: true}}\n"
    "services:\n  s:\n    type: grpc\n    endpoint: \"127.0.0.1:1\"\n    timeout: 30ms\n"
    "    retry: {attempts: 2, initial: 1ms, max: 2ms}\n"
    "    circuit_breaker: {failures: 100000}\n"
    "steps:\n"
    "  - {id: a, service: s, method: A, output: oa, compensate: {method: UA, retry: {attempts: 2, initial: 1ms, max: 1ms}}}\n"
    "  - parallel:\n"
    "      - {id: b, service: s, method: B, compensate: {method: UB, retry: {attempts: 2, initial: 1ms, max: 1ms}}}\n"
    "      - sequence:\n"
    "          - {id: c, service: s, method: C, compensate: {method: UC, retry: {attempts: 2, initial: 1ms, max: 1ms}}}\n"
    "          - {id: d, service: s, method: D, continue_on_error: true}\n"
    "      - id: fe\n"
    "        foreach: \"{{ .input.xs }}\"\n"
    "        as: x\n"
    "        concurrency: 2\n"
    "        do: {id: e, service: s, method: E, input: {x: \"{{ .x }}\"},\n"
    "             compensate: {method: UE, input: {x: \"{{ .x }}\"}, retry: {attempts: 2, initial: 1ms, max: 1ms}}}\n"
    "  - {id: f, service: s, method: F, compensate: {method: UF, retry: {attempts: 2, initial: 1ms, max: 1ms}}}\n";

static uint64_t rng;
static unsigned rnd(unsigned n) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (unsigned)((rng >> 33) % n);
}

static void random_rule(fx *f, const char *method, bool comp) {
    mae_script_rule *r = fx_rule(f, method, "{\"ok\":true}", rnd(6), 0);
    unsigned p = rnd(100);
    if (p < 12) r->fail_times = -1;                /* fails for good */
    else if (p < 25) r->fail_times = 1;            /* recovers on retry */
    else if (!comp && p < 30) r->hang = true;      /* only a timeout ends it */
    r->fail_status = rnd(2) ? 503 : 400;
    r->fail_cls = r->fail_status == 503 ? MAE_CLASS_HTTP_5XX : MAE_CLASS_HTTP_4XX;
}

typedef struct {
    fx *f;
    mae_run *run;
} cancel_ctx;

/* The run may be over (and freed) before the cancel time comes. */
static void cancel_cb(uv_timer_t *t) {
    cancel_ctx *c = t->data;
    if (c->f->done_called == 0) mae_run_cancel(c->run);
}

/* Whether the compensation entry of step id (foreach index ix, -1 = none) says the re-send of
 * its outcome_unknown call succeeded: the service had acted, so it is compensated. */
static bool committed(const fx *f, const char *id, int ix) {
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(f->report, "compensations")) {
        const cJSON *i = cJSON_GetObjectItem(c, "index");
        if (strcmp(fx_str(c, "step"), id) != 0 || (i ? i->valueint : -1) != ix) continue;
        const char *o = fx_str(c, "outcome");
        return o && !strcmp(o, "committed");
    }
    return false;
}

/* The step ids of the report's entries that have a compensate and succeeded (or ended
 * outcome_unknown and proved committed when re-sent), in report order (= completion order),
 * as "id" or "e#index". */
static int completed(const fx *f, char out[][16]) {
    int n = 0;
    const cJSON *s;
    cJSON_ArrayForEach(s, cJSON_GetObjectItem(f->report, "steps")) {
        const char *id = fx_str(s, "id");
        const cJSON *ix = cJSON_GetObjectItem(s, "index");
        bool done = !strcmp(fx_str(s, "status"), "succeeded") ||
                    (!strcmp(fx_str(s, "status"), "outcome_unknown") && committed(f, id, ix ? ix->valueint : -1));
        if (!done || !strcmp(id, "d")) continue;
        if (!strcmp(id, "e")) snprintf(out[n++], 16, "e#%d", (int)fx_num(s, "index"));
        else snprintf(out[n++], 16, "%s", id);
    }
    return n;
}

TEST_T(chaos_runs_keep_the_saga_invariants, 120) {
    int outcomes[4] = {0};
    for (int iter = 0; iter < 300; iter++) {
        rng = 0x9e3779b97f4a7c15ull * (uint64_t)(iter + 1);
        fx f;
        fx_init(&f, chaos_wf);
        const char *ms[] = {"A", "B", "C", "D", "E", "F"};
        const char *us[] = {"UA", "UB", "UC", "UE", "UF"};
        for (int i = 0; i < 6; i++) random_rule(&f, ms[i], false);
        for (int i = 0; i < 5; i++) random_rule(&f, us[i], true);
        mae_run *run;
        ASSERT_EQ_INT(mae_run_start(f.eng, f.wf, "{\"xs\":[0,1,2,3,4]}", NULL, fx_on_done, &f, &run), 0);
        uv_timer_t t;
        uv_timer_init(&f.loop, &t);
        cancel_ctx cc = {&f, run};
        t.data = &cc;
        bool cancel = rnd(8) == 0;
        if (cancel) uv_timer_start(&t, cancel_cb, rnd(10), 0);
        uv_run(&f.loop, UV_RUN_DEFAULT);
        uv_close((uv_handle_t *)&t, NULL);
        ASSERT_EQ_INT(f.done_called, 1);
        ASSERT_EQ_INT(mae_scripted_in_flight(f.tr), 0);
        outcomes[f.status]++;

        /* the compensations the transport saw, retries collapsed */
        char seen[32][16];
        int n_seen = 0;
        size_t n;
        const mae_script_entry *e = mae_scripted_log(f.tr, &n);
        char last[16] = "";
        for (size_t i = 0; i < n; i++) {
            if (e[i].ev != MAE_SCRIPT_CALL || !e[i].compensation) continue;
            char key[16];
            if (!strcmp(e[i].method, "UE")) {
                cJSON *in = cJSON_Parse(e[i].input);
                snprintf(key, sizeof key, "e#%d", cJSON_GetObjectItem(in, "x")->valueint);
                cJSON_Delete(in);
            } else {
                snprintf(key, sizeof key, "%c", e[i].method[1] + ('a' - 'A'));
            }
            if (strcmp(key, last) != 0 && n_seen < 32) snprintf(seen[n_seen++], 16, "%s", key);
            snprintf(last, sizeof last, "%s", key);
        }
        char done[32][16];
        int n_done = completed(&f, done);
        if (f.status == MAE_RUN_SUCCEEDED) {
            ASSERT_EQ_INT(f.exit_code, 0);
            ASSERT_EQ_INT(n_seen, 0);
        } else {
            /* exactly the completed ones, newest first */
            ASSERT_EQ_INT(n_seen, n_done);
            for (int i = 0; i < n_done; i++) ASSERT_EQ_STR(seen[i], done[n_done - 1 - i]);
            int failed_comps = 0;
            const cJSON *c;
            cJSON_ArrayForEach(c, cJSON_GetObjectItem(f.report, "compensations"))
                if (strcmp(fx_str(c, "status"), "succeeded") != 0) failed_comps++;
            if (f.status == MAE_RUN_INTERRUPTED) ASSERT_EQ_INT(f.exit_code, 130);
            else ASSERT_EQ_INT(f.exit_code, failed_comps ? 3 : 1);
            ASSERT_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(f.report, "uncompensated")), failed_comps);
        }
        /* every outcome_unknown step was cancelled by the engine */
        int unknown = 0;
        const cJSON *s;
        cJSON_ArrayForEach(s, cJSON_GetObjectItem(f.report, "steps"))
            if (!strcmp(fx_str(s, "status"), "outcome_unknown")) unknown++;
        ASSERT_CMP_INT((int)mae_scripted_count(f.tr, MAE_SCRIPT_CANCEL, NULL), >=, unknown);
        fx_close(&f);
    }
    printf("  outcomes: %d succeeded, %d failed, %d compensation_failed, %d interrupted\n",
           outcomes[0], outcomes[1], outcomes[2], outcomes[3]);
    /* the seeds cover every ending */
    ASSERT_CMP_INT(outcomes[MAE_RUN_SUCCEEDED], >, 0);
    ASSERT_CMP_INT(outcomes[MAE_RUN_FAILED], >, 0);
    ASSERT_CMP_INT(outcomes[MAE_RUN_COMPENSATION_FAILED], >, 0);
    ASSERT_CMP_INT(outcomes[MAE_RUN_INTERRUPTED], >, 0);
}
