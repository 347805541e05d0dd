/* services: (docs/workflow-language.md#services) → mae_service with every default filled in; retry
 * policies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maestro/maestro.h"
#include "transports/transport.h"
#include "transports/wire.h"
#include "grpc_h2/grpc_typed.h"
#include "workflow/load_int.h"

static const char *const service_keys[] = {"type", "endpoint", "timeout", "retry", "circuit_breaker",
    "pool", "max_in_flight", "headers", "max_response", "tls", "descriptors", NULL};
static const char *const retry_keys[] = {"attempts", "backoff", "initial", "max", "multiplier", "jitter",
    "on", NULL};
static const char *const breaker_keys[] = {"failures", "open_for", "half_open_probes", "probe", NULL};
static const char *const pool_keys[] = {"connections", NULL};
static const char *const tls_keys[] = {"ca_file", "cert_file", "key_file", "insecure_skip_verify", NULL};

void mae__retry_default(mae_retry_policy *p) {
    memset(p, 0, sizeof *p);
    p->attempts = 3;
    p->backoff = MAE_BACKOFF_EXPONENTIAL;
    p->initial_ms = 200;
    p->max_ms = 10000;
    p->multiplier = 2;
    p->jitter = true;
}

/* Applies the keys present in n over *p (which holds the defaults to inherit). */
void mae__ld_retry(mae_loader *ld, const mae_ynode *n, mae_retry_policy *p) {
    if (!mae__ld_keys(ld, n, "retry", retry_keys)) return;
    const mae_ynode *v;
    if ((v = mae__yaml_get(n, "attempts"))) mae__ld_int(ld, v, "attempts", 1, 100, &p->attempts);
    if ((v = mae__yaml_get(n, "backoff"))) {
        const char *s;
        if (mae__ld_str(ld, v, "backoff", &s)) {
            if (!strcmp(s, "constant")) p->backoff = MAE_BACKOFF_CONSTANT;
            else if (!strcmp(s, "linear")) p->backoff = MAE_BACKOFF_LINEAR;
            else if (!strcmp(s, "exponential")) p->backoff = MAE_BACKOFF_EXPONENTIAL;
            else {
                static const char *const kinds[] = {"constant", "linear", "exponential"};
                const char *hint = mae__ld_suggest(s, kinds, 3);
                if (hint) mae__ld_err(ld, v->pos, "invalid backoff '%s' (did you mean '%s'?)", s, hint);
                else mae__ld_err(ld, v->pos, "invalid backoff '%s' (expected constant, linear or exponential)", s);
            }
        }
    }
    if ((v = mae__yaml_get(n, "initial"))) mae__ld_duration(ld, v, "initial", false, &p->initial_ms);
    if ((v = mae__yaml_get(n, "max"))) mae__ld_duration(ld, v, "max", false, &p->max_ms);
    if ((v = mae__yaml_get(n, "multiplier"))) mae__ld_num(ld, v, "multiplier", 1, &p->multiplier);
    if ((v = mae__yaml_get(n, "jitter"))) {
        const char *s;
        if (mae__ld_str(ld, v, "jitter", &s)) {
            if (!strcmp(s, "full")) p->jitter = true;
            else if (!strcmp(s, "none")) p->jitter = false;
            else mae__ld_err(ld, v->pos, "invalid jitter '%s' (expected full or none)", s);
        }
    }
    if ((v = mae__yaml_get(n, "on"))) {
        if (v->kind != MAE_YN_SEQ) {
            mae__ld_err(ld, v->pos, "'on' must be a sequence, not %s", mae__yaml_kind_name(v));
            return;
        }
        p->on = mae__arena_alloc(ld->a, (v->n ? v->n : 1) * sizeof *p->on);
        if (!p->on) {
            ld->oom = true;
            return;
        }
        p->n_on = 0;
        for (size_t i = 0; i < v->n; i++) {
            const char *s;
            if (!mae__ld_str(ld, v->items[i], "on", &s)) continue;
            if (!mae__class_entry_valid(s)) {
                mae__ld_err(ld, v->items[i]->pos,
                            "invalid retry.on entry '%s' (expected a class name, http:NNN or grpc:CODE)", s);
                continue;
            }
            p->on[p->n_on++] = s;
        }
    }
}

/* The endpoint, as the service's type accepts it (no templates: it is fixed for every run).
 * Shared with mae_workflow_set_endpoint, so an override is held to what the file is. */
