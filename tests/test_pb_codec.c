/* Unit tests of the proto3 JSON codec (grpc_h2/pb.h): every mapping rule both ways on the rich
 * schema of tests/servers/pb_rich.proto, wire-level cases built byte by byte (packed and
 * unpacked, unknown fields, merged messages, malformed data), the error paths and limits, and
 * google.rpc.Status decoding. */
#include <math.h>

#include "grpc_h2/pb.h"
#include "harness.h"
#include "maestro/maestro.h"
#include "pb_fx.h"

static mae__pb_pool *rich_pool(void) {
    char *text = th_read_file(th_path("tests/servers/pb_rich.proto"), NULL);
    ASSERT_NOT_NULL(text);
    mae__pb_pool *p = fx_pool1(text);
    free(text);
    return p;
}

static const mae__pb_msg *all_msg(mae__pb_pool *p) {
    const mae__pb_msg *m = mae__pb_pool_message(p, "mae.rich.v1.All");
    ASSERT_NOT_NULL(m);
    return m;
}

/* JSON text -> bytes -> JSON text (compact). */
static char *roundtrip(const mae__pb_msg *m, const char *json) {
    cJSON *in = cJSON_Parse(json);
    if (!in) th_fail(__FILE__, __LINE__, "bad test JSON: %s", json);
    uint8_t *buf;
    size_t len;
    char err[256];
    int rc = mae__pb_encode(m, in, 5, &buf, &len, err, sizeof err);
    if (rc) th_fail(__FILE__, __LINE__, "encode %s: %d %s", json, rc, err);
    cJSON_Delete(in);
    cJSON *out = NULL;
    rc = mae__pb_decode(m, buf + 5, len, 0, &out, err, sizeof err);
    if (rc) th_fail(__FILE__, __LINE__, "decode: %d %s", rc, err);
    free(buf);
    char *s = cJSON_PrintUnformatted(out);
    cJSON_Delete(out);
    return s;
}

/* The value of key in the round trip of json, compact. */
static char *rt_key(const mae__pb_msg *m, const char *json, const char *key) {
    char *all = roundtrip(m, json);
    cJSON *o = cJSON_Parse(all);
    free(all);
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) th_fail(__FILE__, __LINE__, "no key %s", key);
    char *s = cJSON_PrintUnformatted(v);
    cJSON_Delete(o);
    return s;
}

#define RT(json, key, want) do { char *rt_s = rt_key(m, json, key); ASSERT_EQ_STR(rt_s, want); \
    free(rt_s); } while (0)

static int enc_err(const mae__pb_msg *m, const char *json, char *err, size_t cap) {
    cJSON *in = cJSON_Parse(json);
    if (!in) th_fail(__FILE__, __LINE__, "bad test JSON: %s", json);
    uint8_t *buf = NULL;
    size_t len;
    int rc = mae__pb_encode(m, in, 0, &buf, &len, err, cap);
    cJSON_Delete(in);
    free(buf);
    return rc;
}

#define ENC_ERR(json, want) do { char ee[256]; \
    ASSERT_EQ_INT(enc_err(m, json, ee, sizeof ee), MAE_ETEMPLATE); ASSERT_EQ_STR(ee, want); } while (0)

TEST(decode_empty_has_every_field) {
    mae__pb_pool *p = rich_pool();
    const mae__pb_msg *m = all_msg(p);
    cJSON *out = NULL;
    char err[128];
    ASSERT_EQ_INT(mae__pb_decode(m, (const uint8_t *)"", 0, 0, &out, err, sizeof err), 0);
    char *s = cJSON_PrintUnformatted(out);
    ASSERT_EQ_STR(s,
        "{\"d\":0,\"f\":0,\"i64\":\"0\",\"u64\":\"0\",\"i32\":0,\"fx64\":\"0\",\"fx32\":0,"
        "\"b\":false,\"s\":\"\",\"by\":\"\",\"u32\":0,\"color\":\"COLOR_UNSPECIFIED\",\"sf32\":0,"
        "\"sf64\":\"0\",\"si32\":0,\"si64\":\"0\",\"inner\":null,\"ri32\":[],\"rs\":[],"
        "\"rcolor\":[],\"rinner\":[],\"mSI64\":{},\"mIInner\":{},\"mBS\":{},\"mSColor\":{},"
        "\"pS\":null,\"pInner\":null,\"pI64\":null,\"opt\":null,\"ts\":null,\"dur\":null,"
        "\"wI64\":null,\"wS\":null,\"wB\":null,\"wD\":null,\"wBy\":null,\"wU32\":null,"
        "\"wF\":null,\"wI32\":null,\"wU64\":null,\"st\":null,\"v\":null,\"lv\":null,\"e\":null,"
        "\"fm\":null,\"any\":null,\"rts\":[],\"mVal\":{},\"child\":null,\"rd\":[],\"jo\":0,"
        "\"rsi64\":[],\"rfx32\":[],\"rb\":[],\"rby\":[],\"mU64S\":{},\"rf\":[]}");
    free(s);
    cJSON_Delete(out);
    mae__pb_pool_free(p);
}

