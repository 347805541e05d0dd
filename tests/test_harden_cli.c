/* Issue #17, defects 2 and 3: `maestro run` with closed standard descriptors, an output or a
 * report that cannot be written (/dev/full, a file size limit, a full tmpfs, a missing
 * directory), the previous report surviving a failed write, and a descriptor limit that the
 * run's pooled connections exhaust. Calls go to a real `maestro stub` process. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "harness.h"

static const char stub_yaml[] =
    "services:\n"
    "  api:\n"
    "    type: http\n"
    "    listen: 127.0.0.1:0\n"
    "    routes:\n"
    "      \"POST /item\": {respond: {ok: true, i: \"{{ .request.i }}\"}}\n"
    "      \"POST /slow\": {respond: {ok: true, i: \"{{ .request.i }}\"}, delay: 20ms}\n"
    "      \"POST /bad\": {respond: {no: true}, fail: {http: 400, times: 1000000, message: refused}}\n";

/* A foreach of n items over route (POST /item, /slow or /bad), pool of conns connections.
 * Retries without a breaker: a connect that fails for lack of descriptors is retried until a
 * pooled connection is free. */
static char *workflow(int port, const char *route, int conns) {
    char y[1024];
    int n = snprintf(y, sizeof y,
                     "name: harden\n"
                     "input: {items: {type: array, required: true}}\n"
                     "services:\n"
                     "  api: {type: http, endpoint: \"http://127.0.0.1:%d\", timeout: 10s, pool: {connections: %d},\n"
                     "        retry: {attempts: 100, initial: 5ms, max: 20ms}, circuit_breaker: {failures: 1000000}}\n"
                     "steps:\n"
                     "  - id: each\n"
                     "    foreach: \"{{ .input.items }}\"\n"
                     "    as: it\n"
                     "    do: {id: one, service: api, method: \"%s\", input: {i: \"{{ .it }}\"}}\n"
                     "    output: all\n"
                     "output: {n: \"{{ len .all }}\"}\n",
                     port, conns, route);
    return th_write_temp(y, (size_t)n, ".yaml");
}

static char *items(int n) {
    static char buf[8192];
    int len = snprintf(buf, sizeof buf, "{\"items\":[");
    for (int i = 0; i < n; i++) len += snprintf(buf + len, sizeof buf - (size_t)len, "%s%d", i ? "," : "", i);
    snprintf(buf + len, sizeof buf - (size_t)len, "]}");
    return buf;
}

static th_proc stub;
static char *stub_file;

static void stub_start(void) {
    stub_file = th_write_temp(stub_yaml, strlen(stub_yaml), ".yaml");
    const char *bin = getenv("MAESTRO_BIN");
    char *argv[] = {(char *)(bin ? bin : th_path("bin/maestro")), "stub", stub_file, NULL};
    ASSERT_EQ_INT(th_spawn(&stub, argv, 20), 0);
}

static void stub_stop(void) {
    th_stop(&stub);
    unlink(stub_file);
    free(stub_file);
}

/* How the child's standard descriptors and limits are set up before maestro starts. */
typedef struct spawn_opts {
    int close_fd;          /* -1, or 0/1/2: closed before exec */
    const char *stdout_to; /* a path to open as stdout instead of the capture file */
    long fsize;            /* RLIMIT_FSIZE in bytes, 0 = unchanged */
    long nofile;           /* RLIMIT_NOFILE, 0 = unchanged */
} spawn_opts;

static char *slurp_unlink(const char *path) {
    char *t = th_read_file(path, NULL);
    unlink(path);
    return t ? t : strdup("");
}

/* Runs bin/maestro with argv (argv[0] ignored); stdout and stderr captured through files.
 * Returns the exit code, or -signal. */
