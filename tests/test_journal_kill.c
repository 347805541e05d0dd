/* The journal's promise, end to end: a real `maestro run` against `maestro stub` (HTTP, with
 * delays), SIGKILLed at chosen points — after each journal record (found by reading the
 * journal as it grows), after each call the stub has received (its --log), and at random
 * moments — then `maestro resume` or `maestro compensate`. The stub's call log is the judge:
 *   - no call with an idempotency key more than once, except a re-send of one whose outcome the
 *     journal left unknown (intent written, no result): at most twice;
 *   - resume: the run succeeds and every step was called; nothing is compensated;
 *   - compensate: every step that was called and has a compensate is compensated exactly once,
 *     and no step the dead run had not started is called;
 *   - the run is listed by `maestro runs` while unfinished and not after (`runs --all` still). */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
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
    "      \"POST /a\": {respond: {id: \"a-{{ .n }}\"}, delay: 25ms}\n"
    "      \"POST /a_undo\": {respond: {}, delay: 15ms}\n"
    "      \"POST /b\": {respond: {id: \"b-{{ .n }}\"}, delay: 40ms}\n"
    "      \"POST /b_undo\": {respond: {}, delay: 15ms}\n"
    "      \"POST /c\": {respond: {id: \"c-{{ .n }}\"}, delay: 15ms}\n"
    "      \"POST /c_undo\": {respond: {}}\n"
    "      \"POST /d\": {respond: {id: \"d-{{ .n }}\"}, delay: 20ms}\n"
    "      \"POST /d_undo\": {respond: {}, delay: 10ms}\n"
    "      \"POST /e\": {respond: {done: true}, delay: 10ms}\n"
    "      \"POST /e_fail\": {fail: {http: 400, message: refused}, delay: 10ms}\n";

static const char wf_fmt[] =
    "name: killtest\n"
    "services:\n"
    "  svc: {type: http, endpoint: \"http://127.0.0.1:%d\", timeout: 10s}\n"
    "steps:\n"
    "  - id: a\n"
    "    service: svc\n"
    "    method: \"POST /a\"\n"
    "    output: ra\n"
    "    compensate: {method: \"POST /a_undo\", input: {id: \"{{ .ra.id }}\"}}\n"
    "  - parallel:\n"
    "      - {id: b, service: svc, method: \"POST /b\", output: rb,\n"
    "         compensate: {method: \"POST /b_undo\", input: {id: \"{{ .rb.id }}\"}}}\n"
    "      - {id: c, service: svc, method: \"POST /c\", input: {a: \"{{ .ra.id }}\"}, output: rc,\n"
    "         compensate: {method: \"POST /c_undo\", input: {id: \"{{ .rc.id }}\"}}}\n"
    "  - id: d\n"
    "    foreach: \"{{ .input.items }}\"\n"
    "    as: it\n"
    "    concurrency: 2\n"
    "    do:\n"
    "      service: svc\n"
    "      method: \"POST /d\"\n"
    "      input: {item: \"{{ .it }}\"}\n"
    "      output: rd\n"
    "      compensate: {method: \"POST /d_undo\", input: {id: \"{{ .rd.id }}\"}}\n"
    "  - {id: e, service: svc, method: \"POST /%s\", input: {b: \"{{ .rb.id }}\", d: \"{{ .steps.d.output }}\"}}\n"
    "output: {a: \"{{ .ra.id }}\", e: \"{{ .steps.e.output.done }}\"}\n";

static const char input[] = "{\"items\": [\"x\", \"y\", \"z\"]}";
/* every forward call of a whole run, with whether it has a compensation */
static const char *const kt_keys[] = {"a", "b", "c", "d[0]", "d[1]", "d[2]", "e"};
static const bool kt_comp[] = {true, true, true, true, true, true, false};
static const char *const ds_keys[] = {"provision", "deploy_app", "check_health", "register_lb", "notify"};
static const bool ds_comp[] = {true, true, false, true, false};
#define N_KEYS 16

/* The workflow under test: its input, --set options, keys, and what a successful output holds. */
typedef struct scenario {
    const char *input;
    char *sets[16];
    int n_sets;
    const char *const *keys;
    const bool *has_comp;
    int n_keys;
    const char *expect_out;
    bool fails;             /* the workflow fails at its last step: every run compensates */
} scenario;

static scenario S;

