/* maestro stub as a process, called by real clients (the curl CLI): templated replies, path
 * and query parameters, injected failures with Retry-After, delays, unknown routes, the call
 * log, and FILE:LINE:COL errors for bad stub files. */
#include <unistd.h>

#include "harness.h"

static const char stub_yaml[] =
    "services:\n"
    "  identity:\n"
    "    type: http\n"
    "    listen: 127.0.0.1:0\n"
    "    routes:\n"
    "      \"POST /verify\": {respond: {verified: true, name: \"{{ .request.name }}\", call: \"{{ .n }}\"}}\n"
    "      \"GET /companies/{domain}\": {respond: {domain: \"{{ .request.domain }}\", q: \"{{ .request.q }}\"}}\n"
    "      \"POST /flaky\": {respond: {ok: true}, fail: {http: 503, retry_after: 1, times: 2, message: down}}\n"
    "      \"POST /slow\": {respond: {slow: true}, delay: 300ms}\n"
    "      \"PUT /status\": {respond: {}, status: 202}\n"
    "      SendTemplate: {respond: {sent: \"{{ .request.to }}\"}}\n";

static char *curl(const char *args_fmt, int port, const char *path, const char *extra) {
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    char *argv[16];
    int n = 0;
    argv[n++] = "curl";
    argv[n++] = "-s";
    argv[n++] = "-S";
    argv[n++] = "-w";
    argv[n++] = " %{http_code}";
    char *copy = strdup(args_fmt);
    for (char *t = strtok(copy, " "); t && n < 12; t = strtok(NULL, " ")) argv[n++] = t;
    if (extra) {
        argv[n++] = "--data";
        argv[n++] = (char *)extra;
    }
    argv[n++] = url;
    argv[n] = NULL;
    char *out = NULL;
    int rc = th_run(argv, NULL, &out, NULL);
    free(copy);
    if (rc != 0) th_fail(__FILE__, __LINE__, "curl exit %d", rc);
    return out;
}

static th_proc start_stub(const char *yaml, char **log_path) {
    char *file = th_write_temp(yaml, strlen(yaml), ".yaml");
    *log_path = th_write_temp("", 0, ".jsonl");
    const char *bin = getenv("MAESTRO_BIN");
    char *argv[] = {(char *)(bin ? bin : th_path("bin/maestro")), "stub", file, "--log", *log_path, NULL};
    th_proc p;
    ASSERT_EQ_INT(th_spawn(&p, argv, 20), 0);
    free(file);
    ASSERT_CMP_INT(p.port, >, 0);
    return p;
}

TEST(http_routes_templates_failures_and_log) {
    char *log;
    th_proc p = start_stub(stub_yaml, &log);
    const char *json = "-H Content-Type:application/json -X POST";
    char *r = curl(json, p.port, "/verify", "{\"name\":\"Ada\"}");
    ASSERT_EQ_STR(r, "{\"verified\":true,\"name\":\"Ada\",\"call\":1} 200");
    free(r);
    r = curl(json, p.port, "/verify", "{\"name\":\"Bob\"}");
    ASSERT_EQ_STR(r, "{\"verified\":true,\"name\":\"Bob\",\"call\":2} 200");
    free(r);
    r = curl("-X GET", p.port, "/companies/acme%2Finc?q=a+b", NULL);
    ASSERT_EQ_STR(r, "{\"domain\":\"acme/inc\",\"q\":\"a b\"} 200");
    free(r);
    /* Fails twice with 503 + Retry-After, then answers. */
    r = curl("-i -X POST", p.port, "/flaky", "{}");
    ASSERT_CONTAINS(r, "HTTP/1.1 503");
    ASSERT_CONTAINS(r, "Retry-After: 1");
    ASSERT_CONTAINS(r, "{\"error\":\"down\"}");
    free(r);
    r = curl("-X POST", p.port, "/flaky", "{}");
    ASSERT_EQ_STR(r, "{\"error\":\"down\"} 503");
    free(r);
    r = curl("-X POST", p.port, "/flaky", "{}");
    ASSERT_EQ_STR(r, "{\"ok\":true} 200");
    free(r);
    r = curl("-X PUT", p.port, "/status", "{}");
    ASSERT_EQ_STR(r, "{} 202");
    free(r);
    r = curl(json, p.port, "/api/sendtemplate", "{\"to\":\"x@y\"}");
    ASSERT_EQ_STR(r, "{\"sent\":\"x@y\"} 200");
    free(r);
    r = curl("-X POST", p.port, "/nope", "{}");
    ASSERT_EQ_STR(r, "{\"error\":\"no such route\",\"route\":\"POST /nope\"} 404");
    free(r);
    /* The delay is honoured (a lower bound only). */
    char *tv[] = {"curl", "-s", "-o", "/dev/null", "-w", "%{time_total}", "-X", "POST", "--data", "{}", NULL, NULL};
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/slow", p.port);
    tv[10] = url;
    char *t = NULL;
    ASSERT_EQ_INT(th_run(tv, NULL, &t, NULL), 0);
    ASSERT_CMP_INT((long)(atof(t) * 1000), >=, 290);
    free(t);
    ASSERT_EQ_INT(th_stop(&p), 0);
    /* One log line per call, in order, with the call count per route. */
    char *lines = th_read_file(log, NULL);
    int n = 0;
    for (char *c = lines; (c = strchr(c, '\n')); c++) n++;
    ASSERT_EQ_INT(n, 10);
    ASSERT_CONTAINS(lines, "\"service\":\"identity\",\"kind\":\"http\",\"method\":\"POST /verify\",\"n\":2,\"status\":200");
    ASSERT_CONTAINS(lines, "\"method\":\"POST /flaky\",\"n\":3,\"status\":200");
    ASSERT_CONTAINS(lines, "\"request\":{\"name\":\"Ada\"}");
    free(lines);
    free(log);
}

