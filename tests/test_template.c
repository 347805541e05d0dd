/* Unit tests: templates and expressions (docs/workflow-language.md#templates-and-expressions):
 * typed substitution, interpolation, paths, missing names, default, operators and their precedence,
 * functions, caps, compile errors and the references the validator reads. */
#include <math.h>
#include <stdlib.h>

#include "harness.h"
#include "maestro/maestro.h"
#include "workflow/template.h"

static const char *DATA =
    "{\"input\": {\"plan\": \"premium\", \"n\": 3, \"name\": \"Ann\", \"tags\": [\"a\", \"b\", \"c\"],"
    "  \"weird\": \"{{ .input.name }}\", \"nested\": {\"k\": [1, {\"deep\": true}]}, \"b-c\": 5,"
    "  \"nil\": null, \"zero\": 0, \"empty\": \"\", \"big\": 9007199254740993, \"f\": 2.5,"
    "  \"mixed\": [1, \"x\", null, {\"a\": 1}], \"obj\": {\"b\": 2, \"a\": 1}},"
    " \"user\": {\"id\": 42, \"name\": \"Bob\", \"profile\": {\"email\": \"b@x\"}},"
    " \"steps\": {\"fetch\": {\"status\": \"succeeded\", \"output\": {\"items\": [10, 20]}, \"error\": null}},"
    " \"workflow\": {\"id\": \"run-1\", \"name\": \"wf\"},"
    " \"company\": {\"name\": \"Acme\", \"size\": 10}, \"analysis\": {\"confidence\": 0.9}}";
static const char *ITEM = "{\"item\": {\"sku\": \"x1\"}, \"item_index\": 2, \"user\": {\"id\": 7}}";

typedef struct fx {
    mae_arena arena;
    cJSON *root, *item;
    mae_scope outer, inner;
} fx;

static void fx_init(fx *f) {
    mae__arena_init(&f->arena, 0);
    f->root = cJSON_Parse(DATA);
    f->item = cJSON_Parse(ITEM);
    ASSERT_NOT_NULL(f->root);
    ASSERT_NOT_NULL(f->item);
    f->outer = (mae_scope){f->root, NULL};
    f->inner = (mae_scope){f->item, &f->outer};
}

static void fx_free(fx *f) {
    cJSON_Delete(f->root);
    cJSON_Delete(f->item);
    mae__arena_free(&f->arena);
}

/* Compiles and evaluates src in the inner scope; the result as text kept in the arena:
 * compact JSON of the value, "error: MSG" or "compile error at OFF: MSG". */
static const char *ev(fx *f, const char *src) {
    mae_tmpl *t;
    mae_tmpl_err ce;
    char buf[700];
    int rc = mae__tmpl_compile(&f->arena, src, strlen(src), &t, &ce);
    if (rc) {
        ASSERT_EQ_INT(rc, MAE_EPARSE);
        snprintf(buf, sizeof buf, "compile error at %zu: %s", ce.offset, ce.msg);
        return mae__arena_strdup(&f->arena, buf);
    }
    ASSERT_EQ_STR(mae__tmpl_source(t), src);
    cJSON *v = NULL;
    mae_eval_err ee;
    rc = mae__tmpl_eval(t, &f->inner, &v, &ee);
    if (rc) {
        ASSERT_EQ_INT(rc, MAE_ETEMPLATE);
        ASSERT_NULL(v);
        snprintf(buf, sizeof buf, "error: %s", ee.msg);
        return mae__arena_strdup(&f->arena, buf);
    }
    ASSERT_NOT_NULL(v);
    char *s = NULL;
    ASSERT_EQ_INT(mae__json_print(v, MAE_TMPL_MAX_OUTPUT, &s, NULL), 0);
    cJSON_Delete(v);
    const char *r = mae__arena_strdup(&f->arena, s);
    free(s);
    return r;
}

/* Renders (string form) with an optional escape. */
static const char *rd(fx *f, const char *src, mae_escape_fn esc) {
    mae_tmpl *t;
    mae_tmpl_err ce;
    ASSERT_EQ_INT(mae__tmpl_compile(&f->arena, src, strlen(src), &t, &ce), 0);
    char *s = NULL;
    mae_eval_err ee;
    int rc = mae__tmpl_render(t, &f->inner, esc, &s, &ee);
    if (rc) {
        char buf[600];
        snprintf(buf, sizeof buf, "error: %s", ee.msg);
        return mae__arena_strdup(&f->arena, buf);
    }
    const char *r = mae__arena_strdup(&f->arena, s);
    free(s);
    return r;
}

