/* `maestro serve` under load and abuse: the circuit breaker shared across runs (wrk, 1,000
 * requests at concurrency 50 against a service that always fails UNAVAILABLE, counted in the
 * service's own log; recovery closes it), drain with 100 runs in flight (the stub log proves
 * nothing done was left undone), and hostile clients (slowloris, a 1 GB body, idle
 * connections, a pipelining non-reader, garbage) while a good client is served and the RSS
 * stays bounded. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "tests/serve_fx.h"

static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &l);
    close(fd);
    return ntohs(a.sin_port);
}

static const char BRK_WF[] =
    "name: score\n"
    "services:\n"
    "  scoring:\n"
    "    type: grpc\n"
    "    endpoint: \"127.0.0.1:1\"\n"
    "    timeout: 5s\n"
    "    retry: {attempts: 1}\n"
    "    circuit_breaker: {failures: 5, open_for: 3s, half_open_probes: 1}\n"
    "steps:\n"
    "  - id: eval\n"
    "    service: scoring\n"
    "    method: Evaluate\n"
    "    input: {x: 1}\n"
    "    output: r\n"
    "output:\n"
    "  score: \"{{ .r.score }}\"\n";

static void start_scoring(th_proc *stub, int port, int healthy, char **log) {
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "services:\n"
             "  scoring:\n"
             "    type: grpc\n"
             "    listen: 127.0.0.1:%d\n"
             "    methods:\n"
             "      Evaluate: %s\n",
             port, healthy ? "{respond: {score: 7}}" : "{fail: {status: UNAVAILABLE, message: restarting}}");
    sv_stub(stub, yaml, log);
}

static int log_calls(const char *path) {
    char *t = th_read_file(path, NULL);
    int n = sv_count(t, "\"method\":\"Evaluate\"");
    free(t);
    return n;
}

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

TEST_T(breaker_is_shared_across_runs, 120) {
    int port = free_port();
    th_proc stub;
    char *log;
    start_scoring(&stub, port, 0, &log);
    char *wf = th_write_temp(BRK_WF, strlen(BRK_WF), ".yaml");
    char set[96];
    snprintf(set, sizeof set, "service.scoring.endpoint=127.0.0.1:%d", port);
    char *args[] = {wf, "--set", set, "--max-runs", "100", "--log-level", "warn", "--drain", "1s", NULL};
    sv_proc sv;
    ASSERT_EQ_INT(sv_start(&sv, args), 0);
    /* five failed runs, one after the other, open the breaker */
    for (int i = 0; i < 5; i++) {
        char *out = sv_curl("-o /dev/null -w '%%{http_code}' -X POST -d '{}' http://127.0.0.1:%d/v1/workflows/score/runs", sv.port);
        ASSERT_EQ_STR(out, "502");
        free(out);
    }
    ASSERT_EQ_INT(log_calls(log), 5);
    char *m = sv_curl("http://127.0.0.1:%d/metrics", sv.port);
    ASSERT_EQ_DBL(sv_metric(m, "maestro_breaker_state{service=\"scoring\",state=\"open\"}"), 1, 0);
    free(m);
    /* ~1,000 requests at concurrency 50 while it is open (each wrk thread stops reading
     * after 500 answers; wrk itself ends at -d) */
    const char lua[] =
        "wrk.method = \"POST\"\nwrk.body = \"{}\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n"
        "local n = 0\nfunction response(status, headers, body)\n  n = n + 1\n"
        "  if n >= 500 then wrk.thread:stop() end\nend\n";
    char *script = th_write_temp(lua, strlen(lua), ".lua");
    char url[128], cmd[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/workflows/score/runs", sv.port);
    snprintf(cmd, sizeof cmd, "wrk -t2 -c50 -d4s -s %s %s", script, url);
    char *argv[] = {"sh", "-c", cmd, NULL};
    char *out = NULL, *err = NULL;
    uint64_t t0 = now_ms();
    ASSERT_EQ_INT(th_run(argv, NULL, &out, &err), 0);
    uint64_t elapsed = now_ms() - t0;
    char *p = strstr(out, " requests in ");
    ASSERT_NOT_NULL(p);
    while (p > out && p[-1] >= '0' && p[-1] <= '9') p--;
    long requests = atol(p);
    ASSERT_CMP_INT(requests, >=, 950);
    /* while open: no call; each open_for (3 s) ends in at most one half-open trial */
    int calls = log_calls(log) - 5;
    ASSERT_CMP_INT(calls, <=, (long long)(elapsed / 3000) + 1);
    m = sv_curl("http://127.0.0.1:%d/metrics", sv.port);
    double failed = sv_metric(m, "maestro_runs_ended_total{workflow=\"score\",status=\"failed\"}");
    ASSERT_CMP_INT((long long)failed, >=, 5 + requests);
    ASSERT_CMP_INT(sv_metric(m, "maestro_attempts_total{service=\"scoring\",class=\"circuit_open\"}"), >=, requests - calls);
    free(m);
    free(out);
    free(err);
    /* the service recovers: after open_for, a trial call succeeds and closes the breaker */
    th_stop(&stub);
    free(log);
    start_scoring(&stub, port, 1, &log);
    int closed = 0;
    for (int i = 0; i < 100 && !closed; i++) {
        out = sv_curl("-o /dev/null -w '%%{http_code}' -X POST -d '{}' http://127.0.0.1:%d/v1/workflows/score/runs", sv.port);
        closed = strcmp(out, "200") == 0;
        free(out);
        if (!closed) usleep(100000);
    }
    ASSERT_TRUE(closed);
    m = sv_curl("http://127.0.0.1:%d/metrics", sv.port);
    ASSERT_EQ_DBL(sv_metric(m, "maestro_breaker_state{service=\"scoring\",state=\"closed\"}"), 1, 0);
    free(m);
    ASSERT_EQ_INT(sv_signal_wait(&sv, SIGTERM, 20), 0);
    th_stop(&stub);
    free(script);
    free(wf);
    free(log);
}

