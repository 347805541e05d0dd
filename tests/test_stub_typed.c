/* `maestro stub` with typed gRPC methods (a stub service with `descriptors:`): a descriptor set
 * generated at test time from tests/js/protos by grpc_tools.protoc, typed calls checked by a
 * real grpcio client with generated code (tests/servers/grpc_typed_call.py), server reflection
 * answered by the stub and fetched with Maestro's reflection client (v1) and over a raw v1alpha
 * stream, and stub files whose methods do not match the descriptors. */
#include <unistd.h>
#include <uv.h>

#include "grpc_h2/grpc_reflect.h"
#include "grpc_h2/grpc_stream.h"
#include "grpc_h2/grpc_transport.h"
#include "harness.h"
#include "maestro/maestro.h"
#include "maestro/internal/reflection.pb-c.h"

/* A fresh folder holding deploy.protoset and the stub file (its descriptors path is relative). */
static char *make_dir(void) {
    char tmpl[] = "/tmp/maestro-stub-typed-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(tmpl));
    char out[600];
    snprintf(out, sizeof out, "--descriptor_set_out=%s/deploy.protoset", tmpl);
    char inc[600];
    snprintf(inc, sizeof inc, "-I%s", th_path("tests/js/protos"));
    char *argv[] = {TH_PYTHON, "-m", "grpc_tools.protoc", inc, "--include_imports", out,
                    "acme/deploy/v1/deploy.proto", NULL};
    char *o = NULL, *e = NULL;
    int rc = th_run(argv, NULL, &o, &e);
    if (rc != 0) th_fail(__FILE__, __LINE__, "protoc: %s", e ? e : "");
    free(o);
    free(e);
    return strdup(tmpl);
}

static char *write_stub(const char *dir, const char *yaml) {
    char path[700];
    snprintf(path, sizeof path, "%s/stubs.yaml", dir);
    FILE *f = fopen(path, "w");
    ASSERT_NOT_NULL(f);
    fputs(yaml, f);
    fclose(f);
    return strdup(path);
}

static const char *stub_yaml =
    "services:\n"
    "  cloud:\n"
    "    type: grpc\n"
    "    listen: 127.0.0.1:0\n"
    "    descriptors: deploy.protoset\n"
    "    methods:\n"
    "      CreateInstance:\n"
    "        respond: {id: \"i-{{ .request.image }}\", image: \"{{ .request.image }}\",\n"
    "                  diskGb: \"{{ .request.diskGb }}\", ip: 10.1.2.3, zone: ZONE_EU,\n"
    "                  memoryBytes: \"{{ .request.memoryBytes }}\",\n"
    "                  created: \"2024-01-02T03:04:05.500Z\"}\n"
    "      acme.deploy.v1.Provisioner/DestroyInstance:\n"
    "        fail: {status: NOT_FOUND, message: no such instance}\n"
    "      ListInstances:\n"
    "        respond: [{id: a, zone: 1}, {id: b, diskGb: \"{{ .request.count }}\"}, {}]\n";

static th_proc start_stub(const char *dir, const char *yaml, char **log) {
    char *file = write_stub(dir, yaml);
    *log = th_write_temp("", 0, ".jsonl");
    const char *bin = getenv("MAESTRO_BIN");
    char *argv[] = {(char *)(bin ? bin : th_path("bin/maestro")), "stub", file, "--log", *log, NULL};
    th_proc p;
    ASSERT_EQ_INT(th_spawn(&p, argv, 20), 0);
    ASSERT_CMP_INT(p.port, >, 0);
    free(file);
    return p;
}

static char *typed_call(int port, const char *method, const char *json) {
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    char *argv[] = {TH_PYTHON, (char *)th_path("tests/servers/grpc_typed_call.py"), ps,
                    (char *)method, (char *)json, NULL};
    char *out = NULL, *err = NULL;
    int rc = th_run(argv, NULL, &out, &err);
    if (rc != 0) th_fail(__FILE__, __LINE__, "client exit %d: %s", rc, err ? err : "");
    free(err);
    size_t n = strlen(out);
    while (n && out[n - 1] == '\n') out[--n] = 0;
    return out;
}

