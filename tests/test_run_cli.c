/* `maestro run` end to end: exit codes 0/1/2/3/130, stdout holding only the output JSON, the
 * failure summary on stderr, --report, --input forms, --set, --timeout, and signals. Calls go
 * to the scripted transport: these run the CLI's test build (th_maestro_test), which reads the
 * rules file named by MAESTRO_SCRIPT (tests/support/cli_script.h). */
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "harness.h"

static const char wf_yaml[] =
    "name: cli\n"
    "input: {who: {type: string, required: true}, n: {type: integer, default: 7}}\n"
    "services:\n  s:\n    type: grpc\n    endpoint: \"127.0.0.1:1\"\n    retry: {attempts: 2, initial: 1ms, max: 1ms}\n"
    "steps:\n"
    "  - {id: one, service: s, method: One, input: {who: \"{{ .input.who }}\", n: \"{{ .input.n }}\"}, output: r1,\n"
    "     compensate: {method: UndoOne, input: {who: \"{{ .r1.who }}\"}}}\n"
    "  - {id: two, service: s, method: Two, output: r2}\n"
    "output: {greeting: \"hi {{ .r1.who }}\", n: \"{{ .r1.n }}\", two: \"{{ .r2 }}\"}\n";

static char *wf_path, *script_path, *out, *err;
static char *temps[4];
static int n_temps;

static void setup(const char *script_json) {
    wf_path = th_write_temp(wf_yaml, strlen(wf_yaml), ".yaml");
    script_path = th_write_temp(script_json, strlen(script_json), ".json");
    setenv("MAESTRO_SCRIPT", script_path, 1);
}

static char *temp(const char *text) {
    char *p = th_write_temp(text, strlen(text), ".json");
    temps[n_temps++] = p;
    return p;
}

/* Runs maestro; out and err hold its stdout and stderr until the next call. */
static int mrun(char *const argv[], const char *stdin_text) {
    free(out);
    free(err);
    out = err = NULL;
    return th_maestro_test(argv, stdin_text, &out, &err);
}

static void teardown(void) {
    free(out);
    free(err);
    out = err = NULL;
    unlink(wf_path);
    unlink(script_path);
    free(wf_path);
    free(script_path);
    for (int i = 0; i < n_temps; i++) {
        unlink(temps[i]);
        free(temps[i]);
    }
    n_temps = 0;
}

static cJSON *read_json(const char *path) {
    char *t = th_read_file(path, NULL);
    cJSON *j = t ? cJSON_Parse(t) : NULL;
    free(t);
    return j;
}

TEST(run_success_prints_only_the_output_json) {
    setup("[{\"method\":\"Two\",\"output\":{\"ok\":true}}]");   /* One echoes its input */
    char *argv[] = {"maestro", "run", wf_path, "--input", "{\"who\":\"ann\"}", NULL};
    int code = mrun(argv, NULL);
    ASSERT_EQ_INT(code, 0);
    cJSON *o = cJSON_Parse(out);
    ASSERT_NOT_NULL(o);
    ASSERT_EQ_STR(cJSON_GetObjectItem(o, "greeting")->valuestring, "hi ann");
    ASSERT_EQ_INT(cJSON_GetObjectItem(o, "n")->valueint, 7);     /* default filled in */
    ASSERT_TRUE(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "two"), "ok")));
    cJSON_Delete(o);
    /* the same with execute, input from stdin */
    char *argv2[] = {"maestro", "execute", wf_path, "--input", "-", "--quiet", NULL};
    code = mrun(argv2, "{\"who\":\"bo\"}");
    ASSERT_EQ_INT(code, 0);
    ASSERT_CONTAINS(out, "hi bo");
    ASSERT_EQ_STR(err, "");
    teardown();
}

