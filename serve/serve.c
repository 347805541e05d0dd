/* `maestro serve`: the request router, the run table and the drain (see serve.h). The answer to
 * a waiting POST is sent from the run's callback; a client that goes away first only drops its
 * waiter (the run goes on: it may have side effects to finish or undo). */
#include "serve/serve.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "loop/engine_int.h"
#include "loop/journal_run.h"
#include "serve/serve_metrics.h"
#include "workflow/json_out.h"

#define MAX_IDEM_KEY 255

typedef struct wf_entry {
    char *path;
    char *name;
    mae_workflow *wf;
    char digest[80];
    int version;
    int refs;                   /* runs borrowing wf, + 1 while it is the current version */
    struct wf_entry *next;      /* current versions only; retired ones live on through refs */
} wf_entry;

typedef enum { ST_RUNNING, ST_SUCCEEDED, ST_FAILED, ST_COMP_FAILED, ST_INTERRUPTED } run_state;
static const char *const state_names[] = {"running", "succeeded", "failed", "compensation_failed", "interrupted"};

typedef struct srun srun;
typedef struct waiter {
    mae_h1_exchange *x;
    srun *run;
    struct waiter *next, *prev;
} waiter;

struct srun {
    mae_serve *srv;
    char id[33];
    wf_entry *wfe;              /* held while running */
    char *workflow;
    char *idem_key;             /* NULL when none */
    run_state state;
    mae_run *run;               /* NULL once over */
    char *output;               /* JSON text (succeeded) */
    char *report;               /* JSON text (over) */
    uint64_t started_ms, ended_ms;
    waiter *waiters;
    srun *next, *prev;          /* s->runs: running ones, then finished ones oldest first */
};

struct mae_serve {
    uv_loop_t *loop;
    mae_serve_opts o;
    mae_engine *eng;
    mae_h1_server *h1;
    mae_metrics *metrics;
    mae_serve_responder respond;
    wf_entry *wfs;
    srun *runs_head, *runs_tail;
    int running;
    size_t finished;
    /* drain */
    bool draining;
    uv_timer_t drain_timer;
    bool drain_timer_open;
    int left;                   /* runs left journaled when the grace ran out */
    void (*drain_done)(void *);
    void *drain_ud;
    /* close */
    int closing_parts;
    void (*close_done)(void *);
    void *close_ud;
};

void mae__serve_opts_init(mae_serve_opts *o) {
    memset(o, 0, sizeof *o);
    o->max_runs = 256;
    o->keep_finished = 1000;
    o->keep_ms = 3600 * 1000;
    o->max_body = 1u << 20;
    o->limits.max_conns = 1024;
    o->limits.request_timeout_ms = 10000;
    o->limits.idle_timeout_ms = 60000;
    o->limits.write_hwm = 1u << 20;
    o->log_level = MAE_LOG_INFO;
}

void mae__serve_log(mae_serve *s, mae_log_level lvl, const char *fmt, ...) {
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (!s->eng || s->o.log_level == MAE_LOG_OFF || lvl > s->o.log_level) return;
    mae_log_level saved = s->eng->opts.log_level;
    s->eng->opts.log_level = lvl;
    mae__elog(s->eng, lvl, "%s", line);
    s->eng->opts.log_level = saved;
}

static void on_event(const mae_event *ev, void *ud) { mae__metrics_event(((mae_serve *)ud)->metrics, ev); }

