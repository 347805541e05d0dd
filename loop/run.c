/* A run's life: start (input checked, scope built, root launched from a timer so the callback
 * never comes from inside mae_run_start), failure (first one wins: cancel everything in flight
 * and wait for it to settle), the compensation phase (reverse completion order, one at a time,
 * under its own budget), and the end (report, handles closed, then the callback). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loop/engine_int.h"
#include "loop/journal_run.h"

bool mae__run_going(const mae_run *run) { return run->state == RUN_RUNNING; }

uint64_t mae__run_deadline(const mae_run *run, bool comp) {
    return comp ? run->comp_deadline_ms : run->deadline_ms;
}

static void abort_active(mae_run *run) {
    mae_callnode *c = run->active;
    while (c) {
        mae_callnode *n = c->a_next;   /* abort never finishes synchronously, but be safe */
        mae__call_abort(c);
        c = n;
    }
}

void mae__run_fail(mae_run *run, const char *step, mae_class cls, int status, int attempts,
                   const char *msg) {
    if (run->state != RUN_RUNNING) return;
    run->state = RUN_FAILING;
    run->failed = true;
    free(run->fail_step);
    run->fail_step = step ? strdup(step) : NULL;
    run->fail_cls = cls;
    mae__class_format(cls, status, run->fail_class, sizeof run->fail_class);
    run->fail_status = status;
    run->fail_attempts = attempts;
    free(run->fail_msg);
    run->fail_msg = strdup(msg ? msg : "");
    mae__jr_fail(run);
    uv_timer_stop(&run->deadline);
    /* a failed step has logged its error already; timeouts, interrupts and output errors not */
    int in_flight = 0;
    for (mae_callnode *c = run->active; c; c = c->a_next) in_flight++;
    mae__log(run, step ? MAE_LOG_INFO : MAE_LOG_ERROR, step, attempts, -1, run->fail_class,
             "run failing: %s; stopping %d call(s) in progress", msg ? msg : "", in_flight);
    abort_active(run);
    if (run->fetching) mae__typed_run_abort(run);
}

static void comp_step(mae_run *run);

void mae__run_deadline_hit(mae_run *run, bool comp) {
    if (comp) {
        if (run->state != RUN_COMPENSATING || run->comp_budget_over) return;
        run->comp_budget_over = true;
        mae__log(run, MAE_LOG_ERROR, NULL, 0, -1, "timeout", "compensation budget (%llums) exhausted",
                 (unsigned long long)run->wf->compensation_timeout_ms);
        uv_timer_stop(&run->comp_timer);
        abort_active(run);
        return;
    }
    if (run->state != RUN_RUNNING) return;
    run->timed_out = true;
    char msg[128];
    snprintf(msg, sizeof msg, "run timed out after %llums",
             (unsigned long long)(run->deadline_ms - run->started_ms));
    mae__run_fail(run, NULL, MAE_CLASS_TIMEOUT, 0, 0, msg);
}

static void deadline_cb(uv_timer_t *t) { mae__run_deadline_hit(t->data, false); }
static void budget_cb(uv_timer_t *t) { mae__run_deadline_hit(t->data, true); }

int mae__run_push_comp(mae_run *run, const mae_step *step, mae_vars *vars, int index,
                       const char *key, bool unknown) {
    char *k = strdup(key);
    if (!k) return MAE_ENOMEM;
    if (run->n_comps == run->cap_comps) {
        size_t cap = run->cap_comps ? run->cap_comps * 2 : 16;
        mae_comprec *n = realloc(run->comps, cap * sizeof *n);
        if (!n) {
            free(k);
            return MAE_ENOMEM;
        }
        run->comps = n;
        run->cap_comps = cap;
    }
    mae_comprec *r = &run->comps[run->n_comps++];
    r->step = step;
    r->vars = vars;
    mae__vars_ref(vars);
    r->index = index;
    r->key = k;
    r->unknown = unknown;
    r->resolved = false;
    return 0;
}

static void deliver(mae_run *run);

