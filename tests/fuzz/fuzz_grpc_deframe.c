/* Fuzz target: the message deframer (random splits), the envelope/Struct decoder on every
 * message, and the response-header interpretation. Nothing may crash, leak or hang. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grpc_h2/grpc_codec.h"
#include "grpc_h2/grpc_msgcodec.h"
#include "grpc_h2/grpc_struct.h"

static int on_msg(void *ud, bool compressed, uint8_t *msg, size_t len) {
    mae_grpc_reply rep, gen;
    int rc = mae__grpc_envelope_codec.decode(&mae__grpc_envelope_codec, msg, len, &rep);
    /* the direct reader (grpc_envwire.c) must answer exactly as protobuf-c's general way */
    int rg = mae__grpc_env_decode_general(msg, len, &gen);
    if ((rc == 0) != (rg == 0)) abort();
    if (rc == 0) {
        char *a = rep.output ? cJSON_PrintUnformatted(rep.output) : NULL;
        char *b = gen.output ? cJSON_PrintUnformatted(gen.output) : NULL;
        if ((a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0)) abort();
        if (rep.app_error != gen.app_error || (rep.error == NULL) != (gen.error == NULL) ||
            (rep.error && strcmp(rep.error, gen.error) != 0))
            abort();
        free(a);
        free(b);
        cJSON_Delete(rep.output);
        free(rep.error);
        cJSON_Delete(gen.output);
        free(gen.error);
    }
    cJSON *j = NULL;
    if (mae__grpc_any_to_json(MAE_GRPC_TYPE_STRUCT, msg, len, &j) == 0) cJSON_Delete(j);
    j = NULL;
    if (mae__grpc_any_to_json(MAE_GRPC_TYPE_VALUE, msg, len, &j) == 0) {
        /* What we decoded must encode and decode to the same thing. */
        Mae__Pb__Any any;
        if (mae__grpc_any_pack_json(j, &any) == 0) {
            cJSON *k = NULL;
            if (mae__grpc_any_to_json(any.type_url, any.value.data, any.value.len, &k) != 0)
                abort();
            char *a = cJSON_PrintUnformatted(j), *b = cJSON_PrintUnformatted(k);
            if (a && b && strcmp(a, b) != 0) abort();
            free(a);
            free(b);
            cJSON_Delete(k);
            mae__grpc_any_clear(&any);
        }
        cJSON_Delete(j);
    }
    free(msg);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    size_t step = (size_t)data[0] + 1;
    data++;
    size--;
    mae_grpc_deframer d;
    mae__grpc_deframer_init(&d, 1 << 20);
    for (size_t off = 0; off < size; off += step) {
        size_t n = size - off < step ? size - off : step;
        if (mae__grpc_deframer_feed(&d, data + off, n, on_msg, NULL) < 0) break;
    }
    mae__grpc_deframer_free(&d);
    /* The same bytes as header fields: name up to the first 0, value after it. */
    mae_grpc_resp r;
    mae__grpc_resp_init(&r);
    const uint8_t *z = memchr(data, 0, size);
    size_t nlen = z ? (size_t)(z - data) : size;
    const uint8_t *v = z ? z + 1 : data + size;
    size_t vlen = z ? size - nlen - 1 : 0;
    static const char *names[] = {"grpc-status", "grpc-message", ":status", "content-type",
                                  "grpc-retry-pushback-ms", "grpc-encoding"};
    for (size_t i = 0; i < 6; i++)
        mae__grpc_resp_field(&r, true, (const uint8_t *)names[i], strlen(names[i]), v, vlen);
    mae__grpc_resp_field(&r, true, data, nlen, v, vlen);
    r.saw_headers = r.saw_trailers = true;
    mae_grpc_outcome o;
    mae__grpc_resp_outcome(&r, size ? data[0] : 0, 1, false, &o);
    if (!o.message) abort();
    mae__grpc_resp_free(&r);
    uint64_t ns;
    mae__grpc_timeout_parse((const char *)data, size, &ns);
    return 0;
}