int mae__serve_new(uv_loop_t *loop, const mae_serve_opts *o, const mae_engine_opts *eo, mae_serve **out) {
    mae_serve *s = calloc(1, sizeof *s);
    if (!s) return MAE_ENOMEM;
    s->loop = loop;
    s->o = *o;
    s->respond = mae__h1_respond;
    s->metrics = mae__metrics_new();
    mae_engine_opts e = *eo;
    e.on_event = on_event;
    e.event_ud = s;
    int rc = s->metrics ? mae_engine_new(loop, &e, &s->eng) : MAE_ENOMEM;
    if (rc != 0) {
        mae__metrics_free(s->metrics);
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void mae__serve_set_responder(mae_serve *s, mae_serve_responder r) { s->respond = r; }
int mae__serve_running(const mae_serve *s) { return s->running; }
int mae__serve_left(const mae_serve *s) { return s->left; }

/* ---- workflows ---- */

static void wf_release(wf_entry *w) {
    if (--w->refs > 0) return;
    mae_workflow_free(w->wf);
    free(w->path);
    free(w->name);
    free(w);
}

static wf_entry *wf_find(mae_serve *s, const char *name, size_t len) {
    for (wf_entry *w = s->wfs; w; w = w->next)
        if (strlen(w->name) == len && memcmp(w->name, name, len) == 0) return w;
    return NULL;
}

int mae__serve_set_workflow(mae_serve *s, const char *path, mae_workflow *wf, const char *digest) {
    const char *name = mae_workflow_name(wf);
    wf_entry **slot = &s->wfs, *old = NULL;
    for (; *slot; slot = &(*slot)->next) {
        if (strcmp((*slot)->path, path) == 0) {
            old = *slot;
            break;
        }
    }
    for (wf_entry *w = s->wfs; w; w = w->next) {
        if (w != old && strcmp(w->name, name) == 0) {
            mae_workflow_free(wf);
            return MAE_EEXISTS;
        }
    }
    wf_entry *n = calloc(1, sizeof *n);
    if (n) {
        n->path = strdup(path);
        n->name = strdup(name);
    }
    if (!n || !n->path || !n->name) {
        if (n) free(n->path), free(n->name);
        free(n);
        mae_workflow_free(wf);
        return MAE_ENOMEM;
    }
    n->wf = wf;
    n->refs = 1;
    n->version = old ? old->version + 1 : 1;
    snprintf(n->digest, sizeof n->digest, "%s", digest ? digest : "");
    if (old) {
        n->next = old->next;
        *slot = n;
        wf_release(old);
    } else {
        n->next = s->wfs;
        s->wfs = n;
    }
    return 0;
}

/* ---- the run table ---- */

static uint64_t now_ms(mae_serve *s) { return uv_now(s->loop); }

static void run_unlink(mae_serve *s, srun *r) {
    if (r->prev) r->prev->next = r->next;
    else s->runs_head = r->next;
    if (r->next) r->next->prev = r->prev;
    else s->runs_tail = r->prev;
    r->next = r->prev = NULL;
}

static void run_append(mae_serve *s, srun *r) {
    r->prev = s->runs_tail;
    r->next = NULL;
    if (s->runs_tail) s->runs_tail->next = r;
    else s->runs_head = r;
    s->runs_tail = r;
}

static void run_free(srun *r) {
    free(r->workflow);
    free(r->idem_key);
    free(r->output);
    free(r->report);
    free(r);
}

/* Finished runs over the count or older than keep_ms go, oldest first. Running ones stay. */
static void prune(mae_serve *s) {
    uint64_t now = now_ms(s);
    for (srun *r = s->runs_head, *n; r; r = n) {
        n = r->next;
        if (r->state == ST_RUNNING) continue;
        if (s->finished <= s->o.keep_finished && now - r->ended_ms <= s->o.keep_ms) break;
        run_unlink(s, r);
        s->finished--;
        run_free(r);
    }
}

static srun *run_find(mae_serve *s, const char *id, size_t len) {
    for (srun *r = s->runs_head; r; r = r->next)
        if (len == 32 && memcmp(r->id, id, 32) == 0) return r;
    return NULL;
}

static srun *run_find_key(mae_serve *s, const char *wf, const char *key) {
    for (srun *r = s->runs_head; r; r = r->next)
        if (r->idem_key && strcmp(r->idem_key, key) == 0 && strcmp(r->workflow, wf) == 0) return r;
    return NULL;
}

/* ---- answers ---- */

static void reply(mae_serve *s, mae_h1_exchange *x, int status, const mae_header_kv *h, size_t nh, const char *body) {
    s->respond(x, status, NULL, h, nh, body, strlen(body));
}

static void reply_error(mae_serve *s, mae_h1_exchange *x, int status, const char *code, const char *msg) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", code);
    cJSON_AddStringToObject(o, "message", msg);
    char *t = o ? mae__json_text(o) : NULL;
    cJSON_Delete(o);
    reply(s, x, status, NULL, 0, t ? t : "{\"error\":\"internal\"}");
    free(t);
}

/* The documented mapping of a run's end to an HTTP status. */
static int status_of(run_state st) {
    switch (st) {
    case ST_SUCCEEDED: return 200;
    case ST_FAILED: return 502;
    case ST_COMP_FAILED: return 500;
    case ST_INTERRUPTED: return 503;
    default: return 202;
    }
}

/* A finished run's answer: {run_id, status, output} on success, else its report. */
static void reply_result(mae_serve *s, mae_h1_exchange *x, const srun *r) {
    if (r->state == ST_SUCCEEDED) {
        size_t n = strlen(r->output ? r->output : "{}") + 128;
        char *b = malloc(n);
        if (!b) {
            reply_error(s, x, 500, "internal", "out of memory");
            return;
        }
        snprintf(b, n, "{\"run_id\":\"%s\",\"status\":\"succeeded\",\"output\":%s}", r->id, r->output ? r->output : "{}");
        reply(s, x, 200, NULL, 0, b);
        free(b);
        return;
    }
    reply(s, x, status_of(r->state), NULL, 0, r->report ? r->report : "{}");
}

static void reply_accepted(mae_serve *s, mae_h1_exchange *x, const srun *r) {
    char loc[64], body[96];
    snprintf(loc, sizeof loc, "/v1/runs/%s", r->id);
    snprintf(body, sizeof body, "{\"run_id\":\"%s\"}", r->id);
    mae_header_kv h[] = {{"Location", loc}};
    reply(s, x, 202, h, 1, body);
}

/* ---- waiters: a POST answered when its run ends ---- */

static void waiter_unlink(waiter *w) {
    if (w->prev) w->prev->next = w->next;
    else w->run->waiters = w->next;
    if (w->next) w->next->prev = w->prev;
}

static int waiter_add(mae_serve *s, srun *r, mae_h1_exchange *x) {
    waiter *w = calloc(1, sizeof *w);
    if (!w) return MAE_ENOMEM;
    w->x = x;
    w->run = r;
    w->next = r->waiters;
    if (r->waiters) r->waiters->prev = w;
    r->waiters = w;
    if (s->respond == mae__h1_respond) mae__h1_exchange_set_data(x, w);
    return 0;
}

static void on_abort(mae_h1_exchange *x, void *ud) {
    waiter *w = mae__h1_exchange_data(x);
    if (!w) return;
    waiter_unlink(w);
    free(w);
}

static void check_drained(mae_serve *s) {
    if (!s->draining || s->running > 0 || !s->drain_done) return;
    void (*done)(void *) = s->drain_done;
    s->drain_done = NULL;
    if (s->drain_timer_open) uv_timer_stop(&s->drain_timer);
    done(s->drain_ud);
}

static void on_run_done(mae_run *run, const mae_run_result *res, void *ud) {
    srun *r = ud;
    mae_serve *s = r->srv;
    static const run_state map[] = {ST_SUCCEEDED, ST_FAILED, ST_COMP_FAILED, ST_INTERRUPTED};
    r->state = map[res->status];
    if (res->output && res->status == MAE_RUN_SUCCEEDED) r->output = mae__json_text(res->output);
    if (res->report) r->report = mae__json_text(res->report);
    r->ended_ms = now_ms(s);
    r->run = NULL;
    mae_run_free(run);
    mae__serve_log(s, MAE_LOG_INFO, "run %s workflow %s %s in %llu ms", r->id, r->workflow, state_names[r->state],
                   (unsigned long long)(r->ended_ms - r->started_ms));
    while (r->waiters) {
        waiter *w = r->waiters;
        waiter_unlink(w);
        if (s->respond == mae__h1_respond) mae__h1_exchange_set_data(w->x, NULL);
        reply_result(s, w->x, r);
        free(w);
    }
    wf_release(r->wfe);
    r->wfe = NULL;
    s->running--;
    s->finished++;
    /* finished runs sit at the tail in the order they ended */
    run_unlink(s, r);
    run_append(s, r);
    prune(s);
    check_drained(s);
}

/* ---- requests ---- */

static const char *header(const mae_h1_request *req, const char *name) {
    for (size_t i = 0; i < req->n_headers; i++)
        if (strcasecmp(req->headers[i].name, name) == 0) return req->headers[i].value;
    return NULL;
}

/* The value of key in a query string ("a=1&b=2"), copied into out; NULL when absent. */
static const char *query_get(const char *q, const char *key, char *out, size_t cap) {
    size_t kl = strlen(key);
    for (const char *p = q; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        if (n > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
            snprintf(out, cap, "%.*s", (int)(n - kl - 1), p + kl + 1);
            return out;
        }
        if (n == kl && strncmp(p, key, kl) == 0) {
            snprintf(out, cap, "%s", "");
            return out;
        }
        p = amp ? amp + 1 : NULL;
    }
    return NULL;
}

typedef struct input_errs {
    cJSON *list;
} input_errs;

static void on_input_error(const mae_diagnostic *d, void *ud) {
    input_errs *e = ud;
    if (e->list) cJSON_AddItemToArray(e->list, cJSON_CreateString(d->message));
}

static bool wants_async(const mae_h1_request *req) {
    char v[16];
    if (query_get(req->query, "wait", v, sizeof v) && strcmp(v, "false") == 0) return true;
    const char *p = header(req, "Prefer");
    return p && strcasestr(p, "respond-async") != NULL;
}

/* A run just started joins the table (running runs at the head: finished ones stay ordered
 * by their end at the tail) and holds its workflow version. */
static void run_register(mae_serve *s, srun *r, wf_entry *w) {
    snprintf(r->id, sizeof r->id, "%s", mae_run_id(r->run));
    r->wfe = w;
    w->refs++;
    r->state = ST_RUNNING;
    r->started_ms = now_ms(s);
    s->running++;
    r->next = s->runs_head;
    if (s->runs_head) s->runs_head->prev = r;
    else s->runs_tail = r;
    s->runs_head = r;
}

static void post_run(mae_serve *s, mae_h1_exchange *x, const mae_h1_request *req, const char *name, size_t nlen) {
    wf_entry *w = wf_find(s, name, nlen);
    if (!w) {
        reply_error(s, x, 404, "not_found", "no such workflow");
        return;
    }
    bool async = wants_async(req);
    const char *key = header(req, "Idempotency-Key");
    if (key && (!key[0] || strlen(key) > MAX_IDEM_KEY)) {
        reply_error(s, x, 400, "bad_request", "Idempotency-Key must be 1 to 255 bytes");
        return;
    }
    if (key) {
        srun *r = run_find_key(s, w->name, key);
        if (r) {
            /* the same run again: its answer, or wait for it */
            if (r->state != ST_RUNNING) reply_result(s, x, r);
            else if (async) reply_accepted(s, x, r);
            else if (waiter_add(s, r, x) != 0) reply_error(s, x, 500, "internal", "out of memory");
            return;
        }
    }
    if (s->draining) {
        mae__metrics_rejected(s->metrics, w->name, "draining");
        reply_error(s, x, 503, "draining", "the server is shutting down");
        return;
    }
    if (s->running >= s->o.max_runs) {
        mae__metrics_rejected(s->metrics, w->name, "max_runs");
        mae_header_kv h[] = {{"Retry-After", "1"}};
        reply(s, x, 429, h, 1, "{\"error\":\"too_many_runs\",\"message\":\"--max-runs runs are going\"}");
        return;
    }
    srun *r = calloc(1, sizeof *r);
    if (r) {
        r->workflow = strdup(w->name);
        r->idem_key = key ? strdup(key) : NULL;
    }
    if (!r || !r->workflow || (key && !r->idem_key)) {
        if (r) run_free(r);
        reply_error(s, x, 500, "internal", "out of memory");
        return;
    }
    r->srv = s;
    input_errs ie = {cJSON_CreateArray()};
    mae_run_opts ro = {0};
    ro.on_input_error = on_input_error;
    ro.input_ud = &ie;
    ro.no_report = 0;   /* GET /v1/runs/{id} serves the report */
    const char *body = req->body_len ? req->body : NULL;
    int rc = mae_run_start(s->eng, w->wf, body, &ro, on_run_done, r, &r->run);
    if (rc != 0) {
        run_free(r);
        if (rc == MAE_EPARSE || rc == MAE_EINVAL) {
            mae__metrics_rejected(s->metrics, w->name, "invalid_input");
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "error", "invalid_input");
            cJSON_AddStringToObject(o, "message", rc == MAE_EPARSE ? "the body is not JSON" : "the input does not match the workflow");
            if (ie.list) cJSON_AddItemToObject(o, "problems", ie.list);
            ie.list = NULL;
            char *t = o ? mae__json_text(o) : NULL;
            cJSON_Delete(o);
            reply(s, x, 422, NULL, 0, t ? t : "{\"error\":\"invalid_input\"}");
            free(t);
        } else {
            reply_error(s, x, 503, "unavailable", mae_strerror(rc));
        }
        cJSON_Delete(ie.list);
        return;
    }
    cJSON_Delete(ie.list);
    run_register(s, r, w);
    if (async) reply_accepted(s, x, r);
    else if (waiter_add(s, r, x) != 0) reply_error(s, x, 500, "internal", "out of memory");
}

