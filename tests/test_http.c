/* Integration tests of the HTTP transport against a real Python HTTP/1.1 server on loopback
 * (tests/servers/http_echo.py): request mapping, results and failure classes, deadlines,
 * bounded bodies, pooling, cancellation and shutdown. Each test drives the transport on its
 * own uv loop, counts callbacks, closes the transport and asserts uv_loop_close() == 0. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "harness.h"
#include "maestro.h"
#include "transports/http.h"

typedef struct got {
    int called;
    mae_class cls;
    int status;
    cJSON *out;
    char msg[2048];
    int64_t retry_after_ms;
    bool sent;
    uint64_t at_ns;          /* uv_hrtime() when the callback ran */
} got;

static void on_result(mae_call_result *r, void *ud) {
    got *g = ud;
    g->called++;
    g->cls = r->cls;
    g->status = r->status;
    g->out = r->output;      /* ours now */
    snprintf(g->msg, sizeof g->msg, "%s", r->message ? r->message : "");
    g->retry_after_ms = r->retry_after_ms;
    g->sent = r->sent;
    g->at_ns = uv_hrtime();
}

typedef struct fx {
    uv_loop_t loop;
    mae_transport *t;
    th_proc srv;
    mae_service svc;
    char ep[128];
    int closed;
} fx;

static void fx_start(fx *f) {
    memset(f, 0, sizeof *f);
    char *argv[] = {TH_PYTHON, (char *)th_path("tests/servers/http_echo.py"), NULL};
    ASSERT_EQ_INT(th_spawn(&f->srv, argv, 20), 0);
    snprintf(f->ep, sizeof f->ep, "http://127.0.0.1:%d", f->srv.port);
    ASSERT_EQ_INT(uv_loop_init(&f->loop), 0);
    ASSERT_EQ_INT(mae_http_transport_new(&f->loop, &f->t), 0);
    f->svc.name = "svc";
    f->svc.type = MAE_SVC_HTTP;
    f->svc.endpoint = f->ep;
    f->svc.timeout_ms = 20000;
    f->svc.pool_connections = 5;
    f->svc.max_response = 16u << 20;
}

static mae_call_req fx_req(fx *f, const char *verb, const char *path, const cJSON *input) {
    return (mae_call_req){
        .service = &f->svc, .method = verb, .path = path, .input = input,
        .timeout_ms = 20000, .run_id = "run-1", .step_id = "step-a",
        .idempotency_key = "run-1:step-a",
        .traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    };
}

static void wait_for(fx *f, const int *counter, int n) {
    while (*counter < n) uv_run(&f->loop, UV_RUN_ONCE);
}

static void on_closed(void *ud) { ((fx *)ud)->closed++; }

