/* Unit tests of the sans-I/O gRPC codec: framing, grpc-timeout, status parsing and mappings,
 * response header/trailer interpretation, fed from byte arrays. */
#include "grpc_h2/grpc_codec.h"
#include "harness.h"
#include "maestro/maestro.h"
#include "transports/transport.h"

typedef struct {
    int n;
    size_t lens[8];
    uint8_t first[8];
    bool comp[8];
} got_t;

static int on_msg(void *ud, bool compressed, uint8_t *msg, size_t len) {
    got_t *g = ud;
    if (g->n < 8) {
        g->lens[g->n] = len;
        g->first[g->n] = len ? msg[0] : 0;
        g->comp[g->n] = compressed;
    }
    g->n++;
    free(msg);
    return 0;
}

TEST(deframe_prefix_split_across_feeds_and_many_per_feed) {
    /* Three messages: "ab", "" and "xyz", fed one byte at a time, then all at once. */
    const uint8_t wire[] = {0, 0, 0, 0, 2, 'a', 'b', 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 'x', 'y', 'z'};
    mae_grpc_deframer d;
    got_t g = {0};
    mae__grpc_deframer_init(&d, 100);
    for (size_t i = 0; i < sizeof wire; i++) {
        ASSERT_EQ_INT(mae__grpc_deframer_feed(&d, wire + i, 1, on_msg, &g), 0);
        if (i == 2) ASSERT_TRUE(mae__grpc_deframer_partial(&d));
    }
    ASSERT_EQ_INT(g.n, 3);
    ASSERT_EQ_INT(g.lens[0], 2);
    ASSERT_EQ_INT(g.first[0], 'a');
    ASSERT_EQ_INT(g.lens[1], 0);
    ASSERT_EQ_INT(g.lens[2], 3);
    ASSERT_EQ_INT(g.first[2], 'x');
    ASSERT_FALSE(mae__grpc_deframer_partial(&d));
    mae__grpc_deframer_free(&d);

    got_t g2 = {0};
    mae__grpc_deframer_init(&d, 100);
    ASSERT_EQ_INT(mae__grpc_deframer_feed(&d, wire, sizeof wire, on_msg, &g2), 0);
    ASSERT_EQ_INT(g2.n, 3);
    ASSERT_EQ_INT(d.n_msgs, 3);
    mae__grpc_deframer_free(&d);
}

TEST(deframe_length_checked_before_allocation) {
    const uint8_t huge[] = {0, 0xff, 0xff, 0xff, 0xff, 1, 2, 3};
    mae_grpc_deframer d;
    got_t g = {0};
    mae__grpc_deframer_init(&d, 4u << 20);
    ASSERT_EQ_INT(mae__grpc_deframer_feed(&d, huge, sizeof huge, on_msg, &g), MAE_ELIMIT);
    ASSERT_EQ_INT(d.announced, 0xffffffffu);
    ASSERT_NULL(d.buf);  /* nothing was allocated for the announced length */
    ASSERT_EQ_INT(g.n, 0);
    mae__grpc_deframer_free(&d);

    /* Exactly at the limit is accepted; one more is not. */
    const uint8_t at[] = {0, 0, 0, 0, 3, 1, 2, 3};
    mae__grpc_deframer_init(&d, 3);
    ASSERT_EQ_INT(mae__grpc_deframer_feed(&d, at, sizeof at, on_msg, &g), 0);
    ASSERT_EQ_INT(g.n, 1);
    mae__grpc_deframer_free(&d);
    const uint8_t over[] = {0, 0, 0, 0, 4};
    mae__grpc_deframer_init(&d, 3);
    ASSERT_EQ_INT(mae__grpc_deframer_feed(&d, over, sizeof over, on_msg, &g), MAE_ELIMIT);
    mae__grpc_deframer_free(&d);
}

TEST(deframe_flags_and_partial_body) {
    mae_grpc_deframer d;
    got_t g = {0};
    const uint8_t comp[] = {1, 0, 0, 0, 1, 'z'};
    mae__grpc_deframer_init(&d, 10);
    ASSERT_EQ_INT(mae__grpc_deframer_feed(&d, comp, sizeof comp, on_msg, &g), 0);
    ASSERT_TRUE(g.comp[0]);
    mae__grpc_deframer_free(&d);
    const uint8_t bad[] = {2, 0, 0, 0, 1, 'z'};
    mae__grpc_deframer_init(&d, 10);
    ASSERT_EQ_INT(mae__grpc_deframer_feed(&d, bad, sizeof bad, on_msg, &g), MAE_EPROTO);
    mae__grpc_deframer_free(&d);
    const uint8_t cut[] = {0, 0, 0, 0, 9, 'a', 'b'};
    mae__grpc_deframer_init(&d, 10);
    ASSERT_EQ_INT(mae__grpc_deframer_feed(&d, cut, sizeof cut, on_msg, &g), 0);
    ASSERT_TRUE(mae__grpc_deframer_partial(&d));
    mae__grpc_deframer_free(&d);
    uint8_t pre[5];
    mae__grpc_frame_prefix(pre, false, 0x01020304);
    ASSERT_EQ_INT(pre[0], 0);
    ASSERT_EQ_INT(pre[1], 1);
    ASSERT_EQ_INT(pre[4], 4);
}

