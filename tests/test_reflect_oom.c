/* Unit test: the reflection client's conversation (grpc_reflect_int.h) under allocation
 * failure. A complete server answer (the fuzz seed tests/fuzz/seed-fuzz_reflect/complete: a
 * service list, a file, the file it imports) is fed with every allocation made to fail in turn;
 * each run must end with 0 or MAE_ENOMEM (never another error, never a crash) and give back
 * everything (tests/oom.h counts blocks in the plain build; LeakSanitizer under ASan). */
#include <stdlib.h>
#include <string.h>

#include "grpc_h2/grpc_reflect_int.h"
#include "harness.h"
#include "maestro/maestro.h"

#include "oom.h"

static int sink(void *ud, const uint8_t *msg, size_t len) {
    (*(int *)ud)++;
    return 0;
}

/* Feeds the framed answers in turn; returns the conversation's final result. */
static int converse(const uint8_t *buf, size_t len, int *sent) {
    mae__reflect_conv c;
    int rc = mae__reflect_conv_start(&c, sink, sent);
    size_t off = 0;
    while (rc == 0 && off + 5 <= len) {
        size_t n = (size_t)buf[off + 1] << 24 | (size_t)buf[off + 2] << 16 |
                   (size_t)buf[off + 3] << 8 | buf[off + 4];
        if (off + 5 + n > len) th_fail(__FILE__, __LINE__, "seed is cut");
        rc = mae__reflect_conv_feed(&c, buf + off + 5, n);
        off += 5 + n;
    }
    if (rc == 1) {
        mae__pb_pool *p = NULL;
        rc = mae__reflect_conv_finish(&c, &p);
        mae__pb_pool_free(p);
    } else if (rc == 0) {
        rc = MAE_EPROTO;  /* the seed is complete: the conversation must end */
    }
    if (rc < 0 && !c.err[0]) th_fail(__FILE__, __LINE__, "rc %d without a reason", rc);
    /* mae__pb_pool_missing() answers 0 when its own allocation fails (pb_pool.c says link then
     * tells): the fetch then ends as if the server left a dependency out. A known limit of the
     * pool's interface (no error return), counted as the out-of-memory it is. */
    if (rc == MAE_EINVAL && strstr(c.err, ", which is missing")) rc = MAE_ENOMEM;
    if (rc < 0 && rc != MAE_ENOMEM) fprintf(stderr, "  (%s)\n", c.err);
    mae__reflect_conv_free(&c);
    return rc;
}

TEST_T(reflect_conversation_under_oom, 120) {
    size_t len;
    uint8_t *seed = (uint8_t *)th_read_file(th_path("tests/fuzz/seed-fuzz_reflect/complete"), &len);
    ASSERT_NOT_NULL(seed);
    int sent = 0;
    ASSERT_EQ_INT(converse(seed, len, &sent), 0);
    ASSERT_EQ_INT(sent, 3);  /* list_services, the service's file, the file it imports */
#ifdef TH_ASAN
    (void)oom_hook_malloc;  /* nothing here allocates through cJSON: LeakSanitizer checks it */
#endif
    long ok = 0, at, absorbed = 0;
    for (at = 1; at < 100000; at++) {
        arm(at);
        int rc = converse(seed, len, &sent);
        bool done = !failed;
        disarm();
        if (rc && rc != MAE_ENOMEM) th_fail(__FILE__, __LINE__, "allocation %ld: rc %d", at, rc);
        /* The same limit in the last round: nothing is missing anyway, so the failure changes
         * nothing. Once at most; any other unnoticed failure is a bug. */
        if (!rc && failed && ++absorbed > 1)
            th_fail(__FILE__, __LINE__, "allocation %ld failed unnoticed", at);
        if (!rc && !failed) ok++;
#ifndef TH_ASAN
        if (outstanding != 0) th_fail(__FILE__, __LINE__, "allocation %ld: %ld blocks leaked", at,
                                      outstanding);
#endif
        if (done) break;
    }
#ifndef TH_ASAN
    ASSERT_CMP_INT(at, >, 20);  /* every allocation of the conversation was made to fail */
#endif
    ASSERT_EQ_INT(ok, 1);
    free(seed);
}
