/* Unit tests of the read-back of json_out.c's text (workflow/json_in.c): for every text, printed
 * or not, the tree is node for node the one cJSON_ParseWithLength builds (types, keys, strings,
 * valuedouble bit for bit, valueint, the links both ways and the first child's prev); what it
 * does not read itself goes to cJSON; allocation failure frees everything; and a randomized
 * property over 20,000 trees printed by mae__jtext_value. */
#include <math.h>
#include <stdint.h>

#include "harness.h"
#include "workflow/json_in.h"
#include "workflow/json_out.h"

#include "oom.h"

/* Node for node, including the prev links cJSON's appends rely on. */
static void same_tree(const cJSON *a, const cJSON *b) {
    ASSERT_EQ_INT(a->type, b->type);
    ASSERT_EQ_INT(a->valueint, b->valueint);
    ASSERT_TRUE(memcmp(&a->valuedouble, &b->valuedouble, sizeof a->valuedouble) == 0);
    ASSERT_EQ_INT(a->valuestring == NULL, b->valuestring == NULL);
    if (a->valuestring) ASSERT_EQ_STR(a->valuestring, b->valuestring);
    ASSERT_EQ_INT(a->string == NULL, b->string == NULL);
    if (a->string) ASSERT_EQ_STR(a->string, b->string);
    ASSERT_EQ_INT(a->child == NULL, b->child == NULL);
    const cJSON *x = a->child, *y = b->child;
    const cJSON *xl = NULL, *yl = NULL;
    for (; x && y; x = x->next, y = y->next) {
        same_tree(x, y);
        if (xl) ASSERT_TRUE(x->prev == xl);
        if (yl) ASSERT_TRUE(y->prev == yl);
        xl = x;
        yl = y;
    }
    ASSERT_TRUE(x == NULL && y == NULL);
    if (a->child) {
        ASSERT_TRUE(a->child->prev == xl);
        ASSERT_TRUE(b->child->prev == yl);
    }
}

static void as_cjson(const char *text) {
    size_t len = strlen(text);
    cJSON *a = mae__json_read_back(text, len), *b = cJSON_ParseWithLength(text, len);
    if (!b) {
        if (a) th_fail(__FILE__, __LINE__, "cJSON refuses %s, the read-back does not", text);
        return;
    }
    if (!a) th_fail(__FILE__, __LINE__, "the read-back refuses %s", text);
    same_tree(a, b);
    cJSON_Delete(a);
    cJSON_Delete(b);
}

TEST(printed_shapes_read_as_cjson_reads_them) {
    static const char *const t[] = {
        "{\"ok\":true,\"id\":\"i0\"}", "[]", "{}", "[[],{},[{}]]", "null", "true", "false", "0", "-0", "7",
        "-42", "2147483647", "2147483648", "-2147483648", "-2147483649", "999999999999999",
        "-999999999999999", "\"\"", "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"", "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"",
        "{\"a\":{\"b\":{\"c\":[1,2,[3,[4]]]}},\"d\":null,\"e\":false}", "{\"\":1,\"\":2}",
        "{\"k\\n\":\"v\"}", "[1,\"x\",true,false,null,{\"a\":[]}]",
    };
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) as_cjson(t[i]);
}

/* What json_out does not write, or JSON at all, is cJSON's to read: the same tree or NULL. */
TEST(other_text_is_cjsons) {
    static const char *const t[] = {
        "1.5", "-2.5e-300", "1e3", "1E3", "0.1", "9999999999999999", "12345678901234567890", "0123",
        "-", "--1", "+1", "\"\\u00e9\\ud83d\\ude00\"", "\"\\u0001\"", "\"a\tb\"", " {\"a\":1}", "{\"a\" : 1}",
        "[1, 2]", "[1,]", "[,1]", "{\"a\"}", "{\"a\":}", "{1:2}", "[1", "{\"a\":1", "\"abc", "tru", "nul",
        "falsey", "[true false]", "{\"a\":1}x", "1 ", "[1]]", "", "[\"\\x\"]", ("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
         "[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"),
    };
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) as_cjson(t[i]);
}

/* The length bounds it, not a NUL: a text inside a larger buffer. */
TEST(reads_only_len_bytes) {
    const char buf[] = "{\"a\":[1,2]}{\"b\":3}";
    cJSON *v = mae__json_read_back(buf, 11);
    ASSERT_NOT_NULL(v);
    char *s = mae__json_text(v);
    ASSERT_EQ_STR(s, "{\"a\":[1,2]}");
    free(s);
    cJSON_Delete(v);
    v = mae__json_read_back(buf + 11, 7);
    ASSERT_NOT_NULL(v);
    ASSERT_EQ_INT(cJSON_GetObjectItem(v, "b")->valueint, 3);
    cJSON_Delete(v);
    v = mae__json_read_back("[12", 2);   /* "[1": cut short */
    ASSERT_NULL(v);
    v = mae__json_read_back("123", 2);
    ASSERT_NOT_NULL(v);
    ASSERT_EQ_INT(v->valueint, 12);
    cJSON_Delete(v);
}

