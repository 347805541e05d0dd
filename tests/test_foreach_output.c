/* A top-level foreach's `output` variable shares .steps.ID.output's items instead of holding a
 * second copy of every result (issue #17: memory of a 100k-item foreach). Both names must read
 * the same values, later steps must see them, a later step replacing the variable must free only
 * the variable (the asan flavour checks for a double free or a use after free), and a foreach
 * inside an item keeps its own copy. The foreach's own copy of its array gives each item away
 * to the item's scope as it starts, rather than holding every item to the end. */
#include <malloc.h>
#include <math.h>

#include "engine_fx.h"

static const char wf_top[] =
    "name: feout\n"
    "services:\n  s:\n    type: grpc\n    endpoint: \"127.0.0.1:1\"\n    retry: {attempts: 1}\n"
    "steps:\n"
    "  - id: fan\n"
    "    foreach: \"{{ .input.xs }}\"\n"
    "    as: x\n"
    "    do: {id: one, service: s, method: Echo, input: {n: \"{{ .x }}\"}, output: r}\n"
    "    output: rs\n"
    "  - {id: use, service: s, method: Echo, output: rs,\n"
    "     input: {a: \"{{ .rs }}\", b: \"{{ .steps.fan.output }}\", n: \"{{ len .rs }}\"}}\n"
    "  - {id: after, service: s, method: Echo, input: {still: \"{{ .steps.fan.output }}\"}, output: last}\n"
    "output: {rs: \"{{ .rs }}\", last: \"{{ .last }}\", fan: \"{{ .steps.fan.output }}\"}\n";

TEST(top_level_foreach_output_and_steps_output_read_the_same_items) {
    fx f;
    fx_init(&f, wf_top);
    fx_rule(&f, "Echo", NULL, 0, 0);   /* echoes its input */
    ASSERT_EQ_INT(fx_run(&f, "{\"xs\":[1,2,3]}"), 0);
    ASSERT_EQ_INT(f.exit_code, 0);
    char *o = cJSON_PrintUnformatted(f.output);
    ASSERT_EQ_STR(o, "{\"rs\":{\"a\":[{\"n\":1},{\"n\":2},{\"n\":3}],\"b\":[{\"n\":1},{\"n\":2},{\"n\":3}],"
                     "\"n\":3},"
                     "\"last\":{\"still\":[{\"n\":1},{\"n\":2},{\"n\":3}]},"
                     "\"fan\":[{\"n\":1},{\"n\":2},{\"n\":3}]}");
    free(o);
    fx_close(&f);
}

TEST(top_level_foreach_over_nothing) {
    fx f;
    fx_init(&f, wf_top);
    fx_rule(&f, "Echo", NULL, 0, 0);
    ASSERT_EQ_INT(fx_run(&f, "{\"xs\":[]}"), 0);
    ASSERT_EQ_INT(f.exit_code, 0);
    char *o = cJSON_PrintUnformatted(f.output);
    ASSERT_EQ_STR(o, "{\"rs\":{\"a\":[],\"b\":[],\"n\":0},\"last\":{\"still\":[]},\"fan\":[]}");
    free(o);
    fx_close(&f);
}

/* Inside an item the inner foreach runs once per item and .steps.inner is rewritten by each:
 * the item's variable must keep its own items. */
TEST(foreach_inside_items_keeps_its_own_copy) {
    fx f;
    fx_init(&f, "name: feinner\n"
                "services:\n  s:\n    type: grpc\n    endpoint: \"127.0.0.1:1\"\n    retry: {attempts: 1}\n"
                "steps:\n"
                "  - id: outer\n"
                "    foreach: \"{{ .input.xss }}\"\n"
                "    as: xs\n"
                "    concurrency: 1\n"
                "    do:\n"
                "      sequence:\n"
                "        - id: inner\n"
                "          foreach: \"{{ .xs }}\"\n"
                "          as: x\n"
                "          do: {id: one, service: s, method: Echo, input: {n: \"{{ .x }}\"}}\n"
                "          output: got\n"
                "        - {id: tail, service: s, method: Echo, input: {g: \"{{ .got }}\"}, output: t}\n"
                "    output: all\n"
                "output: {all: \"{{ .all }}\"}\n");
    fx_rule(&f, "Echo", NULL, 0, 0);
    ASSERT_EQ_INT(fx_run(&f, "{\"xss\":[[1,2],[3]]}"), 0);
    ASSERT_EQ_INT(f.exit_code, 0);
    char *o = cJSON_PrintUnformatted(f.output);
    ASSERT_EQ_STR(o, "{\"all\":[{\"got\":[{\"n\":1},{\"n\":2}],\"t\":{\"g\":[{\"n\":1},{\"n\":2}]}},"
                     "{\"got\":[{\"n\":3}],\"t\":{\"g\":[{\"n\":3}]}}]}");
    free(o);
    fx_close(&f);
}