static const char DRAIN_WF[] =
    "name: job\n"
    "input:\n"
    "  p: {type: string, required: true}\n"
    "services:\n"
    "  svc: {type: http, endpoint: \"http://127.0.0.1:1\", timeout: 120s, retry: {attempts: 1}, pool: {connections: 250}}\n"
    "steps:\n"
    "  - id: a\n"
    "    service: svc\n"
    "    method: POST /a\n"
    "    input: {}\n"
    "    compensate: {method: POST /undo, input: {}}\n"
    "  - id: b\n"
    "    service: svc\n"
    "    method: \"POST /{{ .input.p }}\"\n"
    "    input: {}\n";

static const char DRAIN_STUB[] =
    "services:\n"
    "  svc:\n"
    "    type: http\n"
    "    listen: 127.0.0.1:0\n"
    "    routes:\n"
    "      \"POST /a\": {respond: {ok: true}}\n"
    "      \"POST /fast\": {respond: {ok: true}, delay: 3s}\n"
    "      \"POST /slow\": {respond: {ok: true}, delay: 100s}\n"
    "      \"POST /undo\": {respond: {ok: true}}\n";

/* Every run whose /a the stub answered has its /fast answered or its /undo received. */
static void check_nothing_left_undone(const char *log, int *fast, int *undo) {
    *fast = *undo = 0;
    int a = 0;
    for (const char *l = log; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        const char *k = strstr(l, "\"idempotency_key\":\"");
        const char *nl = strchr(l, '\n');
        if (!k || (nl && k > nl) || !strstr(l, "\"method\":\"POST /a\"") || (nl && strstr(l, "POST /a") > nl)) continue;
        a++;
        char id[40];
        snprintf(id, sizeof id, "%.32s", k + 19);
        int f = 0, u = 0;
        for (const char *m = log; m && *m; m = strchr(m, '\n') ? strchr(m, '\n') + 1 : NULL) {
            const char *e = strchr(m, '\n');
            size_t n = e ? (size_t)(e - m) : strlen(m);
            char line[1024];
            snprintf(line, sizeof line, "%.*s", (int)(n < 1000 ? n : 1000), m);
            if (!strstr(line, id)) continue;
            f += strstr(line, "\"method\":\"POST /fast\"") && strstr(line, "\"status\":200");
            u += strstr(line, "\"method\":\"POST /undo\"") != NULL;
        }
        if (f + u != 1) th_fail(__FILE__, __LINE__, "run %s: /fast %d, /undo %d", id, f, u);
        *fast += f;
        *undo += u;
    }
    ASSERT_EQ_INT(a, 100);
}

