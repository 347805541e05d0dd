/* Engine tests (scripted transport): foreach (concurrency, order, item scopes, compensation of
 * completed items), nested parallel/sequence groups, `when`, the max_in_flight bulkhead, and an
 * engine sharing its loop with the caller's own handles. */
#include "engine_fx.h"

static const char fe_big[] =
    "name: fe\n"
    "input: {xs: {type: array, required: true}}\n"
    "services:\n  s:\n    type: grpc\n    endpoint: \"127.0.0.1:1\"\n    retry: {attempts: 1}\n"
    "steps:\n"
    "  - id: all\n"
    "    foreach: \"{{ .input.xs }}\"\n"
    "    as: x\n"
    "    concurrency: 100\n"
    "    do: {id: one, service: s, method: Echo, input: {n: \"{{ .x }}\", i: \"{{ .x_index }}\"}, output: r}\n"
    "    output: rs\n"
    "output: {rs: \"{{ .rs }}\"}\n";

TEST_T(foreach_10000_items_never_exceeds_its_concurrency_and_keeps_order, 120) {
    fx f;
    fx_init(&f, fe_big);
    mae_scripted_set_logging(f.tr, false);
    mae_script_rule *r = fx_rule(&f, "Echo", NULL, 1, 0);   /* echoes its input */
    enum { N = 10000 };
    char *in = malloc(N * 8 + 32);
    size_t k = (size_t)sprintf(in, "{\"xs\":[");
    for (int i = 0; i < N; i++) k += (size_t)sprintf(in + k, "%s%d", i ? "," : "", (N - i) * 3);
    strcpy(in + k, "]}");
    ASSERT_EQ_INT(fx_run(&f, in), 0);
    free(in);
    ASSERT_EQ_INT(f.exit_code, 0);
    ASSERT_EQ_INT(r->calls, N);
    ASSERT_CMP_INT(mae_scripted_max_in_flight(f.tr), <=, 100);
    ASSERT_EQ_INT(mae_scripted_max_in_flight(f.tr), 100);   /* and it did use the room */
    const cJSON *rs = cJSON_GetObjectItem(f.output, "rs");
    ASSERT_EQ_INT(cJSON_GetArraySize(rs), N);
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, rs) {
        ASSERT_EQ_INT(fx_num(it, "n"), (N - i) * 3);
        ASSERT_EQ_INT(fx_num(it, "i"), i);
        i++;
    }
    fx_close(&f);
}

TEST(foreach_group_items_finish_out_of_order_but_results_keep_input_order) {
    fx f;
    fx_init(&f, "name: feo\n"
                "services:\n  s:\n    type: grpc\n    endpoint: \"127.0.0.1:1\"\n    retry: {attempts: 1}\n"
                "steps:\n"
                "  - id: all\n"
                "    foreach: \"{{ .input.xs }}\"\n"
                "    as: x\n"
                "    do:\n"
                "      sequence:\n"
                "        - {id: first, service: s, method: M, input: {x: \"{{ .x }}\"}, output: a}\n"
                "        - {id: second, service: s, method: Tag, input: {from: \"{{ .a.x }}\", i: \"{{ .x_index }}\"}, output: b}\n"
                "    output: items\n"
                "output: {items: \"{{ .items }}\"}\n");
    /* item 0 slowest, item 2 fastest: completion order is the reverse of input order */
    fx_rule_in(&f, "M", "\"p\"", NULL, 20, 0);
    fx_rule_in(&f, "M", "\"q\"", NULL, 10, 0);
    fx_rule(&f, "M", NULL, 0, 0);
    fx_rule(&f, "Tag", NULL, 0, 0);
    ASSERT_EQ_INT(fx_run(&f, "{\"xs\":[\"p\",\"q\",\"r\"]}"), 0);
    ASSERT_EQ_INT(f.exit_code, 0);
    char *o = cJSON_PrintUnformatted(f.output);
    ASSERT_EQ_STR(o, "{\"items\":[{\"a\":{\"x\":\"p\"},\"b\":{\"from\":\"p\",\"i\":0}},"
                     "{\"a\":{\"x\":\"q\"},\"b\":{\"from\":\"q\",\"i\":1}},"
                     "{\"a\":{\"x\":\"r\"},\"b\":{\"from\":\"r\",\"i\":2}}]}");
    free(o);
    fx_close(&f);
}