/* Bytes of cJSON memory alive (cJSON's hooks), sampled while the foreach runs. Signed: memory
 * allocated before the hooks were set may be freed through them. */
static long cj_live;
static void *cj_malloc(size_t n) {
    void *p = malloc(n);
    if (p) cj_live += (long)malloc_usable_size(p);
    return p;
}
static void cj_free(void *p) {
    if (p) cj_live -= (long)malloc_usable_size(p);
    free(p);
}

typedef struct sampler {
    mae_script_rule *rule;
    int n;
    long first, last;
    bool have_first, have_last;
    uv_check_t chk;   /* closed by run_sampled, gone once the fixture's loop closes */
} sampler;

static void sample(uv_check_t *h) {
    sampler *s = h->data;
    if (s->rule->calls >= 1 && !s->have_first) {
        s->first = cj_live;
        s->have_first = true;
    }
    if (s->rule->calls >= s->n && !s->have_last) {
        s->last = cj_live;
        s->have_last = true;
    }
}

/* Runs the workflow on in, with cJSON's allocations counted and s sampling them before each
 * loop iteration; the run must succeed and s must have seen the first and the last call. */
static void run_sampled(fx *f, const char *in, sampler *s) {
    uv_check_t *chk = &s->chk;
    ASSERT_EQ_INT(uv_check_init(&f->loop, chk), 0);
    chk->data = s;
    ASSERT_EQ_INT(uv_check_start(chk, sample), 0);
    uv_unref((uv_handle_t *)chk);
    cJSON_InitHooks(&(cJSON_Hooks){cj_malloc, cj_free});
    ASSERT_EQ_INT(fx_run(f, in), 0);
    cJSON_InitHooks(NULL);
    uv_close((uv_handle_t *)chk, NULL);
    ASSERT_EQ_INT(f->exit_code, 0);
    ASSERT_TRUE(s->have_first && s->have_last);
}

/* 1,000 items of about 700 bytes each, small results: by the last item the memory in use must
 * have fallen by most of the items (before, the copy stayed whole and it grew instead). */
TEST(foreach_releases_its_items_as_they_start) {
    enum { N = 1000 };
    fx f;
    fx_init(&f, "name: fegive\n"
                "services:\n  s:\n    type: grpc\n    endpoint: \"127.0.0.1:1\"\n    retry: {attempts: 1}\n"
                "steps:\n"
                "  - id: fan\n"
                "    foreach: \"{{ .input.xs }}\"\n"
                "    as: x\n"
                "    concurrency: 1\n"
                "    do: {id: one, service: s, method: Echo, input: {b: \"{{ .x.b }}\"}}\n"
                "    output: rs\n"
                "output: {n: \"{{ len .rs }}\"}\n");
    /* 1 ms each: a call answered at once would let the whole foreach run in one loop pass */
    mae_script_rule *r = fx_rule(&f, "Echo", "1", 1, 0);
    mae_scripted_set_logging(f.tr, false);
    size_t cap = (size_t)N * 160 + 64;
    char *in = malloc(cap);
    size_t len = (size_t)snprintf(in, cap, "{\"xs\":[");
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(in + len, cap - len, "%s{\"a\":\"%0100d\",\"b\":[%d,2,3]}", i ? "," : "", i, i);
    snprintf(in + len, cap - len, "]}");
    sampler s = {.rule = r, .n = N};
    run_sampled(&f, in, &s);
    free(in);
    ASSERT_EQ_INT((int)fx_num(f.output, "n"), N);
    ASSERT_CMP_INT(s.last, <, s.first - (long)N * 400);
    fx_close(&f);
}

