/* Exact numbers end to end, through the real CLI and real peers: 2^53-1, -(2^53-1),
 * 8999999999999999, 123456789012, 0.1 and 1e300 round-trip unchanged through the run input
 * (`--input`, re-printed by the CLI), an HTTP body and query string and a path and header
 * (tests/servers/http_echo.py reports the raw bytes it received), a value a service returned
 * and a compensation sent back (kept verbatim by the server, read with the curl CLI), the report
 * file, stdout, and `maestro stub`'s replies and call log. cJSON's printer, used for all of these
 * before, turns 9007199254740991 into 9.00719925474099e+15 and 8999999999999999 into 9e+15. */
#include <unistd.h>

#include <cjson/cJSON.h>

#include "harness.h"

/* The numbers as `--input` gives them and as every JSON text must carry them. */
#define IN_NUMS "{\"a\":9007199254740991,\"b\":-9007199254740991,\"c\":8999999999999999," \
                "\"d\":123456789012,\"e\":0.1,\"f\":1e300"
#define OUT_NUMS "{\"a\":9007199254740991,\"b\":-9007199254740991,\"c\":8999999999999999," \
                 "\"d\":123456789012,\"e\":0.1,\"f\":1e+300}"

static const char wf_yaml[] =
    "name: numbers\n"
    "input:\n"
    "  a: {type: integer, required: true}\n"
    "  b: {type: integer, required: true}\n"
    "  c: {type: integer, required: true}\n"
    "  d: {type: integer, required: true}\n"
    "  e: {type: number, required: true}\n"
    "  f: {type: number, required: true}\n"
    "  fail: {type: boolean, default: false}\n"
    "services:\n"
    "  api:\n"
    "    type: http\n"
    "    endpoint: \"http://127.0.0.1:1\"\n"
    "    timeout: 5s\n"
    "    retry: {attempts: 1}\n"
    "    headers: {X-N: \"{{ .input.c }}\"}\n"
    "steps:\n"
    "  - id: body\n"
    "    service: api\n"
    "    method: \"POST /echo/body\"\n"
    "    input: {a: \"{{ .input.a }}\", b: \"{{ .input.b }}\", c: \"{{ .input.c }}\",\n"
    "            d: \"{{ .input.d }}\", e: \"{{ .input.e }}\", f: \"{{ .input.f }}\"}\n"
    "    output: body\n"
    "  - id: query\n"
    "    service: api\n"
    "    method: \"GET /echo/p/{{ .input.a }}/{{ .input.f }}\"\n"
    "    input: {a: \"{{ .input.a }}\", b: \"{{ .input.b }}\", c: \"{{ .input.c }}\",\n"
    "            d: \"{{ .input.d }}\", e: \"{{ .input.e }}\", f: \"{{ .input.f }}\"}\n"
    "    output: query\n"
    "  - id: create\n"
    "    service: api\n"
    "    method: \"POST /numbers\"\n"
    "    output: created\n"
    "    compensate: {method: \"POST /keep/undo\", input: \"{{ .created }}\"}\n"
    "  - id: boom\n"
    "    service: api\n"
    "    when: \"{{ .input.fail }}\"\n"
    "    method: \"POST /status/409\"\n"
    "output: {body: \"{{ .body.body }}\", target: \"{{ .query.target }}\", n: \"{{ .query.headers['x-n'] }}\",\n"
    "         created: \"{{ .created }}\", lit: [9007199254740991, 1e300],\n"
    "         expr: \"{{ 8999999999999999 + 0 }}\", neg: \"{{ -9007199254740991 }}\"}\n";

typedef struct {
    th_proc srv;
    char *wf, *rep, *out, *err;
    char endpoint[96];
} num_fx;

static void start(num_fx *h) {
    memset(h, 0, sizeof *h);
    char *argv[] = {TH_PYTHON, (char *)th_path("tests/servers/http_echo.py"), NULL};
    ASSERT_EQ_INT(th_spawn(&h->srv, argv, 20), 0);
    ASSERT_CMP_INT(h->srv.port, >, 0);
    snprintf(h->endpoint, sizeof h->endpoint, "service.api.endpoint=http://127.0.0.1:%d", h->srv.port);
    h->wf = th_write_temp(wf_yaml, strlen(wf_yaml), ".yaml");
    h->rep = th_write_temp("", 0, ".json");
    unsetenv("MAESTRO_SCRIPT");
}

static int run(num_fx *h, const char *input) {
    char *argv[] = {"maestro", "run", h->wf, "--input", (char *)input, "--report", h->rep,
                    "--set", h->endpoint, NULL};
    free(h->out);
    free(h->err);
    return th_maestro(argv, NULL, &h->out, &h->err);
}

static void stop(num_fx *h) {
    th_stop(&h->srv);
    if (h->srv.out) fclose(h->srv.out);
    unlink(h->wf);
    unlink(h->rep);
    free(h->wf);
    free(h->rep);
    free(h->out);
    free(h->err);
}

