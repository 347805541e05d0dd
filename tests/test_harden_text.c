/* Issue #17, defects 7 (output side) and 10 (summary): bytes a service sends (a grpc-message with
 * CR LF, a forged log line, ESC [2J, 0xFF and a cut UTF-8 sequence, from tests/servers/h2_fault.py)
 * reach neither the terminal nor a JSON log line raw; the failure summary is never cut inside a
 * character, says how many "NOT compensated" entries it left out, and a step that failed before
 * anything was sent says so. Real peers: h2_fault.py and `maestro stub`. */
#include <unistd.h>

#include <cjson/cJSON.h>

#include "harness.h"
#include "loop/text.h"

/* True when s (n bytes) is valid UTF-8 (no overlong forms, no surrogates). */
static int valid_utf8(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t need;
        unsigned cp, min;
        if (c < 0x80) { i++; continue; }
        if ((c & 0xe0) == 0xc0) need = 2, cp = c & 0x1f, min = 0x80;
        else if ((c & 0xf0) == 0xe0) need = 3, cp = c & 0x0f, min = 0x800;
        else if ((c & 0xf8) == 0xf0) need = 4, cp = c & 0x07, min = 0x10000;
        else return 0;
        if (n - i < need) return 0;
        for (size_t k = 1; k < need; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        i += need;
    }
    return 1;
}

/* No byte that moves the cursor or starts an escape sequence, other than the line ends. */
static int terminal_safe(const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p < 0x20 && *p != '\n') || *p == 0x7f) return 0;
    return 1;
}

/* C1 controls arrive as valid UTF-8 (U+009B, CSI, is C2 9B) and still drive many terminals:
 * escaped like C0 controls; U+00A0 and everything above pass through. */
TEST(c1_controls_are_escaped_in_text) {
    const char in[] = "a\xC2\x9B" "2Jb\xC2\x80\xC2\x9F|\xC2\xA0\xC3\xA9";
    char *e = mae__text_escape(in, sizeof in - 1, 0);
    ASSERT_NOT_NULL(e);
    ASSERT_EQ_STR(e, "a\\u009B2Jb\\u0080\\u009F|\xC2\xA0\xC3\xA9");
    ASSERT_TRUE(terminal_safe(e));
    free(e);
    /* cut with max: never inside the escape */
    e = mae__text_escape(in, sizeof in - 1, 8);
    ASSERT_NOT_NULL(e);
    ASSERT_EQ_STR(e, "a...");
    free(e);
}

static char *grpc_workflow(int port) {
    char y[768];
    int n = snprintf(y, sizeof y,
                     "name: hostile\n"
                     "services:\n"
                     "  g: {type: grpc, endpoint: \"127.0.0.1:%d\", headers: {x-fault: hostile_message}}\n"
                     "steps:\n"
                     "  - {id: ask, service: g, method: Ask, input: {q: 1}}\n",
                     port);
    return th_write_temp(y, (size_t)n, ".yaml");
}

static th_proc h2;

static void h2_start(void) {
    char *argv[] = {TH_PYTHON, (char *)th_path("tests/servers/h2_fault.py"), NULL};
    ASSERT_EQ_INT(th_spawn(&h2, argv, 20), 0);
}

TEST(hostile_grpc_message_is_escaped_in_text_logs_and_summary) {
    h2_start();
    char *wf = grpc_workflow(h2.port), *out, *err;
    char *argv[] = {"maestro", "run", wf, "--log-level", "info", NULL};
    ASSERT_EQ_INT(th_maestro(argv, NULL, &out, &err), 1);
    ASSERT_TRUE(valid_utf8((const unsigned char *)err, strlen(err)));
    ASSERT_TRUE(terminal_safe(err));
    /* the forged text stays inside its line, visibly escaped */
    ASSERT_FALSE(strstr(err, "\n2026-01-01T00:00:00Z error forged"));
    ASSERT_CONTAINS(err, "denied\\r\\n2026-01-01T00:00:00Z error forged\\x1B[2J\\xFF tail\\xE2\\x82");
    /* the summary's line too */
    ASSERT_CONTAINS(err, "step 'ask' failed after 1 attempt: grpc:FAILED_PRECONDITION: denied\\r\\n2026");
    ASSERT_EQ_STR(out, "");
    free(out);
    free(err);
    unlink(wf);
    free(wf);
    th_stop(&h2);
}

