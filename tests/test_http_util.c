/* Unit tests of the HTTP transport's pure helpers: percent-encoding, query strings,
 * Retry-After, excerpts, body → output, header/path/verb checks, failure classes. */
#include "harness.h"
#include "maestro/maestro.h"
#include "transports/http_util.h"
#include "transports/wire.h"

static char *enc(const char *s, size_t n) {
    mae_hbuf b = {0};
    ASSERT_EQ_INT(mae__hbuf_add(&b, "", 0), 0);
    ASSERT_EQ_INT(mae__http_pct_encode(&b, s, n), 0);
    return b.p;
}

TEST(pct_encode_keeps_only_unreserved) {
    char *e = enc("aZ09-._~ /?#%&=+\xc3\xa9", 18);
    ASSERT_EQ_STR(e, "aZ09-._~%20%2F%3F%23%25%26%3D%2B%C3%A9");
    free(e);
    e = enc("a\0b", 3);   /* a NUL byte inside is data like any other */
    ASSERT_EQ_STR(e, "a%00b");
    free(e);
}

TEST(hbuf_respects_its_maximum) {
    mae_hbuf b = {.max = 10};
    ASSERT_EQ_INT(mae__hbuf_add(&b, "0123456789", 10), 0);
    ASSERT_EQ_INT(mae__hbuf_add(&b, "x", 1), MAE_ETOOBIG);
    ASSERT_EQ_INT(b.len, 10);
    ASSERT_CMP_INT(b.cap, <=, 11);
    ASSERT_EQ_STR(b.p, "0123456789");
    mae__hbuf_free(&b);
    mae_hbuf c = {.max = 4};
    ASSERT_EQ_INT(mae__hbuf_add(&c, "12345", 5), MAE_ETOOBIG);
    ASSERT_NULL(c.p);
    mae__hbuf_free(&c);
}

TEST(query_from_object_scalars_as_text_others_as_json) {
    cJSON *in = cJSON_Parse("{\"q\":\"a b&c=d\",\"n\":3,\"x\":1.5,\"f\":true,\"z\":null,"
                            "\"o\":{\"k\":[1,\"/\"]},\"\xc3\xa9 k\":\"\"}");
    char *q = NULL;
    ASSERT_EQ_INT(mae__http_query_build(in, &q), 0);
    ASSERT_EQ_STR(q, "q=a%20b%26c%3Dd&n=3&x=1.5&f=true&z=null&"
                     "o=%7B%22k%22%3A%5B1%2C%22%2F%22%5D%7D&%C3%A9%20k=");
    free(q);
    cJSON_Delete(in);
    ASSERT_EQ_INT(mae__http_query_build(NULL, &q), 0);
    ASSERT_EQ_STR(q, "");
    free(q);
    cJSON *arr = cJSON_Parse("[1,2]");
    ASSERT_EQ_INT(mae__http_query_build(arr, &q), MAE_EINVAL);
    ASSERT_NULL(q);
    cJSON_Delete(arr);
}

TEST(retry_after_seconds_and_dates) {
    time_t now = 1700000000;  /* Tue, 14 Nov 2023 22:13:20 GMT */
    mae__curl_api api;
    char err[256];
    ASSERT_EQ_INT(mae__curl_load(&api, err, sizeof err), 0);
    ASSERT_EQ_INT(mae__http_retry_after_ms("1", now, api.getdate), 1000);
    ASSERT_EQ_INT(mae__http_retry_after_ms(" 120 ", now, api.getdate), 120000);
    ASSERT_EQ_INT(mae__http_retry_after_ms("0", now, api.getdate), 0);
    ASSERT_EQ_INT(mae__http_retry_after_ms("Tue, 14 Nov 2023 22:13:25 GMT", now, api.getdate), 5000);
    ASSERT_EQ_INT(mae__http_retry_after_ms("Tuesday, 14-Nov-23 22:13:30 GMT", now, api.getdate), 10000);
    ASSERT_EQ_INT(mae__http_retry_after_ms("Tue, 14 Nov 2023 22:00:00 GMT", now, api.getdate), 0);  /* past */
    ASSERT_EQ_INT(mae__http_retry_after_ms("soon", now, api.getdate), -1);
    ASSERT_EQ_INT(mae__http_retry_after_ms("", now, api.getdate), -1);
    ASSERT_EQ_INT(mae__http_retry_after_ms("-5", now, api.getdate), -1);
    ASSERT_EQ_INT(mae__http_retry_after_ms(NULL, now, api.getdate), -1);
    /* Absurd values are capped, not overflowed. */
    ASSERT_EQ_INT(mae__http_retry_after_ms("99999999999999999999999999", now, api.getdate), 1000000000000LL);
    /* A date far in the future (found by fuzz_http_util): capped, no signed overflow. */
    ASSERT_EQ_INT(mae__http_retry_after_ms("Wed[1 Oct2050722220T", now, api.getdate), 1000000000000LL);
}

