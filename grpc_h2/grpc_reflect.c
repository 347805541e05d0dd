/* gRPC server reflection, client side (grpc_reflect.h): one ServerReflectionInfo stream
 * (grpc_stream.h) per protocol version tried. The conversation: list_services; then
 * file_containing_symbol for each service, all sent at once (a reflection server answers in
 * order, so the n-th answer is for the n-th request); then file_by_filename for whatever the
 * pool still misses, round after round, until nothing is missing; then half-close and link.
 * v1 first; UNIMPLEMENTED before any answer moves to v1alpha (same messages, other path) on a
 * fresh stream within what is left of the time bound. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc_h2/grpc_reflect.h"
#include "grpc_h2/grpc_reflect_int.h"
#include "grpc_h2/grpc_stream.h"
#include "grpc_h2/grpc_client_int.h"
#include "maestro/maestro.h"
#include "maestro/internal/reflection.pb-c.h"

#define PATH_V1 "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
#define PATH_V1ALPHA "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"

/* ---- The conversation (no I/O) ---- */

__attribute__((format(printf, 3, 4)))
static int fail(mae__reflect_conv *c, int rc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    return rc;
}

static int send_req(mae__reflect_conv *c, int which, const char *name) {
    Mae__Pb__ReflectionRequest r = MAE__PB__REFLECTION_REQUEST__INIT;
    r.message_request_case = which;
    r.file_by_filename = (char *)name;  /* one union: every case is a string */
    size_t n = mae__pb__reflection_request__get_packed_size(&r);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) return MAE_ENOMEM;
    mae__pb__reflection_request__pack(&r, buf);
    int rc = c->send(c->send_ud, buf, n);
    free(buf);
    if (rc < 0) snprintf(c->err, sizeof c->err, "cannot send a reflection request: %s",
                         mae_strerror(rc));
    return rc;
}

static int ask(mae__reflect_conv *c, bool file, const char *name) {
    if (c->n_asked == c->cap_asked) {
        size_t cap = c->cap_asked ? c->cap_asked * 2 : 16;
        mae__reflect_ask *na = realloc(c->asked, cap * sizeof *na);
        if (!na) return MAE_ENOMEM;
        c->asked = na;
        c->cap_asked = cap;
    }
    char *copy = strdup(name);
    if (!copy) return MAE_ENOMEM;
    c->asked[c->n_asked++] = (mae__reflect_ask){file, copy};
    return send_req(c, file ? MAE__PB__REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME
                            : MAE__PB__REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL,
                    name);
}

static bool asked_file(const mae__reflect_conv *c, const char *name) {
    for (size_t i = 0; i < c->n_asked; i++)
        if (c->asked[i].file && strcmp(c->asked[i].name, name) == 0) return true;
    return false;
}

/* A full service name as reflection lists it: dotted identifiers, bounded. */
static bool service_name_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > MAE__REFLECT_MAX_NAME || s[0] == '.' || s[n - 1] == '.') return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' || ch == '.' ||
                  (ch >= '0' && ch <= '9');
        if (!ok || (ch == '.' && s[i + 1] == '.')) return false;
    }
    return true;
}

/* Every failure says why: out of memory too. */
static int reason(mae__reflect_conv *c, int rc) {
    if (rc == MAE_ENOMEM && !c->err[0]) snprintf(c->err, sizeof c->err, "out of memory");
    return rc;
}

int mae__reflect_conv_start(mae__reflect_conv *c, mae__reflect_send_fn send, void *ud) {
    memset(c, 0, sizeof *c);
    c->send = send;
    c->send_ud = ud;
    if (mae__pb_pool_new(&c->pool) < 0) return reason(c, MAE_ENOMEM);
    return reason(c, send_req(c, MAE__PB__REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES, "*"));
}

static int on_services(mae__reflect_conv *c, const Mae__Pb__ReflectionServiceList *l) {
    if (l->n_service > MAE__REFLECT_MAX_SERVICES) {
        return fail(c, MAE_EPROTO, "the server lists %zu services (at most %d accepted)",
                    l->n_service, MAE__REFLECT_MAX_SERVICES);
    }
    for (size_t i = 0; i < l->n_service; i++) {
        const char *name = l->service[i] ? l->service[i]->name : "";
        if (!service_name_ok(name))
            return fail(c, MAE_EPROTO, "the server lists an invalid service name \"%.80s\"", name);
        /* Reflection itself is no service a workflow calls. */
        if (strncmp(name, "grpc.reflection.", 16) == 0) continue;
        int rc = ask(c, false, name);
        if (rc < 0) return rc;
        c->n_services++;
    }
    if (c->n_services == 0)
        return fail(c, MAE_EINVAL, "the server lists no service besides reflection");
    return 0;
}

