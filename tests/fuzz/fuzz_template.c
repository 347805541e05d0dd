/* Fuzz target: compiles arbitrary bytes as a template; when they compile, evaluates, renders
 * (plain and with an escape), walks the references and renders a small tree holding it, against
 * a fixed two-level scope with nested data. Everything is freed; ASan/UBSan report the rest. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "maestro/maestro.h"
#include "workflow/template.h"

static const char *DATA =
    "{\"input\": {\"plan\": \"premium\", \"n\": 3, \"tags\": [\"a\", \"b\", {\"c\": [1, 2.5, null]}],"
    " \"nil\": null, \"t\": true, \"e\": \"\", \"big\": 9007199254740992, \"neg\": -1e300,"
    " \"b-c\": {\"x\": \"{{ .input.n }}\"}},"
    " \"user\": {\"id\": 42, \"name\": \"Bob\"}, \"workflow\": {\"id\": \"run-1\"},"
    " \"steps\": {\"s1\": {\"status\": \"succeeded\", \"output\": [[[]]], \"error\": null}}}";
static const char *ITEM = "{\"item\": {\"sku\": \"x\"}, \"item_index\": 1, \"user\": 7}";

static cJSON *root, *item;
static mae_scope outer, inner;

static char *escape(const char *s, size_t len) {
    char *o = malloc(len * 3 + 1), *p = o;
    if (!o) return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '/' || c == ' ' || c == '%') {
            *p++ = '%';
            *p++ = "0123456789ABCDEF"[c >> 4];
            *p++ = "0123456789ABCDEF"[c & 15];
        } else {
            *p++ = (char)c;
        }
    }
    *p = 0;
    return o;
}

static void ref_cb(void *ud, const char *r, const char *sub, bool d, size_t off) {
    size_t *len = ud;
    if (!r || off >= *len) abort();  /* offsets must point into the source */
    (void)sub;
    (void)d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!root) {
        root = cJSON_Parse(DATA);
        item = cJSON_Parse(ITEM);
        outer = (mae_scope){root, NULL};
        inner = (mae_scope){item, &outer};
        setenv("MAE_FUZZ_ENV", "v", 1);
    }
    mae_arena a;
    mae__arena_init(&a, 4u << 20);
    mae_tmpl *t = NULL;
    mae_tmpl_err err;
    const char *src = (const char *)data;
    bool has = mae__tmpl_has_expr(src, size);
    int rc = mae__tmpl_compile(&a, src, size, &t, &err);
    if (rc == 0) {
        if (!has && mae__tmpl_is_whole(t)) abort();
        if (strlen(mae__tmpl_source(t)) != size) abort();
        cJSON *v = NULL;
        mae_eval_err ee;
        rc = mae__tmpl_eval(t, &inner, &v, &ee);
        if (rc == 0) {
            char *s = NULL;
            if (mae__json_print(v, 1u << 24, &s, NULL) == 0) free(s);
            (void)mae__json_truthy(v);
            if (!mae__tmpl_is_whole(t) && !cJSON_IsString(v)) abort();
            cJSON_Delete(v);
        } else if (v || !ee.msg[0]) {
            abort();
        }
        char *r = NULL;
        if (mae__tmpl_render(t, &outer, NULL, &r, &ee) == 0) free(r);
        if (mae__tmpl_render(t, &inner, escape, &r, &ee) == 0) free(r);
        size_t len = size;
        mae__tmpl_refs(t, ref_cb, &len);
        mae_tval kids[2] = {
            {.kind = MAE_TV_TEMPLATE, .key = "t", .tmpl = t},
            {.kind = MAE_TV_NUMBER, .key = "n", .num = 1},
        };
        mae_tval tree = {.kind = MAE_TV_OBJECT, .items = kids, .n = 2};
        if (mae__tval_render(&tree, &inner, &v, &ee) == 0) cJSON_Delete(v);
    } else if (rc == MAE_EPARSE) {
        if (err.offset > size || !err.msg[0]) abort();
    } else if (rc != MAE_ENOMEM) {
        abort();
    }
    mae__arena_free(&a);
    return 0;
}
