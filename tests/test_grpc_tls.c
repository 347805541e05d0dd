/* The gRPC client over TLS against real peers: grpcio servers with grpc.ssl_server_credentials
 * (server-only and mutual TLS), a python ssl server that selects no ALPN h2, and nginx with
 * grpc_pass in front of a grpcio server over TLS (TLS 1.3, and a listener offering only 1.2).
 * Certificates are made by the suite with the openssl CLI (tests/servers/tls_certs.sh). Each
 * failure case asserts its class and the reason OpenSSL gave; every test closes the transport
 * and asserts uv_loop_close() == 0. */
#include <fcntl.h>
#include <unistd.h>

#include <uv.h>

#include "grpc_h2/grpc_client_int.h"
#include "grpc_h2/grpc_transport.h"
#include "harness.h"
#include "maestro/maestro.h"
#include "target_fx.h"

typedef struct got {
    int called;
    mae_class cls;
    int status;
    char msg[1024];
    cJSON *out;
} got;

static uv_loop_t g_loop;
static char g_dir[64];
static int closed_called;

static void on_result(mae_call_result *r, void *ud) {
    got *g = ud;
    g->called++;
    g->cls = r->cls;
    g->status = r->status;
    snprintf(g->msg, sizeof g->msg, "%s", r->message ? r->message : "");
    g->out = r->output;
}

static void on_closed(void *ud) { closed_called++; }

/* The certificates, in a fresh directory; returns the path of one of them. */
static const char *cert(const char *name) {
    static char buf[8][160];
    static int slot;
    char *b = buf[slot++ % 8];
    snprintf(b, sizeof buf[0], "%s/%s", g_dir, name);
    return b;
}

static void make_certs(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/maestro-tls-XXXXXX");
    ASSERT_NOT_NULL(mkdtemp(g_dir));
    char *argv[] = {"sh", (char *)th_path("tests/servers/tls_certs.sh"), g_dir, NULL};
    char *out = NULL, *err = NULL;
    int rc = th_run(argv, NULL, &out, &err);
    if (rc != 0) th_fail(__FILE__, __LINE__, "tls_certs.sh: %s", err ? err : "");
    free(out);
    free(err);
}

static mae_transport *setup(void) {
    make_certs();
    ASSERT_EQ_INT(uv_loop_init(&g_loop), 0);
    mae_transport *t = NULL;
    ASSERT_EQ_INT(mae_grpc_transport_new(&g_loop, &t), 0);
    return t;
}

