/* Unit tests: the descriptor pool and the proto3 JSON codec under allocation failure. Every
 * allocation of an operation is made to fail in turn; each run must return 0 or MAE_ENOMEM
 * (never crash or report another error) and give back everything it allocated. In the plain
 * build malloc itself is replaced (tests/oom.h); under ASan only cJSON's allocations fail and
 * LeakSanitizer checks the rest. The schema is the committed descriptor set of the fuzz
 * target (tests/fuzz/pb_rich.protoset), so no protoc runs here. */
#include <stdlib.h>

#include "grpc_h2/pb.h"
#include "harness.h"
#include "maestro/maestro.h"

#include "oom.h"

static const char *const RICH_JSON =
    "{\"d\":1.5,\"i64\":\"-5\",\"s\":\"h\\u00e9\",\"by\":\"AQI=\",\"color\":\"BLUE\","
    "\"inner\":{\"name\":\"x\",\"colors\":[\"RED\",7]},\"rinner\":[{},{\"n\":1}],"
    "\"mIInner\":{\"-1\":{\"n\":3}},\"mSI64\":{\"k\":\"1\"},\"pInner\":{\"name\":\"p\"},"
    "\"opt\":0,\"ts\":\"1972-01-01T10:00:20.021Z\",\"dur\":\"-1.5s\",\"wI64\":\"0\","
    "\"st\":{\"a\":[1,\"x\",null,{\"b\":true}]},\"v\":[1,{}],\"fm\":\"fooBar,a.bC\","
    "\"any\":{\"@type\":\"type.googleapis.com/mae.rich.v1.Inner\",\"name\":\"z\"},"
    "\"mVal\":{\"n\":null},\"child\":{\"ri32\":[1,2]},\"rf\":[1.5]}";

static uint8_t *fixture(size_t *len) {
    uint8_t *b = (uint8_t *)th_read_file(th_path("tests/fuzz/pb_rich.protoset"), len);
    ASSERT_NOT_NULL(b);
    return b;
}

static mae__pb_pool *pool_of(const uint8_t *set, size_t len) {
    mae__pb_pool *p;
    char err[256];
    ASSERT_EQ_INT(mae__pb_pool_new(&p), 0);
    ASSERT_EQ_INT(mae__pb_pool_add_set(p, set, len, err, sizeof err), 0);
    ASSERT_EQ_INT(mae__pb_pool_link(p, err, sizeof err), 0);
    return p;
}

static void hooks(void) {
#ifdef TH_ASAN
    cJSON_InitHooks(&(cJSON_Hooks){oom_hook_malloc, free});
#endif
}

static void check_run(long at, int rc, long *ok) {
    if (rc && rc != MAE_ENOMEM) th_fail(__FILE__, __LINE__, "allocation %ld: rc %d", at, rc);
    if (rc) ASSERT_TRUE(failed);
    else if (failed) th_fail(__FILE__, __LINE__, "allocation %ld failed and nobody noticed", at);
    else (*ok)++;
#ifndef TH_ASAN
    if (outstanding != 0) th_fail(__FILE__, __LINE__, "allocation %ld: %ld blocks leaked", at, outstanding);
#endif
}

TEST_T(pool_build_under_oom, 120) {
    size_t len;
    uint8_t *set = fixture(&len);
    hooks();
    long ok = 0, at;
    for (at = 1; at < 100000; at++) {
        mae__pb_pool *p = NULL;
        char err[256];
        arm(at);
        int rc = mae__pb_pool_new(&p);
        if (!rc) rc = mae__pb_pool_add_set(p, set, len, err, sizeof err);
        if (!rc) rc = mae__pb_pool_link(p, err, sizeof err);
        cJSON *sk = NULL;
        if (!rc) {
            sk = mae__pb_skeleton(mae__pb_pool_message(p, "mae.rich.v1.All"));
            if (!sk) rc = MAE_ENOMEM;
        }
        cJSON_Delete(sk);
        mae__pb_pool_free(p);
        bool done = !failed;
        disarm();
        check_run(at, rc, &ok);
        if (done) break;
    }
    ASSERT_CMP_INT(at, >, 10);
    ASSERT_EQ_INT(ok, 1);
    free(set);
}

