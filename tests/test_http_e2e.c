/* End to end: the engine (loop/) runs a workflow file whose services are HTTP, through the real
 * HTTP transport, against the Python HTTP/1.1 server on loopback: templated and encoded paths,
 * query and body mapping, the service's headers, and a retry that honours Retry-After with the
 * same Idempotency-Key on both attempts. */
#include <uv.h>

#include <cjson/cJSON.h>

#include "harness.h"
#include "maestro/maestro.h"
#include "transports/http.h"

static const char *WF =
    "name: http_e2e\n"
    "version: \"1\"\n"
    "timeout: 30s\n"
    "input:\n"
    "  domain: {type: string, required: true}\n"
    "services:\n"
    "  api:\n"
    "    type: http\n"
    "    endpoint: \"http://127.0.0.1:%d/echo\"\n"
    "    timeout: 5s\n"
    "    pool: {connections: 2}\n"
    "    headers: {X-Tenant: \"acme\"}\n"
    "  flaky:\n"
    "    type: http\n"
    "    endpoint: \"http://127.0.0.1:%d/flaky\"\n"
    "    timeout: 5s\n"
    "    retry: {attempts: 3, initial: 10ms, max: 20ms}\n"
    "steps:\n"
    "  - id: lookup\n"
    "    service: api\n"
    "    method: \"GET /companies/{{ .input.domain }}\"\n"
    "    input: {verbose: true}\n"
    "    output: company\n"
    "  - id: create\n"
    "    service: api\n"
    "    method: \"POST /orders\"\n"
    "    input: {target: \"{{ .company.target }}\", n: 2}\n"
    "    output: order\n"
    "  - id: warm\n"
    "    service: flaky\n"
    "    method: \"PUT /thing\"\n"
    "    input: {x: 1}\n"
    "    output: warm\n"
    "output:\n"
    "  target: \"{{ .company.target }}\"\n"
    "  order_method: \"{{ .order.method }}\"\n"
    "  order_body: \"{{ .order.body }}\"\n"
    "  warm: \"{{ .warm }}\"\n";

typedef struct e2e {
    int run_done, closed, eng_closed;
    int exit_code;
    char *output;
    char *run_id;
} e2e;

static void on_run(mae_run *run, const mae_run_result *res, void *ud) {
    e2e *e = ud;
    e->run_done++;
    e->exit_code = res->exit_code;
    e->output = res->output ? cJSON_PrintUnformatted(res->output) : NULL;
    e->run_id = strdup(res->run_id);
    if (res->summary) printf("  summary: %s\n", res->summary);
}

static void on_closed(void *ud) { ((e2e *)ud)->closed++; }
static void on_eng_closed(void *ud) { ((e2e *)ud)->eng_closed++; }

TEST(maestro_runs_a_workflow_over_http_end_to_end) {
    th_proc srv;
    char *argv[] = {TH_PYTHON, (char *)th_path("tests/servers/http_echo.py"), NULL};
    ASSERT_EQ_INT(th_spawn(&srv, argv, 20), 0);
    char yaml[4096];
    snprintf(yaml, sizeof yaml, WF, srv.port, srv.port);
    char *path = th_write_temp(yaml, strlen(yaml), ".yaml");

    uv_loop_t loop;
    ASSERT_EQ_INT(uv_loop_init(&loop), 0);
    mae_transport *http;
    ASSERT_EQ_INT(mae_http_transport_new(&loop, &http), 0);
    mae_engine_opts o;
    mae_engine_opts_init(&o);
    o.http = http;
    char *log = NULL;
    size_t log_len = 0;
    o.log_stream = open_memstream(&log, &log_len);
    mae_engine *eng;
    ASSERT_EQ_INT(mae_engine_new(&loop, &o, &eng), 0);
    mae_workflow *wf;
    ASSERT_EQ_INT(mae_workflow_load(path, &wf, stdout), 0);
    e2e e = {0};
    mae_run *run;
    ASSERT_EQ_INT(mae_run_start(eng, wf, "{\"domain\":\"a/b?c#d\"}", NULL, on_run, &e, &run), 0);
    while (!e.run_done) uv_run(&loop, UV_RUN_ONCE);
    mae_run_free(run);
    ASSERT_EQ_INT(mae_engine_close(eng, on_eng_closed, &e), 0);
    http->vt->close(http, on_closed, &e);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(e.eng_closed, 1);
    ASSERT_EQ_INT(e.closed, 1);
    ASSERT_EQ_INT(uv_loop_close(&loop), 0);
    mae_workflow_free(wf);
    th_stop(&srv);
    unlink(path);
    free(path);
    fclose(o.log_stream);
    /* Retry-After: 1 from the server became the engine's delay. */
    ASSERT_CONTAINS(log, "class=http_5xx");
    ASSERT_CONTAINS(log, "retrying in 1000ms");
    free(log);

    ASSERT_EQ_INT(e.exit_code, 0);
    ASSERT_NOT_NULL(e.output);
    cJSON *out = cJSON_Parse(e.output);
    ASSERT_EQ_STR(cJSON_GetObjectItem(out, "target")->valuestring,
                  "/echo/companies/a%2Fb%3Fc%23d?verbose=true");
    ASSERT_EQ_STR(cJSON_GetObjectItem(out, "order_method")->valuestring, "POST");
    ASSERT_EQ_STR(cJSON_GetObjectItem(out, "order_body")->valuestring,
                  "{\"target\":\"/echo/companies/a%2Fb%3Fc%23d?verbose=true\",\"n\":2}");
    cJSON *warm = cJSON_GetObjectItem(out, "warm");
    /* The first attempt got 503 + Retry-After: 1; the engine retried with the same key. */
    ASSERT_EQ_INT(cJSON_GetObjectItem(warm, "attempt")->valueint, 2);
    char key[256];
    snprintf(key, sizeof key, "%s:warm", e.run_id);
    ASSERT_EQ_STR(cJSON_GetObjectItem(warm, "idempotency_key")->valuestring, key);
    ASSERT_EQ_STR(cJSON_GetObjectItem(warm, "body")->valuestring, "{\"x\":1}");
    cJSON_Delete(out);
    free(e.output);
    free(e.run_id);
}

