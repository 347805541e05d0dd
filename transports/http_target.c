/* HTTP call targets (see http_target.h): parsing "VERB /path", the bare-name form, probes, the
 * endpoint check, and rendering a path with its substituted values percent-encoded. */
#include "transports/http_target.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maestro/maestro.h"
#include "transports/http.h"
#include "transports/wire.h"

typedef struct http_target {
    mae_target base;
    const char *verb;      /* static, upper case */
    mae_tmpl *path;        /* starts with '/' */
    size_t path_off;       /* byte of base.text where the path starts; 0 = synthesised */
} http_target;

static const char *const verbs[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", NULL};
static const char *const probe_verbs[] = {"GET", "HEAD", "POST", "OPTIONS", NULL};

static const char *find_verb(const char *s, size_t n, const char *const *list) {
    for (size_t i = 0; list[i]; i++)
        if (strlen(list[i]) == n && strncmp(list[i], s, n) == 0) return list[i];
    return NULL;
}

static bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
static bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

/* What is wrong with host[:port][/base] (after the scheme), NULL when nothing. */
static const char *endpoint_problem(const char *p) {
    size_t auth = strcspn(p, "/");
    if (memchr(p, '@', auth)) return "no user name or password allowed";
    if (strpbrk(p, "?#")) return "no query or fragment allowed";
    const char *h = p;
    if (*p == '[') {
        /* a bracketed IPv6 address: hex digits, ':' and '.' (an embedded IPv4) */
        for (p++; is_hex(*p) || *p == ':' || *p == '.'; p++) {}
        if (*p != ']' || p == h + 1 || !memchr(h, ':', (size_t)(p - h))) return "invalid IPv6 address";
        p++;
    } else {
        /* a name or an IPv4 address */
        while (is_alnum(*p) || *p == '-' || *p == '.' || *p == '_') p++;
        if (p == h) return *p == ':' || *p == '/' || !*p ? "no host" : "invalid character in the host";
    }
    if (*p == ':') {
        const char *d = ++p;
        unsigned long v = 0;
        while (*p >= '0' && *p <= '9' && p - d < 6) v = v * 10 + (unsigned long)(*p++ - '0');
        if (p == d || (*p && *p != '/') || v < 1 || v > 65535) return "the port must be a number from 1 to 65535";
    }
    if (*p && *p != '/') return "invalid character in the host";
    /* the base path: printable ASCII (the step's path is appended to it) */
    for (; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= ' ' || c >= 0x7f) return "blank, control or non-ASCII character in the base path";
    }
    return NULL;
}

/* http(s)://host[:port][/base]; no userinfo ('@' is not a host character), query or fragment.
 * The endpoint is quoted with its control and non-ASCII bytes escaped. */
static int http_check_endpoint(const char *ep, mae_target_err *err) {
    const char *rest = !strncmp(ep, "http://", 7) ? ep + 7 : !strncmp(ep, "https://", 8) ? ep + 8 : NULL;
    const char *why = rest ? endpoint_problem(rest) : "no http:// or https://";
    if (!why) return 0;
    char q[256];
    size_t n = 0;
    for (const unsigned char *c = (const unsigned char *)ep; *c && n + 5 < sizeof q; c++) {
        if (*c < ' ' || *c >= 0x7f) n += (size_t)snprintf(q + n, sizeof q - n, "\\x%02x", *c);
        else q[n++] = (char)*c;
    }
    q[n] = 0;
    snprintf(err->msg, sizeof err->msg, "invalid http endpoint '%s': %s (expected http(s)://host[:port][/base])", q,
             why);
    err->at_offset = false;
    return MAE_EINVAL;
}

static int fail(mae_target_err *err, const char *fmt, const char *text) {
    snprintf(err->msg, sizeof err->msg, fmt, text);
    err->at_offset = false;
    return MAE_EPARSE;
}

/* "VERB /path" (no blanks in the path outside {{ }}: "GET /a b" is a typo, not a path) or a bare
 * name (→ POST /api/<lowercase name>); a probe is "VERB /path" without templates. */
