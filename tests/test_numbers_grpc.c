/* Exact data over gRPC, through the CLI and a real grpcio server (tests/servers/grpc_envelope.py,
 * method Inspect, which reports what protobuf itself decoded): the six numbers of issue #10
 * reach the service as the same doubles after the CLI re-prints the run input, and come back to
 * stdout unchanged; a step without `input:` sends an envelope whose payload is present and is an
 * empty google.protobuf.Struct, as the Go original does. */
#include <unistd.h>

#include <cjson/cJSON.h>

#include "harness.h"

static const char wf_yaml[] =
    "name: gnumbers\n"
    "input:\n"
    "  a: {type: integer, required: true}\n"
    "  b: {type: integer, required: true}\n"
    "  c: {type: integer, required: true}\n"
    "  d: {type: integer, required: true}\n"
    "  e: {type: number, required: true}\n"
    "  f: {type: number, required: true}\n"
    "services:\n"
    "  env:\n"
    "    type: grpc\n"
    "    endpoint: \"127.0.0.1:1\"\n"
    "    timeout: 5s\n"
    "steps:\n"
    "  - id: nums\n"
    "    service: env\n"
    "    method: Inspect\n"
    "    input: {a: \"{{ .input.a }}\", b: \"{{ .input.b }}\", c: \"{{ .input.c }}\",\n"
    "            d: \"{{ .input.d }}\", e: \"{{ .input.e }}\", f: \"{{ .input.f }}\"}\n"
    "    output: nums\n"
    "  - {id: bare, service: env, method: Inspect, output: bare}\n"
    "output: {nums: \"{{ .nums }}\", bare: \"{{ .bare }}\"}\n";

typedef struct {
    th_proc srv;
    char *wf, *out, *err;
    char endpoint[96];
} grpc_fx;

static void start(grpc_fx *g) {
    memset(g, 0, sizeof *g);
    char *argv[] = {TH_PYTHON, (char *)th_path("tests/servers/grpc_envelope.py"), "--port", "0", NULL};
    ASSERT_EQ_INT(th_spawn(&g->srv, argv, 30), 0);
    ASSERT_CMP_INT(g->srv.port, >, 0);
    snprintf(g->endpoint, sizeof g->endpoint, "service.env.endpoint=127.0.0.1:%d", g->srv.port);
    g->wf = th_write_temp(wf_yaml, strlen(wf_yaml), ".yaml");
    unsetenv("MAESTRO_SCRIPT");
}

static void stop(grpc_fx *g) {
    th_stop(&g->srv);
    if (g->srv.out) fclose(g->srv.out);
    unlink(g->wf);
    free(g->wf);
    free(g->out);
    free(g->err);
}

static const cJSON *at(const cJSON *o, const char *a, const char *b) {
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, a), b);
}

static const char *str_at(const cJSON *o, const char *a, const char *b) {
    const cJSON *v = at(o, a, b);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

TEST_T(grpc_numbers_exact_and_empty_struct_without_input, 90) {
    grpc_fx g;
    start(&g);
    char *argv[] = {"maestro", "run", g.wf, "--input",
                    "{\"a\":9007199254740991,\"b\":-9007199254740991,\"c\":8999999999999999,"
                    "\"d\":123456789012,\"e\":0.1,\"f\":1e300}",
                    "--set", g.endpoint, NULL};
    int rc = th_maestro(argv, NULL, &g.out, &g.err);
    if (rc != 0) printf("  stderr: %s\n", g.err);
    ASSERT_EQ_INT(rc, 0);
    cJSON *o = cJSON_Parse(g.out);
    ASSERT_NOT_NULL(o);
    const cJSON *nums = cJSON_GetObjectItemCaseSensitive(o, "nums");
    /* Python's repr of the doubles protobuf decoded: shortest round-trip, independent of us */
    ASSERT_EQ_STR(str_at(nums, "numbers", "a"), "9007199254740991.0");
    ASSERT_EQ_STR(str_at(nums, "numbers", "b"), "-9007199254740991.0");
    ASSERT_EQ_STR(str_at(nums, "numbers", "c"), "8999999999999999.0");
    ASSERT_EQ_STR(str_at(nums, "numbers", "d"), "123456789012.0");
    ASSERT_EQ_STR(str_at(nums, "numbers", "e"), "0.1");
    ASSERT_EQ_STR(str_at(nums, "numbers", "f"), "1e+300");
    /* and back: the service's Struct, decoded and printed on stdout by us */
    ASSERT_CONTAINS(g.out, "\"a\":9007199254740991");
    ASSERT_CONTAINS(g.out, "\"b\":-9007199254740991");
    ASSERT_CONTAINS(g.out, "\"c\":8999999999999999");
    ASSERT_CONTAINS(g.out, "\"d\":123456789012");
    ASSERT_CONTAINS(g.out, "\"e\":0.1");
    ASSERT_CONTAINS(g.out, "\"f\":1e+300");
    /* no input: a present payload holding an empty Struct */
    const cJSON *bare = cJSON_GetObjectItemCaseSensitive(o, "bare");
    ASSERT_TRUE(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(bare, "has_payload")));
    const cJSON *url = cJSON_GetObjectItemCaseSensitive(bare, "type_url");
    ASSERT_EQ_STR(cJSON_IsString(url) ? url->valuestring : NULL, "type.googleapis.com/google.protobuf.Struct");
    ASSERT_EQ_INT(cJSON_GetObjectItemCaseSensitive(bare, "n_fields")->valuedouble, 0);
    cJSON_Delete(o);
    stop(&g);
}
