/* The engine's embedding API beyond the run machinery: transports the engine creates for itself
 * (lazily, on the first call of each type, through the type table of transports/target.h, so a
 * program never starts a transport it does not call), and
 * mae_engine_close, which takes the whole engine down from the loop in four steps:
 *   1. runs still going are cancelled (they compensate) and awaited; unfreed runs are freed
 *   2. per-service state closes (engine.c: breaker timers, an active probe)
 *   3. the transports the engine owns close (cancelling anything left in flight)
 *   4. the engine is freed and done(ud) runs.
 * Steps run from a timer callback, never from inside mae_engine_close, so closing from a run
 * callback cannot free the run the caller is still holding. */
#include <stdlib.h>
#include <string.h>

#include "loop/engine_int.h"
#include "workflow/template.h"

mae_transport *mae__api_transport(mae_engine *e, const char *type) {
    mae_api_state *a = &e->api;
    size_t i = 0;
    while (mae__target_types[i] && (!type || strcmp(mae__target_types[i]->name, type) != 0)) i++;
    if (!mae__target_types[i] || i >= MAE_API_MAX_TYPES) return NULL;
    mae_transport **slot = &a->own[i];
    if (*slot) return *slot;
    /* not once the transports were closed: a late call then fails as "no transport" */
    if (a->phase == API_TRANSPORTS) return NULL;
    int rc = mae__target_types[i]->transport_new(e->loop, slot);
    if (rc != 0) {
        *slot = NULL;
        mae__elog(e, MAE_LOG_ERROR, "cannot start the %s transport: %s", type, mae_strerror(rc));
        return NULL;
    }
    return *slot;
}

int mae_json_format(const cJSON *v, char **out) {
    if (!out) return MAE_EINVAL;
    *out = NULL;
    if (!v) return MAE_EINVAL;
    size_t len;
    return mae__json_print(v, (size_t)1 << 30, out, &len);
}

void mae_transport_close(mae_transport *t, void (*done)(void *ud), void *ud) {
    if (t) t->vt->close(t, done, ud);
}

static void finish(mae_engine *e) {
    void (*done)(void *) = e->api.done;
    void *ud = e->api.ud;
    free(e);
    if (done) done(ud);
}

static void one_closed(void *ud) {
    mae_engine *e = ud;
    if (--e->api.pending == 0) finish(e);
}

static void timer_closed(uv_handle_t *h) { one_closed(h->data); }

/* Step 3: the transports (each closed once, also when one object serves both types). */
void mae__api_svcs_closed(mae_engine *e) {
    mae_api_state *a = &e->api;
    a->phase = API_TRANSPORTS;
    mae_transport *list[MAE_API_MAX_TYPES + MAE_MAX_TRANSPORTS] = {0};
    int n = 0;
    for (size_t i = 0; i < MAE_API_MAX_TYPES; i++) {
        list[n++] = a->own[i];
        a->own[i] = NULL;
    }
    for (size_t i = 0; e->opts.close_transports && i < e->n_tr; i++) list[n++] = e->tr[i];
    a->pending = 1;   /* the timer's close */
    for (int i = 0; i < n; i++) {
        bool dup = false;
        for (int j = 0; j < i; j++) dup = dup || list[j] == list[i];
        if (!list[i] || dup) continue;
        a->pending++;
        mae_transport_close(list[i], one_closed, e);
    }
    uv_close((uv_handle_t *)&a->close_timer, timer_closed);
}

static bool settled(const mae_run *run) { return run->state == RUN_DONE && run->open_handles == 0; }

/* Step 1, re-checked whenever a run settles: once every run is over, free those the caller did
 * not, then step 2. */
static void close_check(uv_timer_t *t) {
    mae_engine *e = t->data;
    if (e->api.phase != API_RUNS) return;
    for (mae_run *r = e->runs; r; r = r->next)
        if (!settled(r)) return;
    while (e->runs) mae_run_free(e->runs);
    e->api.phase = API_SVCS;
    mae__engine_close_svcs(e);
}

void mae__api_run_settled(mae_engine *e) {
    if (e->api.phase == API_RUNS) uv_timer_start(&e->api.close_timer, close_check, 0, 0);
}

int mae_engine_close(mae_engine *e, void (*done)(void *ud), void *ud) {
    if (!e) return 0;
    if (e->closing) return MAE_ESTATE;
    mae_api_state *a = &e->api;
    if (uv_timer_init(e->loop, &a->close_timer) != 0) return MAE_ENOMEM;
    a->close_timer.data = e;
    e->closing = true;
    a->phase = API_RUNS;
    a->done = done;
    a->ud = ud;
    for (mae_run *r = e->runs; r; r = r->next) mae_run_cancel(r);
    uv_timer_start(&a->close_timer, close_check, 0, 0);
    return 0;
}