static cJSON *run_summary(const srun *r) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "run_id", r->id);
    cJSON_AddStringToObject(o, "workflow", r->workflow);
    cJSON_AddStringToObject(o, "state", state_names[r->state]);
    return o;
}

static void get_run(mae_serve *s, mae_h1_exchange *x, const char *id, size_t len) {
    srun *r = run_find(s, id, len);
    if (!r) {
        reply_error(s, x, 404, "not_found", "no such run (finished runs are kept for a bounded time)");
        return;
    }
    cJSON *o = run_summary(r);
    char *head = o ? mae__json_text(o) : NULL;
    cJSON_Delete(o);
    if (!head) {
        reply_error(s, x, 500, "internal", "out of memory");
        return;
    }
    /* {summary..., "output":..., "report":...}: the stored texts spliced in, not re-parsed */
    size_t n = strlen(head) + (r->output ? strlen(r->output) : 4) + (r->report ? strlen(r->report) : 4) + 32;
    char *b = malloc(n);
    if (b) {
        head[strlen(head) - 1] = 0;
        snprintf(b, n, "%s,\"output\":%s,\"report\":%s}", head, r->output ? r->output : "null", r->report ? r->report : "null");
        reply(s, x, 200, NULL, 0, b);
    } else {
        reply_error(s, x, 500, "internal", "out of memory");
    }
    free(b);
    free(head);
}

