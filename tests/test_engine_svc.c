/* Per-service state owned by the engine (breaker, its timer and probe, max_in_flight queue):
 * keyed by the service's identity (type, endpoint, name), holding copies of its settings, so it
 * outlives the workflows that named it and is shared by every workflow naming the same service.
 * Run under ASan, the first test is the use-after-free reproduction of issue #10. */
#include <stdint.h>

#include "engine_fx.h"

static const char brk_wf[] =
    "name: b\n"
    "services:\n  s:\n    type: http\n    endpoint: \"http://127.0.0.1:1\"\n"
    "    retry: {attempts: 1}\n"
    "    circuit_breaker: {failures: 1, open_for: 50ms, probe: \"GET /health\"}\n"
    "steps:\n"
    "  - {id: a, service: s, method: \"POST /a\"}\n";

/* The run's callback frees the run and then the workflow, as an embedder may. */
static void free_all_on_done(mae_run *run, const mae_run_result *res, void *ud) {
    fx *f = ud;
    f->done_called++;
    f->status = res->status;
    mae_run_free(run);
    mae_workflow_free(f->wf);
    f->wf = NULL;
}

static int keepalive_fired;
static void on_keepalive(uv_timer_t *t) {
    keepalive_fired++;
    uv_close((uv_handle_t *)t, NULL);
}

static mae_svc_state *only_state(fx *f) {
    ASSERT_NOT_NULL(f->eng->svcs);
    ASSERT_NULL(f->eng->svcs->next);
    return f->eng->svcs;
}