static const char *str_of(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

TEST(http_body_query_path_header_stdout_and_report_are_exact) {
    num_fx h;
    start(&h);
    int rc = run(&h, IN_NUMS "}");
    if (rc != 0) printf("  stderr: %s\n", h.err);
    ASSERT_EQ_INT(rc, 0);
    cJSON *o = cJSON_Parse(h.out);
    ASSERT_NOT_NULL(o);
    /* the bytes the server received: the run input re-printed by the CLI, then the body */
    ASSERT_EQ_STR(str_of(o, "body"), OUT_NUMS);
    ASSERT_EQ_STR(str_of(o, "target"),
                  "/echo/p/9007199254740991/1e%2B300?a=9007199254740991&b=-9007199254740991"
                  "&c=8999999999999999&d=123456789012&e=0.1&f=1e%2B300");
    ASSERT_EQ_STR(str_of(o, "n"), "8999999999999999");
    /* what the service returned, on stdout: text written by Python, read and printed by us */
    ASSERT_CONTAINS(h.out, "\"created\":" OUT_NUMS);
    /* numbers written in the workflow: YAML scalars and expression literals */
    ASSERT_CONTAINS(h.out, "\"lit\":[9007199254740991,1e+300]");
    ASSERT_CONTAINS(h.out, "\"expr\":8999999999999999");
    ASSERT_CONTAINS(h.out, "\"neg\":-9007199254740991");
    /* the report file (pretty) carries the same output */
    char *rep = th_read_file(h.rep, NULL);
    ASSERT_NOT_NULL(rep);
    ASSERT_CONTAINS(rep, "\"a\": 9007199254740991,");
    ASSERT_CONTAINS(rep, "\"b\": -9007199254740991,");
    ASSERT_CONTAINS(rep, "\"c\": 8999999999999999,");
    ASSERT_CONTAINS(rep, "\"d\": 123456789012,");
    ASSERT_CONTAINS(rep, "\"e\": 0.1,");
    ASSERT_CONTAINS(rep, "\"f\": 1e+300\n");
    ASSERT_CONTAINS(rep, "\"body\": \"{\\\"a\\\":9007199254740991,");
    cJSON *r = cJSON_Parse(rep);
    ASSERT_NOT_NULL(r);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r, "output"), "created");
    ASSERT_TRUE(cJSON_GetObjectItemCaseSensitive(c, "a")->valuedouble == 9007199254740991.0);
    ASSERT_TRUE(cJSON_GetObjectItemCaseSensitive(c, "f")->valuedouble == 1e300);
    cJSON_Delete(r);
    free(rep);
    cJSON_Delete(o);
    stop(&h);
}

/* A service returns ids; the run fails later; the compensation gets the ids back unchanged.
 * The server keeps the compensation's body verbatim and curl reads it: no Maestro in between. */
TEST(compensation_input_from_a_service_reply_is_exact) {
    num_fx h;
    start(&h);
    ASSERT_EQ_INT(run(&h, IN_NUMS ",\"fail\":true}"), 1);
    ASSERT_CONTAINS(h.err, "compensated: create");
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/kept/undo", h.srv.port);
    char *argv[] = {"curl", "-s", "-S", "-f", url, NULL};
    char *kept = NULL;
    ASSERT_EQ_INT(th_run(argv, NULL, &kept, NULL), 0);
    ASSERT_EQ_STR(kept, OUT_NUMS);
    free(kept);
    stop(&h);
}

/* The integer check of `input:` must not be fooled either: 2^53-1 is an integer, 0.1 is not,
 * and the message names the number exactly. */
TEST(input_check_sees_exact_numbers) {
    num_fx h;
    start(&h);
    ASSERT_EQ_INT(run(&h, "{\"a\":9007199254740991,\"b\":0.30000000000000004,\"c\":1,\"d\":1,\"e\":1,\"f\":1}"), 2);
    ASSERT_CONTAINS(h.err, "input.b: expected integer, got 0.30000000000000004");
    stop(&h);
}

static const char stub_yaml[] =
    "services:\n"
    "  ids:\n"
    "    type: http\n"
    "    listen: 127.0.0.1:0\n"
    "    routes:\n"
    "      \"POST /n\": {respond: {lit: {a: 9007199254740991, b: -9007199254740991, c: 8999999999999999,\n"
    "                                  d: 123456789012, e: 0.1, f: 1e300},\n"
    "                             got: \"{{ .request }}\", text: \"c={{ .request.c }}\"}}\n";

/* maestro stub: YAML numbers and the request's numbers in its reply, and the request in its
 * call log, all exact. curl is the client, so only the stub prints and parses. */
TEST(stub_replies_and_call_log_are_exact) {
    char *file = th_write_temp(stub_yaml, strlen(stub_yaml), ".yaml");
    char *log = th_write_temp("", 0, ".jsonl");
    const char *bin = getenv("MAESTRO_BIN");
    char *argv[] = {(char *)(bin ? bin : th_path("bin/maestro")), "stub", file, "--log", log, NULL};
    th_proc p;
    ASSERT_EQ_INT(th_spawn(&p, argv, 20), 0);
    ASSERT_CMP_INT(p.port, >, 0);
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/n", p.port);
    char *cargv[] = {"curl", "-s", "-S", "-f", "-H", "Content-Type: application/json",
                     "--data", IN_NUMS "}", url, NULL};
    char *reply = NULL;
    int rc = th_run(cargv, NULL, &reply, NULL);
    /* stopped before any assertion: a failing test must not leave the stub running */
    th_stop(&p);
    if (p.out) fclose(p.out);
    ASSERT_EQ_INT(rc, 0);
    ASSERT_EQ_STR(reply, "{\"lit\":" OUT_NUMS ",\"got\":" OUT_NUMS ",\"text\":\"c=8999999999999999\"}");
    free(reply);
    char *text = th_read_file(log, NULL);
    ASSERT_NOT_NULL(text);
    ASSERT_CONTAINS(text, "\"request\":" OUT_NUMS "}\n");
    free(text);
    unlink(file);
    unlink(log);
    free(file);
    free(log);
}