TEST(hostile_grpc_message_keeps_json_log_lines_valid) {
    h2_start();
    char *wf = grpc_workflow(h2.port), *out, *err;
    char *argv[] = {"maestro", "run", wf, "--log-level", "info", "--log-format", "json", NULL};
    ASSERT_EQ_INT(th_maestro(argv, NULL, &out, &err), 1);
    ASSERT_TRUE(valid_utf8((const unsigned char *)err, strlen(err)));
    int json_lines = 0, with_msg = 0;
    for (char *line = strtok(err, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] != '{') continue;   /* the failure summary is text */
        cJSON *j = cJSON_Parse(line);
        if (!j) th_fail(__FILE__, __LINE__, "not a JSON line: %s", line);
        json_lines++;
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "msg");
        ASSERT_TRUE(cJSON_IsString(m));
        if (strstr(m->valuestring, "denied\r\n2026-01-01T00:00:00Z error forged\x1b[2J\xEF\xBF\xBD tail")) with_msg++;
        cJSON_Delete(j);
    }
    ASSERT_CMP_INT(json_lines, >=, 2);
    ASSERT_CMP_INT(with_msg, >=, 1);
    free(out);
    free(err);
    unlink(wf);
    free(wf);
    th_stop(&h2);
}

/* 2000 failing compensations with long multibyte messages: the summary stops near 64 KiB on an
 * entry boundary and says how many it left out. */
TEST(summary_cap_counts_the_omitted_entries) {
    char stub_yaml[2048], msg[600] = "";
    for (int i = 0; i < 40; i++) strcat(msg, "refus\xC3\xA9 ");
    snprintf(stub_yaml, sizeof stub_yaml,
             "services:\n  api:\n    type: http\n    listen: 127.0.0.1:0\n    routes:\n"
             "      \"POST /do\": {respond: {ok: true}}\n"
             "      \"POST /undo\": {respond: {ok: true}, fail: {http: 400, times: 100000000, message: \"%s\"}}\n"
             "      \"POST /boom\": {respond: {ok: true}, fail: {http: 400, times: 100000000, message: boom}}\n",
             msg);
    char *sf = th_write_temp(stub_yaml, strlen(stub_yaml), ".yaml");
    const char *bin = getenv("MAESTRO_BIN");
    char *sargv[] = {(char *)(bin ? bin : th_path("bin/maestro")), "stub", sf, NULL};
    th_proc stub;
    ASSERT_EQ_INT(th_spawn(&stub, sargv, 20), 0);
    char y[1024];
    int n = snprintf(y, sizeof y,
                     "name: many\n"
                     "input: {items: {type: array, required: true}}\n"
                     "services:\n"
                     "  api: {type: http, endpoint: \"http://127.0.0.1:%d\", retry: {attempts: 1},\n"
                     "        circuit_breaker: {failures: 1000000}}\n"
                     "steps:\n"
                     "  - id: each\n"
                     "    foreach: \"{{ .input.items }}\"\n"
                     "    as: it\n"
                     "    concurrency: 50\n"
                     "    do: {id: item, service: api, method: \"POST /do\", input: {i: \"{{ .it }}\"},\n"
                     "         compensate: {method: \"POST /undo\", input: {i: \"{{ .it }}\"}}}\n"
                     "  - {id: last, service: api, method: \"POST /boom\"}\n",
                     stub.port);
    char *wf = th_write_temp(y, (size_t)n, ".yaml");
    static char input[16384];
    int len = snprintf(input, sizeof input, "{\"items\":[");
    for (int i = 0; i < 2000; i++) len += snprintf(input + len, sizeof input - (size_t)len, "%s%d", i ? "," : "", i);
    snprintf(input + len, sizeof input - (size_t)len, "]}");
    char *out, *err;
    char *argv[] = {"maestro", "run", wf, "--input", input, "--quiet", NULL};
    ASSERT_EQ_INT(th_maestro(argv, NULL, &out, &err), 3);
    ASSERT_TRUE(valid_utf8((const unsigned char *)err, strlen(err)));
    ASSERT_CMP_INT(strlen(err), >, 60000);
    ASSERT_CMP_INT(strlen(err), <, 80000);
    ASSERT_CONTAINS(err, "more not shown here: the report's \"uncompensated\" lists every one\n");
    /* every shown entry is whole, and shown + omitted = 2000 */
    int shown = 0;
    for (const char *p = err; (p = strstr(p, "\n  item[")); p++) {
        const char *eol = strchr(p + 1, '\n');
        ASSERT_NOT_NULL(eol);
        ASSERT_CONTAINS(p, "(after 1 attempt)\n");
        shown++;
    }
    const char *more = strstr(err, "  ... and ");
    ASSERT_NOT_NULL(more);
    ASSERT_EQ_INT(shown + atoi(more + 10), 2000);
    free(out);
    free(err);
    unlink(wf);
    free(wf);
    th_stop(&stub);
    unlink(sf);
    free(sf);
}

