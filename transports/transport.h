/* The call interface between the engine and a transport (HTTP, gRPC, or a scripted one in
 * tests). The engine knows nothing of HTTP or gRPC; a transport knows nothing of workflows: it
 * gets its own copy of a service's settings (mae_svc_cfg) and a call target its type compiled
 * when the workflow was loaded (target.h), and keeps nothing that points into a workflow.
 *
 * Contract:
 * - start() either fails synchronously (returns < 0, no callback ever) or returns 0 and then
 *   calls cb exactly once, never from inside start() or cancel(): always from a later loop
 *   iteration.
 * - cancel() is a request: the callback still comes, exactly once, with MAE_CLASS_CANCELLED
 *   (or with the real result if it raced in first). The call handle stays valid until the
 *   callback returns and is freed by the transport after it.
 * - The request is only borrowed for the duration of start(): the transport copies what it
 *   needs (serialises the input) before returning.
 * - Results carry an output the callback takes ownership of. */
#ifndef MAE_TRANSPORT_H
#define MAE_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "transports/target.h"

/* Failure classes (docs/failure-semantics.md#failure-classes). */
typedef enum {
    MAE_CLASS_NONE = 0,   /* success */
    MAE_CLASS_CONNECT,    /* refused, reset, DNS */
    MAE_CLASS_TIMEOUT,
    MAE_CLASS_HTTP_4XX,
    MAE_CLASS_HTTP_5XX,
    MAE_CLASS_GRPC,       /* status holds the gRPC code */
    MAE_CLASS_APP_ERROR,  /* envelope success=false */
    MAE_CLASS_CIRCUIT_OPEN,
    MAE_CLASS_TEMPLATE,
    MAE_CLASS_DECODE,
    MAE_CLASS_CANCELLED,
    MAE_CLASS_INTERNAL,   /* Maestro itself failed (out of memory): never retried */
} mae_class;

/* gRPC status codes (for MAE_CLASS_GRPC). */
typedef enum {
    MAE_GRPC_OK = 0, MAE_GRPC_CANCELLED, MAE_GRPC_UNKNOWN, MAE_GRPC_INVALID_ARGUMENT,
    MAE_GRPC_DEADLINE_EXCEEDED, MAE_GRPC_NOT_FOUND, MAE_GRPC_ALREADY_EXISTS,
    MAE_GRPC_PERMISSION_DENIED, MAE_GRPC_RESOURCE_EXHAUSTED, MAE_GRPC_FAILED_PRECONDITION,
    MAE_GRPC_ABORTED, MAE_GRPC_OUT_OF_RANGE, MAE_GRPC_UNIMPLEMENTED, MAE_GRPC_INTERNAL,
    MAE_GRPC_UNAVAILABLE, MAE_GRPC_DATA_LOSS, MAE_GRPC_UNAUTHENTICATED
} mae_grpc_code;

const char *mae__grpc_code_name(int code);     /* "UNAVAILABLE"; "UNKNOWN" when out of range */
int mae__grpc_code_from_name(const char *name); /* -1 when not a code name */
/* "connect", "timeout", "http_4xx", "http_5xx", "grpc:UNAVAILABLE", "app_error", ... */
void mae__class_format(mae_class cls, int status, char *buf, size_t len);
/* The class with its status for a person: "http_5xx (HTTP 503)", "grpc:UNAVAILABLE". */
void mae__class_describe(mae_class cls, int status, char *buf, size_t len);
/* The default retryable failures (connect, timeout, 408/429, 500/502/503/504, the
 * transient gRPC codes; docs/failure-semantics.md#retries-and-backoff). */
bool mae__class_default_retryable(mae_class cls, int status);
/* A retry.on entry: a class name ("connect", "http_5xx", "grpc:UNAVAILABLE") or one status
 * ("http:503"). valid: the entry names something; matches: a failure is what it names. */
bool mae__class_entry_valid(const char *entry);
bool mae__class_entry_matches(const char *entry, mae_class cls, int status);

typedef struct mae_header_kv {
    const char *name, *value;
} mae_header_kv;

/* TLS settings of a service (file names are copied by whoever keeps them). */
typedef struct mae_svc_tls {
    const char *ca_file, *cert_file, *key_file;
    const char *server_name;       /* grpc: verified name and SNI instead of the host */
    bool insecure_skip_verify;     /* tests only */
    bool enabled;                  /* grpc: `tls:` was given (grpcs:// also turns TLS on) */
} mae_svc_tls;

