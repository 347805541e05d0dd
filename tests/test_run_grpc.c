/* `maestro run` against a real grpcio server speaking the envelope (tests/servers/
 * grpc_envelope.py) through the real gRPC transport: run/step/correlation ids, UNAVAILABLE
 * retried, an attempt timeout sending RST_STREAM that the server sees as a cancellation,
 * envelope success=false as a permanent app_error, compensation over gRPC. */
#include <unistd.h>

#include <cjson/cJSON.h>

#include "harness.h"

static const char wf_yaml[] =
    "name: grpcflow\n"
    "input: {who: {type: string, required: true}, fail: {type: boolean, default: false}}\n"
    "services:\n"
    "  env:\n"
    "    type: grpc\n"
    "    endpoint: \"127.0.0.1:1\"\n"
    "    timeout: 5s\n"
    "    retry: {attempts: 3, initial: 1ms, max: 5ms}\n"
    "steps:\n"
    "  - {id: echo, service: env, method: Echo, input: {who: \"{{ .input.who }}\"}, output: e,\n"
    "     compensate: {method: Echo, input: {undo: \"{{ .e.input.who }}\"}}}\n"
    "  - {id: flaky, service: env, method: Flaky, output: fl}\n"
    "  - {id: nap, service: env, method: Sleep, input: {seconds: 5}, timeout: 200ms,\n"
    "     retry: {attempts: 1}, continue_on_error: true}\n"
    "  - {id: stats, service: env, method: Stats, input: {wait_cancelled: 1}, output: st}\n"
    "  - {id: maybe_fail, service: env, method: Fail, when: \"{{ .input.fail }}\"}\n"
    "output: {e: \"{{ .e }}\", fl: \"{{ .fl }}\", nap: \"{{ .steps.nap.error.class }}\", st: \"{{ .st }}\"}\n";

typedef struct {
    th_proc srv;
    char *wf, *rep, *out, *err;
    char endpoint[96];
} grpc_fx;

static void start(grpc_fx *g) {
    memset(g, 0, sizeof *g);
    char *argv[] = {TH_PYTHON, (char *)th_path("tests/servers/grpc_envelope.py"), "--port", "0", NULL};
    ASSERT_EQ_INT(th_spawn(&g->srv, argv, 30), 0);
    ASSERT_CMP_INT(g->srv.port, >, 0);
    snprintf(g->endpoint, sizeof g->endpoint, "service.env.endpoint=127.0.0.1:%d", g->srv.port);
    g->wf = th_write_temp(wf_yaml, strlen(wf_yaml), ".yaml");
    g->rep = th_write_temp("", 0, ".json");
}

static int run(grpc_fx *g, const char *input) {
    char *argv[] = {"maestro", "run", g->wf, "--input", (char *)input, "--report", g->rep,
                    "--set", g->endpoint, NULL};
    free(g->out);
    free(g->err);
    return th_maestro(argv, NULL, &g->out, &g->err);
}

static cJSON *report(grpc_fx *g) {
    char *t = th_read_file(g->rep, NULL);
    cJSON *j = t ? cJSON_Parse(t) : NULL;
    free(t);
    ASSERT_NOT_NULL(j);
    return j;
}

static void stop(grpc_fx *g) {
    th_stop(&g->srv);
    if (g->srv.out) fclose(g->srv.out);
    unlink(g->wf);
    unlink(g->rep);
    free(g->wf);
    free(g->rep);
    free(g->out);
    free(g->err);
}

static const cJSON *at(const cJSON *o, const char *a, const char *b) {
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, a), b);
}

TEST_T(run_over_real_grpc_succeeds_with_ids_retries_and_cancellation, 90) {
    grpc_fx g;
    start(&g);
    int code = run(&g, "{\"who\":\"ann\"}");
    if (code != 0) printf("stderr: %s\n", g.err);
    ASSERT_EQ_INT(code, 0);
    cJSON *o = cJSON_Parse(g.out);
    ASSERT_NOT_NULL(o);
    cJSON *rep = report(&g);
    const char *run_id = cJSON_GetObjectItem(rep, "run_id")->valuestring;
    ASSERT_EQ_STR(cJSON_GetObjectItem(at(o, "e", "input"), "who")->valuestring, "ann");
    /* metadata the server saw on the call */
    char key[96];
    snprintf(key, sizeof key, "%s:echo", run_id);
    ASSERT_EQ_STR(cJSON_GetObjectItem(at(o, "e", "metadata"), "idempotency-key")->valuestring, key);
    ASSERT_EQ_INT(strlen(cJSON_GetObjectItem(at(o, "e", "metadata"), "traceparent")->valuestring), 55);
    ASSERT_EQ_STR(at(o, "e", "workflow_id")->valuestring, run_id);
    ASSERT_EQ_STR(at(o, "e", "step_id")->valuestring, "echo");
    char corr[96];
    snprintf(corr, sizeof corr, "%s:echo", run_id);
    ASSERT_EQ_STR(at(o, "e", "correlation_id")->valuestring, corr);
    /* two UNAVAILABLE answers, then success on the third attempt */
    ASSERT_EQ_INT(at(o, "fl", "attempts")->valueint, 3);
    /* the 200ms attempt deadline ended the 5s sleep: either our timer fired first (timeout,
     * RST_STREAM) or the server applied the grpc-timeout we sent (DEADLINE_EXCEEDED) */
    const char *nap = cJSON_GetObjectItem(o, "nap")->valuestring;
    ASSERT_TRUE(!strcmp(nap, "timeout") || !strcmp(nap, "grpc:DEADLINE_EXCEEDED"));
    ASSERT_CMP_INT(at(o, "st", "cancelled")->valueint, >=, 1);
    const cJSON *s;
    cJSON_ArrayForEach(s, cJSON_GetObjectItem(rep, "steps"))
        if (!strcmp(cJSON_GetObjectItem(s, "id")->valuestring, "flaky"))
            ASSERT_EQ_INT(cJSON_GetObjectItem(s, "attempts")->valueint, 3);
    cJSON_Delete(o);
    cJSON_Delete(rep);
    stop(&g);
}

TEST_T(run_over_real_grpc_app_error_fails_and_compensates, 90) {
    grpc_fx g;
    start(&g);
    ASSERT_EQ_INT(run(&g, "{\"who\":\"bo\",\"fail\":true}"), 1);
    ASSERT_EQ_STR(g.out, "");
    ASSERT_CONTAINS(g.err, "step 'maybe_fail' failed after 1 attempt: app_error: quota exceeded");
    ASSERT_CONTAINS(g.err, "compensated: echo");
    cJSON *rep = report(&g);
    ASSERT_EQ_STR(at(rep, "error", "class")->valuestring, "app_error");
    const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(rep, "compensations"), 0);
    ASSERT_EQ_STR(cJSON_GetObjectItem(c, "step")->valuestring, "echo");
    ASSERT_EQ_STR(cJSON_GetObjectItem(c, "status")->valuestring, "succeeded");
    cJSON_Delete(rep);
    stop(&g);
}
