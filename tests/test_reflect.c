/* Server reflection (grpc_reflect.h) against real servers: @grpc/grpc-js with @grpc/reflection
 * and grpc-health-check from npm (tests/servers/grpc_node_reflect.js: v1 and v1alpha, v1alpha
 * only, none), a closed port, cancellation, and a grpcio server answering reflection with
 * hostile or incomplete data (tests/servers/grpc_reflect_fake.py). Every test closes the
 * transport and asserts uv_loop_close() == 0. */
#include <uv.h>

#include "grpc_h2/grpc_reflect.h"
#include "grpc_h2/grpc_transport.h"
#include "harness.h"
#include "maestro/maestro.h"

static uv_loop_t g_loop;
static int closed_called;
static void on_closed(void *ud) { closed_called++; }

static mae_transport *setup(void) {
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
}

static void start_node(th_proc *p, const char *reflection) {
    char *argv[] = {"node", (char *)th_path("tests/servers/grpc_node_reflect.js"),
                    "--reflection", (char *)reflection, NULL};
    ASSERT_EQ_INT(th_spawn(p, argv, 60), 0);
}

static void start_fake(th_proc *p, const char *mode) {
    char *argv[] = {TH_PYTHON, (char *)th_path("tests/servers/grpc_reflect_fake.py"), "--mode",
                    (char *)mode, NULL};
    ASSERT_EQ_INT(th_spawn(p, argv, 60), 0);
}

static mae_svc_cfg svc_for(int port) {
    static char ep[64];
    snprintf(ep, sizeof ep, "127.0.0.1:%d", port);
    return (mae_svc_cfg){.name = "cloud", .type = "grpc", .endpoint = ep, .timeout_ms = 10000};
}

typedef struct got {
    int called, rc;
    mae__pb_pool *pool;
    char err[512];
} got;

/* Stops the loop so the caller's uv_run(UV_RUN_ONCE) returns: libuv 1.44 runs timers that are
 * due at the start of an iteration, before its poll, and the result comes from the transport's
 * delivery timer. After a cancel made outside the loop, that timer is already due when uv_run
 * is entered: the callback ran, and without the stop the poll then waited for I/O a silent
 * server never sends (reflect_cancel_calls_back_once hung in about one run of four). */
static void on_fetched(int rc, mae__pb_pool *pool, const char *err, void *ud) {
    got *g = ud;
    g->called++;
    g->rc = rc;
    g->pool = pool;
    snprintf(g->err, sizeof g->err, "%s", err ? err : "");
    uv_stop(&g_loop);
}

static void fetch(mae_transport *t, const mae_svc_cfg *svc, uint64_t timeout, got *g) {
    memset(g, 0, sizeof *g);
    mae__reflect *r;
    ASSERT_EQ_INT(mae__grpc_reflect_fetch(t, svc, timeout, on_fetched, g, &r), 0);
    ASSERT_EQ_INT(g->called, 0);  /* never from inside */
    while (!g->called) uv_run(&g_loop, UV_RUN_ONCE);
    ASSERT_EQ_INT(g->called, 1);
}

static const mae__pb_method *method(const mae__pb_pool *p, const char *name) {
    char err[256];
    const mae__pb_method *m = mae__pb_pool_method(p, name, err, sizeof err);
    if (!m) th_fail(__FILE__, __LINE__, "method %s: %s", name, err);
    return m;
}

