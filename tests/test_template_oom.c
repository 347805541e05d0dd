/* Unit tests: templates under allocation failure. Every malloc of an evaluation is made to fail
 * in turn; each run must return 0 or MAE_ENOMEM (never crash or report another error) and give
 * back everything it allocated. In the plain build malloc itself is replaced (glibc's
 * __libc_* underneath) and outstanding blocks are counted; under ASan, which owns malloc, only
 * cJSON's allocations are failed (through cJSON_InitHooks) and LeakSanitizer checks the rest. */
#include <stdlib.h>

#include "harness.h"
#include "maestro/maestro.h"
#include "workflow/template.h"

#include "oom.h"

typedef enum { DO_EVAL, DO_RENDER, DO_TVAL } op;

static char *esc(const char *s, size_t len) {
    char *o = malloc(len + 3);
    if (!o) return NULL;
    o[0] = '<';
    memcpy(o + 1, s, len);
    o[len + 1] = '>';
    o[len + 2] = 0;
    return o;
}

/* Runs one operation with every allocation failing in turn. */
static void exhaust(const char *src, op what, const char *expect) {
    mae_arena a;
    mae__arena_init(&a, 0);
    mae_tmpl *t;
    mae_tmpl_err ce;
    ASSERT_EQ_INT(mae__tmpl_compile(&a, src, strlen(src), &t, &ce), 0);
    cJSON *data = cJSON_Parse("{\"a\": {\"b\": [1, \"two\", {\"c\": null}], \"s\": \"str\"}, \"n\": 7}");
    mae_scope sc = {data, NULL};
    mae_tval kid = {.kind = MAE_TV_TEMPLATE, .key = "k", .tmpl = t};
    mae_tval tree = {.kind = MAE_TV_OBJECT, .items = &kid, .n = 1};
#ifdef TH_ASAN
    cJSON_InitHooks(&(cJSON_Hooks){oom_hook_malloc, free});
#endif
    long ok_runs = 0;
    for (long at = 1; at < 10000; at++) {
        cJSON *v = NULL;
        char *s = NULL;
        mae_eval_err err = {{0}};
        arm(at);
        int rc = what == DO_EVAL ? mae__tmpl_eval(t, &sc, &v, &err)
                 : what == DO_RENDER ? mae__tmpl_render(t, &sc, esc, &s, &err)
                                     : mae__tval_render(&tree, &sc, &v, &err);
        disarm();
        char *text = NULL;
        if (!rc && v) ASSERT_EQ_INT(mae__json_print(v, 1 << 20, &text, NULL), 0);
        if (rc) {
            if (rc != MAE_ENOMEM) th_fail(__FILE__, __LINE__, "alloc %ld: rc %d (%s)", at, rc, err.msg);
            ASSERT_EQ_STR(err.msg, "out of memory");
            ASSERT_TRUE(failed);
            ASSERT_NULL(v);
            ASSERT_NULL(s);
        } else {
            ASSERT_EQ_STR(s ? s : text, expect);
            ok_runs++;
        }
        free(text);
        /* Give back the result inside the counted region. */
        armed = 1;
        fail_at = 0;
        cJSON_Delete(v);
        free(s);
        disarm();
#ifndef TH_ASAN
        if (outstanding != 0) th_fail(__FILE__, __LINE__, "alloc %ld: %ld blocks leaked", at, outstanding);
#endif
        if (!failed) break;  /* every allocation has had its turn */
    }
    ASSERT_CMP_INT(ok_runs, >=, 1);
    ASSERT_CMP_INT(n_allocs, >, 1);
#ifdef TH_ASAN
    cJSON_InitHooks(NULL);
#endif
    cJSON_Delete(data);
    mae__arena_free(&a);
}

TEST(oom_eval_whole) { exhaust("{{ .a }}", DO_EVAL, "{\"b\":[1,\"two\",{\"c\":null}],\"s\":\"str\"}"); }
TEST(oom_eval_operators) {
    exhaust("{{ (.n + 1) * 2 == 16 && !(.a.s < 'a') || .zz }}", DO_EVAL, "true");
}
TEST(oom_eval_functions) {
    exhaust("{{ .a.b | join '-' | upper }}:{{ len (json .a) }}:{{ .q.r | default (lower 'X') }}",
            DO_EVAL, "\"1-TWO-{\\\"C\\\":NULL}:36:x\"");
}
TEST(oom_eval_string_concat) { exhaust("{{ .a.s + '!' + .a.b[1] }}", DO_EVAL, "\"str!two\""); }
TEST(oom_render_escape) { exhaust("x/{{ .a.b }}/{{ .n }}", DO_RENDER, "x/<[1,\"two\",{\"c\":null}]>/<7>"); }
TEST(oom_tval) { exhaust("{{ .a.b[2] }}", DO_TVAL, "{\"k\":{\"c\":null}}"); }
