/* Unit tests of the shared byte-level rules (transports/wire.h): the one percent codec and the
 * header name/value checks used by the loader, the HTTP transport and gRPC metadata. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "transports/wire.h"

TEST(path_segments_are_percent_encoded) {
    char *s = mae_pct_encode_segment("a b/c?d#e%f~g.h-i_j", 19);
    ASSERT_EQ_STR(s, "a%20b%2Fc%3Fd%23e%25f~g.h-i_j");
    free(s);
    s = mae_pct_encode_segment("\xc3\xa9", 2);
    ASSERT_EQ_STR(s, "%C3%A9");
    free(s);
    s = mae_pct_encode_segment("", 0);
    ASSERT_EQ_STR(s, "");
    free(s);
}

/* "." or ".." as a whole value would be a dot segment (curl sends the path as is, the server
 * resolves it): the dots are encoded so a value never climbs out of its segment. */
TEST(path_value_of_dots_is_not_a_dot_segment) {
    const char *in[] = {".", "..", "...", "a.b", ".hidden", "..x"};
    const char *want[] = {"%2E", "%2E%2E", "%2E%2E%2E", "a.b", ".hidden", "..x"};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        char *s = mae_pct_encode_segment(in[i], strlen(in[i]));
        ASSERT_EQ_STR(s, want[i]);
        free(s);
    }
}

TEST(pct_decode_reverses_encode_and_keeps_malformed_escapes) {
    const char *in = "a b/c?d#e%f~g\x01\xff";
    char enc[64];
    mae_pct_encode(in, strlen(in), false, enc);
    size_t n = 0;
    char *dec = mae_pct_decode(enc, strlen(enc), false, &n);
    ASSERT_EQ_INT(n, strlen(in));
    ASSERT_EQ_STR(dec, in);
    free(dec);
    dec = mae_pct_decode("%4a%4A%zz%4+x%", 14, true, &n);
    ASSERT_EQ_STR(dec, "JJ%zz%4 x%");
    free(dec);
    dec = mae_pct_decode("a+b", 3, false, NULL);
    ASSERT_EQ_STR(dec, "a+b");
    free(dec);
    dec = mae_pct_decode("a%00b", 5, false, &n);
    ASSERT_EQ_INT(n, 3);
    ASSERT_TRUE(memcmp(dec, "a\0b", 3) == 0);
    free(dec);
}

TEST(header_checks_are_one_rule_for_every_user) {
    ASSERT_TRUE(mae_header_value_ok("plain value; with stuff"));
    ASSERT_TRUE(mae_header_value_ok(""));
    ASSERT_FALSE(mae_header_value_ok("a\r\nX-Evil: 1"));
    ASSERT_FALSE(mae_header_value_ok("a\rb"));
    ASSERT_FALSE(mae_header_value_ok(NULL));
    ASSERT_TRUE(mae_header_name_ok("X-Tenant_1"));
    ASSERT_FALSE(mae_header_name_ok("X Tenant"));
    ASSERT_FALSE(mae_header_name_ok("X:T"));
    ASSERT_FALSE(mae_header_name_ok("\xc3\xa9"));
    ASSERT_FALSE(mae_header_name_ok(""));
    ASSERT_FALSE(mae_header_name_ok(NULL));
}
