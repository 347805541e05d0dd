/* Building one HTTP call: URL, query or JSON body, headers, and the curl easy handle with its
 * write (bounded by max_response) and header (Retry-After) callbacks. Everything taken from
 * the request is copied: the request is only borrowed during start(). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "maestro/maestro.h"
#include "transports/http_int.h"
#include "transports/http_target.h"
#include "transports/wire.h"
#include "transports/errmap.h"
#include "workflow/json_out.h"

/* Low-speed limit: a transfer averaging under 1 byte/s for LOW_SPEED_SECS is abandoned as a
 * timeout. Only for calls without a deadline (a slow service that answers within its
 * configured timeout is fine): it is the backstop for calls without one. */
#define LOW_SPEED_BYTES 1L
#define LOW_SPEED_SECS 60L

/* Bodies up to this size never make curl send Expect: 100-continue (any curl version). */
#define MAE_HTTP_NO_EXPECT_MAX 1024

/* Headers maestro sets itself (or curl must own): a service header cannot replace them. */
static const char *const reserved_headers[] = {
    "Idempotency-Key", "X-Maestro-Run-Id", "X-Maestro-Step-Id", "traceparent", "Host",
    "Content-Length", "Transfer-Encoding", "Expect", "Connection", NULL,
};

static size_t on_write(char *data, size_t size, size_t n, void *ud) {
    mae_call *c = ((http_easy *)ud)->call;
    size_t len = size * n;
    /* Returning less than len aborts the transfer (CURLE_WRITE_ERROR). */
    if (len > c->max_response - c->received) {
        c->too_big = true;
        return 0;
    }
    c->received += len;
    c->h->body_bytes += len;
    long code = 0;
    c->h->curl.easy_getinfo(c->ez->easy, CURLINFO_RESPONSE_CODE, &code);
    if (code < 200 || code >= 300) {
        /* An error's body only feeds the excerpt: keep one byte more than it shows. */
        size_t keep = MAE_HTTP_EXCERPT_MAX + 1;
        size_t room = c->resp.len < keep ? keep - c->resp.len : 0;
        if (len > room) len = room;
        if (len && mae__hbuf_add(&c->resp, data, len) != 0) return 0;
        return size * n;
    }
    return mae__hbuf_add(&c->resp, data, len) == 0 ? len : 0;
}

static size_t on_header(char *data, size_t size, size_t n, void *ud) {
    mae_call *c = ((http_easy *)ud)->call;
    size_t len = size * n;
    /* A new status line (after 1xx, or a new response): forget the previous headers. */
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        c->retry_after[0] = 0;
        c->json_declared = false;
    }
    static const char ctype[] = "content-type:";
    if (len > sizeof ctype - 1 && strncasecmp(data, ctype, sizeof ctype - 1) == 0) {
        const char *v = data + sizeof ctype - 1, *end = data + len;
        while (v < end && (*v == ' ' || *v == '\t')) v++;
        const char *e = v;
        while (e < end && *e != ';' && *e != ' ' && *e != '\t' && *e != '\r' && *e != '\n') e++;
        size_t ml = (size_t)(e - v);
        /* application/json, or any media type with the +json suffix (application/problem+json) */
        c->json_declared = (ml == 16 && strncasecmp(v, "application/json", 16) == 0) ||
                           (ml > 5 && strncasecmp(e - 5, "+json", 5) == 0);
    }
    static const char name[] = "retry-after:";
    size_t nl = sizeof name - 1;
    if (len > nl && strncasecmp(data, name, nl) == 0) {
        const char *v = data + nl;
        size_t vl = len - nl;
        while (vl && (*v == ' ' || *v == '\t')) v++, vl--;
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' ')) vl--;
        /* Longer than any valid value: ignored rather than truncated into a wrong one. */
        if (vl < sizeof c->retry_after) {
            memcpy(c->retry_after, v, vl);
            c->retry_after[vl] = 0;
        } else {
            c->retry_after[0] = 0;
        }
    }
    return len;
}

/* Opens the connection's socket as curl would, keeping the errno of a failure: running out of
 * descriptors (EMFILE, ENFILE) is this process's limit, not the service's (class internal). */
static curl_socket_t on_opensocket(void *ud, curlsocktype purpose, struct curl_sockaddr *a) {
    (void)purpose;
    mae_call *c = ((http_easy *)ud)->call;
    curl_socket_t s = socket(a->family, a->socktype, a->protocol);
    if (s == CURL_SOCKET_BAD) c->sock_errno = errno;
    return s;
}

