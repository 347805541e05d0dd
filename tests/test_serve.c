/* `maestro serve` over its HTTP API with real clients (curl, Python's http.client) against a
 * real stub: wait, async + poll, list, cancel with compensation, the status mapping, an
 * idempotent POST, 429 past --max-runs, metrics checked against the runs made, a bad workflow
 * refused before listening, SIGHUP reload keeping a broken file's previous version. */
#include <stdarg.h>

#include "tests/serve_fx.h"

/* One HTTP service: /a (compensated by /undo), then /{{p}} (fast, slow or bad). */
static const char WF[] =
    "name: echo\n"
    "version: \"1\"\n"
    "input:\n"
    "  n: {type: integer, required: true}\n"
    "  p: {type: string, default: fast}\n"
    "services:\n"
    "  svc:\n"
    "    type: http\n"
    "    endpoint: \"http://127.0.0.1:1\"\n"
    "    timeout: 60s\n"
    "    retry: {attempts: 1}\n"
    "steps:\n"
    "  - id: a\n"
    "    service: svc\n"
    "    method: POST /a\n"
    "    input: {n: \"{{ .input.n }}\"}\n"
    "    output: a\n"
    "    compensate:\n"
    "      method: POST /undo\n"
    "      input: {n: \"{{ .input.n }}\"}\n"
    "  - id: b\n"
    "    service: svc\n"
    "    method: \"POST /{{ .input.p }}\"\n"
    "    input: {n: \"{{ .input.n }}\"}\n"
    "output:\n"
    "  got: \"{{ .a.n }}\"\n";

static const char STUB[] =
    "services:\n"
    "  svc:\n"
    "    type: http\n"
    "    listen: 127.0.0.1:0\n"
    "    routes:\n"
    "      \"POST /a\": {respond: {n: \"{{ .request.n }}\"}}\n"
    "      \"POST /fast\": {respond: {ok: true}}\n"
    "      \"POST /slow\": {respond: {ok: true}, delay: 20s}\n"
    "      \"POST /bad\": {fail: {http: 500, message: down}}\n"
    "      \"POST /undo\": {respond: {undone: true}}\n";

typedef struct env {
    th_proc stub;
    char *log;
    sv_proc sv;
    char *wf;
    char set[128];
} env;

static void env_start(env *e, const char *extra1, const char *extra2) {
    sv_stub(&e->stub, STUB, &e->log);
    e->wf = th_write_temp(WF, strlen(WF), ".yaml");
    snprintf(e->set, sizeof e->set, "service.svc.endpoint=http://127.0.0.1:%d", e->stub.port);
    /* a short grace: stopping a test's server does not wait for a slow run */
    char *args[] = {e->wf, "--set", e->set, "--drain", "1s", (char *)extra1, (char *)extra2, NULL};
    if (!extra1) args[5] = NULL;
    ASSERT_EQ_INT(sv_start(&e->sv, args), 0);
}

static void env_stop(env *e) {
    ASSERT_EQ_INT(sv_signal_wait(&e->sv, SIGTERM, 20), 0);
    th_stop(&e->stub);
    free(e->log);
    free(e->wf);
}

static char *log_text(env *e) {
    char *t = th_read_file(e->log, NULL);
    return t ? t : strdup("");
}