/* What the grpc-js server describes, checked through the pool the fetch built. */
static void check_provisioner(const mae__pb_pool *p) {
    const mae__pb_method *m = method(p, "CreateInstance");
    ASSERT_EQ_STR(m->path, "/acme.deploy.v1.Provisioner/CreateInstance");
    ASSERT_EQ_STR(mae__pb_msg_name(m->input), "acme.deploy.v1.CreateInstanceRequest");
    ASSERT_EQ_STR(mae__pb_msg_name(m->output), "acme.deploy.v1.Instance");
    ASSERT_FALSE(m->client_streaming || m->server_streaming);
    m = method(p, "acme.deploy.v1.Provisioner/ListInstances");
    ASSERT_TRUE(m->server_streaming);
    ASSERT_FALSE(m->client_streaming);
    m = method(p, "acme.deploy.v1.Provisioner/Watch");
    ASSERT_TRUE(m->server_streaming && m->client_streaming);
    /* Health is served and described too. */
    m = method(p, "grpc.health.v1.Health/Check");
    ASSERT_EQ_STR(mae__pb_msg_name(m->input), "grpc.health.v1.HealthCheckRequest");
    /* No reflection method is offered to workflows. */
    char err[256];
    ASSERT_NULL(mae__pb_pool_method(p, "ServerReflectionInfo", err, sizeof err));
    /* The imported file came as a dependency: its types resolve, with fields. */
    const mae__pb_msg *req = method(p, "CreateInstance")->input;
    char hint[64], ty[128];
    const mae__pb_field *f = mae__pb_msg_field(req, "tags", hint, sizeof hint);
    ASSERT_NOT_NULL(f);
    mae__pb_field_type_name(f, ty, sizeof ty);
    ASSERT_CONTAINS(ty, "acme.common.v1.Tag");
    ASSERT_NOT_NULL(mae__pb_field_message(f));
    ASSERT_NOT_NULL(mae__pb_msg_field(mae__pb_field_message(f), "key", hint, sizeof hint));
    f = mae__pb_msg_field(req, "disk_gb", hint, sizeof hint);
    ASSERT_NOT_NULL(f);
    mae__pb_field_type_name(f, ty, sizeof ty);
    ASSERT_EQ_STR(ty, "int32");
    ASSERT_NULL(mae__pb_msg_field(req, "disk_gbb", hint, sizeof hint));
    ASSERT_NOT_NULL(mae__pb_pool_message(p, "google.protobuf.Timestamp"));
    ASSERT_NOT_NULL(mae__pb_pool_message(p, "acme.common.v1.Tag"));
}

TEST_T(reflect_v1_from_grpc_js, 120) {
    th_proc srv;
    start_node(&srv, "v1");
    mae_transport *t = setup();
    mae_svc_cfg svc = svc_for(srv.port);
    got g;
    fetch(t, &svc, 0, &g);
    ASSERT_EQ_STR(g.err, "");
    ASSERT_EQ_INT(g.rc, 0);
    ASSERT_NOT_NULL(g.pool);
    check_provisioner(g.pool);
    mae__pb_pool_free(g.pool);
    finish(t);
    th_stop(&srv);
}

TEST_T(reflect_falls_back_to_v1alpha, 120) {
    th_proc srv;
    start_node(&srv, "v1alpha");
    mae_transport *t = setup();
    mae_svc_cfg svc = svc_for(srv.port);
    got g;
    fetch(t, &svc, 0, &g);
    ASSERT_EQ_STR(g.err, "");
    ASSERT_EQ_INT(g.rc, 0);
    check_provisioner(g.pool);
    mae__pb_pool_free(g.pool);
    /* A second fetch on the same transport (and connection) works the same. */
    fetch(t, &svc, 0, &g);
    ASSERT_EQ_INT(g.rc, 0);
    mae__pb_pool_free(g.pool);
    finish(t);
    th_stop(&srv);
}

TEST_T(reflect_server_without_reflection_is_a_clear_error, 120) {
    th_proc srv;
    start_node(&srv, "none");
    mae_transport *t = setup();
    mae_svc_cfg svc = svc_for(srv.port);
    got g;
    fetch(t, &svc, 0, &g);
    ASSERT_EQ_INT(g.rc, MAE_EINVAL);
    ASSERT_NULL(g.pool);
    char want[160];
    snprintf(want, sizeof want, "%s: server reflection not available (UNIMPLEMENTED on v1 and "
             "v1alpha)", svc.endpoint);
    ASSERT_EQ_STR(g.err, want);
    finish(t);
    th_stop(&srv);
}