TEST(scalars_both_ways) {
    mae__pb_pool *p = rich_pool();
    const mae__pb_msg *m = all_msg(p);
    /* 64-bit integers: strings out, numbers or strings in. */
    RT("{\"i64\":\"-9223372036854775808\"}", "i64", "\"-9223372036854775808\"");
    RT("{\"i64\":12345}", "i64", "\"12345\"");
    RT("{\"u64\":\"18446744073709551615\"}", "u64", "\"18446744073709551615\"");
    RT("{\"fx64\":\"18446744073709551615\"}", "fx64", "\"18446744073709551615\"");
    RT("{\"sf64\":\"-5\"}", "sf64", "\"-5\"");
    RT("{\"si64\":\"-9223372036854775807\"}", "si64", "\"-9223372036854775807\"");
    /* 32-bit: numbers out, strings accepted in. */
    RT("{\"i32\":-2147483648}", "i32", "-2147483648");
    RT("{\"i32\":\"77\"}", "i32", "77");
    RT("{\"u32\":4294967295}", "u32", "4294967295");
    RT("{\"si32\":-3}", "si32", "-3");
    RT("{\"sf32\":-7}", "sf32", "-7");
    RT("{\"fx32\":4000000000}", "fx32", "4000000000");
    RT("{\"i32\":1.0}", "i32", "1");
    /* Floating point, with the special values as strings. */
    RT("{\"d\":1.5}", "d", "1.5");
    RT("{\"d\":\"NaN\"}", "d", "\"NaN\"");
    RT("{\"d\":\"Infinity\"}", "d", "\"Infinity\"");
    RT("{\"d\":\"-Infinity\"}", "d", "\"-Infinity\"");
    RT("{\"d\":\"2.5\"}", "d", "2.5");
    RT("{\"f\":0.1}", "f", "0.1");
    RT("{\"f\":\"-Infinity\"}", "f", "\"-Infinity\"");
    RT("{\"d\":1e300}", "d", "1e+300");
    /* bool, string, bytes (standard or URL-safe, padded or not, in; standard padded out). */
    RT("{\"b\":true}", "b", "true");
    RT("{\"s\":\"h\\u00e9llo\"}", "s", "\"h\xc3\xa9llo\"");
    RT("{\"by\":\"+/8=\"}", "by", "\"+/8=\"");
    RT("{\"by\":\"-_8\"}", "by", "\"+/8=\"");
    RT("{\"by\":\"aGk\"}", "by", "\"aGk=\"");
    /* Enums: names out, names or numbers in; an unknown number stays a number. */
    RT("{\"color\":\"GREEN\"}", "color", "\"GREEN\"");
    RT("{\"color\":1}", "color", "\"RED\"");
    RT("{\"color\":-3}", "color", "\"BLUE\"");
    RT("{\"color\":42}", "color", "42");
    /* json_name out; json or proto names in. */
    RT("{\"json_override\":5}", "jo", "5");
    RT("{\"jo\":6}", "jo", "6");
    RT("{\"m_s_i64\":{\"a\":1}}", "mSI64", "{\"a\":\"1\"}");
    /* null is "not set". */
    RT("{\"i32\":null,\"inner\":null}", "inner", "null");
    mae__pb_pool_free(p);
}

TEST(messages_maps_repeated_oneof) {
    mae__pb_pool *p = rich_pool();
    const mae__pb_msg *m = all_msg(p);
    RT("{\"inner\":{}}", "inner", "{\"name\":\"\",\"n\":0,\"colors\":[]}");
    RT("{\"inner\":{\"name\":\"x\",\"colors\":[\"RED\",2,0]}}", "inner",
       "{\"name\":\"x\",\"n\":0,\"colors\":[\"RED\",\"GREEN\",\"COLOR_UNSPECIFIED\"]}");
    RT("{\"ri32\":[1,-1,0,2147483647]}", "ri32", "[1,-1,0,2147483647]");
    RT("{\"rsi64\":[\"-1\",2]}", "rsi64", "[\"-1\",\"2\"]");
    RT("{\"rfx32\":[1,2]}", "rfx32", "[1,2]");
    RT("{\"rb\":[true,false]}", "rb", "[true,false]");
    RT("{\"rby\":[\"AA==\",\"\"]}", "rby", "[\"AA==\",\"\"]");
    RT("{\"rs\":[\"a\",\"\"]}", "rs", "[\"a\",\"\"]");
    RT("{\"rd\":[0.5,\"NaN\"]}", "rd", "[0.5,\"NaN\"]");
    RT("{\"rf\":[0.25]}", "rf", "[0.25]");
    RT("{\"rinner\":[{\"n\":1},{}]}", "rinner",
       "[{\"name\":\"\",\"n\":1,\"colors\":[]},{\"name\":\"\",\"n\":0,\"colors\":[]}]");
    RT("{\"rcolor\":[\"BLUE\",\"RED\"]}", "rcolor", "[\"BLUE\",\"RED\"]");
    RT("{\"mIInner\":{\"-5\":{\"n\":3},\"0\":{}}}", "mIInner",
       "{\"-5\":{\"name\":\"\",\"n\":3,\"colors\":[]},\"0\":{\"name\":\"\",\"n\":0,\"colors\":[]}}");
    RT("{\"mBS\":{\"true\":\"y\",\"false\":\"\"}}", "mBS", "{\"true\":\"y\",\"false\":\"\"}");
    RT("{\"mSColor\":{\"k\":\"GREEN\"}}", "mSColor", "{\"k\":\"GREEN\"}");
    RT("{\"mU64S\":{\"18446744073709551615\":\"max\"}}", "mU64S", "{\"18446744073709551615\":\"max\"}");
    /* oneof: the member given is set, even at its default; the others are null. */
    char *s = roundtrip(m, "{\"pS\":\"\"}");
    ASSERT_CONTAINS(s, "\"pS\":\"\",\"pInner\":null,\"pI64\":null");
    free(s);
    s = roundtrip(m, "{\"p_inner\":{}}");
    ASSERT_CONTAINS(s, "\"pS\":null,\"pInner\":{\"name\":\"\",\"n\":0,\"colors\":[]},\"pI64\":null");
    free(s);
    /* proto3 optional: present at its default, null when absent. */
    RT("{\"opt\":0}", "opt", "0");
    RT("{}", "opt", "null");
    /* Recursion. */
    s = roundtrip(m, "{\"child\":{\"child\":{\"i32\":4}}}");
    ASSERT_CONTAINS(s, "\"child\":{\"d\":0,");
    ASSERT_CONTAINS(s, "\"i32\":4,");
    free(s);
    mae__pb_pool_free(p);
}