static void list_runs(mae_serve *s, mae_h1_exchange *x, const mae_h1_request *req) {
    char want[32];
    const char *st = query_get(req->query, "state", want, sizeof want);
    if (st) {
        bool known = false;
        for (size_t i = 0; i < sizeof state_names / sizeof state_names[0]; i++) known = known || strcmp(st, state_names[i]) == 0;
        if (!known) {
            reply_error(s, x, 400, "bad_request", "state: running|succeeded|failed|compensation_failed|interrupted");
            return;
        }
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *a = cJSON_AddArrayToObject(o, "runs");
    for (srun *r = s->runs_head; r && a; r = r->next)
        if (!st || strcmp(st, state_names[r->state]) == 0) cJSON_AddItemToArray(a, run_summary(r));
    char *t = o ? mae__json_text(o) : NULL;
    cJSON_Delete(o);
    if (t) reply(s, x, 200, NULL, 0, t);
    else reply_error(s, x, 500, "internal", "out of memory");
    free(t);
}

static void cancel_run(mae_serve *s, mae_h1_exchange *x, const char *id, size_t len) {
    srun *r = run_find(s, id, len);
    if (!r) {
        reply_error(s, x, 404, "not_found", "no such run");
        return;
    }
    if (r->state != ST_RUNNING) {
        reply_result(s, x, r);
        return;
    }
    /* answered when the compensation is over, with the run's final report */
    mae_run_cancel(r->run);
    if (waiter_add(s, r, x) != 0) reply_error(s, x, 500, "internal", "out of memory");
}

static void list_workflows(mae_serve *s, mae_h1_exchange *x) {
    cJSON *o = cJSON_CreateObject();
    cJSON *a = cJSON_AddArrayToObject(o, "workflows");
    for (wf_entry *w = s->wfs; w && a; w = w->next) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", w->name);
        cJSON_AddNumberToObject(e, "version", w->version);
        cJSON_AddStringToObject(e, "digest", w->digest);
        cJSON_AddStringToObject(e, "file", w->path);
        cJSON_AddItemToArray(a, e);
    }
    char *t = o ? mae__json_text(o) : NULL;
    cJSON_Delete(o);
    if (t) reply(s, x, 200, NULL, 0, t);
    else reply_error(s, x, 500, "internal", "out of memory");
    free(t);
}

