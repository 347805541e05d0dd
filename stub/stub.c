/* The stub runtime: one h1 server per HTTP service (and one gRPC server per gRPC service, see
 * stub_grpc.c), a route table per service, replies rendered from template trees. A delayed
 * reply owns a small record with a uv_timer; if the client leaves first the record is marked
 * dead and freed in the timer's close callback. Closing the stub closes those timers too. */
#include "stub/stub.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stub/stub_internal.h"
#include "stub/stub_typed.h"
#include "maestro/maestro.h"
#include "transports/wire.h"

/* ---- pure helpers -------------------------------------------------------------------- */

/* The one percent codec (transports/wire.h). */
char *mae__stub_pct_decode(const char *s, size_t len, bool plus_is_space) {
    return mae__pct_decode(s, len, plus_is_space, NULL);
}

bool mae__stub_route_match(const mae_stub_route *r, const char *verb, const char *path, cJSON *params) {
    if (!r->verb || strcmp(r->verb, verb) != 0) return false;
    const char *p = r->path, *q = path;
    while (*p && *q) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            if (!close) return false;
            const char *seg_end = strchr(q, '/');
            if (!seg_end) seg_end = q + strlen(q);
            if (seg_end == q) return false;
            if (params) {
                char name[128];
                size_t nl = (size_t)(close - p - 1);
                if (nl >= sizeof name) nl = sizeof name - 1;
                memcpy(name, p + 1, nl);
                name[nl] = 0;
                char *val = mae__stub_pct_decode(q, (size_t)(seg_end - q), false);
                if (val) {
                    cJSON_DeleteItemFromObjectCaseSensitive(params, name);
                    cJSON_AddStringToObject(params, name, val);
                    free(val);
                }
            }
            p = close + 1;
            q = seg_end;
            continue;
        }
        if (*p != *q) return false;
        p++;
        q++;
    }
    return *p == 0 && *q == 0;
}

/* Query parameters become string fields of .request (a later body field wins). */
static void add_query(cJSON *req, const char *query) {
    const char *s = query;
    while (s && *s) {
        const char *amp = strchr(s, '&');
        size_t len = amp ? (size_t)(amp - s) : strlen(s);
        const char *eq = memchr(s, '=', len);
        size_t kl = eq ? (size_t)(eq - s) : len;
        char *k = mae__stub_pct_decode(s, kl, true);
        char *v = eq ? mae__stub_pct_decode(eq + 1, len - kl - 1, true) : strdup("");
        if (k && v && *k) {
            /* A value that is JSON (the engine sends non-scalars as JSON) keeps its type. */
            cJSON *parsed = cJSON_Parse(v);
            cJSON_DeleteItemFromObjectCaseSensitive(req, k);
            if (parsed && (cJSON_IsObject(parsed) || cJSON_IsArray(parsed)))
                cJSON_AddItemToObject(req, k, parsed);
            else {
                cJSON_Delete(parsed);
                cJSON_AddStringToObject(req, k, v);
            }
        }
        free(k);
        free(v);
        s = amp ? amp + 1 : NULL;
    }
}

/* ---- calls ----------------------------------------------------------------------------- */

void mae__stub_log(mae_stub *s, const char *service, const char *kind, const char *method,
                   unsigned long n, const cJSON *request, int status, const char *key) {
    if (!s->log) return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "ts_ms", (double)ts.tv_sec * 1000.0 + (double)(ts.tv_nsec / 1000000));
    cJSON_AddStringToObject(o, "service", service);
    cJSON_AddStringToObject(o, "kind", kind);
    cJSON_AddStringToObject(o, "method", method);
    cJSON_AddNumberToObject(o, "n", (double)n);
    cJSON_AddNumberToObject(o, "status", status);
    if (key) cJSON_AddStringToObject(o, "idempotency_key", key);
    cJSON_AddItemToObject(o, "request", request ? cJSON_Duplicate(request, 1) : cJSON_CreateNull());
    char *line = mae__json_text(o);
    if (line) {
        fputs(line, s->log);
        fputc('\n', s->log);
        fflush(s->log);
        free(line);
    }
    cJSON_Delete(o);
}

/* Renders a route's reply. Returns a new cJSON or NULL with msg filled. */
cJSON *mae__stub_render(const mae_stub_route *r, const cJSON *request, unsigned long n, char *msg, size_t mlen) {
    if (!r->b.respond) return cJSON_CreateObject();
    cJSON *vars = cJSON_CreateObject();
    cJSON_AddItemToObject(vars, "request", cJSON_Duplicate(request, 1));
    cJSON_AddNumberToObject(vars, "n", (double)n);
    mae_scope scope = {vars, NULL};
    cJSON *out = NULL;
    mae_eval_err err = {{0}};
    if (mae__tval_render(r->b.respond, &scope, &out, &err) != 0) {
        snprintf(msg, mlen, "stub reply template failed: %s", err.msg);
        out = NULL;
    }
    cJSON_Delete(vars);
    return out;
}

