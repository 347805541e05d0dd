/* Engine tests (scripted transport): sequences, parallel blocks, compensation order and
 * failures, cancellation of in-flight calls, run timeout, continue_on_error, templates. */
#include "engine_fx.h"

#define SVC "services:\n  s:\n    type: grpc\n    endpoint: \"127.0.0.1:1\"\n    retry: {attempts: 1}\n"

static const char seq5[] =
    "name: seq5\n" SVC
    "steps:\n"
    "  - {id: s1, service: s, method: Do1, output: o1, compensate: {method: Undo1, input: {id: \"{{ .o1.id }}\"}}}\n"
    "  - {id: s2, service: s, method: Do2, output: o2, compensate: {method: Undo2, input: {id: \"{{ .o2.id }}\"}}}\n"
    "  - {id: s3, service: s, method: Do3, output: o3, compensate: {method: Undo3, input: {id: \"{{ .o3.id }}\"}}}\n"
    "  - {id: s4, service: s, method: Do4, output: o4, compensate: {method: Undo4, input: {id: \"{{ .o4.id }}\"}}}\n"
    "  - {id: s5, service: s, method: Do5, output: o5, compensate: {method: Undo5, input: {id: \"{{ .o5.id }}\"}}}\n"
    "output: {last: \"{{ .o5.id }}\"}\n";

TEST(sequence_failing_at_each_step_compensates_exactly_the_earlier_ones) {
    for (int k = 1; k <= 5; k++) {
        fx f;
        fx_init(&f, seq5);
        for (int i = 1; i <= 5; i++) {
            char m[16], out[64];
            snprintf(m, sizeof m, "Do%d", i);
            snprintf(out, sizeof out, "{\"id\":\"r%d\"}", i);
            mae_script_rule *r = fx_rule(&f, m, out, 1, i == k ? -1 : 0);
            r->fail_cls = MAE_CLASS_GRPC;
            r->fail_status = MAE_GRPC_INVALID_ARGUMENT;
            snprintf(m, sizeof m, "Undo%d", i);
            fx_rule(&f, m, "{\"undone\":true}", 0, 0);
        }
        ASSERT_EQ_INT(fx_run(&f, NULL), 0);
        ASSERT_EQ_INT(f.status, MAE_RUN_FAILED);
        ASSERT_EQ_INT(f.exit_code, 1);
        /* the calls: Do1..Dok, then Undo(k-1)..Undo1, each with its step's output */
        size_t n;
        const mae_script_entry *e = mae_scripted_log(f.tr, &n);
        int calls = 0;
        for (size_t i = 0; i < n; i++) {
            if (e[i].ev != MAE_SCRIPT_CALL) continue;
            calls++;
            char want[32], in[64];
            if (calls <= k) {
                snprintf(want, sizeof want, "Do%d", calls);
                ASSERT_EQ_STR(e[i].method, want);
                ASSERT_FALSE(e[i].compensation);
            } else {
                int u = k - (calls - k);
                snprintf(want, sizeof want, "Undo%d", u);
                snprintf(in, sizeof in, "{\"id\":\"r%d\"}", u);
                ASSERT_EQ_STR(e[i].method, want);
                ASSERT_EQ_STR(e[i].input, in);
                ASSERT_TRUE(e[i].compensation);
                char key[128], sid[32];
                snprintf(sid, sizeof sid, "s%d.compensate", u);
                ASSERT_EQ_STR(e[i].step_id, sid);
                snprintf(key, sizeof key, "%s:s%d:compensate", fx_str(f.report, "run_id"), u);
                ASSERT_EQ_STR(e[i].idempotency_key, key);
            }
        }
        ASSERT_EQ_INT(calls, k + (k - 1));
        ASSERT_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(f.report, "compensations")), k - 1);
        char sid[8];
        snprintf(sid, sizeof sid, "s%d", k);
        ASSERT_EQ_STR(fx_str(f.report, "error.step"), sid);
        ASSERT_EQ_STR(fx_str(f.report, "error.class"), "grpc:INVALID_ARGUMENT");
        ASSERT_EQ_STR(fx_str(f.report, "status"), "failed");
        ASSERT_NULL(f.output);
        ASSERT_CONTAINS(f.summary, sid);
        fx_close(&f);
    }
}