static void get_metrics(mae_serve *s, mae_h1_exchange *x) {
    size_t len = 0;
    char *t = mae__metrics_text(s->metrics, s->eng, s->running, s->h1 ? mae__h1_server_open(s->h1) : 0, &len);
    if (!t) {
        reply_error(s, x, 500, "internal", "out of memory");
        return;
    }
    s->respond(x, 200, "text/plain; version=0.0.4", NULL, 0, t, len);
    free(t);
}

static void method_not_allowed(mae_serve *s, mae_h1_exchange *x, const char *allow) {
    mae_header_kv h[] = {{"Allow", allow}};
    reply(s, x, 405, h, 1, "{\"error\":\"method_not_allowed\"}");
}

/* The router: paths are matched on their raw bytes (no percent-decoding: names and ids are
 * plain identifiers). */
void mae__serve_handle(mae_serve *s, mae_h1_exchange *x, const mae_h1_request *req) {
    const char *p = req->path, *m = req->method;
    bool get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
    prune(s);
    if (strcmp(p, "/healthz") == 0) {
        if (!get) return method_not_allowed(s, x, "GET");
        return reply(s, x, s->draining ? 503 : 200, NULL, 0, s->draining ? "{\"status\":\"draining\"}" : "{\"status\":\"ok\"}");
    }
    if (strcmp(p, "/metrics") == 0) {
        if (!get) return method_not_allowed(s, x, "GET");
        return get_metrics(s, x);
    }
    if (strcmp(p, "/v1/workflows") == 0) {
        if (!get) return method_not_allowed(s, x, "GET");
        return list_workflows(s, x);
    }
    if (strcmp(p, "/v1/runs") == 0) {
        if (!get) return method_not_allowed(s, x, "GET");
        return list_runs(s, x, req);
    }
    static const char wfp[] = "/v1/workflows/", runsp[] = "/v1/runs/";
    if (strncmp(p, wfp, sizeof wfp - 1) == 0) {
        const char *name = p + sizeof wfp - 1;
        const char *slash = strchr(name, '/');
        if (slash && slash > name && strcmp(slash, "/runs") == 0) {
            if (strcmp(m, "POST") != 0) return method_not_allowed(s, x, "POST");
            return post_run(s, x, req, name, (size_t)(slash - name));
        }
    } else if (strncmp(p, runsp, sizeof runsp - 1) == 0 && !strchr(p + sizeof runsp - 1, '/')) {
        const char *id = p + sizeof runsp - 1;
        if (get) return get_run(s, x, id, strlen(id));
        if (strcmp(m, "DELETE") == 0) return cancel_run(s, x, id, strlen(id));
        return method_not_allowed(s, x, "GET, DELETE");
    }
    reply_error(s, x, 404, "not_found", "no such resource");
}

