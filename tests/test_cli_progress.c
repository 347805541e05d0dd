/* Issue #14, live progress: `maestro run` shows each step starting and ending, retries with
 * their delay, compensations and a foreach summary on stderr when stderr is a terminal (tested
 * through a real pty), in colour unless NO_COLOR is set; nothing on a pipe unless --progress,
 * and then without any escape sequence; --quiet turns it off. Calls go to a real
 * `maestro stub` process. */
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static const char stub_yaml[] =
    "services:\n"
    "  api:\n"
    "    type: http\n"
    "    listen: 127.0.0.1:0\n"
    "    routes:\n"
    "      \"POST /ok\": {respond: {id: 7}}\n"
    "      \"POST /undo\": {respond: {}}\n"
    "      \"POST /item\": {respond: {i: \"{{ .request.i }}\"}, fail: {http: 500, times: 3}}\n"
    "      \"POST /bad\": {respond: {}, fail: {http: 503, times: 1000000, message: down}}\n";

static th_proc stub;
static char *stub_file, *wf_file;

static void setup(void) {
    stub_file = th_write_temp(stub_yaml, strlen(stub_yaml), ".yaml");
    const char *bin = getenv("MAESTRO_BIN");
    char *argv[] = {(char *)(bin ? bin : th_path("bin/maestro")), "stub", stub_file, NULL};
    ASSERT_EQ_INT(th_spawn(&stub, argv, 20), 0);
    char y[2048];
    int n = snprintf(y, sizeof y,
                     "name: prog\n"
                     "input: {items: {type: array, required: true}}\n"
                     "services:\n"
                     "  api: {type: http, endpoint: \"http://127.0.0.1:%d\",\n"
                     "        retry: {attempts: 2, initial: 1ms, max: 2ms}}\n"
                     "steps:\n"
                     "  - id: create\n"
                     "    service: api\n"
                     "    method: POST /ok\n"
                     "    compensate: {method: POST /undo}\n"
                     "  - id: each\n"
                     "    foreach: \"{{ .input.items }}\"\n"
                     "    as: it\n"
                     "    concurrency: 1\n"
                     "    do: {id: one, service: api, method: POST /item, input: {i: \"{{ .it }}\"},\n"
                     "         retry: {attempts: 1}, continue_on_error: true}\n"
                     "  - id: flaky\n"
                     "    service: api\n"
                     "    method: POST /bad\n",
                     stub.port);
    wf_file = th_write_temp(y, (size_t)n, ".yaml");
}

static void teardown(void) {
    th_stop(&stub);
    unlink(stub_file);
    unlink(wf_file);
    free(stub_file);
    free(wf_file);
}

/* Runs maestro run on the workflow with stderr (and stdout) on a new pty, environment
 * TERM=xterm plus extra ("NAME=VALUE" or NULL). Returns the exit code; *text is what the
 * terminal received. */
