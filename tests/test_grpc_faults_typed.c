/* The gRPC fault tests (tests/test_grpc_faults.c) once more, every call to a typed method
 * (acme.fault.v1.Fault/M from a descriptor set built here with protoc-c): the statuses, retry
 * hints, GOAWAY, deadlines and queueing behave exactly as for envelope calls. The fault server's
 * reply is read as acme.fault.v1.FaultReply, which declares only `success`. */
#include <unistd.h>

#include "grpc_h2/grpc_typed.h"
#include "harness.h"

#define FAULT_TYPED 1
#define FAULT_OK_OUTPUT "{\"success\":true}"
#define FAULT_SVC_SETUP(svc) ((svc)->typed = fault_typed())

static mae__typed_desc *fault_desc;

static void fault_desc_free(void) { mae__typed_desc_unref(fault_desc); }

static mae__typed_desc *fault_typed(void) {
    if (fault_desc) return fault_desc;
    char dir[] = "/tmp/maestro-fault-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    char set[128], inc[4200];
    snprintf(set, sizeof set, "%s/fault.protoset", dir);
    snprintf(inc, sizeof inc, "-I%s", th_path("tests/servers/typed"));
    char *argv[] = {"protoc-c", inc, "-o", set, "--include_imports", "acme/fault/v1/fault.proto", NULL};
    char *out = NULL, *err = NULL;
    if (th_run(argv, NULL, &out, &err) != 0) th_fail(__FILE__, __LINE__, "protoc-c: %s", err);
    free(out);
    free(err);
    char why[512];
    if (mae__typed_desc_load(set, &fault_desc, why, sizeof why) != 0) th_fail(__FILE__, __LINE__, "%s", why);
    unlink(set);
    rmdir(dir);
    atexit(fault_desc_free);
    return fault_desc;
}

#include "test_grpc_faults.c"

/* A reply that does not fit the method's response type: class decode, saying where. */
TEST(typed_reply_of_the_wrong_type_is_a_decode_failure) {
    th_proc srv;
    mae_svc_cfg svc;
    char ep[64];
    mae_transport *t = setup(&srv, &svc, ep);
    mae_header_kv h[] = {{"x-fault", "ok"}};
    mae_call_req req = {.service = &svc, .target = FX_GRPC_TARGET("acme.fault.v1.FaultBad/Bad"), .timeout_ms = 5000,
                        .run_id = "r", .step_id = "s", .headers = h, .n_headers = 1};
    got g;
    memset(&g, 0, sizeof g);
    mae_call *c;
    ASSERT_EQ_INT(mae_transport_start(t, &req, on_result, &g, &c), 0);
    while (!g.called) uv_run(&loop, UV_RUN_ONCE);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_DECODE);
    ASSERT_CONTAINS(g.msg, "undecodable reply: ");
    ASSERT_CONTAINS(g.msg, "acme.fault.v1.Garbled: malformed protobuf");
    ASSERT_NULL(g.out);
    /* the connection is still good for the next call */
    call_fault(t, &svc, "ok", 5000, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    ASSERT_EQ_STR(g.out, FAULT_OK_OUTPUT);
    free(g.out);
    teardown(t, &srv);
}