TEST(post_waits_and_answers_output_or_mapped_failure) {
    env e;
    env_start(&e, NULL, NULL);
    char *out = sv_curl("-i -X POST -d '{\"n\":5}' http://127.0.0.1:%d/v1/workflows/echo/runs", e.sv.port);
    ASSERT_CONTAINS(out, "HTTP/1.1 200");
    ASSERT_CONTAINS(out, "\"status\":\"succeeded\",\"output\":{\"got\":5}");
    free(out);
    /* failed after /a: compensated, 502 with the report */
    out = sv_curl("-i -X POST -d '{\"n\":6,\"p\":\"bad\"}' http://127.0.0.1:%d/v1/workflows/echo/runs", e.sv.port);
    ASSERT_CONTAINS(out, "HTTP/1.1 502");
    ASSERT_CONTAINS(out, "\"status\":\"failed\"");
    ASSERT_CONTAINS(out, "\"compensations\"");
    free(out);
    char *log = log_text(&e);
    ASSERT_EQ_INT(sv_count(log, "\"method\":\"POST /undo\""), 1);
    free(log);
    /* invalid input: 422 and nothing called */
    out = sv_curl("-i -X POST -d '{\"m\":1}' http://127.0.0.1:%d/v1/workflows/echo/runs", e.sv.port);
    ASSERT_CONTAINS(out, "HTTP/1.1 422");
    ASSERT_CONTAINS(out, "input.n");
    free(out);
    out = sv_curl("-i -X POST -d 'not json' http://127.0.0.1:%d/v1/workflows/echo/runs", e.sv.port);
    ASSERT_CONTAINS(out, "HTTP/1.1 422");
    free(out);
    out = sv_curl("-i -X POST -d '{}' http://127.0.0.1:%d/v1/workflows/nope/runs", e.sv.port);
    ASSERT_CONTAINS(out, "HTTP/1.1 404");
    free(out);
    out = sv_curl("-i -X PUT http://127.0.0.1:%d/v1/workflows/echo/runs", e.sv.port);
    ASSERT_CONTAINS(out, "HTTP/1.1 405");
    ASSERT_CONTAINS(out, "Allow: POST");
    free(out);
    log = log_text(&e);
    ASSERT_EQ_INT(sv_count(log, "\"method\":\"POST /a\""), 2);
    free(log);
    env_stop(&e);
}

TEST(async_post_poll_list_and_workflows) {
    env e;
    env_start(&e, NULL, NULL);
    char *out = sv_curl("-i -X POST -H 'Prefer: respond-async' -d '{\"n\":7}' http://127.0.0.1:%d/v1/workflows/echo/runs", e.sv.port);
    ASSERT_CONTAINS(out, "HTTP/1.1 202");
    char *loc = strstr(out, "Location: /v1/runs/");
    ASSERT_NOT_NULL(loc);
    char id[33];
    snprintf(id, sizeof id, "%.32s", loc + strlen("Location: /v1/runs/"));
    ASSERT_CONTAINS(out, id);
    free(out);
    /* poll until it is over: each poll is a real request, bounded in number */
    int done = 0;
    for (int i = 0; i < 200 && !done; i++) {
        out = sv_curl("http://127.0.0.1:%d/v1/runs/%s", e.sv.port, id);
        done = strstr(out, "\"state\":\"succeeded\"") != NULL;
        if (done) {
            ASSERT_CONTAINS(out, "\"output\":{\"got\":7}");
            ASSERT_CONTAINS(out, "\"report\":{");
        }
        free(out);
    }
    ASSERT_TRUE(done);
    out = sv_curl("-X POST -d '{\"n\":8}' 'http://127.0.0.1:%d/v1/workflows/echo/runs?wait=false'", e.sv.port);
    ASSERT_CONTAINS(out, "\"run_id\"");
    free(out);
    out = sv_curl("-X POST -d '{\"n\":9,\"p\":\"bad\"}' http://127.0.0.1:%d/v1/workflows/echo/runs", e.sv.port);
    free(out);
    out = sv_curl("'http://127.0.0.1:%d/v1/runs?state=failed'", e.sv.port);
    ASSERT_EQ_INT(sv_count(out, "\"run_id\""), 1);
    ASSERT_EQ_INT(sv_count(out, "\"state\":\"failed\""), 1);
    free(out);
    out = sv_curl("'http://127.0.0.1:%d/v1/runs?state=bogus' -o /dev/null -w '%%{http_code}'", e.sv.port);
    ASSERT_EQ_STR(out, "400");
    free(out);
    out = sv_curl("http://127.0.0.1:%d/v1/runs/0123456789abcdef0123456789abcdef -o /dev/null -w '%%{http_code}'", e.sv.port);
    ASSERT_EQ_STR(out, "404");
    free(out);
    out = sv_curl("http://127.0.0.1:%d/v1/workflows", e.sv.port);
    ASSERT_CONTAINS(out, "\"name\":\"echo\",\"version\":1,\"digest\":\"fnv1a64:");
    free(out);
    out = sv_curl("http://127.0.0.1:%d/healthz", e.sv.port);
    ASSERT_CONTAINS(out, "\"ok\"");
    free(out);
    env_stop(&e);
}

