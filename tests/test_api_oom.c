/* The embedding API under allocation failure: mae_engine_new, mae_workflow_load_mem (valid and
 * invalid text, diagnostics through a callback), mae_workflow_set_endpoint and mae_json_format,
 * with each allocation failing in turn, return 0 or the code their header documents for it
 * (MAE_ENOMEM; an invalid text stays MAE_EPARSE or becomes MAE_ENOMEM) and give everything back.
 * Plain build: malloc itself fails (tests/oom.h); under ASan only cJSON's allocations do. */
#include <stdlib.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "harness.h"
#include "maestro/maestro.h"

#include "oom.h"

typedef int (*op_fn)(void *ud);

/* Runs op with allocation 1, 2, ... failing until one run sees no failure. */
/* keeps: a success may keep what it allocated (an endpoint copied into the workflow). */
static void exhaust(const char *name, op_fn op, void *ud, int ok_rc, bool keeps) {
#ifdef TH_ASAN
    cJSON_InitHooks(&(cJSON_Hooks){oom_hook_malloc, free});
#endif
    long oom_runs = 0;
    for (long at = 1; at < 100000; at++) {
        arm(at);
        int rc = op(ud);
        disarm();
        if (rc != ok_rc && rc != MAE_ENOMEM)
            th_fail(__FILE__, __LINE__, "%s: allocation %ld failing: rc %d (%s)", name, at, rc, mae_err_name(rc));
        if (rc == MAE_ENOMEM) {
            ASSERT_TRUE(failed);
            oom_runs++;
        }
#ifndef TH_ASAN
        if (outstanding != 0 && !(keeps && rc == ok_rc)) th_fail(__FILE__, __LINE__, "%s: allocation %ld failing: %ld blocks leaked", name, at, outstanding);
#endif
        if (!failed) break;
    }
    fprintf(stderr, "  %s: %ld runs failed with ENOMEM\n", name, oom_runs);
#ifdef TH_ASAN
    cJSON_InitHooks(NULL);
#endif
}

static int engine_op(void *ud) {
    uv_loop_t *loop = ud;
    mae_engine *e = NULL;
    int rc = mae_engine_new(loop, NULL, &e);
    if (rc != 0) return rc;
    rc = mae_engine_close(e, NULL, NULL);
    if (rc != 0) return rc;
    uv_run(loop, UV_RUN_DEFAULT);
    return 0;
}

TEST(engine_new_and_close_under_allocation_failure) {
    uv_loop_t loop;
    ASSERT_EQ_INT(uv_loop_init(&loop), 0);
    exhaust("engine", engine_op, &loop, 0, false);
    ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}

static const char good[] =
    "name: oom\n"
    "services:\n  web: {type: http, endpoint: \"http://127.0.0.1:1\"}\n"
    "steps:\n  - {id: a, service: web, method: \"POST /a/{{ .input.x }}\", input: {x: [1, 2]}}\n";
static const char bad[] =
    "name: oom\n"
    "services:\n  web: {type: http, endpoint: \"nohost\", colour: blue}\n"
    "steps:\n  - {id: a, service: nope, method: A}\n";

static void count_diag(const mae_diagnostic *d, void *ud) {
    ASSERT_NOT_NULL(d->message);
    (*(int *)ud)++;
}

static int load_op(void *ud) {
    const char *text = ud;
    int n = 0;
    mae_load_opts lo = {.text = text, .len = strlen(text), .on_diag = count_diag, .diag_ud = &n};
    mae_workflow *wf = NULL;
    int rc = mae_workflow_load_opts("oom.yaml", &lo, &wf);
    if (rc == MAE_EPARSE && n == 0) return MAE_EINTERNAL;   /* EPARSE must say why */
    if (rc != 0 && wf) return MAE_EINTERNAL;
    mae_workflow_free(wf);
    return rc;
}

TEST(load_from_memory_under_allocation_failure) {
    exhaust("load good", load_op, (void *)good, 0, false);
    exhaust("load bad", load_op, (void *)bad, MAE_EPARSE, false);
}

static char long_ep[70000];

static int endpoint_op(void *ud) {
    mae_workflow *wf = ud;
    char err[128];
    int rc = mae_workflow_set_endpoint(wf, "web", long_ep, err, sizeof err);
    if (rc == MAE_ENOMEM) ASSERT_EQ_STR(err, "out of memory");
    return rc;
}

static int format_op(void *ud) {
    char *t = NULL;
    int rc = mae_json_format(ud, &t);
    if (rc == 0) ASSERT_EQ_STR(t, "{\"n\":9007199254740991,\"a\":[1,\"x\"]}");
    else ASSERT_NULL(t);
    free(t);
    return rc;
}

TEST(endpoint_override_and_json_format_under_allocation_failure) {
    mae_workflow *wf;
    ASSERT_EQ_INT(mae_workflow_load_mem("oom.yaml", good, strlen(good), &wf, stderr), 0);
    /* longer than any arena chunk so far: the copy needs a new one, which fails in turn */
    memset(long_ep, 'a', sizeof long_ep - 1);
    memcpy(long_ep, "http://127.0.0.1:2/", 19);
    exhaust("endpoint", endpoint_op, wf, 0, true);
    mae_workflow_free(wf);
    cJSON *v = cJSON_Parse("{\"n\":9007199254740991,\"a\":[1,\"x\"]}");
    ASSERT_NOT_NULL(v);
    exhaust("format", format_op, v, 0, false);
    cJSON_Delete(v);
}