TEST_T(encode_decode_under_oom, 120) {
    size_t len;
    uint8_t *set = fixture(&len);
    mae__pb_pool *p = pool_of(set, len);
    const mae__pb_msg *m = mae__pb_pool_message(p, "mae.rich.v1.All");
    cJSON *in = cJSON_Parse(RICH_JSON);
    ASSERT_NOT_NULL(in);
    uint8_t *wire;
    size_t wlen;
    char err[256];
    ASSERT_EQ_INT(mae__pb_encode(m, in, 0, &wire, &wlen, err, sizeof err), 0);
    hooks();
    long ok = 0, at;
    for (at = 1; at < 100000; at++) {
        uint8_t *buf = NULL;
        size_t blen;
        arm(at);
        int rc = mae__pb_encode(m, in, 5, &buf, &blen, err, sizeof err);
        free(buf);
        bool done = !failed;
        disarm();
        check_run(at, rc, &ok);
        if (rc) ASSERT_EQ_STR(err, "out of memory");
        if (done) break;
    }
    ASSERT_EQ_INT(ok, 1);
    ok = 0;
    for (at = 1; at < 100000; at++) {
        cJSON *out = NULL;
        arm(at);
        int rc = mae__pb_decode(m, wire, wlen, 0, &out, err, sizeof err);
        cJSON_Delete(out);
        bool done = !failed;
        disarm();
        check_run(at, rc, &ok);
        if (rc) ASSERT_NULL(out);
        if (done) break;
    }
    ASSERT_CMP_INT(at, >, 50);
    ASSERT_EQ_INT(ok, 1);
    cJSON_Delete(in);
    free(wire);
    mae__pb_pool_free(p);
    free(set);
}

TEST_T(status_decode_under_oom, 60) {
    /* Status{code 3, message "x", details [Any RetryInfo{1.5s}, Any BadRequest{[{f, d}]}]} */
    static const uint8_t st[] = {
        0x08, 0x03, 0x12, 0x01, 'x',
        0x1a, 0x32, 0x0a, 0x28, 't', 'y', 'p', 'e', '.', 'g', 'o', 'o', 'g', 'l', 'e', 'a', 'p',
        'i', 's', '.', 'c', 'o', 'm', '/', 'g', 'o', 'o', 'g', 'l', 'e', '.', 'r', 'p', 'c', '.',
        'R', 'e', 't', 'r', 'y', 'I', 'n', 'f', 'o', 0x12, 0x06, 0x0a, 0x04, 0x08, 0x01, 0x10,
        0x00,
        0x1a, 0x35, 0x0a, 0x29, 't', 'y', 'p', 'e', '.', 'g', 'o', 'o', 'g', 'l', 'e', 'a', 'p',
        'i', 's', '.', 'c', 'o', 'm', '/', 'g', 'o', 'o', 'g', 'l', 'e', '.', 'r', 'p', 'c', '.',
        'B', 'a', 'd', 'R', 'e', 'q', 'u', 'e', 's', 't', 0x12, 0x08, 0x0a, 0x06, 0x0a, 0x01,
        'f', 0x12, 0x01, 'd',
    };
    cJSON *out = NULL;
    int64_t delay;
    ASSERT_EQ_INT(mae__pb_status_decode(NULL, st, sizeof st, &out, &delay), 0);
    ASSERT_EQ_INT(delay, 1000);
    char *s = cJSON_PrintUnformatted(out);
    ASSERT_EQ_STR(s, "{\"code\":3,\"message\":\"x\",\"details\":["
                     "{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":\"1s\"},"
                     "{\"@type\":\"type.googleapis.com/google.rpc.BadRequest\",\"fieldViolations\":"
                     "[{\"field\":\"f\",\"description\":\"d\"}]}]}");
    free(s);
    cJSON_Delete(out);
    hooks();
    long ok = 0, at;
    for (at = 1; at < 100000; at++) {
        out = NULL;
        arm(at);
        int rc = mae__pb_status_decode(NULL, st, sizeof st, &out, &delay);
        cJSON_Delete(out);
        bool done = !failed;
        disarm();
        check_run(at, rc, &ok);
        if (done) break;
    }
    ASSERT_EQ_INT(ok, 1);
}