static int spawn(char *const argv[], const spawn_opts *o, char **out, char **err) {
    char *op = th_write_temp("", 0, ".out"), *ep = th_write_temp("", 0, ".err");
    const char *bin = getenv("MAESTRO_BIN");
    int n = 0;
    while (argv[n]) n++;
    char **a = calloc((size_t)n + 1, sizeof *a);
    a[0] = (char *)(bin ? bin : th_path("bin/maestro"));
    for (int i = 1; i < n; i++) a[i] = argv[i];
    pid_t pid = fork();
    ASSERT_CMP_INT(pid, >=, 0);
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        int fo = open(o->stdout_to ? o->stdout_to : op, O_WRONLY);
        int fe = open(ep, O_WRONLY);
        if (in < 0 || fo < 0 || fe < 0) _exit(126);
        dup2(in, 0);
        dup2(fo, 1);
        dup2(fe, 2);
        close(in);
        close(fo);
        close(fe);
        if (o->close_fd >= 0) close(o->close_fd);
        if (o->fsize) {
            struct rlimit rl = {(rlim_t)o->fsize, (rlim_t)o->fsize};
            setrlimit(RLIMIT_FSIZE, &rl);
        }
        if (o->nofile) {
            struct rlimit rl = {(rlim_t)o->nofile, (rlim_t)o->nofile};
            setrlimit(RLIMIT_NOFILE, &rl);
        }
        signal(SIGXFSZ, SIG_DFL);
        execv(a[0], a);
        _exit(127);
    }
    free(a);
    int st;
    ASSERT_EQ_INT(waitpid(pid, &st, 0), pid);
    *out = slurp_unlink(op);
    *err = slurp_unlink(ep);
    free(op);
    free(ep);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
}

static const spawn_opts plain = {-1, NULL, 0, 0};

static cJSON *read_json(const char *path) {
    char *t = th_read_file(path, NULL);
    cJSON *j = t ? cJSON_Parse(t) : NULL;
    free(t);
    return j;
}

static const char *status_of(const cJSON *rep) {
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(rep, "status");
    return cJSON_IsString(s) ? s->valuestring : "(none)";
}

/* Each standard descriptor closed in turn: no abort at exit (libuv asserted that its epoll
 * descriptor was above 2), and the report is written. */
TEST(closed_stdin_and_stderr_the_run_succeeds) {
    stub_start();
    char *wf = workflow(stub.port, "POST /item", 5), *rep = th_write_temp("", 0, ".json");
    char *argv[] = {"maestro", "run", wf, "--input", items(3), "--report", rep, NULL};
    for (int fd = 0; fd <= 2; fd += 2) {
        spawn_opts o = plain;
        o.close_fd = fd;
        char *out, *err;
        int code = spawn(argv, &o, &out, &err);
        if (code != 0) fprintf(stderr, "fd %d closed: exit %d, stderr: %s\n", fd, code, err);
        ASSERT_EQ_INT(code, 0);
        ASSERT_EQ_STR(out, "{\"n\":3}\n");
        ASSERT_FALSE(strstr(err, "Assertion"));
        cJSON *j = read_json(rep);
        ASSERT_EQ_STR(status_of(j), "succeeded");
        cJSON_Delete(j);
        free(out);
        free(err);
        unlink(rep);
    }
    unlink(wf);
    free(wf);
    free(rep);
    stub_stop();
}

/* With stdout closed the output cannot be delivered: exit 4 and a message, never a write into
 * whatever descriptor took number 1. The report is still written. */
TEST(closed_stdout_is_a_write_error_exit_4) {
    stub_start();
    char *wf = workflow(stub.port, "POST /item", 5), *rep = th_write_temp("", 0, ".json");
    char *argv[] = {"maestro", "run", wf, "--input", items(3), "--report", rep, NULL};
    spawn_opts o = plain;
    o.close_fd = 1;
    char *out, *err;
    ASSERT_EQ_INT(spawn(argv, &o, &out, &err), 4);
    ASSERT_CONTAINS(err, "the output could not be written: stdout is closed");
    ASSERT_FALSE(strstr(err, "Assertion"));
    cJSON *j = read_json(rep);
    ASSERT_EQ_STR(status_of(j), "succeeded");
    cJSON_Delete(j);
    /* other commands too */
    char *gv[] = {"maestro", "graph", wf, NULL};
    free(out);
    free(err);
    ASSERT_EQ_INT(spawn(gv, &o, &out, &err), 4);
    ASSERT_CONTAINS(err, "stdout is closed");
    free(out);
    free(err);
    unlink(wf);
    unlink(rep);
    free(wf);
    free(rep);
    stub_stop();
}

