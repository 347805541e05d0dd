/* Integration tests of the HTTP transport against a real Python HTTP/1.1 server on loopback
 * (tests/servers/http_echo.py): request mapping, results and failure classes, deadlines,
 * bounded bodies and pooling. Lifecycle (cancel, close, re-entrancy) is in test_http_life.c. */
#include "http_fx.h"

/* How many times the echo server saw a header name (its "names" list keeps repeats). */
static int name_count(const cJSON *echo, const char *name) {
    int n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(echo, "names"))
        if (cJSON_IsString(it) && strcmp(it->valuestring, name) == 0) n++;
    return n;
}

TEST(get_sends_input_as_query_and_the_maestro_headers) {
    fx f;
    fx_start(&f);
    mae_header_kv hs[] = {{"X-Tenant", "acme"}, {"X-Empty", ""}};
    cJSON *in = cJSON_Parse("{\"q\":\"a b&c\",\"n\":3,\"f\":true,\"o\":{\"x\":[1,2]}}");
    mae_call_req req = fx_req(&f, "GET", "/echo/items", in);
    req.headers = hs;
    req.n_headers = 2;
    got g;
    call1(&f, &req, &g);
    cJSON_Delete(in);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    ASSERT_EQ_INT(g.status, 200);
    ASSERT_TRUE(g.sent);
    ASSERT_EQ_INT(g.retry_after_ms, -1);
    ASSERT_EQ_STR(jstr(g.out, "method"), "GET");
    ASSERT_EQ_STR(jstr(g.out, "target"),
                  "/echo/items?q=a%20b%26c&n=3&f=true&o=%7B%22x%22%3A%5B1%2C2%5D%7D");
    ASSERT_EQ_STR(jstr(g.out, "body"), "");
    cJSON *h = cJSON_GetObjectItem(g.out, "headers");
    ASSERT_EQ_STR(jstr(h, "idempotency-key"), "run-1:step-a");
    ASSERT_EQ_STR(jstr(h, "x-maestro-run-id"), "run-1");
    ASSERT_EQ_STR(jstr(h, "x-maestro-step-id"), "step-a");
    ASSERT_EQ_STR(jstr(h, "traceparent"), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    ASSERT_EQ_STR(jstr(h, "user-agent"), "maestro/" MAE_VERSION);
    ASSERT_EQ_STR(jstr(h, "accept"), "application/json");
    ASSERT_EQ_STR(jstr(h, "x-tenant"), "acme");
    ASSERT_EQ_STR(jstr(h, "x-empty"), "");
    ASSERT_NULL(jstr(h, "content-type"));
    /* curl's decoders offered once (our line; curl's own is not added as well) */
    ASSERT_TRUE(jstr(h, "accept-encoding") && strstr(jstr(h, "accept-encoding"), "deflate, gzip"));
    ASSERT_EQ_INT(name_count(g.out, "accept-encoding"), 1);
    ASSERT_EQ_INT(name_count(g.out, "accept"), 1);
    ASSERT_EQ_INT(name_count(g.out, "user-agent"), 1);
    cJSON_Delete(g.out);

    /* a service's Accept-Encoding replaces ours */
    mae_header_kv ae[] = {{"Accept-Encoding", "identity"}};
    req = fx_req(&f, "GET", "/echo/ae", NULL);
    req.headers = ae;
    req.n_headers = 1;
    call1(&f, &req, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    h = cJSON_GetObjectItem(g.out, "headers");
    ASSERT_EQ_STR(jstr(h, "accept-encoding"), "identity");
    ASSERT_EQ_INT(name_count(g.out, "accept-encoding"), 1);
    cJSON_Delete(g.out);
    fx_end(&f);
}

TEST(post_put_patch_send_json_bodies_without_expect) {
    fx f;
    fx_start(&f);
    /* 2 MB: past the size where curl would otherwise send Expect: 100-continue. */
    size_t big = 2u << 20;
    char *blob = malloc(big + 1);
    memset(blob, 'z', big);
    blob[big] = 0;
    cJSON *in = cJSON_CreateObject();
    cJSON_AddStringToObject(in, "name", "caf\xc3\xa9");
    cJSON_AddStringToObject(in, "blob", blob);
    mae_call_req req = fx_req(&f, "POST", "/echo", in);
    got g;
    call1(&f, &req, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    ASSERT_EQ_STR(jstr(g.out, "method"), "POST");
    char *want = cJSON_PrintUnformatted(in);
    ASSERT_TRUE(strcmp(jstr(g.out, "body"), want) == 0);
    free(want);
    cJSON *h = cJSON_GetObjectItem(g.out, "headers");
    ASSERT_EQ_STR(jstr(h, "content-type"), "application/json");
    ASSERT_NULL(jstr(h, "expect"));
    cJSON_Delete(g.out);
    cJSON_Delete(in);
    free(blob);

    cJSON *small = cJSON_Parse("{\"a\":[1,{\"b\":null}]}");
    req = fx_req(&f, "PUT", "/echo/x", small);
    call1(&f, &req, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    ASSERT_EQ_STR(jstr(g.out, "method"), "PUT");
    ASSERT_EQ_STR(jstr(g.out, "body"), "{\"a\":[1,{\"b\":null}]}");
    cJSON_Delete(g.out);
    cJSON_Delete(small);

    req = fx_req(&f, "PATCH", "/echo/y", NULL);  /* no input: "{}" */
    call1(&f, &req, &g);
    ASSERT_EQ_STR(jstr(g.out, "method"), "PATCH");
    ASSERT_EQ_STR(jstr(g.out, "body"), "{}");
    ASSERT_EQ_STR(jstr(cJSON_GetObjectItem(g.out, "headers"), "content-type"), "application/json");
    cJSON_Delete(g.out);
    fx_end(&f);
}

TEST(delete_uses_query_and_head_has_no_output) {
    fx f;
    fx_start(&f);
    cJSON *in = cJSON_Parse("{\"id\":\"7/8\"}");
    mae_call_req req = fx_req(&f, "DELETE", "/echo/things?force=1", in);
    got g;
    call1(&f, &req, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    ASSERT_EQ_STR(jstr(g.out, "method"), "DELETE");
    ASSERT_EQ_STR(jstr(g.out, "target"), "/echo/things?force=1&id=7%2F8");
    cJSON_Delete(g.out);
    cJSON_Delete(in);
    req = fx_req(&f, "HEAD", "/echo", NULL);
    call1(&f, &req, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    ASSERT_EQ_INT(g.status, 200);
    ASSERT_NULL(g.out);
    fx_end(&f);
}

/* The engine hands the transport the target and the scope; the transport renders the path,
 * each substituted value percent-encoded as one segment ("a/b" stays one, ".." is no dot
 * segment), and a value that cannot render refuses the call as a template error, unsent. */
TEST(the_transport_renders_a_templated_path_in_the_given_scope) {
    fx f;
    fx_start(&f);
    cJSON *vars = cJSON_Parse("{\"input\":{\"id\":\"a/b c\",\"up\":\"..\"}}");
    mae_scope scope = {.vars = vars};
    mae_call_req req = fx_req(&f, "GET", "/echo/{{ .input.id }}/{{ .input.up }}/x", NULL);
    req.scope = &scope;
    got g;
    call1(&f, &req, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    ASSERT_EQ_STR(jstr(g.out, "target"), "/echo/a%2Fb%20c/%2E%2E/x");
    cJSON_Delete(g.out);
    req = fx_req(&f, "GET", "/echo/{{ .input.missing }}", NULL);
    req.scope = &scope;
    call1(&f, &req, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_TEMPLATE);
    ASSERT_FALSE(g.sent);
    ASSERT_CONTAINS(g.msg, "path: ");
    cJSON_Delete(vars);
    fx_end(&f);
}

TEST(encoded_path_arrives_verbatim_under_the_base_path) {
    fx f;
    fx_start(&f);
    /* The endpoint has a base path and a trailing slash; a value holding "/ ? # %" and a
     * ".." segment, already percent-encoded in the method, must arrive exactly so. */
    snprintf(f.ep, sizeof f.ep, "http://127.0.0.1:%d/echo/base/", f.srv.port);
    mae_call_req req = fx_req(&f, "GET", "/items/a%2Fb%3Fc%23d%25e/%2E%2E/x", NULL);
    got g;
    call1(&f, &req, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    ASSERT_EQ_STR(jstr(g.out, "target"), "/echo/base/items/a%2Fb%3Fc%23d%25e/%2E%2E/x");
    cJSON_Delete(g.out);
    /* Literal dot segments are sent as is too (no client-side squashing). */
    req = fx_req(&f, "GET", "/a/../b", NULL);
    call1(&f, &req, &g);
    ASSERT_EQ_STR(jstr(g.out, "target"), "/echo/base/a/../b");
    cJSON_Delete(g.out);
    fx_end(&f);
}

TEST(non_json_empty_and_no_content_bodies) {
    fx f;
    fx_start(&f);
    got g;
    mae_call_req req = fx_req(&f, "GET", "/text", NULL);
    call1(&f, &req, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    ASSERT_TRUE(cJSON_IsString(g.out));
    ASSERT_EQ_STR(g.out->valuestring, "hello, world");
    cJSON_Delete(g.out);
    req = fx_req(&f, "GET", "/json-ws", NULL);
    call1(&f, &req, &g);
    ASSERT_TRUE(cJSON_IsObject(g.out));
    ASSERT_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(g.out, "a")), 2);
    cJSON_Delete(g.out);
    req = fx_req(&f, "GET", "/empty", NULL);
    call1(&f, &req, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    ASSERT_EQ_INT(g.status, 200);
    ASSERT_NULL(g.out);
    req = fx_req(&f, "POST", "/nocontent", NULL);
    call1(&f, &req, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    ASSERT_EQ_INT(g.status, 204);
    ASSERT_NULL(g.out);
    fx_end(&f);
}

TEST(status_503_with_retry_after_seconds) {
    fx f;
    fx_start(&f);
    got g;
    mae_call_req req = fx_req(&f, "POST", "/status/503?ra=1", NULL);
    call1(&f, &req, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_HTTP_5XX);
    ASSERT_EQ_INT(g.status, 503);
    ASSERT_EQ_INT(g.retry_after_ms, 1000);
    ASSERT_TRUE(g.sent);
    ASSERT_NULL(g.out);
    ASSERT_EQ_STR(g.msg, "HTTP 503: {\"error\": \"status 503\"}");
    fx_end(&f);
}

TEST(retry_after_as_http_date) {
    fx f;
    fx_start(&f);
    char date[64], path[160];
    time_t when = time(NULL) + 5;
    strftime(date, sizeof date, "%a,%%20%d%%20%b%%20%Y%%20%H:%M:%S%%20GMT", gmtime(&when));
    snprintf(path, sizeof path, "/status/429?ra=%s", date);
    got g;
    mae_call_req req = fx_req(&f, "GET", path, NULL);
    call1(&f, &req, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_HTTP_4XX);
    ASSERT_EQ_INT(g.status, 429);
    /* Whole seconds: 5 s ahead when sent, 3 to 5 s left when the answer is read. */
    ASSERT_CMP_INT(g.retry_after_ms, >=, 3000);
    ASSERT_CMP_INT(g.retry_after_ms, <=, 5000);
    fx_end(&f);
}

TEST(status_400_keeps_a_printable_bounded_excerpt) {
    fx f;
    fx_start(&f);
    char path[1200];
    /* 600 bytes of body with a control character (%01) near the start. */
    int n = snprintf(path, sizeof path, "/status/400?body=bad%%01field");
    for (int i = 0; i < 600; i++) path[n++] = 'x';
    path[n] = 0;
    got g;
    mae_call_req req = fx_req(&f, "PUT", path, NULL);
    call1(&f, &req, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_HTTP_4XX);
    ASSERT_EQ_INT(g.status, 400);
    ASSERT_EQ_INT(g.retry_after_ms, -1);
    ASSERT_CONTAINS(g.msg, "HTTP 400: bad.fieldxxx");
    ASSERT_EQ_INT(strlen(g.msg), strlen("HTTP 400: ") + 512 + 3);
    ASSERT_EQ_STR(g.msg + strlen(g.msg) - 4, "x...");
    fx_end(&f);
}

static int free_port(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    ASSERT_EQ_INT(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    ASSERT_EQ_INT(getsockname(s, (struct sockaddr *)&a, &l), 0);
    close(s);
    return ntohs(a.sin_port);
}

TEST(connection_refused_is_connect_and_not_sent) {
    fx f;
    memset(&f, 0, sizeof f);
    ASSERT_EQ_INT(uv_loop_init(&f.loop), 0);
    ASSERT_EQ_INT(mae_http_transport_new(&f.loop, &f.t), 0);
    snprintf(f.ep, sizeof f.ep, "http://127.0.0.1:%d", free_port());
    f.svc = (mae_svc_cfg){.name = "gone", .type = "http", .endpoint = f.ep,
                          .pool_connections = 2};
    got g;
    mae_call_req req = fx_req(&f, "POST", "/x", NULL);
    call1(&f, &req, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_CONNECT);
    ASSERT_EQ_INT(g.status, 0);
    ASSERT_FALSE(g.sent);
    ASSERT_TRUE(g.msg[0] != 0);
    ASSERT_EQ_INT(fx_stats(f.t).internal_errors, 0);
    printf("  poll errors passed to curl: %d\n", fx_stats(f.t).poll_errors);
    fx_end(&f);
}

TEST(silent_server_times_out_at_the_attempt_deadline) {
    fx f;
    fx_start(&f);
    got g;
    mae_call_req req = fx_req(&f, "GET", "/hang", NULL);
    req.timeout_ms = 700;
    uint64_t t0 = uv_hrtime();
    call1(&f, &req, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_TIMEOUT);
    ASSERT_TRUE(g.sent);
    ASSERT_CMP_INT((g.at_ns - t0) / 1000000, >=, 700);
    fx_end(&f);
}

TEST(reset_in_the_middle_of_a_body_is_connect) {
    fx f;
    fx_start(&f);
    got g;
    mae_call_req req = fx_req(&f, "GET", "/reset", NULL);
    call1(&f, &req, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_CONNECT);
    ASSERT_TRUE(g.sent);
    ASSERT_NULL(g.out);
    fx_end(&f);
}

TEST(endless_body_is_cut_at_max_response) {
    fx f;
    fx_start(&f);
    f.svc.max_response = 256 * 1024;
    got g;
    mae_call_req req = fx_req(&f, "GET", "/endless", NULL);
    call1(&f, &req, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_DECODE);
    ASSERT_EQ_STR(g.msg, "response exceeds max_response (262144 bytes)");
    ASSERT_NULL(g.out);
    /* A declared Content-Length past the cap is refused the same way. */
    req = fx_req(&f, "GET", "/bigcl", NULL);
    call1(&f, &req, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_DECODE);
    ASSERT_EQ_STR(g.msg, "response exceeds max_response (262144 bytes)");
    fx_end(&f);
}

TEST(refused_before_sending_is_classified_and_async) {
    fx f;
    fx_start(&f);
    got g;
    mae_header_kv bad[] = {{"X-Ok", "fine"}, {"X-Inject", "a\r\nX-Evil: 1"}};
    mae_call_req req = fx_req(&f, "GET", "/echo", NULL);
    req.headers = bad;
    req.n_headers = 2;
    call1(&f, &req, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_TEMPLATE);
    ASSERT_FALSE(g.sent);
    ASSERT_CONTAINS(g.msg, "X-Inject");
    mae_header_kv reserved[] = {{"Idempotency-Key", "mine"}};
    req.headers = reserved;
    req.n_headers = 1;
    call1(&f, &req, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_TEMPLATE);
    ASSERT_CONTAINS(g.msg, "set by maestro");
    req = fx_req(&f, "GET", "/echo", NULL);
    req.run_id = "run\n1";
    call1(&f, &req, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_TEMPLATE);
    cJSON *arr = cJSON_Parse("[1]");
    req = fx_req(&f, "GET", "/echo", arr);
    call1(&f, &req, &g);
    cJSON_Delete(arr);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_TEMPLATE);
    ASSERT_CONTAINS(g.msg, "JSON object");
    /* A blank in the path or a lower-case verb never becomes a target. */
    ASSERT_NULL(fx_http_target(&f, "GET", "/a b"));
    ASSERT_NULL(fx_http_target(&f, "get", "/echo"));
    /* None of them reached the server: it has seen no connection at all. */
    req = fx_req(&f, "GET", "/stats", NULL);
    call1(&f, &req, &g);
    ASSERT_EQ_INT(cJSON_GetObjectItem(g.out, "accepted")->valueint, 1);
    cJSON_Delete(g.out);
    fx_end(&f);
}

#define N_CONC 200
static got conc[N_CONC];
static int conc_done;
static void on_conc(mae_call_result *r, void *ud) {
    on_result(r, ud);
    conc_done++;
}

TEST(two_hundred_concurrent_calls_share_five_connections) {
    fx f;
    fx_start(&f);
    f.svc.pool_connections = 5;
    mae_call_req req = fx_req(&f, "GET", "/work", NULL);
    for (int i = 0; i < N_CONC; i++) {
        mae_call *c;
        ASSERT_EQ_INT(mae_transport_start(f.t, &req, on_conc, &conc[i], &c), 0);
    }
    ASSERT_EQ_INT(conc_done, 0);
    wait_for(&f, &conc_done, N_CONC);
    for (int i = 0; i < N_CONC; i++) {
        ASSERT_EQ_INT(conc[i].called, 1);
        ASSERT_EQ_INT(conc[i].cls, MAE_CLASS_NONE);
        ASSERT_TRUE(cJSON_IsTrue(cJSON_GetObjectItem(conc[i].out, "ok")));
        cJSON_Delete(conc[i].out);
    }
    got g;
    req = fx_req(&f, "GET", "/stats", NULL);
    call1(&f, &req, &g);
    ASSERT_EQ_INT(cJSON_GetObjectItem(g.out, "work_requests")->valueint, N_CONC);
    int conns = cJSON_GetObjectItem(g.out, "work_conns")->valueint;
    ASSERT_CMP_INT(conns, >=, 1);
    ASSERT_CMP_INT(conns, <=, 5);
    ASSERT_CMP_INT(cJSON_GetObjectItem(g.out, "accepted")->valueint, <=, 5);
    cJSON_Delete(g.out);
    ASSERT_EQ_INT(fx_stats(f.t).pools, 1);
    ASSERT_EQ_INT(fx_stats(f.t).internal_errors, 0);
    fx_end(&f);
}

TEST(one_pool_per_service) {
    fx f;
    fx_start(&f);
    mae_svc_cfg other = f.svc;
    other.name = "other";
    got g;
    mae_call_req req = fx_req(&f, "GET", "/empty", NULL);
    call1(&f, &req, &g);
    req.service = &other;
    call1(&f, &req, &g);
    call1(&f, &req, &g);
    ASSERT_EQ_INT(fx_stats(f.t).pools, 2);
    fx_end(&f);
}

TEST(error_body_larger_than_the_excerpt_keeps_its_status) {
    fx f;
    fx_start(&f);
    char path[9000];
    int n = snprintf(path, sizeof path, "/status/502?body=");
    for (int i = 0; i < 8000; i++) path[n++] = 'e';
    path[n] = 0;
    got g;
    mae_call_req req = fx_req(&f, "GET", path, NULL);
    call1(&f, &req, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_HTTP_5XX);
    ASSERT_EQ_INT(g.status, 502);
    ASSERT_EQ_INT(strlen(g.msg), strlen("HTTP 502: ") + 512 + 3);
    /* Past max_response, even an error's body is cut. */
    f.svc.max_response = 4096;
    call1(&f, &req, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_DECODE);
    ASSERT_EQ_STR(g.msg, "response exceeds max_response (4096 bytes)");
    fx_end(&f);
}

TEST(a_host_name_is_resolved_without_blocking_the_loop) {
    /* "localhost" goes through curl's threaded resolver (AsynchDNS), then to loopback. */
    fx f;
    fx_start(&f);
    snprintf(f.ep, sizeof f.ep, "http://localhost:%d", f.srv.port);
    got g;
    mae_call_req req = fx_req(&f, "GET", "/text", NULL);
    call1(&f, &req, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    ASSERT_EQ_STR(g.out->valuestring, "hello, world");
    cJSON_Delete(g.out);
    fx_end(&f);
}


/* Easy handles are reused between calls of one service (with curl >= 7.80 without a reset:
 * each call sets only its own options): each call must be sent exactly as asked, with nothing
 * left over from the previous one (headers, body, verb, NOBODY, the custom method, the
 * timeout), and its result must be its own. */
TEST(consecutive_calls_on_one_reused_handle_are_each_sent_as_asked) {
    fx f;
    fx_start(&f);
    got g;
    mae_header_kv ha[] = {{"X-A", "1"}};
    cJSON *in1 = cJSON_Parse("{\"n\":1}");
    mae_call_req req = fx_req(&f, "POST", "/echo/a", in1);
    req.headers = ha;
    req.n_headers = 1;
    call1(&f, &req, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    ASSERT_EQ_STR(jstr(g.out, "method"), "POST");
    ASSERT_EQ_STR(jstr(g.out, "target"), "/echo/a");
    ASSERT_EQ_STR(jstr(g.out, "body"), "{\"n\":1}");
    cJSON *h = cJSON_GetObjectItem(g.out, "headers");
    ASSERT_EQ_STR(jstr(h, "x-a"), "1");
    ASSERT_EQ_STR(jstr(h, "content-type"), "application/json");
    cJSON_Delete(g.out);
    cJSON_Delete(in1);

    mae_header_kv hb[] = {{"X-B", "2"}};
    cJSON *in2 = cJSON_Parse("{\"q\":\"z\"}");
    req = fx_req(&f, "GET", "/echo/b", in2);
    req.headers = hb;
    req.n_headers = 1;
    req.idempotency_key = "run-1:step-b";
    call1(&f, &req, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    ASSERT_EQ_STR(jstr(g.out, "method"), "GET");
    ASSERT_EQ_STR(jstr(g.out, "target"), "/echo/b?q=z");
    ASSERT_EQ_STR(jstr(g.out, "body"), "");
    h = cJSON_GetObjectItem(g.out, "headers");
    ASSERT_NULL(jstr(h, "x-a"));
    ASSERT_EQ_STR(jstr(h, "x-b"), "2");
    ASSERT_EQ_STR(jstr(h, "idempotency-key"), "run-1:step-b");
    ASSERT_NULL(jstr(h, "content-type"));
    ASSERT_NULL(jstr(h, "content-length"));
    cJSON_Delete(g.out);
    cJSON_Delete(in2);

    req = fx_req(&f, "HEAD", "/echo/h", NULL);
    call1(&f, &req, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    ASSERT_EQ_INT(g.status, 200);
    ASSERT_NULL(g.out);

    cJSON *in3 = cJSON_Parse("{\"m\":[2]}");
    req = fx_req(&f, "PUT", "/echo/c", in3);
    call1(&f, &req, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    ASSERT_EQ_STR(jstr(g.out, "method"), "PUT");  /* neither HEAD's NOBODY nor GET left over */
    ASSERT_EQ_STR(jstr(g.out, "body"), "{\"m\":[2]}");
    h = cJSON_GetObjectItem(g.out, "headers");
    ASSERT_NULL(jstr(h, "x-a"));
    ASSERT_NULL(jstr(h, "x-b"));
    cJSON_Delete(g.out);
    cJSON_Delete(in3);

    req = fx_req(&f, "DELETE", "/echo/d", NULL);
    call1(&f, &req, &g);
    ASSERT_EQ_STR(jstr(g.out, "method"), "DELETE");
    ASSERT_EQ_STR(jstr(g.out, "target"), "/echo/d");
    ASSERT_EQ_STR(jstr(g.out, "body"), "");
    cJSON_Delete(g.out);

    /* after a custom method (DELETE) and a body (PUT): a plain GET, no body, no length */
    req = fx_req(&f, "GET", "/echo/f", NULL);
    call1(&f, &req, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    ASSERT_EQ_STR(jstr(g.out, "method"), "GET");
    ASSERT_EQ_STR(jstr(g.out, "body"), "");
    h = cJSON_GetObjectItem(g.out, "headers");
    ASSERT_NULL(jstr(h, "content-length"));
    ASSERT_NULL(jstr(h, "content-type"));
    ASSERT_NULL(jstr(h, "transfer-encoding"));
    cJSON_Delete(g.out);

    /* A body past curl's Expect threshold (1 MiB) still goes without Expect: 100-continue. */
    size_t big_n = (3u << 19) + 7;
    char *big = malloc(big_n + 1);
    ASSERT_NOT_NULL(big);
    memset(big, 'b', big_n);
    big[big_n] = 0;
    cJSON *in5 = cJSON_CreateObject();
    cJSON_AddStringToObject(in5, "s", big);
    req = fx_req(&f, "POST", "/echo/big", in5);
    call1(&f, &req, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    ASSERT_EQ_STR(jstr(g.out, "method"), "POST");
    h = cJSON_GetObjectItem(g.out, "headers");
    ASSERT_NULL(jstr(h, "expect"));
    ASSERT_TRUE(jstr(g.out, "body") && strlen(jstr(g.out, "body")) == big_n + 8);
    cJSON_Delete(g.out);
    cJSON_Delete(in5);
    free(big);

    req = fx_req(&f, "GET", "/status/404", NULL);
    call1(&f, &req, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_HTTP_4XX);
    ASSERT_EQ_INT(g.status, 404);
    ASSERT_TRUE(strncmp(g.msg, "HTTP 404", 8) == 0);

    /* A transfer cut by its 10 ms timeout, then a call without any timeout that takes 20 ms:
     * the old timeout must not cut it. */
    req = fx_req(&f, "POST", "/hang", NULL);
    req.timeout_ms = 10;
    call1(&f, &req, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_TIMEOUT);
    f.svc.timeout_ms = 0;
    req = fx_req(&f, "GET", "/work", NULL);
    req.timeout_ms = 0;
    call1(&f, &req, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    ASSERT_EQ_INT(g.status, 200);
    ASSERT_EQ_STR(g.msg, "");
    cJSON_Delete(g.out);

    cJSON *in4 = cJSON_Parse("{\"last\":true}");
    req = fx_req(&f, "POST", "/echo/e", in4);
    call1(&f, &req, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    ASSERT_EQ_STR(jstr(g.out, "method"), "POST");
    ASSERT_EQ_STR(jstr(g.out, "body"), "{\"last\":true}");
    cJSON_Delete(g.out);
    cJSON_Delete(in4);

    /* One call at a time: every call above ran on the one handle the first call created. */
    ASSERT_EQ_INT(fx_stats(f.t).handles_created, 1);
    fx_end(&f);
}
