/* grpc_envwire.c against protobuf-c, the way the envelope was encoded and decoded before: the
 * request bytes must be identical for the same values, and a reply must decode to the same
 * result (return code, JSON text, application error) whether or not the direct reader takes it.
 * Fixed cases cover the edges (empty Struct, lengths of 128 bytes and more, depth 64 and 65,
 * duplicate keys, NaN, NUL bytes, fields protobuf-c accepts but the direct reader leaves to it);
 * seeded random trees and byte mutations of their encodings cover the rest. */
#include <math.h>

#include "grpc_h2/grpc_envwire.h"
#include "grpc_h2/grpc_msgcodec.h"
#include "grpc_h2/grpc_struct.h"
#include "harness.h"
#include "maestro/maestro.h"
#include "maestro/internal/envelope.pb-c.h"

/* The request as grpc_envelope.c built it before grpc_envwire.c (protobuf-c objects). */
static int old_request(const char *method, const cJSON *input, const char *run, const char *step,
                       const mae_header_kv *h, size_t nh, uint8_t **out, size_t *len) {
    Mae__Pb__ServiceRequest r = MAE__PB__SERVICE_REQUEST__INIT;
    Mae__Pb__Any any;
    cJSON *none = input ? NULL : cJSON_CreateObject();
    int rc = mae__grpc_any_pack_json(input ? input : none, &any);
    cJSON_Delete(none);
    if (rc < 0) return rc;
    char corr[256];
    snprintf(corr, sizeof corr, "%s:%s", run, step);
    Mae__Pb__ServiceRequest__HeadersEntry ents[8], *eps[8];
    for (size_t i = 0; i < nh; i++) {
        mae__pb__service_request__headers_entry__init(&ents[i]);
        ents[i].key = (char *)h[i].name;
        ents[i].value = (char *)h[i].value;
        eps[i] = &ents[i];
    }
    r.method = (char *)method;
    r.payload = &any;
    r.workflow_id = (char *)run;
    r.step_id = (char *)step;
    r.correlation_id = corr;
    r.n_headers = nh;
    r.headers = eps;
    *out = malloc(mae__pb__service_request__get_packed_size(&r) + 1);
    *len = mae__pb__service_request__pack(&r, *out);
    mae__grpc_any_clear(&any);
    return 0;
}

static void same_request(const char *what, const cJSON *input, const mae_header_kv *h, size_t nh) {
    uint8_t *a = NULL, *b = NULL;
    size_t al = 0, bl = 0;
    int ra = old_request("Echo", input, "run1", "step1", h, nh, &a, &al);
    int rb = mae__envwire_request("Echo", input, "run1", "step1", h, nh, 5, &b, &bl);
    if (ra != rb) th_fail(__FILE__, __LINE__, "%s: protobuf-c %d, direct %d", what, ra, rb);
    if (ra == 0 && (al != bl || memcmp(a, b + 5, al) != 0))
        th_fail(__FILE__, __LINE__, "%s: %zu bytes from protobuf-c, %zu direct, or they differ", what, al, bl);
    free(a);
    free(b);
}

/* Decodes bytes both ways; returns whether the direct reader took them. */
static bool same_reply(const char *what, const uint8_t *p, size_t len) {
    mae_grpc_reply x, y;
    int rx = mae__grpc_env_decode_general(p, len, &x);
    int ry = mae__grpc_envelope_codec.decode(&mae__grpc_envelope_codec, p, len, &y);
    mae_grpc_reply z;
    int rz = mae__envwire_response(p, len, &z);
    bool direct = rz != MAE__ENVWIRE_OTHER;
    if (direct) {
        cJSON_Delete(z.output);
        free(z.error);
    }
    char *jx = rx == 0 && x.output ? cJSON_PrintUnformatted(x.output) : NULL;
    char *jy = ry == 0 && y.output ? cJSON_PrintUnformatted(y.output) : NULL;
    if (rx != ry || (rx == 0 && (x.app_error != y.app_error || !jx != !jy || (jx && strcmp(jx, jy)) ||
                                 !x.error != !y.error || (x.error && strcmp(x.error, y.error)))))
        { if (getenv("ENVWIRE_DUMP")) { for (size_t i = 0; i < len; i++) printf("%02x", p[i]); printf("\n"); }
        th_fail(__FILE__, __LINE__, "%s: protobuf-c %d %s / %s, codec %d %s / %s", what, rx, jx ? jx : "-",
                rx == 0 && x.error ? x.error : "-", ry, jy ? jy : "-", ry == 0 && y.error ? y.error : "-"); }
    if (rx == 0) {
        cJSON_Delete(x.output);
        free(x.error);
    }
    if (ry == 0) {
        cJSON_Delete(y.output);
        free(y.error);
    }
    free(jx);
    free(jy);
    return direct;
}

