/* Unit tests of the one JSON printer (workflow/json_out.c): exact numbers (integers to 2^53
 * without exponent, everything else the shortest of %.15g/%.16g/%.17g that reads back, -0,
 * subnormals, NaN/Inf as null), valid strings (control characters, bad UTF-8), the pretty form,
 * the size cap, depth without recursion, a comma locale, allocation failure, and a randomized
 * round-trip property over 100k doubles and 100k integers. */
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <unistd.h>

#include "harness.h"
#include "maestro/maestro.h"
#include "workflow/json_out.h"

#include "oom.h"

static const char *num(double d) {
    static char buf[MAE_JSON_NUM_MAX];
    size_t n = mae_json_num(d, buf);
    ASSERT_EQ_INT(n, strlen(buf));
    return buf;
}

static char *compact(const cJSON *v) {
    char *s = NULL;
    ASSERT_EQ_INT(mae_json_print(v, MAE_JSON_UNBOUNDED, &s, NULL), 0);
    return s;
}

TEST(numbers_of_the_issue_print_exactly) {
    ASSERT_EQ_STR(num(9007199254740991.0), "9007199254740991");
    ASSERT_EQ_STR(num(-9007199254740991.0), "-9007199254740991");
    ASSERT_EQ_STR(num(9007199254740992.0), "9007199254740992");
    ASSERT_EQ_STR(num(-9007199254740992.0), "-9007199254740992");
    ASSERT_EQ_STR(num(8999999999999999.0), "8999999999999999");
    ASSERT_EQ_STR(num(123456789012.0), "123456789012");
    ASSERT_EQ_STR(num(0.1), "0.1");
    ASSERT_EQ_STR(num(1e300), "1e+300");
    ASSERT_EQ_STR(num(5e-324), "5e-324");
    ASSERT_EQ_STR(num(-0.0), "-0");
    ASSERT_EQ_STR(num(0.0), "0");
    ASSERT_TRUE(signbit(strtod(num(-0.0), NULL)));
}

TEST(other_numbers_shortest_that_reads_back) {
    ASSERT_EQ_STR(num(1.5), "1.5");
    ASSERT_EQ_STR(num(-2.75), "-2.75");
    ASSERT_EQ_STR(num(100), "100");
    ASSERT_EQ_STR(num(1e15), "1000000000000000");
    ASSERT_EQ_STR(num(0.30000000000000004), "0.30000000000000004");
    ASSERT_EQ_STR(num(1.0 / 3), "0.3333333333333333");
    ASSERT_EQ_STR(num(9007199254740994.0), "9007199254740994");   /* past 2^53: %.16g */
    ASSERT_EQ_STR(num(1e17), "1e+17");
    ASSERT_EQ_STR(num(123456789012345680.0), "1.2345678901234568e+17");
    ASSERT_EQ_STR(num(DBL_MAX), "1.7976931348623157e+308");
    ASSERT_EQ_STR(num(-DBL_MAX), "-1.7976931348623157e+308");
    ASSERT_EQ_STR(num(DBL_MIN), "2.2250738585072014e-308");
    ASSERT_EQ_STR(num(1e-7), "1e-07");
    ASSERT_EQ_STR(num(4.4e-323), "4.4e-323");
    ASSERT_EQ_STR(num(NAN), "null");
    ASSERT_EQ_STR(num(INFINITY), "null");
    ASSERT_EQ_STR(num(-INFINITY), "null");
}

/* cJSON's own printer gets these wrong; the document printer must not. */
TEST(documents_keep_every_digit_where_cjson_does_not) {
    const char *src = "{\"id\":9007199254740991,\"neg\":-9007199254740991,\"n\":8999999999999999,"
                      "\"big\":123456789012,\"f\":0.1,\"e\":1e300,\"t\":[5e-324,-0,true,null]}";
    cJSON *v = cJSON_Parse(src);
    ASSERT_NOT_NULL(v);
    char *c = cJSON_PrintUnformatted(v);
    ASSERT_CONTAINS(c, "9.00719925474099e+15");   /* what the issue saw */
    free(c);
    char *s = compact(v);
    ASSERT_EQ_STR(s, "{\"id\":9007199254740991,\"neg\":-9007199254740991,\"n\":8999999999999999,"
                     "\"big\":123456789012,\"f\":0.1,\"e\":1e+300,\"t\":[5e-324,-0,true,null]}");
    char *t = mae_json_text(v);
    ASSERT_EQ_STR(t, s);
    free(t);
    free(s);
    cJSON_Delete(v);
}

