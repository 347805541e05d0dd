/* Unit tests: cJSON ↔ google.protobuf.Struct/Value, Any packing, the wire depth check and the
 * envelope codec, all from byte arrays. */
#include "grpc_h2/grpc_msgcodec.h"
#include "grpc_h2/grpc_struct.h"
#include "harness.h"
#include "target_fx.h"
#include "maestro/maestro.h"
#include "maestro/internal/envelope.pb-c.h"

static char *roundtrip(const char *json) {
    cJSON *in = cJSON_Parse(json);
    ASSERT_NOT_NULL(in);
    Mae__Pb__Any any;
    ASSERT_EQ_INT(mae__grpc_any_pack_json(in, &any), 0);
    cJSON *out = NULL;
    ASSERT_EQ_INT(mae__grpc_any_to_json(any.type_url, any.value.data, any.value.len, &out), 0);
    char *s = cJSON_PrintUnformatted(out);
    cJSON_Delete(in);
    cJSON_Delete(out);
    mae__grpc_any_clear(&any);
    return s;
}

TEST(struct_roundtrip_exact) {
    const char *cases[] = {
        "{}",
        "{\"a\":1,\"b\":-2.5,\"c\":1e+300,\"d\":true,\"e\":false,\"f\":null,\"g\":\"x\\u0000y\"}",
        "{\"nested\":{\"deep\":{\"list\":[1,[2,[3,{}]],[],{\"k\":null}]}},\"empty\":{},\"l\":[]}",
        "{\"unicode\":\"h\u00e9llo \xf0\x9f\x98\x80\",\"big\":9007199254740991}",
        "[1,\"two\",null]",
        "\"just a string\"",
        "42",
        "null",
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *got = roundtrip(cases[i]);
        cJSON *a = cJSON_Parse(cases[i]), *b = cJSON_Parse(got);
        if (!cJSON_Compare(a, b, true)) th_fail(__FILE__, __LINE__, "%s -> %s", cases[i], got);
        cJSON_Delete(a);
        cJSON_Delete(b);
        free(got);
    }
    /* Order of keys is kept. */
    char *s = roundtrip("{\"z\":1,\"a\":2,\"m\":3}");
    ASSERT_EQ_STR(s, "{\"z\":1,\"a\":2,\"m\":3}");
    free(s);
}

TEST(struct_type_urls) {
    cJSON *obj = cJSON_Parse("{\"a\":1}"), *arr = cJSON_Parse("[1]");
    Mae__Pb__Any any;
    ASSERT_EQ_INT(mae__grpc_any_pack_json(obj, &any), 0);
    ASSERT_EQ_STR(any.type_url, "type.googleapis.com/google.protobuf.Struct");
    cJSON *out = NULL;
    ASSERT_EQ_INT(mae__grpc_any_to_json("example.com/google.protobuf.Struct", any.value.data,
                                       any.value.len, &out), 0);
    cJSON_Delete(out);
    ASSERT_EQ_INT(mae__grpc_any_to_json("type.googleapis.com/foo.Bar", any.value.data,
                                       any.value.len, &out), MAE_EDECODE);
    ASSERT_EQ_INT(mae__grpc_any_to_json(NULL, any.value.data, any.value.len, &out), MAE_EDECODE);
    mae__grpc_any_clear(&any);
    ASSERT_EQ_INT(mae__grpc_any_pack_json(arr, &any), 0);
    ASSERT_EQ_STR(any.type_url, "type.googleapis.com/google.protobuf.Value");
    mae__grpc_any_clear(&any);
    /* A ListValue reply decodes to an array. */
    Mae__Pb__Value *v = NULL;
    ASSERT_EQ_INT(mae__grpc_value_from_json(arr, &v), 0);
    uint8_t buf[64];
    size_t n = mae__pb__list_value__pack(v->list_value, buf);
    mae__pb__value__free_unpacked(v, NULL);
    ASSERT_EQ_INT(mae__grpc_any_to_json(MAE_GRPC_TYPE_LIST, buf, n, &out), 0);
    ASSERT_TRUE(cJSON_IsArray(out));
    ASSERT_EQ_INT(cJSON_GetArraySize(out), 1);
    cJSON_Delete(out);
    cJSON_Delete(obj);
    cJSON_Delete(arr);
}

static cJSON *nest(int depth) {
    cJSON *root = cJSON_CreateObject(), *cur = root;
    for (int i = 1; i < depth; i++) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddItemToObject(cur, "k", c);
        cur = c;
    }
    return root;
}