TEST(delete_cancels_and_compensates) {
    env e;
    env_start(&e, NULL, NULL);
    char *out = sv_curl("-X POST -d '{\"n\":1,\"p\":\"slow\"}' 'http://127.0.0.1:%d/v1/workflows/echo/runs?wait=false'", e.sv.port);
    char *p = strstr(out, "\"run_id\":\"");
    ASSERT_NOT_NULL(p);
    char id[33];
    snprintf(id, sizeof id, "%.32s", p + 10);
    free(out);
    /* wait until /a is done (the stub logged it), then cancel during /slow */
    for (int i = 0; i < 500; i++) {
        char *log = log_text(&e);
        int seen = sv_count(log, "\"method\":\"POST /a\"");
        free(log);
        if (seen) break;
        usleep(10000);
    }
    out = sv_curl("'http://127.0.0.1:%d/v1/runs?state=running'", e.sv.port);
    ASSERT_CONTAINS(out, id);
    free(out);
    out = sv_curl("-i -X DELETE http://127.0.0.1:%d/v1/runs/%s", e.sv.port, id);
    ASSERT_CONTAINS(out, "HTTP/1.1 503");
    ASSERT_CONTAINS(out, "\"status\":\"interrupted\"");
    free(out);
    char *log = log_text(&e);
    ASSERT_EQ_INT(sv_count(log, "\"method\":\"POST /undo\""), 1);
    free(log);
    out = sv_curl("http://127.0.0.1:%d/v1/runs/%s", e.sv.port, id);
    ASSERT_CONTAINS(out, "\"state\":\"interrupted\"");
    free(out);
    env_stop(&e);
}

TEST(idempotency_key_returns_the_same_run) {
    env e;
    env_start(&e, NULL, NULL);
    char py[2048];
    snprintf(py, sizeof py,
             "import http.client, json\n"
             "ids = []\n"
             "for i in range(3):\n"
             "    c = http.client.HTTPConnection('127.0.0.1', %d, timeout=30)\n"
             "    c.request('POST', '/v1/workflows/echo/runs', body='{\"n\":4}', headers={'Idempotency-Key': 'order-42'})\n"
             "    r = c.getresponse(); b = json.loads(r.read()); assert r.status == 200, r.status\n"
             "    ids.append(b['run_id'])\n"
             "c.request('POST', '/v1/workflows/echo/runs', body='{\"n\":4}', headers={'Idempotency-Key': 'order-43'})\n"
             "r = c.getresponse(); b = json.loads(r.read()); ids.append(b['run_id'])\n"
             "print(len(set(ids[:3])), ids[3] != ids[0])\n",
             e.sv.port);
    char *argv[] = {TH_PYTHON, "-c", py, NULL};
    char *out = NULL, *err = NULL;
    ASSERT_EQ_INT(th_run(argv, NULL, &out, &err), 0);
    ASSERT_EQ_STR(out, "1 True\n");
    free(out);
    free(err);
    char *log = log_text(&e);
    ASSERT_EQ_INT(sv_count(log, "\"method\":\"POST /a\""), 2);
    free(log);
    env_stop(&e);
}

TEST(max_runs_answers_429_with_retry_after) {
    env e;
    env_start(&e, "--max-runs", "1");
    char *out = sv_curl("-X POST -d '{\"n\":1,\"p\":\"slow\"}' 'http://127.0.0.1:%d/v1/workflows/echo/runs?wait=false'", e.sv.port);
    ASSERT_CONTAINS(out, "run_id");
    free(out);
    out = sv_curl("-i -X POST -d '{\"n\":2}' http://127.0.0.1:%d/v1/workflows/echo/runs", e.sv.port);
    ASSERT_CONTAINS(out, "HTTP/1.1 429");
    ASSERT_CONTAINS(out, "Retry-After: 1");
    free(out);
    out = sv_curl("http://127.0.0.1:%d/metrics", e.sv.port);
    ASSERT_EQ_DBL(sv_metric(out, "maestro_requests_rejected_total{workflow=\"echo\",reason=\"max_runs\"}"), 1, 0);
    ASSERT_EQ_DBL(sv_metric(out, "maestro_runs_running"), 1, 0);
    free(out);
    env_stop(&e);
}

