/* mae_run_opts.no_report: the run builds no report and no summary (res and the RUN_END event
 * carry NULL), while steps_run, attempts and error_class still say what happened, and equal
 * what the report of the same run without the option shows. A journaled run builds its report
 * anyway: the journal's end record carries it. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "engine_fx.h"

typedef struct {
    int run_ends, run_end_reports;
    uint64_t steps_run, attempts;
    char error_class[64];
    int has_class;
} seen;

static seen got;

static void on_event(const mae_event *ev, void *ud) {
    if (ev->kind != MAE_EV_RUN_END) return;
    got.run_ends++;
    if (ev->report) got.run_end_reports++;
}

static void on_done(mae_run *run, const mae_run_result *res, void *ud) {
    got.steps_run = res->steps_run;
    got.attempts = res->attempts;
    got.has_class = res->error_class != NULL;
    snprintf(got.error_class, sizeof got.error_class, "%s", res->error_class ? res->error_class : "");
    fx_on_done(run, res, ud);
}

/* An engine over the scripted transport with on_event, and journal_dir when given. */
static void init(fx *f, const char *yaml, const char *journal_dir) {
    memset(f, 0, sizeof *f);
    memset(&got, 0, sizeof got);
    ASSERT_EQ_INT(uv_loop_init(&f->loop), 0);
    ASSERT_EQ_INT(mae_scripted_new(&f->loop, &f->tr), 0);
    mae_engine_opts o;
    mae_engine_opts_init(&o);
    o.http = o.grpc = f->tr;
    o.log_level = MAE_LOG_OFF;
    o.on_event = on_event;
    o.journal_dir = journal_dir;
    ASSERT_EQ_INT(mae_engine_new(&f->loop, &o, &f->eng), 0);
    fx_load(f, yaml);
}

static void run(fx *f, int no_report) {
    mae_run_opts ro = {.no_report = no_report};
    mae_run *r;
    ASSERT_EQ_INT(mae_run_start(f->eng, f->wf, NULL, &ro, on_done, f, &r), 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(f->done_called, 1);
    ASSERT_EQ_INT(got.run_ends, 1);
}

/* What the report says: entries not skipped, and their attempts. */
static void report_counts(const cJSON *report, uint64_t *steps, uint64_t *attempts) {
    *steps = *attempts = 0;
    const cJSON *s;
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(report, "steps")) {
        const char *st = fx_str(s, "status");
        if (st && !strcmp(st, "skipped")) continue;
        (*steps)++;
        *attempts += (uint64_t)fx_num(s, "attempts");
    }
}

#define SVC                                                                                  \
    "services:\n  s: {type: grpc, endpoint: \"127.0.0.1:1\",\n"                             \
    "      retry: {attempts: 3, backoff: constant, initial: 1ms, jitter: none}}\n"

static const char ok_wf[] =
    "name: nr\n"
    "input: {xs: {type: array, default: [1, 2, 3]}}\n" SVC
    "steps:\n"
    "  - {id: a, service: s, method: A}\n"
    "  - {id: skip, service: s, method: D, when: \"{{ false }}\"}\n"
    "  - id: each\n"
    "    foreach: \"{{ .input.xs }}\"\n"
    "    as: item\n"
    "    do: {id: one, service: s, method: E}\n";

TEST(no_report_leaves_report_and_summary_out_and_keeps_the_counts) {
    uint64_t want_steps, want_attempts;
    fx f;
    init(&f, ok_wf, NULL);
    fx_rule(&f, "A", NULL, 0, 1)->fail_status = 503;   /* one retry: 2 attempts */
    fx_rule(&f, "E", NULL, 0, 0);
    run(&f, 0);
    ASSERT_EQ_INT(f.status, MAE_RUN_SUCCEEDED);
    ASSERT_NOT_NULL(f.report);
    ASSERT_EQ_INT(got.run_end_reports, 1);
    report_counts(f.report, &want_steps, &want_attempts);
    ASSERT_EQ_INT(want_steps, 4);      /* a and the three items; skip is skipped */
    ASSERT_EQ_INT(want_attempts, 5);
    ASSERT_EQ_INT(got.steps_run, want_steps);
    ASSERT_EQ_INT(got.attempts, want_attempts);
    ASSERT_TRUE(!got.has_class);
    fx_close(&f);

    init(&f, ok_wf, NULL);
    fx_rule(&f, "A", NULL, 0, 1)->fail_status = 503;
    fx_rule(&f, "E", NULL, 0, 0);
    run(&f, 1);
    ASSERT_EQ_INT(f.status, MAE_RUN_SUCCEEDED);
    ASSERT_TRUE(f.report == NULL);
    ASSERT_EQ_INT(got.run_end_reports, 0);
    ASSERT_NOT_NULL(f.output);         /* the output is still there */
    ASSERT_EQ_INT(got.steps_run, want_steps);
    ASSERT_EQ_INT(got.attempts, want_attempts);
    fx_close(&f);
}

TEST(no_report_failure_still_names_its_class) {
    static const char wf[] = "name: nrf\n" SVC "steps:\n  - {id: a, service: s, method: A}\n";
    char want[64];
    fx f;
    init(&f, wf, NULL);
    fx_rule(&f, "A", NULL, 0, 3)->fail_status = 503;   /* fails all 3 attempts */
    run(&f, 0);
    ASSERT_EQ_INT(f.status, MAE_RUN_FAILED);
    ASSERT_NOT_NULL(f.summary);
    const char *cls = fx_str(f.report, "error.class");
    snprintf(want, sizeof want, "%s", cls ? cls : "");
    ASSERT_EQ_STR(want, "http_5xx");
    ASSERT_TRUE(got.has_class);
    ASSERT_EQ_STR(got.error_class, want);
    fx_close(&f);

    init(&f, wf, NULL);
    fx_rule(&f, "A", NULL, 0, 3)->fail_status = 503;
    run(&f, 1);
    ASSERT_EQ_INT(f.status, MAE_RUN_FAILED);
    ASSERT_EQ_INT(f.exit_code, 1);
    ASSERT_TRUE(f.report == NULL);
    ASSERT_TRUE(f.summary == NULL);
    ASSERT_EQ_STR(got.error_class, want);
    ASSERT_EQ_INT(got.steps_run, 1);
    ASSERT_EQ_INT(got.attempts, 3);
    fx_close(&f);
}

TEST(a_journaled_run_builds_its_report_even_with_no_report) {
    char dir[] = "/tmp/mae-norep-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    fx f;
    init(&f, ok_wf, dir);
    fx_rule(&f, "A", NULL, 0, 0);
    fx_rule(&f, "E", NULL, 0, 0);
    run(&f, 1);
    ASSERT_EQ_INT(f.status, MAE_RUN_SUCCEEDED);
    ASSERT_NOT_NULL(f.report);
    ASSERT_EQ_INT(got.run_end_reports, 1);
    fx_close(&f);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ASSERT_EQ_INT(system(cmd), 0);
}