TEST(struct_depth_bounded_both_ways) {
    cJSON *ok = nest(MAE_GRPC_MAX_DEPTH), *deep = nest(MAE_GRPC_MAX_DEPTH + 1);
    Mae__Pb__Any any;
    ASSERT_EQ_INT(mae__grpc_any_pack_json(ok, &any), 0);
    cJSON *out = NULL;
    ASSERT_EQ_INT(mae__grpc_any_to_json(any.type_url, any.value.data, any.value.len, &out), 0);
    /* (cJSON_Compare is exponential on nested objects: compare the printed forms.) */
    char *p1 = cJSON_PrintUnformatted(ok), *p2 = cJSON_PrintUnformatted(out);
    ASSERT_EQ_STR(p2, p1);
    free(p1);
    free(p2);
    cJSON_Delete(out);
    mae__grpc_any_clear(&any);
    ASSERT_EQ_INT(mae__grpc_any_pack_json(deep, &any), MAE_ELIMIT);
    /* A peer's over-deep Struct is refused on the wire, before protobuf-c unpacks it:
     * Struct{fields{key:"k", value:Value{struct_value: ...}}} built by hand, 200 deep. */
    size_t levels = 200;
    uint8_t *w = malloc(levels * 16 + 16);
    size_t len = 0;
    /* Build from the inside out: each level wraps the previous bytes. */
    uint8_t *tmp = malloc(levels * 16 + 16);
    for (size_t i = 0; i < levels; i++) {
        /* value = 0x2a len struct ; entry = 0x0a 1 'k' 0x12 len value ; struct = 0x0a len entry */
        size_t n = 0;
        uint8_t hdr[32];
        size_t vlen = len;               /* struct bytes */
        size_t h = 0;
        hdr[h++] = 0x2a;                 /* Value.struct_value */
        for (size_t x = vlen; ; x >>= 7) { hdr[h++] = (uint8_t)((x & 0x7f) | (x > 0x7f ? 0x80 : 0)); if (x <= 0x7f) break; }
        size_t value_len = h + vlen;
        uint8_t e[32];
        size_t eh = 0;
        e[eh++] = 0x0a; e[eh++] = 1; e[eh++] = 'k'; e[eh++] = 0x12;
        for (size_t x = value_len; ; x >>= 7) { e[eh++] = (uint8_t)((x & 0x7f) | (x > 0x7f ? 0x80 : 0)); if (x <= 0x7f) break; }
        size_t entry_len = eh + value_len;
        uint8_t s[16];
        size_t sh = 0;
        s[sh++] = 0x0a;
        for (size_t x = entry_len; ; x >>= 7) { s[sh++] = (uint8_t)((x & 0x7f) | (x > 0x7f ? 0x80 : 0)); if (x <= 0x7f) break; }
        memcpy(tmp, s, sh); n += sh;
        memcpy(tmp + n, e, eh); n += eh;
        memcpy(tmp + n, hdr, h); n += h;
        memcpy(tmp + n, w, len); n += len;
        memcpy(w, tmp, n);
        len = n;
        if (len > levels * 16 - 64) break;
    }
    ASSERT_EQ_INT(mae__grpc_wire_depth_check(w, len, 's', MAE_GRPC_MAX_DEPTH), MAE_ELIMIT);
    ASSERT_EQ_INT(mae__grpc_any_to_json(MAE_GRPC_TYPE_STRUCT, w, len, &out), MAE_ELIMIT);
    free(w);
    free(tmp);
    /* Malformed wire bytes are a decode error, not a crash. */
    const uint8_t bad[] = {0x0a, 0x7f, 0x01};
    ASSERT_EQ_INT(mae__grpc_any_to_json(MAE_GRPC_TYPE_STRUCT, bad, sizeof bad, &out), MAE_EDECODE);
    const uint8_t grp[] = {0x0b};
    ASSERT_EQ_INT(mae__grpc_wire_depth_check(grp, 1, 's', 8), MAE_EDECODE);
    cJSON_Delete(ok);
    cJSON_Delete(deep);
}

TEST(struct_duplicate_keys_last_wins) {
    /* Struct{fields: {"a": 1}, {"b": 2}, {"a": 3}} */
    const uint8_t w[] = {
        0x0a, 0x0e, 0x0a, 0x01, 'a', 0x12, 0x09, 0x11, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f,
        0x0a, 0x0e, 0x0a, 0x01, 'b', 0x12, 0x09, 0x11, 0, 0, 0, 0, 0, 0, 0x00, 0x40,
        0x0a, 0x0e, 0x0a, 0x01, 'a', 0x12, 0x09, 0x11, 0, 0, 0, 0, 0, 0, 0x08, 0x40,
    };
    cJSON *out = NULL;
    ASSERT_EQ_INT(mae__grpc_any_to_json(MAE_GRPC_TYPE_STRUCT, w, sizeof w, &out), 0);
    char *s = cJSON_PrintUnformatted(out);
    ASSERT_EQ_STR(s, "{\"b\":2,\"a\":3}");
    free(s);
    cJSON_Delete(out);
}

