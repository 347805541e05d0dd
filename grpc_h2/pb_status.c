/* google.rpc.Status, as carried by grpc-status-details-bin, decoded to JSON with its details.
 * The google.rpc error-detail types are described here as static const descriptions (the same
 * structs a pool builds, with no pool behind them), so no descriptor bytes are parsed and no
 * mutable state exists; other detail types are looked up in the caller's pool. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc_h2/pb_int.h"
#include "maestro/maestro.h"

/* Output bound of one decoded status (the header it came in is bounded far below this). */
#define STATUS_MAX_OUT (1u << 20)

static const uint32_t BY1[] = {0}, BY2[] = {0, 1}, BY3[] = {0, 1, 2}, BY4[] = {0, 1, 2, 3};

#define FLD(own, nm, jn, num, ty, ...)                                                   \
    {.name = nm, .json_name = jn, .owner = &own, .number = num, .type = ty, .oneof = -1, \
     __VA_ARGS__}
#define MSG(var, full, flds, by, ...) \
    static const mae__pb_msg var = {.full_name = full, .fields = flds, .by_number = by, \
                                    .nfields = sizeof flds / sizeof *flds, __VA_ARGS__}

static const mae__pb_msg ANY, DURATION, STATUS, ERROR_INFO, META_ENTRY, RETRY_INFO, DEBUG_INFO,
    QUOTA_FAILURE, QUOTA_VIOLATION, PRECOND_FAILURE, PRECOND_VIOLATION, BAD_REQUEST,
    FIELD_VIOLATION, REQUEST_INFO, RESOURCE_INFO, HELP, HELP_LINK, LOCALIZED_MESSAGE;

static const mae__pb_field any_f[] = {
    FLD(ANY, "type_url", "typeUrl", 1, PB_STRING),
    FLD(ANY, "value", "value", 2, PB_BYTES),
};
MSG(ANY, "google.protobuf.Any", any_f, BY2, .wkt = PB_WKT_ANY);

static const mae__pb_field duration_f[] = {
    FLD(DURATION, "seconds", "seconds", 1, PB_INT64),
    FLD(DURATION, "nanos", "nanos", 2, PB_INT32),
};
MSG(DURATION, "google.protobuf.Duration", duration_f, BY2, .wkt = PB_WKT_DURATION);

static const mae__pb_field status_f[] = {
    FLD(STATUS, "code", "code", 1, PB_INT32),
    FLD(STATUS, "message", "message", 2, PB_STRING),
    FLD(STATUS, "details", "details", 3, PB_MESSAGE, .msg = &ANY, .repeated = true),
};
MSG(STATUS, "google.rpc.Status", status_f, BY3);

static const mae__pb_field meta_entry_f[] = {
    FLD(META_ENTRY, "key", "key", 1, PB_STRING),
    FLD(META_ENTRY, "value", "value", 2, PB_STRING),
};
MSG(META_ENTRY, "google.rpc.ErrorInfo.MetadataEntry", meta_entry_f, BY2, .map_entry = true);

static const mae__pb_field error_info_f[] = {
    FLD(ERROR_INFO, "reason", "reason", 1, PB_STRING),
    FLD(ERROR_INFO, "domain", "domain", 2, PB_STRING),
    FLD(ERROR_INFO, "metadata", "metadata", 3, PB_MESSAGE, .msg = &META_ENTRY, .repeated = true,
        .map = true),
};
MSG(ERROR_INFO, "google.rpc.ErrorInfo", error_info_f, BY3);

static const mae__pb_field retry_info_f[] = {
    FLD(RETRY_INFO, "retry_delay", "retryDelay", 1, PB_MESSAGE, .msg = &DURATION, .presence = true),
};
MSG(RETRY_INFO, "google.rpc.RetryInfo", retry_info_f, BY1);

static const mae__pb_field debug_info_f[] = {
    FLD(DEBUG_INFO, "stack_entries", "stackEntries", 1, PB_STRING, .repeated = true),
    FLD(DEBUG_INFO, "detail", "detail", 2, PB_STRING),
};
MSG(DEBUG_INFO, "google.rpc.DebugInfo", debug_info_f, BY2);

static const mae__pb_field quota_violation_f[] = {
    FLD(QUOTA_VIOLATION, "subject", "subject", 1, PB_STRING),
    FLD(QUOTA_VIOLATION, "description", "description", 2, PB_STRING),
};
MSG(QUOTA_VIOLATION, "google.rpc.QuotaFailure.Violation", quota_violation_f, BY2);
static const mae__pb_field quota_failure_f[] = {
    FLD(QUOTA_FAILURE, "violations", "violations", 1, PB_MESSAGE, .msg = &QUOTA_VIOLATION,
        .repeated = true),
};
MSG(QUOTA_FAILURE, "google.rpc.QuotaFailure", quota_failure_f, BY1);

static const mae__pb_field precond_violation_f[] = {
    FLD(PRECOND_VIOLATION, "type", "type", 1, PB_STRING),
    FLD(PRECOND_VIOLATION, "subject", "subject", 2, PB_STRING),
    FLD(PRECOND_VIOLATION, "description", "description", 3, PB_STRING),
};
MSG(PRECOND_VIOLATION, "google.rpc.PreconditionFailure.Violation", precond_violation_f, BY3);
static const mae__pb_field precond_failure_f[] = {
    FLD(PRECOND_FAILURE, "violations", "violations", 1, PB_MESSAGE, .msg = &PRECOND_VIOLATION,
        .repeated = true),
};
MSG(PRECOND_FAILURE, "google.rpc.PreconditionFailure", precond_failure_f, BY1);