TEST(sequence_success_renders_output_and_keys) {
    fx f;
    fx_init(&f, seq5);
    for (int i = 1; i <= 5; i++) {
        char m[16], out[64];
        snprintf(m, sizeof m, "Do%d", i);
        snprintf(out, sizeof out, "{\"id\":\"r%d\"}", i);
        fx_rule(&f, m, out, 0, 0);
    }
    ASSERT_EQ_INT(fx_run(&f, NULL), 0);
    ASSERT_EQ_INT(f.exit_code, 0);
    ASSERT_EQ_STR(fx_str(f.report, "status"), "succeeded");
    char *o = cJSON_PrintUnformatted(f.output);
    ASSERT_EQ_STR(o, "{\"last\":\"r5\"}");
    free(o);
    ASSERT_EQ_INT(mae_scripted_count(f.tr, MAE_SCRIPT_CALL, NULL), 5);
    size_t n;
    const mae_script_entry *e = mae_scripted_log(f.tr, &n);
    char key[80];
    snprintf(key, sizeof key, "%s:s1", fx_str(f.report, "run_id"));
    ASSERT_EQ_STR(e[0].idempotency_key, key);
    ASSERT_EQ_INT(strlen(e[0].traceparent), 55);
    ASSERT_TRUE(strncmp(e[0].traceparent, "00-", 3) == 0);
    /* "00-" 32 hex "-" 16 hex "-01", lower-case hex (W3C trace-context) */
    for (int i = 0; i < 55; i++) {
        char ch = e[0].traceparent[i];
        if (i == 2 || i == 35 || i == 52) ASSERT_TRUE(ch == '-');
        else if (i > 2 && i < 52) ASSERT_TRUE((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'));
    }
    ASSERT_EQ_STR(e[0].traceparent + 52, "-01");
    ASSERT_TRUE(strcmp(e[0].traceparent, e[2].traceparent) != 0);
    /* the same trace id for the whole run */
    ASSERT_TRUE(strncmp(e[0].traceparent, e[2].traceparent, 35) == 0);
    ASSERT_EQ_STR(fx_str(fx_step(&f, "s3", 0), "status"), "succeeded");
    ASSERT_EQ_INT(fx_num(fx_step(&f, "s3", 0), "attempts"), 1);
    ASSERT_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(f.report, "compensations")), 0);
    fx_close(&f);
}

static const char par4[] =
    "name: par4\n" SVC
    "steps:\n"
    "  - {id: pre, service: s, method: Pre, output: p, compensate: {method: UndoPre, input: {p: \"{{ .p.v }}\"}}}\n"
    "  - parallel:\n"
    "      - {id: a, service: s, method: A, output: oa, compensate: {method: UndoA, input: {a: \"{{ .oa.v }}\"}}}\n"
    "      - {id: b, service: s, method: B, output: ob, compensate: {method: UndoB}}\n"
    "      - {id: c, service: s, method: C, output: oc, compensate: {method: UndoC}}\n"
    "      - sequence:\n"
    "          - {id: d, service: s, method: D, output: od, compensate: {method: UndoD}}\n"
    "          - {id: e, service: s, method: E, output: oe}\n"
    "  - {id: post, service: s, method: Post}\n";

