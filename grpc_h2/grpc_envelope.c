/* The envelope message codec (docs/workflow-language.md#grpc-calls-on-the-wire): ServiceRequest
 * out, ServiceResponse in. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc_h2/grpc_envwire.h"
#include "grpc_h2/grpc_msgcodec.h"
#include "grpc_h2/grpc_target.h"
#include "grpc_h2/grpc_struct.h"
#include "maestro/maestro.h"
#include "maestro/internal/envelope.pb-c.h"

static int env_path(const mae_grpc_codec *c, const mae_call_req *req, char *buf, size_t cap) {
    if (cap < sizeof MAE_GRPC_ENVELOPE_PATH) return MAE_ETOOBIG;
    memcpy(buf, MAE_GRPC_ENVELOPE_PATH, sizeof MAE_GRPC_ENVELOPE_PATH);
    return 0;
}

static char *nz(const char *s) { return (char *)(s ? s : ""); }

static int env_encode(const mae_grpc_codec *c, const mae_call_req *req, uint8_t **msg,
                      size_t *len) {
    /* No `input:` sends an empty Struct, as the Go original does: services unpack the payload
     * as a Struct unconditionally (an explicit `input: null` still sends a null Value). */
    return mae__envwire_request(mae__grpc_target_method(req->target), req->input, req->run_id,
                                req->step_id, req->headers, req->n_headers, 5, msg, len);
}

/* The general way, through protobuf-c: for the bytes grpc_envwire.c leaves to it. */
int mae__grpc_env_decode_general(const uint8_t *msg, size_t len, mae_grpc_reply *out) {
    memset(out, 0, sizeof *out);
    Mae__Pb__ServiceResponse *r = mae__pb__service_response__unpack(NULL, len, msg);
    if (!r) return MAE_EDECODE;
    int rc = 0;
    if (!r->success) {
        out->app_error = true;
        out->error = strdup(r->error && *r->error ? r->error : "service reported failure");
        if (!out->error) rc = MAE_ENOMEM;
    } else if (r->data) {
        rc = mae__grpc_any_to_json(r->data->type_url, r->data->value.data, r->data->value.len,
                                  &out->output);
    }
    mae__pb__service_response__free_unpacked(r, NULL);
    return rc;
}

static int env_decode(const mae_grpc_codec *c, const uint8_t *msg, size_t len,
                      mae_grpc_reply *out) {
    int rc = mae__envwire_response(msg, len, out);
    return rc == MAE__ENVWIRE_OTHER ? mae__grpc_env_decode_general(msg, len, out) : rc;
}

void mae__grpc_env_request_free(mae_grpc_env_request *r) {
    free(r->method);
    free(r->workflow_id);
    free(r->step_id);
    free(r->correlation_id);
    cJSON_Delete(r->input);
    cJSON_Delete(r->headers);
    memset(r, 0, sizeof *r);
}

int mae__grpc_env_request_decode(const uint8_t *p, size_t len, mae_grpc_env_request *out) {
    memset(out, 0, sizeof *out);
    Mae__Pb__ServiceRequest *r = mae__pb__service_request__unpack(NULL, len, p);
    if (!r) return MAE_EDECODE;
    int rc = 0;
    out->method = strdup(nz(r->method));
    out->workflow_id = strdup(nz(r->workflow_id));
    out->step_id = strdup(nz(r->step_id));
    out->correlation_id = strdup(nz(r->correlation_id));
    out->headers = cJSON_CreateObject();
    if (!out->method || !out->workflow_id || !out->step_id || !out->correlation_id ||
        !out->headers)
        rc = MAE_ENOMEM;
    for (size_t i = 0; rc == 0 && i < r->n_headers; i++) {
        cJSON *v = cJSON_CreateString(nz(r->headers[i]->value));
        if (!v) rc = MAE_ENOMEM;
        else cJSON_AddItemToObject(out->headers, nz(r->headers[i]->key), v);
    }
    if (rc == 0 && r->payload)
        rc = mae__grpc_any_to_json(r->payload->type_url, r->payload->value.data,
                                  r->payload->value.len, &out->input);
    if (rc == 0 && !out->input && !(out->input = cJSON_CreateNull())) rc = MAE_ENOMEM;
    mae__pb__service_request__free_unpacked(r, NULL);
    if (rc < 0) mae__grpc_env_request_free(out);
    return rc;
}

int mae__grpc_env_reply_encode(bool success, const cJSON *data, const char *error, uint8_t **out,
                              size_t *len) {
    Mae__Pb__ServiceResponse r = MAE__PB__SERVICE_RESPONSE__INIT;
    Mae__Pb__Any any;
    bool packed = false;
    r.success = success;
    if (error) r.error = (char *)error;
    if (success && data) {
        int rc = mae__grpc_any_pack_json(data, &any);
        if (rc < 0) return rc;
        r.data = &any;
        packed = true;
    }
    size_t n = mae__pb__service_response__get_packed_size(&r);
    uint8_t *buf = malloc(n ? n : 1);
    if (buf) *len = mae__pb__service_response__pack(&r, buf);
    if (packed) mae__grpc_any_clear(&any);
    if (!buf) return MAE_ENOMEM;
    *out = buf;
    return 0;
}

const mae_grpc_codec mae__grpc_envelope_codec = {
    .name = "envelope",
    .path = env_path,
    .encode = env_encode,
    .decode = env_decode,
};