TEST(strings_are_valid_json) {
    cJSON *v = cJSON_CreateArray();
    cJSON_AddItemToArray(v, cJSON_CreateString("q\"b\\s/\n\r\t\b\f\x01\x1f\x7f end"));
    cJSON_AddItemToArray(v, cJSON_CreateString("\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));  /* é € 😀 */
    cJSON_AddItemToArray(v, cJSON_CreateString("a\xff" "b"));             /* not UTF-8 */
    cJSON_AddItemToArray(v, cJSON_CreateString("\xc0\xaf"));               /* overlong '/' */
    cJSON_AddItemToArray(v, cJSON_CreateString("\xed\xa0\x80"));           /* a surrogate */
    cJSON_AddItemToArray(v, cJSON_CreateString("\xf4\x90\x80\x80"));       /* past U+10FFFF */
    cJSON_AddItemToArray(v, cJSON_CreateString("x\xe2\x82"));              /* cut at the end */
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "k\"\n", 1);
    cJSON_AddItemToArray(v, o);
    char *s = compact(v);
    ASSERT_EQ_STR(s, "[\"q\\\"b\\\\s/\\n\\r\\t\\b\\f\\u0001\\u001f\x7f end\","
                     "\"\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\","
                     "\"a\\ufffdb\",\"\\ufffd\\ufffd\",\"\\ufffd\\ufffd\\ufffd\","
                     "\"\\ufffd\\ufffd\\ufffd\\ufffd\",\"x\\ufffd\\ufffd\",{\"k\\\"\\n\":1}]");
    cJSON *back = cJSON_Parse(s);
    ASSERT_NOT_NULL(back);
    ASSERT_EQ_STR(cJSON_GetArrayItem(back, 0)->valuestring, "q\"b\\s/\n\r\t\b\f\x01\x1f\x7f end");
    cJSON_Delete(back);
    free(s);
    cJSON_Delete(v);
}

TEST(pretty_form) {
    cJSON *v = cJSON_Parse("{\"a\":1,\"b\":[2,{\"c\":null},[],{}],\"d\":{\"e\":\"x\"},\"n\":8999999999999999}");
    char *s = NULL;
    ASSERT_EQ_INT(mae_json_print_pretty(v, MAE_JSON_UNBOUNDED, &s, NULL), 0);
    ASSERT_EQ_STR(s, "{\n"
                     "  \"a\": 1,\n"
                     "  \"b\": [\n"
                     "    2,\n"
                     "    {\n"
                     "      \"c\": null\n"
                     "    },\n"
                     "    [],\n"
                     "    {}\n"
                     "  ],\n"
                     "  \"d\": {\n"
                     "    \"e\": \"x\"\n"
                     "  },\n"
                     "  \"n\": 8999999999999999\n"
                     "}");
    cJSON *back = cJSON_Parse(s);
    char *a = compact(v), *b = compact(back);
    ASSERT_EQ_STR(a, b);
    free(a);
    free(b);
    free(s);
    cJSON_Delete(back);
    cJSON_Delete(v);
    cJSON *e = cJSON_CreateObject();
    ASSERT_EQ_INT(mae_json_print_pretty(e, 100, &s, NULL), 0);
    ASSERT_EQ_STR(s, "{}");
    free(s);
    cJSON_Delete(e);
    ASSERT_EQ_INT(mae_json_print_pretty(NULL, 100, &s, NULL), 0);
    ASSERT_EQ_STR(s, "null");
    free(s);
}

TEST(output_is_capped) {
    cJSON *v = cJSON_Parse("{\"a\":[1,2,3],\"b\":\"text\"}");
    char *s = NULL;
    size_t len = 0, plen = 0;
    ASSERT_EQ_INT(mae_json_print(v, 1000, &s, &len), 0);
    ASSERT_EQ_INT(len, strlen(s));
    free(s);
    ASSERT_EQ_INT(mae_json_print(v, len, &s, NULL), 0);
    free(s);
    s = (char *)1;
    ASSERT_EQ_INT(mae_json_print(v, len - 1, &s, NULL), MAE_ELIMIT);
    ASSERT_NULL(s);
    ASSERT_EQ_INT(mae_json_print_pretty(v, 1000, &s, &plen), 0);
    free(s);
    ASSERT_CMP_INT(plen, >, len);
    ASSERT_EQ_INT(mae_json_print_pretty(v, plen - 1, &s, NULL), MAE_ELIMIT);
    ASSERT_EQ_INT(mae_json_print(v, 0, &s, NULL), MAE_ELIMIT);
    cJSON_Delete(v);
}

/* 200000 nested arrays: a recursive printer (cJSON's, or this one before) needs megabytes of
 * stack for it and dies on the 8 MB main stack under ASan. Built and freed by hand because
 * cJSON_Delete itself recurses. */
TEST(deep_nesting_needs_no_recursion) {
    enum { DEPTH = 200000 };
    cJSON **nodes = malloc(DEPTH * sizeof *nodes);
    for (int i = 0; i < DEPTH; i++) {
        nodes[i] = cJSON_CreateArray();
        if (i) nodes[i - 1]->child = nodes[i];
    }
    cJSON_AddItemToArray(nodes[DEPTH - 1], cJSON_CreateNumber(8999999999999999.0));
    char *s = NULL;
    size_t len = 0;
    ASSERT_EQ_INT(mae_json_print(nodes[0], MAE_JSON_UNBOUNDED, &s, &len), 0);
    ASSERT_EQ_INT(len, 2 * DEPTH + 16);
    ASSERT_EQ_INT(memcmp(s + DEPTH - 1, "[8999999999999999]", 18), 0);
    ASSERT_EQ_INT(s[0], '[');
    ASSERT_EQ_INT(s[len - 1], ']');
    free(s);
    for (int i = 0; i < DEPTH; i++) {
        if (i < DEPTH - 1) nodes[i]->child = NULL;
        cJSON_Delete(nodes[i]);
    }
    free(nodes);
}

/* In a locale whose decimal point is ',' the text must still say 0.1 (printf would write 0,1).
 * The locale is compiled into a temporary directory with localedef (about 2 s). */
TEST(comma_locale_still_prints_a_point) {
    char dir[] = "/tmp/maestro-loc-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/de_DE.UTF-8", dir);
    char *argv[] = {"localedef", "-i", "de_DE", "-f", "UTF-8", path, NULL};
    char *out = NULL, *err = NULL;
    int rc = th_run(argv, NULL, &out, &err);
    free(out);
    free(err);
    if (rc != 0) {
        printf("  note: localedef unavailable (exit %d); the comma locale is not exercised\n", rc);
        return;
    }
    setenv("LOCPATH", dir, 1);
    ASSERT_NOT_NULL(setlocale(LC_NUMERIC, "de_DE.UTF-8"));
    char t[16];
    snprintf(t, sizeof t, "%.1f", 0.5);
    ASSERT_EQ_STR(t, "0,5");   /* the locale is in effect */
    ASSERT_EQ_STR(num(0.1), "0.1");
    ASSERT_EQ_STR(num(-1.25e-300), "-1.25e-300");
    ASSERT_EQ_STR(num(9007199254740991.0), "9007199254740991");
    setlocale(LC_NUMERIC, "C");
    char *rm[] = {"rm", "-rf", dir, NULL};
    th_run(rm, NULL, NULL, NULL);
}