TEST_T(stub_typed_call_checked_by_grpcio, 120) {
    char *dir = make_dir(), *log;
    th_proc p = start_stub(dir, stub_yaml, &log);
    char *r = typed_call(p.port, "CreateInstance",
                         "{\"image\": \"ubuntu\", \"disk_gb\": 20, \"memory_bytes\": \"9007199254740993\","
                         " \"tags\": [{\"key\": \"team\", \"value\": \"infra\"}]}");
    /* protobuf's own decoder read the stub's bytes: every field, in its own JSON form. */
    ASSERT_EQ_STR(r, "{\"created\": \"2024-01-02T03:04:05.500Z\", \"disk_gb\": 20, \"id\": "
                     "\"i-ubuntu\", \"image\": \"ubuntu\", \"ip\": \"10.1.2.3\", \"memory_bytes\": "
                     "\"9007199254740993\", \"zone\": \"ZONE_EU\"}");
    free(r);
    r = typed_call(p.port, "DestroyInstance", "{\"id\": \"i-1\"}");
    ASSERT_EQ_STR(r, "ERROR NOT_FOUND no such instance");
    free(r);
    /* Server-streaming: one message per element of respond. */
    r = typed_call(p.port, "ListInstances", "{\"count\": 7}");
    ASSERT_CONTAINS(r, "\"id\": \"a\"");
    ASSERT_CONTAINS(r, "\"zone\": \"ZONE_EU\"");
    ASSERT_CONTAINS(r, "\"disk_gb\": 7, \"id\": \"b\"");
    ASSERT_EQ_INT(r[0], '[');
    int n = 0;
    for (const char *q = r; (q = strstr(q, "\"ip\"")); q++) n++;
    ASSERT_EQ_INT(n, 3);
    free(r);
    th_stop(&p);
    /* The log shows the request as the templates saw it (decoded per the JSON mapping). */
    char *l = th_read_file(log, NULL);
    ASSERT_CONTAINS(l, "\"method\":\"CreateInstance\"");
    ASSERT_CONTAINS(l, "\"memoryBytes\":\"9007199254740993\"");
    ASSERT_CONTAINS(l, "\"tags\":[{\"key\":\"team\",\"value\":\"infra\"}]");
    free(l);
    free(log);
    free(dir);
}

/* ---- Reflection from the stub ---- */

static uv_loop_t g_loop;
static int closed_called;
static void on_closed(void *ud) { closed_called++; }

typedef struct fetched {
    int called, rc;
    mae__pb_pool *pool;
    char err[400];
} fetched;

static void on_fetched(int rc, mae__pb_pool *pool, const char *err, void *ud) {
    fetched *f = ud;
    f->called++;
    f->rc = rc;
    f->pool = pool;
    snprintf(f->err, sizeof f->err, "%s", err ? err : "");
}