/* Items are appended after the read-back as after cJSON's parse (the first child's prev). */
TEST(a_read_tree_takes_appends) {
    cJSON *v = mae__json_read_back("[1,2]", 5);
    ASSERT_NOT_NULL(v);
    cJSON_AddItemToArray(v, cJSON_CreateNumber(3));
    cJSON *o = mae__json_read_back("{\"a\":1}", 7);
    cJSON_AddNumberToObject(o, "b", 2);
    cJSON_AddItemToArray(v, o);
    char *s = mae__json_text(v);
    ASSERT_EQ_STR(s, "[1,2,3,{\"a\":1,\"b\":2}]");
    free(s);
    cJSON_Delete(v);
}

TEST(allocation_failure_frees_everything) {
    const char *t = "{\"a\":[{\"b\":\"xyz\",\"c\":[1,2,3]},\"\\n\"],\"d\":{\"e\":null}}";
    cJSON *want = cJSON_Parse(t);
#ifdef TH_ASAN
    cJSON_InitHooks(&(cJSON_Hooks){oom_hook_malloc, free});
#endif
    int ok = 0;
    for (long at = 1; at < 200 && !ok; at++) {
        arm(at);
        cJSON *v = mae__json_read_back(t, strlen(t));
        disarm();
        if (!failed) {
            ASSERT_NOT_NULL(v);
            same_tree(v, want);
            cJSON_Delete(v);
            ok = 1;
            continue;
        }
        ASSERT_NULL(v);
#ifndef TH_ASAN
        ASSERT_EQ_INT(outstanding, 0);
#endif
    }
#ifdef TH_ASAN
    cJSON_InitHooks(NULL);
#endif
    ASSERT_TRUE(ok);
    cJSON_Delete(want);
}

/* xorshift64*: seeded, so a failure names a reproducible case. */
static uint64_t rng(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static cJSON *random_tree(uint64_t *s, int depth) {
    static const char *const strs[] = {"", "a", "i123", "quote\"back\\slash", "tab\tnl\nff\fcr\rbs\b",
                                       "\xc3\xa9t\xc3\xa9", "\x01ctl", ("\xff" "bad"), "/slash"};
    switch (rng(s) % (depth > 5 ? 6 : 8)) {
    case 0: return cJSON_CreateNull();
    case 1: return cJSON_CreateBool(rng(s) & 1);
    case 2: return cJSON_CreateNumber((double)(int64_t)(rng(s) % 2000000000000000ULL) - 1e15);
    case 3: {
        uint64_t r = rng(s);
        double d;
        memcpy(&d, &r, sizeof d);
        return cJSON_CreateNumber(isfinite(d) ? d : 0.5);
    }
    case 4:
    case 5: return cJSON_CreateString(strs[rng(s) % (sizeof strs / sizeof *strs)]);
    default: {
        bool obj = rng(s) & 1;
        cJSON *c = obj ? cJSON_CreateObject() : cJSON_CreateArray();
        int n = (int)(rng(s) % 5);
        for (int i = 0; i < n; i++) {
            char k[16];
            snprintf(k, sizeof k, "k%d", (int)(rng(s) % 4));
            if (obj) cJSON_AddItemToObject(c, k, random_tree(s, depth + 1));
            else cJSON_AddItemToArray(c, random_tree(s, depth + 1));
        }
        return c;
    }
    }
}

TEST(property_printed_trees_read_back_as_cjson_reads_them) {
    uint64_t seed = 0x15150015ULL;
    mae_jtext t = {0};
    t.max = MAE_JSON_UNBOUNDED;
    for (int i = 0; i < 20000; i++) {
        cJSON *v = random_tree(&seed, 0);
        t.len = 0;
        t.lossy = false;
        mae__jtext_value(&t, v);
        ASSERT_EQ_INT(t.rc, 0);
        cJSON *a = mae__json_read_back(t.p, t.len), *b = cJSON_ParseWithLength(t.p, t.len);
        ASSERT_NOT_NULL(a);
        ASSERT_NOT_NULL(b);
        same_tree(a, b);
        cJSON_Delete(a);
        cJSON_Delete(b);
        cJSON_Delete(v);
    }
    free(t.p);
}