static int add_header(mae_call *c, const char *name, const char *value) {
    size_t nl = strlen(name), vl = strlen(value), n = nl + vl + 3;
    char small[256];
    char *line = n <= sizeof small ? small : malloc(n);
    if (!line) return MAE_ENOMEM;
    /* "Name;" is curl's way to send a header with an empty value ("Name:" would remove it). */
    memcpy(line, name, nl);
    if (vl) {
        line[nl] = ':';
        line[nl + 1] = ' ';
        memcpy(line + nl + 2, value, vl);
        line[nl + 2 + vl] = 0;
    } else {
        line[nl] = ';';
        line[nl + 1] = 0;
    }
    struct curl_slist *l = c->h->curl.slist_append(c->hdrs, line);  /* copies the line */
    if (line != small) free(line);
    if (!l) return MAE_ENOMEM;
    c->hdrs = l;
    return 0;
}

/* Appends a whole header line (curl copies it). */
static int add_line(mae_call *c, const char *line) {
    struct curl_slist *l = c->h->curl.slist_append(c->hdrs, line);
    if (!l) return MAE_ENOMEM;
    c->hdrs = l;
    return 0;
}

static bool user_has(const mae_call_req *req, const char *name) {
    for (size_t i = 0; i < req->n_headers; i++)
        if (strcasecmp(req->headers[i].name, name) == 0) return true;
    return false;
}

/* Headers: the service's, then maestro's. Returns 0, MAE_ENOMEM, or 1 when refused. */
static int build_headers(mae_call *c, const mae_call_req *req, bool has_body, size_t body_len) {
    for (size_t i = 0; i < req->n_headers; i++) {
        const mae_header_kv *kv = &req->headers[i];
        if (!mae__header_name_ok(kv->name)) {
            mae__http_call_refuse(c, "invalid header name \"%s\"", kv->name ? kv->name : "");
            return 1;
        }
        if (!mae__header_value_ok(kv->value)) {
            mae__http_call_refuse(c, "header %s: value contains CR, LF or NUL", kv->name);
            return 1;
        }
        for (const char *const *r = reserved_headers; *r; r++) {
            if (strcasecmp(*r, kv->name) == 0) {
                mae__http_call_refuse(c, "header %s is set by maestro", kv->name);
                return 1;
            }
        }
        int rc = add_header(c, kv->name, kv->value);
        if (rc) return rc;
    }
    struct { const char *name, *value; } ours[] = {
        {"Idempotency-Key", req->idempotency_key},
        {"X-Maestro-Run-Id", req->run_id},
        {"X-Maestro-Step-Id", req->step_id},
        {"traceparent", req->traceparent},
    };
    for (size_t i = 0; i < sizeof ours / sizeof *ours; i++) {
        if (!ours[i].value) continue;
        if (!mae__header_value_ok(ours[i].value)) {
            mae__http_call_refuse(c, "header %s: value contains CR, LF or NUL", ours[i].name);
            return 1;
        }
        int rc = add_header(c, ours[i].name, ours[i].value);
        if (rc) return rc;
    }
    /* The fixed lines are whole literals: appended without being composed per call. */
    int rc = 0;
    if (!user_has(req, "User-Agent")) rc = add_line(c, "User-Agent: maestro/" MAE_VERSION);
    if (!rc && !user_has(req, "Accept")) rc = add_line(c, "Accept: application/json");
    /* curl's decoders are on (CURLOPT_ACCEPT_ENCODING ""); it skips its own line for ours */
    if (!rc && c->h->accept_enc[0] && !user_has(req, "Accept-Encoding")) rc = add_line(c, c->h->accept_enc);
    if (!rc && has_body && !user_has(req, "Content-Type")) rc = add_line(c, "Content-Type: application/json");
    /* An empty Expect: stops curl from waiting for 100-continue before large bodies. curl asks
     * for it only past EXPECT_100_THRESHOLD (1 MiB since 7.69, 1 KiB before): below 1 KiB the
     * line would change nothing on the wire, and curl would check it for every request. */
    if (!rc && has_body && body_len > MAE_HTTP_NO_EXPECT_MAX) rc = add_line(c, "Expect:");
    return rc;
}

static int build_url(mae_call *c, const mae_call_req *req, const char *verb, const char *path,
                     bool query_verb) {
    const char *ep = req->service->endpoint;
    size_t el = strlen(ep);
    while (el && ep[el - 1] == '/') el--;
    if (strncmp(ep, "http://", 7) != 0 && strncmp(ep, "https://", 8) != 0) {
        mae__http_call_refuse(c, "endpoint \"%s\" is not an http:// or https:// URL", ep);
        return 1;
    }
    if (!mae__http_path_ok(path)) {
        mae__http_call_refuse(c, "path \"%s\" is not a percent-encoded absolute path", path);
        return 1;
    }
    char *q = NULL;
    if (query_verb) {
        int rc = mae__http_query_build(req->input, &q);
        if (rc == MAE_EINVAL) {
            mae__http_call_refuse(c, "%s input must be a JSON object (sent as query parameters)", verb);
            return 1;
        }
        if (rc) return rc;
    }
    /* endpoint (without trailing '/') + path + ('?' or '&' + query): copied, not formatted */
    size_t pl = strlen(path), ql = q ? strlen(q) : 0;
    c->url = malloc(el + pl + (ql ? 1 + ql : 0) + 1);
    if (c->url) {
        char *u = c->url;
        memcpy(u, ep, el);
        u += el;
        memcpy(u, path, pl);
        u += pl;
        if (ql) {
            *u++ = strchr(path, '?') ? '&' : '?';
            memcpy(u, q, ql);
            u += ql;
        }
        *u = 0;
    }
    free(q);
    return c->url ? 0 : MAE_ENOMEM;
}