TEST(reflect_connection_refused) {
    /* A port nobody listens on: bind one, close it. */
    uv_loop_t l;
    uv_loop_init(&l);
    uv_tcp_t s;
    uv_tcp_init(&l, &s);
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    ASSERT_EQ_INT(uv_tcp_bind(&s, (const struct sockaddr *)&a, 0), 0);
    int len = sizeof a;
    uv_tcp_getsockname(&s, (struct sockaddr *)&a, &len);
    uv_close((uv_handle_t *)&s, NULL);
    uv_run(&l, UV_RUN_DEFAULT);
    uv_loop_close(&l);
    mae_transport *t = setup();
    mae_svc_cfg svc = svc_for(ntohs(a.sin_port));
    got g;
    fetch(t, &svc, 0, &g);
    ASSERT_EQ_INT(g.rc, MAE_ECONNREFUSED);
    ASSERT_CONTAINS(g.err, svc.endpoint);
    ASSERT_CONTAINS(g.err, "refused");
    finish(t);
}

TEST_T(reflect_cancel_calls_back_once, 120) {
    th_proc srv;
    start_fake(&srv, "silent");
    mae_transport *t = setup();
    mae_svc_cfg svc = svc_for(srv.port);
    got g = {0};
    mae__reflect *r;
    ASSERT_EQ_INT(mae__grpc_reflect_fetch(t, &svc, 0, on_fetched, &g, &r), 0);
    for (int i = 0; i < 5; i++) uv_run(&g_loop, UV_RUN_NOWAIT);
    mae__grpc_reflect_cancel(r);
    ASSERT_EQ_INT(g.called, 0);
    while (!g.called) uv_run(&g_loop, UV_RUN_ONCE);
    ASSERT_EQ_INT(g.rc, MAE_ECANCELED);
    finish(t);
    ASSERT_EQ_INT(g.called, 1);
    th_stop(&srv);
}

/* The fake server's modes and what each must give. */
static void hostile(const char *mode, uint64_t timeout, int want_rc, const char *want_err) {
    th_proc srv;
    start_fake(&srv, mode);
    mae_transport *t = setup();
    mae_svc_cfg svc = svc_for(srv.port);
    got g;
    fetch(t, &svc, timeout, &g);
    if (g.rc != want_rc) th_fail(__FILE__, __LINE__, "%s: rc %d (%s), want %d", mode, g.rc, g.err,
                                 want_rc);
    ASSERT_NULL(g.pool);
    ASSERT_CONTAINS(g.err, want_err);
    ASSERT_CONTAINS(g.err, svc.endpoint);
    finish(t);
    th_stop(&srv);
}

TEST_T(reflect_hostile_garbage, 120) { hostile("garbage", 0, MAE_EDECODE, "undecodable"); }
TEST_T(reflect_hostile_missing_dependency, 120) {
    hostile("missing-dep", 0, MAE_EINVAL, "has no file acme/gone.proto");
}
TEST_T(reflect_hostile_unasked_answers, 120) {
    hostile("flood", 0, MAE_EPROTO, "a service list where descriptors of acme.Svc were due");
}
TEST_T(reflect_hostile_not_a_descriptor, 120) {
    hostile("bad-descriptor", 0, MAE_EDECODE, "unusable descriptor");
}
TEST_T(reflect_hostile_too_many_services, 120) {
    hostile("many-services", 0, MAE_EPROTO, "services");
}
TEST_T(reflect_hostile_silent_server_times_out, 120) {
    hostile("silent", 400, MAE_ETIMEDOUT, "in time");
}
TEST_T(reflect_hostile_answer_after_the_last, 120) {
    hostile("double", 0, MAE_EPROTO, "nobody asked for");
}
TEST_T(reflect_hostile_ends_early, 120) {
    hostile("end-early", 0, MAE_EPROTO, "before answering");
}
