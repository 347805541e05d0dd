/* One call step (or compensation) through its attempts: render input and headers (the target is
 * rendered by its transport, in the scope passed along), take a max_in_flight slot, ask the
 * breaker, send, time the attempt out, classify the result, back off and retry per
 * docs/failure-semantics.md#retries-and-backoff. Every asynchronous event arrives through the
 * node's one timer or the transport's callback; the node is freed only in its timer's close
 * callback. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "loop/engine_int.h"
#include "loop/journal_run.h"
#include "loop/retry.h"
#include "transports/wire.h"

enum { TM_NONE, TM_ATTEMPT, TM_BACKOFF, TM_DEFER };

/* A bound on not_an_attempt retries so a peer cannot keep a call spinning. */
#define MAX_FREE_RETRIES 16

static void timer_cb(uv_timer_t *t);
static void process_result(mae_callnode *c);

static void clear_req(mae_callnode *c) {
    cJSON_Delete(c->req_input);
    c->req_input = NULL;
    free(c->req_desc);
    c->req_desc = NULL;
    for (size_t i = 0; i < c->n_req_hdrs; i++) free((char *)c->req_hdrs[i].value);
    free(c->req_hdrs);
    c->req_hdrs = NULL;
    c->n_req_hdrs = 0;
}

static void set_msg(mae_callnode *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_msg(mae_callnode *c, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    free(c->msg);
    c->msg = strdup(buf);
}

static void timer_closed(uv_handle_t *h) {
    mae_callnode *c = h->data;
    clear_req(c);
    free(c->msg);
    cJSON_Delete(c->details);
    free(c->delays);
    free((char *)(c->is_comp ? c->step_id : NULL));
    cJSON_Delete(c->output);
    cJSON_Delete(c->base.result);
    mae__vars_unref(c->base.vars);
    free(c);
}

void mae__call_free(mae_callnode *c) {
    if (!c) return;
    uv_close((uv_handle_t *)&c->timer, timer_closed);
}

static bool going(const mae_callnode *c) {
    const mae_run *r = c->base.run;
    if (c->is_comp) return r->state == RUN_COMPENSATING && !r->comp_budget_over;
    return r->state == RUN_RUNNING;
}

static void active_add(mae_callnode *c) {
    mae_run *r = c->base.run;
    c->a_prev = NULL;
    c->a_next = r->active;
    if (r->active) r->active->a_prev = c;
    r->active = c;
}

static void active_del(mae_callnode *c) {
    mae_run *r = c->base.run;
    if (c->a_prev) c->a_prev->a_next = c->a_next;
    else if (r->active == c) r->active = c->a_next;
    if (c->a_next) c->a_next->a_prev = c->a_prev;
    c->a_next = c->a_prev = NULL;
}

static void arm(mae_callnode *c, int mode, uint64_t ms) {
    c->tmode = mode;
    uv_timer_stop(&c->timer);
    uv_timer_start(&c->timer, timer_cb, ms, 0);
}

/* A synchronous failure delivered from the next loop iteration, like a transport's. */
static void defer(mae_callnode *c, mae_class cls, int status) {
    c->cls = cls;
    c->status = status;
    c->sent = false;
    arm(c, TM_DEFER, 0);
}

/* The node is over: leave the active list and report to the parent (or say so to the caller). */
static bool finish(mae_callnode *c, bool sync) {
    active_del(c);
    uv_timer_stop(&c->timer);
    c->tmode = TM_NONE;
    if (sync) return true;
    mae__node_finish(&c->base);
    return false;
}

static int64_t dur(const mae_callnode *c) {
    return (int64_t)(uv_now(c->base.run->eng->loop) - c->started_ms);
}

static void set_out_var(mae_callnode *c, cJSON *v) {
    const mae_step *st = c->base.step;
    if (!st->output) {
        cJSON_Delete(v);
        return;
    }
    mae__vars_set(c->base.vars, st->output, v);
}

/* A value that refers to held's children instead of copying them (a scalar is copied: one
 * node). held must not change or go away while the reference is in use. */
static cJSON *refer(const cJSON *held) {
    if (cJSON_IsObject(held)) return cJSON_CreateObjectReference(held->child);
    if (cJSON_IsArray(held)) return cJSON_CreateArrayReference(held->child);
    return held ? cJSON_Duplicate(held, 1) : cJSON_CreateNull();
}

/* The reply goes to .steps.ID.output, the output variable and (for a foreach item whose body is
 * this call) the item's result. One tree, shared where the lifetimes allow it (issue #15: three
 * deep copies per foreach item):
 * - .steps.ID owns it (or, for a step without an id, the item's result does);
 * - the variable refers to it in the run's scope, where .steps.ID is written once per run
 *   (the re-send of an outcome_unknown step rewrites both, the variable first). In an item's
 *   scope .steps.ID is replaced by the next item while the scope may live on, so the variable
 *   gets its own copy; unless nothing can ever read it: a call that is the item's whole body,
 *   without a compensation, has no later step in the item and no compensation template to read
 *   its item scope (the foreach's output uses the item's result);
 * - the item's result refers to it: the parent foreach prints it (keep_result) before anything
 *   else runs. */
static void share_output(mae_callnode *c) {
    mae_run *run = c->base.run;
    const mae_step *st = c->base.step;
    bool item_body = c->base.parent && c->base.parent->kind == NODE_ITEM;
    cJSON *out = c->output, *held = NULL;
    c->output = NULL;
    if (st->id) {
        mae__set_step(run, st->id, "succeeded", out, MAE_CLASS_NONE, 0, NULL);
        cJSON *s = cJSON_GetObjectItemCaseSensitive(run->steps, st->id);
        held = s ? cJSON_GetObjectItemCaseSensitive(s, "output") : NULL;
        /* out of memory the entry may not hold it (it was freed): nothing may refer to it then */
        if (out && held != out) held = NULL;
        out = NULL;
    }
    const cJSON *v = held ? held : out;
    if (st->output) {
        if (c->base.vars == run->vars && held) set_out_var(c, refer(held));
        else if (!item_body || st->compensate) set_out_var(c, v ? cJSON_Duplicate(v, 1) : NULL);
    }
    if (item_body) c->base.result = out ? out : held ? refer(held) : cJSON_CreateNull();
    else cJSON_Delete(out);
}

/* The report entry of this call, with the backoff delays it waited. */
/* The failure's details (docs/typed-grpc.md#errors) under error.details of a report entry or of
 * .steps.ID. */
static void add_details(const mae_callnode *c, cJSON *entry) {
    cJSON *err = entry ? cJSON_GetObjectItemCaseSensitive(entry, "error") : NULL;
    if (!c->details || !cJSON_IsObject(err)) return;
    cJSON *d = cJSON_Duplicate(c->details, 1);
    if (d) cJSON_AddItemToObject(err, "details", d);
}

static void report(mae_callnode *c, const char *status, mae_class cls, int code) {
    const mae_step *st = c->base.step;
    cJSON *e = mae__report_step(c->base.run, st->id, c->base.index, status, c->attempts, dur(c), cls, code, c->msg);
    if (cls != MAE_CLASS_NONE) add_details(c, e);
    if (!e || c->n_delays == 0) return;
    cJSON *d = cJSON_AddArrayToObject(e, "retry_delays_ms");
    for (int i = 0; d && i < c->n_delays; i++) cJSON_AddItemToArray(d, cJSON_CreateNumber(c->delays[i]));
}

static bool succeed(mae_callnode *c, bool sync) {
    mae_run *run = c->base.run;
    mae__jr_result(c);
    mae__ev_call_end(c);
    char cn[8] = "ok";
    mae__log(run, MAE_LOG_INFO, c->step_id, c->attempts, dur(c), cn, "%s",
             c->resolving ? "succeeded when re-sent" : c->is_comp ? "compensated" : "succeeded");
    if (c->resolving) {
        /* its compensation's templates see the output, as for a step that completed */
        const mae_step *st = c->base.step;
        set_out_var(c, c->output ? cJSON_Duplicate(c->output, 1) : NULL);
        mae__set_step(run, st->id, "succeeded", c->output, MAE_CLASS_NONE, 0, NULL);
        c->output = NULL;
    }
    if (!c->is_comp) {
        const mae_step *st = c->base.step;
        report(c, "succeeded", MAE_CLASS_NONE, 0);
        share_output(c);
        /* unrecorded, it could never be compensated: stop the run rather than go on */
        if (st->compensate && mae__run_push_comp(run, st, c->base.vars, c->base.index, c->idem_key, false) != 0) {
            mae__log(run, MAE_LOG_ERROR, st->id, 0, -1, "internal", "out of memory recording its compensation");
            mae__run_fail(run, st->id, MAE_CLASS_INTERNAL, 0, c->attempts, "out of memory recording its compensation");
        } else if (st->compensate) {
            run->comps[run->n_comps - 1].seq = mae__jr_seq(run, c);
        }
    }
    return finish(c, sync);
}

/* The step failed for good (retries exhausted, permanent, template, or cancelled). */
static bool give_up(mae_callnode *c, bool sync) {
    mae_run *run = c->base.run;
    mae__jr_result(c);
    mae__ev_call_end(c);
    char cn[64];
    mae__class_format(c->cls, c->status, cn, sizeof cn);
    if (c->is_comp) {
        mae__log(run, MAE_LOG_ERROR, c->step_id, c->attempts, dur(c), cn, "%s: %s",
                 c->resolving ? "re-send failed, outcome still unknown" : "compensation failed", c->msg ? c->msg : "");
        return finish(c, sync);
    }
    const mae_step *st = c->base.step;
    if (c->cls == MAE_CLASS_CANCELLED) {
        const char *status = c->sent ? "outcome_unknown" : "cancelled";
        report(c, status, c->cls, 0);
        mae__set_step(run, st->id, status, NULL, c->cls, 0, c->msg);
        mae__log(run, MAE_LOG_WARN, st->id, c->attempts, dur(c), cn, "%s", status);
        /* The service may have acted: resolved (re-sent with this key) and, if it did,
         * compensated in the compensation phase, in this place of the completion order. */
        if (c->sent && st->compensate && mae__run_push_comp(run, st, c->base.vars, c->base.index, c->idem_key, true) != 0)
            mae__log(run, MAE_LOG_ERROR, st->id, 0, -1, "internal", "out of memory recording its unknown outcome");
        else if (c->sent && st->compensate)
            run->comps[run->n_comps - 1].seq = mae__jr_seq(run, c);
        c->base.failed = true;
        return finish(c, sync);
    }
    report(c, "failed", c->cls, c->status);
    mae__set_step(run, st->id, "failed", NULL, c->cls, c->status, c->msg);
    if (st->id) add_details(c, cJSON_GetObjectItemCaseSensitive(run->steps, st->id));
    if (st->continue_on_error) {
        mae__log(run, MAE_LOG_WARN, st->id, c->attempts, dur(c), cn, "failed, continuing (continue_on_error): %s",
                 c->msg ? c->msg : "");
        set_out_var(c, NULL);
        if (c->base.parent && c->base.parent->kind == NODE_ITEM) c->base.result = cJSON_CreateNull();
        return finish(c, sync);
    }
    mae__log(run, MAE_LOG_ERROR, st->id, c->attempts, dur(c), cn, "failed: %s", c->msg ? c->msg : "");
    c->base.failed = true;
    mae__run_fail(run, st->id, c->cls, c->status, c->attempts, c->msg);
    return finish(c, sync);
}

/* Renders what this attempt sends. Returns 0, or with c->msg set -1 (class template) or
 * MAE_ENOMEM (class internal). */
static int render(mae_callnode *c) {
    const mae_scope *scope = &c->base.vars->scope;
    mae_eval_err err;
    int rc;
    clear_req(c);
    if (c->in_tmpl && (rc = mae__tval_render(c->in_tmpl, scope, &c->req_input, &err)) != 0) {
        set_msg(c, "input: %s", err.msg);
        return rc == MAE_ENOMEM ? rc : -1;
    }
    /* The target's own text for the log; a template in it that cannot render fails here, before
     * an attempt is counted, exactly as the transport would refuse it. */
    rc = mae_target_describe(c->target, scope, &c->req_desc, &err);
    if (rc != 0) {
        set_msg(c, "%s", rc == MAE_ENOMEM ? "out of memory" : err.msg);
        return rc == MAE_ENOMEM ? rc : -1;
    }
    size_t n_hdrs = c->service->n_headers + c->n_step_hdrs;
    if (n_hdrs) {
        c->req_hdrs = calloc(n_hdrs, sizeof *c->req_hdrs);
        if (!c->req_hdrs) {
            set_msg(c, "out of memory");
            return MAE_ENOMEM;
        }
        bool grpc = strcmp(c->service->type->name, "grpc") == 0;
        for (size_t i = 0; i < n_hdrs; i++) {
            /* The step's headers first; a service header of the same name is replaced. */
            const mae_header_tmpl *h = i < c->n_step_hdrs ? &c->step_hdrs[i]
                                                          : &c->service->headers[i - c->n_step_hdrs];
            bool shadowed = false;
            for (size_t j = 0; i >= c->n_step_hdrs && j < c->n_step_hdrs && !shadowed; j++)
                shadowed = strcasecmp(c->step_hdrs[j].name, h->name) == 0;
            if (shadowed) continue;
            char *v = NULL;
            if ((rc = mae__tmpl_render(h->value, scope, NULL, &v, &err)) != 0) {
                set_msg(c, "header %s: %s", h->name, err.msg);
                return rc == MAE_ENOMEM ? rc : -1;
            }
            c->req_hdrs[c->n_req_hdrs].name = h->name;
            c->req_hdrs[c->n_req_hdrs++].value = v;
            if (!mae__header_value_ok(v)) {
                set_msg(c, "header %s: value contains CR or LF", h->name);
                return -1;
            }
            if (grpc && mae__header_is_bin(h->name) && !mae__header_bin_value_ok(v)) {
                set_msg(c, "header %s: binary metadata must be base64", h->name);
                return -1;
            }
        }
    }
    return 0;
}

static uint64_t attempt_timeout(mae_callnode *c) {
    mae_run *run = c->base.run;
    uint64_t t = c->timeout_ms ? c->timeout_ms : c->service->timeout_ms;
    if (!t) t = 30000;
    uint64_t dl = mae__run_deadline(run, c->is_comp);
    if (dl) {
        uint64_t now = uv_now(run->eng->loop);
        uint64_t rem = dl > now ? dl - now : 0;
        if (rem < t) t = rem;
    }
    return t ? t : 1;
}

static void on_result(mae_call_result *res, void *ud);

/* A compensation refused by an open breaker is not failed: the refusal is not an attempt, and
 * it waits (bounded by the compensation budget, no timer of its own) for the breaker to leave
 * open, then asks again (docs/failure-semantics.md#compensation). A step is not worth the wait:
 * it fails at once with circuit_open. */
static void brk_wait(mae_callnode *c) {
    mae_svc_state *s = c->svc;
    c->cls = MAE_CLASS_CIRCUIT_OPEN;
    c->status = 0;
    c->sent = false;
    mae__ev_attempt_end(c, 0);
    c->attempts--;
    uv_timer_stop(&c->timer);
    c->tmode = TM_NONE;
    c->brk_waiting = true;
    c->w_next = NULL;
    if (s->w_tail) s->w_tail->w_next = c;
    else s->w_head = c;
    s->w_tail = c;
    mae__log(c->base.run, MAE_LOG_WARN, c->step_id, c->attempts, -1, "circuit_open",
             "circuit breaker for service %s is %s: waiting for it to let a call through", c->service->name,
             mae__breaker_state_name(s->brk.state));
}

static void brk_unwait(mae_callnode *c) {
    mae_svc_state *s = c->svc;
    mae_callnode *prev = NULL;
    for (mae_callnode *q = s->w_head; q; prev = q, q = q->w_next) {
        if (q != c) continue;
        if (prev) prev->w_next = q->w_next;
        else s->w_head = q->w_next;
        if (s->w_tail == q) s->w_tail = prev;
        break;
    }
    c->brk_waiting = false;
    c->w_next = NULL;
}

void mae__svc_brk_wake(mae_svc_state *s) {
    mae_callnode *c = s->w_head;
    s->w_head = s->w_tail = NULL;
    while (c) {
        mae_callnode *n = c->w_next;
        c->w_next = NULL;
        c->brk_waiting = false;
        /* from the next loop iteration: a refused one goes back on the (new) list */
        arm(c, TM_BACKOFF, 0);
        c = n;
    }
}

/* "00-<trace id>-<16 hex digits of span>-01", written by hand: once per attempt, where
 * snprintf cost more than the rest of the header's work. */
static void traceparent(char *out, size_t cap, const char *trace_id, uint64_t span) {
    static const char hx[] = "0123456789abcdef";
    size_t tl = strlen(trace_id);
    if (tl + 24 > cap) tl = cap > 24 ? cap - 24 : 0;
    memcpy(out, "00-", 3);
    memcpy(out + 3, trace_id, tl);
    char *o = out + 3 + tl;
    *o++ = '-';
    for (int i = 15; i >= 0; i--) *o++ = hx[(span >> (4 * i)) & 15];
    memcpy(o, "-01", 4);
}

/* Sends the rendered request, or defers a failure (no transport, breaker open, start error). */
static void dispatch(mae_callnode *c) {
    mae_run *run = c->base.run;
    mae_engine *e = run->eng;
    /* found (or created) on first use; a failed creation is tried again by the next call */
    if (!c->svc->tr) c->svc->tr = mae__transport_for(e, c->svc->cfg.type);
    mae_transport *t = c->svc->tr;
    if (!t) {
        set_msg(c, "no %s transport configured for service %s", c->svc->cfg.type, c->svc->cfg.name);
        c->no_retry = true;
        defer(c, MAE_CLASS_CONNECT, 0);
        return;
    }
    uint64_t gen = 0;
    if (!mae__breaker_allow(&c->svc->brk, &gen)) {
        set_msg(c, "circuit breaker for service %s is %s", c->service->name, mae__breaker_state_name(c->svc->brk.state));
        if (c->is_comp && going(c)) {
            brk_wait(c);
            return;
        }
        defer(c, MAE_CLASS_CIRCUIT_OPEN, 0);
        return;
    }
    c->brk_admitted = true;
    c->brk_gen = gen;
    uint64_t elapsed = uv_now(e->loop) - c->attempt_started_ms;
    uint64_t to = c->attempt_timeout_ms;
    /* The transport settings are this workflow's own (the shared state's copy is the first
     * workflow's, kept for the probe): borrowed for the call, copied by the transport. */
    mae_svc_cfg cfg;
    mae__svc_view(c->service, &cfg);
    if (c->service->reflection) cfg.typed = c->svc->reflected;
    /* never an envelope call to a typed service (its run start fetched them: cannot happen) */
    if (c->service->reflection && !cfg.typed) {
        c->brk_admitted = false;
        mae__svc_breaker_record(c->svc, gen, MAE_BRK_IGNORE);
        set_msg(c, "service %s: no descriptors fetched by reflection", c->service->name);
        c->no_retry = true;
        defer(c, MAE_CLASS_TEMPLATE, 0);
        return;
    }
    /* a new span for every attempt, written where it is sent (the transport copies it) */
    char tp[64];
    traceparent(tp, sizeof tp, run->trace_id, mae__rand(e) | 1);
    mae_call_req req = {
        .service = &cfg,
        .target = c->target,
        .scope = &c->base.vars->scope,
        .input = c->req_input,
        .timeout_ms = to > elapsed ? to - elapsed : 1,
        .run_id = run->id,
        .step_id = c->step_id,
        .idempotency_key = c->idem_key,
        .traceparent = tp,
        .headers = c->req_hdrs,
        .n_headers = c->n_req_hdrs,
        .compensation = c->is_comp && !c->resolving,
        /* The attempt timer cancels the call when it is due (timer_cb): the transport needs no
         * timer of its own. Once it has fired (the intent became durable too late) it will not
         * fire again, and the transport times the call as before. */
        .caller_deadline = c->tmode == TM_ATTEMPT,
    };
    c->cancel_why = CANCEL_NONE;
    int rc = mae_transport_start(t, &req, on_result, c, &c->call);
    if (rc < 0) {
        c->brk_admitted = false;
        mae__svc_breaker_record(c->svc, gen, MAE_BRK_IGNORE);
        set_msg(c, "cannot start the call: %s", mae_strerror(rc));
        defer(c, rc == MAE_ENOMEM ? MAE_CLASS_INTERNAL : MAE_CLASS_CONNECT, 0);
        return;
    }
    c->in_flight = true;
    c->sent = false;
    c->svc->in_flight++;
    mae__log(run, MAE_LOG_DEBUG, c->step_id, c->attempts, -1, NULL, "sent %s", c->req_desc ? c->req_desc : "");
    /* The transport has its own copy of all of it: an in-flight call keeps none (memory per
     * call in flight, issue #15). The next attempt renders again. */
    clear_req(c);
}

static void enqueue(mae_callnode *c) {
    mae_svc_state *s = c->svc;
    c->queued = true;
    c->q_next = NULL;
    if (s->q_tail) s->q_tail->q_next = c;
    else s->q_head = c;
    s->q_tail = c;
}

static void dequeue(mae_callnode *c) {
    mae_svc_state *s = c->svc;
    mae_callnode *prev = NULL;
    for (mae_callnode *q = s->q_head; q; prev = q, q = q->q_next) {
        if (q != c) continue;
        if (prev) prev->q_next = q->q_next;
        else s->q_head = q->q_next;
        if (s->q_tail == q) s->q_tail = prev;
        break;
    }
    c->queued = false;
    c->q_next = NULL;
}

void mae__svc_pump(mae_svc_state *s) {
    int max = s->max_in_flight;
    while (s->q_head && (max <= 0 || s->in_flight < max)) {
        mae_callnode *c = s->q_head;
        dequeue(c);
        dispatch(c);
    }
}

static void send_attempt(mae_callnode *c) {
    int max = c->svc->max_in_flight;
    if (max > 0 && (c->svc->in_flight >= max || c->svc->q_head)) enqueue(c);
    else dispatch(c);
}

/* Starts an attempt. sync: called from the node's start (may complete synchronously, returning
 * true); otherwise from a timer, completing through mae__node_finish. */
static bool attempt_begin(mae_callnode *c, bool sync) {
    mae_run *run = c->base.run;
    if (!going(c)) {
        c->cls = MAE_CLASS_CANCELLED;
        c->sent = false;
        set_msg(c, "not started: the run is stopping");
        return give_up(c, sync);
    }
    int rc = render(c);
    if (rc != 0) {
        c->cls = rc == MAE_ENOMEM ? MAE_CLASS_INTERNAL : MAE_CLASS_TEMPLATE;
        c->status = 0;
        return give_up(c, sync);
    }
    c->attempts++;
    c->brk_admitted = false;
    c->attempt_started_ms = uv_now(run->eng->loop);
    c->attempt_timeout_ms = attempt_timeout(c);
    mae__ev_attempt_start(c);
    arm(c, TM_ATTEMPT, c->attempt_timeout_ms);
    /* nothing leaves before its intent is durable (docs/journal.md) */
    rc = mae__jr_intent(c);
    if (rc == 1) return false;
    if (rc < 0) {
        mae__call_journaled(c, UV_EIO);
        return false;
    }
    send_attempt(c);
    return false;
}

void mae__call_journaled(mae_callnode *c, int status) {
    c->jwait = false;
    if (status != 0 && !c->is_comp) {
        set_msg(c, "not sent: the run's journal cannot be written (%s)", uv_strerror(status));
        c->no_retry = true;
        defer(c, MAE_CLASS_INTERNAL, 0);
        return;
    }
    if (c->jabort || !going(c)) {
        c->jabort = false;
        set_msg(c, "cancelled before it was sent");
        defer(c, MAE_CLASS_CANCELLED, 0);
        return;
    }
    send_attempt(c);
}

bool mae__call_start(mae_callnode *c) {
    mae_run *run = c->base.run;
    c->started_ms = uv_now(run->eng->loop);
    c->svc = mae__svc(run->eng, c->service);
    active_add(c);
    if (!c->svc) {
        c->cls = MAE_CLASS_INTERNAL;
        set_msg(c, "out of memory");
        return give_up(c, true);
    }
    /* resuming: a call the journal holds the result of is not sent again */
    if (run->replay && mae__jr_replay(c) == 1) return c->cls == MAE_CLASS_NONE ? succeed(c, true) : give_up(c, true);
    return attempt_begin(c, true);
}

static mae_brk_outcome brk_outcome(mae_callnode *c, const mae_call_result *res) {
    if (res->cls == MAE_CLASS_NONE) return MAE_BRK_SUCCESS;
    if (res->cls == MAE_CLASS_INTERNAL) return MAE_BRK_IGNORE;  /* says nothing about the service */
    if (res->cls == MAE_CLASS_CANCELLED) return c->cancel_why == CANCEL_TIMEOUT ? MAE_BRK_FAILURE : MAE_BRK_IGNORE;
    if (res->not_an_attempt) return MAE_BRK_IGNORE;
    return mae__retry_is_retryable(&c->svc->retry, res->cls, res->status) ? MAE_BRK_FAILURE : MAE_BRK_PERMANENT;
}

static void on_result(mae_call_result *res, void *ud) {
    mae_callnode *c = ud;
    c->call = NULL;
    c->in_flight = false;
    c->svc->in_flight--;
    uv_timer_stop(&c->timer);
    c->tmode = TM_NONE;
    if (c->brk_admitted) mae__svc_breaker_record(c->svc, c->brk_gen, brk_outcome(c, res));
    c->brk_admitted = false;
    cJSON_Delete(c->output);
    c->output = res->output;
    res->output = NULL;
    c->cls = res->cls;
    c->status = res->status;
    c->sent = res->sent;
    cJSON_Delete(c->details);
    c->details = res->details && res->cls != MAE_CLASS_NONE ? cJSON_Duplicate(res->details, 1) : NULL;
    if (res->cls == MAE_CLASS_GRPC && res->status == MAE_GRPC_UNIMPLEMENTED && c->service->reflection)
        mae__typed_svc_stale(c->svc);
    if (res->cls == MAE_CLASS_CANCELLED && c->cancel_why == CANCEL_TIMEOUT) {
        c->cls = MAE_CLASS_TIMEOUT;
        set_msg(c, "attempt timed out after %llums",
                (unsigned long long)(uv_now(c->base.run->eng->loop) - c->attempt_started_ms));
    } else if (res->cls != MAE_CLASS_NONE) {
        set_msg(c, "%s", res->message ? res->message : "");
    }
    int64_t ra = res->retry_after_ms;
    bool naa = res->not_an_attempt;
    mae__svc_pump(c->svc);
    if (c->cls != MAE_CLASS_NONE && naa && c->free_retries < MAX_FREE_RETRIES && going(c)) {
        mae__ev_attempt_end(c, 0);
        c->free_retries++;
        c->attempts--;
        arm(c, TM_BACKOFF, 0);
        return;
    }
    c->cancel_why = CANCEL_NONE;
    c->retry_after_ms = ra;
    if (res->no_retry && c->cls != MAE_CLASS_NONE) c->no_retry = true;
    process_result(c);
}

static void process_result(mae_callnode *c) {
    mae_run *run = c->base.run;
    int64_t ra = c->retry_after_ms;
    c->retry_after_ms = -1;
    if (c->cls == MAE_CLASS_NONE) {
        succeed(c, false);
        return;
    }
    if (!going(c) || c->cls == MAE_CLASS_CANCELLED || c->no_retry) {
        give_up(c, false);
        return;
    }
    char cn[64];
    mae__class_format(c->cls, c->status, cn, sizeof cn);
    if (mae__retry_is_retryable(c->policy, c->cls, c->status) && c->attempts < c->policy->attempts &&
        ra > (int64_t)MAE_RETRY_HINT_MAX_MS) {
        /* a service asking for a longer wait (Retry-After: 999999999) is not waited for */
        mae__log(run, MAE_LOG_WARN, c->step_id, c->attempts, dur(c), cn,
                 "attempt failed: %s; no retry: the service asked to wait %llds, over the %us limit",
                 c->msg ? c->msg : "", (long long)(ra / 1000), MAE_RETRY_HINT_MAX_MS / 1000);
        size_t l = (c->msg ? strlen(c->msg) : 0) + 96;
        char *m = malloc(l);
        if (m) {
            snprintf(m, l, "%s (not retried: the service asked to wait %llds, over the %us limit)",
                     c->msg ? c->msg : "", (long long)(ra / 1000), MAE_RETRY_HINT_MAX_MS / 1000);
            free(c->msg);
            c->msg = m;
        }
        give_up(c, false);
        return;
    }
    if (mae__retry_is_retryable(c->policy, c->cls, c->status) && c->attempts < c->policy->attempts) {
        uint64_t delay = mae__retry_delay(c->policy, c->attempts, mae__rand(run->eng), ra);
        uint64_t dl = mae__run_deadline(run, c->is_comp);
        uint64_t now = uv_now(run->eng->loop);
        if (dl && now + delay >= dl) {
            mae__log(run, MAE_LOG_WARN, c->step_id, c->attempts, dur(c), cn,
                     "attempt failed: %s; no retry: the %s deadline would pass first", c->msg ? c->msg : "",
                     c->is_comp ? "compensation" : "run");
            size_t l = (c->msg ? strlen(c->msg) : 0) + 64;
            char *m = malloc(l);
            if (m) {
                snprintf(m, l, "%s (not retried: deadline)", c->msg ? c->msg : "");
                free(c->msg);
                c->msg = m;
            }
            give_up(c, false);
            return;
        }
        mae__log(run, MAE_LOG_WARN, c->step_id, c->attempts, dur(c), cn, "attempt failed: %s; retrying in %llums",
                 c->msg ? c->msg : "", (unsigned long long)delay);
        if (!c->delays) c->delays = malloc(MAE_MAX_DELAYS * sizeof *c->delays);
        if (c->delays && c->n_delays < MAE_MAX_DELAYS)
            c->delays[c->n_delays++] = delay > UINT32_MAX ? UINT32_MAX : (uint32_t)delay;
        mae__ev_attempt_end(c, (int64_t)delay);
        arm(c, TM_BACKOFF, delay);
        return;
    }
    give_up(c, false);
}

static void timer_cb(uv_timer_t *t) {
    mae_callnode *c = t->data;
    mae_run *run = c->base.run;
    int mode = c->tmode;
    c->tmode = TM_NONE;
    switch (mode) {
    case TM_ATTEMPT: {
        uint64_t dl = mae__run_deadline(run, c->is_comp);
        if (dl && uv_now(run->eng->loop) >= dl) {
            /* not this attempt's fault: the whole run (or compensation budget) is out of time */
            mae__run_deadline_hit(run, c->is_comp);
            return;
        }
        if (c->cancel_why == CANCEL_ABORT) return;   /* already cancelled, its callback is coming */
        if (c->in_flight) {
            c->cancel_why = CANCEL_TIMEOUT;
            mae_transport_cancel(c->svc->tr, c->call);
        } else if (c->queued) {
            dequeue(c);
            c->cls = MAE_CLASS_TIMEOUT;
            c->status = 0;
            c->sent = false;
            set_msg(c, "timed out waiting for a free slot (max_in_flight %d)", c->svc->max_in_flight);
            process_result(c);
        }
        return;
    }
    case TM_BACKOFF:
        attempt_begin(c, false);
        return;
    case TM_DEFER:
        process_result(c);
        return;
    }
}

void mae__call_abort(mae_callnode *c) {
    if (c->jwait) {
        c->jabort = true;   /* its intent's callback does not send it */
        return;
    }
    if (c->in_flight) {
        /* cancel once per call: a timed-out attempt is already being cancelled */
        bool asked = c->cancel_why != CANCEL_NONE;
        c->cancel_why = CANCEL_ABORT;
        if (!asked) mae_transport_cancel(c->svc->tr, c->call);
        return;
    }
    if (c->queued) dequeue(c);
    if (c->brk_waiting) {
        /* the compensation budget ran out while the breaker stayed open */
        brk_unwait(c);
        c->cls = MAE_CLASS_CIRCUIT_OPEN;
        c->status = 0;
        c->sent = false;
        set_msg(c, "circuit breaker for service %s stayed %s until the compensation budget ran out",
                c->service->name, mae__breaker_state_name(c->svc->brk.state));
        arm(c, TM_DEFER, 0);
        return;
    }
    if (c->tmode == TM_DEFER) return;   /* its failure is on its way */
    c->cls = MAE_CLASS_CANCELLED;
    c->status = 0;
    c->sent = false;
    set_msg(c, "cancelled before it was sent");
    arm(c, TM_DEFER, 0);
}

mae_callnode *mae__comp_call_new(mae_run *run, mae_comprec *rec) {
    const mae_step *st = rec->step;
    const mae_compensate *cp = st->compensate;
    size_t kl = strlen(rec->key) + sizeof ":compensate";
    mae_callnode *c = calloc(1, sizeof *c + kl);
    if (!c) return NULL;
    size_t il = strlen(st->id) + 16;
    char *sid = malloc(il);
    if (!sid || uv_timer_init(run->eng->loop, &c->timer) != 0) {
        free(sid);
        free(c);
        return NULL;
    }
    snprintf(sid, il, "%s.compensate", st->id);
    snprintf(c->idem_key, kl, "%s:compensate", rec->key);
    c->timer.data = c;
    c->base.kind = NODE_CALL;
    c->base.step = st;
    c->base.run = run;
    c->base.vars = rec->vars;
    mae__vars_ref(rec->vars);
    c->base.index = rec->index;
    c->is_comp = true;
    c->comp = rec;
    c->service = cp->service ? cp->service : st->service;
    c->target = cp->target;
    c->in_tmpl = cp->input;
    c->policy = &cp->retry;
    c->timeout_ms = cp->timeout_ms;
    c->step_id = sid;
    c->retry_after_ms = -1;
    return c;
}

mae_callnode *mae__resolve_call_new(mae_run *run, mae_comprec *rec) {
    const mae_step *st = rec->step;
    size_t kl = strlen(rec->key) + 1;
    mae_callnode *c = calloc(1, sizeof *c + kl);
    if (!c) return NULL;
    char *sid = strdup(st->id);
    if (!sid || uv_timer_init(run->eng->loop, &c->timer) != 0) {
        free(sid);
        free(c);
        return NULL;
    }
    memcpy(c->idem_key, rec->key, kl);
    c->timer.data = c;
    c->base.kind = NODE_CALL;
    c->base.step = st;
    c->base.run = run;
    c->base.vars = rec->vars;
    mae__vars_ref(rec->vars);
    c->base.index = rec->index;
    c->is_comp = true;
    c->resolving = true;
    c->comp = rec;
    /* the very request the step sent: same target, input, key and step id */
    c->service = st->service;
    c->target = st->target;
    c->in_tmpl = st->input;
    c->step_hdrs = st->headers;
    c->n_step_hdrs = st->n_headers;
    c->policy = &st->retry;
    c->timeout_ms = st->timeout_ms;
    c->step_id = sid;
    c->retry_after_ms = -1;
    return c;
}
