/* Test fixture for the engine tests: a loop, a scripted transport serving both service types,
 * an engine, a workflow loaded from a YAML string, and helpers to run it and read the report.
 * fx_close() closes everything and asserts uv_loop_close() == 0. Header-only (static) so each
 * test binary stays one file plus the harness. */
#ifndef MAE_ENGINE_FX_H
#define MAE_ENGINE_FX_H

#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "harness.h"
#include "loop/engine_int.h"
#include "maestro/maestro.h"
#include "tests/support/scripted.h"
#include "workflow/model.h"

typedef struct fx {
    uv_loop_t loop;
    mae_transport *tr;
    mae_engine *eng;
    mae_workflow *wf;
    int done_called;
    mae_run_status status;
    int exit_code;
    cJSON *report;
    cJSON *output;
    char *summary;
    int tr_closed, eng_closed;
} fx;

static inline void fx_load(fx *f, const char *yaml) {
    mae_diags d;
    mae__diags_init(&d, "test.yaml");
    int rc = mae__workflow_load_buf("test.yaml", yaml, strlen(yaml), &f->wf, &d);
    if (rc != 0) mae__diags_print(&d, stdout);
    mae__diags_free(&d);
    ASSERT_EQ_INT(rc, 0);
}

static inline void fx_init(fx *f, const char *yaml) {
    memset(f, 0, sizeof *f);
    ASSERT_EQ_INT(uv_loop_init(&f->loop), 0);
    ASSERT_EQ_INT(mae_scripted_new(&f->loop, &f->tr), 0);
    mae_engine_opts o;
    mae_engine_opts_init(&o);
    o.http = f->tr;
    o.grpc = f->tr;
    o.log_level = getenv("MAE_TEST_LOG") ? MAE_LOG_DEBUG : MAE_LOG_OFF;
    ASSERT_EQ_INT(mae_engine_new(&f->loop, &o, &f->eng), 0);
    if (yaml) fx_load(f, yaml);
}

static inline void fx_on_done(mae_run *run, const mae_run_result *res, void *ud) {
    fx *f = ud;
    f->done_called++;
    f->status = res->status;
    f->exit_code = res->exit_code;
    cJSON_Delete(f->report);
    cJSON_Delete(f->output);
    free(f->summary);
    f->report = cJSON_Duplicate((const cJSON *)res->report, 1);
    f->output = res->output ? cJSON_Duplicate((const cJSON *)res->output, 1) : NULL;
    f->summary = res->summary ? strdup(res->summary) : NULL;
    if (getenv("MAE_TEST_LOG")) {
        char *t = cJSON_Print(f->report);
        printf("report: %s\n%s", t, f->summary ? f->summary : "");
        free(t);
    }
    mae_run_free(run);
}

/* Runs the workflow to the end (uv_run returns when the run is over and nothing else is alive). */
static inline int fx_run(fx *f, const char *input) {
    mae_run *run = NULL;
    int before = f->done_called;
    int rc = mae_run_start(f->eng, f->wf, input, NULL, fx_on_done, f, &run);
    if (rc != 0) return rc;
    ASSERT_EQ_INT(f->done_called, before);   /* never from inside start */
    uv_run(&f->loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(f->done_called, before + 1);
    return 0;
}

static inline void fx_tr_closed(void *ud) { ((fx *)ud)->tr_closed++; }
static inline void fx_eng_closed(void *ud) { ((fx *)ud)->eng_closed++; }

static inline void fx_close(fx *f) {
    ASSERT_EQ_INT(mae_engine_close(f->eng, fx_eng_closed, f), 0);
    mae_scripted_close(f->tr, fx_tr_closed, f);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(f->eng_closed, 1);
    ASSERT_EQ_INT(f->tr_closed, 1);
    ASSERT_EQ_INT(uv_loop_close(&f->loop), 0);
    mae_workflow_free(f->wf);
    cJSON_Delete(f->report);
    cJSON_Delete(f->output);
    free(f->summary);
}

/* The report's entry for step id (the n-th one with that id, from 0), or NULL. */
static inline const cJSON *fx_step(const fx *f, const char *id, int nth) {
    const cJSON *s;
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(f->report, "steps")) {
        const cJSON *i = cJSON_GetObjectItemCaseSensitive(s, "id");
        if (cJSON_IsString(i) && strcmp(i->valuestring, id) == 0 && nth-- == 0) return s;
    }
    return NULL;
}

static inline const char *fx_str(const cJSON *o, const char *path) {
    /* "a.b.c" */
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    const cJSON *cur = o;
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); k && cur; k = strtok_r(NULL, ".", &save))
        cur = cJSON_GetObjectItemCaseSensitive(cur, k);
    return cJSON_IsString(cur) ? cur->valuestring : NULL;
}

static inline double fx_num(const cJSON *o, const char *path) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    const cJSON *cur = o;
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); k && cur; k = strtok_r(NULL, ".", &save))
        cur = cJSON_GetObjectItemCaseSensitive(cur, k);
    return cJSON_IsNumber(cur) ? cur->valuedouble : -1;
}

/* The log entries of one kind, filtered by compensation flag (-1 = any), as "method" list
 * joined with ','. */
static inline char *fx_methods(fx *f, mae_script_ev ev, int comp) {
    size_t n;
    const mae_script_entry *e = mae_scripted_log(f->tr, &n);
    size_t cap = 64 + n * 32;
    char *out = calloc(1, cap);
    for (size_t i = 0; i < n; i++) {
        if (e[i].ev != ev || (comp >= 0 && e[i].compensation != (comp != 0))) continue;
        if (ev != MAE_SCRIPT_CALL && comp >= 0) continue;
        if (*out) strcat(out, ",");
        strncat(out, e[i].method ? e[i].method : "?", cap - strlen(out) - 2);
    }
    return out;
}

/* One rule: method answers output_json (NULL = echo) after latency_ms, failing fail_times first. */
static inline mae_script_rule *fx_rule(fx *f, const char *method, const char *output_json, uint64_t latency_ms,
                                int fail_times) {
    mae_script_rule *r = mae_scripted_rule(f->tr, NULL, method);
    ASSERT_NOT_NULL(r);
    r->latency_ms = latency_ms;
    r->fail_times = fail_times;
    if (output_json) {
        r->output = cJSON_Parse(output_json);
        ASSERT_NOT_NULL(r->output);
    }
    return r;
}

/* The same, only for calls whose input JSON contains `match`. */
static inline mae_script_rule *fx_rule_in(fx *f, const char *method, const char *match, const char *output_json,
                                          uint64_t latency_ms, int fail_times) {
    mae_script_rule *r = fx_rule(f, method, output_json, latency_ms, fail_times);
    r->match_input = strdup(match);
    return r;
}

#endif