static void fx_end(fx *f) {
    f->t->vt->close(f->t, on_closed, f);
    ASSERT_EQ_INT(f->closed, 0);          /* done runs from the loop, not from close() */
    uv_run(&f->loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(f->closed, 1);
    ASSERT_EQ_INT(uv_loop_close(&f->loop), 0);
    if (f->srv.pid) th_stop(&f->srv);
}

/* One call, waited for; the callback never comes from inside start(). */
static void call1(fx *f, const mae_call_req *req, got *g) {
    mae_call *c = NULL;
    memset(g, 0, sizeof *g);
    ASSERT_EQ_INT(mae_transport_start(f->t, req, on_result, g, &c), 0);
    ASSERT_NOT_NULL(c);
    ASSERT_EQ_INT(g->called, 0);
    wait_for(f, &g->called, 1);
    ASSERT_EQ_INT(g->called, 1);
}

static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
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

TEST(encoded_path_arrives_verbatim_under_the_base_path) {
    fx f;
    fx_start(&f);
    /* The endpoint has a base path and a trailing slash; a value holding "/ ? # %" and a
     * ".." segment were percent-encoded by the engine and must arrive exactly so. */
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
    f.svc = (mae_service){.name = "gone", .type = MAE_SVC_HTTP, .endpoint = f.ep,
                          .pool_connections = 2};
    got g;
    mae_call_req req = fx_req(&f, "POST", "/x", NULL);
    call1(&f, &req, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_CONNECT);
    ASSERT_EQ_INT(g.status, 0);
    ASSERT_FALSE(g.sent);
    ASSERT_TRUE(g.msg[0] != 0);
    ASSERT_EQ_INT(mae_http_transport_glue_errors(f.t), 0);
    printf("  poll errors passed to curl: %d\n", mae_http_transport_poll_errors(f.t));
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
    req = fx_req(&f, "GET", "/a b", NULL);
    call1(&f, &req, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_TEMPLATE);
    req = fx_req(&f, "get", "/echo", NULL);
    call1(&f, &req, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_TEMPLATE);
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
    ASSERT_EQ_INT(mae_http_transport_pools(f.t), 1);
    ASSERT_EQ_INT(mae_http_transport_glue_errors(f.t), 0);
    fx_end(&f);
}

typedef struct cancel_ctx {
    fx *f;
    mae_call *call;
    got *g;
    int fired;
} cancel_ctx;

static void on_cancel_timer(uv_timer_t *t) {
    cancel_ctx *cc = t->data;
    /* Wait (by callback count, not by time) until part of the body has arrived. */
    if (mae_http_call_received(cc->call) == 0) return;
    cc->fired++;
    mae_transport_cancel(cc->f->t, cc->call);
    /* The CANCELLED result comes later, never from inside cancel(). */
    ASSERT_EQ_INT(cc->g->called, 0);
    uv_close((uv_handle_t *)t, NULL);
}

TEST(cancel_mid_transfer_delivers_cancelled_and_frees_everything) {
    fx f;
    fx_start(&f);
    got g = {0};
    mae_call_req req = fx_req(&f, "GET", "/slow", NULL);
    mae_call *c;
    ASSERT_EQ_INT(mae_transport_start(f.t, &req, on_result, &g, &c), 0);
    /* The server sends headers and 1000 bytes at once, then stalls for 30 s: once bytes
     * have arrived the transfer is in the middle of the body. */
    uv_timer_t tm;
    cancel_ctx cc = {&f, c, &g, 0};
    uv_timer_init(&f.loop, &tm);
    tm.data = &cc;
    uv_timer_start(&tm, on_cancel_timer, 10, 10);
    wait_for(&f, &g.called, 1);
    ASSERT_EQ_INT(cc.fired, 1);
    ASSERT_EQ_INT(g.called, 1);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_CANCELLED);
    ASSERT_TRUE(g.sent);
    ASSERT_NULL(g.out);

    /* Cancelled before the loop ever ran: not sent, still asynchronous. */
    got g2 = {0};
    ASSERT_EQ_INT(mae_transport_start(f.t, &req, on_result, &g2, &c), 0);
    mae_transport_cancel(f.t, c);
    ASSERT_EQ_INT(g2.called, 0);
    wait_for(&f, &g2.called, 1);
    ASSERT_EQ_INT(g2.cls, MAE_CLASS_CANCELLED);
    ASSERT_FALSE(g2.sent);
    /* The pool still works after both. */
    got g3;
    req = fx_req(&f, "GET", "/text", NULL);
    call1(&f, &req, &g3);
    ASSERT_EQ_INT(g3.cls, MAE_CLASS_NONE);
    cJSON_Delete(g3.out);
    uv_run(&f.loop, UV_RUN_NOWAIT);
    ASSERT_EQ_INT(g.called + g2.called, 2);
    fx_end(&f);
}

TEST(close_cancels_calls_in_flight_once_each) {
    fx f;
    fx_start(&f);
    got gs[3] = {{0}};
    mae_call_req req = fx_req(&f, "GET", "/hang", NULL);
    for (int i = 0; i < 3; i++) {
        mae_call *c;
        ASSERT_EQ_INT(mae_transport_start(f.t, &req, on_result, &gs[i], &c), 0);
    }
    /* Let them connect and send. */
    for (int i = 0; i < 20; i++) uv_run(&f.loop, UV_RUN_NOWAIT);
    f.t->vt->close(f.t, on_closed, &f);
    for (int i = 0; i < 3; i++) ASSERT_EQ_INT(gs[i].called, 0);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ_INT(gs[i].called, 1);
        ASSERT_EQ_INT(gs[i].cls, MAE_CLASS_CANCELLED);
    }
    ASSERT_EQ_INT(f.closed, 1);
    ASSERT_EQ_INT(uv_loop_close(&f.loop), 0);
    th_stop(&f.srv);
}

/* A callback that starts another call, and one that closes the transport. */
typedef struct chain {
    fx *f;
    int stage;
    got last;
} chain;