TEST(parallel_branch_failure_cancels_in_flight_and_compensates_completed) {
    fx f;
    fx_init(&f, par4);
    fx_rule(&f, "Pre", "{\"v\":\"P\"}", 0, 0);
    fx_rule(&f, "A", "{\"v\":\"A\"}", 0, 0);
    mae_script_rule *b = fx_rule(&f, "B", NULL, 10, -1);
    b->fail_cls = MAE_CLASS_APP_ERROR;
    b->fail_message = "quota exceeded";
    /* C and D are in flight when B fails; the service acts on them, the answers are lost to
     * the cancel; re-sent with their keys when compensating, they are undone first */
    fx_rule(&f, "C", NULL, 50, 0);
    fx_rule(&f, "D", NULL, 50, 0);
    fx_rule(&f, "UndoPre", NULL, 0, 0);
    fx_rule(&f, "UndoA", NULL, 0, 0);
    fx_rule(&f, "UndoC", NULL, 0, 0);
    fx_rule(&f, "UndoD", NULL, 0, 0);
    ASSERT_EQ_INT(fx_run(&f, NULL), 0);
    ASSERT_EQ_INT(f.exit_code, 1);
    ASSERT_EQ_STR(fx_str(f.report, "error.step"), "b");
    ASSERT_EQ_STR(fx_str(f.report, "error.class"), "app_error");
    ASSERT_EQ_STR(fx_str(f.report, "error.message"), "quota exceeded");
    /* the two in flight were cancelled, seen by the transport */
    char *cancels = fx_methods(&f, MAE_SCRIPT_CANCEL, -1);
    ASSERT_TRUE(strcmp(cancels, "C,D") == 0 || strcmp(cancels, "D,C") == 0);
    free(cancels);
    ASSERT_EQ_STR(fx_str(fx_step(&f, "c", 0), "status"), "outcome_unknown");
    ASSERT_EQ_STR(fx_str(fx_step(&f, "d", 0), "status"), "outcome_unknown");
    ASSERT_NULL(fx_step(&f, "e", 0));       /* never started */
    ASSERT_NULL(fx_step(&f, "post", 0));
    ASSERT_EQ_INT(mae_scripted_count(f.tr, MAE_SCRIPT_CALL, "E"), 0);
    /* completed sibling and the earlier step are compensated, newest first */
    char *comps = fx_methods(&f, MAE_SCRIPT_CALL, 1);
    ASSERT_TRUE(strcmp(comps, "UndoD,UndoC,UndoA,UndoPre") == 0 || strcmp(comps, "UndoC,UndoD,UndoA,UndoPre") == 0);
    free(comps);
    size_t n;
    const mae_script_entry *e = mae_scripted_log(f.tr, &n);
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        if (e[i].ev == MAE_SCRIPT_CALL && strcmp(e[i].method, "UndoA") == 0) { ASSERT_EQ_STR(e[i].input, "{\"a\":\"A\"}"); seen++; }
        if (e[i].ev == MAE_SCRIPT_CALL && strcmp(e[i].method, "UndoPre") == 0) { ASSERT_EQ_STR(e[i].input, "{\"p\":\"P\"}"); seen++; }
    }
    ASSERT_EQ_INT(seen, 2);
    /* every cancelled call was answered before the first compensation was sent */
    size_t first_comp = n, results_before = 0;
    for (size_t i = 0; i < n; i++)
        if (e[i].ev == MAE_SCRIPT_CALL && e[i].compensation && first_comp == n) first_comp = i;
    for (size_t i = 0; i < first_comp; i++)
        if (e[i].ev == MAE_SCRIPT_RESULT && e[i].cls == MAE_CLASS_CANCELLED) results_before++;
    ASSERT_EQ_INT(results_before, 2);
    ASSERT_EQ_INT(mae_scripted_in_flight(f.tr), 0);
    ASSERT_CONTAINS(f.summary, "outcome unknown");
    fx_close(&f);
}

static const char comp3[] =
    "name: comp3\n"
    "services:\n  s:\n    type: grpc\n    endpoint: \"127.0.0.1:1\"\n    retry: {attempts: 1}\n"
    "    circuit_breaker: {failures: 50}\n"
    "steps:\n"
    "  - {id: s1, service: s, method: Do1, output: o1, compensate: {method: Undo1, retry: {attempts: 3, initial: 1ms, max: 2ms}}}\n"
    "  - {id: s2, service: s, method: Do2, output: o2, compensate: {method: Undo2, retry: {initial: 1ms, max: 2ms}}}\n"
    "  - {id: s3, service: s, method: Do3}\n";