TEST_T(stub_answers_reflection_v1, 120) {
    char *dir = make_dir(), *log;
    th_proc p = start_stub(dir, stub_yaml, &log);
    ASSERT_EQ_INT(uv_loop_init(&g_loop), 0);
    mae_transport *t;
    ASSERT_EQ_INT(mae_grpc_transport_new(&g_loop, &t), 0);
    char ep[64];
    snprintf(ep, sizeof ep, "127.0.0.1:%d", p.port);
    mae_svc_cfg svc = {.name = "cloud", .type = "grpc", .endpoint = ep, .timeout_ms = 10000};
    fetched f = {0};
    mae__reflect *r;
    ASSERT_EQ_INT(mae__grpc_reflect_fetch(t, &svc, 0, on_fetched, &f, &r), 0);
    while (!f.called) uv_run(&g_loop, UV_RUN_ONCE);
    ASSERT_EQ_STR(f.err, "");
    ASSERT_EQ_INT(f.rc, 0);
    const mae__pb_method *ms[16];
    size_t n = mae__pb_pool_methods(f.pool, ms, 16);
    ASSERT_EQ_INT(n, 4);  /* every method of the descriptors, not only the stubbed ones */
    ASSERT_EQ_STR(ms[0]->path, "/acme.deploy.v1.Provisioner/CreateInstance");
    ASSERT_EQ_STR(ms[2]->path, "/acme.deploy.v1.Provisioner/ListInstances");
    ASSERT_TRUE(ms[2]->server_streaming);
    ASSERT_EQ_STR(mae__pb_msg_name(ms[0]->output), "acme.deploy.v1.Instance");
    ASSERT_NOT_NULL(mae__pb_pool_message(f.pool, "acme.common.v1.Tag"));
    ASSERT_NOT_NULL(mae__pb_pool_message(f.pool, "google.protobuf.Timestamp"));
    mae__pb_pool_free(f.pool);
    t->vt->close(t, on_closed, NULL);
    uv_run(&g_loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(closed_called, 1);
    ASSERT_EQ_INT(uv_loop_close(&g_loop), 0);
    th_stop(&p);
    free(log);
    free(dir);
}

/* v1alpha by hand: list_services, a file by name, an unknown symbol, on one stream. */
typedef struct alpha {
    mae_call *s;
    int n;
    char seen[3][200];
    int end_called;
    mae_class cls;
} alpha;

static int alpha_msg(void *ud, const uint8_t *msg, size_t len) {
    alpha *a = ud;
    Mae__Pb__ReflectionResponse *r = mae__pb__reflection_response__unpack(NULL, len, msg);
    if (!r || a->n >= 3) return MAE_EDECODE;
    char *o = a->seen[a->n++];
    switch (r->message_response_case) {
    case MAE__PB__REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE:
        snprintf(o, 200, "services %zu %s", r->list_services_response->n_service,
                 r->list_services_response->n_service ? r->list_services_response->service[0]->name
                                                      : "");
        break;
    case MAE__PB__REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE:
        snprintf(o, 200, "files %zu", r->file_descriptor_response->n_file_descriptor_proto);
        break;
    case MAE__PB__REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE:
        snprintf(o, 200, "error %d %s", r->error_response->error_code,
                 r->error_response->error_message);
        break;
    default: snprintf(o, 200, "?");
    }
    mae__pb__reflection_response__free_unpacked(r, NULL);
    return 0;
}

static void alpha_end(mae_call_result *res, void *ud) {
    alpha *a = ud;
    a->end_called++;
    a->cls = res->cls;
}

static void alpha_send(alpha *a, int which, const char *name) {
    Mae__Pb__ReflectionRequest r = MAE__PB__REFLECTION_REQUEST__INIT;
    r.message_request_case = which;
    r.file_by_filename = (char *)name;
    uint8_t buf[256];
    size_t n = mae__pb__reflection_request__pack(&r, buf);
    ASSERT_EQ_INT(mae__grpc_stream_send(a->s, buf, n), 0);
}

TEST_T(stub_answers_reflection_v1alpha, 120) {
    char *dir = make_dir(), *log;
    th_proc p = start_stub(dir, stub_yaml, &log);
    ASSERT_EQ_INT(uv_loop_init(&g_loop), 0);
    mae_transport *t;
    ASSERT_EQ_INT(mae_grpc_transport_new(&g_loop, &t), 0);
    char ep[64];
    snprintf(ep, sizeof ep, "127.0.0.1:%d", p.port);
    mae_svc_cfg svc = {.name = "cloud", .type = "grpc", .endpoint = ep, .timeout_ms = 10000};
    alpha a = {0};
    ASSERT_EQ_INT(mae__grpc_stream_open(t, &svc,
                                        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                                        0, alpha_msg, alpha_end, &a, &a.s), 0);
    alpha_send(&a, MAE__PB__REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES, "*");
    /* deploy.proto with both files it imports */
    alpha_send(&a, MAE__PB__REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME,
               "acme/deploy/v1/deploy.proto");
    alpha_send(&a, MAE__PB__REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL,
               "acme.Nope");
    ASSERT_EQ_INT(mae__grpc_stream_half_close(a.s), 0);
    while (!a.end_called) uv_run(&g_loop, UV_RUN_ONCE);
    ASSERT_EQ_INT(a.cls, MAE_CLASS_NONE);
    ASSERT_EQ_INT(a.n, 3);
    ASSERT_EQ_STR(a.seen[0], "services 1 acme.deploy.v1.Provisioner");
    ASSERT_EQ_STR(a.seen[1], "files 3");
    ASSERT_EQ_STR(a.seen[2], "error 5 symbol not found: acme.Nope");
    t->vt->close(t, on_closed, NULL);
    uv_run(&g_loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(uv_loop_close(&g_loop), 0);
    th_stop(&p);
    free(log);
    free(dir);
}

/* A real client (grpcio) conversing one message at a time, on both versions. */
TEST_T(stub_reflection_checked_by_grpcio, 120) {
    char *dir = make_dir(), *log;
    th_proc p = start_stub(dir, stub_yaml, &log);
    char ps[16];
    snprintf(ps, sizeof ps, "%d", p.port);
    const char *versions[] = {"v1", "v1alpha"};
    for (int i = 0; i < 2; i++) {
        char *argv[] = {TH_PYTHON, (char *)th_path("tests/servers/grpc_reflect_client.py"), ps,
                        (char *)versions[i], NULL};
        char *out = NULL, *err = NULL;
        int rc = th_run(argv, NULL, &out, &err);
        if (rc != 0) th_fail(__FILE__, __LINE__, "client exit %d: %s", rc, err ? err : "");
        ASSERT_EQ_STR(out,
                      "services acme.deploy.v1.Provisioner\n"
                      "files acme/deploy/v1/deploy.proto google/protobuf/timestamp.proto "
                      "acme/common/v1/types.proto\n"
                      "files acme/deploy/v1/deploy.proto google/protobuf/timestamp.proto "
                      "acme/common/v1/types.proto\n"
                      "files acme/common/v1/types.proto\n"
                      "error 5 file not found: nope.proto\n"
                      "end OK\n");
        free(out);
        free(err);
    }
    th_stop(&p);
    free(log);
    free(dir);
}

/* ---- Stub files that do not fit their descriptors ---- */

static void bad_stub(const char *dir, const char *yaml, const char *want) {
    char *file = write_stub(dir, yaml);
    char *argv[] = {"maestro", "stub", file, NULL};
    char *out = NULL, *err = NULL;
    int rc = th_maestro(argv, NULL, &out, &err);
    ASSERT_EQ_INT(rc, 2);
    ASSERT_CONTAINS(err, want);
    free(out);
    free(err);
    free(file);
}

TEST_T(stub_typed_methods_checked_at_start, 120) {
    char *dir = make_dir();
    bad_stub(dir,
             "services:\n  cloud:\n    type: grpc\n    listen: 127.0.0.1:0\n"
             "    descriptors: deploy.protoset\n    methods:\n      CreateInstanse: {}\n",
             "service 'cloud': method 'CreateInstanse': no method CreateInstanse; did you mean "
             "CreateInstance?");
    bad_stub(dir,
             "services:\n  cloud:\n    type: grpc\n    listen: 127.0.0.1:0\n"
             "    descriptors: nothere.protoset\n    methods:\n      CreateInstance: {}\n",
             "nothere.protoset");
    bad_stub(dir,
             "services:\n  cloud:\n    type: grpc\n    listen: 127.0.0.1:0\n"
             "    descriptors: deploy.protoset\n    methods:\n"
             "      acme.deploy.v1.Provisioner/Watch: {}\n",
             "is bidirectional-streaming");
    bad_stub(dir,
             "services:\n  cloud:\n    type: grpc\n    listen: 127.0.0.1:0\n"
             "    descriptors: deploy.protoset\n    methods:\n"
             "      CreateInstance: {fail: {app_error: true}}\n",
             "app_error");
    /* --check reads the descriptor set too. */
    char *file = write_stub(dir, "services:\n  cloud:\n    type: grpc\n    listen: 127.0.0.1:0\n"
                            "    descriptors: deploy.protoset\n    methods:\n      Nope: {}\n");
    char *argv[] = {"maestro", "stub", file, "--check", NULL};
    char *out = NULL, *err = NULL;
    ASSERT_EQ_INT(th_maestro(argv, NULL, &out, &err), 2);
    ASSERT_CONTAINS(err, "service 'cloud': method 'Nope': no method Nope");
    free(out);
    free(err);
    free(write_stub(dir, stub_yaml));
    ASSERT_EQ_INT(th_maestro(argv, NULL, &out, &err), 0);
    ASSERT_CONTAINS(err, ": ok");
    free(out);
    free(err);
    free(file);
    /* A stub file that is not a descriptor set at all. */
    char path[700];
    snprintf(path, sizeof path, "%s/junk.protoset", dir);
    FILE *f = fopen(path, "w");
    fputs("this is not protobuf\xff\xff", f);
    fclose(f);
    bad_stub(dir,
             "services:\n  cloud:\n    type: grpc\n    listen: 127.0.0.1:0\n"
             "    descriptors: junk.protoset\n    methods:\n      CreateInstance: {}\n",
             "junk.protoset");
    free(dir);
}