/* Every allocation failing in turn: MAE_ENOMEM, nothing returned, nothing leaked. */
TEST(allocation_failure) {
#ifdef TH_ASAN
    (void)oom_hook_malloc;   /* the printer allocates with malloc, which ASan owns */
    printf("  note: under ASan malloc cannot be replaced; the plain build runs this\n");
#else
    cJSON *v = cJSON_Parse("{\"a\":[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]],\"b\":"
                           "\"0123456789012345678901234567890123456789012345678901234567890123\"}");
    ASSERT_NOT_NULL(v);
    int ok = 0;
    for (long at = 1; at < 100 && !ok; at++) {
        char *s = (char *)1;
        arm(at);
        int rc = mae_json_print_pretty(v, MAE_JSON_UNBOUNDED, &s, NULL);
        disarm();
        if (rc == 0) {
            ASSERT_FALSE(failed);
            free(s);
            ok = 1;
            continue;
        }
        ASSERT_EQ_INT(rc, MAE_ENOMEM);
        ASSERT_NULL(s);
        ASSERT_EQ_INT(outstanding, 0);
    }
    ASSERT_TRUE(ok);
    arm(1);
    char *t = mae_json_text(v);
    disarm();
    ASSERT_NULL(t);
    cJSON_Delete(v);
#endif
}