TEST(whole_template_keeps_json_type) {
    fx f;
    fx_init(&f);
    ASSERT_EQ_STR(ev(&f, "{{ .company }}"), "{\"name\":\"Acme\",\"size\":10}");
    ASSERT_EQ_STR(ev(&f, "{{.input.tags}}"), "[\"a\",\"b\",\"c\"]");
    ASSERT_EQ_STR(ev(&f, "{{ .input.n }}"), "3");
    ASSERT_EQ_STR(ev(&f, "{{ .input.f }}"), "2.5");
    ASSERT_EQ_STR(ev(&f, "{{ .input.nested.k[1].deep }}"), "true");
    ASSERT_EQ_STR(ev(&f, "{{ .input.nil }}"), "null");
    ASSERT_EQ_STR(ev(&f, "{{ .input.name }}"), "\"Ann\"");
    /* 2^53 + 1 is not a double; 2^53 must print exactly and without ".0". */
    ASSERT_EQ_STR(ev(&f, "{{ 9007199254740992 }}"), "9007199254740992");
    ASSERT_EQ_STR(ev(&f, "{{ 4503599627370496 * 2 }}"), "9007199254740992");
    fx_free(&f);
}

TEST(interpolation_text_of_values) {
    fx f;
    fx_init(&f);
    ASSERT_EQ_STR(ev(&f, "Hello {{ .input.name }}!"), "\"Hello Ann!\"");
    ASSERT_EQ_STR(ev(&f, "n={{ .input.n }} f={{ .input.f }} ok={{ .input.nested.k[1].deep }}"),
                  "\"n=3 f=2.5 ok=true\"");
    ASSERT_EQ_STR(rd(&f, "c={{ .company }} t={{ .input.tags }} z={{ .input.nil }}", NULL),
                  "c={\"name\":\"Acme\",\"size\":10} t=[\"a\",\"b\",\"c\"] z=null");
    /* Surrounding text, even a space, makes it a string. */
    ASSERT_EQ_STR(ev(&f, " {{ .input.n }}"), "\" 3\"");
    ASSERT_EQ_STR(ev(&f, "{{ .input.n }}{{ .input.n }}"), "\"33\"");
    ASSERT_EQ_STR(ev(&f, "no template }} here"), "\"no template }} here\"");
    ASSERT_EQ_STR(ev(&f, ""), "\"\"");
    fx_free(&f);
}

TEST(whole_detection) {
    mae_arena a;
    mae__arena_init(&a, 0);
    mae_tmpl *t;
    mae_tmpl_err e;
    ASSERT_EQ_INT(mae__tmpl_compile(&a, "{{ .x }}", 8, &t, &e), 0);
    ASSERT_TRUE(mae__tmpl_is_whole(t));
    ASSERT_EQ_INT(mae__tmpl_compile(&a, "{{ .x }} ", 9, &t, &e), 0);
    ASSERT_FALSE(mae__tmpl_is_whole(t));
    ASSERT_EQ_INT(mae__tmpl_compile(&a, "{{ .x }}{{ .y }}", 16, &t, &e), 0);
    ASSERT_FALSE(mae__tmpl_is_whole(t));
    ASSERT_EQ_INT(mae__tmpl_compile(&a, "plain", 5, &t, &e), 0);
    ASSERT_FALSE(mae__tmpl_is_whole(t));
    ASSERT_TRUE(mae__tmpl_has_expr("a {{ b", 6));
    ASSERT_FALSE(mae__tmpl_has_expr("a { { b }}", 10));
    ASSERT_FALSE(mae__tmpl_has_expr("{{", 1));  /* length respected */
    mae__arena_free(&a);
}

TEST(data_holding_braces_is_not_evaluated) {
    fx f;
    fx_init(&f);
    ASSERT_EQ_STR(ev(&f, "{{ .input.weird }}"), "\"{{ .input.name }}\"");
    ASSERT_EQ_STR(ev(&f, "x {{ .input.weird }} y"), "\"x {{ .input.name }} y\"");
    ASSERT_EQ_STR(ev(&f, "{{ \"{{\" }} literal"), "\"{{ literal\"");
    fx_free(&f);
}

TEST(path_forms_and_scopes) {
    fx f;
    fx_init(&f);
    ASSERT_EQ_STR(ev(&f, "{{ .input.tags[0] }}"), "\"a\"");
    ASSERT_EQ_STR(ev(&f, "{{ .input[\"b-c\"] }}"), "5");
    ASSERT_EQ_STR(ev(&f, "{{ .input['nested'].k[1][\"deep\"] }}"), "true");
    ASSERT_EQ_STR(ev(&f, "{{ .steps.fetch.output.items[1] }}"), "20");
    ASSERT_EQ_STR(ev(&f, "{{ .steps.fetch.status }}"), "\"succeeded\"");
    ASSERT_EQ_STR(ev(&f, "{{ .workflow.id }}"), "\"run-1\"");
    /* Computed index. */
    ASSERT_EQ_STR(ev(&f, "{{ .input.tags[.item_index] }}"), "\"c\"");
    ASSERT_EQ_STR(ev(&f, "{{ .input.tags[1 + 1] }}"), "\"c\"");
    ASSERT_EQ_STR(ev(&f, "{{ (.input.nested).k[0] }}"), "1");
    /* The inner scope (a foreach item) shadows outer names and sees the outer ones. */
    ASSERT_EQ_STR(ev(&f, "{{ .user.id }}"), "7");
    /* A shadowing root hides the outer one entirely (no merging). */
    ASSERT_EQ_STR(ev(&f, "{{ .user.name }}"), "error: {{ .user.name }}: no field 'name' in .user");
    ASSERT_EQ_STR(ev(&f, "{{ .item.sku }}/{{ .company.name }}"), "\"x1/Acme\"");
    fx_free(&f);
}

