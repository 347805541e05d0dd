/* The HTTP transport against tests/servers/http_hostile.py (issue #17, defects 10 and 12):
 * declared JSON that is not JSON, unasked gzip and a gzip bomb, \u0000 in a string, a body cut
 * short, an HTTP/0.9 reply, and running out of descriptors. Each result's class and `sent` are
 * asserted; every test ends with uv_loop_close() == 0. */
#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>

#include "http_fx.h"

static void hostile_start(fx *f) {
    memset(f, 0, sizeof *f);
    char *argv[] = {TH_PYTHON, (char *)th_path("tests/servers/http_hostile.py"), NULL};
    ASSERT_EQ_INT(th_spawn(&f->srv, argv, 20), 0);
    snprintf(f->ep, sizeof f->ep, "http://127.0.0.1:%d", f->srv.port);
    ASSERT_EQ_INT(uv_loop_init(&f->loop), 0);
    ASSERT_EQ_INT(mae_http_transport_new(&f->loop, &f->t), 0);
    f->svc.name = "svc";
    f->svc.type = "http";
    f->svc.endpoint = f->ep;
    f->svc.timeout_ms = 20000;
    f->svc.pool_connections = 5;
    f->svc.max_response = 16u << 20;
}

static void get(fx *f, const char *path, got *g) {
    mae_call_req req = fx_req(f, "GET", path, NULL);
    call1(f, &req, g);
}

TEST(declared_json_that_does_not_parse_is_decode) {
    fx f;
    hostile_start(&f);
    got g;
    get(&f, "/notjson", &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_DECODE);
    ASSERT_EQ_INT(g.status, 200);
    ASSERT_TRUE(g.sent);
    ASSERT_NULL(g.out);
    ASSERT_CONTAINS(g.msg, "HTTP 200: the body is not valid JSON though its Content-Type says JSON: {\"ok\": tru");
    fx_end(&f);
}