void mae__run_closed_one(mae_run *run) {
    if (--run->open_handles == 0) deliver(run);
}

static void handle_closed(uv_handle_t *h) { mae__run_closed_one(h->data); }

static void finish(mae_run *run) {
    run->state = RUN_DONE;
    if (!run->failed) run->status = MAE_RUN_SUCCEEDED;
    /* a failed compensation wins over an interrupt: exit 3 tells that manual clean-up is needed */
    else if (run->comp_failed) run->status = MAE_RUN_COMPENSATION_FAILED;
    else if (run->interrupted) run->status = MAE_RUN_INTERRUPTED;
    else run->status = MAE_RUN_FAILED;
    if (run->want_report) mae__report_build(run);
    mae__ev_run_end(run);
    mae__log(run, run->failed ? MAE_LOG_WARN : MAE_LOG_INFO, NULL, 0,
             (int64_t)(uv_now(run->eng->loop) - run->started_ms), NULL, "run %s", mae_run_status_name(run->status));
    if (run->jw) {
        /* the callback comes after the end record is written and the file closed */
        run->open_handles++;
        mae__jr_run_end(run, mae__run_closed_one);
    }
    uv_close((uv_handle_t *)&run->deadline, handle_closed);
    uv_close((uv_handle_t *)&run->comp_timer, handle_closed);
}

/* A compensation entry for a step that had ended outcome_unknown says so, and whether the
 * re-send showed that the service acted. */
static void mark_unknown(cJSON *e, const mae_comprec *rec) {
    if (!e || !rec || (!rec->unknown && !rec->resolved)) return;
    cJSON_AddStringToObject(e, "outcome", rec->resolved ? "committed" : "unknown");
}

static void comp_record(mae_run *run, mae_callnode *c) {
    const char *id = c->base.step->id;
    if (c->resolving) {
        /* the re-send did not tell: whether the service acted stays unknown */
        size_t l = (c->msg ? strlen(c->msg) : 0) + 96;
        char *m = malloc(l);
        if (m) snprintf(m, l, "outcome unknown: re-sent with the same idempotency key, which failed: %s", c->msg ? c->msg : "");
        run->comp_failed++;
        mark_unknown(mae__report_comp(run, id, c->base.index, "failed", c->attempts, c->cls, c->status,
                                      m ? m : "outcome unknown"), c->comp);
        free(m);
        return;
    }
    cJSON *e;
    if (c->cls == MAE_CLASS_NONE) {
        e = mae__report_comp(run, id, c->base.index, "succeeded", c->attempts, MAE_CLASS_NONE, 0, NULL);
    } else {
        run->comp_failed++;
        e = mae__report_comp(run, id, c->base.index, "failed", c->attempts, c->cls, c->status, c->msg);
    }
    mark_unknown(e, c->comp);
}

/* A re-send that succeeded: the service has acted, so the step is compensated next like a
 * completed one, its output set for the compensation's templates. Frees c; false when c was not
 * such a re-send. */
static bool comp_resolved(mae_run *run, mae_callnode *c) {
    if (!c->resolving || c->cls != MAE_CLASS_NONE) return false;
    mae_comprec *rec = c->comp;
    mae__log(run, MAE_LOG_WARN, c->step_id, c->attempts, -1, NULL,
             "outcome unknown resolved: the service had acted (or has now); compensating it");
    rec->unknown = false;
    rec->resolved = true;
    run->comp_next++;   /* the same record again, as a compensation */
    mae__node_free(&c->base);
    return true;
}