TEST_T(drain_finishes_short_runs_and_compensates_the_rest, 120) {
    th_proc stub;
    char *log;
    sv_stub(&stub, DRAIN_STUB, &log);
    char *wf = th_write_temp(DRAIN_WF, strlen(DRAIN_WF), ".yaml");
    char set[96];
    snprintf(set, sizeof set, "service.svc.endpoint=http://127.0.0.1:%d", stub.port);
    char *args[] = {wf, "--set", set, "--drain", "6s", "--log-level", "warn", NULL};
    sv_proc sv;
    ASSERT_EQ_INT(sv_start(&sv, args), 0);
    char py[1024];
    snprintf(py, sizeof py,
             "import http.client\n"
             "c = http.client.HTTPConnection('127.0.0.1', %d, timeout=30)\n"
             "for i in range(100):\n"
             "    c.request('POST', '/v1/workflows/job/runs?wait=false', body='{\"p\":\"%%s\"}' %% ('fast' if i %% 2 else 'slow'))\n"
             "    r = c.getresponse(); r.read(); assert r.status == 202, r.status\n"
             "print('ok')\n",
             sv.port);
    char *argv[] = {TH_PYTHON, "-c", py, NULL};
    char *out = NULL, *err = NULL;
    ASSERT_EQ_INT(th_run(argv, NULL, &out, &err), 0);
    ASSERT_EQ_STR(out, "ok\n");
    free(out);
    free(err);
    /* all 100 are in flight (their /a answered) */
    for (int i = 0; i < 500; i++) {
        char *t = th_read_file(log, NULL);
        int n = sv_count(t, "\"method\":\"POST /a\"");
        free(t);
        if (n == 100) break;
        usleep(10000);
    }
    char *m = sv_curl("http://127.0.0.1:%d/metrics", sv.port);
    ASSERT_EQ_DBL(sv_metric(m, "maestro_runs_running"), 100, 0);
    free(m);
    uint64_t t0 = now_ms();
    ASSERT_EQ_INT(sv_signal_wait(&sv, SIGTERM, 60), 0);
    uint64_t took = now_ms() - t0;
    ASSERT_CMP_INT(took, >=, 5500);   /* the grace period was given */
    char *t = th_read_file(log, NULL);
    int fast, undo;
    check_nothing_left_undone(t, &fast, &undo);
    ASSERT_EQ_INT(fast, 50);
    ASSERT_EQ_INT(undo, 50);
    free(t);
    char *e = th_read_file(sv.errfile, NULL);
    ASSERT_CONTAINS(e, "cancelling 50 run(s)");
    free(e);
    th_stop(&stub);
    free(wf);
    free(log);
}

static const char ECHO_WF[] =
    "name: echo\n"
    "input:\n"
    "  n: {type: integer, required: true}\n"
    "services:\n"
    "  svc: {type: http, endpoint: \"http://127.0.0.1:1\"}\n"
    "steps:\n"
    "  - id: a\n"
    "    service: svc\n"
    "    method: POST /a\n"
    "    input: {n: \"{{ .input.n }}\"}\n";

static const char ECHO_STUB[] =
    "services:\n"
    "  svc:\n"
    "    type: http\n"
    "    listen: 127.0.0.1:0\n"
    "    routes:\n"
    "      \"POST /a\": {respond: {ok: true}}\n";

static long json_int(const char *j, const char *key) {
    char k[64];
    snprintf(k, sizeof k, "\"%s\": ", key);
    const char *p = strstr(j, k);
    return p ? atol(p + strlen(k)) : -1;
}