TEST(missing_names_are_errors_with_text) {
    fx f;
    fx_init(&f);
    ASSERT_EQ_STR(ev(&f, "{{ .user.idx }}"), "error: {{ .user.idx }}: no field 'idx' in .user");
    ASSERT_EQ_STR(ev(&f, "Hi {{ .company.ceo.name }}!"),
                  "error: {{ .company.ceo.name }}: no field 'ceo' in .company");
    ASSERT_EQ_STR(ev(&f, "{{ .nope }}"), "error: {{ .nope }}: no variable 'nope'");
    ASSERT_EQ_STR(ev(&f, "{{ .input.tags[3] }}"),
                  "error: {{ .input.tags[3] }}: index 3 out of range in .input.tags (length 3)");
    ASSERT_EQ_STR(ev(&f, "{{ .input.tags[-1 * 1] }}"),
                  "error: {{ .input.tags[-1 * 1] }}: index -1 out of range in .input.tags (length 3)");
    ASSERT_EQ_STR(ev(&f, "{{ .input.n.x }}"),
                  "error: {{ .input.n.x }}: cannot read field 'x' of a number (.input.n)");
    ASSERT_EQ_STR(ev(&f, "{{ .company[0] }}"),
                  "error: {{ .company[0] }}: cannot index an object with a number (.company)");
    ASSERT_EQ_STR(ev(&f, "{{ .input.tags[0.5] }}"),
                  "error: {{ .input.tags[0.5] }}: index 0.5 is not an integer (.input.tags)");
    ASSERT_EQ_STR(ev(&f, "{{ .input.tags[true] }}"),
                  "error: {{ .input.tags[true] }}: an index must be a number or a string, not a boolean (.input.tags)");
    ASSERT_EQ_STR(ev(&f, "{{ .input.nil.x }}"),
                  "error: {{ .input.nil.x }}: cannot read field 'x' of null (.input.nil)");
    fx_free(&f);
}

TEST(default_on_missing_and_null) {
    fx f;
    fx_init(&f);
    ASSERT_EQ_STR(ev(&f, "{{ .user.nick | default \"n/a\" }}"), "\"n/a\"");
    ASSERT_EQ_STR(ev(&f, "{{ default \"n/a\" .user.nick }}"), "\"n/a\"");
    ASSERT_EQ_STR(ev(&f, "{{ .input.nil | default 5 }}"), "5");
    ASSERT_EQ_STR(ev(&f, "{{ .nothing.at.all | default 5 }}"), "5");
    ASSERT_EQ_STR(ev(&f, "{{ .input.tags[9] | default 'none' }}"), "\"none\"");
    ASSERT_EQ_STR(ev(&f, "{{ .input.n.x | default 'none' }}"), "\"none\"");
    /* Present, even falsy, values are kept. */
    ASSERT_EQ_STR(ev(&f, "{{ .input.zero | default 5 }}"), "0");
    ASSERT_EQ_STR(ev(&f, "{{ .input.empty | default 'x' }}"), "\"\"");
    ASSERT_EQ_STR(ev(&f, "{{ .company.name | default 'x' }}"), "\"Acme\"");
    /* Missing names inside a computation under default select the fallback. */
    ASSERT_EQ_STR(ev(&f, "{{ (.user.age + 1) | default 0 }}"), "0");
    /* The fallback itself is not lenient. */
    ASSERT_EQ_STR(ev(&f, "{{ .a | default .b }}"), "error: {{ .a | default .b }}: no variable 'b'");
    ASSERT_EQ_STR(ev(&f, "{{ .a | default .b | default 'z' }}"), "\"z\"");
    ASSERT_EQ_STR(ev(&f, "{{ default .company.name .user.nick }}"), "\"Acme\"");
    /* Type errors are still errors under default. */
    ASSERT_EQ_STR(ev(&f, "{{ ('a' - 1) | default 0 }}"),
                  "error: {{ ('a' - 1) | default 0 }}: '-' needs two numbers, not a string and a number");
    ASSERT_EQ_STR(ev(&f, "{{ .x | default 'p' | upper }}"), "\"P\"");
    fx_free(&f);
}

