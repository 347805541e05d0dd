/* The scripted transport (see scripted.h). Everything it needs is decided in start(): the
 * result is prepared and a timer delivers it; cancel() swaps it for a cancelled result. */
#include "tests/support/scripted.h"

#include "maestro/maestro.h"
#include "workflow/json_out.h"

#include <stdlib.h>
#include <string.h>

typedef struct scripted scripted;

struct mae_call {
    uv_timer_t timer;
    scripted *s;
    mae_call_cb cb;
    void *ud;
    mae_call_result res;
    char *message;
    char *service, *method;
    bool hang, cancelled, done;
    uint64_t call_no;
    mae_call *next, *prev;
};

struct scripted {
    mae_transport base;
    uv_loop_t *loop;
    uv_timer_t self;           /* closed last: gives close() its asynchronous completion */
    mae_script_rule **rules;
    size_t n_rules, cap_rules;
    mae_script_entry *log;
    size_t n_log, cap_log;
    bool logging;
    mae_call *calls;           /* in flight */
    int in_flight, max_in_flight;
    uint64_t n_calls;
    int pending_closes;
    bool closing;
    void (*done)(void *ud);
    void *done_ud;
};

static char *describe(const mae_call_req *req);

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static int log_add(scripted *s, mae_script_ev ev, const mae_call_req *req, const mae_call *c,
                   mae_class cls) {
    if (!s->logging) return 0;
    if (s->n_log == s->cap_log) {
        size_t cap = s->cap_log ? s->cap_log * 2 : 64;
        mae_script_entry *n = realloc(s->log, cap * sizeof *n);
        if (!n) return -1;
        s->log = n;
        s->cap_log = cap;
    }
    mae_script_entry *e = &s->log[s->n_log++];
    memset(e, 0, sizeof *e);
    e->ev = ev;
    e->at_ms = uv_now(s->loop);
    e->cls = cls;
    e->call_no = c ? c->call_no : 0;
    if (req) {
        e->service = dup_or_null(req->service ? req->service->name : NULL);
        e->method = dup_or_null(req->target ? req->target->text : NULL);
        e->desc = describe(req);
        e->step_id = dup_or_null(req->step_id);
        e->idempotency_key = dup_or_null(req->idempotency_key);
        e->traceparent = dup_or_null(req->traceparent);
        e->input = req->input ? mae_json_text(req->input) : strdup("null");
        e->timeout_ms = req->timeout_ms;
        e->compensation = req->compensation;
    } else if (c) {
        e->service = dup_or_null(c->service);
        e->method = dup_or_null(c->method);
    }
    return 0;
}

static bool str_match(const char *want, const char *have) {
    return !want || (have && strcmp(want, have) == 0);
}

/* The target as its transport would show it, rendered in the request's scope ("GET /u/a%2Fb"). */
static char *describe(const mae_call_req *req) {
    char *d = NULL;
    mae_eval_err err;
    if (!req->target || mae_target_describe(req->target, req->scope, &d, &err) != 0) return NULL;
    return d;
}

/* A rule matches on the service name and the method as written, or on the call as described
 * ("POST /api/sendorderconfirmation" for a bare HTTP name). */
static mae_script_rule *find_rule(scripted *s, const mae_call_req *req) {
    char *in = NULL;
    char *desc = describe(req);
    const char *text = req->target ? req->target->text : NULL;
    mae_script_rule *found = NULL;
    for (size_t i = 0; i < s->n_rules; i++) {
        mae_script_rule *r = s->rules[i];
        if (r->service && (!req->service || !str_match(r->service, req->service->name))) continue;
        if (!str_match(r->method, text) && !(desc && str_match(r->method, desc))) continue;
        if (r->match_input) {
            if (!in) in = req->input ? mae_json_text(req->input) : strdup("null");
            if (!in || !strstr(in, r->match_input)) continue;
        }
        found = r;
        break;
    }
    free(in);
    free(desc);
    return found;
}

