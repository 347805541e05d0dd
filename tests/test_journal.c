/* Unit tests of the journal's record format (loop/journal.h) from byte arrays, and of its
 * group-commit writer on a real file: round trip, a torn last record at every cut, damage in the
 * middle reported with its offset, a write that fails (a full tmpfs, else RLIMIT_FSIZE). */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "harness.h"
#include "loop/journal_run.h"
#include "loop/journal.h"
#include "maestro/base.h"

/* A journal of n records with payloads "rec-0", "rec-1"... in buf; returns its length. */
static size_t build(uint8_t *buf, int n, size_t *ends) {
    mae__jrnl_header(buf);
    size_t off = MAE_JRNL_HDR;
    for (int i = 0; i < n; i++) {
        char p[64];
        int l = snprintf(p, sizeof p, "{\"rec\":%d,\"pad\":\"%.*s\"}", i, i * 3, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        mae__jrnl_encode(buf + off, (uint8_t)(1 + i % 5), p, (size_t)l);
        off += MAE_JRNL_REC_HDR + (size_t)l;
        if (ends) ends[i] = off;
    }
    return off;
}

TEST(crc32c_known_value) {
    /* the standard check value of CRC-32C */
    ASSERT_EQ_INT(mae__crc32c(0, "123456789", 9), 0xE3069283u);
}

TEST(round_trip) {
    uint8_t buf[4096];
    size_t n = build(buf, 10, NULL);
    size_t off = MAE_JRNL_HDR;
    ASSERT_EQ_INT(mae__jrnl_check_header(buf, n), 0);
    for (int i = 0; i < 10; i++) {
        mae_jrec r;
        ASSERT_EQ_INT(mae__jrnl_decode(buf, n, &off, &r), MAE_JD_RECORD);
        ASSERT_EQ_INT(r.type, 1 + i % 5);
        char want[16];
        snprintf(want, sizeof want, "{\"rec\":%d,", i);
        ASSERT_TRUE(r.len > strlen(want) && memcmp(r.payload, want, strlen(want)) == 0);
    }
    mae_jrec r;
    ASSERT_EQ_INT(mae__jrnl_decode(buf, n, &off, &r), MAE_JD_END);
    mae_jscan s;
    mae__jrnl_scan(buf, n, NULL, NULL, &s);
    ASSERT_EQ_INT(s.n_records, 10);
    ASSERT_EQ_INT(s.valid_end, n);
    ASSERT_FALSE(s.torn);
    ASSERT_FALSE(s.damaged);
}

TEST(header_rejects_other_files_and_versions) {
    uint8_t buf[MAE_JRNL_HDR];
    mae__jrnl_header(buf);
    ASSERT_EQ_INT(mae__jrnl_check_header(buf, 5), MAE_ENOTFOUND);
    ASSERT_EQ_INT(mae__jrnl_check_header((const uint8_t *)"{\"json\": 1}     ", 16), MAE_EDECODE);
    buf[8] = 2;   /* a future version */
    ASSERT_EQ_INT(mae__jrnl_check_header(buf, sizeof buf), MAE_EDECODE);
}

/* Cut at every byte: only the records wholly before the cut are read, the rest is "torn",
 * never "damaged", and valid_end is the end of the last whole record. */
TEST(torn_at_every_offset) {
    uint8_t buf[4096];
    size_t ends[12];
    size_t n = build(buf, 12, ends);
    for (size_t cut = MAE_JRNL_HDR; cut <= n; cut++) {
        mae_jscan s;
        mae__jrnl_scan(buf, cut, NULL, NULL, &s);
        size_t whole = 0;
        while (whole < 12 && ends[whole] <= cut) whole++;
        ASSERT_EQ_INT(s.header, 0);
        ASSERT_EQ_INT(s.n_records, whole);
        ASSERT_EQ_INT(s.valid_end, whole ? ends[whole - 1] : MAE_JRNL_HDR);
        ASSERT_FALSE(s.damaged);
        ASSERT_EQ_INT(s.torn, cut != s.valid_end);
    }
}

/* A flipped bit in a record followed by more records is damage at that record's offset; in
 * the last record it is a torn write. */
TEST(bit_flip_in_the_middle_is_damage_with_offset) {
    uint8_t buf[4096];
    size_t ends[8];
    size_t n = build(buf, 8, ends);
    for (int rec = 0; rec < 8; rec++) {
        size_t start = rec ? ends[rec - 1] : MAE_JRNL_HDR;
        for (size_t at = start; at < ends[rec]; at++) {
            for (int bit = 0; bit < 8; bit += 3) {
                uint8_t copy[4096];
                memcpy(copy, buf, n);
                copy[at] ^= (uint8_t)(1u << bit);
                mae_jscan s;
                mae__jrnl_scan(copy, n, NULL, NULL, &s);
                ASSERT_EQ_INT(s.n_records, rec);
                if (rec == 7) {
                    /* the last record: nothing whole after it, a torn write */
                    ASSERT_TRUE(s.torn);
                    ASSERT_FALSE(s.damaged);
                } else {
                    /* whole records follow: damage, at the flipped record's offset */
                    ASSERT_TRUE(s.damaged);
                    ASSERT_EQ_INT(s.damaged_at, start);
                }
            }
        }
    }
}

TEST(absurd_length_is_not_trusted) {
    uint8_t buf[4096];
    size_t ends[4];
    size_t n = build(buf, 4, ends);
    /* record 1 claims 1 GiB */
    buf[ends[0] + 3] = 0x40;
    mae_jscan s;
    mae__jrnl_scan(buf, n, NULL, NULL, &s);
    ASSERT_EQ_INT(s.n_records, 1);
    ASSERT_TRUE(s.damaged);
    ASSERT_EQ_INT(s.damaged_at, ends[0]);
}

/* ---- the writer on a real file ---- */

typedef struct wctx {
    int calls[64];
    int status[64];
    int order[64];
    int n_order;
    int closed;
} wctx;

static wctx W;

static void rec_cb(int status, void *ud) {
    int i = (int)(intptr_t)ud;
    W.calls[i]++;
    W.status[i] = status;
    W.order[W.n_order++] = i;
}

static void closed_cb(void *ud) { W.closed++; }

static char *tmpdir_new(void) {
    char tmpl[] = "/tmp/mae-jrnl-XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

TEST(writer_group_commit_round_trip) {
    memset(&W, 0, sizeof W);
    char *dir = tmpdir_new();
    ASSERT_NOT_NULL(dir);
    char path[512];
    snprintf(path, sizeof path, "%s/r.mj", dir);
    uv_loop_t loop;
    ASSERT_EQ_INT(uv_loop_init(&loop), 0);
    mae_jwriter *w = NULL;
    ASSERT_EQ_INT(mae__jw_open(&loop, path, true, 0, &w), 0);
    for (int i = 0; i < 5; i++) {
        char p[32];
        int l = snprintf(p, sizeof p, "{\"i\":%d}", i);
        ASSERT_EQ_INT(mae__jw_append(w, MAE_JR_INTENT, p, (size_t)l, rec_cb, (void *)(intptr_t)i), 0);
    }
    /* never from inside append */
    ASSERT_EQ_INT(W.n_order, 0);
    mae__jw_close(w, closed_cb, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(W.closed, 1);
    ASSERT_EQ_INT(W.n_order, 5);
    for (int i = 0; i < 5; i++) {
        ASSERT_EQ_INT(W.calls[i], 1);
        ASSERT_EQ_INT(W.status[i], 0);
        ASSERT_EQ_INT(W.order[i], i);
    }
    ASSERT_EQ_INT(uv_loop_close(&loop), 0);
    size_t len = 0;
    char *data = th_read_file(path, &len);
    ASSERT_NOT_NULL(data);
    mae_jscan s;
    mae__jrnl_scan((const uint8_t *)data, len, NULL, NULL, &s);
    ASSERT_EQ_INT(s.n_records, 5);
    ASSERT_EQ_INT(s.valid_end, len);

    /* reopening cuts a torn tail and appends after the last whole record */
    FILE *f = fopen(path, "ab");
    fwrite("\x30\x00\x00\x00garbage", 1, 11, f);
    fclose(f);
    memset(&W, 0, sizeof W);
    ASSERT_EQ_INT(uv_loop_init(&loop), 0);
    ASSERT_EQ_INT(mae__jw_open(&loop, path, false, s.valid_end, &w), 0);
    ASSERT_EQ_INT(mae__jw_append(w, MAE_JR_RESULT, "{}", 2, rec_cb, (void *)(intptr_t)0), 0);
    mae__jw_close(w, closed_cb, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(W.status[0], 0);
    ASSERT_EQ_INT(uv_loop_close(&loop), 0);
    free(data);
    data = th_read_file(path, &len);
    mae__jrnl_scan((const uint8_t *)data, len, NULL, NULL, &s);
    ASSERT_EQ_INT(s.n_records, 6);
    ASSERT_FALSE(s.torn);
    ASSERT_EQ_INT(s.valid_end, len);
    free(data);
    /* an existing run's file is never created over */
    ASSERT_EQ_INT(mae__jw_open(&loop, path, true, 0, &w), UV_EEXIST);
    unlink(path);
    rmdir(dir);
    free(dir);
}

/* Records appended while a write is in flight go out together in the next one. */
static mae_jwriter *GW;
static void chain_cb(int status, void *ud) {
    rec_cb(status, ud);
    if ((intptr_t)ud == 0)
        for (int i = 1; i <= 3; i++) mae__jw_append(GW, MAE_JR_INTENT, "{}", 2, rec_cb, (void *)(intptr_t)i);
}

TEST(writer_appends_from_a_callback) {
    memset(&W, 0, sizeof W);
    char *dir = tmpdir_new();
    char path[512];
    snprintf(path, sizeof path, "%s/r.mj", dir);
    uv_loop_t loop;
    uv_loop_init(&loop);
    ASSERT_EQ_INT(mae__jw_open(&loop, path, true, 0, &GW), 0);
    mae_jw_stats st = {0};
    mae__jw_set_stats(GW, &st);
    mae__jw_append(GW, MAE_JR_RUN_START, "{}", 2, chain_cb, (void *)(intptr_t)0);
    uv_run(&loop, UV_RUN_DEFAULT);   /* the writer has no handle keeping the loop alive once idle */
    ASSERT_EQ_INT(W.n_order, 4);
    /* two group commits (the first record, then the three appended while it was in flight),
       each data sync timed once; the new file's directory sync is not one of them */
    ASSERT_EQ_INT(mae__jw_syncs(GW), 2);
    ASSERT_EQ_INT(st.count, 2);
    ASSERT_TRUE(st.sum_ns > 0);
    for (int i = 1; i < MAE_JW_STAT_BUCKETS; i++) ASSERT_TRUE(st.b[i] >= st.b[i - 1]);
    ASSERT_TRUE(st.b[MAE_JW_STAT_BUCKETS - 1] <= st.count);
    mae__jw_close(GW, closed_cb, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(W.closed, 1);
    ASSERT_EQ_INT(st.count, 2);   /* closing with nothing queued syncs nothing more */
    ASSERT_EQ_INT(uv_loop_close(&loop), 0);
    size_t len;
    char *data = th_read_file(path, &len);
    mae_jscan s;
    mae__jrnl_scan((const uint8_t *)data, len, NULL, NULL, &s);
    ASSERT_EQ_INT(s.n_records, 4);
    free(data);
    unlink(path);
    rmdir(dir);
    free(dir);
}

/* A tmpfs of 64 KiB (we are root in the test container), else the file-size limit: the first
 * record that does not fit fails its waiters with the error, and every later one too. */
TEST(writer_disk_full) {
    memset(&W, 0, sizeof W);
    char *dir = tmpdir_new();
    /* in a mount namespace of this test process: the tmpfs goes with it, even on a failure */
    if (unshare(CLONE_NEWNS) == 0) mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
    bool mounted = mount("maestro-jrnl", dir, "tmpfs", 0, "size=64k") == 0;
    if (!mounted) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {64 * 1024, 64 * 1024};
        ASSERT_EQ_INT(setrlimit(RLIMIT_FSIZE, &rl), 0);
    }
    char path[512];
    snprintf(path, sizeof path, "%s/r.mj", dir);
    uv_loop_t loop;
    uv_loop_init(&loop);
    mae_jwriter *w = NULL;
    ASSERT_EQ_INT(mae__jw_open(&loop, path, true, 0, &w), 0);
    static char big[40000];
    memset(big, 'x', sizeof big);
    mae__jw_append(w, MAE_JR_INTENT, big, sizeof big, rec_cb, (void *)(intptr_t)0);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(W.status[0], 0);
    mae__jw_append(w, MAE_JR_INTENT, big, sizeof big, rec_cb, (void *)(intptr_t)1);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(W.calls[1], 1);
    ASSERT_EQ_INT(W.status[1], mounted ? UV_ENOSPC : UV_EFBIG);
    ASSERT_EQ_INT(mae__jw_error(w), W.status[1]);
    /* failed for good: a small record is refused too, and still called back from the loop */
    ASSERT_EQ_INT(mae__jw_append(w, MAE_JR_INTENT, "{}", 2, rec_cb, (void *)(intptr_t)2), W.status[1]);
    ASSERT_EQ_INT(W.calls[2], 0);
    mae__jw_close(w, closed_cb, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(W.calls[2], 1);
    ASSERT_EQ_INT(W.status[2], W.status[1]);
    ASSERT_EQ_INT(W.closed, 1);
    ASSERT_EQ_INT(uv_loop_close(&loop), 0);
    /* what is on disk is whole records only */
    size_t len;
    char *data = th_read_file(path, &len);
    mae_jscan s;
    mae__jrnl_scan((const uint8_t *)data, len, NULL, NULL, &s);
    ASSERT_EQ_INT(s.n_records, 1);
    ASSERT_FALSE(s.damaged);
    free(data);
    unlink(path);
    if (mounted) umount(dir);
    rmdir(dir);
    free(dir);
}

/* A journal of 100,000 calls (a big foreach): 100k intents, 90k results, 5k results written
 * twice (a re-send's result replaces the first). Every lookup finds the last record of its key,
 * the unknown count is exact, and the members stay a proper object. The index is what keeps
 * this linear: with cJSON's member search it was 10^10 string compares. */
TEST(a_hundred_thousand_keyed_records_load_and_look_up) {
    enum { N = 100000, DONE = 90000, TWICE = 5000 };
    size_t cap = MAE_JRNL_HDR + (size_t)(N + DONE + TWICE + 1) * (MAE_JRNL_REC_HDR + 96), len = MAE_JRNL_HDR;
    uint8_t *buf = malloc(cap);
    ASSERT_NOT_NULL(buf);
    mae__jrnl_header(buf);
    char p[96];
    int l = snprintf(p, sizeof p, "{\"run_id\":\"r\"}");
    mae__jrnl_encode(buf + len, MAE_JR_RUN_START, p, (size_t)l);
    len += MAE_JRNL_REC_HDR + (size_t)l;
    for (int i = 0; i < N + DONE + TWICE; i++) {
        int k = i < N ? i : i < N + DONE ? i - N : i - N - DONE;
        bool intent = i < N, again = i >= N + DONE;
        if (intent) l = snprintf(p, sizeof p, "{\"k\":\"run:fan:%d\",\"kind\":\"step\",\"step\":\"fan\"}", k);
        else l = snprintf(p, sizeof p, "{\"k\":\"run:fan:%d\",\"kind\":\"step\",\"ok\":true,\"output\":%d}", k, again ? -k : k);
        mae__jrnl_encode(buf + len, intent ? MAE_JR_INTENT : MAE_JR_RESULT, p, (size_t)l);
        len += MAE_JRNL_REC_HDR + (size_t)l;
    }
    mae_jfile f = {0};
    char err[256] = "";
    ASSERT_EQ_INT(mae__jfile_load_buf(buf, len, &f, err, sizeof err), 0);
    ASSERT_EQ_INT(f.n_unknown, N - DONE);
    ASSERT_EQ_INT(cJSON_GetArraySize(f.results), DONE);
    ASSERT_EQ_INT(cJSON_GetArraySize(f.intents), N);
    for (int k = 0; k < N; k += 997) {
        char key[64];
        snprintf(key, sizeof key, "step:run:fan:%d", k);
        ASSERT_NOT_NULL(mae__jfile_intent(&f, key));
        cJSON *r = mae__jfile_result(&f, key);
        if (k >= DONE) {
            ASSERT_NULL(r);
            continue;
        }
        ASSERT_NOT_NULL(r);
        ASSERT_EQ_STR(r->string, key);
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(r, "output");
        ASSERT_EQ_INT((int)o->valuedouble, k < TWICE ? -k : k);
    }
    ASSERT_NULL(mae__jfile_result(&f, "step:run:fan:100000"));
    /* the object's own member search agrees with the index on a replaced key */
    ASSERT_TRUE(cJSON_GetObjectItemCaseSensitive(f.results, "step:run:fan:7") == mae__jfile_result(&f, "step:run:fan:7"));
    mae__jfile_free(&f);
    free(buf);
}