int mae__endpoint_check(const mae_target_type *type, const char *ep, char *err, size_t errlen) {
    if (mae__tmpl_has_expr(ep, strlen(ep))) {
        snprintf(err, errlen, "'endpoint' cannot hold templates (use --set service.NAME.endpoint=URL)");
        return MAE_EINVAL;
    }
    mae_target_err te;
    memset(&te, 0, sizeof te);
    if (type->check_endpoint(ep, &te) == 0) return 0;
    snprintf(err, errlen, "%s", te.msg);
    return MAE_EINVAL;
}

static void check_endpoint(mae_loader *ld, const mae_ynode *n, const mae_target_type *type, const char *ep) {
    char err[600];
    if (mae__endpoint_check(type, ep, err, sizeof err) != 0) mae__ld_err(ld, n->pos, "%s", err);
}

/* "http or grpc": the known types, for a message. */
static void type_names(char *buf, size_t len) {
    size_t n = 0, k = 0;
    while (mae__target_types[n]) n++;
    buf[0] = 0;
    for (size_t i = 0; i < n && k < len; i++) {
        const char *sep = i == 0 ? "" : i + 1 == n ? " or " : ", ";
        int w = snprintf(buf + k, len - k, "%s%s", sep, mae__target_types[i]->name);
        if (w < 0) break;
        k += (size_t)w;
    }
}

static void load_headers(mae_loader *ld, const mae_ynode *n, mae_service *s) {
    if (n->kind != MAE_YN_MAP) {
        mae__ld_err(ld, n->pos, "'headers' must be a mapping, not %s", mae__yaml_kind_name(n));
        return;
    }
    s->headers = mae__arena_alloc(ld->a, (n->n ? n->n : 1) * sizeof *s->headers);
    if (!s->headers) {
        ld->oom = true;
        return;
    }
    for (size_t i = 0; i < n->n; i++) {
        const mae_ynode *k = n->pairs[i].key, *v = n->pairs[i].val;
        if (!mae__header_name_ok(k->str)) {
            mae__ld_err(ld, k->pos, "invalid header name '%s'", k->str);
            continue;
        }
        const char *text;
        if (!mae__ld_str(ld, v, "header value", &text)) continue;
        if (!mae__header_value_ok(text)) {
            mae__ld_err(ld, v->pos, "header value of '%s' must not contain CR or LF", k->str);
            continue;
        }
        mae_tmpl *t = mae__ld_tmpl(ld, v, 0);
        if (!t) continue;
        s->headers[s->n_headers++] = (mae_header_tmpl){k->str, t, k->pos};
    }
}

/* descriptors: reflection, or a FileDescriptorSet path relative to the workflow file, loaded and
 * linked now so that validate checks every method and input against it. */
static void load_descriptors(mae_loader *ld, const mae_ynode *v, mae_service *s) {
    if (!mae__ld_str(ld, v, "descriptors", &s->descriptors)) return;
    if (s->type && strcmp(s->type->name, "grpc") != 0) {
        mae__ld_err(ld, v->pos, "'descriptors' is only for grpc services");
        return;
    }
    if (strcmp(s->descriptors, "reflection") == 0) {
        s->reflection = true;
        return;
    }
    if (!*s->descriptors) {
        mae__ld_err(ld, v->pos, "'descriptors' must be 'reflection' or the path of a descriptor set");
        return;
    }
    const char *file = ld->wf->file ? ld->wf->file : "";
    const char *slash = strrchr(file, '/');
    char *path;
    if (s->descriptors[0] == '/' || !slash) {
        path = strdup(s->descriptors);
    } else {
        size_t dl = (size_t)(slash - file) + 1, pl = strlen(s->descriptors);
        path = malloc(dl + pl + 1);
        if (path) {
            memcpy(path, file, dl);
            memcpy(path + dl, s->descriptors, pl + 1);
        }
    }
    if (!path) {
        ld->oom = true;
        return;
    }
    char err[600];
    int rc = mae__typed_desc_load(path, &s->typed, err, sizeof err);
    free(path);
    if (rc == MAE_ENOMEM) ld->oom = true;
    else if (rc < 0) mae__ld_err(ld, v->pos, "%s", err);
}