TEST(breaker_timer_after_the_workflow_is_freed_touches_only_engine_memory) {
    fx f;
    fx_init(&f, brk_wf);
    fx_rule(&f, "POST /a", NULL, 0, -1);
    mae_script_rule *probe = fx_rule(&f, "GET /health", NULL, 0, 0);
    mae_run *run = NULL;
    ASSERT_EQ_INT(mae_run_start(f.eng, f.wf, NULL, NULL, free_all_on_done, &f, &run), 0);
    /* The breaker timer does not keep the loop alive: this one outlasts its 50 ms. */
    uv_timer_t keep;
    uv_timer_init(&f.loop, &keep);
    uv_timer_start(&keep, on_keepalive, 200, 0);
    keepalive_fired = 0;
    uv_run(&f.loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(f.done_called, 1);
    ASSERT_EQ_INT(f.status, MAE_RUN_FAILED);
    ASSERT_NULL(f.wf);
    ASSERT_EQ_INT(keepalive_fired, 1);
    /* The timer fired with the workflow gone: half-open, the probe (compiled into the engine's
     * own memory) was sent and answered, the breaker closed. */
    mae_svc_state *s = only_state(&f);
    ASSERT_EQ_INT(probe->calls, 1);
    ASSERT_EQ_INT(s->brk.opened, 1);
    ASSERT_EQ_INT(s->brk.state, MAE_BRK_CLOSED);
    ASSERT_EQ_STR(s->cfg.name, "s");
    ASSERT_EQ_STR(s->cfg.endpoint, "http://127.0.0.1:1");
    fx_close(&f);
}

static const char long_brk_wf[] =
    "name: b\n"
    "services:\n  s:\n    type: http\n    endpoint: \"%s\"\n"
    "    retry: {attempts: 1}\n"
    "    circuit_breaker: {failures: %d, open_for: 1h}\n"
    "steps:\n"
    "  - {id: a, service: s, method: \"POST /a\"}\n";

static void load_fmt(fx *f, const char *endpoint, int failures) {
    char y[1024];
    snprintf(y, sizeof y, long_brk_wf, endpoint, failures);
    fx_load(f, y);
}

/* A run of f->wf, freeing the run and the workflow from its callback. */
static void run_and_free(fx *f) {
    mae_run *run = NULL;
    int before = f->done_called;
    ASSERT_EQ_INT(mae_run_start(f->eng, f->wf, NULL, NULL, free_all_on_done, f, &run), 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(f->done_called, before + 1);
}

TEST(a_new_workflow_gets_the_breaker_of_its_identity_not_of_its_address) {
    fx f;
    fx_init(&f, NULL);
    mae_script_rule *r = fx_rule(&f, "POST /a", NULL, 0, 1);   /* only the first call fails */
    load_fmt(&f, "http://127.0.0.1:1", 1);
    const void *old_wf = f.wf, *old_svc = &f.wf->services[0];
    run_and_free(&f);
    ASSERT_EQ_INT(f.status, MAE_RUN_FAILED);
    ASSERT_EQ_INT(only_state(&f)->brk.state, MAE_BRK_OPEN);
    /* Another service (same name, other endpoint), loaded where the freed one may have been:
     * its own breaker, closed, so its call is sent and succeeds. */
    load_fmt(&f, "http://127.0.0.1:2", 1);
    printf("  second workflow at the freed one's address: %s\n",
           (const void *)f.wf == old_wf && (const void *)&f.wf->services[0] == old_svc ? "yes" : "no");
    run_and_free(&f);
    ASSERT_EQ_INT(f.status, MAE_RUN_SUCCEEDED);
    ASSERT_EQ_INT(r->calls, 2);
    /* The first service again, in a third workflow: same identity, so the same breaker, still
     * open: the call fails fast without reaching the transport. */
    load_fmt(&f, "http://127.0.0.1:1", 1);
    run_and_free(&f);
    ASSERT_EQ_INT(f.status, MAE_RUN_FAILED);
    ASSERT_EQ_INT(r->calls, 2);
    int n = 0;
    for (mae_svc_state *s = f.eng->svcs; s; s = s->next) n++;
    ASSERT_EQ_INT(n, 2);
    fx_close(&f);
}

/* The same mae_service address naming another service (what a workflow allocated where a freed
 * one was amounts to; here --set changes the endpoint in place): the state follows the
 * identity, never the pointer. */
TEST(one_service_address_with_another_identity_gets_another_breaker) {
    fx f;
    fx_init(&f, NULL);
    mae_script_rule *r = fx_rule(&f, "POST /a", NULL, 0, 1);   /* only the first call fails */
    load_fmt(&f, "http://127.0.0.1:1", 1);
    mae_service *svc = &f.wf->services[0];
    ASSERT_EQ_INT(fx_run(&f, NULL), 0);
    ASSERT_EQ_INT(f.status, MAE_RUN_FAILED);
    mae_svc_state *first = mae__svc(f.eng, svc);
    ASSERT_EQ_INT(first->brk.state, MAE_BRK_OPEN);
    svc->endpoint = "http://127.0.0.1:2";
    ASSERT_EQ_INT(fx_run(&f, NULL), 0);
    ASSERT_EQ_INT(f.status, MAE_RUN_SUCCEEDED);
    ASSERT_EQ_INT(r->calls, 2);
    mae_svc_state *second = mae__svc(f.eng, svc);
    ASSERT_TRUE(second != first);
    ASSERT_EQ_INT(second->brk.state, MAE_BRK_CLOSED);
    svc->endpoint = "http://127.0.0.1:1";
    ASSERT_EQ_INT(fx_run(&f, NULL), 0);
    ASSERT_EQ_STR(fx_str(f.report, "error.class"), "circuit_open");
    ASSERT_EQ_INT(r->calls, 2);
    fx_close(&f);
}

TEST(two_workflows_naming_one_service_share_its_breaker_first_settings_win) {
    fx f;
    fx_init(&f, NULL);
    mae_script_rule *r = fx_rule(&f, "POST /a", NULL, 0, -1);
    load_fmt(&f, "http://127.0.0.1:1", 1);
    mae_workflow *a = f.wf;
    load_fmt(&f, "http://127.0.0.1:1", 7);   /* other breaker settings: the first ones win */
    mae_workflow *b = f.wf;
    mae_svc_state *sa = mae__svc(f.eng, &a->services[0]);
    mae_svc_state *sb = mae__svc(f.eng, &b->services[0]);
    ASSERT_NOT_NULL(sa);
    ASSERT_TRUE(sa == sb);
    ASSERT_EQ_INT(sa->brk.cfg.failures, 1);
    ASSERT_TRUE(sa->cfg.name != a->services[0].name);   /* a copy, not the workflow's string */
    f.wf = a;
    ASSERT_EQ_INT(fx_run(&f, NULL), 0);
    ASSERT_EQ_INT(f.status, MAE_RUN_FAILED);
    ASSERT_EQ_INT(r->calls, 1);
    ASSERT_EQ_INT(sa->brk.state, MAE_BRK_OPEN);
    f.wf = b;
    ASSERT_EQ_INT(fx_run(&f, NULL), 0);
    ASSERT_EQ_INT(f.status, MAE_RUN_FAILED);
    ASSERT_EQ_STR(fx_str(f.report, "error.class"), "circuit_open");
    ASSERT_EQ_INT(r->calls, 1);
    mae_workflow_free(a);
    fx_close(&f);   /* frees b */
}

TEST(max_in_flight_queue_is_shared_by_workflows_naming_the_service) {
    static const char y[] =
        "name: q\n"
        "services:\n  s:\n    type: grpc\n    endpoint: \"127.0.0.1:1\"\n    max_in_flight: 1\n"
        "steps:\n"
        "  - {id: a, service: s, method: Slow}\n";
    fx f;
    fx_init(&f, y);
    mae_workflow *a = f.wf;
    fx_load(&f, y);
    mae_workflow *b = f.wf;
    fx_rule(&f, "Slow", NULL, 20, 0);
    mae_run *ra = NULL, *rb = NULL;
    ASSERT_EQ_INT(mae_run_start(f.eng, a, NULL, NULL, fx_on_done, &f, &ra), 0);
    ASSERT_EQ_INT(mae_run_start(f.eng, b, NULL, NULL, fx_on_done, &f, &rb), 0);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(f.done_called, 2);
    ASSERT_EQ_INT(mae_scripted_max_in_flight(f.tr), 1);
    mae_workflow_free(a);
    fx_close(&f);
}
