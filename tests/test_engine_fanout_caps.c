/* Issue #17 defect 9: a foreach over a service-supplied array is bounded: a default concurrency
 * (MAE_FOREACH_CONCURRENCY), a max_items limit checked before any item starts, and a report
 * that lists only the first MAE_REPORT_ITEMS items of a step and counts the rest by status
 * (docs/workflow-language.md#foreach, docs/run-report.md). */
#include "engine_fx.h"

#define SVC "services:\n  s:\n    type: grpc\n    endpoint: \"127.0.0.1:1\"\n    retry: {attempts: 1}\n"

/* {"xs":[0,1,...,n-1]} */
static char *items_input(int n) {
    size_t cap = 32 + (size_t)n * 8;
    char *b = malloc(cap);
    size_t len = (size_t)snprintf(b, cap, "{\"xs\":[");
    for (int i = 0; i < n; i++) len += (size_t)snprintf(b + len, cap - len, "%s%d", i ? "," : "", i);
    snprintf(b + len, cap - len, "]}");
    return b;
}

static const char fe_default[] =
    "name: fe\n" SVC
    "input: {xs: {type: array, required: true}}\n"
    "steps:\n"
    "  - {id: each, foreach: \"{{ .input.xs }}\", as: x, do: {id: one, service: s, method: One, input: {x: \"{{ .x }}\"}}}\n";

TEST(a_foreach_without_concurrency_has_at_most_the_default_in_flight) {
    fx f;
    fx_init(&f, fe_default);
    fx_rule(&f, "One", "{}", 5, 0);
    char *in = items_input(250);
    ASSERT_EQ_INT(fx_run(&f, in), 0);
    free(in);
    ASSERT_EQ_INT(f.exit_code, 0);
    ASSERT_EQ_INT(mae_scripted_count(f.tr, MAE_SCRIPT_CALL, "One"), 250);
    ASSERT_EQ_INT(mae_scripted_max_in_flight(f.tr), MAE_FOREACH_CONCURRENCY);
    ASSERT_EQ_INT(MAE_FOREACH_CONCURRENCY, 100);
    fx_close(&f);
}

static const char fe_max3[] =
    "name: fe\n" SVC
    "input: {xs: {type: array, required: true}}\n"
    "steps:\n"
    "  - {id: first, service: s, method: First, compensate: {method: UndoFirst}}\n"
    "  - {id: each, foreach: \"{{ .input.xs }}\", as: x, max_items: 3,\n"
    "     do: {id: one, service: s, method: One, input: {x: \"{{ .x }}\"}}}\n";

TEST(max_items_exceeded_fails_the_foreach_before_any_item_is_called) {
    fx f;
    fx_init(&f, fe_max3);
    fx_rule(&f, "First", "{}", 0, 0);
    fx_rule(&f, "UndoFirst", "{}", 0, 0);
    fx_rule(&f, "One", "{}", 0, 0);
    ASSERT_EQ_INT(fx_run(&f, "{\"xs\":[1,2,3,4]}"), 0);
    ASSERT_EQ_INT(f.exit_code, 1);
    ASSERT_EQ_INT(mae_scripted_count(f.tr, MAE_SCRIPT_CALL, "One"), 0);
    ASSERT_EQ_INT(mae_scripted_count(f.tr, MAE_SCRIPT_CALL, "UndoFirst"), 1);
    ASSERT_EQ_STR(fx_str(f.report, "error.step"), "each");
    ASSERT_EQ_STR(fx_str(f.report, "error.class"), "template");
    ASSERT_CONTAINS(fx_str(f.report, "error.message"), "foreach has 4 items, more than max_items (3): no item started");
    /* three are fine */
    ASSERT_EQ_INT(fx_run(&f, "{\"xs\":[1,2,3]}"), 0);
    ASSERT_EQ_INT(f.exit_code, 0);
    ASSERT_EQ_INT(mae_scripted_count(f.tr, MAE_SCRIPT_CALL, "One"), 3);
    fx_close(&f);
}

