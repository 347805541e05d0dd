/* The envelope's protobuf bytes written straight from cJSON and read straight into cJSON, with
 * no protobuf-c object tree in between: the per-call path of grpc_envelope.c.
 *
 * Writing gives byte for byte what protobuf-c packs from the same values (fields in number
 * order, proto3 defaults left out, oneof members always written). Reading accepts the canonical
 * form such a writer produces and answers MAE__ENVWIRE_OTHER for anything else (a field given
 * twice, an unknown field, a wrong wire type, a string holding a NUL byte, nesting past
 * MAE_GRPC_MAX_DEPTH, a metadata map): the caller then decodes those bytes the general way, so
 * every answer stays exactly protobuf-c's. Pure functions; no I/O. */
#ifndef MAE_GRPC_ENVWIRE_H
#define MAE_GRPC_ENVWIRE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "grpc_h2/grpc_msgcodec.h"

/* Not an error: "decode these bytes with protobuf-c" (positive, unlike every MAE_E*). */
#define MAE__ENVWIRE_OTHER 1

/* A ServiceRequest. input NULL sends an empty Struct; an object a Struct; anything else a
 * Value. *out is malloc'd with `prefix` spare bytes in front, followed by *len message bytes.
 * Returns 0, MAE_ELIMIT (nested past MAE_GRPC_MAX_DEPTH), MAE_EINVAL (raw or invalid cJSON)
 * or MAE_ENOMEM. */
int mae__envwire_request(const char *method, const cJSON *input, const char *run_id,
                         const char *step_id, const mae_header_kv *headers, size_t n_headers,
                         size_t prefix, uint8_t **out, size_t *len);

/* A ServiceResponse into *out (as mae_grpc_codec.decode). Returns 0, MAE__ENVWIRE_OTHER (nothing
 * in *out), MAE_EDECODE (a type URL other than Struct/Value/ListValue) or MAE_ENOMEM. */
int mae__envwire_response(const uint8_t *p, size_t len, mae_grpc_reply *out);

#endif