TEST(well_known_types) {
    mae__pb_pool *p = rich_pool();
    const mae__pb_msg *m = all_msg(p);
    RT("{\"ts\":\"1972-01-01T10:00:20.021Z\"}", "ts", "\"1972-01-01T10:00:20.021Z\"");
    RT("{\"ts\":\"1970-01-01T00:00:00Z\"}", "ts", "\"1970-01-01T00:00:00Z\"");
    RT("{\"ts\":\"2026-12-05T08:00:00+01:00\"}", "ts", "\"2026-12-05T07:00:00Z\"");
    RT("{\"ts\":\"0001-01-01T00:00:00.000001Z\"}", "ts", "\"0001-01-01T00:00:00.000001Z\"");
    RT("{\"ts\":\"9999-12-31T23:59:59.999999999Z\"}", "ts", "\"9999-12-31T23:59:59.999999999Z\"");
    RT("{\"ts\":\"1969-12-31T23:59:59.5Z\"}", "ts", "\"1969-12-31T23:59:59.500Z\"");
    RT("{\"dur\":\"1.5s\"}", "dur", "\"1.500s\"");
    RT("{\"dur\":\"-0.000000001s\"}", "dur", "\"-0.000000001s\"");
    RT("{\"dur\":\"3s\"}", "dur", "\"3s\"");
    RT("{\"dur\":\"-315576000000s\"}", "dur", "\"-315576000000s\"");
    RT("{\"wI64\":\"7\"}", "wI64", "\"7\"");
    RT("{\"wI64\":0}", "wI64", "\"0\"");
    RT("{\"wS\":\"\"}", "wS", "\"\"");
    RT("{\"wB\":false}", "wB", "false");
    RT("{\"wD\":\"NaN\"}", "wD", "\"NaN\"");
    RT("{\"wBy\":\"AQI=\"}", "wBy", "\"AQI=\"");
    RT("{\"wU32\":9}", "wU32", "9");
    RT("{\"wF\":1.25}", "wF", "1.25");
    RT("{\"wI32\":-1}", "wI32", "-1");
    RT("{\"wU64\":\"18446744073709551615\"}", "wU64", "\"18446744073709551615\"");
    RT("{\"st\":{\"a\":[1,\"x\",null,true,{\"b\":{}}],\"c\":-0.5}}", "st",
       "{\"a\":[1,\"x\",null,true,{\"b\":{}}],\"c\":-0.5}");
    RT("{\"v\":null}", "v", "null");
    RT("{\"v\":\"s\"}", "v", "\"s\"");
    RT("{\"v\":[{}]}", "v", "[{}]");
    RT("{\"lv\":[1,[2]]}", "lv", "[1,[2]]");
    RT("{\"e\":{}}", "e", "{}");
    RT("{\"fm\":\"fooBar,a.bC\"}", "fm", "\"fooBar,a.bC\"");
    RT("{\"fm\":\"\"}", "fm", "\"\"");
    RT("{\"fm\":\",a,\"}", "fm", "\",a,\"");   /* empty paths kept, as protobuf splits */
    RT("{\"rts\":[\"2000-02-29T00:00:00Z\"]}", "rts", "[\"2000-02-29T00:00:00Z\"]");
    RT("{\"mVal\":{\"n\":null,\"o\":{\"p\":1}}}", "mVal", "{\"n\":null,\"o\":{\"p\":1}}");
    /* Any: a message's fields beside @type; a well-known type under "value". */
    RT("{\"any\":{\"@type\":\"type.googleapis.com/mae.rich.v1.Inner\",\"name\":\"q\"}}", "any",
       "{\"@type\":\"type.googleapis.com/mae.rich.v1.Inner\",\"name\":\"q\",\"n\":0,\"colors\":[]}");
    RT("{\"any\":{\"@type\":\"type.googleapis.com/google.protobuf.Duration\",\"value\":\"2s\"}}",
       "any", "{\"@type\":\"type.googleapis.com/google.protobuf.Duration\",\"value\":\"2s\"}");
    RT("{\"any\":{\"@type\":\"x/google.protobuf.Struct\",\"value\":{\"k\":[]}}}", "any",
       "{\"@type\":\"x/google.protobuf.Struct\",\"value\":{\"k\":[]}}");
    RT("{\"any\":{}}", "any", "{}");
    mae__pb_pool_free(p);
}