bool mae__stub_should_fail(const mae_stub_route *r) {
    return r->b.fail && (r->b.fail_times == 0 || r->calls <= (unsigned long)r->b.fail_times);
}

/* ---- delayed replies -------------------------------------------------------------------- */

static void part_closed(void *ud);

static void delay_unlink(mae_stub_delay *d) {
    mae_stub *s = d->stub;
    if (d->prev) d->prev->next = d->next; else s->delays = d->next;
    if (d->next) d->next->prev = d->prev;
    d->next = d->prev = NULL;
}

void mae__stub_delay_start(mae_stub *s, mae_stub_delay *d, void *data, uv_timer_cb fire,
                           uv_close_cb closed, uint64_t ms) {
    d->stub = s;
    d->closed = closed;
    d->prev = NULL;
    d->next = s->delays;
    if (s->delays) s->delays->prev = d;
    s->delays = d;
    uv_timer_init(s->loop, &d->timer);
    d->timer.data = data;
    uv_timer_start(&d->timer, fire, ms, 0);
}

void mae__stub_delay_close(mae_stub_delay *d) {
    delay_unlink(d);
    uv_close((uv_handle_t *)&d->timer, d->closed);
}

void mae__stub_delay_closed(const mae_stub_delay *d) {
    if (d->held) part_closed(d->stub);
}

typedef struct http_pending {
    mae_stub_delay d;
    mae_h1_exchange *x;       /* NULL once the client left */
    int status;
    char *body;
    size_t len;
    mae_header_kv hdr[1];
    size_t n_hdr;
    char retry_after[24];
} http_pending;

static void pending_closed(uv_handle_t *h) {
    http_pending *p = h->data;
    mae_stub_delay d = p->d;
    free(p->body);
    free(p);
    mae__stub_delay_closed(&d);
}

static void pending_fire(uv_timer_t *t) {
    http_pending *p = t->data;
    if (p->x) {
        mae__h1_exchange_set_data(p->x, NULL);
        mae__h1_respond(p->x, p->status, NULL, p->hdr, p->n_hdr, p->body, p->len);
    }
    p->x = NULL;
    mae__stub_delay_close(&p->d);
}

static void http_abort(mae_h1_exchange *x, void *ud) {
    http_pending *p = mae__h1_exchange_data(x);
    if (p) p->x = NULL;   /* the timer still fires and frees the record */
}

static void http_reply(mae_stub_http *hs, mae_h1_exchange *x, int status, cJSON *body_json,
                       int64_t retry_after_s, uint64_t delay_ms) {
    char *body = body_json ? mae__json_text(body_json) : strdup("{}");
    size_t len = body ? strlen(body) : 0;
    mae_header_kv hdr[1];
    size_t n_hdr = 0;
    char ra[24];
    if (retry_after_s >= 0) {
        snprintf(ra, sizeof ra, "%lld", (long long)retry_after_s);
        hdr[n_hdr++] = (mae_header_kv){"Retry-After", ra};
    }
    if (delay_ms == 0) {
        mae__h1_respond(x, status, NULL, hdr, n_hdr, body, len);
        free(body);
        return;
    }
    http_pending *p = calloc(1, sizeof *p);
    if (!p) {
        free(body);
        mae__h1_drop(x);
        return;
    }
    p->x = x;
    p->status = status;
    p->body = body;
    p->len = len;
    p->n_hdr = n_hdr;
    if (n_hdr) {
        memcpy(p->retry_after, ra, sizeof ra);
        p->hdr[0] = (mae_header_kv){"Retry-After", p->retry_after};
    }
    mae__h1_exchange_set_data(x, p);
    mae__stub_delay_start(hs->stub, &p->d, p, pending_fire, pending_closed, delay_ms);
}

static const char *header(const mae_h1_request *r, const char *name) {
    for (size_t i = 0; i < r->n_headers; i++)
        if (strcasecmp(r->headers[i].name, name) == 0) return r->headers[i].value;
    return NULL;
}

