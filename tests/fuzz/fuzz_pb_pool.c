/* Fuzz target: the descriptor-set loader. Random bytes go in as a FileDescriptorSet (and, split
 * at the first byte's offset, as two single FileDescriptorProtos); whatever loads is linked and
 * then every question the rest of Maestro asks of a pool is asked: methods, lookups with hints,
 * type names, skeletons, and an encode/decode of {} for every method's types. Nothing may
 * crash, leak, hang or read out of bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grpc_h2/pb.h"

static void exercise(mae__pb_pool *p) {
    char err[256], hint[64], tn[256];
    if (mae__pb_pool_link(p, err, sizeof err) != 0) return;
    const mae__pb_method *ms[64];
    size_t n = mae__pb_pool_methods(p, ms, 64);
    for (size_t i = 0; i < n && i < 64; i++) {
        if (mae__pb_pool_method(p, ms[i]->name, err, sizeof err) == NULL && !err[0]) abort();
        if (mae__pb_pool_method(p, ms[i]->path, err, sizeof err) != ms[i]) abort();
        const mae__pb_msg *io[2] = {ms[i]->input, ms[i]->output};
        for (int k = 0; k < 2; k++) {
            cJSON *s = mae__pb_skeleton(io[k]);
            cJSON_Delete(s);
            const mae__pb_field *f = mae__pb_msg_field(io[k], "x", hint, sizeof hint);
            if (f) {
                mae__pb_field_type_name(f, tn, sizeof tn);
                (void)mae__pb_field_message(f);
            }
            cJSON *empty = cJSON_CreateObject();
            uint8_t *buf = NULL;
            size_t len = 0;
            if (empty && mae__pb_encode(io[k], empty, 5, &buf, &len, err, sizeof err) == 0) {
                cJSON *out = NULL;
                if (mae__pb_decode(io[k], buf + 5, len, 1 << 20, &out, err, sizeof err) == 0)
                    cJSON_Delete(out);
                free(buf);
            }
            cJSON_Delete(empty);
        }
    }
    (void)mae__pb_pool_method(p, "Get", err, sizeof err);
    (void)mae__pb_pool_message(p, "a.B");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[256];
    const char *missing[8];
    mae__pb_pool *p;
    if (mae__pb_pool_new(&p) != 0) return 0;
    if (mae__pb_pool_add_set(p, data, size, err, sizeof err) == 0) {
        (void)mae__pb_pool_missing(p, missing, 8);
        exercise(p);
    }
    mae__pb_pool_free(p);

    if (size < 1) return 0;
    size_t cut = data[0] < size ? data[0] : size;
    if (mae__pb_pool_new(&p) != 0) return 0;
    (void)mae__pb_pool_add_file(p, data + 1, cut > 0 ? cut - 1 : 0, err, sizeof err);
    (void)mae__pb_pool_add_file(p, data + cut, size - cut, err, sizeof err);
    (void)mae__pb_pool_missing(p, missing, 8);
    exercise(p);
    mae__pb_pool_free(p);
    return 0;
}