TEST(encode_errors_name_the_field) {
    mae__pb_pool *p = rich_pool();
    const mae__pb_msg *m = all_msg(p);
    ENC_ERR("{\"i32x\":1}", "i32x: no such field in mae.rich.v1.All (did you mean i32?)");
    ENC_ERR("{\"zzzzzzzzzzzz\":1}", "zzzzzzzzzzzz: no such field in mae.rich.v1.All");
    ENC_ERR("{\"i32\":\"twenty\"}", "i32: expected int32, got \"twenty\"");
    ENC_ERR("{\"i32\":2147483648}", "i32: expected int32, got 2147483648");
    ENC_ERR("{\"i32\":1.5}", "i32: expected int32, got 1.5");
    ENC_ERR("{\"u32\":-1}", "u32: expected uint32, got -1");
    ENC_ERR("{\"u64\":\"-1\"}", "u64: expected uint64, got \"-1\"");
    ENC_ERR("{\"i64\":\"9223372036854775808\"}", "i64: expected int64, got \"9223372036854775808\"");
    ENC_ERR("{\"i64\":\" 1\"}", "i64: expected int64, got \" 1\"");
    ENC_ERR("{\"b\":\"true\"}", "b: expected bool, got \"true\"");
    ENC_ERR("{\"s\":5}", "s: expected string, got 5");
    ENC_ERR("{\"by\":\"a*b\"}", "by: expected bytes (base64), got \"a*b\"");
    ENC_ERR("{\"f\":1e39}", "f: expected float, got 1e+39");
    ENC_ERR("{\"color\":\"PINK\"}", "color: expected a value of enum mae.rich.v1.Color, got \"PINK\"");
    ENC_ERR("{\"inner\":{\"n\":\"x\"}}", "inner.n: expected int32, got \"x\"");
    ENC_ERR("{\"inner\":{\"nme\":\"x\"}}", "inner.nme: no such field in mae.rich.v1.Inner (did you mean name?)");
    ENC_ERR("{\"inner\":[]}", "inner: expected object (mae.rich.v1.Inner), got []");
    ENC_ERR("{\"rinner\":[{},{\"n\":true}]}", "rinner[1].n: expected int32, got true");
    ENC_ERR("{\"ri32\":[1,null]}", "ri32[1]: expected an element, got null");
    ENC_ERR("{\"ri32\":5}", "ri32: expected array, got 5");
    ENC_ERR("{\"mSI64\":{\"k\":\"v\"}}", "mSI64.k: expected int64, got \"v\"");
    ENC_ERR("{\"mIInner\":{\"one\":{}}}", "mIInner.one: expected int32, got \"one\"");
    ENC_ERR("{\"mBS\":{\"yes\":\"\"}}", "mBS.yes: expected a bool map key, got \"yes\"");
    ENC_ERR("{\"pS\":\"a\",\"pI64\":1}", "pI64: oneof pick already has a value");
    ENC_ERR("{\"i32\":1,\"i_32\":2}", "i_32: no such field in mae.rich.v1.All (did you mean i32?)");
    ENC_ERR("{\"jo\":1,\"json_override\":2}", "json_override: field json_override given twice");
    ENC_ERR("{\"ts\":\"yesterday\"}", "ts: expected an RFC 3339 timestamp, got \"yesterday\"");
    ENC_ERR("{\"ts\":\"2023-02-29T00:00:00Z\"}", "ts: expected an RFC 3339 timestamp, got \"2023-02-29T00:00:00Z\"");
    ENC_ERR("{\"dur\":\"1.5\"}", "dur: expected a duration like \"1.5s\", got \"1.5\"");
    ENC_ERR("{\"dur\":\"315576000001s\"}", "dur: expected a duration like \"1.5s\", got \"315576000001s\"");
    ENC_ERR("{\"e\":{\"x\":1}}", "e: expected {} (google.protobuf.Empty), got {\"x\":1}");
    ENC_ERR("{\"fm\":\"a_b\"}", "fm: expected a field mask of lowerCamelCase paths, got \"a_b\"");
    ENC_ERR("{\"any\":{\"name\":\"x\"}}", "any: an Any needs a \"@type\"");
    ENC_ERR("{\"any\":{\"@type\":\"t/no.Such\"}}", "any: unknown Any type t/no.Such");
    ENC_ERR("{\"any\":{\"@type\":\"t/mae.rich.v1.Inner\",\"nam\":1}}",
            "any.nam: no such field in mae.rich.v1.Inner (did you mean name?)");
    ENC_ERR("{\"wI32\":\"x\"}", "wI32: expected int32, got \"x\"");
    ENC_ERR("[1]", "(input): expected object (mae.rich.v1.All), got [1]");
    mae__pb_pool_free(p);
}