/* A step whose input template fails was never sent: "failed before sending", not "after 0
 * attempts". */
TEST(template_failure_says_before_sending) {
    const char y[] =
        "name: tmpl\n"
        "input: {x: {type: string, default: \"s\"}}\n"
        "services:\n  g: {type: grpc, endpoint: \"127.0.0.1:1\"}\n"
        "steps:\n  - {id: ask, service: g, method: Ask, input: {q: \"{{ .input.x.deeper }}\"}}\n";
    char *wf = th_write_temp(y, strlen(y), ".yaml"), *out, *err;
    char *argv[] = {"maestro", "run", wf, "--quiet", NULL};
    ASSERT_EQ_INT(th_maestro(argv, NULL, &out, &err), 1);
    ASSERT_CONTAINS(err, "step 'ask' failed before sending: template: ");
    ASSERT_FALSE(strstr(err, "after 0 attempts"));
    free(out);
    free(err);
    unlink(wf);
    free(wf);
}

/* The same through a real grpcio server (tests/servers/grpc_envelope.py, method Status aborts
 * with the given message): grpcio percent-encodes CR LF and ESC, Maestro decodes them, and the
 * text log and the summary show them escaped. */
TEST(grpcio_abort_message_is_escaped) {
    th_proc srv;
    char *sargv[] = {TH_PYTHON, (char *)th_path("tests/servers/grpc_envelope.py"), "--port", "0", NULL};
    ASSERT_EQ_INT(th_spawn(&srv, sargv, 30), 0);
    char y[768];
    int n = snprintf(y, sizeof y,
                     "name: grpcio_hostile\n"
                     "services:\n"
                     "  env: {type: grpc, endpoint: \"127.0.0.1:%d\", retry: {attempts: 1}}\n"
                     "steps:\n"
                     "  - {id: ask, service: env, method: Status,\n"
                     "     input: {code: FAILED_PRECONDITION, message: \"denied\\r\\n2026-01-01T00:00:00Z error forged\\e[2J\"}}\n",
                     srv.port);
    char *wf = th_write_temp(y, (size_t)n, ".yaml"), *out, *err;
    char *argv[] = {"maestro", "run", wf, NULL};
    ASSERT_EQ_INT(th_maestro(argv, NULL, &out, &err), 1);
    ASSERT_TRUE(valid_utf8((const unsigned char *)err, strlen(err)));
    ASSERT_TRUE(terminal_safe(err));
    ASSERT_FALSE(strstr(err, "\n2026-01-01T00:00:00Z error forged"));
    ASSERT_CONTAINS(err, "failed after 1 attempt: grpc:FAILED_PRECONDITION: denied\\r\\n2026-01-01T00:00:00Z error forged\\x1B[2J\n");
    free(out);
    free(err);
    unlink(wf);
    free(wf);
    th_stop(&srv);
}

