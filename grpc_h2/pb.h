/* Typed protobuf at run time (issue #11): a pool of message, enum and service descriptions built
 * from serialized FileDescriptorProtos (a FileDescriptorSet file, or files fetched by server
 * reflection), and a codec between JSON (the proto3 JSON mapping) and the protobuf wire format
 * driven by those descriptions. No I/O here: callers bring the bytes.
 *
 * Ownership: a pool owns everything reachable from it (types, fields, methods, names); pointers
 * into it stay valid until mae__pb_pool_free. A pool is immutable once linked and may then be
 * shared by any number of calls (one loop, no locking). */
#ifndef MAE_PB_H
#define MAE_PB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

typedef struct mae__pb_pool mae__pb_pool;
typedef struct mae__pb_msg mae__pb_msg;       /* a message type */
typedef struct mae__pb_enum mae__pb_enum;     /* an enum type */
typedef struct mae__pb_field mae__pb_field;   /* a field of a message type */

typedef struct mae__pb_method {
    const char *name;           /* "CreateInstance" */
    const char *service;        /* "acme.deploy.v1.Provisioner" */
    const char *path;           /* "/acme.deploy.v1.Provisioner/CreateInstance" (the :path) */
    const mae__pb_msg *input, *output;
    bool client_streaming, server_streaming;
} mae__pb_method;

/* Limits applied to hostile descriptors and messages (MAE_ELIMIT beyond them). */
#define MAE__PB_MAX_FILES 4096
#define MAE__PB_MAX_DEPTH 64          /* message nesting while encoding/decoding, type nesting */

/* --- the pool --------------------------------------------------------------------------- */

/* Returns 0 or MAE_ENOMEM. */
int mae__pb_pool_new(mae__pb_pool **out);
void mae__pb_pool_free(mae__pb_pool *p);

/* Adds the files of a serialized FileDescriptorSet / one serialized FileDescriptorProto. A file
 * whose name is already in the pool is skipped when its bytes are identical, an error otherwise.
 * Returns 0, MAE_EDECODE (not a descriptor), MAE_ELIMIT, MAE_EINVAL (duplicate names) or
 * MAE_ENOMEM, with a one-line reason in err ("credit.proto: duplicate message
 * acme.credit.v1.Score"). */
int mae__pb_pool_add_set(mae__pb_pool *p, const uint8_t *buf, size_t len, char *err, size_t cap);
int mae__pb_pool_add_file(mae__pb_pool *p, const uint8_t *buf, size_t len, char *err, size_t cap);

/* The dependency file names some added file imports and no added file provides (reflection
 * fetches these). Writes up to cap names (borrowed from the pool) into names; returns the total
 * number missing. */
size_t mae__pb_pool_missing(const mae__pb_pool *p, const char **names, size_t cap);

/* Resolves every type reference; after it the pool is immutable. Returns 0, MAE_EINVAL
 * (missing dependency, unresolved type, a cycle that cannot be, ...) with the reason in err. */
int mae__pb_pool_link(mae__pb_pool *p, char *err, size_t cap);

/* A method by "Method" (must be unique among every service in the pool) or
 * "pkg.Service/Method" (a leading '/' accepted). NULL when none or ambiguous; err then says
 * which ("no method CreateInstanse; did you mean CreateInstance?" / "Get is ambiguous:
 * a.v1.A/Get, b.v1.B/Get"). */
const mae__pb_method *mae__pb_pool_method(const mae__pb_pool *p, const char *name, char *err,
                                          size_t cap);
/* Every method, in file then declaration order: fills up to cap, returns the total. */
size_t mae__pb_pool_methods(const mae__pb_pool *p, const mae__pb_method **out, size_t cap);
/* A message type by full name ("acme.credit.v1.Score", no leading dot); NULL when none. */
const mae__pb_msg *mae__pb_pool_message(const mae__pb_pool *p, const char *full_name);
const char *mae__pb_msg_name(const mae__pb_msg *m);   /* full name */

/* --- what validate needs ------------------------------------------------------------------ */

/* The field a JSON key names (json_name or the proto name); NULL when none, and then hint gets
 * the nearest field's JSON name (or "" when nothing is close). */
const mae__pb_field *mae__pb_msg_field(const mae__pb_msg *m, const char *key, char *hint,
                                       size_t cap);
/* The message type of a message-typed (or map-of-message value) field, else NULL: for checking
 * nested literal keys. A well-known type that maps to a JSON scalar/any value returns NULL. */
const mae__pb_msg *mae__pb_field_message(const mae__pb_field *f);
/* "string", "int64", "acme.credit.v1.Score", "map<string, acme.Tag>", "repeated Color" ... */
void mae__pb_field_type_name(const mae__pb_field *f, char *buf, size_t cap);

/* A JSON skeleton of a message (every field with its default; nested messages expanded once,
 * recursion cut with null) for `maestro describe`. Caller frees. NULL on ENOMEM. */
cJSON *mae__pb_skeleton(const mae__pb_msg *m);

/* --- the codec ------------------------------------------------------------------------------ */

/* Encodes JSON as message m. *out is malloc'd with `prefix` spare bytes in front (the gRPC frame
 * prefix) followed by *len message bytes. Returns 0; MAE_ETEMPLATE for input that does not fit
 * the type (err names the field path and the expected type: "disk_gb: expected int32, got
 * \"twenty\""; "tagz: no such field in acme.deploy.v1.CreateInstanceRequest (did you mean
 * tags?)"); MAE_ELIMIT; MAE_ENOMEM. */
int mae__pb_encode(const mae__pb_msg *m, const cJSON *in, size_t prefix, uint8_t **out,
                   size_t *len, char *err, size_t cap);

/* Decodes message bytes as m into JSON (every field present: unset scalars with their default,
 * unset messages as null; 64-bit integers as strings, ...). max_out bounds the JSON produced
 * (bytes of text, roughly); 0 = no bound. Returns 0; MAE_EDECODE (malformed wire data, err says
 * where); MAE_ELIMIT; MAE_ENOMEM. */
int mae__pb_decode(const mae__pb_msg *m, const uint8_t *buf, size_t len, size_t max_out,
                   cJSON **out, char *err, size_t cap);

/* --- google.rpc.Status -------------------------------------------------------------------- */

/* Decodes the bytes of a grpc-status-details-bin (already base64-decoded) into
 * {"code": N, "message": "...", "details": [{"@type": "type.googleapis.com/google.rpc.BadRequest",
 * ...}, ...]}. Details of the google.rpc error types are decoded with built-in descriptions,
 * others through pool (may be NULL), else kept as {"@type": ..., "value": "<base64>"}.
 * *retry_delay_ms gets RetryInfo.retry_delay when present, else -1. Returns 0, MAE_EDECODE or
 * MAE_ENOMEM. */
int mae__pb_status_decode(const mae__pb_pool *pool, const uint8_t *buf, size_t len, cJSON **out,
                          int64_t *retry_delay_ms);

#endif
