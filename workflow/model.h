/* The workflow model (docs/workflow-language.md): what a validated YAML file becomes. Every node
 * keeps its line and column. Everything lives in the workflow's arena and is freed by
 * mae_workflow_free. All defaults are resolved at load: a step's retry policy is complete, a
 * compensation's service is resolved, durations are milliseconds. The engine reads this; it never
 * parses. */
#ifndef MAE_MODEL_H
#define MAE_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "workflow/arena.h"
#include "workflow/diag.h"
#include "workflow/template.h"
#include "transports/target.h"

/* A foreach's defaults (docs/workflow-language.md#foreach): items in flight at once, and the
 * most items its array may have before the step fails with nothing started. */
#define MAE_FOREACH_CONCURRENCY 100
#define MAE_FOREACH_MAX_ITEMS 10000
/* max_items may be raised up to this */
#define MAE_FOREACH_MAX_ITEMS_LIMIT 10000000

/* The stub file's service kinds (workflow/stubfile.h). A workflow's service names its type by
 * the transport type table instead (transports/target.h). */
typedef enum { MAE_SVC_HTTP, MAE_SVC_GRPC } mae_svc_type;
typedef enum { MAE_BACKOFF_CONSTANT, MAE_BACKOFF_LINEAR, MAE_BACKOFF_EXPONENTIAL } mae_backoff;

typedef struct mae_retry_policy {
    int attempts;            /* total, including the first; default 3 (compensations: 5) */
    mae_backoff backoff;     /* default exponential */
    uint64_t initial_ms;     /* default 200 */
    uint64_t max_ms;         /* default 10000 */
    double multiplier;       /* default 2 */
    bool jitter;             /* full jitter (default true); false = none */
    const char **on;         /* retry.on: class names ("connect", "http_5xx", "grpc:UNAVAILABLE")
                                or one status ("http:503"); NULL = the default list of §4.1 */
    size_t n_on;
} mae_retry_policy;

typedef struct mae_breaker_cfg {
    int failures;            /* consecutive retryable failures that open it; default 5 */
    uint64_t open_for_ms;    /* default 30000 */
    int half_open_probes;    /* default 1 */
    const char *probe;       /* optional active probe as written, e.g. "GET /health" (checked at
                                load by the type's compile; the engine compiles its own copy) */
} mae_breaker_cfg;

typedef struct mae_tls_cfg {
    const char *ca_file, *cert_file, *key_file;
    const char *server_name;    /* grpc: the name verified and sent as SNI; NULL = the host */
    bool insecure_skip_verify;  /* tests only */
    bool set;                   /* a `tls:` mapping is present (grpc: TLS even without grpcs://) */
} mae_tls_cfg;

typedef struct mae_header_tmpl {
    const char *name;
    mae_tmpl *value;
    mae_pos pos;
} mae_header_tmpl;

typedef struct mae_service {
    const char *name;
    mae_pos pos;
    const mae_target_type *type;  /* from the const table of transports/target.h: never freed */
    const char *endpoint;     /* grpc: host:port; http: http(s)://host[:port][/base]. May be
                                 replaced before a run (--set) with a string the caller owns. */
    uint64_t timeout_ms;      /* per attempt; default 30000 */
    mae_retry_policy retry;
    mae_breaker_cfg breaker;
    int pool_connections;     /* default 5 */
    int max_in_flight;        /* 0 = unlimited */
    mae_header_tmpl *headers;
    size_t n_headers;
    uint64_t max_response;    /* bytes; http default 16 MiB, grpc default 4 MiB per message */
    mae_tls_cfg tls;
    const char *compression;  /* grpc: "gzip" or "deflate" for requests; NULL = none */
    uint64_t keepalive_ms;    /* grpc keepalive.time; 0 = no keepalive PINGs */
    uint64_t keepalive_timeout_ms;  /* grpc keepalive.timeout; default 20000 */
    /* grpc `descriptors:` (docs/typed-grpc.md): NULL = the envelope. */
    const char *descriptors;  /* as written: "reflection" or a FileDescriptorSet path */
    bool reflection;          /* fetched by the engine when a run starts */
    struct mae__typed_desc *typed;  /* the descriptor set, loaded and linked at load: a
                                       reference, dropped by mae_workflow_free */
} mae_service;

typedef struct mae_compensate {
    mae_pos pos;
    const mae_service *service;  /* default: the step's */
    const char *method;          /* as written */
    const mae_target *target;    /* method compiled by the service's type */
    mae_tval *input;             /* NULL = no input */
    mae_retry_policy retry;      /* the service's, attempts 5, then the compensate's overrides */
    uint64_t timeout_ms;         /* 0 = the service's */
} mae_compensate;

