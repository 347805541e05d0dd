/* Unit tests: template trees (mae_tval) rendered into JSON and walked for templates, and the
 * bounded JSON printer templates use. */
#include <math.h>
#include <stdlib.h>

#include "harness.h"
#include "maestro/maestro.h"
#include "workflow/template.h"

static mae_tmpl *compile(mae_arena *a, const char *src) {
    mae_tmpl *t = NULL;
    mae_tmpl_err e;
    ASSERT_EQ_INT(mae_tmpl_compile(a, src, strlen(src), &t, &e), 0);
    return t;
}

static char *print(const cJSON *v) {
    char *s = NULL;
    ASSERT_EQ_INT(mae_json_print(v, 1 << 20, &s, NULL), 0);
    return s;
}

typedef struct tree {
    mae_tval root, items[7], inner[2];
} tree;

/* { name: "{{ .user.name }}", n: 3, s: "3", ok: true, nil: null,
 *   list: ["a {{ .user.id }}", "{{ .user.id }}"], company: "{{ .company }}" } */
static void build(mae_arena *a, tree *t) {
    memset(t, 0, sizeof *t);
    t->root.kind = MAE_TV_OBJECT;
    t->root.items = t->items;
    t->root.n = 7;
    t->items[0] = (mae_tval){.kind = MAE_TV_TEMPLATE, .key = "name", .tmpl = compile(a, "{{ .user.name }}")};
    t->items[1] = (mae_tval){.kind = MAE_TV_NUMBER, .key = "n", .num = 3, .str = "3"};
    t->items[2] = (mae_tval){.kind = MAE_TV_STRING, .key = "s", .str = "3"};
    t->items[3] = (mae_tval){.kind = MAE_TV_BOOL, .key = "ok", .b = true};
    t->items[4] = (mae_tval){.kind = MAE_TV_NULL, .key = "nil"};
    t->items[5] = (mae_tval){.kind = MAE_TV_ARRAY, .key = "list", .items = t->inner, .n = 2};
    t->items[6] = (mae_tval){.kind = MAE_TV_TEMPLATE, .key = "company", .tmpl = compile(a, "{{ .company }}")};
    t->inner[0] = (mae_tval){.kind = MAE_TV_TEMPLATE, .tmpl = compile(a, "a {{ .user.id }}")};
    t->inner[1] = (mae_tval){.kind = MAE_TV_TEMPLATE, .tmpl = compile(a, "{{ .user.id }}")};
}

TEST(tval_render_keeps_order_and_types) {
    mae_arena a;
    mae_arena_init(&a, 0);
    tree t;
    build(&a, &t);
    cJSON *data = cJSON_Parse("{\"user\": {\"id\": 9007199254740992, \"name\": \"{{ .x }}\"},"
                              " \"company\": {\"z\": 1, \"a\": [true]}}");
    mae_scope sc = {data, NULL};
    cJSON *out = NULL;
    mae_eval_err err;
    ASSERT_EQ_INT(mae_tval_render(&t.root, &sc, &out, &err), 0);
    char *s = print(out);
    ASSERT_EQ_STR(s, "{\"name\":\"{{ .x }}\",\"n\":3,\"s\":\"3\",\"ok\":true,\"nil\":null,"
                     "\"list\":[\"a 9007199254740992\",9007199254740992],"
                     "\"company\":{\"z\":1,\"a\":[true]}}");
    /* The rendered tree is independent of the data. */
    cJSON_Delete(data);
    free(s);
    s = print(cJSON_GetObjectItem(out, "company"));
    ASSERT_EQ_STR(s, "{\"z\":1,\"a\":[true]}");
    free(s);
    cJSON_Delete(out);
    mae_arena_free(&a);
}

TEST(tval_render_error_names_template) {
    mae_arena a;
    mae_arena_init(&a, 0);
    tree t;
    build(&a, &t);
    cJSON *data = cJSON_Parse("{\"user\": {\"name\": \"x\"}, \"company\": 1}");
    mae_scope sc = {data, NULL};
    cJSON *out = (cJSON *)1;
    mae_eval_err err;
    ASSERT_EQ_INT(mae_tval_render(&t.root, &sc, &out, &err), MAE_ETEMPLATE);
    ASSERT_NULL(out);
    ASSERT_EQ_STR(err.msg, "{{ .user.id }}: no field 'id' in .user");
    cJSON_Delete(data);
    mae_arena_free(&a);
}

static void count_tmpl(void *ud, const mae_tval *node) {
    char *buf = ud;
    strcat(buf, mae_tmpl_source(node->tmpl));
    strcat(buf, "|");
}

TEST(tval_each_tmpl_visits_every_template_in_order) {
    mae_arena a;
    mae_arena_init(&a, 0);
    tree t;
    build(&a, &t);
    char buf[256] = "";
    mae_tval_each_tmpl(&t.root, count_tmpl, buf);
    ASSERT_EQ_STR(buf, "{{ .user.name }}|a {{ .user.id }}|{{ .user.id }}|{{ .company }}|");
    buf[0] = 0;
    mae_tval_each_tmpl(NULL, count_tmpl, buf);
    mae_tval_each_tmpl(&t.items[1], count_tmpl, buf);
    ASSERT_EQ_STR(buf, "");
    mae_arena_free(&a);
}

TEST(json_print_exact_and_bounded) {
    cJSON *v = cJSON_Parse("[9007199254740992, -9007199254740992, 0.1, 1e300, -0, 1.5, 123456789012,"
                           " \"q\\\"\\\\\\n\\u0001é\", {\"k\\\"\": null}]");
    ASSERT_NOT_NULL(v);
    char *s = NULL;
    size_t len = 0;
    ASSERT_EQ_INT(mae_json_print(v, 1000, &s, &len), 0);
    ASSERT_EQ_STR(s, "[9007199254740992,-9007199254740992,0.1,1e+300,-0,1.5,123456789012,"
                     "\"q\\\"\\\\\\n\\u0001é\",{\"k\\\"\":null}]");
    ASSERT_EQ_INT(len, strlen(s));
    /* Round trip through cJSON gives the same doubles. */
    cJSON *back = cJSON_Parse(s);
    ASSERT_EQ_DBL(cJSON_GetArrayItem(back, 2)->valuedouble, 0.1, 0);
    ASSERT_EQ_DBL(cJSON_GetArrayItem(back, 0)->valuedouble, 9007199254740992.0, 0);
    cJSON_Delete(back);
    free(s);
    ASSERT_EQ_INT(mae_json_print(v, len, &s, NULL), 0);
    free(s);
    s = (char *)1;
    ASSERT_EQ_INT(mae_json_print(v, len - 1, &s, NULL), MAE_ELIMIT);
    ASSERT_NULL(s);
    cJSON_Delete(v);
    ASSERT_EQ_INT(mae_json_print(NULL, 10, &s, NULL), 0);
    ASSERT_EQ_STR(s, "null");
    free(s);
}
