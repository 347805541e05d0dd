/* Stub file loader: YAML node tree → mae_stub_file, with the workflow loader's typed accessors
 * (every problem reported with its position, loading goes on to find the rest). */
#include "workflow/stubfile.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maestro/maestro.h"
#include "transports/transport.h"
#include "workflow/load_int.h"
#include "workflow/yaml.h"

static const char *const top_keys[] = {"services", NULL};
static const char *const svc_keys[] = {"type", "listen", "routes", "methods", "descriptors",
                                       NULL};
static const char *const beh_keys[] = {"respond", "status", "delay", "hang", "fail", NULL};
static const char *const fail_keys[] = {"status", "http", "app_error", "message", "times", "retry_after", NULL};
static const char *const verbs[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", NULL};

static void load_fail(mae_loader *ld, const mae_ynode *n, mae_svc_type type, mae_stub_behavior *b) {
    if (!mae__ld_keys(ld, n, "fail", fail_keys)) return;
    b->fail = true;
    const mae_ynode *v;
    if ((v = mae__yaml_get(n, "status"))) {
        const char *code;
        if (mae__ld_str(ld, v, "fail.status", &code)) {
            b->fail_grpc = mae__grpc_code_from_name(code);
            if (b->fail_grpc <= 0)
                mae__ld_err(ld, v->pos, "fail.status: '%s' is not a gRPC status name (e.g. UNAVAILABLE)", code);
        }
    }
    if ((v = mae__yaml_get(n, "http"))) mae__ld_int(ld, v, "fail.http", 400, 599, &b->fail_http);
    if ((v = mae__yaml_get(n, "app_error"))) mae__ld_bool(ld, v, "fail.app_error", &b->fail_app);
    if ((v = mae__yaml_get(n, "message"))) mae__ld_str(ld, v, "fail.message", &b->fail_message);
    if ((v = mae__yaml_get(n, "times"))) mae__ld_int(ld, v, "fail.times", 1, 1000000000, &b->fail_times);
    if ((v = mae__yaml_get(n, "retry_after"))) {
        int s;
        if (mae__ld_int(ld, v, "fail.retry_after", 0, 86400, &s)) b->retry_after_s = s;
    }
    if (type == MAE_SVC_HTTP && b->fail_grpc > 0)
        mae__ld_err(ld, n->pos, "fail: an HTTP route fails with 'http: STATUS', not a gRPC status");
    if (type == MAE_SVC_GRPC && b->fail_grpc <= 0 && !b->fail_app)
        mae__ld_err(ld, n->pos, "fail: a gRPC method needs 'status: CODE' or 'app_error: true'");
    if (type == MAE_SVC_GRPC && b->fail_http)
        mae__ld_err(ld, n->pos, "fail: a gRPC method fails with 'status: CODE', not 'http:'");
    if (type == MAE_SVC_HTTP && b->fail_app)
        mae__ld_err(ld, n->pos, "fail: 'app_error' is for gRPC methods (the envelope's success=false)");
    if (type == MAE_SVC_HTTP && !b->fail_http) b->fail_http = 500;
}

static void load_behavior(mae_loader *ld, const mae_ynode *n, mae_svc_type type, mae_stub_behavior *b) {
    b->fail_grpc = -1;
    b->retry_after_s = -1;
    if (!mae__ld_keys(ld, n, "route", beh_keys)) return;
    const mae_ynode *v;
    if ((v = mae__yaml_get(n, "respond"))) b->respond = mae__ld_tval(ld, v);
    if ((v = mae__yaml_get(n, "status"))) {
        if (type == MAE_SVC_GRPC) mae__ld_err(ld, v->pos, "status: only HTTP routes set a success status");
        else mae__ld_int(ld, v, "status", 200, 299, &b->status);
    }
    if ((v = mae__yaml_get(n, "delay"))) mae__ld_duration(ld, v, "delay", false, &b->delay_ms);
    if ((v = mae__yaml_get(n, "hang"))) mae__ld_bool(ld, v, "hang", &b->hang);
    if ((v = mae__yaml_get(n, "fail"))) load_fail(ld, v, type, b);
}

/* "VERB /path" or a bare name (the seed's convention: POST /api/<lowercase name>). */
static void load_route_key(mae_loader *ld, const mae_ynode *k, mae_stub_route *r) {
    const char *s = k->str;
    const char *sp = strchr(s, ' ');
    if (!sp) {
        if (!mae__is_ident(s)) {
            mae__ld_err(ld, k->pos, "route '%s' must be 'VERB /path' or a method name", s);
            return;
        }
        r->verb = "POST";
        size_t n = strlen(s);
        char *p = mae__arena_alloc(ld->a, n + 6);
        if (!p) return;
        memcpy(p, "/api/", 5);
        for (size_t i = 0; i < n; i++) p[5 + i] = (char)tolower((unsigned char)s[i]);
        r->path = p;
        return;
    }
    char verb[16];
    size_t vl = (size_t)(sp - s);
    if (vl >= sizeof verb) vl = sizeof verb - 1;
    memcpy(verb, s, vl);
    verb[vl] = 0;
    for (int i = 0; verbs[i]; i++)
        if (strcmp(verbs[i], verb) == 0) r->verb = verbs[i];
    if (!r->verb) mae__ld_err(ld, k->pos, "route '%s': unknown HTTP verb '%s'", s, verb);
    if (sp[1] != '/') mae__ld_err(ld, k->pos, "route '%s': the path must start with '/'", s);
    r->path = sp + 1;
}

/* A typed method key: "Method" or "pkg.Service/Method" (checked against the descriptors when
 * the stub starts). */
static bool typed_method_key(const char *k) {
    const char *slash = strchr(k, '/');
    if (!slash) return mae__is_ident(k);
    if (slash == k || strchr(slash + 1, '/') || !mae__is_ident(slash + 1)) return false;
    for (const char *p = k; p < slash; p++)
        if (!(*p == '.' || *p == '_' || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
              (*p >= 'A' && *p <= 'Z')))
            return false;
    return true;
}

/* The descriptor set's path as the stub will open it: relative to the stub file's folder. */
static const char *descriptors_path(mae_loader *ld, const char *file, const char *rel) {
    const char *slash = file ? strrchr(file, '/') : NULL;
    if (rel[0] == '/' || !slash) return rel;
    size_t dl = (size_t)(slash - file) + 1, rl = strlen(rel);
    char *p = mae__arena_alloc(ld->a, dl + rl + 1);
    if (!p) return rel;
    memcpy(p, file, dl);
    memcpy(p + dl, rel, rl + 1);
    return p;
}

static void load_service(mae_loader *ld, const mae_ynode *k, const mae_ynode *n, mae_stub_service *svc,
                         const char *file) {
    svc->pos = k->pos;
    svc->name = k->str;
    svc->host = "127.0.0.1";
    if (!mae__ld_keys(ld, n, "service", svc_keys)) return;
    const mae_ynode *v = mae__yaml_get(n, "type");
    const char *type = NULL;
    if (!v) mae__ld_err(ld, n->pos, "service '%s': missing 'type' (http or grpc)", svc->name);
    else if (mae__ld_str(ld, v, "type", &type)) {
        if (strcmp(type, "http") == 0) svc->type = MAE_SVC_HTTP;
        else if (strcmp(type, "grpc") == 0) svc->type = MAE_SVC_GRPC;
        else mae__ld_err(ld, v->pos, "type: '%s' is not http or grpc", type);
    }
    if ((v = mae__yaml_get(n, "descriptors"))) {
        const char *d;
        if (svc->type != MAE_SVC_GRPC)
            mae__ld_err(ld, v->pos, "descriptors: only gRPC services have typed methods");
        else if (mae__ld_str(ld, v, "descriptors", &d)) {
            if (!*d) mae__ld_err(ld, v->pos, "descriptors: expected the path of a descriptor set");
            else svc->descriptors = descriptors_path(ld, file, d);
        }
    }
    v = mae__yaml_get(n, "listen");
    const char *listen;
    if (!v) mae__ld_err(ld, n->pos, "service '%s': missing 'listen' (host:port)", svc->name);
    else if (mae__ld_str(ld, v, "listen", &listen)) {
        const char *colon = strrchr(listen, ':');
        char *end = NULL;
        long port = colon ? strtol(colon + 1, &end, 10) : -1;
        if (!colon || colon == listen || !end || *end || port < 0 || port > 65535 || end == colon + 1) {
            mae__ld_err(ld, v->pos, "listen: '%s' is not host:port", listen);
        } else {
            svc->host = mae__arena_strndup(ld->a, listen, (size_t)(colon - listen));
            svc->port = (int)port;
        }
    }
    const char *want = svc->type == MAE_SVC_GRPC ? "methods" : "routes";
    const char *other = svc->type == MAE_SVC_GRPC ? "routes" : "methods";
    if ((v = mae__yaml_get(n, other)))
        mae__ld_err(ld, v->pos, "'%s' belongs to %s services; this one is %s", other,
                    svc->type == MAE_SVC_GRPC ? "http" : "grpc", type ? type : "untyped");
    const mae_ynode *rs = mae__yaml_get(n, want);
    if (!rs) return;
    if (rs->kind != MAE_YN_MAP) {
        mae__ld_err(ld, rs->pos, "'%s' must be a mapping", want);
        return;
    }
    svc->routes = mae__arena_alloc(ld->a, (rs->n ? rs->n : 1) * sizeof *svc->routes);
    if (!svc->routes) return;
    svc->n_routes = rs->n;
    for (size_t i = 0; i < rs->n; i++) {
        mae_stub_route *r = &svc->routes[i];
        const mae_ynode *rk = rs->pairs[i].key;
        r->pos = rk->pos;
        r->key = rk->str;
        if (svc->type == MAE_SVC_HTTP) load_route_key(ld, rk, r);
        else if (svc->descriptors && !typed_method_key(rk->str))
            mae__ld_err(ld, rk->pos, "method '%s' must be a method name or package.Service/Method",
                        rk->str);
        else if (!svc->descriptors && !mae__is_ident(rk->str))
            mae__ld_err(ld, rk->pos, "method '%s' must be an identifier", rk->str);
        load_behavior(ld, rs->pairs[i].val, svc->type, &r->b);
        if (svc->descriptors && r->b.fail_app)
            mae__ld_err(ld, rk->pos, "method '%s': 'app_error' is the envelope's success=false; a "
                        "typed method fails with a gRPC code", rk->str);
    }
}

int mae__stub_file_load_buf(const char *name, const char *buf, size_t len, mae_stub_file **out,
                           mae_diags *diags) {
    *out = NULL;
    mae_stub_file *f = calloc(1, sizeof *f);
    mae_workflow scratch;   /* the loader's accessors want a workflow; only its arena is used */
    if (!f) return MAE_ENOMEM;
    memset(&scratch, 0, sizeof scratch);
    mae__arena_init(&f->arena, 64u << 20);
    mae_loader ld = {.wf = &scratch, .a = &f->arena, .d = diags, .buf = buf, .len = len};
    mae_ynode *root = NULL;
    int rc = mae__yaml_parse(&f->arena, buf, len, &root, diags);
    if (rc == 0 || (rc == MAE_EPARSE && root)) {
        if (!root) {
            mae__ld_err(&ld, (mae_pos){1, 1}, "empty stub file: expected 'services:'");
        } else if (mae__ld_keys(&ld, root, "stub file", top_keys)) {
            const mae_ynode *s = mae__yaml_get(root, "services");
            if (!s || s->kind != MAE_YN_MAP || s->n == 0) {
                mae__ld_err(&ld, s ? s->pos : root->pos, "'services' must be a non-empty mapping");
            } else {
                f->services = mae__arena_alloc(&f->arena, s->n * sizeof *f->services);
                f->n_services = f->services ? s->n : 0;
                for (size_t i = 0; i < f->n_services; i++)
                    load_service(&ld, s->pairs[i].key, s->pairs[i].val, &f->services[i], name);
            }
        }
    }
    /* The loader's side tables (malloc'd, as in mae__workflow_load_buf). */
    free(ld.ids);
    free(ld.tsrc);
    if (rc == MAE_ETOOBIG || rc == MAE_ENOMEM) {
        mae__stub_file_free(f);
        return rc;
    }
    if (rc != 0 || ld.errors || ld.oom || diags->n) {
        mae__stub_file_free(f);
        return ld.oom ? MAE_ENOMEM : MAE_EPARSE;
    }
    *out = f;
    return 0;
}

int mae__stub_file_load(const char *path, mae_stub_file **out, mae_diags *diags) {
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        mae__diag_add(diags, (mae_pos){0, 0}, "cannot open: %s", strerror(errno));
        return MAE_EIO;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    errno = 0;
    while (buf) {
        size_t r = fread(buf + len, 1, cap - len, fp);
        len += r;
        if (r == 0) break;
        if (len == cap) {
            if (cap > MAE_YAML_MAX_FILE) break;
            char *nb = realloc(buf, cap *= 2);
            if (!nb) { free(buf); buf = NULL; }
            else buf = nb;
        }
    }
    int rerr = ferror(fp) ? (errno ? errno : EIO) : 0;
    fclose(fp);
    if (!buf) return MAE_ENOMEM;
    if (rerr) {
        free(buf);
        mae__diag_add(diags, (mae_pos){0, 0}, "cannot read file: %s", strerror(rerr));
        return MAE_EIO;
    }
    int rc = len > MAE_YAML_MAX_FILE ? MAE_ETOOBIG : mae__stub_file_load_buf(path, buf, len, out, diags);
    free(buf);
    return rc;
}

void mae__stub_file_free(mae_stub_file *f) {
    if (!f) return;
    mae__arena_free(&f->arena);
    free(f);
}
