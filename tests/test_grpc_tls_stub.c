/* `maestro stub` serving gRPC over TLS (tls: {cert_file, key_file} in the stub file), called by
 * a real grpcio client with ssl_channel_credentials and by `maestro run` over grpcs://; a
 * client that does not offer ALPN h2 (the openssl CLI) is refused; an unusable certificate
 * stops the stub with the reason. Certificates from tests/servers/tls_certs.sh. */
#include <unistd.h>

#include <cjson/cJSON.h>

#include "harness.h"

static char g_dir[64];

static void certs(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/maestro-tlsstub-XXXXXX");
    ASSERT_NOT_NULL(mkdtemp(g_dir));
    char *argv[] = {"sh", (char *)th_path("tests/servers/tls_certs.sh"), g_dir, NULL};
    ASSERT_EQ_INT(th_run(argv, NULL, NULL, NULL), 0);
}

static void cleanup(void) {
    char *argv[] = {"rm", "-rf", g_dir, NULL};
    th_run(argv, NULL, NULL, NULL);
}

static char *stub_yaml(const char *cert, const char *key) {
    char *y = malloc(1024);
    snprintf(y, 1024,
             "services:\n"
             "  secure:\n"
             "    type: grpc\n"
             "    listen: 127.0.0.1:0\n"
             "    tls: {cert_file: %s/%s, key_file: %s/%s}\n"
             "    methods:\n"
             "      Greet: {respond: {hello: \"{{ .request.who }}\"}}\n",
             g_dir, cert, g_dir, key);
    return y;
}

static const char *maestro_bin(void) {
    const char *bin = getenv("MAESTRO_BIN");
    return bin ? bin : th_path("bin/maestro");
}

TEST_T(stub_serves_grpc_over_tls_to_grpcio_and_maestro, 90) {
    certs();
    char *y = stub_yaml("server.pem", "server.key");
    char *file = th_write_temp(y, strlen(y), ".yaml");
    char *argv[] = {(char *)maestro_bin(), "stub", file, NULL};
    th_proc stub;
    ASSERT_EQ_INT(th_spawn(&stub, argv, 20), 0);
    ASSERT_CMP_INT(stub.port, >, 0);
    char port[16], ca[128];
    snprintf(port, sizeof port, "%d", stub.port);
    snprintf(ca, sizeof ca, "%s/ca.pem", g_dir);
    /* grpcio over TLS, verifying the stub's certificate for "localhost". */
    char *cargv[] = {TH_PYTHON, (char *)th_path("tests/servers/grpc_tls_client.py"), port, ca,
                     "localhost", "Greet", NULL};
    char *out = NULL, *err = NULL;
    ASSERT_EQ_INT(th_run(cargv, NULL, &out, &err), 0);
    cJSON *j = cJSON_Parse(out);
    if (!j) th_fail(__FILE__, __LINE__, "client said: %s %s", out, err);
    ASSERT_TRUE(cJSON_IsTrue(cJSON_GetObjectItem(j, "success")));
    ASSERT_EQ_STR(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "data"), "hello")->valuestring, "grpcio");
    cJSON_Delete(j);
    free(out);
    free(err);
    /* maestro run over grpcs:// against it. */
    char wf_text[1024];
    snprintf(wf_text, sizeof wf_text,
             "name: tostub\n"
             "services:\n"
             "  s: {type: grpc, endpoint: \"grpcs://localhost:%d\", tls: {ca_file: %s}}\n"
             "steps:\n"
             "  - {id: g, service: s, method: Greet, input: {who: maestro}, output: r}\n"
             "output: {r: \"{{ .r }}\"}\n",
             stub.port, ca);
    char *wf = th_write_temp(wf_text, strlen(wf_text), ".yaml");
    char *rargv[] = {"maestro", "run", wf, NULL};
    int code = th_maestro(rargv, NULL, &out, &err);
    if (code != 0) printf("stderr: %s\n", err);
    ASSERT_EQ_INT(code, 0);
    ASSERT_CONTAINS(out, "\"hello\":\"maestro\"");
    ASSERT_FALSE(strstr(err, "insecure_skip_verify"));
    free(out);
    free(err);
    /* Without the CA but with insecure_skip_verify: it connects, and says so in the log. */
    snprintf(wf_text, sizeof wf_text,
             "name: tostub\n"
             "services:\n"
             "  s: {type: grpc, endpoint: \"grpcs://127.0.0.1:%d\", tls: {insecure_skip_verify: true}}\n"
             "steps:\n"
             "  - {id: g, service: s, method: Greet, input: {who: anyone}, output: r}\n"
             "output: {r: \"{{ .r }}\"}\n",
             stub.port);
    char *wf2 = th_write_temp(wf_text, strlen(wf_text), ".yaml");
    char *iargv[] = {"maestro", "run", wf2, NULL};
    code = th_maestro(iargv, NULL, &out, &err);
    ASSERT_EQ_INT(code, 0);
    ASSERT_CONTAINS(out, "\"hello\":\"anyone\"");
    ASSERT_CONTAINS(err, "service s: tls.insecure_skip_verify: the server's certificate is not checked");
    free(out);
    free(err);
    unlink(wf2);
    free(wf2);
    /* A TLS client without ALPN h2 gets no session: the openssl CLI offering http/1.1. */
    char connect[64];
    snprintf(connect, sizeof connect, "127.0.0.1:%d", stub.port);
    char *oargv[] = {"openssl", "s_client", "-connect", connect, "-alpn", "http/1.1",
                     "-CAfile", ca, NULL};
    th_run(oargv, "", &out, &err);
    ASSERT_CONTAINS(err, "no application protocol");
    free(out);
    free(err);
    th_stop(&stub);
    unlink(wf);
    free(wf);
    unlink(file);
    free(file);
    free(y);
    cleanup();
}

TEST(stub_with_an_unusable_certificate_says_why) {
    certs();
    char *y = stub_yaml("server.pem", "client.key");  /* a key that does not match */
    char *file = th_write_temp(y, strlen(y), ".yaml");
    char *argv[] = {"maestro", "stub", file, NULL};
    char *out = NULL, *err = NULL;
    int code = th_maestro(argv, NULL, &out, &err);
    ASSERT_NE_INT(code, 0);
    ASSERT_CONTAINS(err, "service 'secure': cannot load tls.key_file");
    ASSERT_CONTAINS(err, "key values mismatch");
    free(out);
    free(err);
    unlink(file);
    free(file);
    free(y);
    /* tls on an http service, or half of it: refused when the file is read. */
    const char *bad =
        "services:\n"
        "  web: {type: http, listen: 127.0.0.1:0, tls: {cert_file: a.pem, key_file: a.key}, routes: {}}\n"
        "  half: {type: grpc, listen: 127.0.0.1:0, tls: {cert_file: a.pem}, methods: {}}\n";
    file = th_write_temp(bad, strlen(bad), ".yaml");
    char *bargv[] = {"maestro", "stub", file, NULL};
    code = th_maestro(bargv, NULL, &out, &err);
    ASSERT_NE_INT(code, 0);
    ASSERT_CONTAINS(err, "'tls' is supported on grpc services only");
    ASSERT_CONTAINS(err, "tls: both 'cert_file' and 'key_file' are required");
    free(out);
    free(err);
    unlink(file);
    free(file);
    cleanup();
}
