/* The embedding API against real peers (`maestro stub` on free ports): engine-owned default
 * transports made lazily and closed by mae_engine_close (uv_loop_close() == 0 after), a
 * borrowed transport handed over with close_transports, closing with a call in flight, and
 * examples/embed/embed.c compiled in-tree against include/ and the built library, then run
 * against the deploy_service stubs (succeeding, and failing with its compensations). */
#include <unistd.h>

#include <uv.h>

#include "harness.h"
#include "loop/engine_int.h"
#include "maestro/maestro.h"

/* A stub started from a stub file whose listen ports are rewritten to 0, with the port and type
 * of each service (the PORT lines come in file order). */
typedef struct stub {
    th_proc proc;
    int n;
    char name[8][32];
    int port[8];
    int http[8];
} stub;

static void stub_start(stub *s, const char *yaml_in) {
    memset(s, 0, sizeof *s);
    size_t cap = strlen(yaml_in) + 1;
    char *yaml = calloc(1, cap);
    const char *p = yaml_in;
    for (const char *q; (q = strstr(p, "listen: 127.0.0.1:"));) {
        q += strlen("listen: 127.0.0.1:");
        strncat(yaml, p, (size_t)(q - p));
        strcat(yaml, "0");
        while (*q >= '0' && *q <= '9') q++;
        p = q;
    }
    strcat(yaml, p);
    /* services in file order: "\n  NAME:\n    type: T" */
    for (const char *q = strstr(yaml, "services:\n"); q && (q = strstr(q, "\n  ")) && s->n < 8; q++) {
        if (q[3] == ' ' || q[3] == '#') continue;
        char name[32], type[16];
        if (sscanf(q + 3, "%31[a-z_]:\n    type: %15s", name, type) != 2) continue;
        snprintf(s->name[s->n], sizeof s->name[0], "%s", name);
        s->http[s->n++] = strcmp(type, "http") == 0;
    }
    char *file = th_write_temp(yaml, strlen(yaml), ".yaml");
    free(yaml);
    const char *bin = getenv("MAESTRO_BIN");
    char *argv[] = {(char *)(bin ? bin : th_path("bin/maestro")), "stub", file, NULL};
    ASSERT_EQ_INT(th_spawn(&s->proc, argv, 20), 0);
    unlink(file);
    free(file);
    s->port[0] = s->proc.port;
    char line[256], name[32];
    for (int i = 1; i < s->n; i++) {
        ASSERT_NOT_NULL(fgets(line, sizeof line, s->proc.out));
        ASSERT_EQ_INT(sscanf(line, "PORT %d %31s", &s->port[i], name), 2);
        ASSERT_EQ_STR(name, s->name[i]);
    }
    ASSERT_CMP_INT(s->n, >, 0);
}

/* "http://127.0.0.1:PORT" or "127.0.0.1:PORT" for service i. */
static const char *stub_endpoint(const stub *s, int i, char *buf, size_t n) {
    snprintf(buf, n, "%s127.0.0.1:%d", s->http[i] ? "http://" : "", s->port[i]);
    return buf;
}

static void stub_point(const stub *s, mae_workflow *wf) {
    for (int i = 0; i < s->n; i++) {
        char ep[64], err[256];
        ASSERT_EQ_INT(mae_workflow_set_endpoint(wf, s->name[i], stub_endpoint(s, i, ep, sizeof ep), err, sizeof err), 0);
    }
}

static void stub_stop(stub *s) {
    th_stop(&s->proc);
    if (s->proc.out) fclose(s->proc.out);
}

static const char stub_yaml[] =
    "services:\n"
    "  rpc:\n"
    "    type: grpc\n"
    "    listen: 127.0.0.1:0\n"
    "    methods:\n"
    "      Make: {respond: {id: \"m-{{ .n }}\", got: \"{{ .request.x }}\"}}\n"
    "      Slow: {respond: {}, delay: 30s}\n"
    "  web:\n"
    "    type: http\n"
    "    listen: 127.0.0.1:0\n"
    "    routes:\n"
    "      \"POST /check\": {respond: {ok: true, id: \"{{ .request.id }}\"}}\n";