/* Results wait for the end of the foreach as JSON text, not as cJSON trees: while 1,000 items
 * each return an object of six nodes, cJSON memory must stay about flat (before, it grew by
 * about 500 bytes per item). */
TEST(foreach_keeps_results_compact_until_it_ends) {
    enum { N = 1000 };
    fx f;
    fx_init(&f, "name: fekeep\n"
                "services:\n  s:\n    type: grpc\n    endpoint: \"127.0.0.1:1\"\n    retry: {attempts: 1}\n"
                "steps:\n"
                "  - id: fan\n"
                "    foreach: \"{{ .input.xs }}\"\n"
                "    as: x\n"
                "    concurrency: 1\n"
                "    do: {id: one, service: s, method: Echo, input: {x: \"{{ .x }}\"}}\n"
                "    output: rs\n"
                "output: {n: \"{{ len .rs }}\", rs: \"{{ .rs }}\"}\n");
    mae_script_rule *r = fx_rule(&f, "Echo", "{\"ok\":true,\"id\":\"abcdefghijklmnopqrstuvwxyz\",\"n\":[1,2.5,-3]}", 1, 0);
    mae_scripted_set_logging(f.tr, false);
    size_t cap = (size_t)N * 8 + 64;
    char *in = malloc(cap);
    size_t len = (size_t)snprintf(in, cap, "{\"xs\":[");
    for (int i = 0; i < N; i++) len += (size_t)snprintf(in + len, cap - len, "%s%d", i ? "," : "", i);
    snprintf(in + len, cap - len, "]}");
    sampler s = {.rule = r, .n = N};
    run_sampled(&f, in, &s);
    free(in);
    ASSERT_EQ_INT((int)fx_num(f.output, "n"), N);
    ASSERT_CMP_INT(s.last - s.first, <, (long)N * 100);
    /* and they come back whole, in item order */
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(f.output, "rs");
    ASSERT_EQ_INT(cJSON_GetArraySize(rs), N);
    char *t = cJSON_PrintUnformatted(cJSON_GetArrayItem(rs, N - 1));
    ASSERT_EQ_STR(t, "{\"ok\":true,\"id\":\"abcdefghijklmnopqrstuvwxyz\",\"n\":[1,2.5,-3]}");
    free(t);
    fx_close(&f);
}

/* What JSON text cannot carry exactly stays a tree: NaN and infinities (a gRPC Struct can hold
 * them) and strings that are not UTF-8 come out of the foreach as they went in. */
TEST(foreach_results_json_cannot_carry_come_back_exact) {
    fx f;
    fx_init(&f, "name: fenan\n"
                "services:\n  s:\n    type: grpc\n    endpoint: \"127.0.0.1:1\"\n    retry: {attempts: 1}\n"
                "steps:\n"
                "  - id: fan\n"
                "    foreach: \"{{ .input.xs }}\"\n"
                "    as: x\n"
                "    do: {id: one, service: s, method: Echo, input: {x: \"{{ .x }}\"}}\n"
                "    output: rs\n"
                "output: {rs: \"{{ .rs }}\"}\n");
    mae_script_rule *r = fx_rule(&f, "Echo", "{}", 0, 0);
    cJSON_AddNumberToObject(r->output, "nan", NAN);
    cJSON_AddNumberToObject(r->output, "inf", -INFINITY);
    cJSON_AddStringToObject(r->output, "bytes", "a\xff\xfe" "b");
    cJSON_AddNumberToObject(r->output, "big", 9007199254740993.0);
    ASSERT_EQ_INT(fx_run(&f, "{\"xs\":[1,2]}"), 0);
    ASSERT_EQ_INT(f.exit_code, 0);
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(f.output, "rs");
    ASSERT_EQ_INT(cJSON_GetArraySize(rs), 2);
    for (int i = 0; i < 2; i++) {
        const cJSON *o = cJSON_GetArrayItem(rs, i);
        ASSERT_TRUE(isnan(cJSON_GetObjectItemCaseSensitive(o, "nan")->valuedouble));
        ASSERT_TRUE(isinf(cJSON_GetObjectItemCaseSensitive(o, "inf")->valuedouble));
        ASSERT_EQ_STR(cJSON_GetObjectItemCaseSensitive(o, "bytes")->valuestring, "a\xff\xfe" "b");
        ASSERT_EQ_DBL(cJSON_GetObjectItemCaseSensitive(o, "big")->valuedouble, 9007199254740993.0, 0);
    }
    fx_close(&f);
}