TEST(comparison_and_equality) {
    fx f;
    fx_init(&f);
    ASSERT_EQ_STR(ev(&f, "{{ .input.plan == 'premium' }}"), "true");
    ASSERT_EQ_STR(ev(&f, "{{ .input.plan != \"premium\" }}"), "false");
    ASSERT_EQ_STR(ev(&f, "{{ .analysis.confidence > 0.8 }}"), "true");
    ASSERT_EQ_STR(ev(&f, "{{ 1 == 1.0 }}"), "true");
    ASSERT_EQ_STR(ev(&f, "{{ 1 == '1' }}"), "false");
    ASSERT_EQ_STR(ev(&f, "{{ null == .input.nil }}"), "true");
    ASSERT_EQ_STR(ev(&f, "{{ .input.obj == .input.obj }}"), "true");
    ASSERT_EQ_STR(ev(&f, "{{ .input.obj == .company }}"), "false");
    ASSERT_EQ_STR(ev(&f, "{{ .steps.fetch.output.items == .steps.fetch.output.items }}"), "true");
    ASSERT_EQ_STR(ev(&f, "{{ .input.tags[0] == .input.tags[1] }}"), "false");
    ASSERT_EQ_STR(ev(&f, "{{ 2 < 10 }}"), "true");
    ASSERT_EQ_STR(ev(&f, "{{ '2' < '10' }}"), "false");  /* strings compare bytewise */
    ASSERT_EQ_STR(ev(&f, "{{ 3 <= 3 }}"), "true");
    ASSERT_EQ_STR(ev(&f, "{{ 3 >= 4 }}"), "false");
    ASSERT_EQ_STR(ev(&f, "{{ 3 > 3 }}"), "false");
    ASSERT_EQ_STR(ev(&f, "{{ 'b' > 'a' }}"), "true");
    ASSERT_EQ_STR(ev(&f, "{{ 1 < 'a' }}"), "error: {{ 1 < 'a' }}: cannot compare a number with a string (<)");
    ASSERT_EQ_STR(ev(&f, "{{ null < 1 }}"), "error: {{ null < 1 }}: cannot compare null with a number (<)");
    fx_free(&f);
}

TEST(arithmetic_and_precedence) {
    fx f;
    fx_init(&f);
    ASSERT_EQ_STR(ev(&f, "{{ 1 + 2 * 3 }}"), "7");
    ASSERT_EQ_STR(ev(&f, "{{ (1 + 2) * 3 }}"), "9");
    ASSERT_EQ_STR(ev(&f, "{{ 10 - 4 - 3 }}"), "3");  /* left associative */
    ASSERT_EQ_STR(ev(&f, "{{ 12 / 3 / 2 }}"), "2");
    ASSERT_EQ_STR(ev(&f, "{{ 7 / 2 }}"), "3.5");
    ASSERT_EQ_STR(ev(&f, "{{ 7 % 4 }}"), "3");
    ASSERT_EQ_STR(ev(&f, "{{ 2 + 7 % 4 * 2 }}"), "8");
    ASSERT_EQ_STR(ev(&f, "{{ -.input.n + 5 }}"), "2");
    ASSERT_EQ_STR(ev(&f, "{{ - -3 }}"), "3");
    ASSERT_EQ_STR(ev(&f, "{{ .input.name + ' ' + .company.name }}"), "\"Ann Acme\"");
    ASSERT_EQ_STR(ev(&f, "{{ 1 + 1 == 2 }}"), "true");       /* + binds tighter than == */
    ASSERT_EQ_STR(ev(&f, "{{ 1 < 2 == 2 < 3 }}"), "true");   /* < binds tighter than == */
    ASSERT_EQ_STR(ev(&f, "{{ 1 + 2 < 2 + 2 }}"), "true");    /* + binds tighter than < */
    ASSERT_EQ_STR(ev(&f, "{{ 1 + 2 | json }}"), "\"3\"");     /* | is the loosest */
    ASSERT_EQ_STR(ev(&f, "{{ 2 * -3 }}"), "-6");
    ASSERT_EQ_STR(ev(&f, "{{ 1 / 0 }}"), "error: {{ 1 / 0 }}: division by zero");
    ASSERT_EQ_STR(ev(&f, "{{ 1 % 0 }}"), "error: {{ 1 % 0 }}: modulo by zero");
    ASSERT_EQ_STR(ev(&f, "{{ 'a' + 1 }}"),
                  "error: {{ 'a' + 1 }}: '+' needs two numbers or two strings, not a string and a number");
    ASSERT_EQ_STR(ev(&f, "{{ -'a' }}"), "error: {{ -'a' }}: cannot negate a string");
    ASSERT_EQ_STR(ev(&f, "{{ 1e308 * 10 }}"), "error: {{ 1e308 * 10 }}: arithmetic overflow");
    fx_free(&f);
}