static int run_pty(const char *extra_env, const char *flag, char **text) {
    const char *bin = getenv("MAESTRO_BIN");
    int master = -1;
    pid_t pid = forkpty(&master, NULL, NULL, NULL);
    ASSERT_CMP_INT(pid, >=, 0);
    if (pid == 0) {
        unsetenv("NO_COLOR");
        setenv("TERM", "xterm", 1);
        if (extra_env) putenv((char *)extra_env);
        char *argv[] = {(char *)(bin ? bin : th_path("bin/maestro")), "run", wf_file, "--input",
                        "{\"items\":[1,2,3,4,5,6,7,8]}", (char *)flag, NULL};
        execv(argv[0], argv);
        _exit(127);
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (len + 1 >= cap) buf = realloc(buf, cap *= 2);
        ssize_t r = read(master, buf + len, cap - len - 1);
        if (r > 0) len += (size_t)r;
        else if (r < 0 && errno == EINTR) continue;
        else break;   /* EIO once the child has exited and closed the pty */
    }
    buf[len] = 0;
    close(master);
    int st = 0;
    waitpid(pid, &st, 0);
    *text = buf;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void assert_story(const char *t, int color) {
    ASSERT_CONTAINS(t, "prog run ");
    ASSERT_CONTAINS(t, "start");
    ASSERT_CONTAINS(t, "create");
    ASSERT_CONTAINS(t, "api POST /ok");
    /* the retry with its delay, then the failure with its class and attempts */
    ASSERT_CONTAINS(t, "attempt 1 failed: http_5xx");
    ASSERT_CONTAINS(t, "next in ");
    ASSERT_CONTAINS(t, "after 2 attempts");
    /* foreach summarised: 8 items (known from the input), the first 3 failed */
    ASSERT_CONTAINS(t, "foreach: 5/8 done, 3 failed");
    /* the compensation as it runs */
    ASSERT_CONTAINS(t, "undo");
    ASSERT_CONTAINS(t, "api POST /undo");
    ASSERT_CONTAINS(t, color ? "maestro: prog \033[1;31mfailed\033[0m in " : "maestro: prog failed in ");
}

TEST(progress_on_a_terminal_in_colour) {
    setup();
    char *t = NULL;
    ASSERT_EQ_INT(run_pty(NULL, NULL, &t), 1);
    assert_story(t, 1);
    ASSERT_CONTAINS(t, "\033[32m");     /* ok in green */
    ASSERT_CONTAINS(t, "\033[1;31m");   /* FAIL in red */
    ASSERT_CONTAINS(t, "\033[35m");     /* undo in the accent colour */
    /* the foreach's summary line is redrawn in place, and cleared before the next line */
    ASSERT_CONTAINS(t, "...    each ");
    ASSERT_CONTAINS(t, "\r\033[K");
    /* the default log level does not repeat the story as warnings */
    ASSERT_FALSE(strstr(t, " warn "));
    free(t);
    teardown();
}

TEST(no_color_on_a_terminal) {
    setup();
    char *t = NULL;
    ASSERT_EQ_INT(run_pty("NO_COLOR=1", NULL, &t), 1);
    assert_story(t, 0);
    ASSERT_FALSE(strstr(t, "\033[3"));
    ASSERT_FALSE(strstr(t, "\033[1;"));
    ASSERT_FALSE(strstr(t, "\033[2m"));
    free(t);
    teardown();
}

TEST(quiet_on_a_terminal) {
    setup();
    char *t = NULL;
    ASSERT_EQ_INT(run_pty(NULL, "--quiet", &t), 1);
    ASSERT_FALSE(strstr(t, "next in"));
    ASSERT_FALSE(strstr(t, "start"));
    /* the failure summary stays */
    ASSERT_CONTAINS(t, "step 'flaky' failed after 2 attempts");
    free(t);
    teardown();
}

TEST(pipe_has_no_progress_unless_asked) {
    setup();
    char *out = NULL, *err = NULL;
    char *a[] = {"maestro", "run", wf_file, "--input", "{\"items\":[1,2,3,4,5,6,7,8]}", NULL};
    ASSERT_EQ_INT(th_maestro(a, NULL, &out, &err), 1);
    ASSERT_FALSE(strstr(err, "next in"));
    ASSERT_FALSE(strstr(err, "foreach:"));
    free(out);
    free(err);
    teardown();   /* a fresh stub: its first three items fail again */
    setup();
    char *b[] = {"maestro", "run", wf_file, "--input", "{\"items\":[1,2,3,4,5,6,7,8]}", "--progress", NULL};
    ASSERT_EQ_INT(th_maestro(b, NULL, &out, &err), 1);
    assert_story(err, 0);
    ASSERT_FALSE(strchr(err, '\033'));
    ASSERT_FALSE(strchr(err, '\r'));
    ASSERT_EQ_STR(out, "");
    free(out);
    free(err);
    teardown();
}

/* Text logs: millisecond timestamps and the whole run id (the one the summary and the report
 * give), so lines can be matched with both. */
TEST(log_lines_have_ms_and_whole_run_ids) {
    setup();
    char *out = NULL, *err = NULL;
    char *a[] = {"maestro", "run", wf_file, "--input", "{\"items\":[1]}", "--log-level", "info", NULL};
    ASSERT_EQ_INT(th_maestro(a, NULL, &out, &err), 1);
    const char *run = strstr(err, " run=");
    ASSERT_NOT_NULL(run);
    size_t hex = strspn(run + 5, "0123456789abcdef");
    ASSERT_EQ_INT(hex, 32);
    /* the summary names the same id */
    char id[40];
    snprintf(id, sizeof id, "(run %.32s)", run + 5);
    ASSERT_CONTAINS(err, id);
    /* YYYY-MM-DDTHH:MM:SS.mmmZ at the start of the line */
    ASSERT_EQ_INT(err[19], '.');
    ASSERT_EQ_INT(strspn(err + 20, "0123456789"), 3);
    ASSERT_EQ_INT(err[23], 'Z');
    free(out);
    free(err);
    teardown();
}

/* A service's message (a gRPC status message is raw text) cannot drive the terminal through
 * the progress lines: ESC, C1 controls and newlines arrive as plain spaces, on one line. */
TEST(service_text_is_made_safe) {
    const char s[] =
        "services:\n"
        "  rpc:\n"
        "    type: grpc\n"
        "    listen: 127.0.0.1:0\n"
        "    methods:\n"
        "      X: {fail: {status: FAILED_PRECONDITION, message: \"a\\e[2Jb\\x9b31mc\\nforged d\"}}\n";
    char *sf = th_write_temp(s, sizeof s - 1, ".yaml");
    const char *bin = getenv("MAESTRO_BIN");
    char *argv[] = {(char *)(bin ? bin : th_path("bin/maestro")), "stub", sf, NULL};
    th_proc p;
    ASSERT_EQ_INT(th_spawn(&p, argv, 20), 0);
    char y[512];
    int n = snprintf(y, sizeof y,
                     "name: esc\nservices:\n  rpc: {type: grpc, endpoint: \"127.0.0.1:%d\", retry: {attempts: 1}}\n"
                     "steps:\n  - {id: x, service: rpc, method: X}\n",
                     p.port);
    char *wf = th_write_temp(y, (size_t)n, ".yaml");
    char *out = NULL, *err = NULL;
    char *a[] = {"maestro", "run", wf, "--progress", NULL};
    ASSERT_EQ_INT(th_maestro(a, NULL, &out, &err), 1);
    /* the progress line (the summary after it has its own escaping, tested elsewhere) */
    char *l = strstr(err, "  FAIL   x ");
    ASSERT_NOT_NULL(l);
    *strchr(l, '\n') = 0;
    ASSERT_FALSE(strchr(l, '\033'));
    ASSERT_FALSE(strstr(l, "\xc2\x9b"));
    ASSERT_CONTAINS(l, "grpc:FAILED_PRECONDITION: a [2Jb 31mc forged d");
    free(out);
    free(err);
    th_stop(&p);
    unlink(sf);
    unlink(wf);
    free(sf);
    free(wf);
}

/* Logs asked for next to the progress start on a line of their own: never glued to the
 * redrawn foreach line. */
TEST(logs_with_progress_on_their_own_lines) {
    setup();
    char *t = NULL;
    ASSERT_EQ_INT(run_pty("NO_COLOR=1", "--log-level=info", &t), 1);
    int n = 0;
    static const char *const marks[] = {"Z info  run=", "Z warn  run="};
    for (size_t m = 0; m < 2; m++) {
        for (const char *p = t; (p = strstr(p, marks[m])); p++, n++) {
            /* "YYYY-MM-DDTHH:MM:SS.mmm" precedes the Z; before it, a line start or a cleared line */
            ASSERT_TRUE(p - t >= 23);
            const char *start = p - 23;
            if (!(start == t || start[-1] == '\n' || (start - t >= 3 && !strncmp(start - 3, "\033[K", 3))))
                th_fail(__FILE__, __LINE__, "a log line glued to the status line:\n%.*s", (int)(p - t > 80 ? 80 : p - t) + 40,
                        p - (p - t > 80 ? 80 : p - t));
        }
    }
    ASSERT_CMP_INT(n, >=, 6);
    ASSERT_CONTAINS(t, "foreach: 5/8 done, 3 failed");
    free(t);
    teardown();
}
