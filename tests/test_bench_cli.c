/* `maestro bench` end to end: the real binary against `maestro stub` (bench/stubs.yaml, every
 * port 0) with the workflow pointed at it by --set. Asserts the JSON report's fields and counts
 * (runs, errors by class, percentile order), that the stub received exactly the calls the bench
 * claims, that -c bounds the runs in flight, and the exit codes. Never speed. */
#include <cjson/cJSON.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

typedef struct backend {
    th_proc proc;
    char *log;
    int web, rpc;              /* ports */
    char web_set[128], rpc_set[128];
} backend;

static void backend_start(backend *b, const char *stub_file) {
    b->log = th_write_temp("", 0, ".jsonl");
    const char *bin = getenv("MAESTRO_BIN");
    char *argv[] = {(char *)(bin ? bin : th_path("bin/maestro")), "stub", (char *)stub_file, "--log", b->log, NULL};
    ASSERT_EQ_INT(th_spawn(&b->proc, argv, 20), 0);
    /* th_spawn kept the first line's port, not its name: the second line names the other one */
    char line[256], name[64];
    int port = 0;
    ASSERT_NOT_NULL(fgets(line, sizeof line, b->proc.out));
    ASSERT_EQ_INT(sscanf(line, "PORT %d %63s", &port, name), 2);
    if (!strcmp(name, "rpc")) {
        b->web = b->proc.port;
        b->rpc = port;
    } else {
        ASSERT_EQ_STR(name, "web");
        b->web = port;
        b->rpc = b->proc.port;
    }
    snprintf(b->web_set, sizeof b->web_set, "service.web.endpoint=http://127.0.0.1:%d", b->web);
    snprintf(b->rpc_set, sizeof b->rpc_set, "service.rpc.endpoint=127.0.0.1:%d", b->rpc);
}

static int log_lines(backend *b) {
    char *txt = th_read_file(b->log, NULL);
    int n = 0;
    for (char *p = txt; p && *p; p++) n += *p == '\n';
    free(txt);
    return n;
}

/* Stops the stub and returns how many calls it logged (the log is complete once it exited). */
static int backend_stop(backend *b) {
    th_stop(&b->proc);
    int n = log_lines(b);
    unlink(b->log);
    free(b->log);
    return n;
}

/* Runs `maestro bench WF --input IN -n N -c C --json --set SET`; returns the exit code and the
 * parsed stdout (NULL if not JSON). */
static int bench(const char *wf, const char *in, const char *n, const char *c, const char *set, cJSON **json,
                 char **err) {
    char *argv[] = {"maestro", "bench", (char *)wf, "--input", (char *)in, "-n", (char *)n, "-c", (char *)c,
                    "--json", "--set", (char *)set, NULL};
    char *out = NULL;
    int rc = th_maestro(argv, NULL, &out, err);
    *json = out ? cJSON_Parse(out) : NULL;
    if (!*json) fprintf(stderr, "bench stdout was not JSON: %s\n", out ? out : "(null)");
    free(out);
    return rc;
}

static double num(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v)) th_fail(__FILE__, __LINE__, "field %s missing or not a number", k);
    return v->valuedouble;
}

/* The fields every report has, and their relations. */
static void check_report(const cJSON *j, int runs, int steps_per_run) {
    ASSERT_EQ_INT(num(j, "runs"), runs);
    ASSERT_EQ_INT(num(j, "steps"), runs * steps_per_run);
    ASSERT_TRUE(num(j, "runs_per_s") > 0);
    ASSERT_TRUE(num(j, "steps_per_s") >= num(j, "runs_per_s") * steps_per_run * 0.999);
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(j, "latency_ms");
    ASSERT_TRUE(cJSON_IsObject(l));
    double p50 = num(l, "p50"), p90 = num(l, "p90"), p99 = num(l, "p99"), mx = num(l, "max");
    ASSERT_TRUE(p50 > 0);
    ASSERT_TRUE(p50 <= p90);
    ASSERT_TRUE(p90 <= p99);
    ASSERT_TRUE(p99 <= mx);
    ASSERT_TRUE(mx <= num(j, "wall_s") * 1000 + 1);
    ASSERT_TRUE(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "errors")));
    ASSERT_TRUE(num(j, "cpu_s_per_step") > 0);
    ASSERT_TRUE(num(j, "cpu_s_per_step") * num(j, "steps") <= num(j, "cpu_s") * 1.001 + 1e-9);
    ASSERT_TRUE(num(j, "peak_rss_kb") > 1000);
}