TEST_T(hostile_clients_are_bounded_and_others_served, 120) {
    th_proc stub;
    char *log;
    sv_stub(&stub, ECHO_STUB, &log);
    char *wf = th_write_temp(ECHO_WF, strlen(ECHO_WF), ".yaml");
    char set[96];
    snprintf(set, sizeof set, "service.svc.endpoint=http://127.0.0.1:%d", stub.port);
    /* 10,000 idle connections when the descriptor limit allows (the server and the client each
     * need one per connection), fewer otherwise */
    struct rlimit rl;
    ASSERT_EQ_INT(getrlimit(RLIMIT_NOFILE, &rl), 0);
    long idle = rl.rlim_cur == RLIM_INFINITY ? 10000 : (long)rl.rlim_cur - 300;
    if (idle > 10000) idle = 10000;
    ASSERT_CMP_INT(idle, >=, 500);
    char *args[] = {wf, "--set", set, "--request-timeout", "2s", "--max-conns", "12000", "--log-level", "warn", NULL};
    sv_proc sv;
    ASSERT_EQ_INT(sv_start(&sv, args), 0);
    char n_idle[16];
    snprintf(n_idle, sizeof n_idle, "%ld", idle);
    char port[16], pid[16];
    snprintf(port, sizeof port, "%d", sv.port);
    snprintf(pid, sizeof pid, "%d", (int)sv.pid);
    char *argv[] = {TH_PYTHON, (char *)th_path("tests/servers/serve_hostile.py"), port, pid, n_idle, NULL};
    char *out = NULL, *err = NULL;
    ASSERT_EQ_INT(th_run(argv, NULL, &out, &err), 0);
    fprintf(stderr, "%s", out);
    ASSERT_CONTAINS(out, "\"slowloris_status\": \"HTTP/1.1 408");
    ASSERT_CMP_INT(json_int(out, "slowloris_cut_after_s"), <=, 5);
    ASSERT_CONTAINS(out, "\"big_body_status\": \"HTTP/1.1 413");
    ASSERT_CMP_INT(json_int(out, "big_body_sent_mb"), <, 64);
    ASSERT_CONTAINS(out, "\"garbage_status\": \"HTTP/1.1 400");
    ASSERT_EQ_INT(json_int(out, "idle_opened"), idle);
    ASSERT_EQ_INT(json_int(out, "idle_closed_by_server"), 0);
    ASSERT_CMP_INT(json_int(out, "good_ok"), >=, 10);
    ASSERT_EQ_INT(json_int(out, "good_bad"), 0);
    /* memory: 10,000 connections and a stalled pipeliner cost ~18 MB (ASan's shadow and
     * quarantine: ~64 MB); a 64 KiB read buffer kept per connection would be 640 MB */
    long before = json_int(out, "rss_before_kb");
    ASSERT_CMP_INT(json_int(out, "idle_rss_kb") - before, <, 128 * 1024);
    ASSERT_CMP_INT(json_int(out, "pipeliner_rss_kb") - before, <, 128 * 1024);
    ASSERT_CMP_INT(json_int(out, "rss_after_kb") - before, <, 256 * 1024);
    free(out);
    free(err);
    ASSERT_EQ_INT(sv_signal_wait(&sv, SIGTERM, 20), 0);
    th_stop(&stub);
    free(wf);
    free(log);
}

TEST(connections_past_the_cap_are_closed) {
    th_proc stub;
    char *log;
    sv_stub(&stub, ECHO_STUB, &log);
    char *wf = th_write_temp(ECHO_WF, strlen(ECHO_WF), ".yaml");
    char *args[] = {wf, "--max-conns", "20", "--idle-timeout", "1s", NULL};
    sv_proc sv;
    ASSERT_EQ_INT(sv_start(&sv, args), 0);
    char py[1024];
    snprintf(py, sizeof py,
             "import socket, time\n"
             "s = [socket.create_connection(('127.0.0.1', %d)) for _ in range(50)]\n"
             "time.sleep(0.5)\n"
             "def gone(x):\n"
             "    x.setblocking(False)\n"
             "    try: return x.recv(1) == b''\n"
             "    except BlockingIOError: return False\n"
             "    except ConnectionResetError: return True\n"
             "first = sum(gone(x) for x in s)\n"
             "time.sleep(2)\n"
             "print(first, sum(gone(x) for x in s))\n",
             sv.port);
    char *argv[] = {TH_PYTHON, "-c", py, NULL};
    char *out = NULL, *err = NULL;
    ASSERT_EQ_INT(th_run(argv, NULL, &out, &err), 0);
    /* 30 over the cap closed at once; the 20 idle ones after the idle timeout */
    ASSERT_EQ_STR(out, "30 50\n");
    free(out);
    free(err);
    ASSERT_EQ_INT(sv_signal_wait(&sv, SIGTERM, 20), 0);
    th_stop(&stub);
    free(wf);
    free(log);
}