TEST(compensation_failing_twice_is_retried_and_succeeds) {
    fx f;
    fx_init(&f, comp3);
    fx_rule(&f, "Do1", NULL, 0, 0);
    fx_rule(&f, "Do2", NULL, 0, 0);
    fx_rule(&f, "Do3", NULL, 0, -1)->fail_status = 400;
    fx_rule(&f, "Do3", NULL, 0, 0);
    mae_script_rule *u1 = fx_rule(&f, "Undo1", NULL, 0, 2);   /* 503 twice, then ok */
    fx_rule(&f, "Undo2", NULL, 0, 0);
    ASSERT_EQ_INT(fx_run(&f, NULL), 0);
    ASSERT_EQ_INT(u1->calls, 3);
    ASSERT_EQ_INT(f.exit_code, 1);
    ASSERT_EQ_STR(fx_str(f.report, "status"), "failed");
    const cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(f.report, "compensations"), 1);
    ASSERT_EQ_STR(fx_str(c0, "step"), "s1");
    ASSERT_EQ_STR(fx_str(c0, "status"), "succeeded");
    ASSERT_EQ_INT(fx_num(c0, "attempts"), 3);
    fx_close(&f);
}

TEST(compensation_always_failing_ends_with_exit_3_and_others_still_run) {
    fx f;
    fx_init(&f, comp3);
    fx_rule(&f, "Do1", NULL, 0, 0);
    fx_rule(&f, "Do2", NULL, 0, 0);
    mae_script_rule *d3 = fx_rule(&f, "Do3", NULL, 0, -1);
    d3->fail_cls = MAE_CLASS_HTTP_4XX;
    d3->fail_status = 409;
    mae_script_rule *u2 = fx_rule(&f, "Undo2", NULL, 0, -1);
    u2->fail_message = "undo service down";
    mae_script_rule *u1 = fx_rule(&f, "Undo1", NULL, 0, 0);
    ASSERT_EQ_INT(fx_run(&f, NULL), 0);
    ASSERT_EQ_INT(f.status, MAE_RUN_COMPENSATION_FAILED);
    ASSERT_EQ_INT(f.exit_code, 3);
    ASSERT_EQ_STR(fx_str(f.report, "status"), "compensation_failed");
    ASSERT_EQ_INT(u2->calls, 5);       /* a compensation's default: 5 attempts */
    ASSERT_EQ_INT(u1->calls, 1);       /* the rest still ran */
    const cJSON *unc = cJSON_GetObjectItem(f.report, "uncompensated");
    ASSERT_EQ_INT(cJSON_GetArraySize(unc), 1);
    ASSERT_EQ_STR(cJSON_GetArrayItem(unc, 0)->valuestring, "s2");
    const cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(f.report, "compensations"), 0);
    ASSERT_EQ_STR(fx_str(c0, "status"), "failed");
    ASSERT_EQ_STR(fx_str(c0, "error.message"), "undo service down");
    ASSERT_CONTAINS(f.summary, "manual clean-up");
    ASSERT_CONTAINS(f.summary, "s2");
    ASSERT_CONTAINS(f.summary, "undo service down");
    fx_close(&f);
}

static const char coe[] =
    "name: coe\n" SVC
    "steps:\n"
    "  - {id: a, service: s, method: A, output: va, continue_on_error: true}\n"
    "  - {id: b, service: s, method: B, input: {msg: \"{{ .steps.a.error.message }}\", v: \"{{ .va }}\", st: \"{{ .steps.a.status }}\"}}\n"
    "output: {a: \"{{ .va }}\", why: \"{{ .steps.a.error.message }}\"}\n";

