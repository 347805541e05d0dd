/* Run events (include/maestro/events.h): each emitter fills one mae_event from the engine's
 * state and hands it to the engine's on_event handler. Nothing is built when there is no
 * handler, and no emitter changes the run, so an emission point is one line in the engine. */
#include <string.h>

#include "loop/engine_int.h"

const char *mae_event_kind_name(mae_event_kind k) {
    switch (k) {
    case MAE_EV_RUN_START: return "run_start";
    case MAE_EV_STEP_START: return "step_start";
    case MAE_EV_ATTEMPT_START: return "attempt_start";
    case MAE_EV_ATTEMPT_RESULT: return "attempt_result";
    case MAE_EV_STEP_END: return "step_end";
    case MAE_EV_COMP_START: return "comp_start";
    case MAE_EV_COMP_RESULT: return "comp_result";
    case MAE_EV_RUN_END: return "run_end";
    }
    return "?";
}

static bool wanted(const mae_run *run) { return run->eng->opts.on_event != NULL; }

static void init(mae_event *ev, mae_event_kind kind, mae_run *run) {
    memset(ev, 0, sizeof *ev);
    ev->kind = kind;
    ev->run = run;
    ev->run_id = run->id;
    ev->workflow = run->wf->name;
    ev->index = -1;
    ev->duration_ms = -1;
    ev->delay_ms = -1;
}

static void emit(mae_run *run, const mae_event *ev) {
    mae_engine *e = run->eng;
    e->opts.on_event(ev, e->opts.event_ud);
}

static int64_t since(const mae_run *run, uint64_t t0) { return (int64_t)(uv_now(run->eng->loop) - t0); }

void mae__ev_run_start(mae_run *run) {
    if (!wanted(run)) return;
    mae_event ev;
    init(&ev, MAE_EV_RUN_START, run);
    ev.input = cJSON_GetObjectItemCaseSensitive(run->vars->obj, "input");
    emit(run, &ev);
}

void mae__ev_run_end(mae_run *run) {
    if (!wanted(run)) return;
    mae_event ev;
    init(&ev, MAE_EV_RUN_END, run);
    ev.outcome = mae_run_status_name(run->status);
    ev.duration_ms = since(run, run->started_ms);
    if (run->failed) {
        ev.step_id = NULL;
        ev.class_name = run->fail_class;
        ev.status = run->fail_status;
        ev.message = run->fail_msg;
    } else {
        ev.class_name = "ok";
        ev.output = run->output;
    }
    ev.report = run->report;
    emit(run, &ev);
}

static void step_fields(mae_event *ev, const mae_node *n) {
    ev->step_id = n->step->id;
    ev->index = n->index;
    if (n->step->kind == MAE_STEP_CALL) {
        ev->service = n->step->service ? n->step->service->name : NULL;
        ev->method = n->step->method;
    }
}

/* Steps that events name: calls, and groups with an id; not the root, not foreach items. */
static bool is_step(const mae_node *n) { return n->kind != NODE_ITEM && n->step && n->step->id; }

void mae__ev_step_start(mae_node *n) {
    if (!wanted(n->run) || !is_step(n)) return;
    mae_event ev;
    init(&ev, MAE_EV_STEP_START, n->run);
    step_fields(&ev, n);
    emit(n->run, &ev);
}

void mae__ev_group_end(mae_node *n) {
    if (!wanted(n->run) || !is_step(n)) return;
    mae_event ev;
    init(&ev, MAE_EV_STEP_END, n->run);
    step_fields(&ev, n);
    ev.outcome = n->failed ? "failed" : "succeeded";
    emit(n->run, &ev);
}

void mae__ev_step_early_end(mae_node *n, const char *outcome, int cls, const char *msg) {
    if (!wanted(n->run) || !is_step(n)) return;
    mae_event ev;
    init(&ev, MAE_EV_STEP_END, n->run);
    step_fields(&ev, n);
    ev.outcome = outcome;
    cJSON *err = NULL;
    char cn[64];
    if (msg) {
        mae__class_format(cls, 0, cn, sizeof cn);
        ev.class_name = cn;
        ev.message = msg;
        ev.error = err = mae__error_json(cls, 0, msg);
    }
    emit(n->run, &ev);
    cJSON_Delete(err);
}