TEST(unasked_gzip_is_decoded_and_a_bomb_stops_at_max_response) {
    fx f;
    hostile_start(&f);
    got g;
    get(&f, "/gzip", &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    ASSERT_NOT_NULL(g.out);
    ASSERT_TRUE(cJSON_IsTrue(cJSON_GetObjectItem(g.out, "zipped")));
    cJSON_Delete(g.out);
    f.svc.max_response = 64 * 1024;
    get(&f, "/bomb", &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_DECODE);
    ASSERT_EQ_STR(g.msg, "response exceeds max_response (65536 bytes)");
    /* the inflated bytes kept stay within the cap */
    ASSERT_CMP_INT(fx_stats(f.t).body_bytes, <=, 64 * 1024 + 100);
    fx_end(&f);
}

TEST(nul_escape_in_a_string_is_decode_not_a_cut_string) {
    fx f;
    hostile_start(&f);
    got g;
    get(&f, "/nul", &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_DECODE);
    ASSERT_TRUE(g.sent);
    ASSERT_NULL(g.out);
    ASSERT_CONTAINS(g.msg, "\\u0000");
    fx_end(&f);
}

TEST(a_body_cut_short_was_sent_and_says_the_service_may_have_acted) {
    fx f;
    hostile_start(&f);
    got g;
    get(&f, "/cut", &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_CONNECT);
    ASSERT_TRUE(g.sent);
    ASSERT_NULL(g.out);
    ASSERT_CONTAINS(g.msg, "reply cut short after 100 body bytes (HTTP 200): the service may have acted");
    fx_end(&f);
}

TEST(an_http09_reply_is_decode_and_sent_not_template) {
    fx f;
    hostile_start(&f);
    got g;
    get(&f, "/http09", &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_DECODE);
    ASSERT_TRUE(g.sent);
    ASSERT_CONTAINS(g.msg, "not valid HTTP/1.1 or HTTP/2");
    fx_end(&f);
}

TEST(no_descriptor_left_is_internal_and_not_sent) {
    fx f;
    hostile_start(&f);
    got g;
    /* the pool exists and keeps no connection (the server closes it) */
    get(&f, "/close", &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    cJSON_Delete(g.out);
    /* every descriptor below the limit is taken: the next socket() fails with EMFILE */
    struct rlimit old;
    ASSERT_EQ_INT(getrlimit(RLIMIT_NOFILE, &old), 0);
    int probe = open("/dev/null", O_RDONLY);
    ASSERT_CMP_INT(probe, >=, 0);
    close(probe);
    struct rlimit low = old;
    low.rlim_cur = (rlim_t)probe;
    ASSERT_EQ_INT(setrlimit(RLIMIT_NOFILE, &low), 0);
    mae_call_req req = fx_req(&f, "GET", "/close", NULL);
    mae_call *c = NULL;
    memset(&g, 0, sizeof g);
    int rc = mae_transport_start(f.t, &req, on_result, &g, &c);
    if (rc == 0) wait_for(&f, &g.called, 1);
    ASSERT_EQ_INT(setrlimit(RLIMIT_NOFILE, &old), 0);
    ASSERT_EQ_INT(rc, 0);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_INTERNAL);
    ASSERT_FALSE(g.sent);
    ASSERT_CONTAINS(g.msg, "descriptor limit, not the service");
    fx_end(&f);
}


/* Runs bin/maestro on a one-step workflow GETting path from the hostile server; returns the
 * exit code, *report the parsed report (owned by the caller). */
static int run_one(const char *path, const char *retry, cJSON **report, char **err) {
    th_proc srv;
    char *sargv[] = {TH_PYTHON, (char *)th_path("tests/servers/http_hostile.py"), NULL};
    ASSERT_EQ_INT(th_spawn(&srv, sargv, 20), 0);
    char y[512];
    int n = snprintf(y, sizeof y,
                     "name: hostile_cli\n"
                     "services:\n  h: {type: http, endpoint: \"http://127.0.0.1:%d\", retry: %s}\n"
                     "steps:\n  - {id: get, service: h, method: \"GET %s\"}\n",
                     srv.port, retry, path);
    char *wf = th_write_temp(y, (size_t)n, ".yaml"), *rep = th_write_temp("", 0, ".json"), *out;
    char *argv[] = {"maestro", "run", wf, "--report", rep, NULL};
    int rc = th_maestro(argv, NULL, &out, err);
    size_t len = 0;
    char *r = th_read_file(rep, &len);
    *report = r ? cJSON_Parse(r) : NULL;
    free(r);
    free(out);
    unlink(wf);
    unlink(rep);
    free(wf);
    free(rep);
    th_stop(&srv);
    return rc;
}

/* Retry-After: 999999999 (31.7 years) is not waited for: the step fails at once, saying why. */
TEST(a_retry_after_of_years_is_not_waited_for) {
    cJSON *rep = NULL;
    char *err = NULL;
    ASSERT_EQ_INT(run_one("/later", "{attempts: 3}", &rep, &err), 1);
    ASSERT_CONTAINS(err, "not retried: the service asked to wait 999999999s, over the 300s limit");
    ASSERT_NOT_NULL(rep);
    const cJSON *step = cJSON_GetArrayItem(cJSON_GetObjectItem(rep, "steps"), 0);
    ASSERT_EQ_INT(cJSON_GetObjectItem(step, "attempts")->valueint, 1);
    const cJSON *d = cJSON_GetObjectItem(step, "retry_delays_ms");
    ASSERT_TRUE(!d || cJSON_GetArraySize(d) == 0);
    cJSON_Delete(rep);
    free(err);
}

/* Through the engine, an HTTP/0.9 reply is a sent decode failure, not "failed before sending". */
TEST(an_http09_reply_is_reported_as_sent_decode) {
    cJSON *rep = NULL;
    char *err = NULL;
    ASSERT_EQ_INT(run_one("/http09", "{attempts: 1}", &rep, &err), 1);
    ASSERT_CONTAINS(err, "step 'get' failed after 1 attempt: decode: ");
    ASSERT_NOT_NULL(rep);
    ASSERT_EQ_STR(cJSON_GetObjectItem(cJSON_GetObjectItem(rep, "error"), "class")->valuestring, "decode");
    cJSON_Delete(rep);
    free(err);
}