TEST(continue_on_error_lets_the_run_succeed_with_null_output) {
    fx f;
    fx_init(&f, coe);
    mae_script_rule *a = fx_rule(&f, "A", NULL, 0, -1);
    a->fail_cls = MAE_CLASS_HTTP_4XX;
    a->fail_status = 422;
    a->fail_message = "bad thing";
    fx_rule(&f, "B", NULL, 0, 0);
    ASSERT_EQ_INT(fx_run(&f, NULL), 0);
    ASSERT_EQ_INT(f.exit_code, 0);
    char *o = cJSON_PrintUnformatted(f.output);
    ASSERT_EQ_STR(o, "{\"a\":null,\"why\":\"bad thing\"}");
    free(o);
    size_t n;
    const mae_script_entry *e = mae_scripted_log(f.tr, &n);
    const char *bin = NULL;
    for (size_t i = 0; i < n; i++) if (e[i].ev == MAE_SCRIPT_CALL && !strcmp(e[i].method, "B")) bin = e[i].input;
    ASSERT_EQ_STR(bin, "{\"msg\":\"bad thing\",\"v\":null,\"st\":\"failed\"}");
    ASSERT_EQ_STR(fx_str(fx_step(&f, "a", 0), "status"), "failed");
    ASSERT_EQ_INT(fx_num(fx_step(&f, "a", 0), "error.status"), 422);
    fx_close(&f);
}

static const char tmo[] =
    "name: tmo\n"
    "timeout: 60ms\n"
    "compensation_timeout: 5s\n" SVC
    "steps:\n"
    "  - {id: s1, service: s, method: Do1, output: o1, compensate: {method: Undo1, input: {x: \"{{ .o1.x }}\"}}}\n"
    "  - parallel:\n"
    "      - {id: h1, service: s, method: Hang}\n"
    "      - {id: h2, service: s, method: Slow, timeout: 10s}\n";

TEST(run_timeout_cancels_in_flight_and_still_compensates) {
    fx f;
    fx_init(&f, tmo);
    fx_rule(&f, "Do1", "{\"x\":1}", 0, 0);
    fx_rule(&f, "Hang", NULL, 0, 0)->hang = true;
    fx_rule(&f, "Slow", NULL, 5000, 0);
    fx_rule(&f, "Undo1", NULL, 0, 0);
    uint64_t t0 = uv_now(&f.loop);
    ASSERT_EQ_INT(fx_run(&f, NULL), 0);
    ASSERT_CMP_INT(uv_now(&f.loop) - t0, >=, 60);   /* no sooner than the deadline */
    ASSERT_EQ_INT(f.exit_code, 1);
    ASSERT_EQ_STR(fx_str(f.report, "error.class"), "timeout");
    ASSERT_EQ_INT(mae_scripted_count(f.tr, MAE_SCRIPT_CANCEL, NULL), 2);
    ASSERT_EQ_STR(fx_str(fx_step(&f, "h1", 0), "status"), "outcome_unknown");
    ASSERT_EQ_STR(fx_str(fx_step(&f, "h2", 0), "status"), "outcome_unknown");
    char *comps = fx_methods(&f, MAE_SCRIPT_CALL, 1);
    ASSERT_EQ_STR(comps, "Undo1");
    free(comps);
    size_t n;
    const mae_script_entry *e = mae_scripted_log(f.tr, &n);
    /* the per-attempt timeout given to the transport was min'd with the run's */
    for (size_t i = 0; i < n; i++)
        if (e[i].ev == MAE_SCRIPT_CALL && !e[i].compensation) ASSERT_CMP_INT(e[i].timeout_ms, <=, 60);
    fx_close(&f);
}

static const char interrupt_wf[] =
    "name: intr\n" SVC
    "steps:\n"
    "  - {id: s1, service: s, method: Do1, output: o1, compensate: {method: Undo1}}\n"
    "  - {id: s2, service: s, method: Hang}\n";

static void cancel_cb(uv_timer_t *t) { mae_run_cancel(t->data); }