static void call_closed(uv_handle_t *h) {
    mae_call *c = h->data;
    scripted *s = c->s;
    free(c->message);
    free(c->service);
    free(c->method);
    free(c);
    s->pending_closes--;
    if (s->closing && s->pending_closes == 0 && s->done) {
        void (*done)(void *) = s->done;
        s->done = NULL;
        done(s->done_ud);
    }
}

static void call_fire(uv_timer_t *t) {
    mae_call *c = t->data;
    scripted *s = c->s;
    if (c->cancelled) {
        cJSON_Delete(c->res.output);
        c->res.output = NULL;
        c->res.cls = MAE_CLASS_CANCELLED;
        c->res.status = 0;
        c->res.message = "cancelled";
        c->res.sent = true;
        c->res.not_an_attempt = false;
        c->res.retry_after_ms = -1;
    }
    c->done = true;
    log_add(s, MAE_SCRIPT_RESULT, NULL, c, c->res.cls);
    if (c->prev) c->prev->next = c->next;
    else s->calls = c->next;
    if (c->next) c->next->prev = c->prev;
    s->in_flight--;
    cJSON *out = c->res.output;
    c->res.output = NULL;
    mae_call_result res = c->res;
    res.output = out;   /* the callback owns it */
    c->cb(&res, c->ud);
    uv_close((uv_handle_t *)&c->timer, call_closed);
}

static int s_start(mae_transport *t, const mae_call_req *req, mae_call_cb cb, void *ud,
                   mae_call **out) {
    scripted *s = t->data;
    if (s->closing) return MAE_ESTATE;
    mae_call *c = calloc(1, sizeof *c);
    if (!c) return MAE_ENOMEM;
    c->s = s;
    c->cb = cb;
    c->ud = ud;
    c->call_no = ++s->n_calls;
    c->service = dup_or_null(req->service ? req->service->name : NULL);
    c->method = dup_or_null(req->target ? req->target->text : NULL);
    c->res.retry_after_ms = -1;
    mae_script_rule *r = find_rule(s, req);
    uint64_t latency = 0;
    if (!r) {
        c->res.cls = MAE_CLASS_CONNECT;
        c->message = strdup("scripted: no rule for this method");
    } else {
        int n = r->calls++;
        latency = r->latency_ms;
        if (n < r->not_an_attempt_times) {
            c->res.cls = MAE_CLASS_GRPC;
            c->res.status = MAE_GRPC_UNAVAILABLE;
            c->res.not_an_attempt = true;
            c->message = strdup("scripted: refused stream");
        } else if (r->fail_times < 0 || n - r->not_an_attempt_times < r->fail_times) {
            c->res.cls = r->fail_cls;
            c->res.status = r->fail_status;
            c->res.retry_after_ms = r->retry_after_ms;
            c->res.sent = r->fail_sent;
            c->message = strdup(r->fail_message ? r->fail_message : "scripted failure");
        } else {
            c->res.sent = true;
            if (r->output) c->res.output = cJSON_Duplicate(r->output, 1);
            else if (req->input) c->res.output = cJSON_Duplicate(req->input, 1);
        }
        c->hang = r->hang;
    }
    c->res.message = c->message;
    if (uv_timer_init(s->loop, &c->timer) != 0) {
        cJSON_Delete(c->res.output);
        free(c->message);
        free(c->service);
        free(c->method);
        free(c);
        return MAE_EINTERNAL;
    }
    c->timer.data = c;
    s->pending_closes++;
    log_add(s, MAE_SCRIPT_CALL, req, c, MAE_CLASS_NONE);
    c->next = s->calls;
    if (s->calls) s->calls->prev = c;
    s->calls = c;
    if (++s->in_flight > s->max_in_flight) s->max_in_flight = s->in_flight;
    if (!c->hang) uv_timer_start(&c->timer, call_fire, latency, 0);
    *out = c;
    return 0;
}

static void s_cancel(mae_transport *t, mae_call *c) {
    scripted *s = t->data;
    if (c->done || c->cancelled) return;
    log_add(s, MAE_SCRIPT_CANCEL, NULL, c, MAE_CLASS_CANCELLED);
    c->cancelled = true;
    uv_timer_stop(&c->timer);
    uv_timer_start(&c->timer, call_fire, 0, 0);
}