TEST(run_input_from_file_and_report_written) {
    setup("[]");
    char *in = temp("{\"who\":\"cy\"}");
    char at[512];
    snprintf(at, sizeof at, "@%s", in);
    char *rep = temp("");
    char *argv[] = {"maestro", "run", wf_path, "--input", at, "--report", rep, NULL};
    int code = mrun(argv, NULL);
    ASSERT_EQ_INT(code, 0);
    cJSON *j = read_json(rep);
    ASSERT_NOT_NULL(j);
    ASSERT_EQ_STR(cJSON_GetObjectItem(j, "status")->valuestring, "succeeded");
    ASSERT_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "steps")), 2);
    ASSERT_EQ_INT(strlen(cJSON_GetObjectItem(j, "run_id")->valuestring), 32);
    cJSON_Delete(j);
    teardown();
}

TEST(run_invalid_input_exits_2_and_calls_nothing) {
    setup("[{\"method\":\"One\",\"hang\":true}]");
    char *argv[] = {"maestro", "run", wf_path, "--input", "{\"n\":\"x\"}", NULL};
    ASSERT_EQ_INT(mrun(argv, NULL), 2);
    ASSERT_EQ_STR(out, "");
    ASSERT_CONTAINS(err, "who");
    ASSERT_CONTAINS(err, "nothing was called");
    char *rep = temp("");
    char *argv1[] = {"maestro", "run", wf_path, "--input", "{}", "--report", rep, NULL};
    ASSERT_EQ_INT(mrun(argv1, NULL), 2);
    cJSON *j = read_json(rep);
    ASSERT_NOT_NULL(j);
    ASSERT_EQ_STR(cJSON_GetObjectItem(j, "status")->valuestring, "failed");
    ASSERT_EQ_STR(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "class")->valuestring, "invalid_input");
    ASSERT_CONTAINS(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "message")->valuestring, "who");
    cJSON_Delete(j);
    char *argv2[] = {"maestro", "run", wf_path, "--input", "not json", NULL};
    ASSERT_EQ_INT(mrun(argv2, NULL), 2);
    ASSERT_CONTAINS(err, "line 1, column 1: not valid JSON");
    /* a valid object followed by junk is refused, with where the junk starts; one message */
    char *argv2b[] = {"maestro", "run", wf_path, "--input", "{\"who\":\"a\"} junk", NULL};
    ASSERT_EQ_INT(mrun(argv2b, NULL), 2);
    ASSERT_CONTAINS(err, "line 1, column 13: unexpected text after the JSON value");
    ASSERT_NULL(strstr(err, "not a JSON object"));
    char *argv2c[] = {"maestro", "run", wf_path, "--input", "{\"who\":\n \"a\",, }", NULL};
    ASSERT_EQ_INT(mrun(argv2c, NULL), 2);
    ASSERT_CONTAINS(err, "line 2, column ");
    ASSERT_CONTAINS(err, "not valid JSON");
    char *argv3[] = {"maestro", "run", wf_path, "--bogus", "x", NULL};
    ASSERT_EQ_INT(mrun(argv3, NULL), 2);
    char *argv4[] = {"maestro", "run", "/nonexistent.yaml", NULL};
    ASSERT_EQ_INT(mrun(argv4, NULL), 2);
    char *argv5[] = {"maestro", "run", wf_path, "--input", "{\"who\":\"a\"}", "--set", "service.nope.endpoint=x", NULL};
    ASSERT_EQ_INT(mrun(argv5, NULL), 2);
    ASSERT_CONTAINS(err, "nope");
    char *argv6[] = {"maestro", "run", wf_path, "--input", "{\"who\":\"a\"}", "--timeout", "soon", NULL};
    ASSERT_EQ_INT(mrun(argv6, NULL), 2);
    teardown();
}