TEST(logic_short_circuit_and_truthiness) {
    fx f;
    fx_init(&f);
    ASSERT_EQ_STR(ev(&f, "{{ true || false && false }}"), "true");   /* && binds tighter */
    ASSERT_EQ_STR(ev(&f, "{{ (true || false) && false }}"), "false");
    ASSERT_EQ_STR(ev(&f, "{{ false or true and true }}"), "true");
    ASSERT_EQ_STR(ev(&f, "{{ not .input.zero }}"), "true");
    ASSERT_EQ_STR(ev(&f, "{{ !.input.tags }}"), "false");
    ASSERT_EQ_STR(ev(&f, "{{ !(1 == 1) }}"), "false");
    ASSERT_EQ_STR(ev(&f, "{{ !1 == false }}"), "true");   /* unary binds tighter than == */
    ASSERT_EQ_STR(ev(&f, "{{ !false && false }}"), "false");  /* ! binds tighter than && */
    ASSERT_EQ_STR(ev(&f, "{{ 1 == 1 && 2 == 3 }}"), "false"); /* == binds tighter than && */
    ASSERT_EQ_STR(ev(&f, "{{ 1 == 2 || 3 != 4 }}"), "true");
    /* Yields booleans, not operands. */
    ASSERT_EQ_STR(ev(&f, "{{ .input.name && .input.n }}"), "true");
    ASSERT_EQ_STR(ev(&f, "{{ .input.empty || .input.zero }}"), "false");
    /* The right side is not evaluated once decided, so it cannot fail. */
    ASSERT_EQ_STR(ev(&f, "{{ false && .missing.x }}"), "false");
    ASSERT_EQ_STR(ev(&f, "{{ true || .missing.x }}"), "true");
    ASSERT_EQ_STR(ev(&f, "{{ true && .missing }}"), "error: {{ true && .missing }}: no variable 'missing'");
    /* Truthiness of every kind. */
    const char *falsy[] = {"false", "null", "0", "\"\"", "[]", "{}"};
    const char *truthy[] = {"true", "1", "-0.5", "\"0\"", "[0]", "{\"a\":null}"};
    for (int i = 0; i < 6; i++) {
        cJSON *a = cJSON_Parse(falsy[i]), *b = cJSON_Parse(truthy[i]);
        ASSERT_FALSE(mae__json_truthy(a));
        ASSERT_TRUE(mae__json_truthy(b));
        cJSON_Delete(a);
        cJSON_Delete(b);
    }
    ASSERT_FALSE(mae__json_truthy(NULL));
    fx_free(&f);
}

TEST(literals) {
    fx f;
    fx_init(&f);
    ASSERT_EQ_STR(ev(&f, "{{ \"a\\\"b\\\\c\\nd\" }}"), "\"a\\\"b\\\\c\\nd\"");
    ASSERT_EQ_STR(ev(&f, "{{ 'it''s' }}"), "compile error at 7: expected an operator or '}}', found ''s''");
    ASSERT_EQ_STR(ev(&f, "{{ 'a\\n' }}"), "\"a\\\\n\"");   /* single quotes are raw */
    ASSERT_EQ_STR(ev(&f, "{{ 1.5e2 }}"), "150");
    ASSERT_EQ_STR(ev(&f, "{{ true }}{{ false }}{{ null }}"), "\"truefalsenull\"");
    ASSERT_EQ_STR(ev(&f, "{{ '}}' }}"), "\"}}\"");
    fx_free(&f);
}

TEST(functions) {
    fx f;
    fx_init(&f);
    ASSERT_EQ_STR(ev(&f, "{{ len .input.tags }}"), "3");
    ASSERT_EQ_STR(ev(&f, "{{ .input.name | len }}"), "3");
    ASSERT_EQ_STR(ev(&f, "{{ len .company }}"), "2");
    ASSERT_EQ_STR(ev(&f, "{{ len .input.tags > 2 }}"), "true");
    ASSERT_EQ_STR(ev(&f, "{{ len .input.n }}"), "error: {{ len .input.n }}: len needs a string, array or object, not a number");
    ASSERT_EQ_STR(ev(&f, "{{ upper .input.name }}"), "\"ANN\"");
    ASSERT_EQ_STR(ev(&f, "{{ .input.plan | upper | lower }}"), "\"premium\"");
    ASSERT_EQ_STR(ev(&f, "{{ upper 1 }}"), "error: {{ upper 1 }}: upper needs a string, not a number");
    ASSERT_EQ_STR(ev(&f, "{{ json .company }}"), "\"{\\\"name\\\":\\\"Acme\\\",\\\"size\\\":10}\"");
    ASSERT_EQ_STR(ev(&f, "{{ .input.name | json }}"), "\"\\\"Ann\\\"\"");
    ASSERT_EQ_STR(ev(&f, "{{ .input.tags | join \", \" }}"), "\"a, b, c\"");
    ASSERT_EQ_STR(ev(&f, "{{ join '-' .input.mixed }}"), "\"1-x-null-{\\\"a\\\":1}\"");
    ASSERT_EQ_STR(ev(&f, "{{ join '-' .company }}"), "error: {{ join '-' .company }}: join needs an array, not an object");
    fx_free(&f);
}