/* Endpoints point nowhere: the test points them at the stub with mae_workflow_set_endpoint. */
static const char both_wf[] =
    "name: live\n"
    "services:\n"
    "  rpc: {type: grpc, endpoint: \"127.0.0.1:1\", retry: {attempts: 1}}\n"
    "  web: {type: http, endpoint: \"http://127.0.0.1:1\", retry: {attempts: 1}}\n"
    "steps:\n"
    "  - {id: make, service: rpc, method: Make, input: {x: hello}, output: m}\n"
    "  - {id: check, service: web, method: \"POST /check\", input: {id: \"{{ .m.id }}\"}, output: c}\n"
    "output: {id: \"{{ .m.id }}\", got: \"{{ .m.got }}\", ok: \"{{ .c.ok }}\", echo: \"{{ .c.id }}\"}\n";

static const char grpc_only_wf[] =
    "name: g\n"
    "services:\n  rpc: {type: grpc, endpoint: \"127.0.0.1:1\", retry: {attempts: 1}}\n"
    "steps:\n  - {id: make, service: rpc, method: Make, input: {x: g}, output: m}\n"
    "output: {id: \"{{ .m.id }}\"}\n";

typedef struct host {
    uv_loop_t loop;
    mae_engine *eng;
    int done, closed, exit_code;
    char output[512];
    int had_http, had_grpc;    /* the engine's own transports existed when the run ended */
} host;

static void host_closed(void *ud) { ((host *)ud)->closed++; }

/* The transport the engine made for itself for a service type (NULL: none yet). */
static mae_transport *own_transport(const mae_engine *e, const char *type) {
    for (size_t i = 0; mae__target_types[i] && i < MAE_API_MAX_TYPES; i++)
        if (strcmp(mae__target_types[i]->name, type) == 0) return e->api.own[i];
    return NULL;
}

static void host_done(mae_run *run, const mae_run_result *res, void *ud) {
    host *h = ud;
    h->done++;
    h->exit_code = res->exit_code;
    char *t = NULL;
    if (res->output && mae_json_format(res->output, &t) == 0) snprintf(h->output, sizeof h->output, "%s", t);
    free(t);
    if (res->summary) printf("%s", res->summary);
    h->had_http = own_transport(h->eng, "http") != NULL;
    h->had_grpc = own_transport(h->eng, "grpc") != NULL;
    mae_run_free(run);
    /* everything goes with one call, from inside the run's callback */
    ASSERT_EQ_INT(mae_engine_close(h->eng, host_closed, h), 0);
}

static mae_workflow *load(const char *yaml) {
    mae_workflow *wf;
    ASSERT_EQ_INT(mae_workflow_load_mem("live.yaml", yaml, strlen(yaml), &wf, stdout), 0);
    return wf;
}

TEST(engine_owned_transports_run_against_the_stub_and_close_with_the_engine) {
    stub s;
    stub_start(&s, stub_yaml);
    mae_workflow *wf = load(both_wf);
    stub_point(&s, wf);
    host h = {0};
    ASSERT_EQ_INT(uv_loop_init(&h.loop), 0);
    ASSERT_EQ_INT(mae_engine_new(&h.loop, NULL, &h.eng), 0);   /* no transports at all */
    mae_run *run;
    ASSERT_EQ_INT(mae_run_start(h.eng, wf, NULL, NULL, host_done, &h, &run), 0);
    uv_run(&h.loop, UV_RUN_DEFAULT);   /* returns only once every handle is closed */
    ASSERT_EQ_INT(h.done, 1);
    ASSERT_EQ_INT(h.closed, 1);
    ASSERT_EQ_INT(h.exit_code, 0);
    ASSERT_EQ_STR(h.output, "{\"id\":\"m-1\",\"got\":\"hello\",\"ok\":true,\"echo\":\"m-1\"}");
    ASSERT_TRUE(h.had_http && h.had_grpc);
    ASSERT_EQ_INT(uv_loop_close(&h.loop), 0);
    mae_workflow_free(wf);
    stub_stop(&s);
}