static int on_files(mae__reflect_conv *c, const Mae__Pb__ReflectionFileDescriptors *f) {
    for (size_t i = 0; i < f->n_file_descriptor_proto; i++) {
        const ProtobufCBinaryData *d = &f->file_descriptor_proto[i];
        c->bytes += d->len;
        if (++c->n_files > MAE__PB_MAX_FILES || c->bytes > MAE__REFLECT_MAX_BYTES)
            return fail(c, MAE_EPROTO, "the server sent more descriptors than accepted "
                        "(%d files or %u bytes)", MAE__PB_MAX_FILES, MAE__REFLECT_MAX_BYTES);
        char why[200];
        int rc = mae__pb_pool_add_file(c->pool, d->data, d->len, why, sizeof why);
        if (rc < 0) return fail(c, rc, "unusable descriptor from the server: %s", why);
    }
    return 0;
}

/* Everything asked for was answered: asks for what the pool still misses, or says done. */
static int next_round(mae__reflect_conv *c) {
    const char *names[256];
    size_t n = mae__pb_pool_missing(c->pool, names, sizeof names / sizeof *names);
    if (n > sizeof names / sizeof *names) n = sizeof names / sizeof *names;
    int asked = 0;
    for (size_t i = 0; i < n; i++) {
        if (asked_file(c, names[i]))
            return fail(c, MAE_EINVAL, "the server did not provide %.200s, a dependency it names",
                        names[i]);
        if (strlen(names[i]) > MAE__REFLECT_MAX_NAME)
            return fail(c, MAE_EPROTO, "a dependency name is too long");
        int rc = ask(c, true, names[i]);
        if (rc < 0) return rc;
        asked++;
    }
    return asked ? 0 : 1;
}

/* protobuf-c's allocator, noting a failure: an unpack that returns NULL is then out of memory,
 * not an undecodable answer. */
static void *pa_alloc(void *ud, size_t n) {
    void *p = malloc(n);
    if (!p) *(bool *)ud = true;
    return p;
}
static void pa_free(void *ud, void *p) { free(p); }

int mae__reflect_conv_feed(mae__reflect_conv *c, const uint8_t *msg, size_t len) {
    bool oom = false;
    ProtobufCAllocator pa = {pa_alloc, pa_free, &oom};
    Mae__Pb__ReflectionResponse *r = mae__pb__reflection_response__unpack(&pa, len, msg);
    if (!r && oom) return fail(c, MAE_ENOMEM, "out of memory");
    if (!r) return fail(c, MAE_EDECODE, "undecodable reflection response");
    int rc = 0;
    bool was_list = !c->listed;
    const mae__reflect_ask *a = was_list ? NULL
                              : c->answered < c->n_asked ? &c->asked[c->answered] : NULL;
    if (!was_list && !a) {
        rc = fail(c, MAE_EPROTO, "a reflection response nobody asked for");
        goto out;
    }
    switch (r->message_response_case) {
    case MAE__PB__REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE:
        if (!was_list) {
            rc = fail(c, MAE_EPROTO, "a service list where descriptors of %.200s were due",
                      a->name);
            goto out;
        }
        c->listed = true;
        rc = on_services(c, r->list_services_response);
        goto out;  /* the answers to these requests are yet to come */
    case MAE__PB__REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE:
        if (was_list) {
            rc = fail(c, MAE_EPROTO, "descriptors where the service list was due");
            goto out;
        }
        rc = on_files(c, r->file_descriptor_response);
        break;
    case MAE__PB__REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE: {
        const Mae__Pb__ReflectionError *e = r->error_response;
        char what[100];
        snprintf(what, sizeof what, "%s: %.60s", mae__grpc_code_name(e->error_code),
                 e->error_message);
        if (was_list)
            rc = fail(c, MAE_EINVAL, "the server refused to list its services (%s)", what);
        else if (a->file)
            rc = fail(c, MAE_EINVAL, "the server has no file %.100s (%s)", a->name, what);
        else
            rc = fail(c, MAE_EINVAL, "the server has no descriptors for service %.100s (%s)",
                      a->name, what);
        goto out;
    }
    default:
        rc = fail(c, MAE_EPROTO, "a reflection response without an answer");
        goto out;
    }
    if (rc == 0 && ++c->answered == c->n_asked) rc = next_round(c);
out:
    mae__pb__reflection_response__free_unpacked(r, &pa);
    return reason(c, rc);
}

