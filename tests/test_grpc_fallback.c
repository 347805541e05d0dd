/* Address fallback of the gRPC client and the stub's listen addresses (issue #17, defect 6):
 * a name that resolves to ::1 then 127.0.0.1 with only IPv4 listening must still connect (each
 * address is tried in turn, families alternating), and `maestro stub` listens on IPv6 literals
 * ("[::1]:PORT") and names ("localhost:PORT"), reached by curl and by Maestro's own client. */
#include <arpa/inet.h>
#include <netdb.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "grpc_h2/grpc_client_int.h"
#include "grpc_h2/grpc_transport.h"
#include "harness.h"
#include "target_fx.h"
#include "maestro/maestro.h"

static uv_loop_t loop;
static int closed_called;
static void on_closed(void *ud) { closed_called++; }

typedef struct got {
    int called;
    mae_class cls;
    char msg[256];
    char *out;
} got;

static void on_result(mae_call_result *r, void *ud) {
    got *g = ud;
    g->called++;
    g->cls = r->cls;
    snprintf(g->msg, sizeof g->msg, "%s", r->message ? r->message : "");
    g->out = r->output ? cJSON_PrintUnformatted(r->output) : NULL;
    cJSON_Delete(r->output);
}

static void call(mae_transport *t, const mae_svc_cfg *svc, const char *method, got *g) {
    mae_call_req req = {.service = svc, .target = FX_GRPC_TARGET(method), .timeout_ms = 5000,
                        .run_id = "r", .step_id = "s"};
    mae_call *c;
    memset(g, 0, sizeof *g);
    ASSERT_EQ_INT(mae_transport_start(t, &req, on_result, g, &c), 0);
    while (!g->called) uv_run(&loop, UV_RUN_ONCE);
    ASSERT_EQ_INT(g->called, 1);
}

static void close_transport(mae_transport *t) {
    closed_called = 0;
    t->vt->close(t, on_closed, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(closed_called, 1);
    ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}

static th_proc grpcio_on_ipv4(void) {
    th_proc srv;
    char *argv[] = {TH_PYTHON, (char *)th_path("tests/servers/grpc_envelope.py"), NULL};
    ASSERT_EQ_INT(th_spawn(&srv, argv, 30), 0);
    return srv;
}

static void v6(struct sockaddr_in6 *a, int port) { ASSERT_EQ_INT(uv_ip6_addr("::1", port, a), 0); }
static void v4(struct sockaddr_in *a, int port) { ASSERT_EQ_INT(uv_ip4_addr("127.0.0.1", port, a), 0); }

/* What a resolver gives for `localhost` on hosts listing ::1 first, handed to the connector:
 * ::1 refuses (grpcio listens on 127.0.0.1 only), the call still succeeds on 127.0.0.1. */
TEST(fallback_refused_ipv6_then_ipv4_grpcio) {
    th_proc srv = grpcio_on_ipv4();
    ASSERT_EQ_INT(uv_loop_init(&loop), 0);
    mae_transport *t;
    ASSERT_EQ_INT(mae_grpc_transport_new(&loop, &t), 0);
    char ep[64];
    snprintf(ep, sizeof ep, "localhost:%d", srv.port);
    mae_svc_cfg svc = {.name = "f", .type = "grpc", .endpoint = ep, .timeout_ms = 5000,
                       .pool_connections = 1};
    mae__gpool *p;
    ASSERT_EQ_INT(mae__pool_get(t->data, &svc, &p), 0);
    struct sockaddr_in6 a6, b6;
    struct sockaddr_in a4;
    v6(&a6, srv.port);
    v6(&b6, srv.port);
    v4(&a4, srv.port);
    /* Two IPv6 addresses first: families alternate, so 127.0.0.1 is the second one tried. */
    const struct sockaddr *addrs[] = {(struct sockaddr *)&a6, (struct sockaddr *)&b6,
                                      (struct sockaddr *)&a4};
    ASSERT_EQ_INT(mae__conn_open_addrs(p, addrs, 3), 0);
    got g;
    call(t, &svc, "Echo", &g);
    if (g.cls != MAE_CLASS_NONE) printf("  %s\n", g.msg);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    ASSERT_CONTAINS(g.out, "\"method\":\"Echo\"");
    free(g.out);
    mae_grpc_stats st;
    mae__grpc_transport_stats(t, &st);
    ASSERT_EQ_INT(st.connections, 1);  /* the one connection, on its second address */
    close_transport(t);
    th_stop(&srv);
}

TEST(fallback_every_address_refused_is_connect) {
    /* A port nothing listens on, on either family. */
    uv_loop_t tmp;
    uv_tcp_t probe;
    ASSERT_EQ_INT(uv_loop_init(&tmp), 0);
    uv_tcp_init(&tmp, &probe);
    struct sockaddr_in a4;
    v4(&a4, 0);
    ASSERT_EQ_INT(uv_tcp_bind(&probe, (struct sockaddr *)&a4, 0), 0);
    struct sockaddr_storage ss;
    int len = sizeof ss;
    uv_tcp_getsockname(&probe, (struct sockaddr *)&ss, &len);
    int port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    uv_close((uv_handle_t *)&probe, NULL);
    uv_run(&tmp, UV_RUN_DEFAULT);
    uv_loop_close(&tmp);

    ASSERT_EQ_INT(uv_loop_init(&loop), 0);
    mae_transport *t;
    ASSERT_EQ_INT(mae_grpc_transport_new(&loop, &t), 0);
    char ep[64];
    snprintf(ep, sizeof ep, "localhost:%d", port);
    mae_svc_cfg svc = {.name = "f", .type = "grpc", .endpoint = ep, .timeout_ms = 5000,
                       .pool_connections = 1};
    mae__gpool *p;
    ASSERT_EQ_INT(mae__pool_get(t->data, &svc, &p), 0);
    struct sockaddr_in6 a6;
    v6(&a6, port);
    v4(&a4, port);
    const struct sockaddr *addrs[] = {(struct sockaddr *)&a6, (struct sockaddr *)&a4};
    ASSERT_EQ_INT(mae__conn_open_addrs(p, addrs, 2), 0);
    got g;
    call(t, &svc, "Echo", &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_CONNECT);
    ASSERT_CONTAINS(g.msg, "connection refused");
    ASSERT_CONTAINS(g.msg, "each of its 2 addresses failed: [::1]:");
    ASSERT_CONTAINS(g.msg, ", 127.0.0.1:");
    close_transport(t);
}

/* Through the resolver: `localhost:PORT` with grpcio on 127.0.0.1 only. On a host whose
 * /etc/hosts lists ::1 first this is the case of the issue; elsewhere it still checks names. */
TEST(fallback_localhost_name_reaches_ipv4_grpcio) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    if (getaddrinfo("localhost", "1", &hints, &res) == 0) {
        printf("  localhost resolves to %s first\n", res->ai_family == AF_INET6 ? "::1" : "127.0.0.1");
        freeaddrinfo(res);
    }
    th_proc srv = grpcio_on_ipv4();
    ASSERT_EQ_INT(uv_loop_init(&loop), 0);
    mae_transport *t;
    ASSERT_EQ_INT(mae_grpc_transport_new(&loop, &t), 0);
    char ep[64];
    snprintf(ep, sizeof ep, "localhost:%d", srv.port);
    mae_svc_cfg svc = {.name = "f", .type = "grpc", .endpoint = ep, .timeout_ms = 5000,
                       .pool_connections = 1};
    got g;
    call(t, &svc, "Echo", &g);
    if (g.cls != MAE_CLASS_NONE) printf("  %s\n", g.msg);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    free(g.out);
    close_transport(t);
    th_stop(&srv);
}

