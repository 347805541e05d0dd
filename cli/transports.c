/* Wiring of the transports for the CLI (see transports.h). The scripted rules file read under
 * MAESTRO_SCRIPT is a JSON array of objects:
 *   {"method": "Charge", "service": "pay", "match_input": "...", "latency_ms": 5,
 *    "fail_times": 2 (-1 = always), "fail_class": "http_5xx|http_4xx|grpc|connect|timeout|
 *    app_error|decode", "status": 503, "message": "...", "retry_after_ms": 100, "hang": true,
 *    "output": {...}}
 * Calls no rule matches answer with their own input.
 * It is read once at start-up, before the loop runs. */
#include "cli/transports.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maestro/maestro.h"
#include "grpc_h2/grpc_transport.h"
#include "transports/http.h"
#include "transports/scripted.h"

static mae_class class_of(const char *s) {
    static const struct { const char *n; mae_class c; } t[] = {
        {"connect", MAE_CLASS_CONNECT}, {"timeout", MAE_CLASS_TIMEOUT}, {"http_4xx", MAE_CLASS_HTTP_4XX},
        {"http_5xx", MAE_CLASS_HTTP_5XX}, {"grpc", MAE_CLASS_GRPC}, {"app_error", MAE_CLASS_APP_ERROR},
        {"decode", MAE_CLASS_DECODE},
    };
    for (size_t i = 0; s && i < sizeof t / sizeof *t; i++)
        if (!strcmp(t[i].n, s)) return t[i].c;
    return MAE_CLASS_HTTP_5XX;
}

static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double jnum(const cJSON *o, const char *k, double def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

/* A number clamped into [lo, hi] before the cast: casting an out-of-range double is undefined. */
static double jclamp(const cJSON *o, const char *k, double def, double lo, double hi) {
    double v = jnum(o, k, def);
    if (!(v >= lo)) return lo;   /* also NaN */
    return v > hi ? hi : v;
}

static int open_scripted(uv_loop_t *loop, mae_cli_transports *t, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "maestro: MAESTRO_SCRIPT: cannot open %s\n", path);
        return MAE_EIO;
    }
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    cJSON *rules = cJSON_Parse(buf);
    if (!cJSON_IsArray(rules)) {
        cJSON_Delete(rules);
        fprintf(stderr, "maestro: MAESTRO_SCRIPT: %s is not a JSON array of rules\n", path);
        return MAE_EPARSE;
    }
    mae_transport *tr;
    int rc = mae_scripted_new(loop, &tr);
    if (rc != 0) {
        cJSON_Delete(rules);
        return rc;
    }
    const cJSON *r;
    cJSON_ArrayForEach(r, rules) {
        mae_script_rule *sr = mae_scripted_rule(tr, jstr(r, "service"), jstr(r, "method"));
        if (!sr) break;
        if (jstr(r, "match_input")) sr->match_input = strdup(jstr(r, "match_input"));
        sr->latency_ms = (uint64_t)jclamp(r, "latency_ms", 0, 0, 86400000.0);
        sr->fail_times = (int)jclamp(r, "fail_times", 0, -1, 1e9);
        sr->fail_cls = class_of(jstr(r, "fail_class"));
        sr->fail_status = (int)jclamp(r, "status", 503, 0, 1e6);
        sr->fail_message = jstr(r, "message");   /* rules stay alive until close */
        sr->retry_after_ms = (int64_t)jclamp(r, "retry_after_ms", -1, -1, 1e12);
        sr->hang = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "hang"));
        const cJSON *out = cJSON_GetObjectItemCaseSensitive(r, "output");
        if (out) sr->output = cJSON_Duplicate(out, 1);
    }
    /* anything not scripted answers with its own input */
    if (!mae_scripted_rule(tr, NULL, NULL)) fprintf(stderr, "maestro: MAESTRO_SCRIPT: out of memory\n");
    t->script = rules;
    t->http = tr;
    t->grpc = tr;
    return 0;
}

int mae_cli_transports_open(uv_loop_t *loop, mae_cli_transports *t) {
    memset(t, 0, sizeof *t);
    const char *script = getenv("MAESTRO_SCRIPT");
    if (script && *script) return open_scripted(loop, t, script);
    int rc = mae_http_transport_new(loop, &t->http);
    if (rc != 0) {
        fprintf(stderr, "maestro: cannot start the HTTP transport: %s\n", mae_strerror(rc));
        return rc;
    }
    rc = mae_grpc_transport_new(loop, &t->grpc);
    if (rc != 0) {
        fprintf(stderr, "maestro: cannot start the gRPC transport: %s\n", mae_strerror(rc));
        t->http->vt->close(t->http, NULL, NULL);   /* freed during the caller's uv_run */
        t->http = NULL;
        return rc;
    }
    return 0;
}

static void one_closed(void *ud) {
    mae_cli_transports *t = ud;
    if (--t->closing != 0) return;
    cJSON_Delete(t->script);
    t->script = NULL;
    if (t->done) t->done(t->ud);
}

void mae_cli_transports_close(mae_cli_transports *t, void (*done)(void *ud), void *ud) {
    t->done = done;
    t->ud = ud;
    t->closing = 1;   /* held until both are asked, so done cannot run early */
    mae_transport *list[2] = {t->http, t->grpc == t->http ? NULL : t->grpc};
    for (int i = 0; i < 2; i++) {
        if (!list[i]) continue;
        t->closing++;
        list[i]->vt->close(list[i], one_closed, t);
    }
    t->http = t->grpc = NULL;
    one_closed(t);
}
