/* A top-level foreach's `output` variable shares .steps.ID.output's items instead of holding a
 * second copy of every result (issue #17: memory of a 100k-item foreach). Both names must read
 * the same values, later steps must see them, a later step replacing the variable must free only
 * the variable (the asan flavour checks for a double free or a use after free), and a foreach
 * inside an item keeps its own copy. */
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