TEST(run_failure_exits_1_with_a_summary_on_stderr) {
    setup("[{\"method\":\"Two\",\"fail_times\":-1,\"fail_class\":\"http_4xx\",\"status\":409,"
          "\"message\":\"order already exists\"}]");
    char *rep = temp("");
    char *argv[] = {"maestro", "run", wf_path, "--input", "{\"who\":\"d\"}", "--report", rep,
                    "--set", "service.s.endpoint=127.0.0.1:9", NULL};
    ASSERT_EQ_INT(mrun(argv, NULL), 1);
    ASSERT_EQ_STR(out, "");
    ASSERT_CONTAINS(err, "step 'two' failed after 1 attempt");
    ASSERT_CONTAINS(err, "order already exists");
    ASSERT_CONTAINS(err, "compensated: one");
    cJSON *j = read_json(rep);
    ASSERT_EQ_STR(cJSON_GetObjectItem(j, "status")->valuestring, "failed");
    ASSERT_EQ_STR(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "compensations"), 0), "status")->valuestring,
                  "succeeded");
    cJSON_Delete(j);
    teardown();
}

TEST(run_compensation_failure_exits_3) {
    setup("[{\"method\":\"Two\",\"fail_times\":-1,\"fail_class\":\"app_error\",\"message\":\"no\"},"
          "{\"method\":\"UndoOne\",\"fail_times\":-1,\"fail_class\":\"app_error\",\"message\":\"cannot undo\"}]");
    char *argv[] = {"maestro", "run", wf_path, "--input", "{\"who\":\"e\"}", "--log-format", "json", NULL};
    ASSERT_EQ_INT(mrun(argv, NULL), 3);
    ASSERT_EQ_STR(out, "");
    ASSERT_CONTAINS(err, "manual clean-up");
    ASSERT_CONTAINS(err, "cannot undo");
    ASSERT_CONTAINS(err, "\"level\":\"error\"");   /* JSON log lines */
    teardown();
}

TEST(run_timeout_option_overrides_the_workflow) {
    setup("[{\"method\":\"Two\",\"hang\":true}]");
    /* no journal: its fdatasync before each call could take longer than 50ms on a busy disk */
    char *argv[] = {"maestro", "run", wf_path, "--input", "{\"who\":\"f\"}", "--timeout", "50ms", "--no-journal", NULL};
    ASSERT_EQ_INT(mrun(argv, NULL), 1);
    ASSERT_CONTAINS(err, "timed out");
    ASSERT_CONTAINS(err, "compensated: one");
    ASSERT_CONTAINS(err, "outcome unknown");
    teardown();
}

/* Starts maestro with stderr on a pipe, waits until it is running, sends signals. */
static int run_with_signals(int nsig, char **err_out) {
    int ep[2];
    ASSERT_EQ_INT(pipe(ep), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(ep[1], 2);
        close(ep[0]);
        int dn = open("/dev/null", 1);
        dup2(dn, 1);
        const char *bin = th_maestro_test_bin();
        execl(bin, "maestro", "run", wf_path, "--input", "{\"who\":\"g\"}", "--log-level", "info", (char *)NULL);
        _exit(127);
    }
    close(ep[1]);
    /* wait for the hanging step to be sent (info log mentions step two) */
    char buf[65536];
    size_t n = 0;
    while (n < sizeof buf - 1) {
        ssize_t r = read(ep[0], buf + n, sizeof buf - 1 - n);
        if (r <= 0) break;
        n += (size_t)r;
        buf[n] = 0;
        if (strstr(buf, "step=one") && strstr(buf, "succeeded")) break;
    }
    for (int i = 0; i < nsig; i++) kill(pid, i == 0 ? SIGINT : SIGTERM);
    for (;;) {
        ssize_t r = read(ep[0], buf + n, sizeof buf - 1 - n);
        if (r <= 0) break;
        n += (size_t)r;
    }
    buf[n] = 0;
    close(ep[0]);
    int st;
    waitpid(pid, &st, 0);
    *err_out = strdup(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
}

TEST(run_sigint_cancels_compensates_and_exits_130) {
    setup("[{\"method\":\"Two\",\"hang\":true},{\"method\":\"UndoOne\",\"latency_ms\":10}]");
    ASSERT_EQ_INT(run_with_signals(1, &err), 130);
    ASSERT_CONTAINS(err, "SIGINT received");
    ASSERT_CONTAINS(err, "was interrupted");
    ASSERT_CONTAINS(err, "compensated: one");
    teardown();
}

TEST(run_interrupted_with_a_failed_compensation_exits_3) {
    /* exit 3 (manual clean-up needed) wins over 130 */
    setup("[{\"method\":\"Two\",\"hang\":true},"
          "{\"method\":\"UndoOne\",\"fail_times\":-1,\"fail_class\":\"app_error\",\"message\":\"cannot undo\"}]");
    ASSERT_EQ_INT(run_with_signals(1, &err), 3);
    ASSERT_CONTAINS(err, "was interrupted");
    ASSERT_CONTAINS(err, "NOT compensated");
    ASSERT_CONTAINS(err, "cannot undo");
    teardown();
}

TEST(run_second_signal_exits_at_once) {
    /* the compensation hangs: only the second signal ends the process */
    setup("[{\"method\":\"Two\",\"hang\":true},{\"method\":\"UndoOne\",\"hang\":true}]");
    ASSERT_EQ_INT(run_with_signals(2, &err), 130);
    ASSERT_CONTAINS(err, "second signal");
    teardown();
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Reads ep until needle appears in buf (or EOF). */
static size_t read_until(int fd, char *buf, size_t n, size_t cap, const char *needle) {
    while (n < cap - 1 && !strstr(buf, needle)) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r <= 0) break;
        n += (size_t)r;
        buf[n] = 0;
    }
    return n;
}