static void h1_request(mae_h1_exchange *x, const mae_h1_request *req, void *ud) { mae__serve_handle(ud, x, req); }

int mae__serve_listen(mae_serve *s, const char *host, int port, int *port_out) {
    mae_h1_handler h = {h1_request, on_abort, s};
    int rc = mae__h1_server_new(s->loop, host, port, &h, &s->h1);
    if (rc != 0) {
        s->h1 = NULL;
        return rc;
    }
    mae__h1_server_set_max_body(s->h1, s->o.max_body);
    mae__h1_server_set_limits(s->h1, &s->o.limits);
    *port_out = mae__h1_server_port(s->h1);
    return 0;
}

/* ---- drain and close ---- */

void mae__serve_cancel_all(mae_serve *s) {
    for (srun *r = s->runs_head; r; r = r->next)
        if (r->state == ST_RUNNING && r->run) mae_run_cancel(r->run);
}

void mae__serve_set_max_runs(mae_serve *s, int max_runs) { s->o.max_runs = max_runs; }

static void drain_expired(uv_timer_t *t) {
    mae_serve *s = t->data;
    if (s->o.journal && s->running > 0) {
        /* leave them journaled: the next start resumes them; their clients learn it now */
        mae__serve_log(s, MAE_LOG_WARN, "drain: grace period over, leaving %d run(s) journaled for the next start",
                       s->running);
        s->left = s->running;
        for (srun *r = s->runs_head; r; r = r->next) {
            while (r->waiters) {
                waiter *w = r->waiters;
                waiter_unlink(w);
                if (s->respond == mae__h1_respond) mae__h1_exchange_set_data(w->x, NULL);
                reply_error(s, w->x, 503, "left_journaled", "the server stopped; the run resumes at its next start");
                free(w);
            }
        }
        if (s->drain_done) {
            void (*done)(void *) = s->drain_done;
            s->drain_done = NULL;
            done(s->drain_ud);
        }
        return;
    }
    if (s->running) mae__serve_log(s, MAE_LOG_WARN, "drain: grace period over, cancelling %d run(s)", s->running);
    mae__serve_cancel_all(s);
}