/* The fields every event about one call (or compensation) carries. */
static void call_fields(mae_event *ev, const mae_callnode *c) {
    ev->step_id = c->base.step->id;
    ev->index = c->base.index;
    ev->compensation = c->is_comp;
    ev->service = c->service ? c->service->name : NULL;
    ev->method = c->target ? c->target->text : NULL;   /* as written */
}

void mae__ev_attempt_start(mae_callnode *c) {
    c->ev_open = true;
    if (!wanted(c->base.run)) return;
    mae_event ev;
    init(&ev, MAE_EV_ATTEMPT_START, c->base.run);
    call_fields(&ev, c);
    ev.attempt = c->attempts;
    ev.idempotency_key = c->idem_key;
    ev.input = c->req_input;
    emit(c->base.run, &ev);
}

/* Class, status, message and output/error of the call's last result. The error object is the
 * caller's to free after emitting. */
static cJSON *result_fields(mae_event *ev, const mae_callnode *c, char *cn, size_t cn_len) {
    mae__class_format(c->cls, c->status, cn, cn_len);
    ev->class_name = cn;
    ev->status = c->status;
    if (c->cls == MAE_CLASS_NONE) {
        ev->output = c->output;
        return NULL;
    }
    ev->message = c->msg ? c->msg : "";
    cJSON *err = mae__error_json(c->cls, c->status, ev->message);
    ev->error = err;
    return err;
}

void mae__ev_attempt_end(mae_callnode *c, int64_t delay_ms) {
    if (!c->ev_open) return;
    c->ev_open = false;
    mae_run *run = c->base.run;
    if (!wanted(run)) return;
    mae_event ev;
    char cn[64];
    init(&ev, MAE_EV_ATTEMPT_RESULT, run);
    call_fields(&ev, c);
    ev.attempt = c->attempts;
    ev.sent = c->sent;
    ev.duration_ms = since(run, c->attempt_started_ms);
    ev.delay_ms = delay_ms;
    cJSON *err = result_fields(&ev, c, cn, sizeof cn);
    emit(run, &ev);
    cJSON_Delete(err);
}

void mae__ev_call_end(mae_callnode *c) {
    mae__ev_attempt_end(c, -1);
    mae_run *run = c->base.run;
    if (!wanted(run)) return;
    /* a re-send that succeeded: its compensation's attempts follow in the same group */
    if (c->resolving && c->cls == MAE_CLASS_NONE) return;
    mae_event ev;
    char cn[64];
    init(&ev, c->is_comp ? MAE_EV_COMP_RESULT : MAE_EV_STEP_END, run);
    call_fields(&ev, c);
    ev.attempt = c->attempts;
    ev.duration_ms = since(run, c->started_ms);
    cJSON *err = result_fields(&ev, c, cn, sizeof cn);
    if (c->cls == MAE_CLASS_NONE) ev.outcome = "succeeded";
    else if (c->cls == MAE_CLASS_CANCELLED && !c->is_comp) ev.outcome = c->sent ? "outcome_unknown" : "cancelled";
    else ev.outcome = "failed";
    emit(run, &ev);
    cJSON_Delete(err);
}

void mae__ev_comp_start(mae_callnode *c) {
    if (!wanted(c->base.run)) return;
    mae_event ev;
    init(&ev, MAE_EV_COMP_START, c->base.run);
    call_fields(&ev, c);
    emit(c->base.run, &ev);
}

void mae__ev_comp_skipped(mae_run *run, const mae_comprec *rec, int cls, const char *msg) {
    if (!wanted(run)) return;
    mae_event ev;
    init(&ev, MAE_EV_COMP_RESULT, run);
    const mae_compensate *cp = rec->step->compensate;
    const mae_service *svc = cp->service ? cp->service : rec->step->service;
    ev.step_id = rec->step->id;
    ev.index = rec->index;
    ev.compensation = 1;
    ev.service = svc ? svc->name : NULL;
    ev.method = cp->method;
    ev.outcome = "failed";
    char cn[64];
    mae__class_format(cls, 0, cn, sizeof cn);
    ev.class_name = cn;
    ev.message = msg;
    cJSON *err = mae__error_json(cls, 0, msg);
    ev.error = err;
    emit(run, &ev);
    cJSON_Delete(err);
}