static const char fe_comp[] =
    "name: fec\n"
    "services:\n  s:\n    type: grpc\n    endpoint: \"127.0.0.1:1\"\n    retry: {attempts: 1}\n"
    "steps:\n"
    "  - id: all\n"
    "    foreach: \"{{ .input.xs }}\"\n"
    "    as: x\n"
    "    concurrency: 2\n"
    "    do: {id: make, service: s, method: Make, input: {x: \"{{ .x }}\"}, output: made,\n"
    "         compensate: {method: Unmake, input: {x: \"{{ .made.x }}\", i: \"{{ .x_index }}\"}}}\n"
    "    output: made_all\n"
    "  - {id: boom, service: s, method: Boom}\n";

TEST(completed_foreach_items_are_compensated_with_their_own_scope) {
    fx f;
    fx_init(&f, fe_comp);
    fx_rule(&f, "Make", NULL, 2, 0);
    fx_rule(&f, "Boom", NULL, 0, -1)->fail_status = 500;
    fx_rule(&f, "Unmake", NULL, 0, 0);
    ASSERT_EQ_INT(fx_run(&f, "{\"xs\":[\"a\",\"b\",\"c\",\"d\"]}"), 0);
    ASSERT_EQ_INT(f.exit_code, 1);
    /* reverse completion order; each sees its own item's output and index */
    size_t n;
    const mae_script_entry *e = mae_scripted_log(f.tr, &n);
    char order[8] = {0};
    int k = 0;
    for (size_t i = 0; i < n; i++) {
        if (e[i].ev != MAE_SCRIPT_CALL) continue;
        if (!strcmp(e[i].method, "Make") && k < 4) {
            cJSON *in = cJSON_Parse(e[i].input);
            order[k++] = cJSON_GetObjectItem(in, "x")->valuestring[0];
            cJSON_Delete(in);
        }
    }
    ASSERT_EQ_INT(k, 4);
    int u = 0;
    for (size_t i = 0; i < n; i++) {
        if (e[i].ev != MAE_SCRIPT_CALL || strcmp(e[i].method, "Unmake") != 0) continue;
        cJSON *in = cJSON_Parse(e[i].input);
        char want = order[3 - u];
        ASSERT_EQ_INT(cJSON_GetObjectItem(in, "x")->valuestring[0], want);
        ASSERT_EQ_INT(cJSON_GetObjectItem(in, "i")->valueint, want - 'a');
        cJSON_Delete(in);
        u++;
    }
    ASSERT_EQ_INT(u, 4);
    fx_close(&f);
}

TEST(foreach_item_failure_stops_new_items_cancels_running_and_compensates_done_ones) {
    fx f;
    fx_init(&f, fe_comp);
    /* two at a time: a and b succeed, then c fails while d is in flight; e, f never start.
     * d is cancelled (outcome_unknown), re-sent with its key when compensating, and undone. */
    fx_rule_in(&f, "Make", "\"c\"", NULL, 10, -1)->fail_status = 500;
    fx_rule_in(&f, "Make", "\"d\"", NULL, 50, 0);
    fx_rule(&f, "Make", NULL, 1, 0);
    fx_rule(&f, "Unmake", NULL, 0, 0);
    ASSERT_EQ_INT(fx_run(&f, "{\"xs\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\"]}"), 0);
    ASSERT_EQ_INT(f.exit_code, 1);
    ASSERT_EQ_INT(mae_scripted_count(f.tr, MAE_SCRIPT_CALL, "Make"), 5);
    ASSERT_EQ_INT(mae_scripted_count(f.tr, MAE_SCRIPT_CANCEL, "Make"), 1);
    ASSERT_EQ_STR(fx_str(f.report, "error.step"), "make");
    ASSERT_EQ_INT(fx_num(f.report, "error.status"), 500);
    size_t n;
    const mae_script_entry *e = mae_scripted_log(f.tr, &n);
    int seen_a = 0, seen_b = 0, seen_d = 0, other = 0;
    for (size_t i = 0; i < n; i++) {
        if (e[i].ev != MAE_SCRIPT_CALL || strcmp(e[i].method, "Unmake") != 0) continue;
        if (!strcmp(e[i].input, "{\"x\":\"a\",\"i\":0}")) seen_a++;
        else if (!strcmp(e[i].input, "{\"x\":\"b\",\"i\":1}")) seen_b++;
        else if (!strcmp(e[i].input, "{\"x\":\"d\",\"i\":3}")) seen_d++;
        else other++;
    }
    ASSERT_EQ_INT(seen_a, 1);
    ASSERT_EQ_INT(seen_b, 1);
    ASSERT_EQ_INT(seen_d, 1);
    ASSERT_EQ_INT(other, 0);
    /* the report has the cancelled item as outcome_unknown, with its index */
    const cJSON *s;
    int unknown = 0;
    cJSON_ArrayForEach(s, cJSON_GetObjectItem(f.report, "steps"))
        if (!strcmp(fx_str(s, "status"), "outcome_unknown")) {
            unknown++;
            ASSERT_EQ_INT(fx_num(s, "index"), 3);
        }
    ASSERT_EQ_INT(unknown, 1);
    fx_close(&f);
}

