/* Damaged journals and a journal that cannot be written, with real `maestro` processes against
 * `maestro stub`:
 *   - a real journal cut at every byte offset reads back as its whole records (torn tail
 *     ignored), and `maestro resume` of a cut one completes the run;
 *   - bit flips in the middle are reported with their offset, and resume/compensate leave the
 *     run alone (exit 2) rather than guess;
 *   - disk full (a small tmpfs, else the file-size limit): no room for the journal at all →
 *     the run refuses to start (exit 2), nothing called; room for the start only → the first
 *     intent fails, nothing is sent, exit 2; room for some → the run stops sending, compensates
 *     what it did, exit 1, and says why. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "harness.h"
#include "loop/journal_run.h"
#include "maestro/base.h"

static const char stubs[] =
    "services:\n"
    "  svc:\n"
    "    type: http\n"
    "    listen: 127.0.0.1:0\n"
    "    routes:\n"
    "      \"POST /a\": {respond: {id: \"a-{{ .n }}\", pad: \"{{ .request.pad }}\"}}\n"
    "      \"POST /a_big\": {respond: {id: \"a-{{ .n }}\", pad: \"%s\"}}\n"
    "      \"POST /a_undo\": {respond: {}}\n"
    "      \"POST /b\": {respond: {id: \"b-{{ .n }}\"}}\n"
    "      \"POST /b_undo\": {respond: {}}\n"
    "      \"POST /c\": {respond: {done: true}}\n";

static const char wf_fmt[] =
    "name: damage\n"
    "input:\n"
    "  pad: {type: string, default: \"\"}\n"
    "services:\n"
    "  svc: {type: http, endpoint: \"http://127.0.0.1:%d\", timeout: 10s}\n"
    "steps:\n"
    "  - {id: a, service: svc, method: \"POST /%s\", input: {pad: \"{{ .input.pad }}\"}, output: ra,\n"
    "     compensate: {method: \"POST /a_undo\", input: {id: \"{{ .ra.id }}\"}}}\n"
    "  - {id: b, service: svc, method: \"POST /b\", output: rb,\n"
    "     compensate: {method: \"POST /b_undo\", input: {id: \"{{ .rb.id }}\"}}}\n"
    "  - {id: c, service: svc, method: \"POST /c\", input: {a: \"{{ .ra.id }}\", b: \"{{ .rb.id }}\"}}\n"
    "output: {done: \"{{ .steps.c.output.done }}\"}\n";

static th_proc stub;
static char *wf_path, *wf_big_path, *log_path;

static const char *bin(void) {
    const char *b = getenv("MAESTRO_BIN");
    return b ? b : th_path("bin/maestro");
}

static void start_stub(void) {
    /* POST /a_big answers 6000 bytes: its result record fills a small disk */
    static char pad[6001], text[8192];
    memset(pad, 'p', 6000);
    int tl = snprintf(text, sizeof text, stubs, pad);
    char *sp = th_write_temp(text, (size_t)tl, ".yaml");
    log_path = th_write_temp("", 0, ".log");
    char *argv[] = {(char *)bin(), "stub", sp, "--log", log_path, NULL};
    ASSERT_EQ_INT(th_spawn(&stub, argv, 10), 0);
    free(sp);
    char wf[4096];
    int l = snprintf(wf, sizeof wf, wf_fmt, stub.port, "a");
    wf_path = th_write_temp(wf, (size_t)l, ".yaml");
    l = snprintf(wf, sizeof wf, wf_fmt, stub.port, "a_big");
    wf_big_path = th_write_temp(wf, (size_t)l, ".yaml");
}

static int calls_for(const char *id, const char *suffix) {
    FILE *f = fopen(log_path, "r");
    if (!f) return 0;
    char line[65536], want[128];
    snprintf(want, sizeof want, "\"%s:%s\"", id, suffix);
    int n = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, want)) n++;
    fclose(f);
    return n;
}

static int calls_total(void) {
    FILE *f = fopen(log_path, "r");
    if (!f) return 0;
    char line[65536];
    int n = 0;
    while (fgets(line, sizeof line, f)) n++;
    fclose(f);
    return n;
}

static bool one_journal(const char *dir, char *id, char *path, size_t pl) {
    DIR *d = opendir(dir);
    if (!d) return false;
    struct dirent *de;
    bool found = false;
    while ((de = readdir(d)) != NULL)
        if (strlen(de->d_name) == 35 && strcmp(de->d_name + 32, ".mj") == 0) {
            memcpy(id, de->d_name, 32);
            id[32] = 0;
            snprintf(path, pl, "%s/%s", dir, de->d_name);
            found = true;
        }
    closedir(d);
    return found;
}

