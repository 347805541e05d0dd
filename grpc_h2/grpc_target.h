/* gRPC call targets (see transports/target.h): a method name ("CreateUser"), sent in the
 * envelope's `method` field. Pure: compiled by the loader, read by the gRPC transport. */
#ifndef MAE_GRPC_TARGET_H
#define MAE_GRPC_TARGET_H

#include "transports/target.h"

extern const mae_target_type mae__grpc_target_type;

/* The method name of a gRPC target; NULL when t is not one. */
const char *mae__grpc_target_method(const mae_target *t);
/* "pkg.Service/Method" or "/pkg.Service/Method": a typed method's full name (needs descriptors). */
bool mae__grpc_method_is_full(const char *s);

#endif