/* xorshift64*: seeded, so a failure names a reproducible case. */
static uint64_t rng(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

TEST(property_random_doubles_read_back_bit_for_bit) {
    uint64_t seed = 0x9E3779B97F4A7C15ULL;
    int done = 0;
    while (done < 100000) {
        uint64_t bits = rng(&seed);
        double d;
        memcpy(&d, &bits, sizeof d);
        if (!isfinite(d)) continue;
        const char *s = num(d);
        double back = strtod(s, NULL);
        if (memcmp(&back, &d, sizeof d) != 0)
            th_fail(__FILE__, __LINE__, "case %d: %.17g (0x%016llx) printed %s, read back %.17g", done,
                    d, (unsigned long long)bits, s, back);
        /* never longer than needed when 15 digits suffice (integers to 2^53 aside: no exponent) */
        char t[40];
        snprintf(t, sizeof t, "%.15g", d);
        bool integer = fabs(d) <= 0x1p53 && d == trunc(d);
        if (!integer && fabs(d) >= DBL_MIN && strtod(t, NULL) == d && strcmp(t, s) != 0)
            th_fail(__FILE__, __LINE__, "case %d: %s where %s reads back", done, s, t);
        done++;
    }
}

TEST(property_random_integers_print_as_integers) {
    uint64_t seed = 0xD1B54A32D192ED03ULL;
    for (int i = 0; i < 100000; i++) {
        uint64_t r = rng(&seed);
        /* magnitudes spread over every length up to 2^53 */
        int bits = (int)(r % 54);
        long long m = bits ? (long long)((r >> 8) & ((1ULL << bits) - 1)) : 0;
        if (bits == 53 && (r & 1)) m = 1LL << 53;
        long long x = (r >> 7) & 1 ? -m : m;
        double d = (double)x;
        const char *s = num(d);
        char want[32];
        snprintf(want, sizeof want, "%lld", x);
        if (strcmp(s, want) != 0) th_fail(__FILE__, __LINE__, "case %d: %lld printed %s", i, x, s);
        double back = strtod(s, NULL);
        if (back != d) th_fail(__FILE__, __LINE__, "case %d: %s read back %.17g", i, s, back);
    }
}

/* The reading side: cJSON_Parse (strtod underneath) gives exactly the doubles, even for a
 * number longer than any buffer, and valueint is not to be trusted past INT_MAX (it saturates). */
TEST(parsing_is_exact_and_valueint_saturates) {
    cJSON *v = cJSON_Parse("[9007199254740991,-9007199254740991,8999999999999999,123456789012,0.1,1e300,5e-324]");
    ASSERT_NOT_NULL(v);
    const double want[] = {9007199254740991.0, -9007199254740991.0, 8999999999999999.0, 123456789012.0,
                           0.1, 1e300, 5e-324};
    for (int i = 0; i < 7; i++) ASSERT_TRUE(cJSON_GetArrayItem(v, i)->valuedouble == want[i]);
    ASSERT_EQ_INT(cJSON_GetArrayItem(v, 0)->valueint, 2147483647);   /* never use valueint */
    char *s = compact(v);
    ASSERT_EQ_STR(s, "[9007199254740991,-9007199254740991,8999999999999999,123456789012,0.1,1e+300,5e-324]");
    free(s);
    cJSON_Delete(v);
    /* 2^53+1 is halfway between two doubles: only the last of 80 digits says round up */
    v = cJSON_Parse("[9007199254740993.00000000000000000000000000000000000000000000000000000000000001]");
    ASSERT_NOT_NULL(v);
    ASSERT_TRUE(cJSON_GetArrayItem(v, 0)->valuedouble == 9007199254740994.0);
    cJSON_Delete(v);
}

/* The strict document parser used for run input: the whole text must be one value. */
TEST(parse_doc_refuses_trailing_text_and_says_where) {
    cJSON *v;
    char err[96];
    ASSERT_EQ_INT(mae_json_parse_doc(" {\"n\": 8999999999999999} \n\t", &v, err, sizeof err), 0);
    ASSERT_EQ_INT((int64_t)cJSON_GetObjectItem(v, "n")->valuedouble, 8999999999999999LL);
    cJSON_Delete(v);
    ASSERT_EQ_INT(mae_json_parse_doc("{\"a\":1} junk", &v, err, sizeof err), MAE_EPARSE);
    ASSERT_NULL(v);
    ASSERT_EQ_STR(err, "line 1, column 9: unexpected text after the JSON value");
    ASSERT_EQ_INT(mae_json_parse_doc("[1]\n\n  ]", &v, err, sizeof err), MAE_EPARSE);
    ASSERT_EQ_STR(err, "line 3, column 3: unexpected text after the JSON value");
    ASSERT_EQ_INT(mae_json_parse_doc("{\"a\":\n  tru}", &v, err, sizeof err), MAE_EPARSE);
    ASSERT_EQ_STR(err, "line 2, column 3: not valid JSON");
    ASSERT_EQ_INT(mae_json_parse_doc("", &v, err, sizeof err), MAE_EPARSE);
    ASSERT_CONTAINS(err, "not valid JSON");
}