TEST(run_second_signal_during_compensation_writes_the_report) {
    /* the undo hangs: the second signal (sent once compensation has begun) must exit 130 at
     * once, with a report and a summary naming the step that was not undone */
    setup("[{\"method\":\"Two\",\"hang\":true},{\"method\":\"UndoOne\",\"hang\":true}]");
    char *rep = temp("");
    unlink(rep);
    int ep[2];
    ASSERT_EQ_INT(pipe(ep), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(ep[1], 2);
        close(ep[0]);
        int dn = open("/dev/null", 1);
        dup2(dn, 1);
        execl(th_maestro_test_bin(), "maestro", "run", wf_path, "--input", "{\"who\":\"g\"}", "--log-level", "info",
              "--report", rep, (char *)NULL);
        _exit(127);
    }
    close(ep[1]);
    static char buf[65536];
    buf[0] = 0;
    size_t n = read_until(ep[0], buf, 0, sizeof buf, "step=one");
    n = read_until(ep[0], buf, n, sizeof buf, "succeeded");
    kill(pid, SIGINT);
    n = read_until(ep[0], buf, n, sizeof buf, "compensating");
    double t0 = now_s();
    kill(pid, SIGINT);
    int st;
    waitpid(pid, &st, 0);
    double took = now_s() - t0;
    n = read_until(ep[0], buf, n, sizeof buf, "\x01");  /* the rest, to EOF */
    close(ep[0]);
    ASSERT_TRUE(WIFEXITED(st));
    ASSERT_EQ_INT(WEXITSTATUS(st), 130);
    ASSERT_TRUE(took < 1.0);
    ASSERT_CONTAINS(buf, "second signal");
    ASSERT_CONTAINS(buf, "NOT compensated");
    ASSERT_CONTAINS(buf, "  one: cancelled");
    ASSERT_CONTAINS(buf, "full report: ");
    cJSON *j = read_json(rep);
    ASSERT_TRUE(j != NULL);
    ASSERT_EQ_STR(cJSON_GetObjectItem(j, "status")->valuestring, "interrupted");
    cJSON *unc = cJSON_GetObjectItem(j, "uncompensated");
    ASSERT_EQ_INT(cJSON_GetArraySize(unc), 1);
    ASSERT_EQ_STR(cJSON_GetArrayItem(unc, 0)->valuestring, "one");
    cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "compensations"), 0);
    ASSERT_EQ_STR(cJSON_GetObjectItem(c0, "status")->valuestring, "failed");
    cJSON_Delete(j);
    teardown();
}