static const char *bin(void) {
    const char *b = getenv("MAESTRO_BIN");
    return b ? b : th_path("bin/maestro");
}

/* The one journal in dir: its run id (33 bytes) and path. False when none yet. */
static bool find_journal(const char *dir, char *id, char *path, size_t pl) {
    DIR *d = opendir(dir);
    if (!d) return false;
    struct dirent *de;
    bool found = false;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l == 35 && strcmp(de->d_name + 32, ".mj") == 0) {
            memcpy(id, de->d_name, 32);
            id[32] = 0;
            snprintf(path, pl, "%s/%s", dir, de->d_name);
            found = true;
        }
    }
    closedir(d);
    return found;
}

static size_t journal_records(const char *path) {
    size_t len = 0;
    char *data = th_read_file(path, &len);
    if (!data) return 0;
    mae_jscan s;
    mae__jrnl_scan((const uint8_t *)data, len, NULL, NULL, &s);
    free(data);
    return s.n_records;
}

/* Calls in the stub log for run id: per key suffix ("a", "a:compensate"...), counted. */
typedef struct calls {
    char key[64][48];
    int n[64];
    int nk;
    int lines;
} calls;

static void count_calls(const char *log, const char *id, calls *c) {
    memset(c, 0, sizeof *c);
    FILE *f = fopen(log, "r");
    if (!f) return;
    char line[8192];
    while (fgets(line, sizeof line, f)) {
        cJSON *o = cJSON_Parse(line);
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(o, "idempotency_key");
        if (cJSON_IsString(k) && strncmp(k->valuestring, id, 32) == 0 && k->valuestring[32] == ':') {
            const char *suffix = k->valuestring + 33;
            int i = 0;
            while (i < c->nk && strcmp(c->key[i], suffix) != 0) i++;
            if (i == c->nk && c->nk < 64) snprintf(c->key[c->nk++], sizeof c->key[0], "%s", suffix);
            if (i < 64) c->n[i]++;
            c->lines++;
        }
        cJSON_Delete(o);
    }
    fclose(f);
}

static int count_of(const calls *c, const char *suffix) {
    for (int i = 0; i < c->nk; i++)
        if (strcmp(c->key[i], suffix) == 0) return c->n[i];
    return 0;
}

/* How many lines of the log name run id (or, id NULL, any run). */
static int log_lines_for(const char *log, const char *id) {
    FILE *f = fopen(log, "r");
    if (!f) return 0;
    char line[8192];
    int n = 0;
    while (fgets(line, sizeof line, f))
        if (!id || strstr(line, id)) n++;
    fclose(f);
    return n;
}

typedef enum { KILL_RECORDS, KILL_STUB_CALLS, KILL_RANDOM } kill_how;

typedef struct totals {
    int iterations, killed, finished_first, resumed, compensated, resent_unknown;
} totals;

static totals T;