TEST(metrics_match_the_runs_made) {
    env e;
    env_start(&e, NULL, NULL);
    for (int i = 0; i < 7; i++) free(sv_curl("-X POST -d '{\"n\":%d}' http://127.0.0.1:%d/v1/workflows/echo/runs", i, e.sv.port));
    for (int i = 0; i < 3; i++) free(sv_curl("-X POST -d '{\"n\":%d,\"p\":\"bad\"}' http://127.0.0.1:%d/v1/workflows/echo/runs", i, e.sv.port));
    char *out = sv_curl("-i http://127.0.0.1:%d/metrics", e.sv.port);
    ASSERT_CONTAINS(out, "Content-Type: text/plain; version=0.0.4");
    ASSERT_EQ_DBL(sv_metric(out, "maestro_runs_started_total{workflow=\"echo\"}"), 10, 0);
    ASSERT_EQ_DBL(sv_metric(out, "maestro_runs_ended_total{workflow=\"echo\",status=\"succeeded\"}"), 7, 0);
    ASSERT_EQ_DBL(sv_metric(out, "maestro_runs_ended_total{workflow=\"echo\",status=\"failed\"}"), 3, 0);
    ASSERT_EQ_DBL(sv_metric(out, "maestro_run_duration_seconds_count{workflow=\"echo\"}"), 10, 0);
    ASSERT_EQ_DBL(sv_metric(out, "maestro_run_duration_seconds_bucket{workflow=\"echo\",le=\"+Inf\"}"), 10, 0);
    /* 10 x /a, 7 x /fast, 3 x /undo ok; 3 x /bad */
    ASSERT_EQ_DBL(sv_metric(out, "maestro_attempts_total{service=\"svc\",class=\"ok\"}"), 20, 0);
    ASSERT_EQ_DBL(sv_metric(out, "maestro_attempts_total{service=\"svc\",class=\"http_5xx\"}"), 3, 0);
    ASSERT_EQ_DBL(sv_metric(out, "maestro_breaker_state{service=\"svc\",state=\"closed\"}"), 1, 0);
    ASSERT_EQ_DBL(sv_metric(out, "maestro_calls_in_flight{service=\"svc\"}"), 0, 0);
    ASSERT_EQ_DBL(sv_metric(out, "maestro_runs_running"), 0, 0);
    /* no journal, no syncs */
    ASSERT_EQ_DBL(sv_metric(out, "maestro_journal_fsync_seconds_count"), 0, 0);
    free(out);
    /* the exposition format: Prometheus' own rules, checked by a small parser */
    char py[1024];
    snprintf(py, sizeof py,
             "import re, urllib.request\n"
             "t = urllib.request.urlopen('http://127.0.0.1:%d/metrics').read().decode()\n"
             "ok = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\\{([a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\\\n]|\\\\.)*\",?)*\\})? -?[0-9.e+Inf]+$')\n"
             "bad = [l for l in t.splitlines() if l and not l.startswith('# ') and not ok.match(l)]\n"
             "print(len(bad), bad[:3])\n",
             e.sv.port);
    char *argv[] = {TH_PYTHON, "-c", py, NULL};
    char *err = NULL;
    ASSERT_EQ_INT(th_run(argv, NULL, &out, &err), 0);
    ASSERT_EQ_STR(out, "0 []\n");
    free(out);
    free(err);
    env_stop(&e);
}

/* With a journal, every group commit's fdatasync is timed: a run journals its start, each
 * intent before its call leaves and each result, so 4 successful two-step runs make at least
 * 4 x 3 syncs, and the histogram is consistent (cumulative buckets, +Inf = count). */
