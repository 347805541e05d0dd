/* `maestro run` against a real HTTP server on loopback (tests/servers/http_echo.py) through the
 * real HTTP transport: percent-encoded paths, the headers every request carries, Retry-After
 * honoured, an attempt timeout cancelling a hung request, and compensation on failure. */
#include <unistd.h>

#include <cjson/cJSON.h>

#include "harness.h"

static const char wf_yaml[] =
    "name: httpflow\n"
    "input: {name: {type: string, required: true}, fail: {type: boolean, default: false}}\n"
    "services:\n"
    "  api:\n"
    "    type: http\n"
    "    endpoint: \"http://127.0.0.1:1\"\n"
    "    timeout: 5s\n"
    "    retry: {attempts: 3, initial: 1ms, max: 5ms}\n"
    "    headers: {X-Tenant: \"t-{{ .input.name }}\"}\n"
    "steps:\n"
    "  - id: make\n"
    "    service: api\n"
    "    method: \"POST /echo/{{ .input.name }}\"\n"
    "    input: {name: \"{{ .input.name }}\"}\n"
    "    output: made\n"
    "    compensate: {method: \"DELETE /echo/undo/{{ .made.method }}\"}\n"
    "  - id: flaky\n"
    "    service: api\n"
    "    method: \"POST /flaky/{{ .workflow.id }}\"\n"
    "    output: fl\n"
    "  - id: maybe_fail\n"
    "    service: api\n"
    "    when: \"{{ .input.fail }}\"\n"
    "    method: \"POST /status/409\"\n"
    "  - id: hang\n"
    "    service: api\n"
    "    method: \"GET /hang\"\n"
    "    timeout: 150ms\n"
    "    retry: {attempts: 1}\n"
    "    continue_on_error: true\n"
    "output: {made: \"{{ .made }}\", fl: \"{{ .fl }}\", hang: \"{{ .steps.hang.error.class }}\"}\n";

typedef struct {
    th_proc srv;
    char *wf, *rep, *out, *err;
    char endpoint[96];
} http_fx;

static void start(http_fx *h) {
    memset(h, 0, sizeof *h);
    char *argv[] = {TH_PYTHON, (char *)th_path("tests/servers/http_echo.py"), NULL};
    ASSERT_EQ_INT(th_spawn(&h->srv, argv, 20), 0);
    ASSERT_CMP_INT(h->srv.port, >, 0);
    snprintf(h->endpoint, sizeof h->endpoint, "service.api.endpoint=http://127.0.0.1:%d", h->srv.port);
    h->wf = th_write_temp(wf_yaml, strlen(wf_yaml), ".yaml");
    h->rep = th_write_temp("", 0, ".json");
}

static int run(http_fx *h, const char *input) {
    char *argv[] = {"maestro", "run", h->wf, "--input", (char *)input, "--report", h->rep,
                    "--set", h->endpoint, NULL};
    free(h->out);
    free(h->err);
    return th_maestro(argv, NULL, &h->out, &h->err);
}

static cJSON *report(http_fx *h) {
    char *t = th_read_file(h->rep, NULL);
    cJSON *j = t ? cJSON_Parse(t) : NULL;
    free(t);
    ASSERT_NOT_NULL(j);
    return j;
}

static void stop(http_fx *h) {
    th_stop(&h->srv);
    if (h->srv.out) fclose(h->srv.out);
    unlink(h->wf);
    unlink(h->rep);
    free(h->wf);
    free(h->rep);
    free(h->out);
    free(h->err);
}

static const char *str_at(const cJSON *o, const char *a, const char *b) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, a), b);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