static const mae__pb_field field_violation_f[] = {
    FLD(FIELD_VIOLATION, "field", "field", 1, PB_STRING),
    FLD(FIELD_VIOLATION, "description", "description", 2, PB_STRING),
};
MSG(FIELD_VIOLATION, "google.rpc.BadRequest.FieldViolation", field_violation_f, BY2);
static const mae__pb_field bad_request_f[] = {
    FLD(BAD_REQUEST, "field_violations", "fieldViolations", 1, PB_MESSAGE,
        .msg = &FIELD_VIOLATION, .repeated = true),
};
MSG(BAD_REQUEST, "google.rpc.BadRequest", bad_request_f, BY1);

static const mae__pb_field request_info_f[] = {
    FLD(REQUEST_INFO, "request_id", "requestId", 1, PB_STRING),
    FLD(REQUEST_INFO, "serving_data", "servingData", 2, PB_STRING),
};
MSG(REQUEST_INFO, "google.rpc.RequestInfo", request_info_f, BY2);

static const mae__pb_field resource_info_f[] = {
    FLD(RESOURCE_INFO, "resource_type", "resourceType", 1, PB_STRING),
    FLD(RESOURCE_INFO, "resource_name", "resourceName", 2, PB_STRING),
    FLD(RESOURCE_INFO, "owner", "owner", 3, PB_STRING),
    FLD(RESOURCE_INFO, "description", "description", 4, PB_STRING),
};
MSG(RESOURCE_INFO, "google.rpc.ResourceInfo", resource_info_f, BY4);

static const mae__pb_field help_link_f[] = {
    FLD(HELP_LINK, "description", "description", 1, PB_STRING),
    FLD(HELP_LINK, "url", "url", 2, PB_STRING),
};
MSG(HELP_LINK, "google.rpc.Help.Link", help_link_f, BY2);
static const mae__pb_field help_f[] = {
    FLD(HELP, "links", "links", 1, PB_MESSAGE, .msg = &HELP_LINK, .repeated = true),
};
MSG(HELP, "google.rpc.Help", help_f, BY1);

static const mae__pb_field localized_message_f[] = {
    FLD(LOCALIZED_MESSAGE, "locale", "locale", 1, PB_STRING),
    FLD(LOCALIZED_MESSAGE, "message", "message", 2, PB_STRING),
};
MSG(LOCALIZED_MESSAGE, "google.rpc.LocalizedMessage", localized_message_f, BY2);

static const mae__pb_msg *const BUILTIN[] = {
    &ERROR_INFO, &RETRY_INFO, &DEBUG_INFO, &QUOTA_FAILURE, &PRECOND_FAILURE, &BAD_REQUEST,
    &REQUEST_INFO, &RESOURCE_INFO, &HELP, &LOCALIZED_MESSAGE, &DURATION,
};

/* The bytes of field `number` (length-delimited, the last occurrence) of a message, or NULL. */
static const uint8_t *sub(const uint8_t *p, size_t len, uint32_t number, size_t *out_len) {
    const uint8_t *r = NULL;
    pb_wire_field f;
    for (size_t off = 0, n; off < len && (n = mae__pb_get_field(p + off, len - off, &f));
         off += n) {
        if (f.number == number && f.wire_type == 2) {
            r = f.val;
            *out_len = f.vlen;
        }
    }
    return r;
}

/* RetryInfo.retry_delay among the details, straight from the wire: -1 when absent. */
static int64_t retry_delay(const uint8_t *buf, size_t len) {
    static const char suffix[] = "/google.rpc.RetryInfo";
    const size_t sl = sizeof suffix - 1;
    int64_t ms = -1;
    pb_wire_field w, t;
    for (size_t off = 0, n; off < len && (n = mae__pb_get_field(buf + off, len - off, &w));
         off += n) {
        if (w.number != 3 || w.wire_type != 2) continue;
        size_t ul = 0, vl = 0, dl = 0;
        const uint8_t *url = sub(w.val, w.vlen, 1, &ul);
        if (!url || ul < sl || memcmp(url + ul - sl, suffix, sl) != 0) continue;
        const uint8_t *val = sub(w.val, w.vlen, 2, &vl);
        const uint8_t *dur = val ? sub(val, vl, 1, &dl) : NULL;
        int64_t secs = 0, nanos = 0;
        for (size_t q = 0, k; dur && q < dl && (k = mae__pb_get_field(dur + q, dl - q, &t));
             q += k) {
            if (t.wire_type != 0) continue;
            if (t.number == 1) secs = (int64_t)t.u;
            if (t.number == 2) nanos = (int32_t)t.u;
        }
        /* A day at most: a server cannot park a call for ever. */
        if (secs < 0 || nanos < 0) secs = nanos = 0;
        if (secs > 86400) secs = 86400, nanos = 0;
        ms = secs * 1000 + nanos / 1000000;
    }
    return ms;
}

int mae__pb_status_decode(const mae__pb_pool *pool, const uint8_t *buf, size_t len, cJSON **out,
                          int64_t *retry_delay_ms) {
    *out = NULL;
    *retry_delay_ms = -1;
    pb_dec d = {.budget = STATUS_MAX_OUT, .pool = pool, .extra = BUILTIN,
                .nextra = sizeof BUILTIN / sizeof *BUILTIN};
    int rc = mae__pb_decode_msg(&d, &STATUS, buf, len, 1, out);
    if (rc == MAE_ELIMIT) rc = MAE_EDECODE;
    if (rc) return rc;
    *retry_delay_ms = retry_delay(buf, len);
    return 0;
}
