/* Differential test of the proto3 JSON codec against Python's protobuf runtime (the reference):
 * 1,000 random messages of the rich schema (tests/servers/pb_rich.proto) from a fixed seed.
 * Python parses each JSON text and serializes it; Maestro encodes the same text and decodes
 * Python's bytes; tests/servers/pb_diff.py then checks that Python reads Maestro's bytes as it
 * read the JSON, and that Maestro reads Python's bytes as Python prints them
 * (json_format.MessageToDict with default values). Zero differences allowed. */
#include <math.h>

#include "grpc_h2/pb.h"
#include "harness.h"
#include "maestro/maestro.h"
#include "pb_fx.h"

#define N_MESSAGES 1000

static uint64_t rng_state;

static uint64_t rnd(void) {   /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static unsigned pick(unsigned n) { return (unsigned)(rnd() % n); }
static bool coin(void) { return rnd() & 1; }

/* Integers near the edges as often as anywhere. */
static uint64_t rnd_bits(void) {
    switch (pick(6)) {
    case 0: return 0;
    case 1: return pick(10);
    case 2: return rnd();
    case 3: return ~0ull - pick(3);
    case 4: return 1ull << pick(64);
    default: return rnd() >> pick(64);
    }
}

static cJSON *int_json(int64_t v, bool quoted_ok) {
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    if (quoted_ok && coin()) return cJSON_CreateString(buf);
    return cJSON_CreateNumber((double)v);
}

static cJSON *i32(void) { return int_json((int32_t)rnd_bits(), true); }
static cJSON *u32(void) { return int_json((uint32_t)rnd_bits(), true); }

static cJSON *i64(void) {
    int64_t v = (int64_t)rnd_bits();
    /* As a JSON number only where a double holds it exactly. */
    if (v > -(1ll << 53) && v < (1ll << 53) && coin()) return cJSON_CreateNumber((double)v);
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    return cJSON_CreateString(buf);
}

static cJSON *u64(void) {
    uint64_t v = rnd_bits();
    if (v < (1ull << 53) && coin()) return cJSON_CreateNumber((double)v);
    char buf[32];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    return cJSON_CreateString(buf);
}

static double finite_double(void) {
    switch (pick(5)) {
    case 0: return 0.5 * (double)(int)pick(1000);
    case 1: return -1e-300 * (double)pick(100);
    case 2: return (double)(int64_t)rnd() / 7.0;
    case 3: return 1e300 * (double)pick(100);
    default: {
        double d;
        uint64_t b = rnd();
        memcpy(&d, &b, 8);
        return isfinite(d) ? d : 1.25;
    }
    }
}

static cJSON *dbl(bool specials) {
    if (specials && pick(8) == 0) {
        static const char *const sp[] = {"NaN", "Infinity", "-Infinity"};
        return cJSON_CreateString(sp[pick(3)]);
    }
    return cJSON_CreateNumber(finite_double());
}

static cJSON *flt(void) {
    if (pick(8) == 0) return cJSON_CreateString(coin() ? "Infinity" : "NaN");
    float f;
    uint32_t b = (uint32_t)rnd();
    memcpy(&f, &b, 4);
    if (!isfinite(f) || pick(3) == 0) f = (float)(int)pick(2000) / 8.0f;
    return cJSON_CreateNumber((double)f);
}

static void rnd_text(char *buf, size_t cap) {
    static const char *const parts[] = {"a", "Z", "0", " ", "\xc3\xa9", "\xf0\x9f\x98\x80",
                                        "\"", "\\", "\n", "\xe2\x82\xac", "x_y", "/"};
    size_t n = pick(8), o = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = parts[pick(sizeof parts / sizeof *parts)];
        size_t l = strlen(p);
        if (o + l + 1 >= cap) break;
        memcpy(buf + o, p, l + 1);
        o += l;
    }
}

static cJSON *str(void) {
    char buf[64];
    rnd_text(buf, sizeof buf);
    return cJSON_CreateString(buf);
}

static cJSON *bytes(void) {
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint8_t raw[24];
    size_t n = pick(sizeof raw);
    for (size_t i = 0; i < n; i++) raw[i] = (uint8_t)rnd();
    char out[40];
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)raw[i] << 16 | (i + 1 < n ? raw[i + 1] << 8 : 0) | (i + 2 < n ? raw[i + 2] : 0);
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? b64[v & 63] : '=';
    }
    out[o] = 0;
    return cJSON_CreateString(out);
}

