/* Issue #17 defect 11: a call cancelled after it was sent (outcome_unknown) is resolved in the
 * compensation phase: re-sent with the same idempotency key; when that succeeds the service has
 * acted and the step is compensated in its place of the order; when it fails, the step is listed
 * in `uncompensated` as outcome unknown (docs/failure-semantics.md#compensation). */
#include "engine_fx.h"

static const char par_wf[] =
    "name: unknown\n"
    "services:\n  s:\n    type: grpc\n    endpoint: \"127.0.0.1:1\"\n    retry: {attempts: 1}\n"
    "steps:\n"
    "  - {id: first, service: s, method: Do0, output: o0, compensate: {method: Undo0, input: {id: \"{{ .o0.id }}\"}}}\n"
    "  - id: both\n"
    "    parallel:\n"
    "      - {id: bad, service: s, method: Fail}\n"
    "      - {id: slow, service: s, method: Slow, input: {n: 7}, output: ob,\n"
    "         compensate: {method: UndoSlow, input: {id: \"{{ .ob.id }}\"}}}\n";

static void rules(fx *f, bool resend_fails) {
    fx_rule(f, "Do0", "{\"id\":\"zero\"}", 1, 0);
    mae_script_rule *r = fx_rule(f, "Fail", NULL, 10, -1);
    r->fail_cls = MAE_CLASS_GRPC;
    r->fail_status = MAE_GRPC_INVALID_ARGUMENT;
    /* in flight when Fail fails: the service commits it, the answer is lost to the cancel */
    r = fx_rule(f, "Slow", "{\"id\":\"slow-1\"}", 100, resend_fails ? -1 : 0);
    r->fail_cls = MAE_CLASS_GRPC;
    r->fail_status = MAE_GRPC_UNAVAILABLE;
    fx_rule(f, "UndoSlow", "{}", 1, 0);
    fx_rule(f, "Undo0", "{}", 1, 0);
}

/* The calls as "method:key" in order, compensation flag ignored. */
static int calls_of(fx *f, const char *method, const char **keys, int max) {
    size_t n;
    const mae_script_entry *e = mae_scripted_log(f->tr, &n);
    int k = 0;
    for (size_t i = 0; i < n; i++)
        if (e[i].ev == MAE_SCRIPT_CALL && strcmp(e[i].method, method) == 0 && k < max) keys[k++] = e[i].idempotency_key;
    return k;
}

TEST(an_in_flight_call_cancelled_by_a_failing_sibling_is_resent_with_its_key_and_compensated) {
    fx f;
    fx_init(&f, par_wf);
    rules(&f, false);
    ASSERT_EQ_INT(fx_run(&f, NULL), 0);
    ASSERT_EQ_INT(f.status, MAE_RUN_FAILED);
    ASSERT_EQ_INT(f.exit_code, 1);
    ASSERT_EQ_STR(fx_str(fx_step(&f, "slow", 0), "status"), "outcome_unknown");
    /* sent twice with the same key: the run's call, then the re-send */
    const char *keys[4];
    ASSERT_EQ_INT(calls_of(&f, "Slow", keys, 4), 2);
    char want[128];
    snprintf(want, sizeof want, "%s:slow", fx_str(f.report, "run_id"));
    ASSERT_EQ_STR(keys[0], want);
    ASSERT_EQ_STR(keys[1], want);
    ASSERT_EQ_INT(mae_scripted_count(f.tr, MAE_SCRIPT_CANCEL, "Slow"), 1);
    /* then undone with the re-send's output, before the older step */
    size_t n;
    const mae_script_entry *e = mae_scripted_log(f.tr, &n);
    int order = 0;
    for (size_t i = 0; i < n; i++) {
        if (e[i].ev != MAE_SCRIPT_CALL || !e[i].compensation) continue;
        order++;
        if (order == 1) {
            ASSERT_EQ_STR(e[i].method, "UndoSlow");
            ASSERT_EQ_STR(e[i].input, "{\"id\":\"slow-1\"}");
            snprintf(want, sizeof want, "%s:slow:compensate", fx_str(f.report, "run_id"));
            ASSERT_EQ_STR(e[i].idempotency_key, want);
        } else {
            ASSERT_EQ_STR(e[i].method, "Undo0");
        }
    }
    ASSERT_EQ_INT(order, 2);
    /* the re-send is the step's own request, not a compensation */
    for (size_t i = 0; i < n; i++)
        if (e[i].ev == MAE_SCRIPT_CALL && strcmp(e[i].method, "Slow") == 0) ASSERT_FALSE(e[i].compensation);
    const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(f.report, "compensations"), 0);
    ASSERT_EQ_STR(fx_str(c, "step"), "slow");
    ASSERT_EQ_STR(fx_str(c, "status"), "succeeded");
    ASSERT_EQ_STR(fx_str(c, "outcome"), "committed");
    ASSERT_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(f.report, "compensations")), 2);
    ASSERT_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(f.report, "uncompensated")), 0);
    fx_close(&f);
}