TEST(stdout_on_dev_full_exits_4) {
    stub_start();
    char *wf = workflow(stub.port, "POST /item", 5);
    char *argv[] = {"maestro", "run", wf, "--input", items(3), NULL};
    spawn_opts o = plain;
    o.stdout_to = "/dev/full";
    char *out, *err;
    ASSERT_EQ_INT(spawn(argv, &o, &out, &err), 4);
    ASSERT_CONTAINS(err, "the output could not be written: No space left on device");
    free(out);
    free(err);
    char *vv[] = {"maestro", "version", NULL};
    ASSERT_EQ_INT(spawn(vv, &o, &out, &err), 4);
    free(out);
    free(err);
    unlink(wf);
    free(wf);
    stub_stop();
}

/* A report that cannot be written in full (a file size limit: EFBIG, as on a full disk): the
 * previous report survives untouched, no temporary file is left, the summary does not claim a
 * report, and the exit code says so (4 for a successful run; a failed run keeps 1). */
TEST(report_write_failure_keeps_the_previous_report) {
    stub_start();
    char *wf = workflow(stub.port, "POST /item", 5), *rep = th_write_temp("PREVIOUS\n", 9, ".json");
    /* no journal: under this limit it could not be written either, and the run would refuse */
    char *argv[] = {"maestro", "run", wf, "--input", items(40), "--report", rep, "--quiet", "--no-journal", NULL};
    spawn_opts o = plain;
    o.fsize = 2048;   /* the report of 40 items is larger; stdout and stderr are not */
    char *out, *err;
    ASSERT_EQ_INT(spawn(argv, &o, &out, &err), 4);
    ASSERT_EQ_STR(out, "{\"n\":40}\n");
    ASSERT_CONTAINS(err, "the report could not be written to");
    ASSERT_CONTAINS(err, "File too large");
    char *kept = th_read_file(rep, NULL);
    ASSERT_EQ_STR(kept, "PREVIOUS\n");
    free(kept);
    free(out);
    free(err);
    /* a failed run: exit 1 stays, and the summary says the report was not written */
    char *bad = workflow(stub.port, "POST /bad", 5);
    char *argv2[] = {"maestro", "run", bad, "--input", items(40), "--report", rep, "--quiet", "--no-journal", NULL};
    ASSERT_EQ_INT(spawn(argv2, &o, &out, &err), 1);
    ASSERT_CONTAINS(err, "was NOT written");
    ASSERT_FALSE(strstr(err, "full report:"));
    kept = th_read_file(rep, NULL);
    ASSERT_EQ_STR(kept, "PREVIOUS\n");
    free(kept);
    free(out);
    free(err);
    /* no temporary file left in the report's directory */
    char cmd[600];
    const char *base = strrchr(rep, '/') + 1;
    snprintf(cmd, sizeof cmd, "ls -a /tmp | grep -c '^\\.%s\\.' >/dev/null", base);
    ASSERT_NE_INT(system(cmd), 0);
    /* and without the limit the report replaces the previous one */
    ASSERT_EQ_INT(spawn(argv, &plain, &out, &err), 0);
    cJSON *j = read_json(rep);
    ASSERT_EQ_STR(status_of(j), "succeeded");
    cJSON_Delete(j);
    free(out);
    free(err);
    unlink(wf);
    unlink(bad);
    unlink(rep);
    free(wf);
    free(bad);
    free(rep);
    stub_stop();
}

/* The same on a real full file system: a 16 KiB tmpfs in a private mount namespace. Needs
 * unshare(1) with mount rights; where that is missing the test says so and checks nothing. */