TEST(a_grpc_only_workflow_never_creates_the_http_transport) {
    stub s;
    stub_start(&s, stub_yaml);
    mae_workflow *wf = load(grpc_only_wf);
    char ep[64];
    ASSERT_EQ_INT(mae_workflow_set_endpoint(wf, "rpc", stub_endpoint(&s, 0, ep, sizeof ep), NULL, 0), 0);
    host h = {0};
    ASSERT_EQ_INT(uv_loop_init(&h.loop), 0);
    ASSERT_EQ_INT(mae_engine_new(&h.loop, NULL, &h.eng), 0);
    mae_run *run;
    ASSERT_EQ_INT(mae_run_start(h.eng, wf, NULL, NULL, host_done, &h, &run), 0);
    uv_run(&h.loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(h.exit_code, 0);
    ASSERT_EQ_STR(h.output, "{\"id\":\"m-1\"}");
    ASSERT_TRUE(h.had_grpc);
    ASSERT_FALSE(h.had_http);
    ASSERT_EQ_INT(h.closed, 1);
    ASSERT_EQ_INT(uv_loop_close(&h.loop), 0);
    mae_workflow_free(wf);
    stub_stop(&s);
}

TEST(given_transports_handed_over_with_close_transports_are_closed_by_the_engine) {
    stub s;
    stub_start(&s, stub_yaml);
    mae_workflow *wf = load(both_wf);
    stub_point(&s, wf);
    host h = {0};
    ASSERT_EQ_INT(uv_loop_init(&h.loop), 0);
    mae_engine_opts o;
    mae_engine_opts_init(&o);
    ASSERT_EQ_INT(mae_http_transport_new(&h.loop, &o.http), 0);
    ASSERT_EQ_INT(mae_grpc_transport_new(&h.loop, &o.grpc), 0);
    o.close_transports = 1;
    o.log_level = MAE_LOG_OFF;
    ASSERT_EQ_INT(mae_engine_new(&h.loop, &o, &h.eng), 0);
    mae_run *run;
    ASSERT_EQ_INT(mae_run_start(h.eng, wf, NULL, NULL, host_done, &h, &run), 0);
    uv_run(&h.loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(h.exit_code, 0);
    ASSERT_FALSE(h.had_http || h.had_grpc);   /* it used the given ones */
    ASSERT_EQ_INT(h.closed, 1);
    ASSERT_EQ_INT(uv_loop_close(&h.loop), 0);
    mae_workflow_free(wf);
    stub_stop(&s);
}

static void closed_after_cancel(void *ud) { ((host *)ud)->closed++; }
static void kept_run_done(mae_run *run, const mae_run_result *res, void *ud) {
    host *h = ud;
    h->done++;
    h->exit_code = res->exit_code;
    /* not freed: mae_engine_close frees it */
}

TEST(engine_close_with_a_call_in_flight_cancels_it_and_leaves_nothing_open) {
    static const char wf_yaml[] =
        "name: slow\n"
        "services:\n  rpc: {type: grpc, endpoint: \"127.0.0.1:1\", retry: {attempts: 1}}\n"
        "steps:\n  - {id: slow, service: rpc, method: Slow}\n";
    stub s;
    stub_start(&s, stub_yaml);
    mae_workflow *wf = load(wf_yaml);
    char ep[64];
    ASSERT_EQ_INT(mae_workflow_set_endpoint(wf, "rpc", stub_endpoint(&s, 0, ep, sizeof ep), NULL, 0), 0);
    host h = {0};
    ASSERT_EQ_INT(uv_loop_init(&h.loop), 0);
    mae_engine_opts o;
    mae_engine_opts_init(&o);
    o.log_level = MAE_LOG_OFF;
    ASSERT_EQ_INT(mae_engine_new(&h.loop, &o, &h.eng), 0);
    mae_run *run;
    ASSERT_EQ_INT(mae_run_start(h.eng, wf, NULL, NULL, kept_run_done, &h, &run), 0);
    /* run until the call is on the wire (the stub holds Slow for 30 s) */
    uint64_t t0 = uv_hrtime();
    while (!(own_transport(h.eng, "grpc") && h.eng->runs && h.eng->runs->active && h.eng->runs->active->in_flight))
        uv_run(&h.loop, UV_RUN_ONCE);
    ASSERT_EQ_INT(mae_engine_close(h.eng, closed_after_cancel, &h), 0);
    uv_run(&h.loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(h.done, 1);
    ASSERT_EQ_INT(h.exit_code, 130);   /* interrupted */
    ASSERT_EQ_INT(h.closed, 1);
    ASSERT_CMP_INT((uv_hrtime() - t0) / 1000000, <, 10000);   /* not the stub's 30 s */
    ASSERT_EQ_INT(uv_loop_close(&h.loop), 0);
    mae_workflow_free(wf);
    stub_stop(&s);
}

/* ---- two workflows naming one service on one engine ---- */
/* Same service identity (type http, name web, endpoint); B allows 10 bytes of response. */
static const char mr_a_wf[] =
    "name: a\n"
    "services:\n  web: {type: http, endpoint: \"http://127.0.0.1:1\", retry: {attempts: 1}}\n"
    "steps:\n  - {id: check, service: web, method: \"POST /check\", input: {id: a}, output: c}\n";
static const char mr_b_wf[] =
    "name: b\n"
    "services:\n  web: {type: http, endpoint: \"http://127.0.0.1:1\", retry: {attempts: 1}, max_response: 10B}\n"
    "steps:\n  - {id: check, service: web, method: \"POST /check\", input: {id: b}, output: c}\n";

typedef struct seq_host {
    uv_loop_t loop;
    mae_engine *eng;
    const mae_workflow *next;      /* started when the current run ends */
    int n, closed;
    int exit_code[2];
    char summary[2][512];
} seq_host;

static void seq_closed(void *ud) { ((seq_host *)ud)->closed++; }

static void seq_done(mae_run *run, const mae_run_result *res, void *ud) {
    seq_host *h = ud;
    h->exit_code[h->n] = res->exit_code;
    snprintf(h->summary[h->n], sizeof h->summary[0], "%s", res->summary ? res->summary : "");
    h->n++;
    mae_run_free(run);
    const mae_workflow *wf = h->next;
    h->next = NULL;
    mae_run *r2;
    if (wf) ASSERT_EQ_INT(mae_run_start(h->eng, wf, NULL, NULL, seq_done, h, &r2), 0);
    else ASSERT_EQ_INT(mae_engine_close(h->eng, seq_closed, h), 0);
}

/* Runs first (then second, if any) on one fresh engine. */
static void run_seq(seq_host *h, const mae_workflow *first, const mae_workflow *second) {
    memset(h, 0, sizeof *h);
    ASSERT_EQ_INT(uv_loop_init(&h->loop), 0);
    mae_engine_opts o;
    mae_engine_opts_init(&o);
    o.log_level = MAE_LOG_OFF;
    ASSERT_EQ_INT(mae_engine_new(&h->loop, &o, &h->eng), 0);
    h->next = second;
    mae_run *run;
    ASSERT_EQ_INT(mae_run_start(h->eng, first, NULL, NULL, seq_done, h, &run), 0);
    uv_run(&h->loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(h->closed, 1);
    ASSERT_EQ_INT(uv_loop_close(&h->loop), 0);
}

TEST(a_later_workflow_naming_the_same_service_gets_its_own_max_response) {
    stub s;
    stub_start(&s, stub_yaml);
    mae_workflow *a = load(mr_a_wf), *b = load(mr_b_wf);
    char ep[64];
    stub_endpoint(&s, 1, ep, sizeof ep);
    ASSERT_EQ_INT(mae_workflow_set_endpoint(a, "web", ep, NULL, 0), 0);
    ASSERT_EQ_INT(mae_workflow_set_endpoint(b, "web", ep, NULL, 0), 0);
    seq_host h;
    /* B alone: its 10 bytes are too few for the stub's answer */
    run_seq(&h, b, NULL);
    ASSERT_EQ_INT(h.exit_code[0], 1);
    ASSERT_CONTAINS(h.summary[0], "exceeds max_response");
    /* A, then B on the same engine: A succeeds with the default, B still has its own limit */
    run_seq(&h, a, b);
    ASSERT_EQ_INT(h.n, 2);
    ASSERT_EQ_INT(h.exit_code[0], 0);
    ASSERT_EQ_INT(h.exit_code[1], 1);
    ASSERT_CONTAINS(h.summary[1], "exceeds max_response");
    /* and B first does not lend its limit to A */
    run_seq(&h, b, a);
    ASSERT_EQ_INT(h.exit_code[0], 1);
    ASSERT_EQ_INT(h.exit_code[1], 0);
    mae_workflow_free(a);
    mae_workflow_free(b);
    stub_stop(&s);
}

/* ---- examples/embed/embed.c ---- */
static char *build_embed(void) {
    char *bin = th_write_temp("", 0, ".bin");
    const char *root = getenv("MAESTRO_ROOT") ? getenv("MAESTRO_ROOT") : ".";
    char cmd[2048];
    /* only include/ and the library: what an embedder has */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && cc -Wall -Wextra -Werror -Iinclude $(pkg-config --cflags libuv) examples/embed/embed.c "
             "build/norm/libmaestro.a $(pkg-config --libs libuv libcurl libnghttp2 libprotobuf-c yaml-0.1 libcjson libssl libcrypto zlib) "
             "-lhttp_parser -lm -o '%s'",
             root, bin);
    char *argv[] = {"sh", "-c", cmd, NULL};
    char *out = NULL, *err = NULL;
    int rc = th_run(argv, NULL, &out, &err);
    if (rc != 0) printf("compile failed:\n%s%s", out ? out : "", err ? err : "");
    ASSERT_EQ_INT(rc, 0);
    free(out);
    free(err);
    return bin;
}

static int run_embed(const char *bin, const char *stub_file, char **out, char **err) {
    char *text = th_read_file(th_path(stub_file), NULL);
    ASSERT_NOT_NULL(text);
    stub s;
    stub_start(&s, text);
    free(text);
    char *argv[16];
    char sets[8][96];
    int n = 0;
    argv[n++] = (char *)bin;
    for (int i = 0; i < s.n; i++) {
        char ep[64];
        snprintf(sets[i], sizeof sets[i], "%s=%s", s.name[i], stub_endpoint(&s, i, ep, sizeof ep));
        argv[n++] = sets[i];
    }
    argv[n] = NULL;
    /* from the repository root, as the example expects */
    ASSERT_EQ_INT(chdir(getenv("MAESTRO_ROOT") ? getenv("MAESTRO_ROOT") : "."), 0);
    int rc = th_run(argv, NULL, out, err);
    stub_stop(&s);
    return rc;
}

TEST_T(embed_example_compiles_against_include_and_the_library_and_runs_the_demo, 180) {
    char *bin = build_embed();
    char *out = NULL, *err = NULL;
    int rc = run_embed(bin, "examples/stubs/deploy_service.yaml", &out, &err);
    if (rc != 0) printf("stdout:\n%s\nstderr:\n%s\n", out, err);
    ASSERT_EQ_INT(rc, 0);
    ASSERT_EQ_STR(out, "{}\n");   /* deploy_service declares no output */
    const char *steps[] = {"provision", "deploy_app", "check_health", "register_lb", "notify"};
    const char *at = err;
    for (size_t i = 0; i < 5; i++) {
        ASSERT_NOT_NULL(at = strstr(at, steps[i]));
        ASSERT_EQ_INT(strncmp(at + 15, "succeeded", 9), 0);
    }
    free(out);
    free(err);

    /* the health check keeps failing: exit 1, the summary, the deployment undone */
    rc = run_embed(bin, "examples/stubs/deploy_service.fail.yaml", &out, &err);
    ASSERT_EQ_INT(rc, 1);
    ASSERT_EQ_STR(out, "");
    ASSERT_CONTAINS(err, "embed: run failed");
    ASSERT_CONTAINS(err, "retry      check_health   attempt 1: http_5xx");
    const char *u = strstr(err, "compensate deploy_app");
    const char *d = strstr(err, "compensate provision");
    ASSERT_NOT_NULL(u);
    ASSERT_NOT_NULL(d);
    ASSERT_TRUE(u < d);
    free(out);
    free(err);
    unlink(bin);
    free(bin);
}

TEST(readme_embedding_example_is_examples_embed_embed_c) {
    char *readme = th_read_file(th_path("README.md"), NULL);
    char *code = th_read_file(th_path("examples/embed/embed.c"), NULL);
    ASSERT_NOT_NULL(readme);
    ASSERT_NOT_NULL(code);
    const char *sec = strstr(readme, "\n## Embedding\n");
    ASSERT_NOT_NULL(sec);
    const char *block = strstr(sec, "\n```c\n");
    ASSERT_NOT_NULL(block);
    block += strlen("\n```c\n");
    const char *end = strstr(block, "```\n");
    ASSERT_NOT_NULL(end);
    ASSERT_EQ_INT(end - block, strlen(code));
    ASSERT_EQ_INT(memcmp(block, code, strlen(code)), 0);
    /* and the compile line beside it uses only pkg-config */
    ASSERT_CONTAINS(sec, "cc examples/embed/embed.c $(pkg-config --cflags --libs maestro) -o embed\n");
    free(readme);
    free(code);
}