/* Runs the next compensation, newest completion first; finishes the run after the last. */
static void comp_step(mae_run *run) {
    while (run->comp_next > 0) {
        mae_comprec *rec = &run->comps[--run->comp_next];
        if (run->comp_budget_over) {
            run->comp_failed++;
            mark_unknown(mae__report_comp(run, rec->step->id, rec->index, "failed", 0, MAE_CLASS_TIMEOUT, 0,
                                          "not attempted: compensation budget exhausted"), rec);
            mae__ev_comp_skipped(run, rec, MAE_CLASS_TIMEOUT, "not attempted: compensation budget exhausted");
            continue;
        }
        mae_callnode *c = rec->unknown ? mae__resolve_call_new(run, rec) : mae__comp_call_new(run, rec);
        if (!c) {
            run->comp_failed++;
            mark_unknown(mae__report_comp(run, rec->step->id, rec->index, "failed", 0, MAE_CLASS_INTERNAL, 0,
                                          "out of memory"), rec);
            mae__ev_comp_skipped(run, rec, MAE_CLASS_INTERNAL, "out of memory");
            continue;
        }
        if (c->resolving)
            mae__log(run, MAE_LOG_INFO, c->step_id, 0, -1, NULL,
                     "outcome unknown: re-sending with the same idempotency key to learn it");
        else
            mae__log(run, MAE_LOG_INFO, c->step_id, 0, -1, NULL, "compensating");
        /* a resolved step's group began with its re-send */
        if (!rec->resolved) mae__ev_comp_start(c);
        if (mae__call_start(c)) {
            if (comp_resolved(run, c)) continue;
            comp_record(run, c);
            mae__node_free(&c->base);
            continue;
        }
        return;
    }
    uv_timer_stop(&run->comp_timer);
    finish(run);
}

void mae__run_comp_done(mae_run *run, mae_callnode *c) {
    if (comp_resolved(run, c)) {
        comp_step(run);
        return;
    }
    comp_record(run, c);
    mae__node_free(&c->base);
    comp_step(run);
}