static cJSON *color(void) {
    static const char *const names[] = {"COLOR_UNSPECIFIED", "RED", "GREEN", "BLUE"};
    static const int nums[] = {0, 1, 2, -3, 7};
    return coin() ? cJSON_CreateString(names[pick(4)]) : cJSON_CreateNumber(nums[pick(5)]);
}

static cJSON *json_value(int depth) {
    switch (pick(depth > 2 ? 4 : 6)) {
    case 0: return cJSON_CreateNull();
    case 1: return cJSON_CreateNumber(finite_double());
    case 2: return str();
    case 3: return cJSON_CreateBool(coin());
    case 4: {
        cJSON *o = cJSON_CreateObject();
        for (unsigned i = pick(4); i; i--) {
            char k[64];
            rnd_text(k, sizeof k);
            if (!cJSON_GetObjectItemCaseSensitive(o, k))
                cJSON_AddItemToObject(o, k, json_value(depth + 1));
        }
        return o;
    }
    default: {
        cJSON *a = cJSON_CreateArray();
        for (unsigned i = pick(4); i; i--) cJSON_AddItemToArray(a, json_value(depth + 1));
        return a;
    }
    }
}

static cJSON *timestamp(void) {
    int64_t secs = -62135596800ll + (int64_t)(rnd() % (253402300799ull + 62135596800ull));
    int32_t nanos = (int32_t)(rnd() % 1000000000);
    unsigned k = pick(4);
    if (k == 0) nanos = 0;
    else if (k == 1) nanos -= nanos % 1000000;
    else if (k == 2) nanos -= nanos % 1000;
    /* RFC 3339 written by hand with a random offset, to test the parser too. */
    int64_t t = secs;
    int off = coin() ? 0 : (int)pick(24 * 60) - 12 * 60;
    if (t + off * 60 < -62135596800ll || t + off * 60 > 253402300799ll) off = 0;
    t += off * 60;
    int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
    int64_t rem = t - days * 86400;
    /* civil from days */
    int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = (int64_t)yoe + era * 400 + (m <= 2);
    char buf[64], fr[16] = "", oz[16] = "Z";
    if (nanos) snprintf(fr, sizeof fr, ".%09d", nanos);
    if (off) snprintf(oz, sizeof oz, "%c%02d:%02d", off < 0 ? '-' : '+', abs(off) / 60, abs(off) % 60);
    snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d%s%s", (int)y, m, d, (int)(rem / 3600),
             (int)(rem / 60 % 60), (int)(rem % 60), fr, oz);
    return cJSON_CreateString(buf);
}

static cJSON *duration(void) {
    int64_t secs = (int64_t)(rnd() % 315576000001ull);
    if (pick(3)) secs %= 100000;
    int32_t nanos = pick(3) ? 0 : (int32_t)(rnd() % 1000000000);
    bool neg = coin();
    char buf[64];
    if (nanos) snprintf(buf, sizeof buf, "%s%lld.%09ds", neg ? "-" : "", (long long)secs, nanos);
    else snprintf(buf, sizeof buf, "%s%llds", neg && secs ? "-" : "", (long long)secs);
    return cJSON_CreateString(buf);
}

static cJSON *inner(void) {
    cJSON *o = cJSON_CreateObject();
    if (coin()) cJSON_AddItemToObject(o, "name", str());
    if (coin()) cJSON_AddItemToObject(o, "n", i32());
    if (coin()) {
        cJSON *a = cJSON_CreateArray();
        for (unsigned i = pick(4); i; i--) cJSON_AddItemToArray(a, color());
        cJSON_AddItemToObject(o, "colors", a);
    }
    return o;
}

static cJSON *any(void) {
    cJSON *o = cJSON_CreateObject();
    switch (pick(3)) {
    case 0:
        cJSON_AddStringToObject(o, "@type", "type.googleapis.com/mae.rich.v1.Inner");
        cJSON_Delete(o);
        o = inner();
        cJSON_AddStringToObject(o, "@type", "type.googleapis.com/mae.rich.v1.Inner");
        break;
    case 1:
        cJSON_AddStringToObject(o, "@type", "type.googleapis.com/google.protobuf.Duration");
        cJSON_AddItemToObject(o, "value", duration());
        break;
    default:
        cJSON_AddStringToObject(o, "@type", "type.googleapis.com/google.protobuf.Struct");
        cJSON_AddItemToObject(o, "value", cJSON_CreateObject());
        break;
    }
    return o;
}

