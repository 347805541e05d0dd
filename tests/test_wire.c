/* Unit tests of the shared byte-level rules (transports/wire.h): the one percent codec and the
 * header name/value checks used by the loader, the HTTP transport and gRPC metadata; and the
 * one translation of library errors into MAE_E* (transports/errmap.h). */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <nghttp2/nghttp2.h>
#include <uv.h>

#include "harness.h"
#include "maestro/maestro.h"
#include "transports/errmap.h"
#include "transports/wire.h"

TEST(path_segments_are_percent_encoded) {
    char *s = mae__pct_encode_segment("a b/c?d#e%f~g.h-i_j", 19);
    ASSERT_EQ_STR(s, "a%20b%2Fc%3Fd%23e%25f~g.h-i_j");
    free(s);
    s = mae__pct_encode_segment("\xc3\xa9", 2);
    ASSERT_EQ_STR(s, "%C3%A9");
    free(s);
    s = mae__pct_encode_segment("", 0);
    ASSERT_EQ_STR(s, "");
    free(s);
}

/* "." or ".." as a whole value would be a dot segment (curl sends the path as is, the server
 * resolves it): the dots are encoded so a value never climbs out of its segment. */
TEST(path_value_of_dots_is_not_a_dot_segment) {
    const char *in[] = {".", "..", "...", "a.b", ".hidden", "..x"};
    const char *want[] = {"%2E", "%2E%2E", "%2E%2E%2E", "a.b", ".hidden", "..x"};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        char *s = mae__pct_encode_segment(in[i], strlen(in[i]));
        ASSERT_EQ_STR(s, want[i]);
        free(s);
    }
}

TEST(pct_decode_reverses_encode_and_keeps_malformed_escapes) {
    const char *in = "a b/c?d#e%f~g\x01\xff";
    char enc[64];
    mae__pct_encode(in, strlen(in), MAE_PCT_UNRESERVED, enc);
    size_t n = 0;
    char *dec = mae__pct_decode(enc, strlen(enc), false, &n);
    ASSERT_EQ_INT(n, strlen(in));
    ASSERT_EQ_STR(dec, in);
    free(dec);
    dec = mae__pct_decode("%4a%4A%zz%4+x%", 14, true, &n);
    ASSERT_EQ_STR(dec, "JJ%zz%4 x%");
    free(dec);
    dec = mae__pct_decode("a+b", 3, false, NULL);
    ASSERT_EQ_STR(dec, "a+b");
    free(dec);
    dec = mae__pct_decode("a%00b", 5, false, &n);
    ASSERT_EQ_INT(n, 3);
    ASSERT_TRUE(memcmp(dec, "a\0b", 3) == 0);
    free(dec);
}

TEST(header_checks_are_one_rule_for_every_user) {
    ASSERT_TRUE(mae__header_value_ok("plain value; with stuff"));
    ASSERT_TRUE(mae__header_value_ok(""));
    ASSERT_FALSE(mae__header_value_ok("a\r\nX-Evil: 1"));
    ASSERT_FALSE(mae__header_value_ok("a\rb"));
    ASSERT_FALSE(mae__header_value_ok(NULL));
    ASSERT_TRUE(mae__header_name_ok("X-Tenant_1"));
    ASSERT_FALSE(mae__header_name_ok("X Tenant"));
    ASSERT_FALSE(mae__header_name_ok("X:T"));
    ASSERT_FALSE(mae__header_name_ok("\xc3\xa9"));
    ASSERT_FALSE(mae__header_name_ok(""));
    ASSERT_FALSE(mae__header_name_ok(NULL));
}

TEST(grpc_message_set_keeps_printable_ascii_but_percent) {
    char out[64];
    mae__pct_encode("a b%c\n\xc3\xa9~", 9, MAE_PCT_PRINTABLE, out);
    ASSERT_EQ_STR(out, "a b%25c%0A%C3%A9~");
    char small[4];
    ASSERT_EQ_INT(mae__pct_decode_to("%41%42%43%44", 12, false, small, sizeof small), 3);
    ASSERT_EQ_STR(small, "ABC");
}

/* One translation of library errors: the same library error is always the same MAE_E*. */
TEST(library_errors_translate_in_one_place) {
    ASSERT_EQ_INT(mae__err_from_uv(0), 0);
    ASSERT_EQ_INT(mae__err_from_uv(UV_ENOMEM), MAE_ENOMEM);
    ASSERT_EQ_INT(mae__err_from_uv(UV_ECONNREFUSED), MAE_ECONNREFUSED);
    ASSERT_EQ_INT(mae__err_from_uv(UV_ECONNRESET), MAE_ECONNRESET);
    ASSERT_EQ_INT(mae__err_from_uv(UV_EADDRINUSE), MAE_EEXISTS);
    ASSERT_EQ_INT(mae__err_from_uv(UV_EAI_NONAME), MAE_EDNS);
    ASSERT_EQ_INT(mae__err_from_uv(UV_EACCES), MAE_EIO);
    ASSERT_EQ_INT(mae__err_from_curl(CURLE_OK), 0);
    ASSERT_EQ_INT(mae__err_from_curl(CURLE_OUT_OF_MEMORY), MAE_ENOMEM);
    ASSERT_EQ_INT(mae__err_from_curl(CURLE_COULDNT_RESOLVE_HOST), MAE_EDNS);
    ASSERT_EQ_INT(mae__err_from_curl(CURLE_OPERATION_TIMEDOUT), MAE_ETIMEDOUT);
    ASSERT_EQ_INT(mae__err_from_curl(CURLE_UNKNOWN_OPTION), MAE_EINTERNAL);
    ASSERT_EQ_INT(mae__err_from_curlm(CURLM_OK), 0);
    ASSERT_EQ_INT(mae__err_from_curlm(CURLM_OUT_OF_MEMORY), MAE_ENOMEM);
    ASSERT_EQ_INT(mae__err_from_curlm(CURLM_INTERNAL_ERROR), MAE_EINTERNAL);
    ASSERT_EQ_INT(mae__err_from_nghttp2(0), 0);
    ASSERT_EQ_INT(mae__err_from_nghttp2(NGHTTP2_ERR_NOMEM), MAE_ENOMEM);
    ASSERT_EQ_INT(mae__err_from_nghttp2(NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE), MAE_ESTATE);
    ASSERT_EQ_INT(mae__err_from_nghttp2(NGHTTP2_ERR_PROTO), MAE_EPROTO);
    /* Every result is 0 or one of ours. */
    for (int e = -4100; e < 0; e++) {
        int m = mae__err_from_uv(e);
        ASSERT_TRUE(m == 0 || (m < 0 && strcmp(mae_strerror(m), "unknown error") != 0));
    }
}