static void http_request(mae_h1_exchange *x, const mae_h1_request *r, void *ud) {
    mae_stub_http *hs = ud;
    mae_stub_service *svc = hs->svc;
    cJSON *req = NULL;
    if (r->body_len) {
        req = cJSON_ParseWithLength(r->body, r->body_len);
        if (req && !cJSON_IsObject(req)) {  /* a non-object body is .request.body */
            cJSON *w = cJSON_CreateObject();
            cJSON_AddItemToObject(w, "body", req);
            req = w;
        }
    }
    if (!req) req = cJSON_CreateObject();
    add_query(req, r->query);
    mae_stub_route *route = NULL;
    for (size_t i = 0; i < svc->n_routes && !route; i++)
        if (mae__stub_route_match(&svc->routes[i], r->method, r->path, req)) route = &svc->routes[i];
    char method[512];
    snprintf(method, sizeof method, "%s %s", r->method, r->path);
    if (!route) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "error", "no such route");
        cJSON_AddStringToObject(e, "route", method);
        mae__stub_log(hs->stub, svc->name, "http", method, 0, req, 404, header(r, "Idempotency-Key"));
        http_reply(hs, x, 404, e, -1, 0);
        cJSON_Delete(e);
        cJSON_Delete(req);
        return;
    }
    route->calls++;
    const mae_stub_behavior *b = &route->b;
    if (b->hang) {
        mae__stub_log(hs->stub, svc->name, "http", route->key, route->calls, req, 0, header(r, "Idempotency-Key"));
        cJSON_Delete(req);
        return;   /* never answered; the exchange is freed when the client leaves */
    }
    if (mae__stub_should_fail(route)) {
        int st = b->fail_http ? b->fail_http : 500;
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "error", b->fail_message ? b->fail_message : "injected failure");
        mae__stub_log(hs->stub, svc->name, "http", route->key, route->calls, req, st, header(r, "Idempotency-Key"));
        http_reply(hs, x, st, e, b->retry_after_s, b->delay_ms);
        cJSON_Delete(e);
        cJSON_Delete(req);
        return;
    }
    char msg[600];
    cJSON *out = mae__stub_render(route, req, route->calls, msg, sizeof msg);
    int st = out ? (b->status ? b->status : 200) : 500;
    if (!out) {
        out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "error", msg);
    }
    mae__stub_log(hs->stub, svc->name, "http", route->key, route->calls, req, st, header(r, "Idempotency-Key"));
    http_reply(hs, x, st, out, -1, b->delay_ms);
    cJSON_Delete(out);
    cJSON_Delete(req);
}

/* ---- lifecycle ------------------------------------------------------------------------- */

static void part_closed(void *ud) {
    mae_stub *s = ud;
    if (--s->open_parts == 0) {
        void (*done)(void *) = s->done;
        void *dud = s->done_ud;
        free(s->http);
        free(s);
        if (done) done(dud);
    }
}

int mae__stub_start(uv_loop_t *loop, mae_stub_file *f, FILE *log, mae_stub **out, char *errbuf,
                   size_t errlen) {
    mae_stub *s = calloc(1, sizeof *s);
    if (!s) return MAE_ENOMEM;
    s->loop = loop;
    s->log = log;
    s->file = f;
    s->http = calloc(f->n_services ? f->n_services : 1, sizeof *s->http);
    if (!s->http) {
        free(s);
        return MAE_ENOMEM;
    }
    int rc = 0;
    for (size_t i = 0; i < f->n_services && rc == 0; i++) {
        mae_stub_service *svc = &f->services[i];
        mae_stub_http *hs = &s->http[i];
        hs->stub = s;
        hs->svc = svc;
        if (svc->type == MAE_SVC_HTTP) {
            mae_h1_handler h = {http_request, http_abort, hs};
            rc = mae__h1_server_new(loop, svc->host, svc->port, &h, &hs->h1);
        } else if (svc->descriptors && (rc = mae__stub_typed_load(hs, errbuf, errlen)) < 0) {
            break;  /* errbuf says what is wrong with the descriptors */
        } else {
            rc = mae__stub_grpc_start(s, hs);
        }
        if (rc < 0) {
            snprintf(errbuf, errlen, "service '%s': cannot listen on %s:%d: %s", svc->name, svc->host,
                     svc->port, rc == MAE_EEXISTS ? "address already in use" : mae_strerror(rc));
        } else {
            s->open_parts++;
        }
    }
    if (rc < 0) {
        mae__stub_close(s, NULL, NULL);
        return rc;
    }
    for (size_t i = 0; i < f->n_services; i++)
        if (s->http[i].typed) mae__stub_typed_serve(&s->http[i]);  /* reflection, before any accept */
    *out = s;
    return 0;
}

int mae__stub_port(const mae_stub *s, const char *service) {
    for (size_t i = 0; i < s->file->n_services; i++) {
        if (strcmp(s->file->services[i].name, service) != 0) continue;
        if (s->http[i].h1) return mae__h1_server_port(s->http[i].h1);
        return mae__stub_grpc_port(&s->http[i]);
    }
    return -1;
}

void mae__stub_close(mae_stub *s, void (*done)(void *ud), void *ud) {
    s->done = done;
    s->done_ud = ud;
    /* One extra part held while closing, so done cannot run before every part was asked. */
    s->open_parts++;
    for (size_t i = 0; i < s->file->n_services; i++) {
        mae_stub_http *hs = &s->http[i];
        if (hs->h1) {
            mae__h1_server_close(hs->h1, part_closed, s);
            hs->h1 = NULL;
        } else if (hs->grpc) {
            mae__stub_grpc_close(hs, part_closed, s);
        }
        mae__stub_typed_free(hs->typed);  /* its server aborted every call: no one uses it */
        hs->typed = NULL;
    }
    /* The servers aborted every exchange: delayed replies have no one left to answer. */
    while (s->delays) {
        mae_stub_delay *d = s->delays;
        d->held = true;
        s->open_parts++;
        mae__stub_delay_close(d);
    }
    part_closed(s);
}