static const char nested[] =
    "name: nested\n"
    "services:\n  s:\n    type: grpc\n    endpoint: \"127.0.0.1:1\"\n    retry: {attempts: 1}\n"
    "steps:\n"
    "  - {id: a, service: s, method: A, output: oa}\n"
    "  - id: fan\n"
    "    parallel:\n"
    "      - sequence:\n"
    "          - {id: b1, service: s, method: B1, output: ob1}\n"
    "          - {id: b2, service: s, method: B2, input: {x: \"{{ .ob1.v }}\"}, output: ob2}\n"
    "      - parallel:\n"
    "          - {id: c1, service: s, method: C, output: oc1}\n"
    "          - {id: c2, service: s, method: C, output: oc2, when: \"{{ .input.go }}\"}\n"
    "      - {id: d, service: s, method: D, output: od, when: \"{{ .oa.v == 'no' }}\"}\n"
    "  - {id: e, service: s, method: E, input: {b2: \"{{ .ob2.x }}\", c2: \"{{ .oc2 }}\", d: \"{{ .steps.d.status }}\", fan: \"{{ .steps.fan.status }}\"}}\n"
    "output: {wf: \"{{ .workflow.name }}\", id: \"{{ .workflow.id }}\"}\n";

TEST(nested_parallel_with_sequence_groups_and_when) {
    fx f;
    fx_init(&f, nested);
    fx_rule(&f, "A", "{\"v\":\"yes\"}", 0, 0);
    fx_rule(&f, "B1", "{\"v\":\"from-b1\"}", 3, 0);
    fx_rule(&f, "B2", NULL, 0, 0);
    fx_rule(&f, "C", "{}", 1, 0);
    fx_rule(&f, "E", NULL, 0, 0);
    ASSERT_EQ_INT(fx_run(&f, "{\"go\":false}"), 0);
    ASSERT_EQ_INT(f.exit_code, 0);
    ASSERT_EQ_INT(mae_scripted_count(f.tr, MAE_SCRIPT_CALL, "C"), 1);
    ASSERT_EQ_INT(mae_scripted_count(f.tr, MAE_SCRIPT_CALL, "D"), 0);
    size_t n;
    const mae_script_entry *e = mae_scripted_log(f.tr, &n);
    const char *ein = NULL;
    for (size_t i = 0; i < n; i++) if (e[i].ev == MAE_SCRIPT_CALL && !strcmp(e[i].method, "E")) ein = e[i].input;
    ASSERT_EQ_STR(ein, "{\"b2\":\"from-b1\",\"c2\":null,\"d\":\"skipped\",\"fan\":\"succeeded\"}");
    ASSERT_EQ_STR(fx_str(fx_step(&f, "c2", 0), "status"), "skipped");
    ASSERT_EQ_STR(fx_str(f.output, "wf"), "nested");
    ASSERT_EQ_STR(fx_str(f.output, "id"), fx_str(f.report, "run_id"));
    ASSERT_EQ_INT(strlen(fx_str(f.output, "id")), 32);
    fx_close(&f);
}

