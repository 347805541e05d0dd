/* The engine's reflection cache for `descriptors: reflection` (loop/typed.c) through the C API,
 * against the grpcio typed server (tests/servers/grpc_typed.py): fetched once per engine and
 * shared by its later runs, never shared between engines, and fetched again by the next run
 * after a call answered UNIMPLEMENTED (the server was "redeployed": --no-method makes
 * CreateInstance UNIMPLEMENTED until reflection has been asked again). Every engine is closed
 * and uv_loop_close() == 0 asserted. */
#include <uv.h>

#include <cjson/cJSON.h>

#include "harness.h"
#include "maestro/maestro.h"

static const char wf_yaml[] =
    "name: refl\n"
    "services:\n"
    "  cloud: {type: grpc, endpoint: \"127.0.0.1:1\", descriptors: reflection, retry: {attempts: 1}}\n"
    "steps:\n"
    "  - {id: make, service: cloud, method: CreateInstance, input: {image: \"{{ .input.image }}\"}, output: m}\n"
    "output: {id: \"{{ .m.id }}\"}\n";

static const char stats_yaml[] =
    "name: stats\n"
    "services:\n"
    "  cloud: {type: grpc, endpoint: \"127.0.0.1:1\", descriptors: reflection}\n"
    "steps:\n"
    "  - {id: s, service: cloud, method: acme.deploy.v1.Audit/GetStats, output: s}\n"
    "output: {log: \"{{ .s.log }}\"}\n";

typedef struct host {
    uv_loop_t loop;
    int done, closed, exit_code;
    char output[2048];
    char summary[2048];
} host;

static void on_done(mae_run *run, const mae_run_result *res, void *ud) {
    host *h = ud;
    h->done++;
    h->exit_code = res->exit_code;
    h->output[0] = h->summary[0] = 0;
    char *t = NULL;
    if (res->output && mae_json_format(res->output, &t) == 0) snprintf(h->output, sizeof h->output, "%s", t);
    free(t);
    if (res->summary) snprintf(h->summary, sizeof h->summary, "%s", res->summary);
    mae_run_free(run);
}

static void on_closed(void *ud) { ((host *)ud)->closed++; }

/* One run to its end on engine e; returns its exit code. */
static int run_once(host *h, mae_engine *e, const mae_workflow *wf, const char *input) {
    int before = h->done;
    mae_run *run;
    ASSERT_EQ_INT(mae_run_start(e, wf, input, NULL, on_done, h, &run), 0);
    while (h->done == before) uv_run(&h->loop, UV_RUN_ONCE);
    return h->exit_code;
}

static mae_workflow *load(const char *yaml, int port) {
    mae_workflow *wf;
    ASSERT_EQ_INT(mae_workflow_load_mem("refl.yaml", yaml, strlen(yaml), &wf, stdout), 0);
    char ep[64], err[256];
    snprintf(ep, sizeof ep, "127.0.0.1:%d", port);
    ASSERT_EQ_INT(mae_workflow_set_endpoint(wf, "cloud", ep, err, sizeof err), 0);
    return wf;
}

static int count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

TEST_T(engine_caches_reflection_per_engine_and_refetches_after_unimplemented, 120) {
    th_proc srv;
    char *argv[] = {TH_PYTHON, (char *)th_path("tests/servers/grpc_typed.py"), "--port", "0", "--reflection", "v1",
                    "--no-method", "CreateInstance", NULL};
    ASSERT_EQ_INT(th_spawn(&srv, argv, 60), 0);
    mae_workflow *wf = load(wf_yaml, srv.port), *stats = load(stats_yaml, srv.port);
    host h = {0};
    ASSERT_EQ_INT(uv_loop_init(&h.loop), 0);
    mae_engine *e1, *e2;
    ASSERT_EQ_INT(mae_engine_new(&h.loop, NULL, &e1), 0);
    ASSERT_EQ_INT(mae_engine_new(&h.loop, NULL, &e2), 0);

    /* 1: fetched; the method is not there yet (UNIMPLEMENTED, a permanent failure) */
    ASSERT_EQ_INT(run_once(&h, e1, wf, "{\"image\":\"one\"}"), 1);
    ASSERT_CONTAINS(h.summary, "grpc:UNIMPLEMENTED");
    /* 2: the same engine fetches again, and now the method is there */
    ASSERT_EQ_INT(run_once(&h, e1, wf, "{\"image\":\"two\"}"), 0);
    ASSERT_EQ_STR(h.output, "{\"id\":\"i-two\"}");
    /* 3: cached: no fetch */
    ASSERT_EQ_INT(run_once(&h, e1, wf, "{\"image\":\"three\"}"), 0);
    ASSERT_EQ_INT(run_once(&h, e1, stats, NULL), 0);
    ASSERT_EQ_STR(h.output, "{\"log\":[\"Reflection\",\"Unimplemented:CreateInstance\",\"Reflection\","
                            "\"CreateInstance:two\",\"CreateInstance:three\"]}");
    /* another engine holds nothing of the first's */
    ASSERT_EQ_INT(run_once(&h, e2, wf, "{\"image\":\"four\"}"), 0);
    ASSERT_EQ_INT(run_once(&h, e1, stats, NULL), 0);
    ASSERT_EQ_INT(count(h.output, "\"Reflection\""), 3);
    ASSERT_CONTAINS(h.output, "\"CreateInstance:four\"]");

    ASSERT_EQ_INT(mae_engine_close(e1, on_closed, &h), 0);
    ASSERT_EQ_INT(mae_engine_close(e2, on_closed, &h), 0);
    uv_run(&h.loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(h.closed, 2);
    ASSERT_EQ_INT(uv_loop_close(&h.loop), 0);
    mae_workflow_free(wf);
    mae_workflow_free(stats);
    th_stop(&srv);
    if (srv.out) fclose(srv.out);
}

TEST_T(engine_run_cancelled_while_fetching_ends_with_nothing_called, 120) {
    /* a server that accepts the connection and never answers reflection: the run waits on the
     * fetch; cancelling it ends the run as interrupted, with the fetch cancelled */
    th_proc srv;
    char *argv[] = {TH_PYTHON, (char *)th_path("tests/servers/grpc_typed.py"), "--port", "0", "--reflection", "v1",
                    "--reflection-hang", NULL};
    ASSERT_EQ_INT(th_spawn(&srv, argv, 60), 0);
    mae_workflow *wf = load(wf_yaml, srv.port);
    host h = {0};
    ASSERT_EQ_INT(uv_loop_init(&h.loop), 0);
    mae_engine *e;
    ASSERT_EQ_INT(mae_engine_new(&h.loop, NULL, &e), 0);
    mae_run *run;
    ASSERT_EQ_INT(mae_run_start(e, wf, "{\"image\":\"x\"}", NULL, on_done, &h, &run), 0);
    /* a few loop turns: the fetch is under way */
    for (int i = 0; i < 20 && !h.done; i++) uv_run(&h.loop, UV_RUN_NOWAIT);
    ASSERT_EQ_INT(h.done, 0);
    mae_run_cancel(run);
    while (!h.done) uv_run(&h.loop, UV_RUN_ONCE);
    ASSERT_EQ_INT(h.exit_code, 130);
    ASSERT_EQ_INT(mae_engine_close(e, on_closed, &h), 0);
    uv_run(&h.loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(h.closed, 1);
    ASSERT_EQ_INT(uv_loop_close(&h.loop), 0);
    mae_workflow_free(wf);
    th_stop(&srv);
    if (srv.out) fclose(srv.out);
}