static void load_service(mae_loader *ld, const mae_ynode *key, const mae_ynode *n, mae_service *s) {
    s->pos = key->pos;
    s->timeout_ms = 30000;
    mae__retry_default(&s->retry);
    s->breaker = (mae_breaker_cfg){.failures = 5, .open_for_ms = 30000, .half_open_probes = 1};
    s->pool_connections = 5;
    if (!mae__ld_keys(ld, n, "service", service_keys)) return;
    const mae_ynode *v;
    if ((v = mae__yaml_get(n, "type"))) {
        const char *t;
        if (mae__ld_str(ld, v, "type", &t) && !(s->type = mae__target_type_find(t))) {
            char names[128];
            type_names(names, sizeof names);
            const char *known[16];
            size_t nk = 0;
            for (size_t k = 0; mae__target_types[k] && nk < 16; k++) known[nk++] = mae__target_types[k]->name;
            const char *hint = mae__ld_suggest(t, known, nk);
            if (hint) mae__ld_err(ld, v->pos, "invalid service type '%s' (did you mean '%s'?)", t, hint);
            else mae__ld_err(ld, v->pos, "invalid service type '%s' (expected %s)", t, names);
        }
    } else {
        mae__ld_err(ld, n->pos, "service '%s': missing required key 'type'", s->name);
    }
    s->max_response = s->type ? s->type->default_max_response : 16u << 20;
    if ((v = mae__yaml_get(n, "endpoint"))) {
        if (mae__ld_str(ld, v, "endpoint", &s->endpoint) && s->type) check_endpoint(ld, v, s->type, s->endpoint);
    } else {
        mae__ld_err(ld, n->pos, "service '%s': missing required key 'endpoint'", s->name);
    }
    if ((v = mae__yaml_get(n, "timeout"))) mae__ld_duration(ld, v, "timeout", true, &s->timeout_ms);
    if ((v = mae__yaml_get(n, "retry"))) mae__ld_retry(ld, v, &s->retry);
    if ((v = mae__yaml_get(n, "circuit_breaker")) && mae__ld_keys(ld, v, "circuit_breaker", breaker_keys)) {
        const mae_ynode *w;
        if ((w = mae__yaml_get(v, "failures"))) mae__ld_int(ld, w, "failures", 1, 1000000, &s->breaker.failures);
        if ((w = mae__yaml_get(v, "open_for"))) mae__ld_duration(ld, w, "open_for", true, &s->breaker.open_for_ms);
        if ((w = mae__yaml_get(v, "half_open_probes")))
            mae__ld_int(ld, w, "half_open_probes", 1, 1000, &s->breaker.half_open_probes);
        /* Checked here; the engine compiles its own copy (it outlives the workflow). */
        if ((w = mae__yaml_get(v, "probe")) && mae__ld_str(ld, w, "probe", &s->breaker.probe) && s->type)
            mae__ld_target(ld, w, s->type, MAE_TARGET_PROBE);
    }
    if ((v = mae__yaml_get(n, "pool")) && mae__ld_keys(ld, v, "pool", pool_keys)) {
        const mae_ynode *w = mae__yaml_get(v, "connections");
        if (w) mae__ld_int(ld, w, "connections", 1, 1000, &s->pool_connections);
    }
    if ((v = mae__yaml_get(n, "max_in_flight"))) mae__ld_int(ld, v, "max_in_flight", 0, 1000000, &s->max_in_flight);
    if ((v = mae__yaml_get(n, "headers"))) load_headers(ld, v, s);
    if ((v = mae__yaml_get(n, "max_response"))) mae__ld_size(ld, v, "max_response", &s->max_response);
    if ((v = mae__yaml_get(n, "descriptors"))) load_descriptors(ld, v, s);
    if ((v = mae__yaml_get(n, "tls")) && mae__ld_keys(ld, v, "tls", tls_keys)) {
        const mae_ynode *w;
        if ((w = mae__yaml_get(v, "ca_file"))) mae__ld_str(ld, w, "ca_file", &s->tls.ca_file);
        if ((w = mae__yaml_get(v, "cert_file"))) mae__ld_str(ld, w, "cert_file", &s->tls.cert_file);
        if ((w = mae__yaml_get(v, "key_file"))) mae__ld_str(ld, w, "key_file", &s->tls.key_file);
        if ((w = mae__yaml_get(v, "insecure_skip_verify")))
            mae__ld_bool(ld, w, "insecure_skip_verify", &s->tls.insecure_skip_verify);
    }
}

void mae__ld_services(mae_loader *ld, const mae_ynode *n) {
    if (n->kind != MAE_YN_MAP) {
        mae__ld_err(ld, n->pos, "'services' must be a mapping, not %s", mae__yaml_kind_name(n));
        return;
    }
    mae_workflow *wf = ld->wf;
    wf->services = mae__arena_alloc(ld->a, (n->n ? n->n : 1) * sizeof *wf->services);
    if (!wf->services) {
        ld->oom = true;
        return;
    }
    for (size_t i = 0; i < n->n; i++) {
        const mae_ynode *k = n->pairs[i].key;
        mae_service *s = &wf->services[wf->n_services];
        if (!mae__ld_name(ld, k, "service name", &s->name)) continue;
        wf->n_services++;
        load_service(ld, k, n->pairs[i].val, s);
    }
}