static void finish(mae_transport *t) {
    t->vt->close(t, on_closed, NULL);
    uv_run(&g_loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(closed_called, 1);
    ASSERT_EQ_INT(uv_loop_close(&g_loop), 0);
    char *argv[] = {"rm", "-rf", g_dir, NULL};
    th_run(argv, NULL, NULL, NULL);
}

/* grpc_tls.py with a certificate pair and optionally the CA it requires clients to present. */
static void start_grpc(th_proc *p, const char *crt, const char *key, const char *client_ca) {
    char *argv[10] = {TH_PYTHON, (char *)th_path("tests/servers/grpc_tls.py"), "--cert",
                      (char *)cert(crt), "--key", (char *)cert(key)};
    int n = 6;
    if (client_ca) {
        argv[n++] = "--client-ca";
        argv[n++] = (char *)cert(client_ca);
    }
    argv[n] = NULL;
    ASSERT_EQ_INT(th_spawn(p, argv, 30), 0);
}

static mae_svc_cfg svc_at(const char *scheme_host, int port) {
    static char ep[96];
    snprintf(ep, sizeof ep, "%s:%d", scheme_host, port);
    return (mae_svc_cfg){.name = "secure", .type = "grpc", .endpoint = ep, .timeout_ms = 10000,
                         .pool_connections = 2};
}

static void call1(mae_transport *t, const mae_svc_cfg *svc, const char *method, const char *input,
                  got *g) {
    cJSON *in = input ? cJSON_Parse(input) : NULL;
    mae_call_req req = {.service = svc, .target = FX_GRPC_TARGET(method), .input = in,
                        .timeout_ms = 10000, .run_id = "run-1", .step_id = "s",
                        .idempotency_key = "run-1:s"};
    mae_call *c = NULL;
    memset(g, 0, sizeof *g);
    ASSERT_EQ_INT(mae_transport_start(t, &req, on_result, g, &c), 0);
    cJSON_Delete(in);
    while (!g->called) uv_run(&g_loop, UV_RUN_ONCE);
    ASSERT_EQ_INT(g->called, 1);
}

static const char *out_str(const got *g, const char *key) {
    cJSON *v = cJSON_GetObjectItem(g->out, key);
    if (cJSON_IsArray(v)) v = cJSON_GetArrayItem(v, 0);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

TEST(grpc_tls_server_auth_by_ip_and_by_server_name) {
    mae_transport *t = setup();
    th_proc srv;
    start_grpc(&srv, "server.pem", "server.key", NULL);
    mae_svc_cfg svc = svc_at("grpcs://127.0.0.1", srv.port);
    svc.tls.ca_file = cert("ca.pem");
    got g;
    call1(t, &svc, "Echo", "{\"x\":1}", &g);
    if (g.cls != MAE_CLASS_NONE) th_fail(__FILE__, __LINE__, "call failed: %s", g.msg);
    /* grpcio saw a TLS connection and our :scheme and :authority. */
    ASSERT_EQ_STR(out_str(&g, "transport"), "ssl");
    ASSERT_EQ_STR(out_str(&g, "method"), "Echo");
    cJSON_Delete(g.out);
    /* `tls:` on a host:port endpoint turns TLS on too; the name checked is server_name. */
    mae_svc_cfg by_name = svc_at("127.0.0.1", srv.port);
    by_name.tls = (mae_svc_tls){.enabled = true, .ca_file = cert("ca.pem"), .server_name = "localhost"};
    call1(t, &by_name, "Echo", NULL, &g);
    if (g.cls != MAE_CLASS_NONE) th_fail(__FILE__, __LINE__, "call failed: %s", g.msg);
    ASSERT_EQ_STR(out_str(&g, "transport"), "ssl");
    cJSON_Delete(g.out);
    /* Two pools: the TLS settings are part of the key. */
    mae_grpc_stats st;
    mae__grpc_transport_stats(t, &st);
    ASSERT_EQ_INT(st.pools, 2);
    finish(t);
    th_stop(&srv);
}

TEST(grpc_tls_mutual_with_client_certificate) {
    mae_transport *t = setup();
    th_proc srv;
    start_grpc(&srv, "server.pem", "server.key", "ca.pem");
    mae_svc_cfg svc = svc_at("grpcs://localhost", srv.port);
    svc.tls = (mae_svc_tls){.ca_file = cert("ca.pem"), .cert_file = cert("client.pem"),
                            .key_file = cert("client.key")};
    got g;
    /* Many calls over one connection: records in both directions after the handshake. */
    for (int i = 0; i < 20; i++) {
        call1(t, &svc, "Big", "{\"size\":200000}", &g);
        if (g.cls != MAE_CLASS_NONE) th_fail(__FILE__, __LINE__, "call %d failed: %s", i, g.msg);
        ASSERT_EQ_INT(strlen(out_str(&g, "blob")), 200000);
        cJSON_Delete(g.out);
    }
    call1(t, &svc, "Echo", NULL, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    ASSERT_EQ_STR(out_str(&g, "client_cn"), "client");
    cJSON_Delete(g.out);
    finish(t);
    th_stop(&srv);
}

/* One call that must fail to connect, with OpenSSL's reason in the message. */
static void expect_connect_fail(mae_transport *t, const mae_svc_cfg *svc, const char *want) {
    got g;
    call1(t, svc, "Echo", NULL, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_CONNECT);
    ASSERT_CONTAINS(g.msg, want);
    ASSERT_NULL(g.out);
}

TEST(grpc_tls_wrong_ca_is_connect_with_verify_reason) {
    mae_transport *t = setup();
    th_proc srv;
    start_grpc(&srv, "server.pem", "server.key", NULL);
    mae_svc_cfg svc = svc_at("grpcs://127.0.0.1", srv.port);
    svc.tls.ca_file = cert("other-ca.pem");
    expect_connect_fail(t, &svc, "TLS handshake: certificate verify failed: unable to get local issuer certificate");
    /* The system CAs do not know the test CA either. */
    mae_svc_cfg sys = svc_at("grpcs://localhost", srv.port);
    expect_connect_fail(t, &sys, "certificate verify failed");
    /* insecure_skip_verify connects anyway (tests only). */
    mae_svc_cfg insecure = svc_at("grpcs://127.0.0.1", srv.port);
    insecure.tls = (mae_svc_tls){.ca_file = cert("other-ca.pem"), .insecure_skip_verify = true};
    got g;
    call1(t, &insecure, "Echo", NULL, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    cJSON_Delete(g.out);
    finish(t);
    th_stop(&srv);
}

TEST(grpc_tls_wrong_server_name_and_expired_certificate) {
    mae_transport *t = setup();
    th_proc srv, old;
    start_grpc(&srv, "server.pem", "server.key", NULL);
    mae_svc_cfg svc = svc_at("grpcs://127.0.0.1", srv.port);
    svc.tls = (mae_svc_tls){.ca_file = cert("ca.pem"), .server_name = "api.example.com"};
    expect_connect_fail(t, &svc, "certificate verify failed: hostname mismatch");
    start_grpc(&old, "expired.pem", "expired.key", NULL);
    mae_svc_cfg ex = svc_at("grpcs://localhost", old.port);
    ex.tls.ca_file = cert("ca.pem");
    expect_connect_fail(t, &ex, "certificate verify failed: certificate has expired");
    finish(t);
    th_stop(&srv);
    th_stop(&old);
}

TEST(grpc_tls_missing_client_certificate_is_refused) {
    mae_transport *t = setup();
    th_proc srv;
    start_grpc(&srv, "server.pem", "server.key", "ca.pem");
    mae_svc_cfg svc = svc_at("grpcs://127.0.0.1", srv.port);
    svc.tls.ca_file = cert("ca.pem");
    /* TLS 1.3: our side of the handshake completes first; then the server (BoringSSL) closes
     * the connection before its HTTP/2 SETTINGS. */
    got g;
    call1(t, &svc, "Echo", NULL, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_CONNECT);
    ASSERT_CONTAINS(g.msg, "connect to 127.0.0.1:");
    ASSERT_CONTAINS(g.msg, "closed the connection after the TLS handshake");
    ASSERT_CONTAINS(g.msg, "does it require a client certificate?");
    /* A client certificate the server's CA did not sign: refused the same way. */
    mae_svc_cfg other = svc;
    other.tls.cert_file = cert("other-ca.pem");
    other.tls.key_file = cert("other-ca.key");
    call1(t, &other, "Echo", NULL, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_CONNECT);
    ASSERT_CONTAINS(g.msg, "closed the connection after the TLS handshake");
    finish(t);
    th_stop(&srv);
}

TEST(grpc_tls_server_without_alpn_h2_is_refused) {
    mae_transport *t = setup();
    th_proc none, h1;
    char *a1[] = {TH_PYTHON, (char *)th_path("tests/servers/tls_no_alpn.py"),
                  (char *)cert("server.pem"), (char *)cert("server.key"), NULL};
    ASSERT_EQ_INT(th_spawn(&none, a1, 30), 0);
    char *a2[] = {TH_PYTHON, (char *)th_path("tests/servers/tls_no_alpn.py"),
                  (char *)cert("server.pem"), (char *)cert("server.key"), "http/1.1", NULL};
    ASSERT_EQ_INT(th_spawn(&h1, a2, 30), 0);
    mae_svc_cfg svc = svc_at("grpcs://127.0.0.1", none.port);
    svc.tls.ca_file = cert("ca.pem");
    expect_connect_fail(t, &svc, "the server did not select ALPN h2 (no ALPN)");
    /* A server that speaks only http/1.1: no protocol in common, refused as well. */
    mae_svc_cfg h1svc = svc_at("grpcs://127.0.0.1", h1.port);
    h1svc.tls.ca_file = cert("ca.pem");
    expect_connect_fail(t, &h1svc, "ALPN");
    finish(t);
    th_stop(&none);
    th_stop(&h1);
}

TEST(grpc_tls_unusable_files_fail_every_connect) {
    mae_transport *t = setup();
    mae_svc_cfg svc = svc_at("grpcs://127.0.0.1", 1);
    svc.tls.ca_file = "/nonexistent/ca.pem";
    expect_connect_fail(t, &svc, "cannot load tls.ca_file /nonexistent/ca.pem");
    mae_svc_cfg bad = svc_at("grpcs://127.0.0.1", 2);
    bad.tls = (mae_svc_tls){.ca_file = cert("ca.pem"), .cert_file = cert("client.pem"),
                            .key_file = cert("server.key")};
    expect_connect_fail(t, &bad, "cannot load tls.key_file");
    expect_connect_fail(t, &bad, "key values mismatch");
    finish(t);
}

/* Never accepted: the connection waits in the kernel's backlog, silent. */
static void on_conn_ignored(uv_stream_t *s, int status) {}

TEST(grpc_tls_handshake_bounded_by_connect_timeout) {
    /* A listener that accepts and never answers the ClientHello. */
    uv_loop_t *l = &g_loop;
    mae_transport *t = setup();
    uv_tcp_t srv;
    ASSERT_EQ_INT(uv_tcp_init(l, &srv), 0);
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    ASSERT_EQ_INT(uv_tcp_bind(&srv, (struct sockaddr *)&sa, 0), 0);
    ASSERT_EQ_INT(uv_listen((uv_stream_t *)&srv, 8, on_conn_ignored), 0);
    struct sockaddr_storage ss;
    int len = sizeof ss;
    uv_tcp_getsockname(&srv, (struct sockaddr *)&ss, &len);
    int port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    mae__grpc_transport_set_handshake_timeout(t, 300);
    mae_svc_cfg svc = svc_at("grpcs://127.0.0.1", port);
    svc.tls.ca_file = cert("ca.pem");
    uint64_t t0 = uv_now(l);
    expect_connect_fail(t, &svc, "TLS handshake not finished within 300 ms");
    ASSERT_CMP_INT(uv_now(l) - t0, <, 5000);
    uv_close((uv_handle_t *)&srv, NULL);
    finish(t);
}

TEST(grpc_tls_through_nginx_grpc_pass) {
    mae_transport *t = setup();
    th_proc back, ng;
    start_grpc(&back, "server.pem", "server.key", NULL);
    char port[16];
    snprintf(port, sizeof port, "%d", back.port);
    char *argv[] = {TH_PYTHON, (char *)th_path("tests/servers/nginx_grpc_tls.py"), g_dir, port, NULL};
    ASSERT_EQ_INT(th_spawn(&ng, argv, 30), 0);
    mae_svc_cfg svc = svc_at("grpcs://localhost", ng.port);
    svc.tls.ca_file = cert("ca.pem");
    got g;
    for (int i = 0; i < 5; i++) {
        call1(t, &svc, "Echo", "{\"via\":\"nginx\"}", &g);
        if (g.cls != MAE_CLASS_NONE) th_fail(__FILE__, __LINE__, "call failed: %s", g.msg);
        ASSERT_EQ_STR(out_str(&g, "transport"), "ssl");
        cJSON_Delete(g.out);
    }
    /* A status from the backend crosses the proxy intact. */
    call1(t, &svc, "Nope", NULL, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_GRPC);
    ASSERT_EQ_INT(g.status, MAE_GRPC_UNIMPLEMENTED);
    /* The same through a listener that offers TLS 1.2 only (AEAD suites, as HTTP/2 needs). */
    th_proc ng12;
    char *argv12[] = {TH_PYTHON, (char *)th_path("tests/servers/nginx_grpc_tls.py"), g_dir, port,
                      "tls12", NULL};
    ASSERT_EQ_INT(th_spawn(&ng12, argv12, 30), 0);
    mae_svc_cfg svc12 = svc_at("grpcs://localhost", ng12.port);
    svc12.tls.ca_file = cert("ca.pem");
    call1(t, &svc12, "Echo", NULL, &g);
    if (g.cls != MAE_CLASS_NONE) th_fail(__FILE__, __LINE__, "TLS 1.2 call failed: %s", g.msg);
    cJSON_Delete(g.out);
    th_stop(&ng);
    th_stop(&ng12);
    th_stop(&back);
    /* nginx logged every call as HTTP/2 over its TLS listener, with the version used. */
    size_t n;
    char *log = th_read_file(cert("nginx/access.log"), &n);
    ASSERT_NOT_NULL(log);
    ASSERT_CONTAINS(log, "HTTP/2.0 POST /maestro.v1.MaestroService/Execute 200 h2 TLSv1.3");
    free(log);
    log = th_read_file(cert("nginx-tls12/access.log"), &n);
    ASSERT_NOT_NULL(log);
    ASSERT_CONTAINS(log, "HTTP/2.0 POST /maestro.v1.MaestroService/Execute 200 h2 TLSv1.2");
    free(log);
    finish(t);
}

/* Many TLS connections opened and closed, one transport each, against `maestro stub` over TLS:
 * every one completes a call and everything is released (ASan here; run under valgrind with
 * MAESTRO_TLS_CONNS=1000, see bench/README.md). Also no file descriptor is left behind. */
TEST_T(grpc_tls_many_connections_opened_and_closed, 600) {
    make_certs();  /* this test makes its own transports */
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "services:\n"
             "  s:\n"
             "    type: grpc\n"
             "    listen: 127.0.0.1:0\n"
             "    tls: {cert_file: %s, key_file: %s}\n"
             "    methods: {Greet: {respond: {ok: true}}}\n",
             cert("server.pem"), cert("server.key"));
    char *file = th_write_temp(yaml, strlen(yaml), ".yaml");
    const char *bin = getenv("MAESTRO_BIN");
    char *argv[] = {(char *)(bin ? bin : th_path("bin/maestro")), "stub", file, NULL};
    th_proc stub;
    ASSERT_EQ_INT(th_spawn(&stub, argv, 20), 0);
    const char *env = getenv("MAESTRO_TLS_CONNS");
    int n = env ? atoi(env) : 50;
    int fds_before = 0, fds_after = 0;
    for (int i = 0; i < n; i++) {
        /* Counted after the first connection: one-time initialisations (resolver, RNG) may
         * keep a descriptor for the process's life. */
        if (i == 1)
            for (int fd = 0; fd < 1024; fd++) fds_before += fcntl(fd, F_GETFD) != -1;
        ASSERT_EQ_INT(uv_loop_init(&g_loop), 0);
        mae_transport *t = NULL;
        ASSERT_EQ_INT(mae_grpc_transport_new(&g_loop, &t), 0);
        mae_svc_cfg svc = svc_at("grpcs://localhost", stub.port);
        svc.tls.ca_file = cert("ca.pem");
        got g;
        call1(t, &svc, "Greet", NULL, &g);
        if (g.cls != MAE_CLASS_NONE) th_fail(__FILE__, __LINE__, "call %d: %s", i, g.msg);
        cJSON_Delete(g.out);
        closed_called = 0;
        t->vt->close(t, on_closed, NULL);
        uv_run(&g_loop, UV_RUN_DEFAULT);
        ASSERT_EQ_INT(closed_called, 1);
        ASSERT_EQ_INT(uv_loop_close(&g_loop), 0);
    }
    for (int fd = 0; fd < 1024; fd++) fds_after += fcntl(fd, F_GETFD) != -1;
    ASSERT_EQ_INT(fds_after, fds_before);
    th_stop(&stub);
    unlink(file);
    free(file);
    char *rm[] = {"rm", "-rf", g_dir, NULL};
    th_run(rm, NULL, NULL, NULL);
}
