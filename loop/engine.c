/* The engine object: options, random source, per-service state (breaker + its timer and
 * probe, max_in_flight count and queue), refcounted variable scopes, and engine shutdown. */
#include <stdlib.h>
#include <string.h>

#include "loop/engine_int.h"
#include "grpc_h2/grpc_typed.h"
#include "loop/retry.h"

void mae_engine_opts_init(mae_engine_opts *o) {
    memset(o, 0, sizeof *o);
    o->log_level = MAE_LOG_WARN;
    o->log_format = MAE_LOG_TEXT;
}

static uint64_t splitmix(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* xoshiro256**: ids and jitter only, seeded once, so nothing blocks during a run */
uint64_t mae__rand(mae_engine *e) {
    uint64_t *s = e->rng;
    uint64_t r = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

void mae__hex_id(mae_engine *e, char *out, size_t nbytes) {
    static const char hx[] = "0123456789abcdef";
    uint64_t r = 0;
    for (size_t i = 0; i < nbytes; i++) {
        if (i % 8 == 0) r = mae__rand(e);
        unsigned b = (unsigned)(r & 0xff);
        r >>= 8;
        out[2 * i] = hx[b >> 4];
        out[2 * i + 1] = hx[b & 15];
    }
    out[2 * nbytes] = 0;
}

int mae_engine_new(uv_loop_t *loop, const mae_engine_opts *opts, mae_engine **out) {
    if (!loop || !out) return MAE_EINVAL;
    mae_engine *e = calloc(1, sizeof *e);
    if (!e) return MAE_ENOMEM;
    e->loop = loop;
    if (opts) e->opts = *opts;
    else mae_engine_opts_init(&e->opts);
    /* The transports the embedder gave, each with the service type it is for. */
    e->n_tr = mae__opts_transports(&e->opts, e->tr_type, e->tr, MAE_MAX_TRANSPORTS);
    uint64_t seed = 0;
    /* synchronous (no loop): read once at creation */
    if (uv_random(NULL, NULL, &seed, sizeof seed, 0, NULL) != 0)
        seed = (uint64_t)uv_hrtime() ^ (uint64_t)(uintptr_t)e;
    for (int i = 0; i < 4; i++) e->rng[i] = splitmix(&seed);
    *out = e;
    return 0;
}

static void engine_maybe_done(mae_engine *e) {
    if (!e->closing || e->pending_closes > 0) return;
    mae__api_svcs_closed(e);
}

static void svc_closed(uv_handle_t *h) {
    mae_svc_state *s = h->data;
    mae_engine *e = s->eng;
    mae__typed_desc_unref(s->reflected);
    mae__typed_desc_unref(s->cfg.typed);
    mae__arena_free(&s->arena);
    free(s);
    e->pending_closes--;
    engine_maybe_done(e);
}

/* Step 2 of mae_engine_close (loop/api.c): every run is over and freed. */
void mae__engine_close_svcs(mae_engine *e) {
    mae_svc_state *s = e->svcs;
    e->svcs = NULL;
    if (!s) {
        /* nothing to close: finish now; the contract allows completion inside this call */
        engine_maybe_done(e);
        return;
    }
    while (s) {
        mae_svc_state *n = s->next;
        e->pending_closes++;
        s->closing = true;
        /* an active probe in flight: its callback closes the timer */
        if (s->probe_call) mae_transport_cancel(s->tr, s->probe_call);
        else uv_close((uv_handle_t *)&s->brk_timer, svc_closed);
        s = n;
    }
}

static void probe_cb(mae_call_result *res, void *ud) {
    mae_svc_state *s = ud;
    s->probe_call = NULL;
    cJSON_Delete(res->output);
    res->output = NULL;
    if (s->closing) {
        uv_close((uv_handle_t *)&s->brk_timer, svc_closed);
        return;
    }
    mae_brk_outcome o;
    if (res->cls == MAE_CLASS_NONE) o = MAE_BRK_SUCCESS;
    else if (res->cls == MAE_CLASS_CANCELLED) o = MAE_BRK_IGNORE;
    else o = mae__retry_is_retryable(&s->retry, res->cls, res->status) ? MAE_BRK_FAILURE : MAE_BRK_PERMANENT;
    mae__elog(s->eng, MAE_LOG_INFO, "service %s: probe %s", s->cfg.name, o == MAE_BRK_SUCCESS ? "succeeded" : "failed");
    /* a cancelled probe proves nothing, and its slot must not be given to a regular call */
    if (o == MAE_BRK_IGNORE) o = MAE_BRK_FAILURE;
    mae__svc_breaker_record(s, s->probe_gen, o);
}

/* The active probe of a half-open breaker, a target compiled by the service's type. It takes
 * every half-open slot, so regular calls keep failing fast until it has answered. */
static void send_probe(mae_svc_state *s) {
    if (!s->tr) s->tr = mae__transport_for(s->eng, s->cfg.type);
    if (!s->tr || !s->probe || s->probe_call) return;
    mae_svc_cfg cfg = s->cfg;
    if (s->reflected) cfg.typed = s->reflected;
    mae_call_req req = {
        .service = &cfg,
        .target = s->probe,
        .timeout_ms = s->cfg.timeout_ms ? s->cfg.timeout_ms : 30000,
        .run_id = "probe",
        .step_id = "probe",
    };
    s->brk.probes_used = s->brk.cfg.half_open_probes;
    s->probe_gen = s->brk.gen;
    if (mae_transport_start(s->tr, &req, probe_cb, s, &s->probe_call) != 0) {
        s->probe_call = NULL;
        mae__svc_breaker_record(s, s->probe_gen, MAE_BRK_FAILURE);
    }
}

static void brk_timer_cb(uv_timer_t *t) {
    mae_svc_state *s = t->data;
    mae__breaker_timer(&s->brk);
    mae__elog(s->eng, MAE_LOG_INFO, "service %s: circuit breaker half-open", s->cfg.name);
    if (s->probe) send_probe(s);
    mae__svc_brk_wake(s);
}

static const char *nz(const char *s) { return s ? s : ""; }

static bool same_service(const mae_svc_state *s, const mae_service *svc) {
    return strcmp(s->cfg.type, svc->type->name) == 0 && strcmp(s->cfg.endpoint, nz(svc->endpoint)) == 0 &&
           strcmp(s->cfg.name, nz(svc->name)) == 0;
}

static const char *keep(mae_svc_state *s, const char *str, bool *oom) {
    if (!str) return NULL;
    char *c = mae__arena_strdup(&s->arena, str);
    if (!c) *oom = true;
    return c;
}

void mae__svc_view(const mae_service *svc, mae_svc_cfg *out) {
    *out = (mae_svc_cfg){
        .type = svc->type->name,
        .name = nz(svc->name),
        .endpoint = nz(svc->endpoint),
        .timeout_ms = svc->timeout_ms,
        .pool_connections = svc->pool_connections,
        .max_response = svc->max_response,
        .tls = {
            .ca_file = svc->tls.ca_file,
            .cert_file = svc->tls.cert_file,
            .key_file = svc->tls.key_file,
            .server_name = svc->tls.server_name,
            .insecure_skip_verify = svc->tls.insecure_skip_verify,
            .enabled = svc->tls.set,
        },
        .compression = svc->compression,
        .keepalive_ms = svc->keepalive_ms,
        .keepalive_timeout_ms = svc->keepalive_timeout_ms,
        .typed = svc->typed,   /* a descriptor set; reflection: the caller adds the engine's */
    };
}

/* Copies every setting the state uses out of the workflow. False when out of memory. */
static bool svc_copy(mae_svc_state *s, const mae_service *svc) {
    bool oom = false;
    mae__svc_view(svc, &s->cfg);
    s->cfg.type = keep(s, s->cfg.type, &oom);
    s->cfg.name = keep(s, s->cfg.name, &oom);
    s->cfg.endpoint = keep(s, s->cfg.endpoint, &oom);
    s->cfg.tls.ca_file = keep(s, s->cfg.tls.ca_file, &oom);
    s->cfg.tls.cert_file = keep(s, s->cfg.tls.cert_file, &oom);
    s->cfg.tls.key_file = keep(s, s->cfg.tls.key_file, &oom);
    s->cfg.tls.server_name = keep(s, s->cfg.tls.server_name, &oom);
    s->cfg.compression = keep(s, s->cfg.compression, &oom);
    /* the probe of a typed service calls a typed method: our own reference on the set */
    s->cfg.typed = mae__typed_desc_ref(svc->typed);
    s->retry = svc->retry;
    if (svc->retry.on) {
        const char **on = mae__arena_alloc(&s->arena, (svc->retry.n_on ? svc->retry.n_on : 1) * sizeof *on);
        if (!on) return false;
        for (size_t i = 0; i < svc->retry.n_on; i++) on[i] = keep(s, svc->retry.on[i], &oom);
        s->retry.on = on;
    }
    s->max_in_flight = svc->max_in_flight;
    mae_breaker_cfg bc = svc->breaker;
    bc.probe = keep(s, svc->breaker.probe, &oom);
    if (oom) return false;
    if (bc.probe) {
        /* Checked when the workflow was loaded; compiled again into our own arena. */
        mae_target *t = NULL;
        mae_target_err err;
        int rc = svc->type->compile(&s->arena, bc.probe, MAE_TARGET_PROBE, &t, &err);
        if (rc == MAE_ENOMEM) return false;
        s->probe = rc == 0 ? t : NULL;
    }
    mae__breaker_init(&s->brk, &bc);
    return true;
}

mae_svc_state *mae__svc(mae_engine *e, const mae_service *svc) {
    for (mae_svc_state *s = e->svcs; s; s = s->next)
        if (same_service(s, svc)) return s;
    mae_svc_state *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->eng = e;
    mae__arena_init(&s->arena, 0);
    if (!svc_copy(s, svc) || uv_timer_init(e->loop, &s->brk_timer) != 0) {
        mae__typed_desc_unref(s->cfg.typed);
        mae__arena_free(&s->arena);
        free(s);
        return NULL;
    }
    s->brk_timer.data = s;
    /* the breaker timer alone must not keep a loop alive */
    uv_unref((uv_handle_t *)&s->brk_timer);
    if (s->cfg.tls.insecure_skip_verify)
        mae__elog(e, MAE_LOG_WARN, "service %s: tls.insecure_skip_verify: the server's certificate "
                  "is not checked (tests only)", s->cfg.name);
    s->next = e->svcs;
    e->svcs = s;
    return s;
}

void mae__svc_breaker_record(mae_svc_state *s, uint64_t gen, mae_brk_outcome o) {
    mae_brk_state before = s->brk.state;
    if (mae__breaker_record(&s->brk, gen, o) == MAE_BRK_START_TIMER) {
        uv_timer_start(&s->brk_timer, brk_timer_cb, s->brk.cfg.open_for_ms, 0);
        mae__elog(s->eng, MAE_LOG_WARN, "service %s: circuit breaker open for %llums", s->cfg.name,
                  (unsigned long long)s->brk.cfg.open_for_ms);
    } else if (before != s->brk.state) {
        mae__elog(s->eng, MAE_LOG_INFO, "service %s: circuit breaker %s", s->cfg.name,
                  mae__breaker_state_name(s->brk.state));
    }
    /* closed again, or a trial slot given back: waiting compensations ask again */
    if (s->brk.state != MAE_BRK_OPEN && s->w_head) mae__svc_brk_wake(s);
}

/* The embedder's transport for this service type, else the engine's own (loop/api.c). */
mae_transport *mae__transport_for(mae_engine *e, const char *type) {
    for (size_t i = 0; type && i < e->n_tr; i++)
        if (strcmp(e->tr_type[i], type) == 0) return e->tr[i];
    return mae__api_transport(e, type);
}

mae_vars *mae__vars_new(mae_vars *parent) {
    mae_vars *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    v->obj = cJSON_CreateObject();
    if (!v->obj) {
        free(v);
        return NULL;
    }
    v->refs = 1;
    v->parent = parent;
    if (parent) mae__vars_ref(parent);
    v->scope.vars = v->obj;
    v->scope.parent = parent ? &parent->scope : NULL;
    return v;
}

/* A foreach item's scope in one allocation: its object and its index are not cJSON allocations
 * of their own, and the two keys are the step's strings (issue #15: four allocations and their
 * frees per item). Nothing may free obj or idx but vars_free: mae__vars_set moves idx out. */
typedef struct {
    mae_vars v;
    cJSON obj;
    cJSON idx;
} item_vars;

mae_vars *mae__vars_new_item(mae_vars *parent, const char *as, const char *as_index, cJSON *item, int index) {
    item_vars *iv = calloc(1, sizeof *iv);
    if (!iv) {
        cJSON_Delete(item);
        return NULL;
    }
    mae_vars *v = &iv->v;
    v->refs = 1;
    v->item = true;
    v->obj = &iv->obj;
    iv->obj.type = cJSON_Object;
    iv->idx.type = cJSON_Number;
    iv->idx.valueint = index;
    iv->idx.valuedouble = index;
    if (item && !(as && cJSON_AddItemToObjectCS(v->obj, as, item))) cJSON_Delete(item);
    if (as_index) cJSON_AddItemToObjectCS(v->obj, as_index, &iv->idx);
    v->parent = parent;
    if (parent) mae__vars_ref(parent);
    v->scope.vars = v->obj;
    v->scope.parent = parent ? &parent->scope : NULL;
    return v;
}

void mae__vars_set(mae_vars *v, const char *name, cJSON *val) {
    if (!val) val = cJSON_CreateNull();
    if (!val) return;
    cJSON *old = cJSON_GetObjectItemCaseSensitive(v->obj, name);
    if (old && v->item && old == &((item_vars *)v)->idx) {
        /* an output named like the index: it takes the index's place, which is not freed */
        cJSON_DetachItemViaPointer(v->obj, old);
        old = NULL;
    }
    if (old) cJSON_ReplaceItemInObjectCaseSensitive(v->obj, name, val);
    else cJSON_AddItemToObject(v->obj, name, val);
}

void mae__vars_ref(mae_vars *v) { v->refs++; }

static void vars_free(mae_vars *v) {
    if (!v->item) {
        cJSON_Delete(v->obj);
        free(v);
        return;
    }
    item_vars *iv = (item_vars *)v;
    for (cJSON *c = iv->obj.child, *next; c; c = next) {
        next = c->next;
        if (c == &iv->idx) continue;
        c->next = NULL;
        cJSON_Delete(c);
    }
    free(iv);
}

void mae__vars_unref(mae_vars *v) {
    while (v && --v->refs == 0) {
        mae_vars *p = v->parent;
        vars_free(v);
        v = p;
    }
}

const char *mae_run_status_name(mae_run_status s) {
    switch (s) {
    case MAE_RUN_SUCCEEDED: return "succeeded";
    case MAE_RUN_FAILED: return "failed";
    case MAE_RUN_COMPENSATION_FAILED: return "compensation_failed";
    case MAE_RUN_INTERRUPTED: return "interrupted";
    }
    return "?";
}