static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int mae__serve_resume_journal(mae_serve *s, const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    for (struct dirent *de; (de = readdir(d));) {
        size_t l = strlen(de->d_name);
        if (l < 4 || strcmp(de->d_name + l - 3, ".mj") != 0) continue;
        char path[4096], err[512];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        mae_jfile *f = calloc(1, sizeof *f);
        if (!f) break;
        const char *why = NULL;
        wf_entry *w = NULL;
        if (mae__jfile_load(path, f, err, sizeof err) != 0) why = err;
        else if (f->end || f->locked) why = "";   /* over, or another process has it: not ours */
        else if (f->scan.damaged) why = "the journal is damaged (maestro show / compensate)";
        else if (!(w = wf_find(s, jstr(f->start, "workflow") ? jstr(f->start, "workflow") : "",
                               strlen(jstr(f->start, "workflow") ? jstr(f->start, "workflow") : ""))))
            why = "its workflow is not served here";
        else if (!jstr(f->start, "digest") || strcmp(jstr(f->start, "digest"), w->digest) != 0)
            why = "its workflow file changed since the run started (maestro resume --force)";
        srun *r = why ? NULL : calloc(1, sizeof *r);
        if (r) r->workflow = strdup(w->name);
        if (!why && (!r || !r->workflow)) why = "out of memory";
        if (!why) {
            r->srv = s;
            char *input = mae__json_text(cJSON_GetObjectItemCaseSensitive(f->start, "input"));
            mae_replay_mode mode = f->compensating ? MAE_REPLAY_COMPENSATE : MAE_REPLAY_RESUME;
            int rc = input ? mae__run_start_ex(s->eng, w->wf, input, NULL, on_run_done, r, &r->run, f, mode) : MAE_ENOMEM;
            free(input);
            if (rc == 0) {
                f = NULL;   /* the run owns it */
                run_register(s, r, w);
                mae__serve_log(s, MAE_LOG_INFO, "run %s workflow %s resumed from the journal (%s)", r->id, r->workflow,
                               mode == MAE_REPLAY_COMPENSATE ? "compensating" : "resuming");
                n++;
                r = NULL;
            } else {
                why = mae_strerror(rc);
            }
        }
        if (r) run_free(r);
        if (why && *why) mae__serve_log(s, MAE_LOG_WARN, "journal %s left alone: %s", path, why);
        if (f) {
            mae__jfile_free(f);
            free(f);
        }
    }
    closedir(d);
    return n;
}