#define SET(opt, val)                                                          \
    do {                                                                       \
        int rc_ = mae__err_from_curl(c->h->curl.easy_setopt(e, opt, val));            \
        if (rc_) return rc_;                                                   \
    } while (0)

/* CURLOPT_PREREQFUNCTION: the connection is up and the request is about to be sent. */
static int on_prereq(void *ud, char *primary_ip, char *local_ip, int primary_port, int local_port) {
    (void)primary_ip, (void)local_ip, (void)primary_port, (void)local_port;
    ((http_easy *)ud)->call->began = true;
    return CURL_PREREQFUNC_OK;
}

/* The options every call of the pool shares: set once on a new handle (or after a reset).
 * The callbacks' data and CURLOPT_PRIVATE are the handle's context, which names its call. */
static int easy_setup_pool(mae_call *c, http_easy *ez) {
    http_pool *p = c->pool;
    CURL *e = ez->easy;
    SET(CURLOPT_PRIVATE, (void *)ez);
    SET(CURLOPT_ERRORBUFFER, ez->errbuf);
    SET(CURLOPT_WRITEDATA, (void *)ez);
    SET(CURLOPT_HEADERDATA, (void *)ez);
    SET(CURLOPT_OPENSOCKETDATA, (void *)ez);
    if (c->h->easy_reuse) SET(CURLOPT_PREREQDATA, (void *)ez);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    /* The path was percent-encoded when rendered: send it exactly, without dot-segment squashing. */
    SET(CURLOPT_PATH_AS_IS, 1L);
    if (!p->env_proxy) {
        /* No proxy variable is set (checked when the pool was made): say "no proxy" directly.
         * An empty CURLOPT_PROXY skips curl's http_proxy/all_proxy lookups and an empty
         * CURLOPT_NOPROXY its no_proxy/NO_PROXY ones, for every transfer. */
        SET(CURLOPT_PROXY, "");
        SET(CURLOPT_NOPROXY, "");
    }
    SET(CURLOPT_WRITEFUNCTION, on_write);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_OPENSOCKETFUNCTION, on_opensocket);
    if (c->h->easy_reuse) SET(CURLOPT_PREREQFUNCTION, on_prereq);
    /* A service may compress though not asked (or when asked): curl offers and decodes gzip and
     * deflate; on_write sees the decoded bytes, so max_response bounds the inflated size. */
    SET(CURLOPT_ACCEPT_ENCODING, "");
    SET(CURLOPT_LOW_SPEED_LIMIT, LOW_SPEED_BYTES);
    /* h2 over TLS when ALPN offers it, HTTP/1.1 in clear text (no h2c by default). */
    SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    if (strncmp(p->endpoint, "https://", 8) == 0) {
        /* Wait for a connection that may multiplex rather than open one more. */
        SET(CURLOPT_PIPEWAIT, 1L);
        if (p->ca_file) SET(CURLOPT_CAINFO, p->ca_file);
        if (p->cert_file) SET(CURLOPT_SSLCERT, p->cert_file);
        if (p->key_file) SET(CURLOPT_SSLKEY, p->key_file);
        if (p->insecure) {
            SET(CURLOPT_SSL_VERIFYPEER, 0L);
            SET(CURLOPT_SSL_VERIFYHOST, 0L);
        }
    }
    return 0;
}

int mae__http_easy_unbind(mae_http *h, http_easy *ez) {
    /* A kept handle must not point into the call about to be freed. The next call sets
     * these again, with its method; setting POSTFIELDS (even to NULL) makes the method POST. */
    const mae__curl_api *api = &h->curl;
    if (api->easy_setopt(ez->easy, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL) != CURLE_OK ||
        api->easy_setopt(ez->easy, CURLOPT_POSTFIELDS, (char *)NULL) != CURLE_OK)
        return MAE_EINTERNAL;
    return 0;
}

void mae__http_easy_free(mae_http *h, http_easy *ez) {
    if (!ez) return;
    if (ez->easy) h->curl.easy_cleanup(ez->easy);
    free(ez);
}

