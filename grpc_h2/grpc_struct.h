/* Exact conversion between cJSON and google.protobuf.Struct/Value/ListValue, and packing into
 * google.protobuf.Any. Depth-bounded both ways; peer bytes are depth-checked on the wire before
 * protobuf-c (which recurses without a limit) ever unpacks them. No I/O. */
#ifndef MAE_GRPC_STRUCT_H
#define MAE_GRPC_STRUCT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "maestro/internal/any.pb-c.h"
#include "maestro/internal/struct.pb-c.h"

/* Deepest nesting of objects/arrays accepted either way. */
#define MAE_GRPC_MAX_DEPTH 64

#define MAE_GRPC_TYPE_STRUCT "type.googleapis.com/google.protobuf.Struct"
#define MAE_GRPC_TYPE_VALUE "type.googleapis.com/google.protobuf.Value"
#define MAE_GRPC_TYPE_LIST "type.googleapis.com/google.protobuf.ListValue"

/* cJSON → protobuf-c trees (every node malloc'd; free with the matching __free_unpacked(x, NULL)).
 * Return 0, MAE_ELIMIT past MAE_GRPC_MAX_DEPTH, MAE_EINVAL for raw/invalid cJSON, MAE_ENOMEM. */
int mae__grpc_value_from_json(const cJSON *j, Mae__Pb__Value **out);
int mae__grpc_struct_from_json(const cJSON *obj, Mae__Pb__Struct **out);

/* protobuf-c trees → cJSON (caller owns *out). Struct map keys: the last duplicate wins.
 * Non-finite numbers become null (JSON has none). Returns 0, MAE_ELIMIT or MAE_ENOMEM. */
int mae__grpc_value_to_json(const Mae__Pb__Value *v, cJSON **out);
int mae__grpc_struct_to_json(const Mae__Pb__Struct *s, cJSON **out);

/* Fills any (type_url and value malloc'd; free them with mae__grpc_any_clear): an object becomes a
 * Struct, anything else (or NULL = null) a Value. */
int mae__grpc_any_pack_json(const cJSON *j, Mae__Pb__Any *any);
void mae__grpc_any_clear(Mae__Pb__Any *any);

/* Decodes Any bytes of type Struct, Value or ListValue (any type-URL host) to cJSON.
 * Returns 0, MAE_EDECODE (unknown type, bad bytes), MAE_ELIMIT (too deep) or MAE_ENOMEM. */
int mae__grpc_any_to_json(const char *type_url, const uint8_t *p, size_t len, cJSON **out);

/* Wire-level check that Struct/Value/ListValue bytes nest at most max_depth containers deep and
 * are well-formed enough to walk. kind: 's' Struct, 'v' Value, 'l' ListValue. Returns 0,
 * MAE_ELIMIT or MAE_EDECODE. */
int mae__grpc_wire_depth_check(const uint8_t *p, size_t len, char kind, int max_depth);

#endif