static void write_file(const char *path, const char *data, size_t len) {
    FILE *f = fopen(path, "wb");
    ASSERT_NOT_NULL(f);
    ASSERT_EQ_INT(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* A whole journal of a finished run, read back. */
static char *real_journal(char *dir_out, char *id, size_t *len) {
    char dir[] = "/tmp/mae-dmg-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    char *out = NULL, *err = NULL;
    char *argv[] = {"maestro", "run", wf_path, "--journal", dir, "--quiet", NULL};
    ASSERT_EQ_INT(th_maestro(argv, NULL, &out, &err), 0);
    free(out);
    free(err);
    char path[512];
    ASSERT_TRUE(one_journal(dir, id, path, sizeof path));
    strcpy(dir_out, dir);
    return th_read_file(path, len);
}

TEST_T(truncated_at_every_offset, 300) {
    start_stub();
    char dir[64], id[33];
    size_t len = 0;
    char *data = real_journal(dir, id, &len);
    ASSERT_NOT_NULL(data);
    mae_jscan whole;
    mae__jrnl_scan((const uint8_t *)data, len, NULL, NULL, &whole);
    ASSERT_EQ_INT(whole.n_records, 8);   /* start, 3 × (intent, result), end */
    char path[512];
    snprintf(path, sizeof path, "%s/%s.mj", dir, id);
    int resumed = 0;
    size_t prev_records = (size_t)-1;
    for (size_t cut = 0; cut < len; cut++) {
        write_file(path, data, cut);
        mae_jfile f;
        char err[256];
        int rc = mae__jfile_load(path, &f, err, sizeof err);
        if (rc != 0) {
            /* cut before the start record was whole: not resumable, never a crash */
            ASSERT_EQ_INT(rc, MAE_EDECODE);
            ASSERT_NULL(f.start);
        } else {
            ASSERT_FALSE(f.scan.damaged);
            ASSERT_NULL(f.end);   /* the end record is the last one: any cut loses it */
            ASSERT_EQ_INT(f.scan.torn, f.scan.valid_end != cut);
        }
        size_t recs = f.scan.n_records;
        mae__jfile_free(&f);
        /* resume once per record boundary reached (the CLI is slow; every cut is read above) */
        if (rc == 0 && recs != prev_records) {
            prev_records = recs;
            char *out = NULL, *errs = NULL;
            char *argv[] = {"maestro", "resume", id, "--journal", dir, "--quiet", NULL};
            int r = th_maestro(argv, NULL, &out, &errs);
            if (r != 0) th_fail(__FILE__, __LINE__, "resume of a journal cut at %zu: exit %d: %s", cut, r, errs);
            ASSERT_CONTAINS(out, "\"done\":true");
            free(out);
            free(errs);
            resumed++;
        }
    }
    ASSERT_CMP_INT(resumed, >=, 7);
    free(data);
    th_stop(&stub);
}

TEST_T(bit_flips_are_reported_and_left_alone, 300) {
    start_stub();
    char dir[64], id[33];
    size_t len = 0;
    char *data = real_journal(dir, id, &len);
    char path[512];
    snprintf(path, sizeof path, "%s/%s.mj", dir, id);
    /* cut the end record off: an unfinished run with damage in the middle */
    mae_jscan whole;
    size_t ends[16];
    size_t n_ends = 0;
    {
        size_t off = MAE_JRNL_HDR;
        mae_jrec r;
        while (mae__jrnl_decode((const uint8_t *)data, len, &off, &r) == MAE_JD_RECORD && n_ends < 16) ends[n_ends++] = off;
    }
    mae__jrnl_scan((const uint8_t *)data, len, NULL, NULL, &whole);
    size_t cut = ends[n_ends - 2];
    int cli_checks = 0;
    for (size_t at = MAE_JRNL_HDR; at < ends[n_ends - 3]; at++) {
        for (int bit = 0; bit < 8; bit++) {
            char *copy = malloc(cut);
            memcpy(copy, data, cut);
            copy[at] ^= (char)(1 << bit);
            write_file(path, copy, cut);
            free(copy);
            mae_jfile f;
            char err[256];
            int rc = mae__jfile_load(path, &f, err, sizeof err);
            /* damage before the last record: reported with the offset of the damaged record */
            if (rc == 0) {
                if (!f.scan.damaged) th_fail(__FILE__, __LINE__, "flip at %zu bit %d not found", at, bit);
                ASSERT_CMP_INT(f.scan.damaged_at, <=, at);
            }
            bool damaged = rc == 0 && f.scan.damaged;
            size_t dat = f.scan.damaged_at;
            mae__jfile_free(&f);
            if (damaged && (at % 97 == 0) && bit == 0) {
                char *out = NULL, *errs = NULL;
                char *argv[] = {"maestro", "resume", id, "--journal", dir, NULL};
                int before = calls_total();
                ASSERT_EQ_INT(th_maestro(argv, NULL, &out, &errs), 2);
                char want[64];
                snprintf(want, sizeof want, "damaged at offset %zu", dat);
                ASSERT_CONTAINS(errs, want);
                ASSERT_EQ_INT(calls_total(), before);
                free(out);
                free(errs);
                char *cargv[] = {"maestro", "compensate", id, "--journal", dir, NULL};
                ASSERT_EQ_INT(th_maestro(cargv, NULL, &out, &errs), 2);
                ASSERT_CONTAINS(errs, want);
                ASSERT_EQ_INT(calls_total(), before);
                free(out);
                free(errs);
                char *rargv[] = {"maestro", "runs", "--journal", dir, NULL};
                ASSERT_EQ_INT(th_maestro(rargv, NULL, &out, &errs), 0);
                ASSERT_CONTAINS(out, "damaged");
                free(out);
                free(errs);
                cli_checks++;
            }
        }
    }
    ASSERT_CMP_INT(cli_checks, >=, 3);
    free(data);
    th_stop(&stub);
}

/* ---- disk full ---- */

static bool mounted;

/* A tmpfs with `room` bytes left (filled up with a ballast file), else a file-size limit. */
static void small_fs(const char *dir, size_t room, struct rlimit *limit) {
    mounted = mount("maestro-full", dir, "tmpfs", 0, "size=256k") == 0;
    limit->rlim_cur = limit->rlim_max = RLIM_INFINITY;
    if (!mounted) {
        limit->rlim_cur = limit->rlim_max = room;
        return;
    }
    char p[1024];
    snprintf(p, sizeof p, "%s/ballast", dir);
    int fd = open(p, O_WRONLY | O_CREAT, 0600);
    static char blk[4096];
    while (write(fd, blk, sizeof blk) == (ssize_t)sizeof blk) {}
    close(fd);
    /* give back what the journal may use */
    struct stat st;
    stat(p, &st);
    ASSERT_EQ_INT(truncate(p, st.st_size > (off_t)room ? st.st_size - (off_t)room : 0), 0);
}

/* maestro run with its journal in dir under limit; stderr returned. */
static int run_limited(const char *wf, const char *dir, const struct rlimit *limit, const char *pad, char **err) {
    char *ep = th_write_temp("", 0, ".err");
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(ep, O_WRONLY | O_TRUNC);
        dup2(fd, 2);
        int nul = open("/dev/null", O_WRONLY);
        dup2(nul, 1);
        signal(SIGXFSZ, SIG_IGN);
        setrlimit(RLIMIT_FSIZE, limit);
        char in[8192];
        snprintf(in, sizeof in, "{\"pad\": \"%s\"}", pad);
        execl(bin(), "maestro", "run", wf, "--journal", dir, "--input", in, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    *err = th_read_file(ep, NULL);
    unlink(ep);
    free(ep);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void cleanup_fs(const char *dir) {
    char p[1024];
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        unlink(p);
    }
    if (d) closedir(d);
    if (mounted) umount(dir);
    rmdir(dir);
}

TEST_T(disk_full_before_the_run_refuses_it, 120) {
    start_stub();
    char dir[] = "/tmp/mae-full-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    struct rlimit lim;
    small_fs(dir, 0, &lim);
    int before = calls_total();
    char *err = NULL;
    int rc = run_limited(wf_path, dir, &lim, "", &err);
    fprintf(stderr, "(%s) %s", mounted ? "tmpfs" : "RLIMIT_FSIZE", err);
    ASSERT_EQ_INT(rc, 2);
    ASSERT_CONTAINS(err, "journal");
    ASSERT_EQ_INT(calls_total(), before);
    free(err);
    cleanup_fs(dir);
    th_stop(&stub);
}

TEST_T(disk_full_mid_run_stops_sending_and_compensates, 120) {
    start_stub();
    char dir[] = "/tmp/mae-full-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    struct rlimit lim;
    /* room for the header, the start record, a's intent and a little: a's big result fills
     * the disk together with b's intent */
    small_fs(dir, 4096, &lim);
    char *err = NULL;
    int rc = run_limited(wf_big_path, dir, &lim, "", &err);
    fprintf(stderr, "(%s) %s", mounted ? "tmpfs" : "RLIMIT_FSIZE", err);
    char id[33], path[512];
    ASSERT_TRUE(one_journal(dir, id, path, sizeof path));
    ASSERT_EQ_INT(rc, 1);
    ASSERT_CONTAINS(err, "journal");
    ASSERT_EQ_INT(calls_for(id, "a"), 1);
    ASSERT_EQ_INT(calls_for(id, "b"), 0);     /* its intent was not durable: never sent */
    ASSERT_EQ_INT(calls_for(id, "c"), 0);
    ASSERT_EQ_INT(calls_for(id, "a:compensate"), 1);   /* undone, journal or not */
    ASSERT_CONTAINS(err, "compensated: a");
    /* what is on disk is whole records: the run is listed, not damaged */
    mae_jfile f;
    char e2[256];
    ASSERT_EQ_INT(mae__jfile_load(path, &f, e2, sizeof e2), 0);
    ASSERT_FALSE(f.scan.damaged);
    mae__jfile_free(&f);
    free(err);
    cleanup_fs(dir);
    th_stop(&stub);
}

/* The start record does not fit (a large input): the first intent fails, nothing is sent, and
 * the run ends as refused (exit 2). */
TEST_T(disk_full_at_the_first_intent_sends_nothing, 120) {
    start_stub();
    char dir[] = "/tmp/mae-full-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    struct rlimit lim;
    small_fs(dir, 4096, &lim);
    static char pad[6001];
    memset(pad, 'p', 6000);
    int before = calls_total();
    char *err = NULL;
    int rc = run_limited(wf_path, dir, &lim, pad, &err);
    ASSERT_EQ_INT(rc, 2);
    ASSERT_CONTAINS(err, "journal cannot be written");
    ASSERT_EQ_INT(calls_total(), before);
    free(err);
    cleanup_fs(dir);
    th_stop(&stub);
}

/* Retention: a new run deletes finished journals older than --retain, never unfinished ones. */
TEST_T(retention_prunes_only_old_finished_runs, 120) {
    start_stub();
    char dir[64], id_old[33];
    size_t len = 0;
    char *data = real_journal(dir, id_old, &len);
    ASSERT_NOT_NULL(data);
    char p_old[512], p_unf[512];
    snprintf(p_old, sizeof p_old, "%s/%s.mj", dir, id_old);
    /* an unfinished run: the same journal without its end record, under another id */
    mae_jscan s;
    size_t off = MAE_JRNL_HDR, last = off;
    mae_jrec r;
    while (mae__jrnl_decode((const uint8_t *)data, len, &off, &r) == MAE_JD_RECORD)
        if (r.type != MAE_JR_RUN_END) last = off;
    mae__jrnl_scan((const uint8_t *)data, last, NULL, NULL, &s);
    snprintf(p_unf, sizeof p_unf, "%s/%032d.mj", dir, 7);
    write_file(p_unf, data, last);
    /* ten days old, both */
    struct timespec old[2];
    clock_gettime(CLOCK_REALTIME, &old[0]);
    old[0].tv_sec -= 10 * 86400;
    old[1] = old[0];
    ASSERT_EQ_INT(utimensat(AT_FDCWD, p_old, old, 0), 0);
    ASSERT_EQ_INT(utimensat(AT_FDCWD, p_unf, old, 0), 0);
    free(data);
    char *out = NULL, *err = NULL;
    char *argv[] = {"maestro", "run", wf_path, "--journal", dir, "--quiet", "--retain", "7d", NULL};
    ASSERT_EQ_INT(th_maestro(argv, NULL, &out, &err), 0);
    free(out);
    free(err);
    ASSERT_NE_INT(access(p_old, F_OK), 0);   /* finished, 10 days old: gone */
    ASSERT_EQ_INT(access(p_unf, F_OK), 0);   /* unfinished: kept however old */
    char *rargv[] = {"maestro", "runs", "--all", "--json", "--journal", dir, NULL};
    ASSERT_EQ_INT(th_maestro(rargv, NULL, &out, &err), 0);
    cJSON *arr = cJSON_Parse(out);
    ASSERT_EQ_INT(cJSON_GetArraySize(arr), 2);   /* the unfinished one and the new run */
    cJSON_Delete(arr);
    free(out);
    free(err);
    char *bad[] = {"maestro", "run", wf_path, "--journal", dir, "--retain", "soon", NULL};
    ASSERT_EQ_INT(th_maestro(bad, NULL, &out, &err), 2);
    free(out);
    free(err);
    th_stop(&stub);
}

/* The refusals of resume, and show: a changed workflow file (then --force), a run a live process
 * holds, a finished run; show prints the report of a finished run and the journal's view of an
 * unfinished one. */
TEST_T(resume_refusals_and_show, 120) {
    start_stub();
    char dir[64], id[33];
    size_t len = 0;
    char *data = real_journal(dir, id, &len);
    char path[512];
    snprintf(path, sizeof path, "%s/%s.mj", dir, id);
    char *out = NULL, *err = NULL;
    /* finished: show prints its report; resume has nothing to do */
    char *sh[] = {"maestro", "show", id, "--journal", dir, NULL};
    ASSERT_EQ_INT(th_maestro(sh, NULL, &out, &err), 0);
    ASSERT_CONTAINS(out, "\"status\": \"succeeded\"");
    ASSERT_CONTAINS(out, id);
    free(out);
    free(err);
    char *rs[] = {"maestro", "resume", id, "--journal", dir, NULL};
    ASSERT_EQ_INT(th_maestro(rs, NULL, &out, &err), 2);
    ASSERT_CONTAINS(err, "already over");
    free(out);
    free(err);
    /* unfinished after b's intent: cut just after the fifth record (start, a, a, b intent) */
    size_t off = MAE_JRNL_HDR;
    mae_jrec r;
    for (int i = 0; i < 4; i++) ASSERT_EQ_INT(mae__jrnl_decode((const uint8_t *)data, len, &off, &r), MAE_JD_RECORD);
    write_file(path, data, off);
    ASSERT_EQ_INT(th_maestro(sh, NULL, &out, &err), 0);
    ASSERT_CONTAINS(out, "\"status\": \"interrupted\"");
    ASSERT_CONTAINS(out, "\"outcome_unknown\"");
    ASSERT_CONTAINS(out, ":b\"");
    free(out);
    free(err);
    /* held by a live process (its flock): refused */
    int fd = open(path, O_RDONLY);
    ASSERT_EQ_INT(flock(fd, LOCK_EX), 0);
    int before = calls_total();
    ASSERT_EQ_INT(th_maestro(rs, NULL, &out, &err), 2);
    ASSERT_CONTAINS(err, "still running");
    free(out);
    free(err);
    char *ls[] = {"maestro", "runs", "--journal", dir, NULL};
    ASSERT_EQ_INT(th_maestro(ls, NULL, &out, &err), 0);
    ASSERT_CONTAINS(out, "running");
    free(out);
    free(err);
    close(fd);
    /* the workflow file changed: refused, nothing called; --force goes on */
    char *wf = th_read_file(wf_path, NULL);
    FILE *f = fopen(wf_path, "a");
    fputs("# edited\n", f);
    fclose(f);
    ASSERT_EQ_INT(th_maestro(rs, NULL, &out, &err), 2);
    ASSERT_CONTAINS(err, "changed since run");
    ASSERT_CONTAINS(err, "--force");
    ASSERT_EQ_INT(calls_total(), before);
    free(out);
    free(err);
    char *rf[] = {"maestro", "resume", id, "--journal", dir, "--force", "--quiet", NULL};
    ASSERT_EQ_INT(th_maestro(rf, NULL, &out, &err), 0);
    ASSERT_CONTAINS(out, "\"done\":true");
    ASSERT_EQ_INT(calls_for(id, "a"), 1);   /* completed: not called again */
    ASSERT_EQ_INT(calls_for(id, "b"), 2);   /* unknown outcome (intent, no result): re-sent, same key */
    /* c: once by the whole run this journal came from, once by the resume (the cut journal
     * holds no trace of it) */
    ASSERT_EQ_INT(calls_for(id, "c"), 2);
    free(out);
    free(err);
    write_file(wf_path, wf, strlen(wf));
    free(wf);
    free(data);
    th_stop(&stub);
}

/* A journal directory that cannot be created (a path through a regular file): exit 2, nothing
 * called, and the message says so even with --quiet. */
TEST_T(uncreatable_journal_dir_refuses_the_run, 60) {
    start_stub();
    int before = calls_total();
    char *out = NULL, *err = NULL;
    char *argv[] = {"maestro", "run", wf_path, "--journal", "/dev/null/journal", "--quiet", NULL};
    ASSERT_EQ_INT(th_maestro(argv, NULL, &out, &err), 2);
    ASSERT_CONTAINS(err, "journal cannot be created in /dev/null/journal; nothing was called");
    ASSERT_EQ_STR(out, "");
    ASSERT_EQ_INT(calls_total(), before);
    free(out);
    free(err);
    th_stop(&stub);
}
