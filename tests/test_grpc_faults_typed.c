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
