/* Issue #14, diagnostics like a compiler: `validate --format pretty` (the default on a terminal)
 * shows the source line with a caret under the column and a count; colour only on a terminal
 * without NO_COLOR; `--format json` gives one object per problem on stdout; a pipe keeps the
 * one-line format scripts and tests rely on. */
#include <errno.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "harness.h"

static const char bad[] =
    "name: d\n"
    "services:\n"
    "  api: {type: http, endpoint: \"http://127.0.0.1:1\"}\n"
    "steps:\n"
    "  - {id: a, service: apii, method: POST /a}\n"
    "  - {id: b, service: api, method: POST /b, input: {x: \"{{ .nope }}\"}}\n"
    "  - {id: c, service: api, method: POST /c, input: {\xc3\xa9t\xc3\xa9: \"\xc3\xa9\xe2\x82\xac {{ .oops }}\"}}\n";

/* maestro CMD FILE on a pty with TERM=xterm (plus env when not NULL); what the terminal
 * received. */
static int cmd_pty(const char *cmd, const char *file, const char *env, char **text) {
    const char *bin = getenv("MAESTRO_BIN");
    int master = -1;
    pid_t pid = forkpty(&master, NULL, NULL, NULL);
    ASSERT_CMP_INT(pid, >=, 0);
    if (pid == 0) {
        unsetenv("NO_COLOR");
        setenv("TERM", "xterm", 1);
        if (env) putenv((char *)env);
        char *argv[] = {(char *)(bin ? bin : th_path("bin/maestro")), (char *)cmd, (char *)file, NULL};
        execv(argv[0], argv);
        _exit(127);
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        ssize_t r = read(master, buf + len, cap - len - 1);
        if (r > 0) len += (size_t)r;
        else if (r < 0 && errno == EINTR) continue;
        else break;
        if (len + 1 >= cap) break;
    }
    buf[len] = 0;
    close(master);
    int st = 0;
    waitpid(pid, &st, 0);
    *text = buf;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(pretty_has_source_caret_and_count) {
    char *f = th_write_temp(bad, sizeof bad - 1, ".yaml");
    char *out = NULL, *err = NULL;
    char *a[] = {"maestro", "validate", "--format=pretty", f, NULL};
    ASSERT_EQ_INT(th_maestro(a, NULL, &out, &err), 2);
    char want[2048];
    snprintf(want, sizeof want,
             "%s:5:22: error: unknown service 'apii' (did you mean 'api'?)\n"
             "    5 |   - {id: a, service: apii, method: POST /a}\n"
             "      |                      ^\n",
             f);
    ASSERT_CONTAINS(err, want);
    snprintf(want, sizeof want,
             "%s:6:59: error: unknown variable '.nope' (no step has output 'nope')\n"
             "    6 |   - {id: b, service: api, method: POST /b, input: {x: \"{{ .nope }}\"}}\n"
             "      |                                                           ^\n",
             f);
    ASSERT_CONTAINS(err, want);
    /* the caret is placed by characters, not bytes, after multi-byte UTF-8 */
    const char *l7 = strstr(err, "    7 | ");
    ASSERT_NOT_NULL(l7);
    const char *caret = strstr(l7, "\n      | ");
    ASSERT_NOT_NULL(caret);
    const char *hit = strstr(l7, ".oops");
    ASSERT_NOT_NULL(hit);
    /* characters before ".oops" on the source line == spaces before the caret */
    int chars = 0;
    for (const char *p = l7 + 8; p < hit; p++) chars += ((unsigned char)*p & 0xC0) != 0x80;
    ASSERT_EQ_INT(strspn(caret + 9, " "), chars);
    ASSERT_CONTAINS(err, "\n3 errors\n");
    ASSERT_FALSE(strchr(err, '\033'));
    ASSERT_EQ_STR(out, "");
    free(out);
    free(err);
    /* a pipe without --format: one line each, nothing else (stable for scripts) */
    char *b[] = {"maestro", "validate", f, NULL};
    ASSERT_EQ_INT(th_maestro(b, NULL, &out, &err), 2);
    ASSERT_FALSE(strstr(err, " | "));
    ASSERT_FALSE(strstr(err, "errors"));
    free(out);
    free(err);
    unlink(f);
    free(f);
}

TEST(json_one_object_per_problem) {
    char *f = th_write_temp(bad, sizeof bad - 1, ".yaml");
    char *ok = strdup(th_path("examples/workflows/deploy_service.yaml"));
    char *out = NULL, *err = NULL;
    char *a[] = {"maestro", "validate", "--format", "json", f, ok, NULL};
    ASSERT_EQ_INT(th_maestro(a, NULL, &out, &err), 2);
    ASSERT_EQ_STR(err, "");
    int n = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"), n++) {
        cJSON *o = cJSON_Parse(line);
        ASSERT_NOT_NULL(o);
        ASSERT_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(o, "file")), f);
        ASSERT_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(o, "severity")), "error");
        ASSERT_TRUE(cJSON_IsNumber(cJSON_GetObjectItem(o, "line")));
        ASSERT_TRUE(cJSON_IsNumber(cJSON_GetObjectItem(o, "column")));
        ASSERT_NOT_NULL(cJSON_GetStringValue(cJSON_GetObjectItem(o, "message")));
        if (n == 0) {
            ASSERT_EQ_INT(cJSON_GetObjectItem(o, "line")->valueint, 5);
            ASSERT_EQ_INT(cJSON_GetObjectItem(o, "column")->valueint, 22);
        }
        cJSON_Delete(o);
    }
    ASSERT_EQ_INT(n, 3);
    free(out);
    free(err);
    char *b[] = {"maestro", "validate", "--format", "xml", f, NULL};
    ASSERT_EQ_INT(th_maestro(b, NULL, &out, &err), 2);
    ASSERT_CONTAINS(err, "--format: expected text, pretty or json");
    free(out);
    free(err);
    unlink(f);
    free(f);
    free(ok);
}