static void reply_of(const cJSON *data, uint8_t **out, size_t *len) {
    ASSERT_EQ_INT(mae__grpc_env_reply_encode(true, data, NULL, out, len), 0);
}

static cJSON *nest(int depth, bool arrays) {
    cJSON *v = cJSON_CreateNumber(1);
    for (int i = 0; i < depth; i++) {
        cJSON *c = arrays ? cJSON_CreateArray() : cJSON_CreateObject();
        if (arrays) cJSON_AddItemToArray(c, v);
        else cJSON_AddItemToObject(c, "k", v);
        v = c;
    }
    return v;
}

TEST(envwire_request_bytes_equal_protobuf_c) {
    static const char *cases[] = {
        "{}", "{\"id\":\"x\"}", "null", "42", "-0.0", "true", "\"\"", "[]", "[null,{},[],\"\"]",
        "{\"\":1,\"a\":{\"\":{}},\"b\":[1,2.5,-3e300,1e-300],\"c\":false,\"d\":null}",
        "{\"dup\":1,\"dup\":2}",
        "{\"unicode\":\"h\u00e9llo \xf0\x9f\x98\x80\"}",
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cJSON *j = cJSON_Parse(cases[i]);
        ASSERT_NOT_NULL(j);
        same_request(cases[i], j, NULL, 0);
        cJSON_Delete(j);
    }
    same_request("no input", NULL, NULL, 0);
    mae_header_kv h[] = {{"x-a", "1"}, {"", ""}, {"x-b", ""}, {"", "v"}};
    same_request("headers", NULL, h, 4);
    /* lengths of 127, 128 and 16384 bytes: one, two and three length bytes */
    for (size_t n = 120; n < 140; n++) {
        char *s = malloc(n + 1);
        memset(s, 'a', n);
        s[n] = 0;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "s", s);
        same_request("long string", o, NULL, 0);
        cJSON *l = cJSON_CreateArray();
        cJSON_AddItemToArray(l, o);
        same_request("long string in a list", l, NULL, 0);
        cJSON_Delete(l);
        free(s);
    }
    cJSON *big = cJSON_CreateObject();
    for (int i = 0; i < 2000; i++) {
        char k[16];
        snprintf(k, sizeof k, "key%d", i);
        cJSON_AddItemToObject(big, k, nest(3, i % 2));
    }
    same_request("2000 keys", big, NULL, 0);
    cJSON_Delete(big);
    /* depth: 64 containers are fine, 65 are MAE_ELIMIT both ways */
    for (int d = 62; d <= 66; d++) {
        cJSON *o = nest(d, false), *a = nest(d, true);
        same_request("deep object", o, NULL, 0);
        same_request("deep array", a, NULL, 0);
        cJSON_Delete(o);
        cJSON_Delete(a);
    }
    cJSON *raw = cJSON_CreateObject();
    cJSON_AddItemToObject(raw, "r", cJSON_CreateRaw("1"));
    same_request("raw", raw, NULL, 0);
    uint8_t *b;
    size_t bl;
    ASSERT_EQ_INT(mae__envwire_request("M", raw, "r", "s", NULL, 0, 5, &b, &bl), MAE_EINVAL);
    cJSON_Delete(raw);
}

/* A seeded random JSON tree of at most `depth` levels. */
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static cJSON *random_tree(int depth) {
    static const double nums[] = {0, -0.0, 1, -1, 0.5, 1e300, -2.5e-300, 9007199254740993.0, 42};
    static const char *strs[] = {"", "a", "dup", "h\u00e9llo", "a longer string of text"};
    switch (rnd() % (depth > 0 ? 7 : 4)) {
    case 0: return cJSON_CreateNull();
    case 1: return cJSON_CreateBool(rnd() % 2);
    case 2: return cJSON_CreateNumber(nums[rnd() % 9]);
    case 3: return cJSON_CreateString(strs[rnd() % 5]);
    case 4: case 5: {
        cJSON *o = cJSON_CreateObject();
        for (int n = (int)(rnd() % 6); n > 0; n--)
            cJSON_AddItemToObject(o, strs[rnd() % 5], random_tree(depth - 1));  /* keys repeat */
        return o;
    }
    default: {
        cJSON *a = cJSON_CreateArray();
        for (int n = (int)(rnd() % 5); n > 0; n--) cJSON_AddItemToArray(a, random_tree(depth - 1));
        return a;
    }
    }
}