void mae__serve_drain(mae_serve *s, uint64_t grace_ms, void (*done)(void *ud), void *ud) {
    if (s->draining) {   /* asked again: no more grace */
        if (s->drain_timer_open) uv_timer_start(&s->drain_timer, drain_expired, 0, 0);
        return;
    }
    s->draining = true;
    s->drain_done = done;
    s->drain_ud = ud;
    if (s->h1) mae__h1_server_stop_accepting(s->h1);
    if (uv_timer_init(s->loop, &s->drain_timer) == 0) {
        s->drain_timer_open = true;
        s->drain_timer.data = s;
        uv_timer_start(&s->drain_timer, drain_expired, grace_ms, 0);
    }
    check_drained(s);
}

static void part_closed(void *ud) {
    mae_serve *s = ud;
    if (--s->closing_parts > 0) return;
    while (s->runs_head) {
        srun *r = s->runs_head;
        run_unlink(s, r);
        if (r->wfe) wf_release(r->wfe);
        while (r->waiters) {
            waiter *w = r->waiters;
            waiter_unlink(w);
            free(w);
        }
        run_free(r);
    }
    while (s->wfs) {
        wf_entry *w = s->wfs;
        s->wfs = w->next;
        wf_release(w);
    }
    mae__metrics_free(s->metrics);
    void (*done)(void *) = s->close_done;
    void *ud2 = s->close_ud;
    free(s);
    if (done) done(ud2);
}

static void timer_closed(uv_handle_t *h) { part_closed(h->data); }

/* Runs still going are cancelled by the engine's close; their callbacks run (and answer
 * their waiters, whose connections are closed by then: the answers are dropped). */
static void engine_closed(void *ud) {
    mae_serve *s = ud;
    s->eng = NULL;
    part_closed(s);
}

void mae__serve_close(mae_serve *s, void (*done)(void *ud), void *ud) {
    s->close_done = done;
    s->close_ud = ud;
    s->closing_parts = 1;
    if (s->drain_timer_open) {
        s->closing_parts++;
        uv_close((uv_handle_t *)&s->drain_timer, timer_closed);
    }
    if (s->h1) {
        s->closing_parts++;
        mae__h1_server_close(s->h1, part_closed, s);
        s->h1 = NULL;
    }
    if (mae_engine_close(s->eng, engine_closed, s) != 0) part_closed(s);
}