TEST(terminal_gets_pretty_in_colour_unless_no_color) {
    char *f = th_write_temp(bad, sizeof bad - 1, ".yaml");
    char *t = NULL;
    ASSERT_EQ_INT(cmd_pty("validate", f, NULL, &t), 2);
    ASSERT_CONTAINS(t, "\033[1;31merror:\033[0m");
    ASSERT_CONTAINS(t, "    5 |   - {id: a, service: apii");
    ASSERT_CONTAINS(t, "3 errors");
    free(t);
    ASSERT_EQ_INT(cmd_pty("validate", f, "NO_COLOR=1", &t), 2);
    ASSERT_FALSE(strchr(t, '\033'));
    ASSERT_CONTAINS(t, "    5 |   - {id: a, service: apii");
    free(t);
    unlink(f);
    free(f);
}

/* run, graph and stub print a broken file's diagnostics the same way on a terminal. */
TEST(run_graph_stub_diagnostics_on_a_terminal) {
    char *f = th_write_temp(bad, sizeof bad - 1, ".yaml");
    static const char *const cmds[] = {"run", "graph"};
    for (size_t i = 0; i < 2; i++) {
        char *t = NULL;
        ASSERT_EQ_INT(cmd_pty(cmds[i], f, "NO_COLOR=1", &t), 2);
        ASSERT_CONTAINS(t, "    5 |   - {id: a, service: apii, method: POST /a}");
        ASSERT_CONTAINS(t, "3 errors");
        free(t);
    }
    const char stub[] = "services:\n  s:\n    type: http\n    listen: 127.0.0.1:0\n    routes:\n      \"GET /\": {respnd: 1}\n";
    char *sf = th_write_temp(stub, sizeof stub - 1, ".yaml");
    char *t = NULL;
    ASSERT_EQ_INT(cmd_pty("stub", sf, "NO_COLOR=1", &t), 2);
    ASSERT_CONTAINS(t, "    6 |       \"GET /\": {respnd: 1}");
    ASSERT_CONTAINS(t, "1 error");
    free(t);
    unlink(sf);
    free(sf);
    unlink(f);
    free(f);
}