static const char bulkhead[] =
    "name: bulk\n"
    "services:\n  s:\n    type: grpc\n    endpoint: \"127.0.0.1:1\"\n    retry: {attempts: 1}\n    max_in_flight: 3\n"
    "  t:\n    type: grpc\n    endpoint: \"127.0.0.1:2\"\n    retry: {attempts: 1}\n"
    "steps:\n"
    "  - id: many\n"
    "    foreach: \"{{ .input.xs }}\"\n"
    "    as: x\n"
    "    do: {id: call, service: s, method: Slow, input: {x: \"{{ .x }}\"}}\n";

TEST(max_in_flight_queues_calls_beyond_the_limit) {
    fx f;
    fx_init(&f, bulkhead);
    mae_script_rule *r = fx_rule(&f, "Slow", NULL, 3, 0);
    ASSERT_EQ_INT(fx_run(&f, "{\"xs\":[1,2,3,4,5,6,7,8,9,10,11]}"), 0);
    ASSERT_EQ_INT(f.exit_code, 0);
    ASSERT_EQ_INT(r->calls, 11);
    ASSERT_EQ_INT(mae_scripted_max_in_flight(f.tr), 3);
    /* FIFO: calls were sent in item order */
    size_t n;
    const mae_script_entry *e = mae_scripted_log(f.tr, &n);
    int k = 1;
    for (size_t i = 0; i < n; i++) {
        if (e[i].ev != MAE_SCRIPT_CALL) continue;
        char want[32];
        snprintf(want, sizeof want, "{\"x\":%d}", k++);
        ASSERT_EQ_STR(e[i].input, want);
    }
    fx_close(&f);
}

/* ---- good citizen: the caller's own handles on the same loop ---- */

typedef struct {
    uv_timer_t tick;
    uv_idle_t idle;
    uv_prepare_t prep;
    int ticks, idles, preps, done;
    int ticks_at_done;
    fx *f;
} citizen;

static void tick_cb(uv_timer_t *t) { ((citizen *)t->data)->ticks++; }
static void prep_cb(uv_prepare_t *p) { ((citizen *)p->data)->preps++; }
static void idle_cb(uv_idle_t *i) {
    citizen *c = i->data;
    if (++c->idles == 3) uv_idle_stop(i);
}

static void citizen_done(mae_run *run, const mae_run_result *res, void *ud) {
    citizen *c = ud;
    c->done++;
    c->ticks_at_done = c->ticks;
    ASSERT_EQ_INT(res->exit_code, 0);
    mae_run_free(run);
    uv_timer_stop(&c->tick);
    uv_prepare_stop(&c->prep);
}

TEST(engine_shares_the_loop_with_the_callers_handles) {
    fx f;
    fx_init(&f, "name: gc\n"
                "services:\n  s:\n    type: grpc\n    endpoint: \"127.0.0.1:1\"\n    retry: {attempts: 1}\n"
                "steps:\n"
                "  - {id: a, service: s, method: A}\n"
                "  - {id: b, service: s, method: A}\n");
    fx_rule(&f, "A", NULL, 25, 0);
    citizen c = {.f = &f};
    uv_timer_init(&f.loop, &c.tick);
    uv_idle_init(&f.loop, &c.idle);
    uv_prepare_init(&f.loop, &c.prep);
    c.tick.data = c.idle.data = c.prep.data = &c;
    uv_timer_start(&c.tick, tick_cb, 1, 1);
    uv_idle_start(&c.idle, idle_cb);
    uv_prepare_start(&c.prep, prep_cb);
    mae_run *run;
    ASSERT_EQ_INT(mae_run_start(f.eng, f.wf, NULL, NULL, citizen_done, &c, &run), 0);
    uv_run(&f.loop, UV_RUN_DEFAULT);     /* returns: neither side keeps the loop alive */
    ASSERT_EQ_INT(c.done, 1);
    ASSERT_EQ_INT(c.idles, 3);
    ASSERT_CMP_INT(c.ticks_at_done, >=, 2);   /* our timer kept firing during the run */
    ASSERT_CMP_INT(c.preps, >=, 2);
    uv_close((uv_handle_t *)&c.tick, NULL);
    uv_close((uv_handle_t *)&c.idle, NULL);
    uv_close((uv_handle_t *)&c.prep, NULL);
    fx_close(&f);
}