typedef cJSON *(*gen_fn)(void);

static cJSON *array_of(gen_fn g) {
    cJSON *a = cJSON_CreateArray();
    for (unsigned i = pick(5); i; i--) cJSON_AddItemToArray(a, g());
    return a;
}

static cJSON *dbl_sp(void) { return dbl(true); }
static cJSON *boolean(void) { return cJSON_CreateBool(coin()); }
static cJSON *value_any(void) { return json_value(0); }

static cJSON *all(int depth);

/* Adds key (json or proto spelling, at random) with a value. */
static void put(cJSON *o, const char *json, const char *proto, cJSON *v) {
    cJSON_AddItemToObject(o, coin() ? json : proto, v);
}

static cJSON *all(int depth) {
    cJSON *o = cJSON_CreateObject();
    /* Each field present with probability 1/2. */
#define MAYBE(json, proto, v) do { if (coin()) put(o, json, proto, v); } while (0)
    MAYBE("d", "d", dbl(true));
    MAYBE("f", "f", flt());
    MAYBE("i64", "i64", i64());
    MAYBE("u64", "u64", u64());
    MAYBE("i32", "i32", i32());
    MAYBE("fx64", "fx64", u64());
    MAYBE("fx32", "fx32", u32());
    MAYBE("b", "b", cJSON_CreateBool(coin()));
    MAYBE("s", "s", str());
    MAYBE("by", "by", bytes());
    MAYBE("u32", "u32", u32());
    MAYBE("color", "color", color());
    MAYBE("sf32", "sf32", i32());
    MAYBE("sf64", "sf64", i64());
    MAYBE("si32", "si32", i32());
    MAYBE("si64", "si64", i64());
    MAYBE("inner", "inner", inner());
    MAYBE("ri32", "ri32", array_of(i32));
    MAYBE("rs", "rs", array_of(str));
    MAYBE("rcolor", "rcolor", array_of(color));
    MAYBE("rinner", "rinner", array_of(inner));
    if (coin()) {
        cJSON *m = cJSON_CreateObject();
        for (unsigned i = pick(4); i; i--) {
            char k[64];
            rnd_text(k, sizeof k);
            if (!cJSON_GetObjectItemCaseSensitive(m, k)) cJSON_AddItemToObject(m, k, i64());
        }
        put(o, "mSI64", "m_s_i64", m);
    }
    if (coin()) {
        cJSON *m = cJSON_CreateObject();
        for (unsigned i = pick(4); i; i--) {
            char k[16];
            snprintf(k, sizeof k, "%d", (int32_t)rnd_bits());
            if (!cJSON_GetObjectItemCaseSensitive(m, k)) cJSON_AddItemToObject(m, k, inner());
        }
        put(o, "mIInner", "m_i_inner", m);
    }
    if (coin()) {
        cJSON *m = cJSON_CreateObject();
        if (coin()) cJSON_AddItemToObject(m, "true", str());
        if (coin()) cJSON_AddItemToObject(m, "false", str());
        put(o, "mBS", "m_b_s", m);
    }
    if (coin()) {
        cJSON *m = cJSON_CreateObject();
        for (unsigned i = pick(3); i; i--) {
            char k[64];
            rnd_text(k, sizeof k);
            if (!cJSON_GetObjectItemCaseSensitive(m, k)) cJSON_AddItemToObject(m, k, color());
        }
        put(o, "mSColor", "m_s_color", m);
    }
    switch (pick(4)) {
    case 0: put(o, "pS", "p_s", str()); break;
    case 1: put(o, "pInner", "p_inner", inner()); break;
    case 2: put(o, "pI64", "p_i64", i64()); break;
    default: break;
    }
    MAYBE("opt", "opt", i32());
    MAYBE("ts", "ts", timestamp());
    MAYBE("dur", "dur", duration());
    MAYBE("wI64", "w_i64", i64());
    MAYBE("wS", "w_s", str());
    MAYBE("wB", "w_b", cJSON_CreateBool(coin()));
    MAYBE("wD", "w_d", dbl(true));
    MAYBE("wBy", "w_by", bytes());
    MAYBE("wU32", "w_u32", u32());
    MAYBE("wF", "w_f", flt());
    MAYBE("wI32", "w_i32", i32());
    MAYBE("wU64", "w_u64", u64());
    if (coin()) {
        cJSON *s = json_value(3);   /* scalars only at depth 3: wrap in an object */
        cJSON *st = cJSON_CreateObject();
        cJSON_AddItemToObject(st, "k", s);
        cJSON_AddItemToObject(st, "nested", json_value(1));
        put(o, "st", "st", st);
    }
    MAYBE("v", "v", json_value(0));
    if (coin()) {
        cJSON *lv = cJSON_CreateArray();
        for (unsigned i = pick(4); i; i--) cJSON_AddItemToArray(lv, json_value(1));
        put(o, "lv", "lv", lv);
    }
    MAYBE("e", "e", cJSON_CreateObject());
    if (coin()) {
        static const char *const masks[] = {"", "a", "fooBar", "a.bC,dE", "x.y.z,q"};
        put(o, "fm", "fm", cJSON_CreateString(masks[pick(5)]));
    }
    MAYBE("any", "any", any());
    MAYBE("rts", "rts", array_of(timestamp));
    if (coin()) {
        cJSON *m = cJSON_CreateObject();
        for (unsigned i = pick(3); i; i--) {
            char k[64];
            rnd_text(k, sizeof k);
            if (!cJSON_GetObjectItemCaseSensitive(m, k)) cJSON_AddItemToObject(m, k, value_any());
        }
        put(o, "mVal", "m_val", m);
    }
    if (depth < 2 && pick(3) == 0) put(o, "child", "child", all(depth + 1));
    MAYBE("rd", "rd", array_of(dbl_sp));
    MAYBE("jo", "json_override", i32());
    if (coin()) {
        cJSON *a = cJSON_CreateArray();
        for (unsigned i = pick(4); i; i--) cJSON_AddItemToArray(a, i64());
        put(o, "rsi64", "rsi64", a);
    }
    MAYBE("rfx32", "rfx32", array_of(u32));
    MAYBE("rb", "rb", array_of(boolean));
    MAYBE("rby", "rby", array_of(bytes));
    if (coin()) {
        cJSON *m = cJSON_CreateObject();
        for (unsigned i = pick(3); i; i--) {
            char k[32];
            snprintf(k, sizeof k, "%llu", (unsigned long long)rnd_bits());
            if (!cJSON_GetObjectItemCaseSensitive(m, k)) cJSON_AddItemToObject(m, k, str());
        }
        put(o, "mU64S", "m_u64_s", m);
    }
    MAYBE("rf", "rf", array_of(flt));
#undef MAYBE
    return o;
}

