/* The loader under allocation failure: every allocation of a load (libyaml's, the tree's, the
 * arena's chunks, templates, cJSON defaults, side tables) is made to fail in turn; each run
 * must return 0 or MAE_ENOMEM (never crash, never report a made-up problem) and give back
 * everything. In the plain build malloc itself is replaced (glibc's __libc_* underneath) and
 * outstanding blocks are counted; under ASan, which owns malloc, only cJSON's allocations are
 * failed (through cJSON_InitHooks) and LeakSanitizer checks the rest. */
#include <stdlib.h>

#include "harness.h"
#include "maestro/maestro.h"
#include "workflow/model.h"

#include "oom.h"

/* Loads text with each allocation failing in turn; every run gives 0 or ENOMEM. */
static void exhaust(const char *text, int want_ok_rc) {
#ifdef TH_ASAN
    cJSON_InitHooks(&(cJSON_Hooks){oom_hook_malloc, free});
#endif
    long ok_runs = 0, oom_runs = 0;
    for (long at = 1; at < 100000; at++) {
        /* Counting starts before the diagnostics list so that freeing it balances. */
        arm(0);
        mae_diags d;
        mae__diags_init(&d, "oom.yaml");
        n_allocs = 0;
        fail_at = at;
        mae_workflow *wf = NULL;
        int rc = mae__workflow_load_buf("oom.yaml", text, strlen(text), &wf, &d);
        if (rc == 0) {
            /* the loaded model must be whole: input defaults present */
            cJSON *in = cJSON_Parse("{\"items\": [1]}");
            int irc = in ? mae__input_check(wf, in, &d) : MAE_ENOMEM;
            if (irc == 0) ASSERT_NOT_NULL(cJSON_GetObjectItem(in, "region"));
            else ASSERT_EQ_INT(irc, MAE_ENOMEM);
            cJSON_Delete(in);
        }
        fail_at = 0;
        if (rc == want_ok_rc) {
            ok_runs++;
            if (want_ok_rc == 0 && !failed) ASSERT_EQ_INT(d.n, 0);
        } else if (rc == MAE_ENOMEM) {
            oom_runs++;
            ASSERT_TRUE(failed);
            ASSERT_NULL(wf);
        } else {
            armed = 0;
            mae__diags_print(&d, stderr);
            th_fail(__FILE__, __LINE__, "allocation %ld failing: rc %d", at, rc);
        }
        mae_workflow_free(wf);
        mae__diags_free(&d);
        armed = 0;
#ifndef TH_ASAN
        if (outstanding != 0) th_fail(__FILE__, __LINE__, "allocation %ld failing: %ld blocks leaked", at, outstanding);
#endif
        if (!failed) break;  /* every allocation has had its turn */
    }
    fprintf(stderr, "  %ld runs failed with ENOMEM, %ld completed\n", oom_runs, ok_runs);
    ASSERT_CMP_INT(ok_runs, >=, 1);
#ifndef TH_ASAN
    ASSERT_CMP_INT(oom_runs, >=, 100);   /* libyaml, tree, arena, templates, cJSON, side tables */
#endif
#ifdef TH_ASAN
    cJSON_InitHooks(NULL);
#endif
}

static const char rich[] =
    "name: rich\n"
    "x-d: &d {type: grpc, timeout: 2s, retry: {attempts: 4, on: [connect, \"grpc:UNAVAILABLE\"]}}\n"
    "input:\n"
    "  items: {type: array, required: true}\n"
    "  region: {type: string, default: \"eu-west-1\"}\n"
    "  opts: {type: object, default: {a: [1, 2, {b: c}], d: null}}\n"
    "services:\n"
    "  rpc: {<<: *d, endpoint: \"127.0.0.1:50051\"}\n"
    "  web:\n"
    "    type: http\n"
    "    endpoint: \"http://127.0.0.1:3000\"\n"
    "    headers: {Authorization: \"Bearer {{ env 'T' }}\"}\n"
    "    circuit_breaker: {probe: \"GET /health\"}\n"
    "steps:\n"
    "  - id: first\n"
    "    service: web\n"
    "    method: \"GET /things/{{ .input.region }}\"\n"
    "    output: thing\n"
    "    compensate: {method: Undo, input: {id: \"{{ .thing.id }}\"}}\n"
    "  - parallel:\n"
    "      - {id: a, service: rpc, method: A, input: {t: \"{{ .thing }}\"}, output: ra}\n"
    "      - sequence:\n"
    "          - {id: b, service: web, method: SendIt, output: rb}\n"
    "          - {id: c, service: rpc, method: C, input: {x: \"{{ .rb.x }}\"}}\n"
    "  - id: each\n"
    "    foreach: \"{{ .input.items }}\"\n"
    "    as: it\n"
    "    do:\n"
    "      service: rpc\n"
    "      method: Each\n"
    "      input: {v: \"{{ .it }}\", i: \"{{ .it_index }}\", all: [1, true, ~, 'q']}\n"
    "      output: one\n"
    "    output: many\n"
    "output: {a: \"{{ .ra }}\", many: \"{{ .many }}\", n: 3}\n";

TEST(oom_load_rich_workflow) { exhaust(rich, 0); }

/* A broken file under allocation failure: the problems, or ENOMEM, never anything else. */
TEST(oom_load_broken_workflow) {
    exhaust("name: b\nservices: {a: {type: soap, endpoint: x}}\nsteps:\n  - {id: s, service: a, method: M, "
            "input: {v: \"{{ .nope }}\", w: \"{{ .x + }}\"}}\n  - {id: s, servce: a}\n",
            MAE_EPARSE);
}