static void ok_run(const char *wf, int grpc) {
    backend b;
    backend_start(&b, th_path("bench/stubs.yaml"));
    cJSON *j;
    char *err = NULL;
    int rc = bench(th_path(wf), "{\"id\":\"x\"}", "200", "20", grpc ? b.rpc_set : b.web_set, &j, &err);
    ASSERT_EQ_INT(rc, 0);
    ASSERT_NOT_NULL(j);
    check_report(j, 200, 1);
    ASSERT_EQ_INT(num(j, "succeeded"), 200);
    ASSERT_EQ_INT(num(j, "failed"), 0);
    ASSERT_EQ_INT(num(j, "calls"), 200);
    ASSERT_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "errors")), 0);
    /* stderr is not a terminal here: no progress line */
    ASSERT_EQ_STR(err, "");
    cJSON_Delete(j);
    free(err);
    ASSERT_EQ_INT(backend_stop(&b), 200);
}

TEST(http_200_runs_20_at_a_time) { ok_run("bench/workflows/http1.yaml", 0); }
TEST(grpc_200_runs_20_at_a_time) { ok_run("bench/workflows/grpc1.yaml", 1); }

TEST(stub_sees_exactly_the_calls_counted) {
    backend b;
    backend_start(&b, th_path("bench/stubs.yaml"));
    cJSON *j;
    char *err = NULL;
    ASSERT_EQ_INT(bench(th_path("bench/workflows/grpc1.yaml"), "{\"id\":\"y\"}", "137", "7", b.rpc_set, &j, &err), 0);
    ASSERT_EQ_INT(num(j, "runs"), 137);
    cJSON_Delete(j);
    free(err);
    ASSERT_EQ_INT(bench(th_path("bench/workflows/http1.yaml"), "{\"id\":\"y\"}", "63", "50", b.web_set, &j, &err), 0);
    ASSERT_EQ_INT(num(j, "runs"), 63);
    cJSON_Delete(j);
    free(err);
    ASSERT_EQ_INT(backend_stop(&b), 137 + 63);
}

/* Each call takes 100 ms at the stub: 20 runs 4 at a time need at least 5 rounds. The upper
 * bound of in-flight runs is what is checked, through a lower bound on wall time. */
TEST(concurrency_bounds_runs_in_flight) {
    static const char stub[] =
        "services:\n  web:\n    type: http\n    listen: 127.0.0.1:0\n    routes:\n"
        "      \"POST /echo\": {respond: {ok: true}, delay: 100ms}\n"
        "  rpc:\n    type: grpc\n    listen: 127.0.0.1:0\n    methods:\n      Echo: {respond: {ok: true}, delay: 100ms}\n";
    char *file = th_write_temp(stub, sizeof stub - 1, ".yaml");
    backend b;
    backend_start(&b, file);
    cJSON *j;
    char *err = NULL;
    ASSERT_EQ_INT(bench(th_path("bench/workflows/grpc1.yaml"), "{\"id\":\"z\"}", "20", "4", b.rpc_set, &j, &err), 0);
    ASSERT_EQ_INT(num(j, "runs"), 20);
    ASSERT_TRUE(num(j, "wall_s") >= 0.5);
    ASSERT_TRUE(num(cJSON_GetObjectItemCaseSensitive(j, "latency_ms"), "p50") >= 100);
    cJSON_Delete(j);
    free(err);
    /* -c 1: three runs one after another */
    ASSERT_EQ_INT(bench(th_path("bench/workflows/http1.yaml"), "{\"id\":\"z\"}", "3", "1", b.web_set, &j, &err), 0);
    ASSERT_TRUE(num(j, "wall_s") >= 0.3);
    cJSON_Delete(j);
    free(err);
    backend_stop(&b);
    unlink(file);
    free(file);
}