static void rm_rf(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    char p[1024];
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

/* One run killed at point `at` (a record count, a stub call count, or microseconds), then
 * resumed (compensate false) or compensated. */
static void one(const char *wf, const char *log, kill_how how, long at, bool compensate) {
    char dir[] = "/tmp/mae-kill-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    T.iterations++;
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        int nul = open("/dev/null", O_WRONLY);
        dup2(nul, 1);
        dup2(nul, 2);
        char *av[40] = {"maestro", "run", (char *)wf, "--input", (char *)S.input, "--journal", dir, "--quiet"};
        int ac = 8;
        for (int i = 0; i < S.n_sets; i++) {
            av[ac++] = "--set";
            av[ac++] = S.sets[i];
        }
        av[ac] = NULL;
        execv(bin(), av);
        _exit(127);
    }
    char id[33] = "", jpath[1024] = "";
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bool killed = false;
    int status = 0;
    for (;;) {
        if (waitpid(pid, &status, WNOHANG) == pid) break;
        bool have = id[0] || find_journal(dir, id, jpath, sizeof jpath);
        bool hit = false;
        if (how == KILL_RANDOM) {
            struct timespec t;
            clock_gettime(CLOCK_MONOTONIC, &t);
            long us = (t.tv_sec - t0.tv_sec) * 1000000L + (t.tv_nsec - t0.tv_nsec) / 1000;
            hit = us >= at;
        } else if (have && how == KILL_RECORDS) {
            hit = (long)journal_records(jpath) >= at;
        } else if (have && how == KILL_STUB_CALLS) {
            hit = log_lines_for(log, id) >= at;
        }
        if (hit) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            killed = true;
            break;
        }
        usleep(200);   /* polling what we observe, not waiting for it to happen */
    }
    if (!id[0]) find_journal(dir, id, jpath, sizeof jpath);
    if (!killed || !id[0]) {
        /* the run finished (or had not written its journal) before the kill point */
        T.finished_first++;
        rm_rf(dir);
        return;
    }
    T.killed++;
    mae_jfile before;
    char err[256];
    int lrc = mae__jfile_load(jpath, &before, err, sizeof err);
    if (lrc != 0) {
        /* killed before RUN_START was durable: nothing can have been sent */
        ASSERT_EQ_INT(lrc, MAE_EDECODE);
        ASSERT_EQ_INT(log_lines_for(log, id), 0);
        mae__jfile_free(&before);
        rm_rf(dir);
        return;
    }
    if (!before.end) {
        /* listed as unfinished */
        char *out = NULL, *errs = NULL;
        char *ra[] = {"maestro", "runs", "--json", "--journal", dir, NULL};
        ASSERT_EQ_INT(th_maestro(ra, NULL, &out, &errs), 0);
        ASSERT_CONTAINS(out, id);
        free(out);
        free(errs);
    }
    /* the keys whose outcome the dead run did not learn */
    bool unknown[N_KEYS] = {0};
    for (int i = 0; i < S.n_keys; i++) {
        char k[128], rk[128];
        snprintf(k, sizeof k, "step:%s:%s", id, S.keys[i]);
        snprintf(rk, sizeof rk, "step:%s:%s", id, S.keys[i]);
        unknown[i] = cJSON_GetObjectItemCaseSensitive(before.intents, k) && !cJSON_GetObjectItemCaseSensitive(before.results, rk);
        if (unknown[i]) T.resent_unknown++;
    }
    bool intent[N_KEYS];
    for (int i = 0; i < S.n_keys; i++) {
        char k[128];
        snprintf(k, sizeof k, "step:%s:%s", id, S.keys[i]);
        intent[i] = cJSON_GetObjectItemCaseSensitive(before.intents, k) != NULL;
    }
    /* compensations whose outcome the dead run did not learn */
    bool cunknown[N_KEYS] = {0};
    for (int i = 0; i < S.n_keys; i++) {
        char k[160];
        snprintf(k, sizeof k, "comp:%s:%s:compensate", id, S.keys[i]);
        cunknown[i] = cJSON_GetObjectItemCaseSensitive(before.intents, k) && !cJSON_GetObjectItemCaseSensitive(before.results, k);
    }
    bool was_over = before.end != NULL;
    mae__jfile_free(&before);

    char *out = NULL, *errs = NULL;
    char *argv[] = {"maestro", compensate ? "compensate" : "resume", id, "--journal", dir, "--quiet", NULL};
    int rc = th_maestro(argv, NULL, &out, &errs);
    if (was_over) {
        /* killed after RUN_END: nothing to do, refused */
        ASSERT_EQ_INT(rc, 2);
        ASSERT_CONTAINS(errs, "already over");
    } else if (compensate) {
        T.compensated++;
        if (rc != 1) fprintf(stderr, "compensate rc %d: %s\n", rc, errs);
        ASSERT_EQ_INT(rc, 1);
    } else if (S.fails) {
        /* the workflow fails: resumed, it fails again (or goes on compensating) and is undone */
        T.resumed++;
        if (rc != 1) fprintf(stderr, "resume rc %d: %s\n", rc, errs);
        ASSERT_EQ_INT(rc, 1);
    } else {
        T.resumed++;
        if (rc != 0) fprintf(stderr, "resume rc %d: %s\n", rc, errs);
        ASSERT_EQ_INT(rc, 0);
        ASSERT_CONTAINS(out, S.expect_out);
    }
    free(out);
    free(errs);

    calls c;
    count_calls(log, id, &c);
    for (int i = 0; i < S.n_keys; i++) {
        int n = count_of(&c, S.keys[i]);
        char ck[64];
        snprintf(ck, sizeof ck, "%s:compensate", S.keys[i]);
        int nc = count_of(&c, ck);
        /* at most once per key, a re-send of an unknown outcome apart */
        if (n > (unknown[i] ? 2 : 1)) th_fail(__FILE__, __LINE__, "%s called %d times (unknown %d)", S.keys[i], n, unknown[i]);
        if (nc > (cunknown[i] ? 2 : 1))
            th_fail(__FILE__, __LINE__, "%s compensated %d times (unknown %d)", S.keys[i], nc, cunknown[i]);
        if (was_over) continue;
        if (!compensate && S.fails) {
            /* every step is reached again (the failing one fails), every done one undone */
            if (n < 1) th_fail(__FILE__, __LINE__, "resume: %s never called", S.keys[i]);
            if (S.has_comp[i] && nc < 1) th_fail(__FILE__, __LINE__, "resume: %s not compensated", S.keys[i]);
        } else if (!compensate) {
            if (n < 1) th_fail(__FILE__, __LINE__, "resume: %s never called", S.keys[i]);
            ASSERT_EQ_INT(nc, 0);
        } else {
            /* nothing new starts; whatever was (or may have been) sent is undone once */
            if (!intent[i]) ASSERT_EQ_INT(n, 0);
            if (S.has_comp[i] && n > 0 && nc < 1)
                th_fail(__FILE__, __LINE__, "compensate: %s called %d times, compensated %d times", S.keys[i], n, nc);
            if (nc) ASSERT_CMP_INT(n, >=, 1);
        }
    }
    /* over: not listed as unfinished, still listed with --all */
    char *ro = NULL, *re = NULL;
    char *ra[] = {"maestro", "runs", "--json", "--journal", dir, NULL};
    ASSERT_EQ_INT(th_maestro(ra, NULL, &ro, &re), 0);
    if (strstr(ro, id)) th_fail(__FILE__, __LINE__, "run %s still unfinished: %s", id, ro);
    free(ro);
    free(re);
    char *rb[] = {"maestro", "runs", "--all", "--json", "--journal", dir, NULL};
    ASSERT_EQ_INT(th_maestro(rb, NULL, &ro, &re), 0);
    ASSERT_CONTAINS(ro, id);
    free(ro);
    free(re);
    rm_rf(dir);
}