TEST(report_on_a_full_tmpfs) {
    if (system("unshare -m true 2>/dev/null") != 0) {
        printf("  (skipped: unshare -m is not permitted here)\n");
        return;
    }
    stub_start();
    char *wf = workflow(stub.port, "POST /item", 5);
    char dir[] = "/tmp/maestro-harden-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    const char *bin = getenv("MAESTRO_BIN");
    char script[12288];
    /* fill the tmpfs with a previous report and a filler, then run with the report there */
    snprintf(script, sizeof script,
             "mount -t tmpfs -o size=16k tmpfs %s || exit 99; echo PREVIOUS > %s/r.json; "
             "head -c 16384 /dev/zero > %s/fill 2>/dev/null; "
             "%s run %s --input '%s' --report %s/r.json --quiet; rc=$?; "
             "echo \"rc=$rc\"; cat %s/r.json; ls -a %s | grep -c '^\\.r\\.json\\.'",
             dir, dir, dir, bin ? bin : th_path("bin/maestro"), wf, items(40), dir, dir, dir);
    char *argv[] = {"unshare", "-m", "sh", "-c", script, NULL};
    char *out, *err;
    ASSERT_EQ_INT(th_run(argv, NULL, &out, &err), 1);   /* grep -c found no temporary file */
    ASSERT_CONTAINS(out, "rc=4\nPREVIOUS\n0\n");
    ASSERT_CONTAINS(err, "the report could not be written to");
    ASSERT_CONTAINS(err, "No space left on device");
    free(out);
    free(err);
    rmdir(dir);
    unlink(wf);
    free(wf);
    stub_stop();
}

/* A report in a directory that does not exist is found out before anything is called. */
TEST(unwritable_report_destination_stops_before_any_call) {
    stub_start();
    char *wf = workflow(stub.port, "POST /item", 5);
    char *argv[] = {"maestro", "run", wf, "--input", items(3), "--report", "/nonexistent-dir/r.json", NULL};
    char *out, *err;
    ASSERT_EQ_INT(spawn(argv, &plain, &out, &err), 2);
    ASSERT_CONTAINS(err, "cannot write the report to /nonexistent-dir/r.json: No such file or directory");
    ASSERT_CONTAINS(err, "nothing was called");
    ASSERT_EQ_STR(out, "");
    free(out);
    free(err);
    /* a directory cannot be replaced by the report */
    char *argv2[] = {"maestro", "run", wf, "--input", items(3), "--report", "/tmp", NULL};
    ASSERT_EQ_INT(spawn(argv2, &plain, &out, &err), 2);
    ASSERT_CONTAINS(err, "cannot write the report to /tmp: Is a directory; nothing was called");
    free(out);
    free(err);
    unlink(wf);
    free(wf);
    stub_stop();
}

/* Under a low descriptor limit a foreach's pooled connections take every descriptor; the report,
 * opened before the run, is still written (it used to be lost while the run exited 0). */
TEST(report_written_when_connections_hold_every_descriptor) {
    stub_start();
    char *wf = workflow(stub.port, "POST /slow", 100), *rep = th_write_temp("", 0, ".json");
    unlink(rep);
    char *argv[] = {"maestro", "run", wf, "--input", items(100), "--report", rep, "--quiet", NULL};
    spawn_opts o = plain;
    o.nofile = 48;
    char *out, *err;
    int code = spawn(argv, &o, &out, &err);
    if (code != 0) fprintf(stderr, "exit %d, stderr: %.2000s\n", code, err);
    ASSERT_EQ_INT(code, 0);
    ASSERT_EQ_STR(out, "{\"n\":100}\n");
    cJSON *j = read_json(rep);
    ASSERT_NOT_NULL(j);
    ASSERT_EQ_STR(status_of(j), "succeeded");
    ASSERT_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "steps")), 100);
    cJSON_Delete(j);
    free(out);
    free(err);
    unlink(wf);
    unlink(rep);
    free(wf);
    free(rep);
    stub_stop();
}