TEST(cancel_interrupts_compensates_and_reports_130) {
    fx f;
    fx_init(&f, interrupt_wf);
    fx_rule(&f, "Do1", NULL, 0, 0);
    fx_rule(&f, "Hang", NULL, 0, 0)->hang = true;
    fx_rule(&f, "Undo1", NULL, 0, 0);
    mae_run *run;
    ASSERT_EQ_INT(mae_run_start(f.eng, f.wf, "{}", NULL, fx_on_done, &f, &run), 0);
    uv_timer_t t;
    uv_timer_init(&f.loop, &t);
    t.data = run;
    uv_timer_start(&t, cancel_cb, 20, 0);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, NULL);
    ASSERT_EQ_INT(f.done_called, 1);
    ASSERT_EQ_INT(f.status, MAE_RUN_INTERRUPTED);
    ASSERT_EQ_INT(f.exit_code, 130);
    ASSERT_EQ_STR(fx_str(f.report, "status"), "interrupted");
    ASSERT_EQ_INT(mae_scripted_count(f.tr, MAE_SCRIPT_CANCEL, "Hang"), 1);
    ASSERT_EQ_INT(mae_scripted_count(f.tr, MAE_SCRIPT_CALL, "Undo1"), 1);
    fx_close(&f);
}

static const char tmpl_wf[] =
    "name: tpl\n"
    "input: {name: {type: string, required: true}, opt: {type: object}}\n"
    "services:\n  h:\n    type: http\n    endpoint: \"http://127.0.0.1:1\"\n    retry: {attempts: 1}\n"
    "    headers: {X-Who: \"{{ .input.name }}\"}\n"
    "steps:\n"
    "  - {id: get, service: h, method: \"GET /users/{{ .input.name }}/x\", output: u,\n"
    "     compensate: {method: \"DELETE /users/{{ .u.id }}\"}}\n"
    "  - {id: bad, service: h, method: \"POST /b\", input: {v: \"{{ .input.opt.missing }}\"}}\n";

TEST(template_error_fails_the_step_without_calling_and_compensates) {
    fx f;
    fx_init(&f, tmpl_wf);
    /* rules name the method as written */
    fx_rule(&f, "GET /users/{{ .input.name }}/x", "{\"id\":\"a/b c\"}", 0, 0);
    fx_rule(&f, "DELETE /users/{{ .u.id }}", NULL, 0, 0);
    fx_rule(&f, "POST /b", NULL, 0, 0);
    ASSERT_EQ_INT(fx_run(&f, "{\"name\":\"jo e/1\",\"opt\":{}}"), 0);
    ASSERT_EQ_INT(f.exit_code, 1);
    ASSERT_EQ_STR(fx_str(f.report, "error.class"), "template");
    ASSERT_EQ_STR(fx_str(f.report, "error.step"), "bad");
    ASSERT_CONTAINS(fx_str(f.report, "error.message"), "missing");
    ASSERT_EQ_INT(mae_scripted_count(f.tr, MAE_SCRIPT_CALL, "POST /b"), 0);
    ASSERT_EQ_INT(fx_num(fx_step(&f, "bad", 0), "attempts"), 0);
    size_t n;
    const mae_script_entry *e = mae_scripted_log(f.tr, &n);
    /* the HTTP target renders its path with each substituted value percent-encoded */
    ASSERT_EQ_STR(e[0].method, "GET /users/{{ .input.name }}/x");
    ASSERT_EQ_STR(e[0].desc, "GET /users/jo%20e%2F1/x");
    int del = 0;
    for (size_t i = 0; i < n; i++)
        if (e[i].ev == MAE_SCRIPT_CALL && !strncmp(e[i].method, "DELETE", 6)) {
            ASSERT_EQ_STR(e[i].desc, "DELETE /users/a%2Fb%20c");
            del++;
        }
    ASSERT_EQ_INT(del, 1);
    fx_close(&f);
}

TEST(invalid_input_is_refused_before_anything_runs) {
    fx f;
    fx_init(&f, tmpl_wf);
    mae_run *run = NULL;
    ASSERT_EQ_INT(mae_run_start(f.eng, f.wf, "{\"opt\":{}}", NULL, fx_on_done, &f, &run), MAE_EINVAL);
    ASSERT_EQ_INT(mae_run_start(f.eng, f.wf, "{\"name\":", NULL, fx_on_done, &f, &run), MAE_EPARSE);
    ASSERT_EQ_INT(mae_run_start(f.eng, f.wf, "{\"name\":5}", NULL, fx_on_done, &f, &run), MAE_EINVAL);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(f.done_called, 0);
    ASSERT_EQ_INT(mae_scripted_count(f.tr, MAE_SCRIPT_CALL, NULL), 0);
    fx_close(&f);
}