TEST(timeout_encoding_units_and_digits) {
    char b[10];
    ASSERT_EQ_INT(mae__grpc_timeout_encode(0, b), 2);
    ASSERT_EQ_STR(b, "1n");
    mae__grpc_timeout_encode(99999999ull, b);
    ASSERT_EQ_STR(b, "99999999n");
    mae__grpc_timeout_encode(100000000ull, b);           /* 100 ms */
    ASSERT_EQ_STR(b, "100000u");
    mae__grpc_timeout_encode(100000001ull, b);           /* rounds up, never shortens */
    ASSERT_EQ_STR(b, "100001u");
    mae__grpc_timeout_encode(30000ull * 1000000, b);     /* 30 s */
    ASSERT_EQ_STR(b, "30000000u");
    mae__grpc_timeout_encode(100000ull * 1000000000, b); /* 100000 s */
    ASSERT_EQ_STR(b, "100000S");
    mae__grpc_timeout_encode(200000000ull * 1000000000, b);
    ASSERT_EQ_STR(b, "3333334M");
    mae__grpc_timeout_encode(UINT64_MAX, b);
    ASSERT_EQ_STR(b, "5124096H");
    for (uint64_t ns = 1; ns < UINT64_MAX / 3; ns = ns * 3 + 7) {
        size_t n = mae__grpc_timeout_encode(ns, b);
        uint64_t back;
        ASSERT_CMP_INT(n, <=, 9);
        ASSERT_EQ_INT(mae__grpc_timeout_parse(b, n, &back), 0);
        ASSERT_TRUE(back >= ns);
    }
    uint64_t ns;
    ASSERT_EQ_INT(mae__grpc_timeout_parse("123456789S", 10, &ns), MAE_EPARSE);
    ASSERT_EQ_INT(mae__grpc_timeout_parse("1x", 2, &ns), MAE_EPARSE);
    ASSERT_EQ_INT(mae__grpc_timeout_parse("S", 1, &ns), MAE_EPARSE);
    ASSERT_EQ_INT(mae__grpc_timeout_parse("-1S", 3, &ns), MAE_EPARSE);
    ASSERT_EQ_INT(mae__grpc_timeout_parse("2M", 2, &ns), 0);
    ASSERT_EQ_INT(ns, 120000000000ull);
}

#define S(x) (const uint8_t *)(x), sizeof(x) - 1

TEST(status_parse_strict) {
    ASSERT_EQ_INT(mae__grpc_status_parse(S("0")), 0);
    ASSERT_EQ_INT(mae__grpc_status_parse(S("14")), 14);
    ASSERT_EQ_INT(mae__grpc_status_parse(S("16")), 16);
    ASSERT_EQ_INT(mae__grpc_status_parse(S("17")), MAE_GRPC_UNKNOWN);
    ASSERT_EQ_INT(mae__grpc_status_parse(S(" 3")), MAE_GRPC_UNKNOWN);
    ASSERT_EQ_INT(mae__grpc_status_parse(S("3 ")), MAE_GRPC_UNKNOWN);
    ASSERT_EQ_INT(mae__grpc_status_parse(S("+3")), MAE_GRPC_UNKNOWN);
    ASSERT_EQ_INT(mae__grpc_status_parse(S("-1")), MAE_GRPC_UNKNOWN);
    ASSERT_EQ_INT(mae__grpc_status_parse(S("")), MAE_GRPC_UNKNOWN);
    ASSERT_EQ_INT(mae__grpc_status_parse(S("99999999999999999999")), MAE_GRPC_UNKNOWN);
    ASSERT_EQ_INT(mae__grpc_status_parse(S("abc")), MAE_GRPC_UNKNOWN);
}

