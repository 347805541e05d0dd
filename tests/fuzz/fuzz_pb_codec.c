/* Fuzz target: the proto3 JSON codec over the fixed rich schema of tests/servers/pb_rich.proto
 * (its descriptor set committed as tests/fuzz/pb_rich.protoset; test_pb_codec checks it is
 * current). First byte even: the rest is wire bytes, decoded as several message types and as a
 * google.rpc.Status; whatever decodes must encode again and decode to the same JSON. Odd: the
 * rest is JSON, encoded as mae.rich.v1.All; what encodes must decode. Nothing may crash, leak
 * or hang. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc_h2/pb.h"

static mae__pb_pool *pool;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    const char *root = getenv("MAESTRO_ROOT");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fuzz/pb_rich.protoset", root ? root : ".");
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fuzz_pb_codec: cannot open %s (run from the source tree)\n", path);
        abort();
    }
    static uint8_t buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    char err[256];
    if (mae__pb_pool_new(&pool) || mae__pb_pool_add_set(pool, buf, n, err, sizeof err) ||
        mae__pb_pool_link(pool, err, sizeof err)) {
        fprintf(stderr, "fuzz_pb_codec: %s\n", err);
        abort();
    }
    return 0;
}

static void decode_roundtrip(const mae__pb_msg *m, const uint8_t *p, size_t n) {
    char err[256];
    cJSON *a = NULL;
    if (mae__pb_decode(m, p, n, 1 << 20, &a, err, sizeof err) != 0) return;
    uint8_t *buf = NULL;
    size_t len;
    if (mae__pb_encode(m, a, 0, &buf, &len, err, sizeof err) == 0) {
        cJSON *b = NULL;
        if (mae__pb_decode(m, buf, len, 0, &b, err, sizeof err) != 0) abort();
        if (!cJSON_Compare(a, b, true)) {
            char *x = cJSON_PrintUnformatted(a), *y = cJSON_PrintUnformatted(b);
            fprintf(stderr, "round trip differs:\n%s\n%s\n", x, y);
            abort();
        }
        cJSON_Delete(b);
        free(buf);
    } else if (!strstr(err, "unknown Any type")) {
        /* What Maestro decoded it must be able to send back (an Any of a type nobody knows
         * is the one exception: its bytes are kept as base64). */
        fprintf(stderr, "decoded JSON does not encode: %s\n", err);
        abort();
    }
    cJSON_Delete(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    const mae__pb_msg *all = mae__pb_pool_message(pool, "mae.rich.v1.All");
    if (!(data[0] & 1)) {
        static const char *const types[] = {"mae.rich.v1.All", "mae.rich.v1.Inner",
                                            "google.protobuf.Struct", "google.protobuf.Any",
                                            "google.protobuf.Timestamp"};
        decode_roundtrip(mae__pb_pool_message(pool, types[(data[0] >> 1) % 5]), p, n);
        cJSON *st = NULL;
        int64_t delay;
        if (mae__pb_status_decode(data[0] & 2 ? pool : NULL, p, n, &st, &delay) == 0)
            cJSON_Delete(st);
        return 0;
    }
    cJSON *j = cJSON_ParseWithLength((const char *)p, n);
    if (!j) return 0;
    uint8_t *buf = NULL;
    size_t len;
    char err[256];
    if (mae__pb_encode(all, j, 5, &buf, &len, err, sizeof err) == 0) {
        cJSON *out = NULL;
        if (mae__pb_decode(all, buf + 5, len, 0, &out, err, sizeof err) != 0) {
            fprintf(stderr, "encoded bytes do not decode: %s\n", err);
            abort();
        }
        cJSON_Delete(out);
        free(buf);
    }
    cJSON_Delete(j);
    return 0;
}
