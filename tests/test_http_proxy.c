/* Issue #15: when no proxy variable is set, the HTTP transport tells curl "no proxy" itself
 * (saving curl's getenv calls on every transfer); when one is set, curl's own proxy handling
 * must still apply. Checked with bin/maestro against a real HTTP server
 * (tests/servers/http_echo.py): the call succeeds without proxy variables, fails with class
 * connect through a proxy that is not there (http_proxy, and all_proxy), and succeeds again when
 * no_proxy exempts the host. */
#include <string.h>
#include <unistd.h>

#include "harness.h"

static const char *maestro_bin(void) {
    const char *b = getenv("MAESTRO_BIN");
    return b && *b ? b : th_path("bin/maestro");
}

/* `maestro run` of a one-step GET workflow against port, with env assignments (NAME=VALUE or
 * NULL) after every proxy variable was removed. Returns the exit code; *err is stderr. */
static int run_with(int port, const char *env1, const char *env2, char **err) {
    char wf[512];
    snprintf(wf, sizeof wf,
             "name: p\nservices:\n  web: {type: http, endpoint: \"http://127.0.0.1:%d\", timeout: 5s}\n"
             "steps:\n  - id: a\n    service: web\n    method: \"GET /work\"\n    retry: {attempts: 1}\n",
             port);
    char *path = th_write_temp(wf, strlen(wf), ".yaml");
    ASSERT_NOT_NULL(path);
    char *argv[32];
    int n = 0;
    argv[n++] = "env";
    static const char *const vars[] = {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                                       "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        argv[n++] = "-u";
        argv[n++] = (char *)vars[i];
    }
    if (env1) argv[n++] = (char *)env1;
    if (env2) argv[n++] = (char *)env2;
    argv[n++] = (char *)maestro_bin();
    argv[n++] = "run";
    argv[n++] = path;
    argv[n++] = "--quiet";
    argv[n] = NULL;
    char *out = NULL;
    int rc = th_run(argv, NULL, &out, err);
    free(out);
    unlink(path);
    free(path);
    return rc;
}

TEST(proxy_variables_still_apply_and_no_proxy_is_the_default) {
    th_proc srv;
    char *argv[] = {TH_PYTHON, (char *)th_path("tests/servers/http_echo.py"), NULL};
    ASSERT_EQ_INT(th_spawn(&srv, argv, 20), 0);
    char *err = NULL;
    ASSERT_EQ_INT(run_with(srv.port, NULL, NULL, &err), 0);
    free(err);
    /* port 1 on loopback: nothing listens, so a call that uses the proxy cannot connect */
    ASSERT_EQ_INT(run_with(srv.port, "http_proxy=http://127.0.0.1:1", NULL, &err), 1);
    ASSERT_CONTAINS(err, "connect");
    free(err);
    ASSERT_EQ_INT(run_with(srv.port, "all_proxy=http://127.0.0.1:1", NULL, &err), 1);
    ASSERT_CONTAINS(err, "connect");
    free(err);
    ASSERT_EQ_INT(run_with(srv.port, "http_proxy=http://127.0.0.1:1", "no_proxy=127.0.0.1", &err), 0);
    free(err);
    th_stop(&srv);
}