TEST(message_percent_decoding_never_fails) {
    char out[64];
    ASSERT_EQ_INT(mae__grpc_message_decode(S("a%20b%0D%0A%25"), out, sizeof out), 6);
    ASSERT_EQ_STR(out, "a b\r\n%");
    /* Malformed escapes stay literal. */
    mae__grpc_message_decode(S("100%"), out, sizeof out);
    ASSERT_EQ_STR(out, "100%");
    mae__grpc_message_decode(S("%zz%4"), out, sizeof out);
    ASSERT_EQ_STR(out, "%zz%4");
    mae__grpc_message_decode(S("%F0%9F%98%80"), out, sizeof out);
    ASSERT_EQ_STR(out, "\xF0\x9F\x98\x80");
    /* Cut at the capacity, still terminated. */
    ASSERT_EQ_INT(mae__grpc_message_decode(S("abcdef"), out, 4), 3);
    ASSERT_EQ_STR(out, "abc");
    char *enc = mae__grpc_message_encode("50% \r\n\xF0\x9F\x98\x80", 10);
    ASSERT_EQ_STR(enc, "50%25 %0D%0A%F0%9F%98%80");
    mae__grpc_message_decode((const uint8_t *)enc, strlen(enc), out, sizeof out);
    ASSERT_EQ_STR(out, "50% \r\n\xF0\x9F\x98\x80");
    free(enc);
}

TEST(http_and_rst_mappings) {
    ASSERT_EQ_INT(mae__grpc_from_http_status(400), MAE_GRPC_INTERNAL);
    ASSERT_EQ_INT(mae__grpc_from_http_status(401), MAE_GRPC_UNAUTHENTICATED);
    ASSERT_EQ_INT(mae__grpc_from_http_status(403), MAE_GRPC_PERMISSION_DENIED);
    ASSERT_EQ_INT(mae__grpc_from_http_status(404), MAE_GRPC_UNIMPLEMENTED);
    ASSERT_EQ_INT(mae__grpc_from_http_status(429), MAE_GRPC_UNAVAILABLE);
    ASSERT_EQ_INT(mae__grpc_from_http_status(502), MAE_GRPC_UNAVAILABLE);
    ASSERT_EQ_INT(mae__grpc_from_http_status(503), MAE_GRPC_UNAVAILABLE);
    ASSERT_EQ_INT(mae__grpc_from_http_status(504), MAE_GRPC_UNAVAILABLE);
    ASSERT_EQ_INT(mae__grpc_from_http_status(500), MAE_GRPC_UNKNOWN);
    ASSERT_EQ_INT(mae__grpc_from_http_status(200), MAE_GRPC_UNKNOWN);
    bool na;
    static const struct { uint32_t e; int code; bool na; } rst[] = {
        {0x0, MAE_GRPC_INTERNAL, false}, {0x1, MAE_GRPC_INTERNAL, false},
        {0x2, MAE_GRPC_INTERNAL, false}, {0x3, MAE_GRPC_INTERNAL, false},
        {0x4, MAE_GRPC_INTERNAL, false}, {0x6, MAE_GRPC_INTERNAL, false},
        {0x7, MAE_GRPC_UNAVAILABLE, true}, {0x8, MAE_GRPC_CANCELLED, false},
        {0x9, MAE_GRPC_INTERNAL, false}, {0xa, MAE_GRPC_INTERNAL, false},
        {0xb, MAE_GRPC_RESOURCE_EXHAUSTED, false}, {0xc, MAE_GRPC_PERMISSION_DENIED, false},
        {0x1234, MAE_GRPC_INTERNAL, false},
    };
    for (size_t i = 0; i < sizeof rst / sizeof *rst; i++) {
        ASSERT_EQ_INT(mae__grpc_from_h2_error(rst[i].e, &na), rst[i].code);
        ASSERT_EQ_INT(na, rst[i].na);
    }
}

static void field(mae_grpc_resp *r, bool tr, const char *n, const char *v) {
    ASSERT_EQ_INT(mae__grpc_resp_field(r, tr, (const uint8_t *)n, strlen(n), (const uint8_t *)v,
                                      strlen(v)), 0);
}

TEST(resp_normal_trailers_and_trailers_only) {
    mae_grpc_resp r = {0};
    mae_grpc_outcome o;
    mae__grpc_resp_free(&r);
    mae__grpc_resp_init(&r);
    field(&r, false, ":status", "200");
    field(&r, false, "content-type", "application/grpc+proto");
    field(&r, false, "grpc-status", "5");  /* ignored outside trailers */
    r.saw_headers = true;
    field(&r, true, "grpc-status", "0");
    r.saw_trailers = true;
    mae__grpc_resp_outcome(&r, 0, 1, false, &o);
    ASSERT_EQ_INT(o.code, 0);
    mae__grpc_resp_outcome(&r, 0, 2, false, &o);
    ASSERT_EQ_INT(o.code, MAE_GRPC_INTERNAL);
    mae__grpc_resp_outcome(&r, 0, 0, false, &o);
    ASSERT_EQ_INT(o.code, MAE_GRPC_INTERNAL);
    mae__grpc_resp_outcome(&r, 0, 1, true, &o);
    ASSERT_EQ_INT(o.code, MAE_GRPC_INTERNAL);

    /* Trailers-Only: one block with everything, message percent-decoded, pushback read. */
    mae__grpc_resp_free(&r);
    mae__grpc_resp_init(&r);
    field(&r, true, ":status", "200");
    field(&r, true, "content-type", "application/grpc");
    field(&r, true, "grpc-status", "14");
    field(&r, true, "grpc-message", "try%20later%0A");
    field(&r, true, "grpc-retry-pushback-ms", "250");
    r.saw_headers = r.saw_trailers = true;
    mae__grpc_resp_outcome(&r, 0, 0, false, &o);
    ASSERT_EQ_INT(o.code, MAE_GRPC_UNAVAILABLE);
    ASSERT_EQ_STR(o.message, "try later\n");
    ASSERT_EQ_INT(r.pushback_ms, 250);
    /* A reset after complete trailers does not override them. */
    mae__grpc_resp_outcome(&r, 8, 0, false, &o);
    ASSERT_EQ_INT(o.code, MAE_GRPC_UNAVAILABLE);
    mae__grpc_resp_free(&r);
}