/* Decodes hand-made bytes as All and returns the value of key, compact. */
static char *dec_key(const mae__pb_msg *m, const uint8_t *b, size_t n, const char *key) {
    cJSON *out = NULL;
    char err[128];
    int rc = mae__pb_decode(m, b, n, 0, &out, err, sizeof err);
    if (rc) th_fail(__FILE__, __LINE__, "decode: %d %s", rc, err);
    char *s = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(out, key));
    cJSON_Delete(out);
    return s;
}

#define DEC(bytes, key, want) do { static const uint8_t db_[] = bytes; \
    char *dk_ = dec_key(m, db_, sizeof db_, key); ASSERT_EQ_STR(dk_, want); free(dk_); } while (0)
#define B(...) {__VA_ARGS__}

TEST(decode_wire_cases) {
    mae__pb_pool *p = rich_pool();
    const mae__pb_msg *m = all_msg(p);
    /* ri32 (20) packed and unpacked, mixed; both forms are valid input. */
    DEC(B(0xa2, 0x01, 0x02, 0x01, 0x02, 0xa0, 0x01, 0x03), "ri32", "[1,2,3]");
    /* An unknown field (999, varint) and one of an unknown wire type combination are skipped. */
    DEC(B(0xb8, 0x3e, 0x05, 0x28, 0x07), "i32", "7");
    /* A known field with the wrong wire type is skipped like an unknown one. */
    DEC(B(0x2d, 1, 2, 3, 4, 0x28, 0x09), "i32", "9");
    /* The last value of a singular field wins. */
    DEC(B(0x28, 0x01, 0x28, 0x02), "i32", "2");
    /* A message given twice is merged: inner.name from the first, inner.n from the second. */
    DEC(B(0x9a, 0x01, 0x03, 0x0a, 0x01, 'a', 0x9a, 0x01, 0x02, 0x10, 0x05), "inner",
        "{\"name\":\"a\",\"n\":5,\"colors\":[]}");
    /* A later oneof member replaces an earlier one. */
    DEC(B(0xe2, 0x01, 0x01, 'x', 0xf0, 0x01, 0x04), "pS", "null");
    DEC(B(0xe2, 0x01, 0x01, 'x', 0xf0, 0x01, 0x04), "pI64", "\"4\"");
    /* A map entry with neither key nor value: the defaults. */
    DEC(B(0xca, 0x01, 0x00), "mIInner", "{\"0\":{\"name\":\"\",\"n\":0,\"colors\":[]}}");
    /* Duplicate map keys: the last wins. */
    DEC(B(0xc2, 0x01, 0x05, 0x0a, 0x01, 'k', 0x10, 0x01, 0xc2, 0x01, 0x05, 0x0a, 0x01, 'k', 0x10,
          0x02), "mSI64", "{\"k\":\"2\"}");
    /* An enum number nobody declared stays a number. */
    DEC(B(0x70, 0x09), "color", "9");
    /* int32 -1 is sent as a 10-byte varint. */
    DEC(B(0x28, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), "i32", "-1");
    /* A group (wire type 3..4) of an unknown field is skipped. */
    DEC(B(0xbb, 0x3e, 0x08, 0x01, 0xbc, 0x3e, 0x28, 0x03), "i32", "3");
    mae__pb_pool_free(p);
}

static int dec_rc(const mae__pb_msg *m, const uint8_t *b, size_t n, size_t max, char *err,
                  size_t cap) {
    cJSON *out = NULL;
    int rc = mae__pb_decode(m, b, n, max, &out, err, cap);
    cJSON_Delete(out);
    if (rc) ASSERT_NULL(out);
    return rc;
}