TEST(env_is_the_only_environment_access) {
    fx f;
    fx_init(&f);
    setenv("MAE_TMPL_TEST_VAR", "secret", 1);
    unsetenv("MAE_TMPL_TEST_UNSET");
    ASSERT_EQ_STR(ev(&f, "{{ env \"MAE_TMPL_TEST_VAR\" }}"), "\"secret\"");
    ASSERT_EQ_STR(ev(&f, "k={{ 'MAE_TMPL_TEST_VAR' | env }}"), "\"k=secret\"");
    ASSERT_EQ_STR(ev(&f, "{{ env \"MAE_TMPL_TEST_UNSET\" }}"), "\"\"");
    ASSERT_EQ_STR(ev(&f, "{{ env 'MAE_TMPL_TEST_UNSET' | default 'd' }}"), "\"\"");
    /* A variable is not a name the template can read. */
    ASSERT_EQ_STR(ev(&f, "{{ .MAE_TMPL_TEST_VAR }}"), "error: {{ .MAE_TMPL_TEST_VAR }}: no variable 'MAE_TMPL_TEST_VAR'");
    fx_free(&f);
}

static char *pct(const char *s, size_t len) {
    char *o = malloc(len * 3 + 1), *p = o;
    if (!o) return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-') *p++ = (char)c;
        else p += sprintf(p, "%%%02X", c);
    }
    *p = 0;
    return o;
}

TEST(render_with_escape_touches_only_values) {
    fx f;
    fx_init(&f);
    cJSON_AddStringToObject(cJSON_GetObjectItem(f.root, "input"), "domain", "a b/c?");
    ASSERT_EQ_STR(rd(&f, "/companies/{{ .input.domain }}/x y", pct), "/companies/a%20b%2Fc%3F/x y");
    ASSERT_EQ_STR(rd(&f, "{{ .input.domain }}", pct), "a%20b%2Fc%3F");
    ASSERT_EQ_STR(rd(&f, "{{ .input.tags }}", pct), "%5B%22a%22%2C%22b%22%2C%22c%22%5D");
    ASSERT_EQ_STR(rd(&f, "{{ .input.n }}", NULL), "3");
    ASSERT_EQ_STR(rd(&f, "{{ .input.name }}", NULL), "Ann");
    ASSERT_EQ_STR(rd(&f, "/plain path", pct), "/plain path");
    ASSERT_EQ_STR(rd(&f, "/{{ .nope }}", pct), "error: {{ .nope }}: no variable 'nope'");
    fx_free(&f);
}

TEST(compile_errors_with_offsets) {
    fx f;
    fx_init(&f);
    ASSERT_EQ_STR(ev(&f, "Hello {{ .name"), "compile error at 6: '{{' has no closing '}}'");
    ASSERT_EQ_STR(ev(&f, "ab {{ .x }} {{ .y +"), "compile error at 12: '{{' has no closing '}}'");
    ASSERT_EQ_STR(ev(&f, "{{ }}"), "compile error at 3: empty expression");
    ASSERT_EQ_STR(ev(&f, "{{ .x | frob }}"), "compile error at 8: unknown function 'frob'");
    ASSERT_EQ_STR(ev(&f, "{{ frob .x }}"), "compile error at 3: unknown function 'frob'");
    ASSERT_EQ_STR(ev(&f, "{{ .x + }}"), "compile error at 8: expected a value before '}}'");
    ASSERT_EQ_STR(ev(&f, "{{ (1 + 2 }}"), "compile error at 10: expected ')' before '}}'");
    ASSERT_EQ_STR(ev(&f, "{{ .a = 1 }}"), "compile error at 6: unexpected '=' (use ==)");
    ASSERT_EQ_STR(ev(&f, "{{ .a & .b }}"), "compile error at 6: unexpected '&' (use &&)");
    ASSERT_EQ_STR(ev(&f, "{{ \"abc }}"), "compile error at 3: unterminated string");
    ASSERT_EQ_STR(ev(&f, "{{ \"a\\q\" }}"), "compile error at 5: unknown escape in string (use \\\" \\\\ \\n \\t \\r \\/)");
    ASSERT_EQ_STR(ev(&f, "{{ len }}"), "compile error at 3: len takes 1 argument, got 0");
    ASSERT_EQ_STR(ev(&f, "{{ .x | default }}"), "compile error at 8: default takes 2 arguments, got 1");
    ASSERT_EQ_STR(ev(&f, "{{ len .a .b }}"), "compile error at 10: too many arguments to len");
    ASSERT_EQ_STR(ev(&f, "{{ 12ab }}"), "compile error at 3: malformed number");
    ASSERT_EQ_STR(ev(&f, "{{ . }}"), "compile error at 3: expected a name after '.'");
    ASSERT_EQ_STR(ev(&f, "{{ .a .b }}"), "compile error at 6: expected an operator or '}}', found '.b'");
    ASSERT_EQ_STR(ev(&f, "{{ .a | 3 }}"), "compile error at 8: expected a function name after '|', found '3'");
    mae_tmpl *t;
    mae_tmpl_err e;
    ASSERT_EQ_INT(mae__tmpl_compile(&f.arena, "ab\0{{ .x }}", 11, &t, &e), MAE_EPARSE);
    ASSERT_EQ_INT(e.offset, 2);
    ASSERT_NULL(t);
    fx_free(&f);
}