static const char outfail[] =
    "name: outfail\n" SVC
    "steps:\n"
    "  - {id: s1, service: s, method: Do1, output: o1, compensate: {method: Undo1}}\n"
    "output: {x: \"{{ .o1.nope }}\"}\n";

TEST(output_render_failure_fails_the_run_and_compensates) {
    fx f;
    fx_init(&f, outfail);
    fx_rule(&f, "Do1", "{\"a\":1}", 0, 0);
    fx_rule(&f, "Undo1", NULL, 0, 0);
    ASSERT_EQ_INT(fx_run(&f, NULL), 0);
    ASSERT_EQ_INT(f.exit_code, 1);
    ASSERT_EQ_STR(fx_str(f.report, "error.class"), "template");
    ASSERT_EQ_INT(mae_scripted_count(f.tr, MAE_SCRIPT_CALL, "Undo1"), 1);
    ASSERT_NULL(f.output);
    fx_close(&f);
}

static const char budget_wf[] =
    "name: budget\n"
    "timeout: 1m\n"
    "compensation_timeout: 60ms\n"
    "services:\n  s:\n    type: grpc\n    endpoint: \"127.0.0.1:1\"\n    timeout: 10s\n    retry: {attempts: 1}\n"
    "steps:\n"
    "  - {id: s1, service: s, method: Do1, compensate: {method: Undo1}}\n"
    "  - {id: s2, service: s, method: Do2, compensate: {method: UndoHang}}\n"
    "  - {id: s3, service: s, method: Do3}\n";

TEST(compensation_budget_cancels_the_running_one_and_skips_the_rest) {
    fx f;
    fx_init(&f, budget_wf);
    fx_rule(&f, "Do3", NULL, 0, -1)->fail_status = 400;
    fx_rule(&f, "UndoHang", NULL, 0, 0)->hang = true;
    fx_rule(&f, "Do1", NULL, 0, 0);
    fx_rule(&f, "Do2", NULL, 0, 0);
    fx_rule(&f, "Undo1", NULL, 0, 0);
    uint64_t t0 = uv_now(&f.loop);
    ASSERT_EQ_INT(fx_run(&f, NULL), 0);
    ASSERT_CMP_INT(uv_now(&f.loop) - t0, >=, 60);
    ASSERT_EQ_INT(f.exit_code, 3);
    ASSERT_EQ_INT(mae_scripted_count(f.tr, MAE_SCRIPT_CANCEL, "UndoHang"), 1);
    ASSERT_EQ_INT(mae_scripted_count(f.tr, MAE_SCRIPT_CALL, "Undo1"), 0);
    const cJSON *comps = cJSON_GetObjectItem(f.report, "compensations");
    ASSERT_EQ_INT(cJSON_GetArraySize(comps), 2);
    ASSERT_EQ_STR(fx_str(cJSON_GetArrayItem(comps, 0), "step"), "s2");
    ASSERT_EQ_STR(fx_str(cJSON_GetArrayItem(comps, 0), "status"), "failed");
    ASSERT_EQ_STR(fx_str(cJSON_GetArrayItem(comps, 1), "step"), "s1");
    ASSERT_CONTAINS(fx_str(cJSON_GetArrayItem(comps, 1), "error.message"), "budget");
    ASSERT_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(f.report, "uncompensated")), 2);
    /* the compensation's attempt timeout was bounded by the budget, not the service's 10s */
    size_t n;
    const mae_script_entry *e = mae_scripted_log(f.tr, &n);
    for (size_t i = 0; i < n; i++)
        if (e[i].ev == MAE_SCRIPT_CALL && e[i].compensation) ASSERT_CMP_INT(e[i].timeout_ms, <=, 60);
    fx_close(&f);
}