TEST(excerpt_is_bounded_and_printable) {
    char out[MAE_HTTP_EXCERPT_MAX + 4];
    mae__http_excerpt("bad\r\n\x01\xff", 7, out);
    ASSERT_EQ_STR(out, "bad....");
    char big[2000];
    memset(big, 'a', sizeof big);
    mae__http_excerpt(big, sizeof big, out);
    ASSERT_EQ_INT(strlen(out), MAE_HTTP_EXCERPT_MAX + 3);
    ASSERT_EQ_STR(out + MAE_HTTP_EXCERPT_MAX, "...");
    mae__http_excerpt("", 0, out);
    ASSERT_EQ_STR(out, "");
}

static char *out_text(const char *body, size_t len) {
    cJSON *v = NULL;
    ASSERT_EQ_INT(mae__http_body_to_output(body, len, false, &v, NULL), 0);
    if (!v) return strdup("(null)");
    char *s = cJSON_PrintUnformatted(v);
    cJSON_Delete(v);
    return s;
}

TEST(body_to_output_json_string_or_null) {
    char *s;
    s = out_text("{\"a\": [1, 2]} \r\n", 16);
    ASSERT_EQ_STR(s, "{\"a\":[1,2]}");
    free(s);
    s = out_text("hello", 5);
    ASSERT_EQ_STR(s, "\"hello\"");
    free(s);
    s = out_text("", 0);
    ASSERT_EQ_STR(s, "(null)");
    free(s);
    s = out_text("{\"a\":1} trailing", 16);  /* not one JSON text: kept as a string */
    ASSERT_EQ_STR(s, "\"{\\\"a\\\":1} trailing\"");
    free(s);
    s = out_text("{\"a\":1}\0x", 9);           /* a NUL must not end the JSON early */
    ASSERT_EQ_STR(s, "\"{\\\"a\\\":1}\xef\xbf\xbdx\"");
    free(s);
    s = out_text("ok\xff\xc3(\xe2\x82\xac", 8); /* invalid UTF-8 replaced, valid kept */
    ASSERT_EQ_STR(s, "\"ok\xef\xbf\xbd\xef\xbf\xbd(\xe2\x82\xac\"");
    free(s);
    s = out_text("42", 2);
    ASSERT_EQ_STR(s, "42");
    free(s);
}

TEST(body_declared_json_must_parse_and_nul_escapes_are_refused) {
    cJSON *v = NULL;
    const char *why = NULL;
    /* declared JSON that is not: decode, never a string */
    ASSERT_EQ_INT(mae__http_body_to_output("{\"a\":", 5, true, &v, &why), MAE_EPARSE);
    ASSERT_NULL(v);
    ASSERT_CONTAINS(why, "not valid JSON");
    /* \u0000 would cut the string: refused, declared or not */
    const char *nul = "{\"a\":\"x\\u0000y\"}";
    ASSERT_EQ_INT(mae__http_body_to_output(nul, strlen(nul), false, &v, &why), MAE_EPARSE);
    ASSERT_CONTAINS(why, "\\u0000");
    ASSERT_EQ_INT(mae__http_body_to_output(nul, strlen(nul), true, &v, &why), MAE_EPARSE);
    /* an escaped backslash then u0000 is text, not the escape */
    const char *lit = "{\"a\":\"x\\\\u0000\"}";
    ASSERT_EQ_INT(mae__http_body_to_output(lit, strlen(lit), true, &v, &why), 0);
    ASSERT_EQ_STR(cJSON_GetObjectItem(v, "a")->valuestring, "x\\u0000");
    cJSON_Delete(v);
    /* declared and valid: the value */
    ASSERT_EQ_INT(mae__http_body_to_output("[1]", 3, true, &v, &why), 0);
    ASSERT_TRUE(cJSON_IsArray(v));
    cJSON_Delete(v);
}