static th_proc stub;
static char *wf_path, *log_path;

static bool fail_mode;

static void kt_scenario(void) {
    memset(&S, 0, sizeof S);
    S.input = input;
    S.keys = kt_keys;
    S.has_comp = kt_comp;
    S.n_keys = 7;
    S.expect_out = "\"e\":true";
    S.fails = fail_mode;
}

static void start_stub(void) {
    kt_scenario();
    char *sp = th_write_temp(stubs, strlen(stubs), ".yaml");
    log_path = th_write_temp("", 0, ".log");
    char *argv[] = {(char *)bin(), "stub", sp, "--log", log_path, NULL};
    ASSERT_EQ_INT(th_spawn(&stub, argv, 10), 0);
    free(sp);
    char wf[4096];
    int l = snprintf(wf, sizeof wf, wf_fmt, stub.port, fail_mode ? "e_fail" : "e");
    wf_path = th_write_temp(wf, (size_t)l, ".yaml");
}

static void report_totals(const char *what) {
    fprintf(stderr, "%s: %d iterations, %d killed (%d resumed, %d compensated), %d finished before the kill point, "
                    "%d calls of unknown outcome at the kill\n",
            what, T.iterations, T.killed, T.resumed, T.compensated, T.finished_first, T.resent_unknown);
}

/* At every journal record boundary, resumed and compensated. */
TEST_T(kill_at_every_record, 600) {
    start_stub();
    for (long r = 1; r <= 17; r++) {
        one(wf_path, log_path, KILL_RECORDS, r, false);
        one(wf_path, log_path, KILL_RECORDS, r, true);
    }
    report_totals("records");
    ASSERT_CMP_INT(T.killed, >=, 28);
    ASSERT_CMP_INT(T.resumed, >=, 12);
    ASSERT_CMP_INT(T.compensated, >=, 12);
    th_stop(&stub);
}

/* After each call the stub received (the call then in flight: its outcome unknown). */
TEST_T(kill_after_each_stub_call, 600) {
    start_stub();
    for (long k = 1; k <= 7; k++) {
        one(wf_path, log_path, KILL_STUB_CALLS, k, false);
        one(wf_path, log_path, KILL_STUB_CALLS, k, true);
    }
    report_totals("stub calls");
    ASSERT_CMP_INT(T.killed, >=, 12);
    ASSERT_CMP_INT(T.resent_unknown, >=, 6);
    th_stop(&stub);
}