/* An HTTP error body with the same bytes (tests/servers/http_hostile.py): the excerpt in the log
 * and the summary cannot forge a line or reach the terminal raw. */
TEST(http_error_body_cannot_reach_the_terminal_raw) {
    th_proc srv;
    char *sargv[] = {TH_PYTHON, (char *)th_path("tests/servers/http_hostile.py"), NULL};
    ASSERT_EQ_INT(th_spawn(&srv, sargv, 20), 0);
    char y[512];
    int n = snprintf(y, sizeof y,
                     "name: http_hostile\n"
                     "services:\n  h: {type: http, endpoint: \"http://127.0.0.1:%d\"}\n"
                     "steps:\n  - {id: get, service: h, method: \"GET /error\"}\n",
                     srv.port);
    char *wf = th_write_temp(y, (size_t)n, ".yaml"), *out, *err;
    char *argv[] = {"maestro", "run", wf, "--log-level", "debug", NULL};
    ASSERT_EQ_INT(th_maestro(argv, NULL, &out, &err), 1);
    ASSERT_TRUE(valid_utf8((const unsigned char *)err, strlen(err)));
    ASSERT_TRUE(terminal_safe(err));
    ASSERT_FALSE(strstr(err, "\n2026-01-01T00:00:00Z error forged"));
    ASSERT_CONTAINS(err, "step 'get' failed after 1 attempt: http_4xx (HTTP 400): HTTP 400: denied");
    free(out);
    free(err);
    unlink(wf);
    free(wf);
    th_stop(&srv);
}

/* Invalid UTF-8 inside a JSON reply's string (0xFF, a cut E2 82): stdout and the report stay
 * valid UTF-8 JSON (the printer writes each invalid byte as \ufffd). */
TEST(invalid_utf8_in_a_json_reply_leaves_output_and_report_valid) {
    th_proc srv;
    char *sargv[] = {TH_PYTHON, (char *)th_path("tests/servers/http_hostile.py"), NULL};
    ASSERT_EQ_INT(th_spawn(&srv, sargv, 20), 0);
    char y[512];
    int n = snprintf(y, sizeof y,
                     "name: http_badjson\n"
                     "services:\n  h: {type: http, endpoint: \"http://127.0.0.1:%d\"}\n"
                     "steps:\n  - {id: get, service: h, method: \"GET /badjson\", output: g}\n"
                     "output: {g: \"{{ .g }}\"}\n",
                     srv.port);
    char *wf = th_write_temp(y, (size_t)n, ".yaml"), *rep = th_write_temp("", 0, ".json"), *out, *err;
    char *argv[] = {"maestro", "run", wf, "--report", rep, NULL};
    ASSERT_EQ_INT(th_maestro(argv, NULL, &out, &err), 0);
    ASSERT_TRUE(valid_utf8((const unsigned char *)out, strlen(out)));
    cJSON *o = cJSON_Parse(out);
    ASSERT_NOT_NULL(o);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "g"), "name");
    ASSERT_TRUE(cJSON_IsString(name));
    ASSERT_EQ_STR(name->valuestring, "a\xEF\xBF\xBD" "b\xEF\xBF\xBD\xEF\xBF\xBD");
    cJSON_Delete(o);
    size_t len = 0;
    char *r = th_read_file(rep, &len);
    ASSERT_NOT_NULL(r);
    ASSERT_TRUE(valid_utf8((const unsigned char *)r, len));
    cJSON *j = cJSON_Parse(r);
    ASSERT_NOT_NULL(j);
    cJSON_Delete(j);
    free(r);
    free(out);
    free(err);
    unlink(wf);
    unlink(rep);
    free(wf);
    free(rep);
    th_stop(&srv);
}