/* An item's scope is one allocation whose index variable is not a cJSON allocation of its own
 * (issue #15): outputs named like the item's variables replace them, the index's place is not
 * freed, and the scope, kept by a compensation record until the run ends, is freed once (the
 * asan flavour checks it). A group body's result leaves out <as> and <as>_index. */
TEST(item_outputs_may_shadow_the_item_variables) {
    fx f;
    fx_init(&f, "name: feshadow\n"
                "services:\n  s:\n    type: grpc\n    endpoint: \"127.0.0.1:1\"\n    retry: {attempts: 1}\n"
                "steps:\n"
                "  - id: fan\n"
                "    foreach: \"{{ .input.xs }}\"\n"
                "    as: x\n"
                "    do:\n"
                "      - {id: a, service: s, method: Echo, input: {i: \"{{ .x_index }}\", x: \"{{ .x }}\"},\n"
                "         output: x_index}\n"
                "      - {id: b, service: s, method: Echo, input: {prev: \"{{ .x_index }}\"}, output: x,\n"
                "         compensate: {method: Undo, input: {x: \"{{ .x }}\", i: \"{{ .x_index }}\"}}}\n"
                "      - {id: c, service: s, method: Echo, input: {x: \"{{ .x }}\"}, output: y}\n"
                "    output: all\n"
                "output: {all: \"{{ .all }}\"}\n");
    fx_rule(&f, "Echo", NULL, 0, 0);
    fx_rule(&f, "Undo", NULL, 0, 0);
    ASSERT_EQ_INT(fx_run(&f, "{\"xs\":[\"p\",\"q\"]}"), 0);
    ASSERT_EQ_INT(f.exit_code, 0);
    char *o = cJSON_PrintUnformatted(f.output);
    ASSERT_EQ_STR(o, "{\"all\":[{\"y\":{\"x\":{\"prev\":{\"i\":0,\"x\":\"p\"}}}},"
                     "{\"y\":{\"x\":{\"prev\":{\"i\":1,\"x\":\"q\"}}}}]}");
    free(o);
    fx_close(&f);
}

/* The same scopes read by compensation templates once the run fails: each sees its own item's
 * shadowed variables, long after the foreach freed its nodes. */
TEST(compensations_read_shadowed_item_variables) {
    fx f;
    fx_init(&f, "name: feshcomp\n"
                "services:\n  s:\n    type: grpc\n    endpoint: \"127.0.0.1:1\"\n    retry: {attempts: 1}\n"
                "steps:\n"
                "  - id: fan\n"
                "    foreach: \"{{ .input.xs }}\"\n"
                "    as: x\n"
                "    concurrency: 1\n"
                "    do:\n"
                "      - {id: a, service: s, method: Echo, input: {i: \"{{ .x_index }}\"}, output: x_index,\n"
                "         compensate: {method: Undo, input: {x: \"{{ .x }}\", i: \"{{ .x_index }}\"}}}\n"
                "  - {id: boom, service: s, method: Boom}\n");
    fx_rule(&f, "Echo", NULL, 0, 0);
    fx_rule(&f, "Undo", "{}", 0, 0);
    fx_rule(&f, "Boom", "{}", 0, -1);
    ASSERT_EQ_INT(fx_run(&f, "{\"xs\":[\"p\",\"q\"]}"), 0);
    ASSERT_EQ_INT(f.status, MAE_RUN_FAILED);
    size_t n;
    const mae_script_entry *e = mae_scripted_log(f.tr, &n);
    int undos = 0;
    for (size_t i = 0; i < n; i++) {
        if (e[i].ev != MAE_SCRIPT_CALL || strcmp(e[i].method, "Undo") != 0) continue;
        /* in reverse completion order */
        ASSERT_EQ_STR(e[i].input, undos == 0 ? "{\"x\":\"q\",\"i\":{\"i\":1}}" : "{\"x\":\"p\",\"i\":{\"i\":0}}");
        undos++;
    }
    ASSERT_EQ_INT(undos, 2);
    fx_close(&f);
}