typedef enum { MAE_STEP_CALL, MAE_STEP_PARALLEL, MAE_STEP_SEQUENCE, MAE_STEP_FOREACH } mae_step_kind;

typedef struct mae_step mae_step;
struct mae_step {
    mae_step_kind kind;
    mae_pos pos;
    const char *id;           /* required for call and foreach; optional for parallel/sequence */
    mae_tmpl *when;           /* NULL = always */
    bool continue_on_error;

    /* MAE_STEP_CALL */
    const mae_service *service;
    const char *method;       /* as written */
    const mae_target *target; /* method compiled by the service's type (opaque to the engine) */
    mae_tval *input;          /* NULL = none */
    mae_header_tmpl *headers; /* this call's own headers (metadata), over the service's */
    size_t n_headers;
    const char *output;       /* variable name, NULL = none */
    mae_compensate *compensate;
    uint64_t timeout_ms;      /* 0 = the service's */
    mae_retry_policy retry;   /* the service's with the step's overrides applied */

    /* MAE_STEP_PARALLEL / MAE_STEP_SEQUENCE: children; MAE_STEP_FOREACH: body is children[0] */
    mae_step *children;
    size_t n_children;

    /* MAE_STEP_FOREACH */
    mae_tmpl *foreach;        /* must evaluate to an array */
    const char *as;           /* element name; index is <as>_index */
    const char *as_index;     /* "<as>_index", built once at load */
    int concurrency;          /* 0 = the default, MAE_FOREACH_CONCURRENCY */
    int max_items;            /* 0 = the default, MAE_FOREACH_MAX_ITEMS */
    const mae_step *body;     /* == &children[0] */
    /* output (above) is the array of item results */
};

typedef enum { MAE_IN_ANY, MAE_IN_STRING, MAE_IN_NUMBER, MAE_IN_INTEGER, MAE_IN_BOOLEAN,
               MAE_IN_OBJECT, MAE_IN_ARRAY } mae_input_type;

typedef struct mae_input_decl {
    const char *name;
    mae_pos pos;
    mae_input_type type;
    bool required;
    cJSON *default_value;     /* owned by the workflow (freed with it); NULL = none */
} mae_input_decl;

typedef struct mae_workflow {
    mae_arena arena;
    const char *file;
    const char *name;
    const char *version;
    uint64_t timeout_ms;               /* 0 = none */
    uint64_t compensation_timeout_ms;  /* default 60000 */
    mae_input_decl *inputs;
    size_t n_inputs;
    mae_service *services;
    size_t n_services;
    mae_step *steps;                   /* the top-level sequence */
    size_t n_steps;
    mae_tval *output;                  /* NULL = none (the run's output is {}) */
} mae_workflow;

/* Loads and validates. Returns 0 with *out set, or MAE_EPARSE with every problem in diags
 * (and *out NULL), MAE_EIO when the file cannot be read, MAE_ETOOBIG past the size cap. */
int mae__workflow_load_file(const char *path, mae_workflow **out, mae_diags *diags);
int mae__workflow_load_buf(const char *name, const char *buf, size_t len, mae_workflow **out,
                          mae_diags *diags);
void mae_workflow_free(mae_workflow *wf);  /* NULL is a no-op */
const mae_service *mae__workflow_service(const mae_workflow *wf, const char *name);
/* The loader's check of an endpoint for a service type: 0, or MAE_EINVAL with the reason in err. */
int mae__endpoint_check(const mae_target_type *type, const char *ep, char *err, size_t errlen);

/* Checks and completes a run's input against the declaration: types, required fields, and
 * defaults filled in (in place). Every problem goes to diags (no positions: "input.image:
 * required"). Returns 0 or MAE_EINVAL. Undeclared extra fields are kept. */
int mae__input_check(const mae_workflow *wf, cJSON *input, mae_diags *diags);

/* Durations are Go-style ("250ms", "1h30m", "1.5s"); sizes "16MiB", "512KB", "1024". */
int mae__parse_duration_ms(const char *s, uint64_t *out_ms);
int mae__parse_size(const char *s, uint64_t *out_bytes);

/* maestro graph */
typedef enum { MAE_GRAPH_DOT, MAE_GRAPH_MERMAID } mae_graph_format;
int mae__workflow_graph(const mae_workflow *wf, mae_graph_format fmt, FILE *out);

#endif