int mae__reflect_conv_finish(mae__reflect_conv *c, mae__pb_pool **pool) {
    char why[200];
    int rc = mae__pb_pool_link(c->pool, why, sizeof why);
    if (rc == MAE_ENOMEM) return fail(c, rc, "out of memory");
    if (rc < 0) return fail(c, MAE_EINVAL, "unusable descriptors from the server: %s", why);
    *pool = c->pool;
    c->pool = NULL;
    return 0;
}

void mae__reflect_conv_free(mae__reflect_conv *c) {
    mae__pb_pool_free(c->pool);
    for (size_t i = 0; i < c->n_asked; i++) free(c->asked[i].name);
    free(c->asked);
    memset(c, 0, sizeof *c);
}

/* ---- Over a stream ---- */

struct mae__reflect {
    mae_transport *t;
    mae_svc_cfg svc;             /* a copy: the strings below */
    char *endpoint, *name;
    mae__reflect_conv conv;
    mae_call *stream;
    bool alpha;                  /* on v1alpha (after v1 said UNIMPLEMENTED) */
    bool answered;               /* some response came on this stream */
    bool done;                   /* conversation complete, half-closed */
    bool cancelled;
    int rc;                      /* our own verdict, when we cut the stream */
    uint64_t deadline;           /* uv_now() value bounding the whole fetch */
    mae__reflect_cb cb;
    void *ud;
};

static int stream_send(void *ud, const uint8_t *msg, size_t len) {
    return mae__grpc_stream_send(((mae__reflect *)ud)->stream, msg, len);
}

static int on_msg(void *ud, const uint8_t *msg, size_t len) {
    mae__reflect *r = ud;
    r->answered = true;
    if (r->rc < 0) return r->rc;
    if (r->done) {  /* everything asked was answered: this one was not asked for */
        snprintf(r->conv.err, sizeof r->conv.err, "a reflection response nobody asked for");
        return r->rc = MAE_EPROTO;
    }
    int rc = mae__reflect_conv_feed(&r->conv, msg, len);
    if (rc < 0) {
        r->rc = rc;
        return rc;  /* resets the stream; on_end reports r->rc */
    }
    if (rc == 1) {
        r->done = true;
        return mae__grpc_stream_half_close(r->stream);
    }
    return 0;
}

static void on_end(mae_call_result *res, void *ud);

static uint64_t now_ms(const mae__reflect *r) {
    return uv_now(((mae__gtransport *)r->t->data)->loop);
}

static int open_stream(mae__reflect *r) {
    uint64_t now = now_ms(r);
    uint64_t left = r->deadline > now ? r->deadline - now : 1;
    r->answered = false;
    mae__reflect_conv_free(&r->conv);
    int rc = mae__grpc_stream_open(r->t, &r->svc, r->alpha ? PATH_V1ALPHA : PATH_V1, left, on_msg,
                                   on_end, r, &r->stream);
    if (rc < 0) return rc;
    /* Queued before the stream is even dispatched: nothing can fail synchronously but memory. */
    rc = mae__reflect_conv_start(&r->conv, stream_send, r);
    if (rc < 0) {
        r->rc = rc;  /* on_end reports it */
        mae__grpc_stream_cancel(r->stream);
    }
    return 0;
}

/* Ends the fetch with its one callback. rc 0: the pool is linked and handed over. Otherwise the
 * line says why: "ENDPOINT: server reflection: WHAT" (WHAT: what, else the conversation's
 * reason), or line itself when given. */