TEST(decode_malformed_and_limits) {
    mae__pb_pool *p = rich_pool();
    const mae__pb_msg *m = all_msg(p);
    char err[256];
    static const uint8_t trunc[] = {0x4a, 0x05, 'a'};
    ASSERT_EQ_INT(dec_rc(m, trunc, sizeof trunc, 0, err, sizeof err), MAE_EDECODE);
    ASSERT_CONTAINS(err, "malformed protobuf at byte 0");
    static const uint8_t badutf[] = {0x4a, 0x01, 0xff};
    ASSERT_EQ_INT(dec_rc(m, badutf, sizeof badutf, 0, err, sizeof err), MAE_EDECODE);
    ASSERT_CONTAINS(err, "invalid UTF-8");
    static const uint8_t endgroup[] = {0x0c};
    ASSERT_EQ_INT(dec_rc(m, endgroup, sizeof endgroup, 0, err, sizeof err), MAE_EDECODE);
    static const uint8_t longvarint[] = {0x28, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
    ASSERT_EQ_INT(dec_rc(m, longvarint, sizeof longvarint, 0, err, sizeof err), MAE_EDECODE);
    static const uint8_t badts[] = {0x82, 0x02, 0x0c, 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x10, 0x00};
    ASSERT_EQ_INT(dec_rc(m, badts, sizeof badts, 0, err, sizeof err), MAE_EDECODE);
    ASSERT_CONTAINS(err, "google.protobuf.Timestamp out of range");

    /* Nesting: child (51) inside child, 70 deep, on the wire and as JSON. */
    char json[2048] = "";
    for (int i = 0; i < 70; i++) strcat(json, "{\"child\":");
    strcat(json, "{}");
    for (int i = 0; i < 70; i++) strcat(json, "}");
    ASSERT_EQ_INT(enc_err(m, json, err, sizeof err), MAE_ETEMPLATE);
    ASSERT_CONTAINS(err, "nested deeper than 64");
    /* 70 levels of wire nesting, length prefixes as two-byte varints where needed. */
    uint8_t *w = malloc(4096), *t = malloc(4096);
    size_t wl = 0;
    for (int i = 0; i < 70; i++) {
        size_t tl = 0;
        t[tl++] = 0x9a;
        t[tl++] = 0x03;
        size_t l = wl;
        do {
            t[tl++] = (uint8_t)((l & 0x7f) | (l > 0x7f ? 0x80 : 0));
            l >>= 7;
        } while (l);
        memcpy(t + tl, w, wl);
        tl += wl;
        memcpy(w, t, tl);
        wl = tl;
    }
    ASSERT_EQ_INT(dec_rc(m, w, wl, 0, err, sizeof err), MAE_ELIMIT);
    ASSERT_CONTAINS(err, "nested deeper");
    free(w);
    free(t);

    /* max_out: a 100 KB string does not fit in 10 KB of output. */
    cJSON *big = cJSON_CreateObject();
    char *s = malloc(100001);
    memset(s, 'x', 100000);
    s[100000] = 0;
    cJSON_AddStringToObject(big, "s", s);
    free(s);
    uint8_t *buf;
    size_t len;
    ASSERT_EQ_INT(mae__pb_encode(m, big, 0, &buf, &len, err, sizeof err), 0);
    cJSON_Delete(big);
    ASSERT_EQ_INT(dec_rc(m, buf, len, 10000, err, sizeof err), MAE_ELIMIT);
    ASSERT_CONTAINS(err, "max_out");
    ASSERT_EQ_INT(dec_rc(m, buf, len, 200000, err, sizeof err), 0);
    free(buf);
    /* Many empty elements cost output too: 50,000 empty rinner (23) entries, 3 bytes each. */
    uint8_t *many = malloc(150000);
    for (size_t i = 0; i < 50000; i++) {
        many[i * 3] = 0xba;
        many[i * 3 + 1] = 0x01;
        many[i * 3 + 2] = 0x00;
    }
    ASSERT_EQ_INT(dec_rc(m, many, 150000, 100000, err, sizeof err), MAE_ELIMIT);
    ASSERT_EQ_INT(dec_rc(m, many, 150000, 0, err, sizeof err), 0);
    free(many);
    mae__pb_pool_free(p);
}

/* google.rpc types written for this test (the built-ins of pb_status.c must agree with them),
 * and a detail type of the service's own. */
static const char *const RPC_PROTO =
    "syntax = \"proto3\";\n"
    "package google.rpc;\n"
    "import \"google/protobuf/any.proto\";\n"
    "import \"google/protobuf/duration.proto\";\n"
    "message Status { int32 code = 1; string message = 2; repeated google.protobuf.Any details = 3; }\n"
    "message BadRequest { message FieldViolation { string field = 1; string description = 2; }\n"
    "  repeated FieldViolation field_violations = 1; }\n"
    "message RetryInfo { google.protobuf.Duration retry_delay = 1; }\n"
    "message ErrorInfo { string reason = 1; string domain = 2; map<string, string> metadata = 3; }\n"
    "message Help { message Link { string description = 1; string url = 2; } repeated Link links = 1; }\n"
    "message Custom { int64 quota = 1; }\n";

TEST(status_details) {
    mae__pb_pool *p = fx_pool1(RPC_PROTO);
    const mae__pb_msg *st = mae__pb_pool_message(p, "google.rpc.Status");
    ASSERT_NOT_NULL(st);
    cJSON *in = cJSON_Parse(
        "{\"code\":3,\"message\":\"bad disk\",\"details\":["
        "{\"@type\":\"type.googleapis.com/google.rpc.BadRequest\",\"fieldViolations\":"
        "[{\"field\":\"disk_gb\",\"description\":\"too big\"}]},"
        "{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":\"1.250s\"},"
        "{\"@type\":\"type.googleapis.com/google.rpc.ErrorInfo\",\"reason\":\"R\",\"domain\":\"d\","
        "\"metadata\":{\"k\":\"v\"}},"
        "{\"@type\":\"type.googleapis.com/google.rpc.Help\",\"links\":[{\"url\":\"u\"}]},"
        "{\"@type\":\"type.googleapis.com/google.rpc.Custom\",\"quota\":\"5\"}]}");
    uint8_t *buf;
    size_t len;
    char err[256];
    ASSERT_EQ_INT(mae__pb_encode(st, in, 0, &buf, &len, err, sizeof err), 0);
    cJSON_Delete(in);

    cJSON *out = NULL;
    int64_t delay = 0;
    ASSERT_EQ_INT(mae__pb_status_decode(NULL, buf, len, &out, &delay), 0);
    ASSERT_EQ_INT(delay, 1250);
    char *s = cJSON_PrintUnformatted(out);
    ASSERT_EQ_STR(s,
        "{\"code\":3,\"message\":\"bad disk\",\"details\":["
        "{\"@type\":\"type.googleapis.com/google.rpc.BadRequest\",\"fieldViolations\":"
        "[{\"field\":\"disk_gb\",\"description\":\"too big\"}]},"
        "{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":\"1.250s\"},"
        "{\"@type\":\"type.googleapis.com/google.rpc.ErrorInfo\",\"reason\":\"R\",\"domain\":\"d\","
        "\"metadata\":{\"k\":\"v\"}},"
        "{\"@type\":\"type.googleapis.com/google.rpc.Help\",\"links\":[{\"description\":\"\","
        "\"url\":\"u\"}]},"
        "{\"@type\":\"type.googleapis.com/google.rpc.Custom\",\"value\":\"CAU=\"}]}");
    free(s);
    cJSON_Delete(out);
    /* With the service's pool the custom detail is decoded too. */
    ASSERT_EQ_INT(mae__pb_status_decode(p, buf, len, &out, &delay), 0);
    s = cJSON_PrintUnformatted(out);
    ASSERT_CONTAINS(s, "{\"@type\":\"type.googleapis.com/google.rpc.Custom\",\"quota\":\"5\"}");
    free(s);
    cJSON_Delete(out);
    free(buf);

    /* No RetryInfo: -1; garbage: EDECODE. */
    static const uint8_t plain[] = {0x08, 0x05, 0x12, 0x02, 'n', 'o'};
    ASSERT_EQ_INT(mae__pb_status_decode(NULL, plain, sizeof plain, &out, &delay), 0);
    ASSERT_EQ_INT(delay, -1);
    s = cJSON_PrintUnformatted(out);
    ASSERT_EQ_STR(s, "{\"code\":5,\"message\":\"no\",\"details\":[]}");
    free(s);
    cJSON_Delete(out);
    static const uint8_t junk[] = {0x1a, 0x09, 0x01};
    ASSERT_EQ_INT(mae__pb_status_decode(NULL, junk, sizeof junk, &out, &delay), MAE_EDECODE);
    ASSERT_NULL(out);
    mae__pb_pool_free(p);
}

/* The fuzz target's committed descriptor set is the one protoc-c makes of pb_rich.proto today. */
TEST(fuzz_fixture_is_current) {
    char *text = th_read_file(th_path("tests/servers/pb_rich.proto"), NULL);
    ASSERT_NOT_NULL(text);
    const char *files[] = {"pb_rich.proto", text};
    size_t len, flen;
    uint8_t *set = fx_protoset(files, 1, &len, NULL);
    char *fixture = th_read_file(th_path("tests/fuzz/pb_rich.protoset"), &flen);
    ASSERT_NOT_NULL(fixture);
    if (len != flen || memcmp(set, fixture, len) != 0)
        th_fail(__FILE__, __LINE__, "tests/fuzz/pb_rich.protoset is stale; regenerate it with: "
                "protoc-c -Itests/servers -I" FX_WKT_DIR " --descriptor_set_out="
                "tests/fuzz/pb_rich.protoset --include_imports tests/servers/pb_rich.proto");
    free(set);
    free(fixture);
    free(text);
}

/* Work grows with the input, not with its square: 200,000 map entries with one key and
 * 100,000 pieces of one message field decode well inside the test's time limit (a lookup per
 * entry or a copy per piece would take minutes). */
TEST(decode_is_not_quadratic) {
    mae__pb_pool *p = rich_pool();
    const mae__pb_msg *m = all_msg(p);
    size_t n = 200000;
    /* mSI64 (24): entry {key "k", value i} = c2 01 05 0a 01 'k' 10 <varint i, < 128> */
    uint8_t *b = malloc(n * 8);
    for (size_t i = 0; i < n; i++) {
        uint8_t e[] = {0xc2, 0x01, 0x05, 0x0a, 0x01, 'k', 0x10, (uint8_t)(i % 100)};
        memcpy(b + i * 8, e, 8);
    }
    char *s = dec_key(m, b, n * 8, "mSI64");
    ASSERT_EQ_STR(s, "{\"k\":\"99\"}");
    free(s);
    free(b);
    /* 200,000 distinct four-letter keys. */
    b = malloc(n * 11);
    for (size_t i = 0; i < n; i++) {
        uint8_t e[] = {0xc2, 0x01, 0x08, 0x0a, 0x04, (uint8_t)('a' + i % 26),
                       (uint8_t)('a' + i / 26 % 26), (uint8_t)('a' + i / 676 % 26),
                       (uint8_t)('a' + i / 17576 % 26), 0x10, 0x01};
        memcpy(b + i * 11, e, 11);
    }
    cJSON *out = NULL;
    char err[128];
    ASSERT_EQ_INT(mae__pb_decode(m, b, n * 11, 0, &out, err, sizeof err), 0);
    ASSERT_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(out, "mSI64")), 200000);
    cJSON_Delete(out);
    free(b);
    /* inner (19), 100,000 times a piece setting name to a 35-byte string. */
    n = 100000;
    b = malloc(n * 40);
    for (size_t i = 0; i < n; i++) {
        uint8_t *e = b + i * 40;
        e[0] = 0x9a;
        e[1] = 0x01;
        e[2] = 37;
        e[3] = 0x0a;
        e[4] = 35;
        memset(e + 5, 'a' + (int)(i % 26), 35);
    }
    s = dec_key(m, b, n * 40, "inner");
    ASSERT_CONTAINS(s, "\"name\":\"ddddddddddddddddddddddddddddddddddd\"");
    free(s);
    free(b);
    mae__pb_pool_free(p);
}