/* What a transport knows of a service: copied settings, nothing of the workflow. Transports key
 * their pools on these values (never on the struct's address). */
typedef struct mae_svc_cfg {
    const char *type;              /* the service `type`: "http", "grpc" */
    const char *name;
    const char *endpoint;          /* as the type's check_endpoint accepts it */
    uint64_t timeout_ms;           /* per attempt, when the request gives none */
    int pool_connections;          /* <= 0: the transport's default (5) */
    uint64_t max_response;         /* bytes; 0: the type's default */
    mae_svc_tls tls;
    const char *compression;       /* grpc: requests compressed with "gzip" or "deflate"; NULL =
                                      none (replies are accepted compressed either way) */
    uint64_t keepalive_ms;         /* grpc: PING a connection silent this long; 0 = never */
    uint64_t keepalive_timeout_ms; /* grpc: no ACK (or any frame) within this: connection dead */
    /* gRPC: the service's descriptors (grpc_h2/grpc_typed.h) when its calls are typed, NULL for
     * the envelope. Borrowed for start(); the transport takes its own reference. */
    struct mae__typed_desc *typed;
} mae_svc_cfg;

typedef struct mae_call_req {
    const mae_svc_cfg *service;
    const mae_target *target;      /* compiled by this transport's type (target.h) */
    const mae_scope *scope;        /* what the target is rendered in (an HTTP path); may be NULL
                                      for a target without templates (a probe) */
    const cJSON *input;            /* rendered input, may be NULL */
    uint64_t timeout_ms;           /* attempt deadline from now (already min'd with the run's) */
    const char *run_id;
    const char *step_id;           /* "ID" or "ID.compensate" */
    const char *idempotency_key;   /* "<run>:<step>" or "<run>:<step>:compensate" */
    const char *traceparent;       /* W3C, may be NULL */
    const mae_header_kv *headers;  /* rendered service headers (validated: no CR/LF/NUL) */
    size_t n_headers;
    bool compensation;
    /* The caller cancels the call itself once timeout_ms has passed (the engine's attempt timer):
     * the transport still honours the deadline on the wire (gRPC: grpc-timeout, and no queued
     * call is sent past it) but keeps no timer of its own for it. false: the transport times
     * the call out (MAE_CLASS_TIMEOUT). A transport may ignore it and time out anyway. */
    bool caller_deadline;
} mae_call_req;

typedef struct mae_call_result {
    mae_class cls;                 /* MAE_CLASS_NONE on success */
    int status;                    /* HTTP status or gRPC code; 0 when none */
    cJSON *output;                 /* success: the output (callback owns it); may be NULL = null */
    const char *message;           /* failure: the service's words or ours; valid during cb */
    const cJSON *details;          /* failure: what the service detailed (gRPC: the decoded
                                      google.rpc.Status details, an array); NULL = none; valid
                                      during cb */
    int64_t retry_after_ms;        /* Retry-After / grpc-retry-pushback-ms; -1 = none */
    bool sent;                     /* the request may have reached the service */
    bool not_an_attempt;           /* refused before processing (GOAWAY above last-stream-id,
                                      REFUSED_STREAM): retry without counting an attempt */
    bool no_retry;                 /* the service asked not to be retried (a negative or
                                      malformed grpc-retry-pushback-ms): a failure ends the call */
} mae_call_result;

typedef struct mae_call mae_call;  /* opaque, owned by the transport */
typedef void (*mae_call_cb)(mae_call_result *res, void *ud);

typedef struct mae_transport mae_transport;
typedef struct mae_transport_vtbl {
    const char *name;
    int (*start)(mae_transport *t, const mae_call_req *req, mae_call_cb cb, void *ud,
                 mae_call **out);
    void (*cancel)(mae_transport *t, mae_call *call);
    /* Cancels everything, closes every handle; done(ud) runs once all are closed. */
    void (*close)(mae_transport *t, void (*done)(void *ud), void *ud);
} mae_transport_vtbl;

struct mae_transport {
    const mae_transport_vtbl *vt;
    void *data;
};

static inline int mae_transport_start(mae_transport *t, const mae_call_req *r, mae_call_cb cb,
                                      void *ud, mae_call **out) {
    return t->vt->start(t, r, cb, ud, out);
}
static inline void mae_transport_cancel(mae_transport *t, mae_call *c) { t->vt->cancel(t, c); }

#endif