static void deliver(mae__reflect *r, int rc, const char *what, const char *line) {
    char err[400];
    mae__pb_pool *pool = NULL;
    if (rc == 0) rc = mae__reflect_conv_finish(&r->conv, &pool);
    if (rc == 0) err[0] = 0;
    else if (line) snprintf(err, sizeof err, "%s", line);
    else snprintf(err, sizeof err, "%s: server reflection: %s", r->endpoint,
                  what ? what : r->conv.err[0] ? r->conv.err : mae_strerror(rc));
    r->cb(rc, pool, rc == 0 ? NULL : err, r->ud);
    mae__reflect_conv_free(&r->conv);
    free(r->endpoint);
    free(r->name);
    free(r);
}

static void on_end(mae_call_result *res, void *ud) {
    mae__reflect *r = ud;
    cJSON_Delete(res->output);
    if (r->cancelled && r->rc == 0) {
        deliver(r, MAE_ECANCELED, "cancelled", NULL);
        return;
    }
    if (r->rc < 0) {
        deliver(r, r->rc, NULL, NULL);
        return;
    }
    const char *msg = res->message ? res->message : "";
    char line[300];
    switch (res->cls) {
    case MAE_CLASS_NONE:
        if (r->done) deliver(r, 0, NULL, NULL);
        else deliver(r, MAE_EPROTO, "the server ended the stream before answering everything", NULL);
        return;
    case MAE_CLASS_CONNECT: deliver(r, MAE_ECONNREFUSED, msg, NULL); return;
    case MAE_CLASS_TIMEOUT: deliver(r, MAE_ETIMEDOUT, "no complete answer in time", NULL); return;
    case MAE_CLASS_CANCELLED: deliver(r, MAE_ECANCELED, msg, NULL); return;
    case MAE_CLASS_INTERNAL: deliver(r, MAE_ENOMEM, msg, NULL); return;
    case MAE_CLASS_GRPC:
        if (res->status == MAE_GRPC_UNIMPLEMENTED && !r->answered && !r->alpha) {
            r->alpha = true;  /* the same conversation on v1alpha */
            int rc = open_stream(r);
            if (rc < 0) deliver(r, rc, mae_strerror(rc), NULL);
            return;
        }
        if (res->status == MAE_GRPC_UNIMPLEMENTED && !r->answered) {
            snprintf(line, sizeof line, "%s: server reflection not available (UNIMPLEMENTED on v1 "
                     "and v1alpha)", r->endpoint);
            deliver(r, MAE_EINVAL, NULL, line);
        } else if (res->status == MAE_GRPC_DEADLINE_EXCEEDED) {
            deliver(r, MAE_ETIMEDOUT, "no complete answer in time", NULL);
        } else {
            snprintf(line, sizeof line, "failed with %s %.200s", mae__grpc_code_name(res->status),
                     msg);
            deliver(r, MAE_EPROTO, line, NULL);
        }
        return;
    default: deliver(r, MAE_EPROTO, msg, NULL); return;
    }
}

int mae__grpc_reflect_fetch(mae_transport *t, const mae_svc_cfg *svc, uint64_t timeout_ms,
                            mae__reflect_cb cb, void *ud, mae__reflect **out) {
    if (!t || !svc || !svc->endpoint || !cb || !t->vt || strcmp(t->vt->name, "grpc") != 0)
        return MAE_EINVAL;
    mae__reflect *r = calloc(1, sizeof *r);
    if (!r) return MAE_ENOMEM;
    r->t = t;
    r->cb = cb;
    r->ud = ud;
    r->svc = *svc;
    r->endpoint = strdup(svc->endpoint);
    r->name = strdup(svc->name ? svc->name : "reflection");
    if (!r->endpoint || !r->name) {
        free(r->endpoint);
        free(r->name);
        free(r);
        return MAE_ENOMEM;
    }
    r->svc.endpoint = r->endpoint;
    r->svc.name = r->name;
    if (!timeout_ms) timeout_ms = svc->timeout_ms ? svc->timeout_ms : MAE__REFLECT_DEFAULT_MS;
    r->svc.timeout_ms = timeout_ms;
    r->deadline = now_ms(r) + timeout_ms;
    int rc = open_stream(r);
    if (rc < 0) {
        mae__reflect_conv_free(&r->conv);
        free(r->endpoint);
        free(r->name);
        free(r);
        return rc;
    }
    if (out) *out = r;
    return 0;
}

void mae__grpc_reflect_cancel(mae__reflect *r) {
    if (!r || r->cancelled) return;
    r->cancelled = true;
    mae__grpc_stream_cancel(r->stream);
}