TEST(run_over_real_http_succeeds_with_headers_retry_after_and_timeout) {
    http_fx h;
    start(&h);
    ASSERT_EQ_INT(run(&h, "{\"name\":\"a b/c\"}"), 0);
    cJSON *o = cJSON_Parse(h.out);
    ASSERT_NOT_NULL(o);
    cJSON *rep = report(&h);
    const char *run_id = cJSON_GetObjectItem(rep, "run_id")->valuestring;
    const cJSON *made = cJSON_GetObjectItem(o, "made");
    ASSERT_EQ_STR(str_at(o, "made", "target"), "/echo/a%20b%2Fc");
    ASSERT_EQ_STR(str_at(o, "made", "method"), "POST");
    ASSERT_EQ_STR(str_at(o, "made", "body"), "{\"name\":\"a b/c\"}");
    const cJSON *hd = cJSON_GetObjectItem(made, "headers");
    char key[96];
    snprintf(key, sizeof key, "%s:make", run_id);
    ASSERT_EQ_STR(cJSON_GetObjectItem(hd, "idempotency-key")->valuestring, key);
    ASSERT_EQ_STR(cJSON_GetObjectItem(hd, "x-maestro-run-id")->valuestring, run_id);
    ASSERT_EQ_STR(cJSON_GetObjectItem(hd, "x-maestro-step-id")->valuestring, "make");
    ASSERT_EQ_STR(cJSON_GetObjectItem(hd, "x-tenant")->valuestring, "t-a b/c");
    const char *tp = cJSON_GetObjectItem(hd, "traceparent")->valuestring;
    ASSERT_EQ_INT(strlen(tp), 55);
    ASSERT_TRUE(strncmp(tp, "00-", 3) == 0);
    /* the flaky route answered 503 + Retry-After: 1 first: retried after >= 1 s, same key */
    ASSERT_EQ_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "fl"), "attempt")->valueint, 2);
    snprintf(key, sizeof key, "%s:flaky", run_id);
    ASSERT_EQ_STR(str_at(o, "fl", "idempotency_key"), key);
    const cJSON *s;
    cJSON_ArrayForEach(s, cJSON_GetObjectItem(rep, "steps")) {
        const char *id = cJSON_GetObjectItem(s, "id")->valuestring;
        if (!strcmp(id, "flaky")) {
            ASSERT_EQ_INT(cJSON_GetObjectItem(s, "attempts")->valueint, 2);
            ASSERT_CMP_INT(cJSON_GetArrayItem(cJSON_GetObjectItem(s, "retry_delays_ms"), 0)->valueint, >=, 1000);
        }
        if (!strcmp(id, "maybe_fail")) ASSERT_EQ_STR(cJSON_GetObjectItem(s, "status")->valuestring, "skipped");
    }
    /* the hung request was cancelled by its attempt timeout; continue_on_error kept the run going */
    ASSERT_EQ_STR(cJSON_GetObjectItem(o, "hang")->valuestring, "timeout");
    cJSON_Delete(o);
    cJSON_Delete(rep);
    stop(&h);
}

TEST(run_over_real_http_failure_compensates) {
    http_fx h;
    start(&h);
    ASSERT_EQ_INT(run(&h, "{\"name\":\"zed\",\"fail\":true}"), 1);
    ASSERT_EQ_STR(h.out, "");
    ASSERT_CONTAINS(h.err, "step 'maybe_fail' failed after 1 attempt");
    ASSERT_CONTAINS(h.err, "HTTP 409");
    ASSERT_CONTAINS(h.err, "compensated: make");
    cJSON *rep = report(&h);
    ASSERT_EQ_STR(str_at(rep, "error", "class"), "http_4xx");
    ASSERT_EQ_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(rep, "error"), "status")->valueint, 409);
    ASSERT_CONTAINS(str_at(rep, "error", "message"), "status 409");
    const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(rep, "compensations"), 0);
    ASSERT_EQ_STR(cJSON_GetObjectItem(c, "step")->valuestring, "make");
    ASSERT_EQ_STR(cJSON_GetObjectItem(c, "status")->valuestring, "succeeded");
    ASSERT_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(rep, "compensations")), 1);
    cJSON_Delete(rep);
    stop(&h);
}