static char *hex(const uint8_t *p, size_t n) {
    char *s = malloc(n * 2 + 1);
    ASSERT_NOT_NULL(s);
    for (size_t i = 0; i < n; i++) snprintf(s + 2 * i, 3, "%02x", p[i]);
    s[n * 2] = 0;
    return s;
}

static uint8_t *unhex(const char *s, size_t *n) {
    size_t l = strlen(s) / 2;
    uint8_t *b = malloc(l + 1);
    ASSERT_NOT_NULL(b);
    for (size_t i = 0; i < l; i++) {
        unsigned v;
        ASSERT_EQ_INT(sscanf(s + 2 * i, "%2x", &v), 1);
        b[i] = (uint8_t)v;
    }
    *n = l;
    return b;
}

TEST_T(differential_vs_python_protobuf, 300) {
    char *text = th_read_file(th_path("tests/servers/pb_rich.proto"), NULL);
    ASSERT_NOT_NULL(text);
    const char *files[] = {"t.proto", text};
    char *dir = NULL;
    size_t setlen;
    uint8_t *set = fx_protoset(files, 1, &setlen, &dir);
    free(text);
    mae__pb_pool *p;
    char err[512];
    ASSERT_EQ_INT(mae__pb_pool_new(&p), 0);
    ASSERT_EQ_INT(mae__pb_pool_add_set(p, set, setlen, err, sizeof err), 0);
    ASSERT_EQ_INT(mae__pb_pool_link(p, err, sizeof err), 0);
    free(set);
    const mae__pb_msg *m = mae__pb_pool_message(p, "mae.rich.v1.All");
    ASSERT_NOT_NULL(m);

    /* 1. The random messages, one JSON text per line. */
    char in_path[600], ref_path[600], mae_path[600], set_path[600];
    snprintf(in_path, sizeof in_path, "%s/in.jsonl", dir);
    snprintf(ref_path, sizeof ref_path, "%s/ref.jsonl", dir);
    snprintf(mae_path, sizeof mae_path, "%s/mae.jsonl", dir);
    snprintf(set_path, sizeof set_path, "%s/set.pb", dir);
    rng_state = 20261205;
    char **texts = calloc(N_MESSAGES, sizeof *texts);
    FILE *f = fopen(in_path, "w");
    ASSERT_NOT_NULL(f);
    for (int i = 0; i < N_MESSAGES; i++) {
        cJSON *j = all(0);
        texts[i] = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
        fprintf(f, "%s\n", texts[i]);
    }
    fclose(f);

    /* 2. Python reads them: its bytes and its JSON of each. */
    char *argv[] = {TH_PYTHON, (char *)th_path("tests/servers/pb_diff.py"), "encode", set_path,
                    "mae.rich.v1.All", in_path, ref_path, NULL};
    char *so = NULL, *se = NULL;
    int rc = th_run(argv, NULL, &so, &se);
    if (rc) th_fail(__FILE__, __LINE__, "pb_diff.py encode: %d %s", rc, se);
    free(so);
    free(se);

    /* 3. Maestro encodes each text and decodes Python's bytes. */
    size_t rlen;
    char *refs = th_read_file(ref_path, &rlen);
    ASSERT_NOT_NULL(refs);
    f = fopen(mae_path, "w");
    ASSERT_NOT_NULL(f);
    char *line = refs;
    for (int i = 0; i < N_MESSAGES; i++) {
        char *nl = strchr(line, '\n');
        ASSERT_NOT_NULL(nl);
        *nl = 0;
        cJSON *rec = cJSON_Parse(line), *out = cJSON_CreateObject();
        line = nl + 1;
        ASSERT_NOT_NULL(rec);
        cJSON *in = cJSON_Parse(texts[i]);
        uint8_t *buf;
        size_t len;
        rc = mae__pb_encode(m, in, 0, &buf, &len, err, sizeof err);
        cJSON_Delete(in);
        if (rc) {
            cJSON_AddStringToObject(out, "error", err);
        } else {
            char *h = hex(buf, len);
            cJSON_AddStringToObject(out, "hex", h);
            free(h);
            free(buf);
            const cJSON *ph = cJSON_GetObjectItemCaseSensitive(rec, "hex");
            if (cJSON_IsString(ph)) {
                uint8_t *pb = unhex(ph->valuestring, &len);
                cJSON *dec = NULL;
                rc = mae__pb_decode(m, pb, len, 0, &dec, err, sizeof err);
                free(pb);
                if (rc) cJSON_AddStringToObject(out, "error", err);
                else cJSON_AddItemToObject(out, "dec", dec);
            } else {
                cJSON_AddNullToObject(out, "dec");
            }
        }
        char *s = cJSON_PrintUnformatted(out);
        fprintf(f, "%s\n", s);
        free(s);
        cJSON_Delete(out);
        cJSON_Delete(rec);
        free(texts[i]);
    }
    fclose(f);
    free(texts);
    free(refs);

    /* 4. Python compares. */
    char *argv2[] = {TH_PYTHON, (char *)th_path("tests/servers/pb_diff.py"), "check", set_path,
                     "mae.rich.v1.All", ref_path, mae_path, NULL};
    rc = th_run(argv2, NULL, &so, &se);
    if (rc || !strstr(so, "1000 checked, 0 differences"))
        th_fail(__FILE__, __LINE__, "differences (inputs kept in %s):\n%s%s", dir, so, se);
    free(so);
    free(se);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ASSERT_EQ_INT(system(cmd), 0);
    free(dir);
    mae__pb_pool_free(p);
}
