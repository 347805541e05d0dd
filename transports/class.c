/* Failure classes (docs/failure-semantics.md#failure-classes): their names and gRPC codes (the one
 * table both directions read), the default retryable list, and retry.on entries. The engine decides
 * retries through these functions and never looks at what a class means on the wire. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transports/transport.h"

static const char *const grpc_names[] = {
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
    "UNAUTHENTICATED",
};

const char *mae__grpc_code_name(int code) {
    if (code < 0 || code >= (int)(sizeof grpc_names / sizeof *grpc_names)) return "UNKNOWN";
    return grpc_names[code];
}

int mae__grpc_code_from_name(const char *name) {
    for (size_t i = 0; i < sizeof grpc_names / sizeof *grpc_names; i++)
        if (strcmp(grpc_names[i], name) == 0) return (int)i;
    return -1;
}

void mae__class_format(mae_class cls, int status, char *buf, size_t len) {
    switch (cls) {
    case MAE_CLASS_NONE: snprintf(buf, len, "ok"); break;
    case MAE_CLASS_CONNECT: snprintf(buf, len, "connect"); break;
    case MAE_CLASS_TIMEOUT: snprintf(buf, len, "timeout"); break;
    case MAE_CLASS_HTTP_4XX: snprintf(buf, len, "http_4xx"); break;
    case MAE_CLASS_HTTP_5XX: snprintf(buf, len, "http_5xx"); break;
    case MAE_CLASS_GRPC: snprintf(buf, len, "grpc:%s", mae__grpc_code_name(status)); break;
    case MAE_CLASS_APP_ERROR: snprintf(buf, len, "app_error"); break;
    case MAE_CLASS_CIRCUIT_OPEN: snprintf(buf, len, "circuit_open"); break;
    case MAE_CLASS_TEMPLATE: snprintf(buf, len, "template"); break;
    case MAE_CLASS_DECODE: snprintf(buf, len, "decode"); break;
    case MAE_CLASS_CANCELLED: snprintf(buf, len, "cancelled"); break;
    case MAE_CLASS_INTERNAL: snprintf(buf, len, "internal"); break;
    }
}

bool mae__class_default_retryable(mae_class cls, int status) {
    switch (cls) {
    case MAE_CLASS_CONNECT:
    case MAE_CLASS_TIMEOUT:
        return true;
    case MAE_CLASS_HTTP_4XX:
        return status == 408 || status == 429;
    case MAE_CLASS_HTTP_5XX:
        return status == 500 || status == 502 || status == 503 || status == 504;
    case MAE_CLASS_GRPC:
        return status == MAE_GRPC_UNAVAILABLE || status == MAE_GRPC_DEADLINE_EXCEEDED ||
               status == MAE_GRPC_RESOURCE_EXHAUSTED || status == MAE_GRPC_ABORTED;
    default:
        return false;
    }
}

/* retry.on names; "internal" is not one: our own failure is never retried */
static const char *const class_names[] = {"connect", "timeout", "http_4xx", "http_5xx", "app_error",
    "circuit_open", "template", "decode", "cancelled", NULL};

bool mae__class_entry_valid(const char *e) {
    for (size_t i = 0; class_names[i]; i++)
        if (strcmp(e, class_names[i]) == 0) return true;
    if (strncmp(e, "grpc:", 5) == 0) return mae__grpc_code_from_name(e + 5) >= 0;
    if (strncmp(e, "http:", 5) == 0) {
        const char *d = e + 5;
        for (int i = 0; i < 3; i++)
            if (d[i] < '0' || d[i] > '9') return false;
        int code = atoi(d);
        return d[3] == 0 && code >= 100 && code <= 599;
    }
    return false;
}

bool mae__class_entry_matches(const char *e, mae_class cls, int status) {
    if (strncmp(e, "http:", 5) == 0) {
        if (cls != MAE_CLASS_HTTP_4XX && cls != MAE_CLASS_HTTP_5XX) return false;
        char *end = NULL;
        long v = strtol(e + 5, &end, 10);
        return end && *end == 0 && v == status;
    }
    char name[64];
    mae__class_format(cls, status, name, sizeof name);
    return strcmp(e, name) == 0;
}

void mae__class_describe(mae_class cls, int status, char *buf, size_t len) {
    char name[64];
    mae__class_format(cls, status, name, sizeof name);
    if (status && (cls == MAE_CLASS_HTTP_4XX || cls == MAE_CLASS_HTTP_5XX))
        snprintf(buf, len, "%s (HTTP %d)", name, status);
    else
        snprintf(buf, len, "%s", name);
}