static int by_seq(const void *a, const void *b) {
    const mae_comprec *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void mae__run_root_done(mae_run *run, mae_node *root) {
    run->root = NULL;
    mae__node_free(root);
    /* `maestro compensate` of a run whose every step had completed: undo it all the same */
    if (run->replay && run->replay_mode == MAE_REPLAY_COMPENSATE)
        mae__run_fail(run, NULL, MAE_CLASS_CANCELLED, 0, 0, "compensating an interrupted run (maestro compensate)");
    /* replayed completions came in tree order: compensate in the order they really completed */
    if (run->replay && run->n_comps > 1) qsort(run->comps, run->n_comps, sizeof *run->comps, by_seq);
    if (run->state == RUN_RUNNING) {
        cJSON *out = NULL;
        mae_eval_err err;
        int rc = 0;
        if (!run->wf->output) {
            if (!(out = cJSON_CreateObject())) {
                rc = MAE_ENOMEM;
                snprintf(err.msg, sizeof err.msg, "out of memory");
            }
        } else {
            rc = mae__tval_render(run->wf->output, &run->vars->scope, &out, &err);
        }
        if (rc != 0) {
            char msg[600];
            snprintf(msg, sizeof msg, "output: %s", err.msg);
            mae__run_fail(run, NULL, rc == MAE_ENOMEM ? MAE_CLASS_INTERNAL : MAE_CLASS_TEMPLATE, 0, 0, msg);
            out = NULL;
        }
        if (run->state == RUN_RUNNING) {
            run->output = out;
            uv_timer_stop(&run->deadline);
            finish(run);
            return;
        }
        cJSON_Delete(out);
    }
    run->state = RUN_COMPENSATING;
    uint64_t budget = run->wf->compensation_timeout_ms ? run->wf->compensation_timeout_ms : 60000;
    run->comp_deadline_ms = uv_now(run->eng->loop) + budget;
    run->comp_next = run->n_comps;
    if (run->n_comps) {
        mae__log(run, MAE_LOG_WARN, NULL, 0, -1, NULL, "compensating %zu completed step(s)", run->n_comps);
        uv_timer_start(&run->comp_timer, budget_cb, budget, 0);
    }
    comp_step(run);
}

void mae__run_begin(mae_run *run) {
    mae_node *root = run->root;
    run->began = true;
    /* failed while its descriptors were fetched: nothing was called, nothing to compensate */
    if (run->state != RUN_RUNNING) {
        mae__run_root_done(run, root);
        return;
    }
    if (mae__node_start(root)) mae__run_root_done(run, root);
}

static void kick_cb(uv_timer_t *t) {
    mae_run *run = t->data;
    mae__log(run, MAE_LOG_INFO, NULL, 0, -1, NULL, "run started: workflow %s", run->wf->name);
    mae__ev_run_start(run);
    if (mae__typed_run_prepare(run)) mae__run_begin(run);
}

static void run_free_now(mae_run *run) {
    mae_engine *e = run->eng;
    if (run->prev) run->prev->next = run->next;
    else if (e->runs == run) e->runs = run->next;
    if (run->next) run->next->prev = run->prev;
    for (size_t i = 0; i < run->n_comps; i++) {
        mae__vars_unref(run->comps[i].vars);
        free(run->comps[i].key);
    }
    free(run->comps);
    mae__vars_unref(run->vars);
    cJSON_Delete(run->rep_steps);
    cJSON_Delete(run->rep_comps);
    cJSON_Delete(run->rep_unlisted);
    cJSON_Delete(run->rep_comps_unlisted);
    cJSON_Delete(run->output);
    cJSON_Delete(run->report);
    free(run->summary);
    free(run->fail_step);
    free(run->fail_msg);
    mae__jr_run_free(run);
    free(run);
}

static void deliver(mae_run *run) {
    mae_engine *e = run->eng;
    if (run->free_on_done) {
        run_free_now(run);
        if (e->closing) mae__api_run_settled(e);
        return;
    }
    static const int codes[] = {0, 1, 3, 130};
    mae_run_result res = {
        .status = run->status,
        .exit_code = codes[run->status],
        .run_id = run->id,
        .output = run->status == MAE_RUN_SUCCEEDED ? run->output : NULL,
        .report = run->report,
        .summary = run->summary,
        .steps_run = run->n_steps_run,
        .attempts = run->n_attempts,
        .error_class = run->failed ? run->fail_class : NULL,
    };
    /* the journal failed before any intent was durable: nothing was sent, as if refused */
    if (run->jr_failed && !run->jr_durable) res.exit_code = 2;
    run->cb(run, &res, run->ud);
    if (e->closing) mae__api_run_settled(e);
}

int mae_run_start(mae_engine *e, const mae_workflow *wf, const char *input_json,
                  const mae_run_opts *opts, mae_run_cb cb, void *ud, mae_run **out) {
    return mae__run_start_ex(e, wf, input_json, opts, cb, ud, out, NULL, 0);
}

/* The run's id: a new one, or the resumed run's. */
static void set_ids(mae_run *run, mae_jfile *f) {
    const cJSON *id = f ? cJSON_GetObjectItemCaseSensitive(f->start, "run_id") : NULL;
    const cJSON *tr = f ? cJSON_GetObjectItemCaseSensitive(f->start, "trace_id") : NULL;
    if (cJSON_IsString(id) && strlen(id->valuestring) < sizeof run->id) snprintf(run->id, sizeof run->id, "%s", id->valuestring);
    else mae__hex_id(run->eng, run->id, 16);
    if (cJSON_IsString(tr) && strlen(tr->valuestring) < sizeof run->trace_id)
        snprintf(run->trace_id, sizeof run->trace_id, "%s", tr->valuestring);
    else mae__hex_id(run->eng, run->trace_id, 16);
}

int mae__run_start_ex(mae_engine *e, const mae_workflow *wf, const char *input_json, const mae_run_opts *opts,
                      mae_run_cb cb, void *ud, mae_run **out, mae_jfile *f, int mode) {
    if (!e || !wf || !cb || !out) return MAE_EINVAL;
    if (e->closing) return MAE_ESTATE;
    cJSON *input = NULL;
    int rc = mae__api_input(e, wf, input_json, opts, &input);
    if (rc != 0) return rc;
    mae_run *run = calloc(1, sizeof *run);
    if (!run) {
        cJSON_Delete(input);
        return MAE_ENOMEM;
    }
    run->eng = e;
    run->wf = wf;
    set_ids(run, f);
    run->vars = mae__vars_new(NULL);
    /* the journal's end record carries the report: a journaled run always builds it */
    run->want_report = !(opts && opts->no_report) || e->opts.journal_dir;
    run->rep_steps = run->want_report ? cJSON_CreateArray() : NULL;
    run->rep_comps = cJSON_CreateArray();
    cJSON *wfo = cJSON_CreateObject();
    run->steps = cJSON_CreateObject();
    if (!run->vars || (run->want_report && !run->rep_steps) || !run->rep_comps || !wfo || !run->steps) {
        cJSON_Delete(input);
        cJSON_Delete(wfo);
        cJSON_Delete(run->steps);
        cJSON_Delete(run->rep_steps);
        cJSON_Delete(run->rep_comps);
        mae__vars_unref(run->vars);
        free(run);
        return MAE_ENOMEM;
    }
    cJSON_AddItemToObject(run->vars->obj, "input", input);
    cJSON_AddStringToObject(wfo, "id", run->id);
    cJSON_AddStringToObject(wfo, "name", wf->name ? wf->name : "");
    cJSON_AddItemToObject(run->vars->obj, "workflow", wfo);
    cJSON_AddItemToObject(run->vars->obj, "steps", run->steps);
    run->root = mae__node_new(run, NULL, NULL, run->vars, -1);
    if (!run->root) {
        mae__vars_unref(run->vars);
        cJSON_Delete(run->rep_steps);
        cJSON_Delete(run->rep_comps);
        free(run);
        return MAE_ENOMEM;
    }
    ((mae_group *)run->root)->kids = wf->steps;
    ((mae_group *)run->root)->n_kids = wf->n_steps;
    uv_update_time(e->loop);
    struct timespec ts0;
    clock_gettime(CLOCK_REALTIME, &ts0);
    run->started_wall_ms = (uint64_t)ts0.tv_sec * 1000 + (uint64_t)ts0.tv_nsec / 1000000;
    /* the journal comes first: a run that cannot record what it does does not start */
    int jrc = 0;
    if (f) {
        jrc = e->opts.journal_dir ? mae__jr_run_reopen(run, f, (mae_replay_mode)mode) : 0;
        run->replay_mode = mode;
        run->replaying = true;
    } else {
        jrc = mae__jr_run_open(run, input);
    }
    if (jrc != 0) {
        if (run->jw) mae__jw_close(run->jw, NULL, NULL);
        mae__node_free(run->root);
        mae__vars_unref(run->vars);
        cJSON_Delete(run->rep_steps);
        cJSON_Delete(run->rep_comps);
        free(run->jr_path);
        free(run);
        return jrc;
    }
    if (f) run->replay = f;   /* taken only once the run exists */
    uv_timer_init(e->loop, &run->deadline);
    uv_timer_init(e->loop, &run->comp_timer);
    run->deadline.data = run;
    run->comp_timer.data = run;
    run->open_handles = 2;
    run->started_ms = uv_now(e->loop);
    uint64_t timeout = opts && opts->timeout_ms ? opts->timeout_ms : wf->timeout_ms;
    if (timeout) {
        run->deadline_ms = run->started_ms + timeout;
        uv_timer_start(&run->deadline, deadline_cb, timeout, 0);
    }
    run->cb = cb;
    run->ud = ud;
    run->next = e->runs;
    if (e->runs) e->runs->prev = run;
    e->runs = run;
    /* the comp timer doubles as the kick-off: the run starts on the next loop iteration */
    uv_timer_start(&run->comp_timer, kick_cb, 0, 0);
    *out = run;
    return 0;
}

void mae_run_cancel(mae_run *run) {
    if (!run || run->state != RUN_RUNNING) return;
    run->interrupted = true;
    mae__run_fail(run, NULL, MAE_CLASS_CANCELLED, 0, 0, "interrupted");
}

void mae_run_free(mae_run *run) {
    if (!run) return;
    if (run->state == RUN_DONE && run->open_handles == 0) {
        run_free_now(run);
        return;
    }
    run->free_on_done = true;
    mae_run_cancel(run);
}

const char *mae_run_id(const mae_run *run) { return run->id; }
