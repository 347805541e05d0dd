/* The message codec a gRPC call uses: which :path to call, how the request's cJSON input becomes
 * message bytes, and how a reply message becomes cJSON (or an application error). The framer
 * and connections never look inside messages, so typed calls (from a descriptor set or server
 * reflection) can be added as another codec without touching them. */
#ifndef MAE_GRPC_MSGCODEC_H
#define MAE_GRPC_MSGCODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "transports/transport.h"

typedef struct mae_grpc_reply {
    cJSON *output;       /* success: the output (caller owns); NULL = null */
    bool app_error;      /* the service answered but reported failure */
    char *error;         /* app_error: the service's words (malloc'd, caller frees) */
} mae_grpc_reply;

typedef struct mae_grpc_codec mae_grpc_codec;
struct mae_grpc_codec {
    const char *name;
    /* Writes the call's :path into buf. Returns 0 or MAE_ETOOBIG/MAE_EINVAL. */
    int (*path)(const mae_grpc_codec *c, const mae_call_req *req, char *buf, size_t cap);
    /* Serialises the request. *msg is malloc'd with 5 spare bytes in front (for the gRPC
     * prefix) followed by *len message bytes. Returns 0 or a negative MAE_E*. */
    int (*encode)(const mae_grpc_codec *c, const mae_call_req *req, uint8_t **msg, size_t *len);
    /* Decodes one reply message. Returns 0 (with *out filled) or MAE_EDECODE / MAE_ELIMIT /
     * MAE_ENOMEM. */
    int (*decode)(const mae_grpc_codec *c, const uint8_t *msg, size_t len, mae_grpc_reply *out);
    void *data;
    /* A server-streaming method: every reply message is decoded as it arrives and the call's
     * output is the JSON array of them (zero or more), the messages bounded in total by the
     * service's max_response (RESOURCE_EXHAUSTED beyond it). false: exactly one message. */
    bool server_streaming;
};

/* The generic envelope (docs/workflow-language.md#grpc-calls-on-the-wire):
 * /maestro.v1.MaestroService/Execute. */
extern const mae_grpc_codec mae__grpc_envelope_codec;
#define MAE_GRPC_ENVELOPE_PATH "/maestro.v1.MaestroService/Execute"

/* The envelope's reply decoded through protobuf-c only, never grpc_envwire.c's direct reader:
 * what tests compare the direct reader with. Returns as mae_grpc_codec.decode. */
int mae__grpc_env_decode_general(const uint8_t *msg, size_t len, mae_grpc_reply *out);

/* Server side of the envelope (for `maestro stub`). */
typedef struct mae_grpc_env_request {
    char *method, *workflow_id, *step_id, *correlation_id;
    cJSON *input;     /* the payload as JSON (null when absent) */
    cJSON *headers;   /* object of the envelope's headers map */
} mae_grpc_env_request;
/* Returns 0, MAE_EDECODE, MAE_ELIMIT (too deep) or MAE_ENOMEM. Free with the function below. */
int mae__grpc_env_request_decode(const uint8_t *p, size_t len, mae_grpc_env_request *out);
void mae__grpc_env_request_free(mae_grpc_env_request *r);
/* A ServiceResponse: success with data (packed as Struct for objects, Value otherwise), or
 * success=false with error. *out is malloc'd (no gRPC prefix). Returns 0 or a negative MAE_E*. */
int mae__grpc_env_reply_encode(bool success, const cJSON *data, const char *error, uint8_t **out,
                              size_t *len);

#endif
