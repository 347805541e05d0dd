/* `maestro run` and `maestro validate` with the issue #16 service and step keys, end to end
 * against a grpcio server over mutual TLS (tests/servers/grpc_tls.py): a grpcs:// endpoint with
 * tls: {ca_file, cert_file, key_file, server_name}, compression: gzip, keepalive, per-step
 * templated headers over the service's, and binary (-bin) metadata written in base64. */
#include <unistd.h>

#include <cjson/cJSON.h>

#include "harness.h"

static char g_dir[64];

static void certs(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/maestro-tlsrun-XXXXXX");
    ASSERT_NOT_NULL(mkdtemp(g_dir));
    char *argv[] = {"sh", (char *)th_path("tests/servers/tls_certs.sh"), g_dir, NULL};
    ASSERT_EQ_INT(th_run(argv, NULL, NULL, NULL), 0);
}

static void cleanup(void) {
    char *argv[] = {"rm", "-rf", g_dir, NULL};
    th_run(argv, NULL, NULL, NULL);
}

static char *workflow(int port, const char *bin_value) {
    char *y = malloc(4096);
    snprintf(y, 4096,
             "name: tlsflow\n"
             "input: {who: {type: string, required: true}}\n"
             "services:\n"
             "  secure:\n"
             "    type: grpc\n"
             "    endpoint: \"grpcs://127.0.0.1:%d\"\n"
             "    tls: {ca_file: %s/ca.pem, cert_file: %s/client.pem, key_file: %s/client.key,\n"
             "          server_name: localhost}\n"
             "    compression: gzip\n"
             "    keepalive: {time: 30s, timeout: 5s}\n"
             "    headers: {x-tenant: acme, x-shared: from-service}\n"
             "steps:\n"
             "  - id: hello\n"
             "    service: secure\n"
             "    method: Echo\n"
             "    input: {who: \"{{ .input.who }}\"}\n"
             "    headers:\n"
             "      x-user: \"{{ .input.who }}\"\n"
             "      X-Shared: from-step\n"
             "      trace-bin: \"%s\"\n"
             "      who-bin: \"{{ .input.who | base64 }}\"\n"
             "      a-bin: \"{{ 'a' | base64 }}\"\n"
             "      ab-bin: \"{{ 'ab' | base64 }}\"\n"
             "    output: e\n"
             "output: {e: \"{{ .e }}\"}\n",
             port, g_dir, g_dir, g_dir, bin_value);
    return y;
}