TEST(resp_error_shapes) {
    mae_grpc_resp r = {0};
    mae_grpc_outcome o;
    /* Non-200 :status wins over everything but a reset. */
    mae__grpc_resp_free(&r);
    mae__grpc_resp_init(&r);
    field(&r, true, ":status", "503");
    field(&r, true, "content-type", "text/html");
    r.saw_headers = r.saw_trailers = true;
    mae__grpc_resp_outcome(&r, 0, 0, false, &o);
    ASSERT_EQ_INT(o.code, MAE_GRPC_UNAVAILABLE);
    /* 200 with a non-gRPC content-type. */
    mae__grpc_resp_free(&r);
    mae__grpc_resp_init(&r);
    field(&r, true, ":status", "200");
    field(&r, true, "content-type", "application/grpcx");
    field(&r, true, "grpc-status", "0");
    r.saw_headers = r.saw_trailers = true;
    mae__grpc_resp_outcome(&r, 0, 1, false, &o);
    ASSERT_EQ_INT(o.code, MAE_GRPC_UNKNOWN);
    /* Missing grpc-status in trailers; no trailers at all. */
    mae__grpc_resp_free(&r);
    mae__grpc_resp_init(&r);
    field(&r, false, ":status", "200");
    field(&r, false, "content-type", "application/grpc");
    r.saw_headers = true;
    mae__grpc_resp_outcome(&r, 0, 1, false, &o);
    ASSERT_EQ_INT(o.code, MAE_GRPC_INTERNAL);
    r.saw_trailers = true;
    mae__grpc_resp_outcome(&r, 0, 1, false, &o);
    ASSERT_EQ_INT(o.code, MAE_GRPC_UNKNOWN);
    /* Garbage grpc-status. */
    field(&r, true, "grpc-status", "OK");
    mae__grpc_resp_outcome(&r, 0, 1, false, &o);
    ASSERT_EQ_INT(o.code, MAE_GRPC_UNKNOWN);
    /* Reset before any status: REFUSED_STREAM is not an attempt. */
    mae__grpc_resp_free(&r);
    mae__grpc_resp_init(&r);
    mae__grpc_resp_outcome(&r, 7, 0, false, &o);
    ASSERT_EQ_INT(o.code, MAE_GRPC_UNAVAILABLE);
    ASSERT_TRUE(o.not_an_attempt);
    mae__grpc_resp_outcome(&r, 0, 0, false, &o);
    ASSERT_EQ_INT(o.code, MAE_GRPC_INTERNAL);
    /* Garbage :status and bad pushback. */
    mae__grpc_resp_free(&r);
    mae__grpc_resp_init(&r);
    field(&r, true, ":status", "2x0");
    field(&r, true, "grpc-retry-pushback-ms", "-5");
    r.saw_headers = r.saw_trailers = true;
    mae__grpc_resp_outcome(&r, 0, 0, false, &o);
    ASSERT_EQ_INT(o.code, MAE_GRPC_UNKNOWN);
    ASSERT_EQ_INT(r.pushback_ms, -1);
    mae__grpc_resp_free(&r);
}

TEST(resp_header_bytes_bounded_and_long_message_cut) {
    mae_grpc_resp r = {0};
    mae__grpc_resp_free(&r);
    mae__grpc_resp_init(&r);
    static char big[20000];
    memset(big, 'x', sizeof big - 1);
    field(&r, true, "grpc-message", big);
    ASSERT_EQ_INT(r.message_len, MAE_GRPC_MAX_STATUS_MSG - 1);
    int rc = 0;
    for (int i = 0; i < 10 && rc == 0; i++)
        rc = mae__grpc_resp_field(&r, false, (const uint8_t *)"x-pad", 5, (const uint8_t *)big,
                                 sizeof big - 1);
    ASSERT_EQ_INT(rc, MAE_ELIMIT);
    mae__grpc_resp_free(&r);
}