int mae__http_call_easy(mae_call *c) {
    http_pool *p = c->pool;
    const char *verb = c->verb;
    http_easy *ez;
    c->began = false;
    if (p->n_spare) {
        /* a kept handle: the pool's options are set already, unless curl is too old to
         * reuse one without a reset (then it was reset when it was released) */
        ez = c->ez = p->spare[--p->n_spare];
        ez->call = c;
        if (!c->h->easy_reuse) {
            int rc = easy_setup_pool(c, ez);
            if (rc) return rc;
        }
    } else {
        ez = calloc(1, sizeof *ez);
        if (!ez) return MAE_ENOMEM;
        ez->easy = c->h->curl.easy_init();
        if (!ez->easy) {
            free(ez);
            return MAE_ENOMEM;
        }
        c->h->easy_created++;
        ez->call = c;
        int rc = easy_setup_pool(c, ez);
        if (rc) {
            /* half set up: never kept for a later call (it might lack its callbacks) */
            mae__http_easy_free(c->h, ez);
            return rc;
        }
        c->ez = ez;
    }
    CURL *e = ez->easy;
    ez->errbuf[0] = 0;
    /* What differs per call. Every option a previous call of this handle may have set is set
     * here again (method, body, custom verb, headers, size cap, low-speed time), so none of it
     * leaks; the callbacks reach this call through ez->call. */
    SET(CURLOPT_URL, c->url);
    SET(CURLOPT_HTTPHEADER, c->hdrs);
    /* A declared Content-Length past the cap fails before any byte is stored. */
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max_response);
    /* No CURLOPT_TIMEOUT_MS: the transport's deadline timer ends every attempt on time (in
     * curl or waiting), and curl's own timeout would only cost a second timer per transfer.
     * The low-speed backstop is for calls without a deadline. */
    SET(CURLOPT_LOW_SPEED_TIME, c->timeout_ms ? 0L : LOW_SPEED_SECS);
    if (c->query_verb) {
        if (verb[0] == 'H') SET(CURLOPT_NOBODY, 1L);  /* HEAD */
        else SET(CURLOPT_HTTPGET, 1L);                 /* clears NOBODY too */
        SET(CURLOPT_CUSTOMREQUEST, verb[0] == 'D' ? verb : (const char *)NULL);  /* DELETE */
    } else {
        SET(CURLOPT_POST, 1L);                         /* clears NOBODY too */
        SET(CURLOPT_POSTFIELDS, c->body);
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->body_len);
        SET(CURLOPT_CUSTOMREQUEST, strcmp(verb, "POST") != 0 ? verb : (const char *)NULL);
    }
    return 0;
}

int mae__http_call_prepare(mae_call *c, const mae_call_req *req) {
    const char *verb = NULL;
    char *path = NULL;
    mae_eval_err err;
    int rc = mae__http_target_render(req->target, req->scope, &verb, &path, &err);
    if (rc == MAE_ETEMPLATE) {
        mae__http_call_refuse(c, "%s", err.msg);
        return 0;
    }
    if (rc) return rc;
    if (!mae__http_verb_ok(verb)) {
        mae__http_call_refuse(c, "invalid HTTP method \"%s\"", verb ? verb : "(null)");
        free(path);
        return 0;
    }
    bool query_verb = strcmp(verb, "GET") == 0 || strcmp(verb, "DELETE") == 0 ||
                      strcmp(verb, "HEAD") == 0;
    rc = build_url(c, req, verb, path, query_verb);
    free(path);
    if (rc) return rc < 0 ? rc : 0;
    if (!query_verb) {
        c->body = req->input ? mae__json_text(req->input) : strdup("{}");
        if (!c->body) return MAE_ENOMEM;
        c->body_len = strlen(c->body);
    }
    rc = build_headers(c, req, !query_verb, c->body_len);
    if (rc) return rc < 0 ? rc : 0;
    c->pool = mae__http_pool_get(c->h, req->service);
    if (!c->pool) return MAE_ENOMEM;
    /* what the easy handle needs later (made when the call enters curl): copied now */
    const mae_svc_cfg *svc = req->service;
    size_t vl = strlen(verb);  /* mae__http_verb_ok: at most 16 characters */
    if (vl >= sizeof c->verb) vl = sizeof c->verb - 1;
    memcpy(c->verb, verb, vl);
    c->verb[vl] = 0;
    c->query_verb = query_verb;
    c->max_response = svc->max_response ? svc->max_response : 16u << 20;
    c->resp.max = c->max_response;
    uint64_t tmo = req->timeout_ms ? req->timeout_ms : svc->timeout_ms;
    if (tmo > (uint64_t)LONG_MAX) tmo = (uint64_t)LONG_MAX;
    c->timeout_ms = tmo;
    return 0;
}