TEST_T(run_over_mutual_tls_with_gzip_keepalive_step_and_binary_headers, 90) {
    certs();
    th_proc srv;
    char ca[128], crt[128], key[128];
    snprintf(ca, sizeof ca, "%s/ca.pem", g_dir);
    snprintf(crt, sizeof crt, "%s/server.pem", g_dir);
    snprintf(key, sizeof key, "%s/server.key", g_dir);
    char *sargv[] = {TH_PYTHON, (char *)th_path("tests/servers/grpc_tls.py"), "--cert", crt,
                     "--key", key, "--client-ca", ca, "--gzip", NULL};
    ASSERT_EQ_INT(th_spawn(&srv, sargv, 30), 0);
    /* "hello\x00\xff" in base64: binary metadata arrives as those bytes. */
    char *y = workflow(srv.port, "aGVsbG8A/w==");
    char *wf = th_write_temp(y, strlen(y), ".yaml");
    char *out = NULL, *err = NULL;
    char *argv[] = {"maestro", "run", wf, "--input", "{\"who\":\"ann\"}", NULL};
    int code = th_maestro(argv, NULL, &out, &err);
    if (code != 0) printf("stderr: %s\n", err);
    ASSERT_EQ_INT(code, 0);
    cJSON *o = cJSON_Parse(out);
    ASSERT_NOT_NULL(o);
    cJSON *e = cJSON_GetObjectItem(o, "e");
    ASSERT_EQ_STR(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "input"), "who")->valuestring, "ann");
    ASSERT_EQ_STR(cJSON_GetArrayItem(cJSON_GetObjectItem(e, "transport"), 0)->valuestring, "ssl");
    ASSERT_EQ_STR(cJSON_GetArrayItem(cJSON_GetObjectItem(e, "client_cn"), 0)->valuestring, "client");
    cJSON *md = cJSON_GetObjectItem(e, "metadata");
    ASSERT_EQ_STR(cJSON_GetObjectItem(md, "x-user")->valuestring, "ann");
    ASSERT_EQ_STR(cJSON_GetObjectItem(md, "x-tenant")->valuestring, "acme");
    /* The step's header replaces the service's of the same name (any case). */
    ASSERT_EQ_STR(cJSON_GetObjectItem(md, "x-shared")->valuestring, "from-step");
    cJSON *bin = cJSON_GetObjectItem(e, "binary");
    ASSERT_EQ_STR(cJSON_GetObjectItem(bin, "trace-bin")->valuestring, "68656c6c6f00ff");
    /* The base64 function, with 0, 2 and 1 padding characters. */
    ASSERT_EQ_STR(cJSON_GetObjectItem(bin, "who-bin")->valuestring, "616e6e");
    ASSERT_EQ_STR(cJSON_GetObjectItem(bin, "a-bin")->valuestring, "61");
    ASSERT_EQ_STR(cJSON_GetObjectItem(bin, "ab-bin")->valuestring, "6162");
    cJSON_Delete(o);
    free(out);
    free(err);
    unlink(wf);
    free(wf);
    free(y);
    /* A -bin value that is not base64: refused when loading. */
    y = workflow(srv.port, "not base64!");
    wf = th_write_temp(y, strlen(y), ".yaml");
    char *vargv[] = {"maestro", "validate", wf, NULL};
    code = th_maestro(vargv, NULL, &out, &err);
    ASSERT_EQ_INT(code, 2);
    ASSERT_CONTAINS(err, "value of binary metadata 'trace-bin' must be base64");
    free(out);
    free(err);
    unlink(wf);
    free(wf);
    free(y);
    /* A templated one is checked once rendered: the step fails before any attempt. */
    y = workflow(srv.port, "{{ .input.who }}!");
    wf = th_write_temp(y, strlen(y), ".yaml");
    char *rargv[] = {"maestro", "run", wf, "--input", "{\"who\":\"ann\"}", NULL};
    code = th_maestro(rargv, NULL, &out, &err);
    ASSERT_EQ_INT(code, 1);
    ASSERT_CONTAINS(err, "header trace-bin: binary metadata must be base64");
    free(out);
    free(err);
    unlink(wf);
    free(wf);
    free(y);
    th_stop(&srv);
    cleanup();
}

TEST(validate_step_headers_are_checked_like_service_headers) {
    const char *y =
        "name: hdrs\n"
        "services:\n"
        "  g: {type: grpc, endpoint: \"127.0.0.1:1\"}\n"
        "steps:\n"
        "  - id: a\n"
        "    service: g\n"
        "    method: Echo\n"
        "    headers: {\"bad name\": x, x-later: \"{{ .steps.b.output }}\", x-ok: \"{{ .input.z }}\"}\n"
        "  - id: b\n"
        "    service: g\n"
        "    method: Echo\n";
    char *wf = th_write_temp(y, strlen(y), ".yaml");
    char *out = NULL, *err = NULL;
    char *argv[] = {"maestro", "validate", wf, NULL};
    ASSERT_EQ_INT(th_maestro(argv, NULL, &out, &err), 2);
    ASSERT_CONTAINS(err, "invalid header name 'bad name'");
    ASSERT_CONTAINS(err, "'.steps.b' does not name an earlier step");
    free(out);
    free(err);
    unlink(wf);
    free(wf);
}