static int http_compile(mae_arena *a, const char *s, mae_target_use use, mae_target **out,
                        mae_target_err *err) {
    *out = NULL;
    http_target *t = mae__arena_alloc(a, sizeof *t);
    if (!t) return MAE_ENOMEM;
    t->base.type = &mae__http_target_type;
    t->base.text = s;
    mae_tmpl_err te;
    memset(&te, 0, sizeof te);
    if (use == MAE_TARGET_CALL && mae__target_ident(s)) {
        size_t l = strlen(s);
        char *path = mae__arena_alloc(a, l + 6);
        if (!path) return MAE_ENOMEM;
        memcpy(path, "/api/", 5);
        for (size_t i = 0; i < l; i++)
            path[5 + i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]);
        t->verb = "POST";
        if (mae__tmpl_compile(a, path, l + 5, &t->path, &te) != 0) return MAE_ENOMEM;
        *out = &t->base;
        return 0;
    }
    const char *sp = strchr(s, ' ');
    size_t vl = sp ? (size_t)(sp - s) : 0;
    t->verb = sp ? find_verb(s, vl, use == MAE_TARGET_PROBE ? probe_verbs : verbs) : NULL;
    size_t skip = vl;
    if (use == MAE_TARGET_CALL)
        while (sp && s[skip] == ' ') skip++;
    else if (sp)
        skip++;
    bool blank = false;
    for (const char *p = s + skip; *p && !blank; p++) {
        if (use == MAE_TARGET_CALL && p[0] == '{' && p[1] == '{') {
            const char *e = strstr(p + 2, "}}");
            if (!e) break;
            p = e + 1;
            continue;
        }
        blank = *p == ' ' || *p == '\t';
    }
    if (use == MAE_TARGET_PROBE) {
        if (!t->verb || s[skip] != '/' || blank || mae__tmpl_has_expr(s, strlen(s)))
            return fail(err, "invalid probe '%s' (expected e.g. \"GET /health\")", s);
    } else if (!t->verb || s[skip] != '/' || blank) {
        return fail(err, "invalid HTTP method '%s' (expected 'VERB /path' or a method name)", s);
    }
    int rc = mae__tmpl_compile(a, s + skip, strlen(s + skip), &t->path, &te);
    if (rc == MAE_ENOMEM) return rc;
    if (rc != 0) {
        snprintf(err->msg, sizeof err->msg, "template: %s", te.msg);
        err->offset = skip + te.offset;
        err->at_offset = true;
        return MAE_EPARSE;
    }
    t->path_off = skip;
    *out = &t->base;
    return 0;
}

static size_t http_templates(const mae_target *bt, const mae_tmpl **out, size_t *offsets, size_t max) {
    const http_target *t = (const http_target *)bt;
    if (!t->path_off) return 0;
    if (max) {
        out[0] = t->path;
        offsets[0] = t->path_off;
    }
    return 1;
}

int mae__http_target_render(const mae_target *bt, const mae_scope *scope, const char **verb,
                           char **path, mae_eval_err *err) {
    *path = NULL;
    if (!bt || bt->type != &mae__http_target_type) return MAE_EINVAL;
    const http_target *t = (const http_target *)bt;
    *verb = t->verb;
    mae_eval_err e;
    int rc = mae__tmpl_render(t->path, scope, mae__pct_encode_segment, path, &e);
    if (rc == MAE_ETEMPLATE) snprintf(err->msg, sizeof err->msg, "path: %.500s", e.msg);
    return rc;
}

static int http_describe(const mae_target *bt, const mae_scope *scope, char **out, mae_eval_err *err) {
    const http_target *t = (const http_target *)bt;
    const char *verb;
    char *path = NULL;
    int rc;
    if (scope) {
        rc = mae__http_target_render(bt, scope, &verb, &path, err);
        if (rc) return rc;
    } else {
        verb = t->verb;
        path = strdup(mae__tmpl_source(t->path));
        if (!path) return MAE_ENOMEM;
    }
    /* "VERB path", copied (once per attempt: no format to parse) */
    size_t vl = strlen(verb), pl = strlen(path);
    *out = malloc(vl + 1 + pl + 1);
    if (*out) {
        memcpy(*out, verb, vl);
        (*out)[vl] = ' ';
        memcpy(*out + vl + 1, path, pl + 1);
    }
    free(path);
    return *out ? 0 : MAE_ENOMEM;
}

const mae_target_type mae__http_target_type = {
    .name = "http",
    .default_max_response = 16u << 20,
    .check_endpoint = http_check_endpoint,
    .compile = http_compile,
    .templates = http_templates,
    .describe = http_describe,
    .transport_new = mae_http_transport_new,
};