TEST(depth_cap_at_compile_time) {
    fx f;
    fx_init(&f);
    char buf[1024];
    /* 64 nested parentheses are fine, 65 are not. */
    for (int depth = 64; depth <= 65; depth++) {
        char *p = buf;
        p += sprintf(p, "{{ ");
        for (int i = 0; i < depth; i++) *p++ = '(';
        *p++ = '1';
        for (int i = 0; i < depth; i++) *p++ = ')';
        sprintf(p, " }}");
        if (depth == 64) ASSERT_EQ_STR(ev(&f, buf), "1");
        else ASSERT_EQ_STR(ev(&f, buf), "compile error at 67: expression nested too deeply (limit 64)");
    }
    char *p = buf;
    p += sprintf(p, "{{ ");
    for (int i = 0; i < 100; i++) p += sprintf(p, "! ");
    sprintf(p, "true }}");
    ASSERT_CONTAINS(ev(&f, buf), "nested too deeply");
    /* A long operator chain is bounded by the tree height instead. */
    char *big = malloc(4000);
    p = big;
    p += sprintf(p, "{{ 1");
    for (int i = 0; i < 300; i++) p += sprintf(p, "+1");
    sprintf(p, " }}");
    ASSERT_CONTAINS(ev(&f, big), "expression too complex");
    p = big;
    p += sprintf(p, "{{ 0");
    for (int i = 0; i < 200; i++) p += sprintf(p, "+1");
    sprintf(p, " }}");
    ASSERT_EQ_STR(ev(&f, big), "200");
    free(big);
    fx_free(&f);
}

TEST(output_cap_is_an_error) {
    fx f;
    fx_init(&f);
    /* A 1 MiB string doubled 5 times by + passes 16 MiB. */
    size_t n = 1u << 20;
    char *s = malloc(n + 1);
    memset(s, 'x', n);
    s[n] = 0;
    cJSON_AddStringToObject(f.item, "mb", s);
    free(s);
    const char *r = ev(&f, "{{ .mb + .mb + .mb + .mb + .mb + .mb + .mb + .mb + .mb + .mb + .mb + .mb"
                          " + .mb + .mb + .mb + .mb + 'y' }}");
    ASSERT_CONTAINS(r, "string longer than 16777216 bytes");
    /* Interpolation too. */
    char tmpl[400] = "";
    for (int i = 0; i < 17; i++) strcat(tmpl, "{{ .mb }}");
    ASSERT_CONTAINS(ev(&f, tmpl), "rendered text longer than 16777216 bytes");
    /* json of an array holding 17 MiB. */
    cJSON *arr = cJSON_AddArrayToObject(f.item, "arr");
    for (int i = 0; i < 17; i++) cJSON_AddItemToArray(arr, cJSON_Duplicate(cJSON_GetObjectItem(f.item, "mb"), 1));
    ASSERT_CONTAINS(ev(&f, "{{ json .arr }}"), "json: result longer than 16777216 bytes");
    ASSERT_CONTAINS(ev(&f, "{{ join '' .arr }}"), "join: result longer than 16777216 bytes");
    /* 16 MiB exactly is allowed. */
    ASSERT_EQ_STR(ev(&f, "{{ len (.mb + .mb + .mb + .mb + .mb + .mb + .mb + .mb + .mb + .mb + .mb + .mb"
                         " + .mb + .mb + .mb + .mb) }}"), "16777216");
    fx_free(&f);
}

typedef struct refs {
    char buf[1024];
} refs;