/* At random moments ($MAESTRO_KILL_RUNS of them, default 40), half resumed, half compensated. */
TEST_T(kill_at_random_moments, 900) {
    start_stub();
    const char *e = getenv("MAESTRO_KILL_RUNS");
    int n = e ? atoi(e) : 40;
    srand((unsigned)time(NULL));
    for (int i = 0; i < n; i++) one(wf_path, log_path, KILL_RANDOM, rand() % 250000, i % 2);
    report_totals("random");
    ASSERT_CMP_INT(T.killed, >=, n / 3);
    th_stop(&stub);
}

/* examples/workflows/deploy_service.yaml (gRPC and HTTP services, compensations) against its
 * stubs on free ports, killed at every record, then at random moments. */
static void start_deploy_stub(void) {
    size_t len = 0;
    char *text = th_read_file(th_path("examples/stubs/deploy_service.yaml"), &len);
    ASSERT_NOT_NULL(text);
    /* every listen address on port 0 */
    for (char *p = strstr(text, "127.0.0.1:"); p; p = strstr(p + 1, "127.0.0.1:")) {
        char *d = p + 10;
        if (*d < '0' || *d > '9') continue;
        *d++ = '0';
        while (*d >= '0' && *d <= '9') *d++ = ' ';
    }
    char *sp = th_write_temp(text, strlen(text), ".yaml");
    free(text);
    log_path = th_write_temp("", 0, ".log");
    char *argv[] = {(char *)bin(), "stub", sp, "--log", log_path, NULL};
    ASSERT_EQ_INT(th_spawn(&stub, argv, 10), 0);
    free(sp);
    memset(&S, 0, sizeof S);
    static char in[1024];
    char *inp = th_read_file(th_path("examples/inputs/deploy_service.json"), NULL);
    snprintf(in, sizeof in, "%s", inp);
    free(inp);
    S.input = in;
    S.keys = ds_keys;
    S.has_comp = ds_comp;
    S.n_keys = 5;
    S.expect_out = "{}";
    /* the first PORT line was read by th_spawn (cloud, first in the file); then the others */
    static char sets[8][128];
    snprintf(sets[0], sizeof sets[0], "service.cloud.endpoint=127.0.0.1:%d", stub.port);
    S.sets[S.n_sets++] = sets[0];
    char line[256];
    while (S.n_sets < 5 && fgets(line, sizeof line, stub.out)) {
        int port;
        char name[64];
        if (sscanf(line, "PORT %d %63s", &port, name) != 2) continue;
        bool http = !strcmp(name, "health") || !strcmp(name, "notifications");
        snprintf(sets[S.n_sets], sizeof sets[0], "service.%s.endpoint=%s127.0.0.1:%d", name, http ? "http://" : "", port);
        S.sets[S.n_sets] = sets[S.n_sets];
        S.n_sets++;
    }
    ASSERT_EQ_INT(S.n_sets, 5);
    wf_path = strdup(th_path("examples/workflows/deploy_service.yaml"));
}

TEST_T(deploy_service_killed_at_every_record_and_at_random, 900) {
    start_deploy_stub();
    for (long r = 1; r <= 12; r++) {
        one(wf_path, log_path, KILL_RECORDS, r, false);
        one(wf_path, log_path, KILL_RECORDS, r, true);
    }
    const char *e = getenv("MAESTRO_KILL_RUNS");
    int n = e ? atoi(e) : 40;
    for (int i = 0; i < n; i++) one(wf_path, log_path, KILL_RANDOM, rand() % 200000, i % 2);
    report_totals("deploy_service");
    ASSERT_CMP_INT(T.resumed, >=, 10);
    ASSERT_CMP_INT(T.compensated, >=, 10);
    th_stop(&stub);
}

/* The same workflow failing at its last step: killed at every record, including every one of
 * the compensation phase; a resumed run that was compensating goes on compensating, and no
 * compensation completed before the kill is sent again. */
TEST_T(failing_run_killed_while_compensating, 600) {
    fail_mode = true;
    start_stub();
    for (long r = 1; r <= 31; r++) {
        one(wf_path, log_path, KILL_RECORDS, r, false);
        one(wf_path, log_path, KILL_RECORDS, r, true);
    }
    report_totals("failing");
    ASSERT_CMP_INT(T.resumed, >=, 20);
    ASSERT_CMP_INT(T.compensated, >=, 20);
    th_stop(&stub);
}