static const char JR_STUB_SLOW[] =
    "services:\n"
    "  svc:\n"
    "    type: http\n"
    "    listen: 127.0.0.1:0\n"
    "    routes:\n"
    "      \"POST /a\": {respond: {ok: true}}\n"
    "      \"POST /slow\": {respond: {ok: true}, delay: 100s}\n"
    "      \"POST /undo\": {respond: {ok: true}}\n";

static const char JR_STUB_FAST[] =
    "services:\n"
    "  svc:\n"
    "    type: http\n"
    "    listen: 127.0.0.1:0\n"
    "    routes:\n"
    "      \"POST /a\": {respond: {ok: true}}\n"
    "      \"POST /slow\": {respond: {ok: true}}\n"
    "      \"POST /undo\": {respond: {ok: true}}\n";

/* With --journal, a drain that runs out of grace leaves the runs journaled (nothing undone,
 * nothing cancelled); the next start resumes them under the same ids: /a is not sent again,
 * the step whose outcome was unknown is, and they succeed. */
TEST_T(journal_drain_leaves_runs_and_next_start_resumes, 120) {
    th_proc stub;
    char *log;
    sv_stub(&stub, JR_STUB_SLOW, &log);
    char *wf = th_write_temp(DRAIN_WF, strlen(DRAIN_WF), ".yaml");
    char *jdir = th_write_temp("", 0, ".d");
    unlink(jdir);
    char set[96];
    snprintf(set, sizeof set, "service.svc.endpoint=http://127.0.0.1:%d", stub.port);
    char *args[] = {wf, "--set", set, "--drain", "1s", "--journal", jdir, NULL};
    sv_proc sv;
    ASSERT_EQ_INT(sv_start(&sv, args), 0);
    char ids[10][33];
    for (int i = 0; i < 10; i++) {
        char *out = sv_curl("-X POST -d '{\"p\":\"slow\"}' 'http://127.0.0.1:%d/v1/workflows/job/runs?wait=false'", sv.port);
        char *p = strstr(out, "\"run_id\":\"");
        ASSERT_NOT_NULL(p);
        snprintf(ids[i], sizeof ids[i], "%.32s", p + 10);
        free(out);
    }
    for (int i = 0; i < 500; i++) {
        char *t = th_read_file(log, NULL);
        int n = sv_count(t, "\"method\":\"POST /a\"");
        free(t);
        if (n == 10) break;
        usleep(10000);
    }
    ASSERT_EQ_INT(sv_signal_wait(&sv, SIGTERM, 30), 0);
    char *e = th_read_file(sv.errfile, NULL);
    ASSERT_CONTAINS(e, "leaving 10 run(s) journaled");
    free(e);
    char *t = th_read_file(log, NULL);
    ASSERT_EQ_INT(sv_count(t, "\"method\":\"POST /undo\""), 0);
    free(t);
    th_stop(&stub);
    free(log);
    /* next start, the service is fast now (another port: --set says where) */
    sv_stub(&stub, JR_STUB_FAST, &log);
    snprintf(set, sizeof set, "service.svc.endpoint=http://127.0.0.1:%d", stub.port);
    ASSERT_EQ_INT(sv_start(&sv, args), 0);
    int done = 0;
    for (int i = 0; i < 300 && done < 10; i++) {
        char *out = sv_curl("'http://127.0.0.1:%d/v1/runs?state=succeeded'", sv.port);
        done = sv_count(out, "\"run_id\"");
        if (done == 10)
            for (int k = 0; k < 10; k++) ASSERT_CONTAINS(out, ids[k]);
        free(out);
        if (done < 10) usleep(20000);
    }
    if (done != 10) {
        char *e2 = th_read_file(sv.errfile, NULL);
        fprintf(stderr, "%s", e2 ? e2 : "");
        free(e2);
    }
    ASSERT_EQ_INT(done, 10);
    t = th_read_file(log, NULL);
    ASSERT_EQ_INT(sv_count(t, "\"method\":\"POST /a\""), 0);
    ASSERT_EQ_INT(sv_count(t, "\"method\":\"POST /slow\""), 10);
    ASSERT_EQ_INT(sv_count(t, "\"method\":\"POST /undo\""), 0);
    free(t);
    ASSERT_EQ_INT(sv_signal_wait(&sv, SIGTERM, 30), 0);
    th_stop(&stub);
    free(log);
    free(wf);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", jdir);
    ASSERT_EQ_INT(system(cmd), 0);
    free(jdir);
}