TEST(header_path_and_verb_checks) {
    ASSERT_TRUE(mae__header_value_ok("plain value; with stuff"));
    ASSERT_FALSE(mae__header_value_ok("a\r\nX-Evil: 1"));
    ASSERT_FALSE(mae__header_value_ok("a\nb"));
    ASSERT_FALSE(mae__header_value_ok(NULL));
    ASSERT_TRUE(mae__header_name_ok("X-Tenant_1"));
    ASSERT_FALSE(mae__header_name_ok("X Tenant"));
    ASSERT_FALSE(mae__header_name_ok("X:T"));
    ASSERT_FALSE(mae__header_name_ok(""));
    ASSERT_TRUE(mae__http_path_ok("/a/b%2Fc?x=1&y=%20"));
    ASSERT_FALSE(mae__http_path_ok("a/b"));
    ASSERT_FALSE(mae__http_path_ok("/a b"));
    ASSERT_FALSE(mae__http_path_ok("/a#frag"));
    ASSERT_FALSE(mae__http_path_ok("/a\r\n"));
    ASSERT_FALSE(mae__http_path_ok("/\xc3\xa9"));
    ASSERT_TRUE(mae__http_verb_ok("PATCH"));
    ASSERT_FALSE(mae__http_verb_ok("get"));
    ASSERT_FALSE(mae__http_verb_ok("GET /x"));
    ASSERT_FALSE(mae__http_verb_ok(""));
}

TEST(failure_classes) {
    ASSERT_EQ_INT(mae__http_status_class(400), MAE_CLASS_HTTP_4XX);
    ASSERT_EQ_INT(mae__http_status_class(429), MAE_CLASS_HTTP_4XX);
    ASSERT_EQ_INT(mae__http_status_class(302), MAE_CLASS_HTTP_4XX);
    ASSERT_EQ_INT(mae__http_status_class(503), MAE_CLASS_HTTP_5XX);
    ASSERT_EQ_INT(mae__http_status_class(600), MAE_CLASS_DECODE);
    ASSERT_EQ_INT(mae__http_curl_class(CURLE_COULDNT_CONNECT), MAE_CLASS_CONNECT);
    ASSERT_EQ_INT(mae__http_curl_class(CURLE_COULDNT_RESOLVE_HOST), MAE_CLASS_CONNECT);
    ASSERT_EQ_INT(mae__http_curl_class(CURLE_RECV_ERROR), MAE_CLASS_CONNECT);
    ASSERT_EQ_INT(mae__http_curl_class(CURLE_GOT_NOTHING), MAE_CLASS_CONNECT);
    ASSERT_EQ_INT(mae__http_curl_class(CURLE_PARTIAL_FILE), MAE_CLASS_CONNECT);
    ASSERT_EQ_INT(mae__http_curl_class(CURLE_OPERATION_TIMEDOUT), MAE_CLASS_TIMEOUT);
    ASSERT_EQ_INT(mae__http_curl_class(CURLE_WRITE_ERROR), MAE_CLASS_DECODE);
    ASSERT_EQ_INT(mae__http_curl_class(CURLE_URL_MALFORMAT), MAE_CLASS_TEMPLATE);
}

TEST(curl_resolves_names_off_the_loop_thread) {
    /* The threaded resolver: name lookups never block the loop. */
    mae__curl_api api;   /* libcurl is loaded on first use (curl_dl.h) */
    char err[256];
    ASSERT_EQ_INT(mae__curl_load(&api, err, sizeof err), 0);
    const curl_version_info_data *vi = api.version_info(CURLVERSION_NOW);
    ASSERT_TRUE(vi->features & CURL_VERSION_ASYNCHDNS);
    ASSERT_TRUE(vi->features & CURL_VERSION_HTTP2);
}