TEST(envelope_encode_fields) {
    cJSON *input = cJSON_Parse("{\"image\":\"nginx\",\"n\":[1,2]}");
    mae_header_kv hdrs[] = {{"authorization", "Bearer x"}};
    mae_call_req req = {.target = FX_GRPC_TARGET("Deploy"), .input = input, .run_id = "run1", .step_id = "s1",
                        .headers = hdrs, .n_headers = 1};
    uint8_t *msg = NULL;
    size_t len = 0;
    char path[128];
    ASSERT_EQ_INT(mae__grpc_envelope_codec.path(&mae__grpc_envelope_codec, &req, path, sizeof path), 0);
    ASSERT_EQ_STR(path, "/maestro.v1.MaestroService/Execute");
    ASSERT_EQ_INT(mae__grpc_envelope_codec.encode(&mae__grpc_envelope_codec, &req, &msg, &len), 0);
    Mae__Pb__ServiceRequest *r = mae__pb__service_request__unpack(NULL, len, msg + 5);
    ASSERT_NOT_NULL(r);
    ASSERT_EQ_STR(r->method, "Deploy");
    ASSERT_EQ_STR(r->workflow_id, "run1");
    ASSERT_EQ_STR(r->step_id, "s1");
    ASSERT_EQ_STR(r->correlation_id, "run1:s1");
    ASSERT_EQ_INT(r->n_headers, 1);
    ASSERT_EQ_STR(r->headers[0]->key, "authorization");
    ASSERT_EQ_STR(r->headers[0]->value, "Bearer x");
    ASSERT_EQ_STR(r->payload->type_url, MAE_GRPC_TYPE_STRUCT);
    cJSON *back = NULL;
    ASSERT_EQ_INT(mae__grpc_any_to_json(r->payload->type_url, r->payload->value.data,
                                       r->payload->value.len, &back), 0);
    ASSERT_TRUE(cJSON_Compare(back, input, true));
    cJSON_Delete(back);
    mae__pb__service_request__free_unpacked(r, NULL);
    free(msg);
    cJSON_Delete(input);
}

static uint8_t *pack_resp(bool success, const char *err, const cJSON *data, size_t *len) {
    Mae__Pb__ServiceResponse r = MAE__PB__SERVICE_RESPONSE__INIT;
    Mae__Pb__Any any;
    r.success = success;
    if (err) r.error = (char *)err;
    if (data) {
        ASSERT_EQ_INT(mae__grpc_any_pack_json(data, &any), 0);
        r.data = &any;
    }
    uint8_t *buf = malloc(mae__pb__service_response__get_packed_size(&r) + 1);
    *len = mae__pb__service_response__pack(&r, buf);
    if (data) mae__grpc_any_clear(&any);
    return buf;
}

TEST(envelope_decode_success_app_error_and_garbage) {
    cJSON *data = cJSON_Parse("{\"id\":7,\"tags\":[\"a\"]}");
    size_t len;
    uint8_t *b = pack_resp(true, NULL, data, &len);
    mae_grpc_reply rep;
    ASSERT_EQ_INT(mae__grpc_envelope_codec.decode(&mae__grpc_envelope_codec, b, len, &rep), 0);
    ASSERT_FALSE(rep.app_error);
    ASSERT_TRUE(cJSON_Compare(rep.output, data, true));
    cJSON_Delete(rep.output);
    free(b);
    b = pack_resp(false, "quota exceeded", NULL, &len);
    ASSERT_EQ_INT(mae__grpc_envelope_codec.decode(&mae__grpc_envelope_codec, b, len, &rep), 0);
    ASSERT_TRUE(rep.app_error);
    ASSERT_EQ_STR(rep.error, "quota exceeded");
    free(rep.error);
    free(b);
    b = pack_resp(true, NULL, NULL, &len);  /* success without data: null output */
    ASSERT_EQ_INT(mae__grpc_envelope_codec.decode(&mae__grpc_envelope_codec, b, len, &rep), 0);
    ASSERT_NULL(rep.output);
    free(b);
    const uint8_t junk[] = {0xff, 0xff, 0xff};
    ASSERT_EQ_INT(mae__grpc_envelope_codec.decode(&mae__grpc_envelope_codec, junk, 3, &rep),
                  MAE_EDECODE);
    cJSON_Delete(data);
}
