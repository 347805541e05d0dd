/* Integration tests of the HTTP transport against a real nginx on loopback (config generated
 * by tests/servers/http_nginx.py): keep-alive reuse and the pool limit counted from nginx's
 * access log ($connection), and HTTP/2 over TLS (ALPN) with the service's CA file. */
#include <unistd.h>

#include <uv.h>

#include "harness.h"
#include "maestro/maestro.h"
#include "target_fx.h"
#include "transports/http.h"

typedef struct nx {
    uv_loop_t loop;
    mae_transport *t;
    th_proc srv;
    mae_svc_cfg svc;
    mae_arena arena;
    const mae_target *get_json, *get_slow;
    char dir[64], ep[128], ca[128];
    int closed, done;
    int n_ok, n_fail;
    mae_class last_cls;
    char last_msg[512];
} nx;

static void nx_start(nx *n, const char *mode) {
    memset(n, 0, sizeof *n);
    snprintf(n->dir, sizeof n->dir, "/tmp/maestro-nginx-XXXXXX");
    ASSERT_NOT_NULL(mkdtemp(n->dir));
    char *argv[] = {TH_PYTHON, (char *)th_path("tests/servers/http_nginx.py"), n->dir,
                    (char *)mode, NULL};
    ASSERT_EQ_INT(th_spawn(&n->srv, argv, 30), 0);
    bool tls = strcmp(mode, "tls") == 0;
    snprintf(n->ep, sizeof n->ep, "%s://127.0.0.1:%d", tls ? "https" : "http", n->srv.port);
    snprintf(n->ca, sizeof n->ca, "%s/cert.pem", n->dir);
    ASSERT_EQ_INT(uv_loop_init(&n->loop), 0);
    ASSERT_EQ_INT(mae_http_transport_new(&n->loop, &n->t), 0);
    n->get_json = fx_target(&n->arena, "http", "GET /json");
    n->get_slow = fx_target(&n->arena, "http", "GET /slow");
    ASSERT_NOT_NULL(n->get_json);
    ASSERT_NOT_NULL(n->get_slow);
    n->svc = (mae_svc_cfg){.name = "nginx", .type = "http", .endpoint = n->ep,
                           .timeout_ms = 20000, .pool_connections = 5,
                           .max_response = 1 << 20};
    if (tls) n->svc.tls.ca_file = n->ca;
}

static void on_res(mae_call_result *r, void *ud) {
    nx *n = ud;
    n->done++;
    if (r->cls == MAE_CLASS_NONE && cJSON_IsTrue(cJSON_GetObjectItem(r->output, "ok"))) {
        n->n_ok++;
    } else {
        n->n_fail++;
        n->last_cls = r->cls;
        snprintf(n->last_msg, sizeof n->last_msg, "%s", r->message ? r->message : "");
    }
    cJSON_Delete(r->output);
}

static void run_calls(nx *n, int count, bool concurrent) {
    mae_call_req req = {.service = &n->svc, .target = n->get_json,
                        .timeout_ms = 20000, .run_id = "r", .step_id = "s",
                        .idempotency_key = "r:s"};
    int base = n->done;
    for (int i = 0; i < count; i++) {
        mae_call *c;
        ASSERT_EQ_INT(mae_transport_start(n->t, &req, on_res, n, &c), 0);
        if (!concurrent)
            while (n->done < base + i + 1) uv_run(&n->loop, UV_RUN_ONCE);
    }
    while (n->done < base + count) uv_run(&n->loop, UV_RUN_ONCE);
}

static void on_closed(void *ud) { ((nx *)ud)->closed++; }

/* Stops nginx (so every log line is written) and counts lines and distinct connections. */
static void nx_end(nx *n, int *lines, int *conns, int *h2_lines) {
    n->t->vt->close(n->t, on_closed, n);
    uv_run(&n->loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(n->closed, 1);
    ASSERT_EQ_INT(uv_loop_close(&n->loop), 0);
    mae__arena_free(&n->arena);
    th_stop(&n->srv);
    char path[128];
    snprintf(path, sizeof path, "%s/access.log", n->dir);
    char *log = th_read_file(path, NULL);
    ASSERT_NOT_NULL(log);
    long seen[1024];
    int n_seen = 0;
    *lines = *conns = *h2_lines = 0;
    for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
        long conn = strtol(line, NULL, 10);
        (*lines)++;
        if (strstr(line, " HTTP/2.0 ")) (*h2_lines)++;
        bool known = false;
        for (int i = 0; i < n_seen; i++) known |= seen[i] == conn;
        if (!known && n_seen < 1024) seen[n_seen++] = conn;
    }
    *conns = n_seen;
    free(log);
    char *rm[] = {"rm", "-rf", n->dir, NULL};
    th_run(rm, NULL, NULL, NULL);
}