TEST(the_default_max_items_refuses_a_larger_array) {
    fx f;
    fx_init(&f, fe_default);
    fx_rule(&f, "One", "{}", 0, 0);
    char *in = items_input(MAE_FOREACH_MAX_ITEMS + 1);
    ASSERT_EQ_INT(fx_run(&f, in), 0);
    free(in);
    ASSERT_EQ_INT(f.exit_code, 1);
    ASSERT_EQ_INT(mae_scripted_count(f.tr, MAE_SCRIPT_CALL, "One"), 0);
    ASSERT_CONTAINS(fx_str(f.report, "error.message"), "more than max_items (10000)");
    fx_close(&f);
}

static void load_diag(const char *yaml, char *out, size_t cap) {
    mae_diags d;
    mae__diags_init(&d, "t.yaml");
    mae_workflow *wf = NULL;
    int rc = mae__workflow_load_buf("t.yaml", yaml, strlen(yaml), &wf, &d);
    ASSERT_NE_INT(rc, 0);
    ASSERT_CMP_INT(d.n, >, 0);
    snprintf(out, cap, "%d:%d: %s", d.items[0].line, d.items[0].col, d.items[0].message);
    mae__diags_free(&d);
    mae_workflow_free(wf);
}

TEST(max_items_is_validated_with_its_line_and_column) {
    char msg[512];
    load_diag("name: fe\n" SVC
              "steps:\n"
              "  - id: each\n"
              "    foreach: \"{{ .input.xs }}\"\n"
              "    as: x\n"
              "    max_items: 0\n"
              "    do: {id: one, service: s, method: One}\n",
              msg, sizeof msg);
    ASSERT_CONTAINS(msg, "11:16: ");
    ASSERT_CONTAINS(msg, "max_items");
}

static const char fe_big[] =
    "name: fe\n" SVC
    "input: {xs: {type: array, required: true}}\n"
    "steps:\n"
    "  - {id: each, foreach: \"{{ .input.xs }}\", as: x, max_items: 20000, concurrency: 1000,\n"
    "     do: {id: one, service: s, method: One, compensate: {method: Undo}}}\n"
    "  - {id: last, service: s, method: Last}\n";

TEST(the_report_of_a_20k_item_foreach_stays_bounded) {
    fx f;
    fx_init(&f, fe_big);
    mae_scripted_set_logging(f.tr, false);
    mae_script_rule *one = fx_rule(&f, "One", "{}", 0, 0);
    mae_script_rule *undo = fx_rule(&f, "Undo", "{}", 0, 0);
    mae_script_rule *r = fx_rule(&f, "Last", NULL, 0, -1);
    r->fail_cls = MAE_CLASS_GRPC;
    r->fail_status = MAE_GRPC_INVALID_ARGUMENT;
    char *in = items_input(20000);
    ASSERT_EQ_INT(fx_run(&f, in), 0);
    free(in);
    ASSERT_EQ_INT(f.exit_code, 1);
    /* every item ran and was compensated */
    ASSERT_EQ_INT(one->calls, 20000);
    ASSERT_EQ_INT(undo->calls, 20000);
    const cJSON *steps = cJSON_GetObjectItem(f.report, "steps");
    ASSERT_EQ_INT(cJSON_GetArraySize(steps), MAE_REPORT_ITEMS + 1);
    ASSERT_EQ_INT(fx_num(f.report, "items_not_listed.one.succeeded"), 20000 - MAE_REPORT_ITEMS);
    ASSERT_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(f.report, "compensations")), MAE_REPORT_ITEMS);
    ASSERT_EQ_INT(fx_num(f.report, "compensations_not_listed.one.succeeded"), 20000 - MAE_REPORT_ITEMS);
    ASSERT_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(f.report, "uncompensated")), 0);
    char *txt = cJSON_PrintUnformatted(f.report);
    ASSERT_CMP_INT(strlen(txt), <, 64 * 1024);
    free(txt);
    ASSERT_CONTAINS(f.summary, "and 19900 more foreach items");
    ASSERT_CMP_INT(strlen(f.summary), <, 4096);
    fx_close(&f);
}