static void self_closed(uv_handle_t *h) {
    scripted *s = h->data;
    s->pending_closes--;
    if (s->pending_closes == 0 && s->done) {
        void (*done)(void *) = s->done;
        s->done = NULL;
        done(s->done_ud);
    }
}

static void free_all(void *ud) {
    scripted *s = ud;
    for (size_t i = 0; i < s->n_rules; i++) {
        free((char *)s->rules[i]->service);
        free((char *)s->rules[i]->method);
        free((char *)s->rules[i]->match_input);
        cJSON_Delete(s->rules[i]->output);
        free(s->rules[i]);
    }
    free(s->rules);
    for (size_t i = 0; i < s->n_log; i++) {
        mae_script_entry *e = &s->log[i];
        free(e->service); free(e->method); free(e->desc); free(e->step_id);
        free(e->idempotency_key); free(e->traceparent); free(e->input);
    }
    free(s->log);
}

typedef struct { scripted *s; void (*done)(void *); void *ud; } close_ctx;

static void close_finish(void *ud) {
    close_ctx *cc = ud;
    free_all(cc->s);
    free(cc->s);
    if (cc->done) cc->done(cc->ud);
    free(cc);
}

void mae_scripted_close(mae_transport *t, void (*done)(void *ud), void *ud) {
    scripted *s = t->data;
    if (s->closing) return;
    close_ctx *cc = malloc(sizeof *cc);
    if (!cc) abort();  /* out of memory while shutting down a test transport */
    cc->s = s;
    cc->done = done;
    cc->ud = ud;
    s->closing = true;
    s->done = close_finish;
    s->done_ud = cc;
    for (mae_call *c = s->calls; c; c = c->next) s_cancel(t, c);
    uv_close((uv_handle_t *)&s->self, self_closed);
}

static const mae_transport_vtbl scripted_vt = {
    .name = "scripted", .start = s_start, .cancel = s_cancel, .close = mae_scripted_close,
};

int mae_scripted_new(uv_loop_t *loop, mae_transport **out) {
    scripted *s = calloc(1, sizeof *s);
    if (!s) return MAE_ENOMEM;
    s->loop = loop;
    s->logging = true;
    s->base.vt = &scripted_vt;
    s->base.data = s;
    if (uv_timer_init(loop, &s->self) != 0) {
        free(s);
        return MAE_EINTERNAL;
    }
    s->self.data = s;
    s->pending_closes = 1;
    *out = &s->base;
    return 0;
}

mae_script_rule *mae_scripted_rule(mae_transport *t, const char *service, const char *method) {
    scripted *s = t->data;
    if (s->n_rules == s->cap_rules) {
        size_t cap = s->cap_rules ? s->cap_rules * 2 : 8;
        mae_script_rule **n = realloc(s->rules, cap * sizeof *n);
        if (!n) return NULL;
        s->rules = n;
        s->cap_rules = cap;
    }
    mae_script_rule *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->service = dup_or_null(service);
    r->method = dup_or_null(method);
    r->fail_cls = MAE_CLASS_HTTP_5XX;
    r->fail_status = 503;
    r->retry_after_ms = -1;
    s->rules[s->n_rules++] = r;
    return r;
}

const mae_script_entry *mae_scripted_log(mae_transport *t, size_t *n) {
    scripted *s = t->data;
    *n = s->n_log;
    return s->log;
}

size_t mae_scripted_count(mae_transport *t, mae_script_ev ev, const char *method) {
    scripted *s = t->data;
    size_t k = 0;
    for (size_t i = 0; i < s->n_log; i++)
        if (s->log[i].ev == ev && str_match(method, s->log[i].method)) k++;
    return k;
}

int mae_scripted_in_flight(mae_transport *t) { return ((scripted *)t->data)->in_flight; }
int mae_scripted_max_in_flight(mae_transport *t) { return ((scripted *)t->data)->max_in_flight; }
void mae_scripted_set_logging(mae_transport *t, bool on) { ((scripted *)t->data)->logging = on; }