TEST(keep_alive_reuses_one_connection_for_sequential_calls) {
    nx n;
    nx_start(&n, "plain");
    n.svc.pool_connections = 1;
    run_calls(&n, 30, false);
    ASSERT_EQ_INT(n.n_ok, 30);
    int lines, conns, h2;
    nx_end(&n, &lines, &conns, &h2);
    ASSERT_EQ_INT(lines, 30);
    ASSERT_EQ_INT(conns, 1);
    ASSERT_EQ_INT(h2, 0);   /* clear text stays HTTP/1.1: no h2c unless asked */
}

TEST(two_hundred_concurrent_calls_use_at_most_five_connections) {
    nx n;
    nx_start(&n, "plain");
    run_calls(&n, 200, true);
    ASSERT_EQ_INT(n.n_ok, 200);
    int lines, conns, h2;
    nx_end(&n, &lines, &conns, &h2);
    ASSERT_EQ_INT(lines, 200);
    ASSERT_CMP_INT(conns, >=, 1);
    ASSERT_CMP_INT(conns, <=, 5);
}

TEST(https_negotiates_h2_and_multiplexes_within_the_pool) {
    nx n;
    nx_start(&n, "tls");
    run_calls(&n, 100, true);
    if (n.n_fail) printf("  last failure: %s\n", n.last_msg);
    ASSERT_EQ_INT(n.n_ok, 100);
    int lines, conns, h2;
    nx_end(&n, &lines, &conns, &h2);
    printf("  h2: %d requests over %d connection(s)\n", lines, conns);
    ASSERT_EQ_INT(lines, 100);
    ASSERT_EQ_INT(h2, 100);
    ASSERT_CMP_INT(conns, <=, 5);
}

TEST(https_checks_the_certificate_unless_told_not_to) {
    nx n;
    nx_start(&n, "tls");
    n.svc.tls.ca_file = NULL;   /* the system CAs do not know our self-signed certificate */
    run_calls(&n, 1, false);
    ASSERT_EQ_INT(n.n_fail, 1);
    ASSERT_EQ_INT(n.last_cls, MAE_CLASS_CONNECT);
    ASSERT_CONTAINS(n.last_msg, "certificate");
    /* A different service (its own pool) that skips verification gets through. */
    mae_svc_cfg insecure = n.svc;
    insecure.name = "insecure";
    insecure.tls.insecure_skip_verify = true;
    mae_call_req req = {.service = &insecure, .target = n.get_json,
                        .timeout_ms = 20000};
    mae_call *c;
    ASSERT_EQ_INT(mae_transport_start(n.t, &req, on_res, &n, &c), 0);
    while (n.done < 2) uv_run(&n.loop, UV_RUN_ONCE);
    ASSERT_EQ_INT(n.n_ok, 1);
    int lines, conns, h2;
    nx_end(&n, &lines, &conns, &h2);
    ASSERT_EQ_INT(lines, 1);
}

typedef struct h2c {
    nx *n;
    mae_call *calls[10];
    mae_class cls[10];
    int called[10];
} h2c;

static h2c *h2_ctx;
static void on_h2_i(mae_call_result *r, void *ud) {
    int i = (int)(intptr_t)ud;
    h2_ctx->called[i]++;
    h2_ctx->cls[i] = r->cls;
    h2_ctx->n->done++;
    cJSON_Delete(r->output);
}

static void on_h2_cancel(uv_timer_t *t) {
    for (int i = 1; i < 10; i += 2) mae_transport_cancel(h2_ctx->n->t, h2_ctx->calls[i]);
    uv_close((uv_handle_t *)t, NULL);
}

TEST(cancelling_h2_streams_leaves_the_connection_to_the_others) {
    if (access("/usr/lib/nginx/modules/ngx_http_echo_module.so", R_OK) != 0) {
        printf("  (nginx echo module missing: nothing to test)\n");
        return;
    }
    nx n;
    nx_start(&n, "tls");
    static h2c h;
    memset(&h, 0, sizeof h);
    h.n = &n;
    h2_ctx = &h;
    mae_call_req req = {.service = &n.svc, .target = n.get_slow,
                        .timeout_ms = 20000};
    for (int i = 0; i < 10; i++)
        ASSERT_EQ_INT(mae_transport_start(n.t, &req, on_h2_i, (void *)(intptr_t)i, &h.calls[i]), 0);
    /* Mid-way through nginx's one-second sleep, every odd stream is cancelled. */
    uv_timer_t tm;
    uv_timer_init(&n.loop, &tm);
    uv_timer_start(&tm, on_h2_cancel, 300, 0);
    while (n.done < 10) uv_run(&n.loop, UV_RUN_ONCE);
    for (int i = 0; i < 10; i++) {
        ASSERT_EQ_INT(h.called[i], 1);
        ASSERT_EQ_INT(h.cls[i], i % 2 ? MAE_CLASS_CANCELLED : MAE_CLASS_NONE);
    }
    int lines, conns, h2;
    nx_end(&n, &lines, &conns, &h2);
    /* The cancelled streams were reset, not the connection: one connection served all. */
    ASSERT_EQ_INT(conns, 1);
    ASSERT_EQ_INT(h2, lines);
}
