/* Names of failure classes and gRPC codes: the one table both directions read. */
#include <stdio.h>
#include <string.h>

#include "transports/transport.h"

static const char *const grpc_names[] = {
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
    "UNAUTHENTICATED",
};

const char *mae_grpc_code_name(int code) {
    if (code < 0 || code >= (int)(sizeof grpc_names / sizeof *grpc_names)) return "UNKNOWN";
    return grpc_names[code];
}

int mae_grpc_code_from_name(const char *name) {
    for (size_t i = 0; i < sizeof grpc_names / sizeof *grpc_names; i++)
        if (strcmp(grpc_names[i], name) == 0) return (int)i;
    return -1;
}

void mae_class_format(mae_class cls, int status, char *buf, size_t len) {
    switch (cls) {
    case MAE_CLASS_NONE: snprintf(buf, len, "ok"); break;
    case MAE_CLASS_CONNECT: snprintf(buf, len, "connect"); break;
    case MAE_CLASS_TIMEOUT: snprintf(buf, len, "timeout"); break;
    case MAE_CLASS_HTTP_4XX: snprintf(buf, len, "http_4xx"); break;
    case MAE_CLASS_HTTP_5XX: snprintf(buf, len, "http_5xx"); break;
    case MAE_CLASS_GRPC: snprintf(buf, len, "grpc:%s", mae_grpc_code_name(status)); break;
    case MAE_CLASS_APP_ERROR: snprintf(buf, len, "app_error"); break;
    case MAE_CLASS_CIRCUIT_OPEN: snprintf(buf, len, "circuit_open"); break;
    case MAE_CLASS_TEMPLATE: snprintf(buf, len, "template"); break;
    case MAE_CLASS_DECODE: snprintf(buf, len, "decode"); break;
    case MAE_CLASS_CANCELLED: snprintf(buf, len, "cancelled"); break;
    case MAE_CLASS_INTERNAL: snprintf(buf, len, "internal"); break;
    }
}