TEST(envwire_random_trees_both_ways) {
    /* ENVWIRE_N=200000 for a longer search */
    int runs = getenv("ENVWIRE_N") ? atoi(getenv("ENVWIRE_N")) : 3000;
    int direct = 0, mutated_direct = 0;
    for (int i = 0; i < runs; i++) {
        cJSON *t = random_tree(1 + (int)(rnd() % 5));
        same_request("random tree", t, NULL, 0);
        uint8_t *p;
        size_t len;
        reply_of(t, &p, &len);
        /* protobuf-c's own bytes are canonical: the direct reader takes every one */
        if (same_reply("random reply", p, len)) direct++;
        /* and mutated bytes decode the same either way */
        for (int m = 0; m < 4 && len; m++) {
            uint8_t *q = malloc(len);
            memcpy(q, p, len);
            size_t ql = len;
            switch (rnd() % 3) {
            case 0: q[rnd() % ql] ^= (uint8_t)(1u << (rnd() % 8)); break;
            case 1: q[rnd() % ql] = (uint8_t)rnd(); break;
            default: ql = (size_t)(rnd() % ql); break;
            }
            if (same_reply("mutated reply", q, ql)) mutated_direct++;
            free(q);
        }
        free(p);
        cJSON_Delete(t);
    }
    ASSERT_EQ_INT(direct, runs);
    ASSERT_CMP_INT(mutated_direct, >, 0);
}