static const char *CLI_WF =
    "name: http_cli\n"
    "version: \"1\"\n"
    "timeout: 20s\n"
    "services:\n"
    "  api:\n"
    "    type: http\n"
    "    endpoint: \"http://127.0.0.1:%d/echo\"\n"
    "  broken:\n"
    "    type: http\n"
    "    endpoint: \"http://127.0.0.1:%d/status\"\n"
    "    retry: {attempts: 2, initial: 10ms}\n"
    "steps:\n"
    "  - id: lookup\n"
    "    service: api\n"
    "    method: \"GET /companies/{{ .input.domain }}\"\n"
    "    output: company\n"
    "  - id: reject\n"
    "    when: \"{{ .input.fail }}\"\n"
    "    service: broken\n"
    "    method: \"POST /400\"\n"
    "    input: {x: 1}\n"
    "output:\n"
    "  target: \"{{ .company.target }}\"\n"
    "  ua: \"{{ .company.headers.accept }}\"\n";

TEST(bin_maestro_run_calls_http_services) {
    th_proc srv;
    char *argv[] = {TH_PYTHON, (char *)th_path("tests/servers/http_echo.py"), NULL};
    ASSERT_EQ_INT(th_spawn(&srv, argv, 20), 0);
    char yaml[2048];
    snprintf(yaml, sizeof yaml, CLI_WF, srv.port, srv.port);
    char *path = th_write_temp(yaml, strlen(yaml), ".yaml");
    char *out = NULL, *err = NULL;
    char *ok_args[] = {"maestro", "run", path, "--input", "{\"domain\":\"x y/z\",\"fail\":false}",
                       "--quiet", NULL};
    int rc = th_maestro(ok_args, NULL, &out, &err);
    if (rc != 0) printf("  stderr: %s\n", err);
    ASSERT_EQ_INT(rc, 0);
    cJSON *o = cJSON_Parse(out);
    ASSERT_NOT_NULL(o);
    ASSERT_EQ_STR(cJSON_GetObjectItem(o, "target")->valuestring, "/echo/companies/x%20y%2Fz");
    ASSERT_EQ_STR(cJSON_GetObjectItem(o, "ua")->valuestring, "application/json");
    cJSON_Delete(o);
    free(out);
    free(err);
    /* A 400 is permanent: no retry, exit 1, the service's words in the summary. */
    char *bad_args[] = {"maestro", "run", path, "--input", "{\"domain\":\"d\",\"fail\":true}",
                        "--quiet", NULL};
    rc = th_maestro(bad_args, NULL, &out, &err);
    ASSERT_EQ_INT(rc, 1);
    ASSERT_CONTAINS(err, "http_4xx");
    ASSERT_CONTAINS(err, "HTTP 400: {\"error\": \"status 400\"}");
    free(out);
    free(err);
    th_stop(&srv);
    unlink(path);
    free(path);
}