static void on_chain(mae_call_result *r, void *ud) {
    chain *ch = ud;
    ch->stage++;
    cJSON_Delete(r->output);
    if (ch->stage == 1) {
        ASSERT_EQ_INT(r->cls, MAE_CLASS_NONE);
        mae_call_req req = fx_req(ch->f, "GET", "/text", NULL);
        mae_call *c;
        ASSERT_EQ_INT(mae_transport_start(ch->f->t, &req, on_chain, ch, &c), 0);
    } else if (ch->stage == 2) {
        ASSERT_EQ_INT(r->cls, MAE_CLASS_NONE);
        ch->f->t->vt->close(ch->f->t, on_closed, ch->f);
        mae_call_req req = fx_req(ch->f, "GET", "/text", NULL);
        mae_call *c;
        ASSERT_EQ_INT(mae_transport_start(ch->f->t, &req, on_chain, ch, &c), MAE_ESTATE);
    }
}

TEST(callbacks_may_start_calls_and_close_the_transport) {
    fx f;
    fx_start(&f);
    chain ch = {.f = &f};
    mae_call_req req = fx_req(&f, "GET", "/empty", NULL);
    mae_call *c;
    mae_call *other;
    got slow = {0};
    ASSERT_EQ_INT(mae_transport_start(f.t, &req, on_chain, &ch, &c), 0);
    mae_call_req hang = fx_req(&f, "GET", "/hang", NULL);
    ASSERT_EQ_INT(mae_transport_start(f.t, &hang, on_result, &slow, &other), 0);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(ch.stage, 2);
    ASSERT_EQ_INT(slow.called, 1);
    ASSERT_EQ_INT(slow.cls, MAE_CLASS_CANCELLED);
    ASSERT_EQ_INT(f.closed, 1);
    ASSERT_EQ_INT(uv_loop_close(&f.loop), 0);
    th_stop(&f.srv);
}

TEST(one_pool_per_service) {
    fx f;
    fx_start(&f);
    mae_service other = f.svc;
    other.name = "other";
    got g;
    mae_call_req req = fx_req(&f, "GET", "/empty", NULL);
    call1(&f, &req, &g);
    req.service = &other;
    call1(&f, &req, &g);
    call1(&f, &req, &g);
    ASSERT_EQ_INT(mae_http_transport_pools(f.t), 2);
    fx_end(&f);
}

static int n_closed_ok;
static void on_close_route(mae_call_result *r, void *ud) {
    int *done = ud;
    (*done)++;
    if (r->cls == MAE_CLASS_NONE && cJSON_IsTrue(cJSON_GetObjectItem(r->output, "closed")))
        n_closed_ok++;
    cJSON_Delete(r->output);
}

TEST(connections_closed_by_the_server_are_replaced_fd_numbers_reused) {
    /* Every answer closes its connection: curl removes the socket, closes the fd and opens a
     * new one that usually gets the same number while our old uv_poll is still closing. */
    fx f;
    fx_start(&f);
    f.svc.pool_connections = 3;
    mae_call_req req = fx_req(&f, "GET", "/close", NULL);
    int done = 0;
    for (int i = 0; i < 30; i++) {
        mae_call *c;
        ASSERT_EQ_INT(mae_transport_start(f.t, &req, on_close_route, &done, &c), 0);
        wait_for(&f, &done, i + 1);
    }
    for (int i = 0; i < 60; i++) {
        mae_call *c;
        ASSERT_EQ_INT(mae_transport_start(f.t, &req, on_close_route, &done, &c), 0);
    }
    wait_for(&f, &done, 90);
    ASSERT_EQ_INT(n_closed_ok, 90);
    ASSERT_EQ_INT(mae_http_transport_glue_errors(f.t), 0);
    got g;
    req = fx_req(&f, "GET", "/stats", NULL);
    call1(&f, &req, &g);
    ASSERT_EQ_INT(cJSON_GetObjectItem(g.out, "accepted")->valueint, 91);
    cJSON_Delete(g.out);
    fx_end(&f);
}