/* A map key given twice keeps the later value, in the place of the first. */
TEST(decode_duplicate_keys) {
    mae__pb_pool *p = rich_pool();
    const mae__pb_msg *m = all_msg(p);
    static const uint8_t b[] = {
        0xc2, 0x01, 0x05, 0x0a, 0x01, 'a', 0x10, 0x01,   /* a: 1 */
        0xc2, 0x01, 0x05, 0x0a, 0x01, 'b', 0x10, 0x02,   /* b: 2 */
        0xc2, 0x01, 0x05, 0x0a, 0x01, 'a', 0x10, 0x03,   /* a: 3 */
        0xc2, 0x01, 0x05, 0x0a, 0x01, 'a', 0x10, 0x04,   /* a: 4 */
        0xc2, 0x01, 0x05, 0x0a, 0x01, 'c', 0x10, 0x05,   /* c: 5 */
        0xc2, 0x01, 0x05, 0x0a, 0x01, 'b', 0x10, 0x06,   /* b: 6 */
    };
    char *s = dec_key(m, b, sizeof b, "mSI64");
    ASSERT_EQ_STR(s, "{\"a\":\"4\",\"b\":\"6\",\"c\":\"5\"}");
    free(s);
    /* The same in a Struct (st, 43): fields {x: 1} then {x: "y"}. */
    static const uint8_t st[] = {
        0xda, 0x02, 0x1a,
        0x0a, 0x0e, 0x0a, 0x01, 'x', 0x12, 0x09, 0x11, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f,
        0x0a, 0x08, 0x0a, 0x01, 'x', 0x12, 0x03, 0x1a, 0x01, 'y',
    };
    s = dec_key(m, st, sizeof st, "st");
    ASSERT_EQ_STR(s, "{\"x\":\"y\"}");
    free(s);
    mae__pb_pool_free(p);
}