TEST(several_runs_share_one_engine_concurrently) {
    fx f;
    fx_init(&f, "name: multi\n"
                "services:\n  s:\n    type: grpc\n    endpoint: \"127.0.0.1:1\"\n    retry: {attempts: 1}\n"
                "    max_in_flight: 2\n"
                "steps:\n"
                "  - {id: a, service: s, method: A, input: {n: \"{{ .input.n }}\"}, output: r}\n"
                "output: {n: \"{{ .r.n }}\"}\n");
    fx_rule(&f, "A", NULL, 2, 0);
    enum { R = 8 };
    mae_run *runs[R];
    for (int i = 0; i < R; i++) {
        char in[32];
        snprintf(in, sizeof in, "{\"n\":%d}", i);
        ASSERT_EQ_INT(mae_run_start(f.eng, f.wf, in, NULL, fx_on_done, &f, &runs[i]), 0);
    }
    uv_run(&f.loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(f.done_called, R);
    ASSERT_EQ_INT(f.exit_code, 0);
    /* the service's bulkhead is shared by every run */
    ASSERT_EQ_INT(mae_scripted_max_in_flight(f.tr), 2);
    fx_close(&f);
}

/* Every foreach item is its own request: its idempotency key names the item ("[i]", nested
 * "[i][j]"), and so does its compensation's, so a service that deduplicates on the key never
 * takes item 2 for a repeat of item 1. */
static const char fe_keys[] =
    "name: fekeys\n"
    "services:\n  s:\n    type: grpc\n    endpoint: \"127.0.0.1:1\"\n    retry: {attempts: 1}\n"
    "steps:\n"
    "  - id: outer\n"
    "    foreach: \"{{ .input.rows }}\"\n"
    "    as: row\n"
    "    concurrency: 1\n"
    "    do:\n"
    "      id: inner\n"
    "      foreach: \"{{ .row }}\"\n"
    "      as: x\n"
    "      concurrency: 1\n"
    "      do: {id: mk, service: s, method: Make, input: {x: \"{{ .x }}\"},\n"
    "           compensate: {method: Unmake, input: {x: \"{{ .x }}\"}}}\n"
    "  - {id: boom, service: s, method: Boom}\n";

TEST(foreach_items_send_their_own_idempotency_keys) {
    fx f;
    fx_init(&f, fe_keys);
    fx_rule(&f, "Make", "{}", 0, 0);
    fx_rule(&f, "Unmake", "{}", 0, 0);
    mae_script_rule *b = fx_rule(&f, "Boom", NULL, 0, -1);
    b->fail_cls = MAE_CLASS_GRPC;
    b->fail_status = MAE_GRPC_INVALID_ARGUMENT;
    ASSERT_EQ_INT(fx_run(&f, "{\"rows\":[[1,2],[3]]}"), 0);
    ASSERT_EQ_INT(f.exit_code, 1);
    const char *id = fx_str(f.report, "run_id");
    static const char *const want[] = {"mk[0][0]", "mk[0][1]", "mk[1][0]", "boom",
                                       "mk[1][0]:compensate", "mk[0][1]:compensate",
                                       "mk[0][0]:compensate"};
    size_t n, k = 0;
    const mae_script_entry *e = mae_scripted_log(f.tr, &n);
    for (size_t i = 0; i < n; i++) {
        if (e[i].ev != MAE_SCRIPT_CALL) continue;
        ASSERT_CMP_INT(k, <, sizeof want / sizeof *want);
        char key[160];
        snprintf(key, sizeof key, "%s:%s", id, want[k++]);
        ASSERT_EQ_STR(e[i].idempotency_key, key);
    }
    ASSERT_EQ_INT(k, sizeof want / sizeof *want);
    fx_close(&f);
}
