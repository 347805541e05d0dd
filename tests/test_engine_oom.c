/* The engine under allocation failure (scripted transport): every allocation of a run made to
 * fail in turn (sequence, parallel, foreach, templates, compensation). Whatever fails, the run
 * ends, and no failure is ever reported with class "ok": an out-of-memory is class "internal",
 * not retried. In the plain build malloc itself fails; under ASan only cJSON's allocations do
 * (through cJSON_InitHooks), see oom.h. */
#include "engine_fx.h"

#include "loop/retry.h"

#include "oom.h"

#ifdef TH_ASAN
#include <sanitizer/lsan_interface.h>
/* This test is about classes. The engine still leaks a few objects on out-of-memory paths
 * (a cJSON_AddItemTo* whose key copy fails keeps no reference to the item), so LeakSanitizer
 * is told to ignore what the armed part allocates. */
#define LEAKS_IGNORED_BEGIN() __lsan_disable()
#define LEAKS_IGNORED_END() __lsan_enable()
#else
#define LEAKS_IGNORED_BEGIN() ((void)0)
#define LEAKS_IGNORED_END() ((void)0)
#endif

static const char wf_yaml[] =
    "name: oom\n"
    "services:\n  s:\n    type: grpc\n    endpoint: \"127.0.0.1:1\"\n    retry: {attempts: 3, initial: 1ms, max: 1ms}\n"
    "steps:\n"
    "  - {id: a, service: s, method: A, input: {n: \"{{ .input.n }}\"}, output: oa,\n"
    "     compensate: {method: UndoA, input: {id: \"{{ .oa.id }}\"}}}\n"
    "  - parallel:\n"
    "      - {id: p1, service: s, method: P, input: {k: 1}}\n"
    "      - {id: p2, service: s, method: P, input: {k: 2}}\n"
    "  - id: each\n"
    "    foreach: \"{{ .input.items }}\"\n"
    "    as: it\n"
    "    concurrency: 2\n"
    "    do: {id: f, service: s, method: F, input: {v: \"{{ .it }}\", i: \"{{ .it_index }}\"}, output: r}\n"
    "    output: fs\n"
    "  - {id: z, service: s, method: Z, input: {x: \"{{ .oa.id }}\", n: \"{{ len .fs }}\"}, output: oz}\n"
    "  - {id: boom, service: s, method: Boom, when: \"{{ .input.fail }}\"}\n"
    "output: {a: \"{{ .oa.id }}\", z: \"{{ .oz }}\"}\n";

typedef struct {
    int done;
    mae_run_status status;
    cJSON *report;
} got;

static void on_done(mae_run *run, const mae_run_result *res, void *ud) {
    got *g = ud;
    g->done++;
    g->status = res->status;
    g->report = res->report ? cJSON_Duplicate((const cJSON *)res->report, 1) : NULL;
    mae_run_free(run);
}

static const char *cls_of(const cJSON *o) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "class");
    return cJSON_IsString(c) ? c->valuestring : NULL;
}

static const char *msg_of(const cJSON *o) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
    return cJSON_IsString(m) ? m->valuestring : "";
}

/* An entry that failed carries a class that is not "ok", and "internal" when it ran out of
 * memory; returns how many entries said "internal". */
static int check_entry(long at, const cJSON *o, const char *what) {
    const char *c = cls_of(o);
    if (!c) return 0;
    if (strcmp(c, "ok") == 0)
        th_fail(__FILE__, __LINE__, "alloc %ld: %s failed with class ok (%s)", at, what, msg_of(o));
    if (strstr(msg_of(o), "out of memory") && strcmp(c, "internal") != 0)
        th_fail(__FILE__, __LINE__, "alloc %ld: %s out of memory with class %s", at, what, c);
    return strcmp(c, "internal") == 0;
}

static int check_report(long at, const cJSON *rep) {
    int internal = check_entry(at, rep, "the run");
    const cJSON *s;
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(rep, "steps")) internal += check_entry(at, s, "a step");
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(rep, "compensations"))
        internal += check_entry(at, s, "a compensation");
    return internal;
}

static void sweep(const char *input) {
#ifdef TH_ASAN
    cJSON_InitHooks(&(cJSON_Hooks){oom_hook_malloc, free});
#endif
    long clean = 0, internal_runs = 0;
    for (long at = 1; at < 20000; at++) {
        fx f;
        fx_init(&f, wf_yaml);
        fx_rule(&f, "A", "{\"id\":\"a-1\"}", 0, 0);
        fx_rule(&f, "UndoA", "{}", 0, 0);
        fx_rule(&f, "P", NULL, 1, 0);
        fx_rule(&f, "F", NULL, 0, 0);
        fx_rule(&f, "Z", NULL, 0, 0);
        mae_script_rule *b = fx_rule(&f, "Boom", NULL, 0, -1);
        b->fail_cls = MAE_CLASS_APP_ERROR;
        got g = {0};
        mae_run *run = NULL;
        LEAKS_IGNORED_BEGIN();
        arm(at);
        int rc = mae_run_start(f.eng, f.wf, input, NULL, on_done, &g, &run);
        if (rc == 0) uv_run(&f.loop, UV_RUN_DEFAULT);
        disarm();
        LEAKS_IGNORED_END();
        if (rc != 0) {
            /* refused up front, nothing ran; cJSON_Parse cannot tell out-of-memory from bad
             * text, so an input that could not be parsed is MAE_EPARSE */
            if (rc != MAE_ENOMEM) ASSERT_EQ_INT(rc, MAE_EPARSE);
            ASSERT_EQ_INT(g.done, 0);
        } else {
            ASSERT_EQ_INT(g.done, 1);
            /* the report itself may be what could not be allocated */
            if (g.report && check_report(at, g.report)) internal_runs++;
        }
        cJSON_Delete(g.report);
        fx_close(&f);
        if (!failed) {
            clean = at;
            break;
        }
    }
    ASSERT_CMP_INT(clean, >, 50);          /* the sweep reached the end of the run */
    ASSERT_CMP_INT(internal_runs, >, 0);   /* and some failures were reported as internal */
    printf("  %ld allocations, %ld runs reported an internal error\n", clean, internal_runs);
}

TEST_T(run_succeeding_never_reports_ok_for_a_failure, 300) {
    sweep("{\"n\":8999999999999999,\"items\":[1,2,3],\"fail\":false}");
}

TEST_T(run_failing_and_compensating_never_reports_ok_for_a_failure, 300) {
    sweep("{\"n\":1,\"items\":[\"x\",\"y\"],\"fail\":true}");
}

TEST(internal_is_named_and_never_retried) {
    char buf[32];
    mae_class_format(MAE_CLASS_INTERNAL, 0, buf, sizeof buf);
    ASSERT_EQ_STR(buf, "internal");
    mae_retry_policy p = {0};
    p.attempts = 5;
    ASSERT_FALSE(mae_retry_is_retryable(&p, MAE_CLASS_INTERNAL, 0));
    const char *on[] = {"internal"};
    p.on = on;
    p.n_on = 1;
    ASSERT_FALSE(mae_retry_is_retryable(&p, MAE_CLASS_INTERNAL, 0));
}