TEST(failures_are_counted_by_class_and_exit_1) {
    backend b;
    backend_start(&b, th_path("bench/stubs.yaml"));
    cJSON *j;
    char *err = NULL;
    char set[160];
    /* an unknown route: the stub answers 404 */
    snprintf(set, sizeof set, "service.web.endpoint=http://127.0.0.1:%d/nope", b.web);
    ASSERT_EQ_INT(bench(th_path("bench/workflows/http1.yaml"), "{\"id\":\"q\"}", "30", "5", set, &j, &err), 1);
    check_report(j, 30, 1);
    ASSERT_EQ_INT(num(j, "succeeded"), 0);
    ASSERT_EQ_INT(num(j, "failed"), 30);
    ASSERT_EQ_INT(num(cJSON_GetObjectItemCaseSensitive(j, "errors"), "http_4xx"), 30);
    cJSON_Delete(j);
    free(err);
    /* a missing input field: the step's template fails, nothing is called */
    ASSERT_EQ_INT(bench(th_path("bench/workflows/grpc1.yaml"), "{}", "12", "3", b.rpc_set, &j, &err), 1);
    ASSERT_EQ_INT(num(j, "runs"), 12);
    ASSERT_EQ_INT(num(j, "calls"), 0);
    ASSERT_EQ_INT(num(cJSON_GetObjectItemCaseSensitive(j, "errors"), "template"), 12);
    cJSON_Delete(j);
    free(err);
    ASSERT_EQ_INT(backend_stop(&b), 30);   /* the 404s reached it, the template failures did not */
}

TEST(text_output_has_every_figure) {
    backend b;
    backend_start(&b, th_path("bench/stubs.yaml"));
    char *argv[] = {"maestro", "bench", (char *)th_path("bench/workflows/grpc1.yaml"), "--input", "{\"id\":1}",
                    "-n", "50", "-c", "5", "--set", b.rpc_set, NULL};
    char *out = NULL, *err = NULL;
    ASSERT_EQ_INT(th_maestro(argv, NULL, &out, &err), 0);
    ASSERT_CONTAINS(out, "50 (50 succeeded, 0 failed)");
    ASSERT_CONTAINS(out, "runs/s");
    ASSERT_CONTAINS(out, "steps/s");
    ASSERT_CONTAINS(out, "p50 ");
    ASSERT_CONTAINS(out, "p99 ");
    ASSERT_CONTAINS(out, "errors       none");
    ASSERT_CONTAINS(out, "per step");
    ASSERT_CONTAINS(out, "peak rss");
    free(out);
    free(err);
    backend_stop(&b);
}

static int usage_rc(char *const argv[]) {
    char *out = NULL, *err = NULL;
    int rc = th_maestro(argv, NULL, &out, &err);
    if (rc == 2) ASSERT_CONTAINS(err, "maestro bench: ");
    free(out);
    free(err);
    return rc;
}

