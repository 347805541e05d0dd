/* End to end: `maestro run` with a gRPC service served by the real grpcio envelope server
 * (tests/servers/grpc_envelope.py): nested data both ways through templates, the engine's
 * retries over UNAVAILABLE, a permanent INVALID_ARGUMENT, and an application error. */
#include <stdbool.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "harness.h"

static char *workflow(int port, const char *method) {
    static char buf[2048];
    snprintf(buf, sizeof buf,
             "name: grpc_e2e\n"
             "timeout: 60s\n"
             "services:\n"
             "  svc:\n"
             "    type: grpc\n"
             "    endpoint: \"127.0.0.1:%d\"\n"
             "    timeout: 5s\n"
             "    retry: {attempts: 3, initial: 10ms, max: 50ms}\n"
             "steps:\n"
             "  - id: first\n"
             "    service: svc\n"
             "    method: %s\n"
             "    input:\n"
             "      nested: \"{{ .input.nested }}\"\n"
             "    output: r\n"
             "output:\n"
             "  got: \"{{ .r }}\"\n",
             port, method);
    return th_write_temp(buf, strlen(buf), ".yaml");
}

static int port;

/* Runs a one-step workflow calling method with input; returns the exit code. */
static int run(const char *method, const char *input, char **out, char **err) {
    char *wf = workflow(port, method);
    char *argv[] = {"maestro", "run", wf, "--input", (char *)input, NULL};
    int rc = th_maestro(argv, NULL, out, err);
    unlink(wf);
    free(wf);
    return rc;
}

TEST_T(cli_grpc_echo_retry_and_failures, 120) {
    th_proc srv;
    char *argv[] = {TH_PYTHON, (char *)th_path("tests/servers/grpc_envelope.py"), NULL};
    ASSERT_EQ_INT(th_spawn(&srv, argv, 30), 0);
    port = srv.port;
    char *out, *err;

    int rc = run("Echo", "{\"nested\":{\"a\":[1,{\"b\":null}],\"t\":true}}", &out, &err);
    if (rc != 0) printf("stderr: %s\n", err);
    ASSERT_EQ_INT(rc, 0);
    ASSERT_CONTAINS(out, "\"nested\":");
    cJSON *j = cJSON_Parse(out);
    ASSERT_NOT_NULL(j);
    cJSON *nested = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "got"), "input"),
                                        "nested");
    cJSON *want = cJSON_Parse("{\"a\":[1,{\"b\":null}],\"t\":true}");
    ASSERT_TRUE(cJSON_Compare(nested, want, true));
    cJSON *got = cJSON_GetObjectItem(j, "got");
    ASSERT_CONTAINS(cJSON_GetObjectItem(got, "correlation_id")->valuestring, ":first");
    cJSON_Delete(want);
    cJSON_Delete(j);
    free(out);
    free(err);

    /* UNAVAILABLE twice, then OK on the engine's third attempt. */
    rc = run("Flaky", "{\"nested\":{}}", &out, &err);
    if (rc != 0) printf("stderr: %s\n", err);
    ASSERT_EQ_INT(rc, 0);
    ASSERT_CONTAINS(out, "\"attempts\":");
    j = cJSON_Parse(out);
    ASSERT_EQ_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "got"), "attempts")->valuedouble, 3);
    cJSON_Delete(j);
    free(out);
    free(err);

    /* Permanent: one attempt, exit 1, the service's words on stderr. */
    rc = run("Invalid", "{\"nested\":{}}", &out, &err);
    ASSERT_EQ_INT(rc, 1);
    ASSERT_CONTAINS(err, "INVALID_ARGUMENT");
    ASSERT_CONTAINS(err, "bad input");
    ASSERT_CONTAINS(err, "after 1 attempt");
    free(out);
    free(err);

    rc = run("Fail", "{\"nested\":{}}", &out, &err);
    ASSERT_EQ_INT(rc, 1);
    ASSERT_CONTAINS(err, "app_error");
    ASSERT_CONTAINS(err, "quota exceeded");
    free(out);
    free(err);

    th_stop(&srv);
}
