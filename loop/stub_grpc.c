/* The stub's gRPC side: envelope methods served over h2c. Waits for the grpc_h2 server. */
#include "loop/stub_internal.h"
#include "maestro.h"

int mae__stub_grpc_start(mae_stub *s, mae_stub_http *hs) { return MAE_ENOTFOUND; }
int mae__stub_grpc_port(const mae_stub_http *hs) { return -1; }
void mae__stub_grpc_close(mae_stub_http *hs, void (*done)(void *), void *ud) { done(ud); }