TEST(metrics_time_the_journal_fsyncs) {
    char dir[] = "/tmp/mae-serve-jrnl-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    env e;
    env_start(&e, "--journal", dir);
    for (int i = 0; i < 4; i++) free(sv_curl("-X POST -d '{\"n\":%d,\"p\":\"fast\"}' http://127.0.0.1:%d/v1/workflows/echo/runs", i, e.sv.port));
    char *out = sv_curl("http://127.0.0.1:%d/metrics", e.sv.port);
    ASSERT_EQ_DBL(sv_metric(out, "maestro_runs_ended_total{workflow=\"echo\",status=\"succeeded\"}"), 4, 0);
    double n = sv_metric(out, "maestro_journal_fsync_seconds_count");
    ASSERT_TRUE(n >= 12);
    ASSERT_EQ_DBL(sv_metric(out, "maestro_journal_fsync_seconds_bucket{le=\"+Inf\"}"), n, 0);
    ASSERT_TRUE(sv_metric(out, "maestro_journal_fsync_seconds_sum") > 0);
    ASSERT_TRUE(sv_metric(out, "maestro_journal_fsync_seconds_bucket{le=\"0.0001\"}") >= 0);
    ASSERT_TRUE(sv_metric(out, "maestro_journal_fsync_seconds_bucket{le=\"0.001\"}") <=
                sv_metric(out, "maestro_journal_fsync_seconds_bucket{le=\"1\"}"));
    free(out);
    env_stop(&e);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ASSERT_EQ_INT(system(cmd), 0);
}

TEST(bad_workflow_exits_2_before_listening) {
    const char bad[] = "name: x\nsteps: [ {id: a, service: nope, method: GET /} ]\n";
    char *f = th_write_temp(bad, strlen(bad), ".yaml");
    char *argv[] = {"maestro", "serve", f, "--listen", "127.0.0.1:0", NULL};
    char *out = NULL, *err = NULL;
    ASSERT_EQ_INT(th_maestro(argv, NULL, &out, &err), 2);
    ASSERT_FALSE(strstr(out, "LISTEN"));
    ASSERT_CONTAINS(err, f);
    free(out);
    free(err);
    free(f);
}

TEST(sighup_reloads_and_a_broken_file_keeps_its_version) {
    env e;
    env_start(&e, NULL, NULL);
    /* a new valid version: the version number goes up */
    char *txt = th_read_file(e.wf, NULL);
    FILE *f = fopen(e.wf, "w");
    fprintf(f, "%s# v2\n", txt);
    fclose(f);
    kill(e.sv.pid, SIGHUP);
    char *out = NULL;
    int v2 = 0;
    for (int i = 0; i < 300 && !v2; i++) {
        out = sv_curl("http://127.0.0.1:%d/v1/workflows", e.sv.port);
        v2 = strstr(out, "\"version\":2") != NULL;
        free(out);
        if (!v2) usleep(10000);
    }
    ASSERT_TRUE(v2);
    /* a broken file: version 2 stays and still runs, the errors are logged */
    f = fopen(e.wf, "w");
    fputs("name: echo\nsteps: [\n", f);
    fclose(f);
    kill(e.sv.pid, SIGHUP);
    int logged = 0;
    for (int i = 0; i < 300 && !logged; i++) {
        char *err = th_read_file(e.sv.errfile, NULL);
        logged = err && strstr(err, "keeps its previous version");
        free(err);
        if (!logged) usleep(10000);
    }
    ASSERT_TRUE(logged);
    out = sv_curl("http://127.0.0.1:%d/v1/workflows", e.sv.port);
    ASSERT_CONTAINS(out, "\"version\":2");
    free(out);
    out = sv_curl("-X POST -d '{\"n\":3}' http://127.0.0.1:%d/v1/workflows/echo/runs", e.sv.port);
    ASSERT_CONTAINS(out, "\"got\":3");
    free(out);
    free(txt);
    ASSERT_EQ_INT(sv_signal_wait(&e.sv, SIGTERM, 20), 0);
    char *err = th_read_file(e.sv.errfile, NULL);
    ASSERT_CONTAINS(err, "workflow echo succeeded");
    free(err);
    th_stop(&e.stub);
    free(e.log);
    free(e.wf);
}