TEST(an_unknown_outcome_the_resend_cannot_resolve_is_listed_uncompensated_as_outcome_unknown) {
    fx f;
    fx_init(&f, par_wf);
    rules(&f, true);
    ASSERT_EQ_INT(fx_run(&f, NULL), 0);
    ASSERT_EQ_INT(f.status, MAE_RUN_COMPENSATION_FAILED);
    ASSERT_EQ_INT(f.exit_code, 3);
    ASSERT_EQ_INT(mae_scripted_count(f.tr, MAE_SCRIPT_CALL, "Slow"), 2);
    ASSERT_EQ_INT(mae_scripted_count(f.tr, MAE_SCRIPT_CALL, "UndoSlow"), 0);
    ASSERT_EQ_INT(mae_scripted_count(f.tr, MAE_SCRIPT_CALL, "Undo0"), 1);
    const cJSON *unc = cJSON_GetObjectItem(f.report, "uncompensated");
    ASSERT_EQ_INT(cJSON_GetArraySize(unc), 1);
    ASSERT_EQ_STR(cJSON_GetArrayItem(unc, 0)->valuestring, "slow");
    const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(f.report, "compensations"), 0);
    ASSERT_EQ_STR(fx_str(c, "step"), "slow");
    ASSERT_EQ_STR(fx_str(c, "status"), "failed");
    ASSERT_EQ_STR(fx_str(c, "outcome"), "unknown");
    ASSERT_CONTAINS(fx_str(c, "error.message"), "outcome unknown");
    ASSERT_NOT_NULL(f.summary);
    ASSERT_CONTAINS(f.summary, "NOT compensated");
    ASSERT_CONTAINS(f.summary, "slow: grpc:UNAVAILABLE: outcome unknown");
    fx_close(&f);
}

/* The compensation events of the resolved step: one group, the re-send's attempt then the undo's. */
static char evlog[2048];
static void on_event(const mae_event *ev, void *ud) {
    char b[128] = "";
    const char *id = ev->step_id ? ev->step_id : "-";
    if (strcmp(id, "slow") != 0) return;
    switch (ev->kind) {
    case MAE_EV_COMP_START: snprintf(b, sizeof b, "cs "); break;
    case MAE_EV_ATTEMPT_START:
        if (ev->compensation) snprintf(b, sizeof b, "as:%s ", ev->method);
        break;
    case MAE_EV_COMP_RESULT: snprintf(b, sizeof b, "cr:%s ", ev->outcome); break;
    default: break;
    }
    strncat(evlog, b, sizeof evlog - strlen(evlog) - 1);
}

static void init_events(fx *f) {
    fx_init(f, NULL);
    ASSERT_EQ_INT(mae_engine_close(f->eng, NULL, NULL), 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    mae_engine_opts o;
    mae_engine_opts_init(&o);
    o.http = o.grpc = f->tr;
    o.log_level = MAE_LOG_OFF;
    o.on_event = on_event;
    ASSERT_EQ_INT(mae_engine_new(&f->loop, &o, &f->eng), 0);
    fx_load(f, par_wf);
    evlog[0] = 0;
}

TEST(the_resend_and_the_undo_are_one_compensation_group_in_the_events) {
    fx f;
    init_events(&f);
    rules(&f, false);
    ASSERT_EQ_INT(fx_run(&f, NULL), 0);
    ASSERT_EQ_STR(evlog, "cs as:Slow as:UndoSlow cr:succeeded ");
    fx_close(&f);

    init_events(&f);
    rules(&f, true);
    ASSERT_EQ_INT(fx_run(&f, NULL), 0);
    ASSERT_EQ_STR(evlog, "cs as:Slow cr:failed ");
    fx_close(&f);
}