static void ref_cb(void *ud, const char *root, const char *sub, bool has_default, size_t off) {
    refs *r = ud;
    size_t n = strlen(r->buf);
    snprintf(r->buf + n, sizeof r->buf - n, "%s%s/%s%s@%zu", n ? " " : "", root, sub ? sub : "-",
             has_default ? "(d)" : "", off);
}

static const char *refs_of(mae_arena *a, const char *src) {
    mae_tmpl *t;
    mae_tmpl_err e;
    ASSERT_EQ_INT(mae__tmpl_compile(a, src, strlen(src), &t, &e), 0);
    refs r = {""};
    mae__tmpl_refs(t, ref_cb, &r);
    return mae__arena_strdup(a, r.buf);
}

TEST(refs_report_roots_subs_defaults_offsets) {
    mae_arena a;
    mae__arena_init(&a, 0);
    ASSERT_EQ_STR(refs_of(&a, "{{ .user.id }}"), "user/id@3");
    ASSERT_EQ_STR(refs_of(&a, "x {{ .steps.fetch.output }} {{ .input }}"), "steps/fetch@5 input/-@31");
    ASSERT_EQ_STR(refs_of(&a, "{{ .a.b | default .c.d }}"), "c/d@18 a/b(d)@3");
    ASSERT_EQ_STR(refs_of(&a, "{{ default .c (.a[.i] + 1) }}"), "c/-@11 a/-(d)@15 i/-(d)@18");
    ASSERT_EQ_STR(refs_of(&a, "{{ .m[\"b-c\"] == 1 && len .n > .o.p }}"), "m/b-c@3 n/-@25 o/p@30");
    ASSERT_EQ_STR(refs_of(&a, "{{ (.s).t.u }}{{ (.v.w).x }}{{ ('k' + .y)[0] }}"),
                  "s/t@3 v/w@17 y/-@38");
    ASSERT_EQ_STR(refs_of(&a, "plain text"), "");
    ASSERT_EQ_STR(refs_of(&a, "{{ env 'HOME' }}"), "");
    mae__arena_free(&a);
}

TEST(arena_exhaustion_is_enomem_at_every_step) {
    /* Every allocation of the compiler can fail: each limit gives ENOMEM or a working template. */
    const char *src = "a {{ .a.b[\"k\"][0] + 1 | default (len 'xyz') }} b {{ not .c || .d.e && 'q' }} c";
    int ok = 0, oom = 0;
    for (size_t limit = 16; limit <= 8192; limit += 16) {
        mae_arena a;
        mae__arena_init(&a, limit);
        mae_tmpl *t = NULL;
        mae_tmpl_err e;
        int rc = mae__tmpl_compile(&a, src, strlen(src), &t, &e);
        if (rc == 0) {
            ok++;
            cJSON *data = cJSON_Parse("{\"c\": 0}");
            mae_scope sc = {data, NULL};
            char *out = NULL;
            mae_eval_err ee;
            ASSERT_EQ_INT(mae__tmpl_render(t, &sc, NULL, &out, &ee), 0);
            ASSERT_EQ_STR(out, "a 3 b true c");
            free(out);
            cJSON_Delete(data);
        } else {
            if (rc != MAE_ENOMEM) th_fail(__FILE__, __LINE__, "limit %zu: rc %d: %s", limit, rc, e.msg);
            ASSERT_NULL(t);
            ASSERT_EQ_INT(ok, 0);  /* once it fits, a larger limit fits too */
            oom++;
        }
        mae__arena_free(&a);
    }
    ASSERT_CMP_INT(ok, >, 0);
    ASSERT_CMP_INT(oom, >, 3);
}

/* A value copied out of the scope has no key: not its member's own, nor a constant one that
 * points into the workflow (a foreach item's variables), which the value may outlive. */
TEST(a_copied_value_has_no_key) {
    fx f;
    fx_init(&f);
    cJSON_AddItemToObjectCS(f.item, "konst", cJSON_CreateString("k"));
    static const char *const srcs[] = {"{{ .item }}", "{{ .item.sku }}", "{{ .konst }}", "{{ .user }}"};
    for (size_t i = 0; i < sizeof srcs / sizeof *srcs; i++) {
        mae_tmpl *t;
        mae_tmpl_err ce;
        ASSERT_EQ_INT(mae__tmpl_compile(&f.arena, srcs[i], strlen(srcs[i]), &t, &ce), 0);
        cJSON *v = NULL;
        mae_eval_err ee;
        ASSERT_EQ_INT(mae__tmpl_eval(t, &f.inner, &v, &ee), 0);
        ASSERT_NOT_NULL(v);
        ASSERT_NULL(v->string);
        ASSERT_FALSE(v->type & cJSON_StringIsConst);
        cJSON_Delete(v);
    }
    fx_free(&f);
}