static th_proc start_stub(const char *web_listen, const char *rpc_listen, int *rpc_port) {
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "services:\n"
             "  web:\n"
             "    type: http\n"
             "    listen: \"%s\"\n"
             "    routes:\n"
             "      \"GET /hi\": {respond: {hello: \"{{ .n }}\"}}\n"
             "  rpc:\n"
             "    type: grpc\n"
             "    listen: \"%s\"\n"
             "    methods:\n"
             "      Hi: {respond: {ok: true}}\n",
             web_listen, rpc_listen);
    char *file = th_write_temp(yaml, strlen(yaml), ".yaml");
    const char *bin = getenv("MAESTRO_BIN");
    char *argv[] = {(char *)(bin ? bin : th_path("bin/maestro")), "stub", file, NULL};
    th_proc p;
    ASSERT_EQ_INT(th_spawn(&p, argv, 20), 0);
    unlink(file);
    free(file);
    char line[128];
    *rpc_port = 0;
    while (!*rpc_port && fgets(line, sizeof line, p.out)) sscanf(line, "PORT %d rpc", rpc_port);
    ASSERT_CMP_INT(*rpc_port, >, 0);
    return p;
}

static void stub_answers_curl_and_grpc(const char *web_listen, const char *rpc_listen,
                                       const char *url_host, const char *rpc_host) {
    int rpc_port;
    th_proc stub = start_stub(web_listen, rpc_listen, &rpc_port);
    char url[128];
    snprintf(url, sizeof url, "http://%s:%d/hi", url_host, stub.port);
    char *argv[] = {"curl", "-sg", "--max-time", "5", url, NULL};
    char *out = NULL;
    ASSERT_EQ_INT(th_run(argv, NULL, &out, NULL), 0);
    ASSERT_EQ_STR(out, "{\"hello\":1}");
    free(out);

    ASSERT_EQ_INT(uv_loop_init(&loop), 0);
    mae_transport *t;
    ASSERT_EQ_INT(mae_grpc_transport_new(&loop, &t), 0);
    char ep[64];
    snprintf(ep, sizeof ep, "%s:%d", rpc_host, rpc_port);
    mae_svc_cfg svc = {.name = "f", .type = "grpc", .endpoint = ep, .timeout_ms = 5000,
                       .pool_connections = 1};
    got g;
    call(t, &svc, "Hi", &g);
    if (g.cls != MAE_CLASS_NONE) printf("  %s\n", g.msg);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    ASSERT_EQ_STR(g.out, "{\"ok\":true}");
    free(g.out);
    close_transport(t);
    th_stop(&stub);
}

TEST(stub_listens_on_ipv6_literal) {
    stub_answers_curl_and_grpc("[::1]:0", "[::1]:0", "[::1]", "[::1]");
}

TEST(stub_listens_on_a_name) {
    stub_answers_curl_and_grpc("localhost:0", "localhost:0", "localhost", "localhost");
}
