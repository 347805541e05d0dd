/* The MAESTRO_SCRIPT wiring of the CLI's test build (see cli_script.h). */
/* Same struct layout as the CLI objects of the test build, which are compiled with this. */
#define MAE_TEST_BUILD 1
#include "tests/support/cli_script.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "maestro/maestro.h"
#include "tests/support/scripted.h"

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
    size_t cap = 1 << 20;   /* a rules file is small; a bigger one is cut and fails to parse */
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return MAE_ENOMEM;
    }
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = 0;
    cJSON *rules = cJSON_Parse(buf);
    free(buf);
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
    t->test_script = rules;
    t->http = tr;
    t->grpc = tr;
    return 0;
}

int mae__test_script_open(uv_loop_t *loop, mae_cli_transports *t) {
    const char *script = getenv("MAESTRO_SCRIPT");
    if (!script || !*script) return 1;
    return open_scripted(loop, t, script);
}

void mae__test_script_release(mae_cli_transports *t) {
    cJSON_Delete(t->test_script);
    t->test_script = NULL;
}