TEST(a_call_queued_behind_the_pool_limit_keeps_its_deadline) {
    fx f;
    fx_start(&f);
    f.svc.pool_connections = 1;
    got hang = {0}, queued = {0};
    mae_call_req req = fx_req(&f, "GET", "/hang", NULL);
    req.timeout_ms = 10000;
    mae_call *c1, *c2;
    ASSERT_EQ_INT(mae_transport_start(f.t, &req, on_result, &hang, &c1), 0);
    req = fx_req(&f, "GET", "/text", NULL);
    req.timeout_ms = 500;
    uint64_t t0 = uv_hrtime();
    ASSERT_EQ_INT(mae_transport_start(f.t, &req, on_result, &queued, &c2), 0);
    wait_for(&f, &queued.called, 1);
    ASSERT_EQ_INT(queued.cls, MAE_CLASS_TIMEOUT);
    ASSERT_FALSE(queued.sent);        /* it never had a connection */
    ASSERT_CMP_INT((queued.at_ns - t0) / 1000000, >=, 500);
    printf("  queued call ended after %llu ms\n", (unsigned long long)((queued.at_ns - t0) / 1000000));
    if (hang.called) printf("  hang: cls %d msg %s\n", hang.cls, hang.msg);
    ASSERT_EQ_INT(hang.called, 0);
    fx_end(&f);                        /* cancels the hanging one */
    ASSERT_EQ_INT(hang.called, 1);
    ASSERT_EQ_INT(hang.cls, MAE_CLASS_CANCELLED);
    ASSERT_TRUE(hang.sent);
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

typedef struct self_cancel {
    fx *f;
    mae_call *call;
    int called;
    mae_class cls;
} self_cancel;

static void on_self_cancel(mae_call_result *r, void *ud) {
    self_cancel *sc = ud;
    sc->called++;
    sc->cls = r->cls;
    cJSON_Delete(r->output);
    /* The handle is valid until we return: cancelling it now must change nothing. */
    mae_transport_cancel(sc->f->t, sc->call);
}

TEST(cancel_from_inside_the_calls_own_callback_is_harmless) {
    fx f;
    fx_start(&f);
    self_cancel a = {.f = &f}, b = {.f = &f};
    mae_call_req req = fx_req(&f, "GET", "/text", NULL);
    ASSERT_EQ_INT(mae_transport_start(f.t, &req, on_self_cancel, &a, &a.call), 0);
    mae_header_kv bad[] = {{"X-Bad", "a\nb"}};
    req.headers = bad;
    req.n_headers = 1;   /* refused: delivered from the queue instead */
    ASSERT_EQ_INT(mae_transport_start(f.t, &req, on_self_cancel, &b, &b.call), 0);
    wait_for(&f, &a.called, 1);
    wait_for(&f, &b.called, 1);
    uv_run(&f.loop, UV_RUN_NOWAIT);
    ASSERT_EQ_INT(a.called, 1);
    ASSERT_EQ_INT(a.cls, MAE_CLASS_NONE);
    ASSERT_EQ_INT(b.called, 1);
    ASSERT_EQ_INT(b.cls, MAE_CLASS_TEMPLATE);
    fx_end(&f);
}

#define N_MIX 90
typedef struct mix {
    fx *f;
    mae_call *calls[N_MIX];
    got res[N_MIX];
    int done;
} mix;
static mix mx;

static void on_mix(mae_call_result *r, void *ud) {
    int i = (int)(intptr_t)ud;
    on_result(r, &mx.res[i]);
    cJSON_Delete(mx.res[i].out);
    mx.res[i].out = NULL;
    mx.done++;
    /* From inside a completion: cancel a later call, which may be queued in curl, running,
     * or already finished and waiting in curl's message queue. */
    if (i + 1 < N_MIX && i % 2 == 1 && mx.res[i + 1].called == 0)
        mae_transport_cancel(mx.f->t, mx.calls[i + 1]);
}

TEST(cancels_racing_completions_give_exactly_one_callback_each) {
    fx f;
    fx_start(&f);
    f.svc.pool_connections = 3;
    mx.f = &f;
    mae_call_req req = fx_req(&f, "GET", "/work", NULL);
    for (int i = 0; i < N_MIX; i++)
        ASSERT_EQ_INT(mae_transport_start(f.t, &req, on_mix, (void *)(intptr_t)i, &mx.calls[i]), 0);
    for (int i = 0; i < N_MIX; i += 3) mae_transport_cancel(f.t, mx.calls[i]);
    wait_for(&f, &mx.done, N_MIX);
    int ok = 0, cancelled = 0;
    for (int i = 0; i < N_MIX; i++) {
        ASSERT_EQ_INT(mx.res[i].called, 1);
        if (i % 3 == 0) ASSERT_EQ_INT(mx.res[i].cls, MAE_CLASS_CANCELLED);
        ASSERT_TRUE(mx.res[i].cls == MAE_CLASS_NONE || mx.res[i].cls == MAE_CLASS_CANCELLED);
        ok += mx.res[i].cls == MAE_CLASS_NONE;
        cancelled += mx.res[i].cls == MAE_CLASS_CANCELLED;
    }
    ASSERT_EQ_INT(ok + cancelled, N_MIX);
    ASSERT_CMP_INT(ok, >=, 1);
    ASSERT_EQ_INT(mae_http_transport_glue_errors(f.t), 0);
    uv_run(&f.loop, UV_RUN_NOWAIT);
    for (int i = 0; i < N_MIX; i++) ASSERT_EQ_INT(mx.res[i].called, 1);
    fx_end(&f);
}