static void expect_stub_error(const char *yaml, const char *want) {
    char *file = th_write_temp(yaml, strlen(yaml), ".yaml");
    char *argv[] = {"maestro", "stub", file, NULL};
    char *out, *err;
    ASSERT_EQ_INT(th_maestro(argv, NULL, &out, &err), 2);
    char full[1024];
    snprintf(full, sizeof full, "%s:%s", file, want);
    ASSERT_CONTAINS(err, full);
    ASSERT_EQ_STR(out, "");
    free(out);
    free(err);
    unlink(file);
    free(file);
}

TEST(bad_stub_files_get_positions) {
    expect_stub_error("services:\n  a:\n    type: http\n    listen: 127.0.0.1:0\n    routes:\n      \"FETCH /x\": {}\n",
                      "6:7: error: route 'FETCH /x': unknown HTTP verb 'FETCH'");
    expect_stub_error("services:\n  a:\n    type: http\n    listen: nowhere\n", "4:13: error: listen: 'nowhere' is not host:port");
    expect_stub_error("services:\n  a:\n    type: grpc\n    listen: 127.0.0.1:0\n    methods:\n      M: {fail: {status: NOPE}}\n",
                      "6:26: error: fail.status: 'NOPE' is not a gRPC status name (e.g. UNAVAILABLE)");
    expect_stub_error("services:\n  a:\n    type: http\n    listen: 127.0.0.1:0\n    routes:\n      \"GET /x\": {respnd: {}}\n",
                      "6:18: error: unknown key 'respnd' (did you mean 'respond'?)");
    expect_stub_error("services:\n  a:\n    type: http\n    listen: 127.0.0.1:0\n    routes:\n      \"GET /x\": {respond: \"{{ .request.\"}\n",
                      "6:39: error: template: expected a name after '.'");
}

TEST(port_in_use_is_a_clear_error) {
    char *log;
    th_proc p = start_stub(stub_yaml, &log);
    char yaml[256];
    snprintf(yaml, sizeof yaml, "services:\n  again:\n    type: http\n    listen: 127.0.0.1:%d\n", p.port);
    char *file = th_write_temp(yaml, strlen(yaml), ".yaml");
    char *argv[] = {"maestro", "stub", file, NULL};
    char *out, *err;
    ASSERT_EQ_INT(th_maestro(argv, NULL, &out, &err), 2);
    char want[128];
    snprintf(want, sizeof want, "service 'again': cannot listen on 127.0.0.1:%d: address already in use", p.port);
    ASSERT_CONTAINS(err, want);
    ASSERT_EQ_INT(th_stop(&p), 0);
    free(out);
    free(err);
    free(file);
    free(log);
}

/* A real grpcio client (tests/servers/grpc_client_check.py) against the stub's gRPC side. */
TEST(grpcio_client_calls_the_stub_envelope) {
    const char *yaml =
        "services:\n"
        "  svc:\n"
        "    type: grpc\n"
        "    listen: 127.0.0.1:0\n"
        "    methods:\n"
        "      Echo: {respond: \"{{ .request }}\"}\n"
        "      Fail: {fail: {status: UNAVAILABLE, message: \"down for 100% maintenance\", retry_after: 2}}\n"
        "      Never: {hang: true}\n"
        "      App: {fail: {app_error: true, message: card declined}}\n";
    char *log;
    th_proc p = start_stub(yaml, &log);
    char port[16];
    snprintf(port, sizeof port, "%d", p.port);
    char *argv[] = {TH_PYTHON, (char *)th_path("tests/servers/grpc_client_check.py"), port, NULL};
    char *out = NULL, *err = NULL;
    int rc = th_run(argv, NULL, &out, &err);
    if (rc != 0) th_fail(__FILE__, __LINE__, "client exit %d: %s", rc, err);
    ASSERT_EQ_STR(out,
        "{\"case\": \"echo\", \"data\": {\"a\": [1.0, {\"b\": null}], \"s\": \"x\"}, \"success\": true}\n"
        "{\"case\": \"fail\", \"code\": \"UNAVAILABLE\", \"details\": \"down for 100% maintenance\", \"pushback\": \"2000\"}\n"
        "{\"case\": \"unknown\", \"code\": \"UNIMPLEMENTED\", \"details\": \"the stub serves only the Maestro envelope\", \"pushback\": null}\n"
        "{\"case\": \"deadline\", \"code\": \"DEADLINE_EXCEEDED\", \"details\": \"Deadline Exceeded\", \"pushback\": null}\n"
        "{\"case\": \"app\", \"error\": \"card declined\", \"success\": false}\n");
    ASSERT_EQ_INT(th_stop(&p), 0);
    char *lines = th_read_file(log, NULL);
    ASSERT_CONTAINS(lines, "\"method\":\"Echo\",\"n\":1,\"status\":0");
    ASSERT_CONTAINS(lines, "\"method\":\"Fail\",\"n\":1,\"status\":14");
    ASSERT_CONTAINS(lines, "\"method\":\"App\",\"n\":1,\"status\":0");
    free(lines);
    free(out);
    free(err);
    free(log);
}