TEST(usage_errors_exit_2) {
    char *wf = strdup(th_path("bench/workflows/grpc1.yaml"));   /* th_path reuses its buffers */
    char *a1[] = {"maestro", "bench", NULL};
    ASSERT_EQ_INT(usage_rc(a1), 2);
    char *a2[] = {"maestro", "bench", (char *)wf, "-n", "0", NULL};
    ASSERT_EQ_INT(usage_rc(a2), 2);
    char *a3[] = {"maestro", "bench", (char *)wf, "-c", "many", NULL};
    ASSERT_EQ_INT(usage_rc(a3), 2);
    char *a4[] = {"maestro", "bench", (char *)wf, "--frobnicate", "1", NULL};
    ASSERT_EQ_INT(usage_rc(a4), 2);
    char *a5[] = {"maestro", "bench", (char *)wf, "--set", "service.nosuch.endpoint=x:1", NULL};
    ASSERT_EQ_INT(usage_rc(a5), 2);
    char *a6[] = {"maestro", "bench", (char *)wf, "-n", NULL};
    ASSERT_EQ_INT(usage_rc(a6), 2);
    char *a7[] = {"maestro", "bench", (char *)wf, "-n", "-5", NULL};
    ASSERT_EQ_INT(usage_rc(a7), 2);
    /* invalid input and missing workflow: 2, nothing run */
    char *out = NULL, *err = NULL;
    char *a8[] = {"maestro", "bench", (char *)wf, "--input", "[1]", "-n", "3", NULL};
    ASSERT_EQ_INT(th_maestro(a8, NULL, &out, &err), 2);
    ASSERT_CONTAINS(err, "not a JSON object");
    ASSERT_EQ_STR(out, "");
    free(out);
    free(err);
    char *a9[] = {"maestro", "bench", "/nonexistent/wf.yaml", "-n", "3", NULL};
    ASSERT_EQ_INT(th_maestro(a9, NULL, &out, &err), 2);
    ASSERT_EQ_STR(out, "");
    free(out);
    free(err);
    char *a10[] = {"maestro", "bench", "--help", NULL};
    ASSERT_EQ_INT(th_maestro(a10, NULL, &out, &err), 0);
    ASSERT_CONTAINS(out, "-c CONCURRENCY");
    free(out);
    free(err);
    free(wf);
}

/* On a terminal, stderr gets a progress line (every 500 ms) and the text report follows. The
 * calls take 100 ms each and 14 runs go 2 at a time, so the run lasts at least 700 ms. */
TEST(progress_line_only_on_a_terminal) {
    static const char stub[] =
        "services:\n  web:\n    type: http\n    listen: 127.0.0.1:0\n    routes:\n"
        "      \"POST /echo\": {respond: {ok: true}}\n"
        "  rpc:\n    type: grpc\n    listen: 127.0.0.1:0\n    methods:\n      Echo: {respond: {ok: true}, delay: 100ms}\n";
    char *file = th_write_temp(stub, sizeof stub - 1, ".yaml");
    backend b;
    backend_start(&b, file);
    const char *bin = getenv("MAESTRO_BIN");
    char *binp = strdup(bin ? bin : th_path("bin/maestro"));
    char *wf = strdup(th_path("bench/workflows/grpc1.yaml"));
    int master;
    pid_t pid = forkpty(&master, NULL, NULL, NULL);
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        execl(binp, binp, "bench", wf, "--input", "{\"id\":\"p\"}", "-n", "14", "-c", "2", "--set", b.rpc_set,
              (char *)NULL);
        _exit(127);
    }
    char buf[8192];
    size_t len = 0;
    for (;;) {
        ssize_t r = read(master, buf + len, sizeof buf - 1 - len);
        if (r <= 0) break;   /* EIO once the child has exited */
        len += (size_t)r;
        if (len == sizeof buf - 1) break;
    }
    buf[len] = 0;
    int st = 0;
    ASSERT_EQ_INT(waitpid(pid, &st, 0), pid);
    ASSERT_TRUE(WIFEXITED(st));
    ASSERT_EQ_INT(WEXITSTATUS(st), 0);
    ASSERT_CONTAINS(buf, " runs, ");
    ASSERT_CONTAINS(buf, " in flight, ");
    ASSERT_CONTAINS(buf, "14 (14 succeeded, 0 failed)");
    close(master);
    free(binp);
    free(wf);
    backend_stop(&b);
    unlink(file);
    free(file);
}