/* proto2: explicit presence (a field given at its default is sent), packed only when asked,
 * groups refused when encoding and skipped when decoding. */
TEST(proto2_fields) {
    mae__pb_pool *p = fx_pool1(
        "syntax = \"proto2\";\n"
        "package p2;\n"
        "message M {\n"
        "  optional int32 a = 1; required string b = 2;\n"
        "  repeated int32 c = 3 [packed = true]; repeated int32 d = 4;\n"
        "  optional group G = 5 { optional int32 x = 6; }\n"
        "  optional int32 after = 7;\n"
        "}\n");
    const mae__pb_msg *m = mae__pb_pool_message(p, "p2.M");
    ASSERT_NOT_NULL(m);
    cJSON *in = cJSON_Parse("{\"a\":0,\"b\":\"\",\"c\":[1,2],\"d\":[1,2]}");
    uint8_t *buf;
    size_t len;
    char err[256];
    ASSERT_EQ_INT(mae__pb_encode(m, in, 0, &buf, &len, err, sizeof err), 0);
    cJSON_Delete(in);
    static const uint8_t want[] = {0x08, 0x00, 0x12, 0x00, 0x1a, 0x02, 0x01, 0x02,
                                   0x20, 0x01, 0x20, 0x02};
    ASSERT_EQ_INT(len, sizeof want);
    ASSERT_TRUE(memcmp(buf, want, len) == 0);
    free(buf);
    in = cJSON_Parse("{\"g\":{\"x\":1}}");
    ASSERT_EQ_INT(mae__pb_encode(m, in, 0, &buf, &len, err, sizeof err), MAE_ETEMPLATE);
    ASSERT_EQ_STR(err, "g: groups are not supported");
    cJSON_Delete(in);
    /* A group on the wire (5, start .. end) holding x, then after = 9. */
    static const uint8_t grp[] = {0x2b, 0x30, 0x01, 0x2c, 0x38, 0x09};
    cJSON *out = NULL;
    ASSERT_EQ_INT(mae__pb_decode(m, grp, sizeof grp, 0, &out, err, sizeof err), 0);
    char *s = cJSON_PrintUnformatted(out);
    ASSERT_EQ_STR(s, "{\"a\":0,\"b\":\"\",\"c\":[],\"d\":[],\"g\":null,\"after\":9}");
    free(s);
    cJSON_Delete(out);
    mae__pb_pool_free(p);
}

/* FieldMask paths of any length go both ways (a fixed buffer once refused long ones on decode
 * that encode had accepted: found by fuzzing). */
TEST(field_mask_long_paths) {
    mae__pb_pool *p = rich_pool();
    const mae__pb_msg *m = all_msg(p);
    char json[2200] = "{\"fm\":\"a";
    for (int i = 0; i < 500; i++) strcat(json, "bC");
    strcat(json, ",x\"}");
    char *s = rt_key(m, json, "fm");
    ASSERT_EQ_INT(strlen(s), 1 + 1001 + 2 + 1);   /* quotes, path, ",x" */
    ASSERT_CONTAINS(s, "bCbC");
    free(s);
    mae__pb_pool_free(p);
}