/* Prepends a length-delimited field (tag, varint length) to the n bytes at b + off. */
static size_t wrap(uint8_t *b, size_t off, size_t n, uint8_t tag) {
    uint8_t hdr[11];
    size_t h = 0;
    hdr[h++] = tag;
    size_t v = n;
    do {
        hdr[h++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
        v >>= 7;
    } while (v);
    memcpy(b + off - h, hdr, h);
    return h;
}

/* A successful ServiceResponse whose data is a ListValue nesting d ListValues in all. */
static uint8_t *deep_lists(int d, size_t *len) {
    size_t cap = 4096, off = cap, n = 0;
    uint8_t *b = calloc(1, cap);
    for (int i = 1; i < d; i++) {
        size_t h = wrap(b, off, n, 0x32);   /* Value.list_value */
        off -= h, n += h;
        h = wrap(b, off, n, 0x0a);          /* ListValue.values */
        off -= h, n += h;
    }
    size_t h = wrap(b, off, n, 0x12);       /* Any.value */
    off -= h, n += h;
    const char *url = MAE_GRPC_TYPE_LIST;
    off -= strlen(url);
    memcpy(b + off, url, strlen(url));
    n += strlen(url);
    h = wrap(b, off, strlen(url), 0x0a);    /* Any.type_url */
    off -= h, n += h;
    h = wrap(b, off, n, 0x12);              /* ServiceResponse.data */
    off -= h, n += h;
    b[--off] = 0x01;
    b[--off] = 0x08;                         /* success */
    n += 2;
    uint8_t *o = malloc(n);
    memcpy(o, b + off, n);
    free(b);
    *len = n;
    return o;
}

/* Bytes written by hand: what protobuf-c accepts but writes differently. */
TEST(envwire_reply_edge_cases) {
    /* duplicate keys: the last wins, at its own position. Entries {key} only: value absent,
     * so null. Keys a, b, a: {"b":null,"a":null} */
    const char *surl = MAE_GRPC_TYPE_STRUCT;
    uint8_t msg[128] = {0x08, 0x01, 0x12, 0, 0x0a, (uint8_t)strlen(surl)};
    size_t n = 6;
    memcpy(msg + n, surl, strlen(surl));
    n += strlen(surl);
    msg[n++] = 0x12;
    size_t vstart = n++;
    const char keys[] = "aba";
    for (int i = 0; i < 3; i++) {
        msg[n++] = 0x0a;
        msg[n++] = 0x03;
        msg[n++] = 0x0a;
        msg[n++] = 0x01;
        msg[n++] = (uint8_t)keys[i];
    }
    msg[3] = (uint8_t)(n - 4);
    msg[vstart] = (uint8_t)(n - vstart - 1);
    ASSERT_TRUE(same_reply("duplicate keys", msg, n));
    mae_grpc_reply r;
    ASSERT_EQ_INT(mae__envwire_response(msg, n, &r), 0);
    char *t = cJSON_PrintUnformatted(r.output);
    ASSERT_EQ_STR(t, "{\"b\":null,\"a\":null}");
    free(t);
    cJSON_Delete(r.output);

    /* a NaN becomes null; a Value with two members, an unknown field, metadata and a string with
     * NUL go the general way and still agree */
    cJSON *v = cJSON_CreateNumber(1);
    uint8_t *p;
    size_t len;
    reply_of(v, &p, &len);
    cJSON_Delete(v);
    ASSERT_EQ_INT(p[len - 9], 0x11);
    double nan = NAN;
    memcpy(p + len - 8, &nan, 8);
    ASSERT_TRUE(same_reply("NaN", p, len));
    ASSERT_EQ_INT(mae__envwire_response(p, len, &r), 0);
    ASSERT_TRUE(cJSON_IsNull(r.output));
    cJSON_Delete(r.output);
    free(p);

    static const uint8_t failure[] = {0x08, 0x00, 0x1a, 0x04, 'b', 'o', 'o', 'm'};
    ASSERT_TRUE(same_reply("failure", failure, sizeof failure));
    static const uint8_t failure_empty[] = {0x08, 0x00};
    ASSERT_TRUE(same_reply("failure without words", failure_empty, sizeof failure_empty));
    /* an empty message (success unset: a failure) may be handed over as NULL (found by fuzzing:
       UBSan, arithmetic on a null pointer) */
    ASSERT_TRUE(same_reply("empty message", NULL, 0));
    static const uint8_t nul_error[] = {0x08, 0x00, 0x1a, 0x03, 'a', 0x00, 'b'};
    ASSERT_FALSE(same_reply("NUL in the error", nul_error, sizeof nul_error));
    static const uint8_t twice[] = {0x08, 0x00, 0x08, 0x01};
    ASSERT_FALSE(same_reply("success given twice", twice, sizeof twice));
    static const uint8_t unknown[] = {0x08, 0x01, 0x28, 0x05};
    ASSERT_FALSE(same_reply("unknown field", unknown, sizeof unknown));
    static const uint8_t metadata[] = {0x08, 0x01, 0x22, 0x06, 0x0a, 0x01, 'k', 0x12, 0x01, 'v'};
    ASSERT_FALSE(same_reply("metadata", metadata, sizeof metadata));
    static const uint8_t no_data[] = {0x08, 0x01};
    ASSERT_TRUE(same_reply("success without data", no_data, sizeof no_data));
    static const uint8_t bad_url[] = {0x08, 0x01, 0x12, 0x05, 0x0a, 0x03, 'x', '/', 'y'};
    ASSERT_TRUE(same_reply("unknown type", bad_url, sizeof bad_url));
    ASSERT_EQ_INT(mae__envwire_response(bad_url, sizeof bad_url, &r), MAE_EDECODE);
    /* Value {null_value: 0, bool_value: true}: two members of the oneof */
    uint8_t two[64] = {0x08, 0x01, 0x12, 0};
    size_t k = 4;
    const char *url = MAE_GRPC_TYPE_VALUE;
    two[k++] = 0x0a;
    two[k++] = (uint8_t)strlen(url);
    memcpy(two + k, url, strlen(url));
    k += strlen(url);
    const uint8_t val[] = {0x12, 0x04, 0x08, 0x00, 0x20, 0x01};
    memcpy(two + k, val, sizeof val);
    k += sizeof val;
    two[3] = (uint8_t)(k - 4);
    ASSERT_FALSE(same_reply("two members", two, k));

    /* depth: ListValues nested 64 deep decode directly; 65 go the general way (MAE_ELIMIT) */
    for (int d = 63; d <= 66; d++) {
        uint8_t *b = deep_lists(d, &len);
        bool direct = same_reply("deep lists", b, len);
        if (direct != (d <= 64)) th_fail(__FILE__, __LINE__, "depth %d: direct %d", d, direct);
        mae_grpc_reply y;
        int rc = mae__grpc_envelope_codec.decode(&mae__grpc_envelope_codec, b, len, &y);
        ASSERT_EQ_INT(rc, d <= 64 ? 0 : MAE_ELIMIT);
        if (rc == 0) cJSON_Delete(y.output);
        free(b);
    }
}
