/* The stub's gRPC side: the Maestro envelope (/maestro.v1.MaestroService/Execute) served by
 * grpc_h2's server. The envelope's `method` picks the stub method; its Struct payload is
 * {{ .request }}; the rendered reply goes back as ServiceResponse{success, data}. */
#include <stdlib.h>
#include <string.h>

#include "grpc_h2/grpc_codec.h"
#include "grpc_h2/grpc_msgcodec.h"
#include "grpc_h2/grpc_server.h"
#include "grpc_h2/grpc_struct.h"
#include "stub/stub_internal.h"
#include "stub/stub_typed.h"
#include "maestro/maestro.h"
#include "maestro/internal/envelope.pb-c.h"

typedef struct grpc_pending {
    mae_stub_delay d;
    mae_grpc_scall *call;     /* NULL once the client left */
    int code;                 /* 0 = reply with msg */
    char *msg;                /* reply bytes, or the error message */
    size_t len;
    char pushback[24];
    bool framed;              /* msg holds complete frames (a server-streaming reply) */
} grpc_pending;

static void pending_closed(uv_handle_t *h) {
    grpc_pending *p = h->data;
    mae_stub_delay d = p->d;
    free(p->msg);
    free(p);
    mae__stub_delay_closed(&d);
}

static void send_now(mae_grpc_scall *call, int code, const char *msg, size_t len, const char *pushback,
                     bool framed) {
    if (code == 0 && framed) {
        mae__grpc_server_reply_framed(call, (const uint8_t *)msg, len);
        return;
    }
    if (code == 0) {
        mae__grpc_server_reply(call, (const uint8_t *)msg, len);
        return;
    }
    mae_header_kv extra[1] = {{"grpc-retry-pushback-ms", pushback}};
    mae__grpc_server_fail(call, code, msg, extra, pushback && *pushback ? 1 : 0);
}

static void pending_fire(uv_timer_t *t) {
    grpc_pending *p = t->data;
    if (p->call) {
        mae__grpc_scall_set_data(p->call, NULL);
        send_now(p->call, p->code, p->msg, p->len, p->pushback, p->framed);
    }
    p->call = NULL;
    mae__stub_delay_close(&p->d);
}

static void on_abort(mae_grpc_scall *call, void *ud) {
    grpc_pending *p = mae__grpc_scall_data(call);
    if (p) p->call = NULL;   /* the timer still fires and frees the record */
}

/* Answers now or after the route's delay. Takes ownership of msg. */
static void answer_ex(mae_stub_http *hs, mae_grpc_scall *call, int code, char *msg, size_t len,
                      int64_t pushback_ms, uint64_t delay_ms, bool framed) {
    char pb[24] = "";
    if (pushback_ms >= 0) snprintf(pb, sizeof pb, "%lld", (long long)pushback_ms);
    if (delay_ms == 0) {
        send_now(call, code, msg ? msg : "", len, pb, framed);
        free(msg);
        return;
    }
    grpc_pending *p = calloc(1, sizeof *p);
    if (!p) {
        free(msg);
        mae__grpc_server_fail(call, MAE_GRPC_RESOURCE_EXHAUSTED, "stub out of memory", NULL, 0);
        return;
    }
    p->call = call;
    p->code = code;
    p->msg = msg;
    p->len = len;
    p->framed = framed;
    memcpy(p->pushback, pb, sizeof pb);
    mae__grpc_scall_set_data(call, p);
    mae__stub_delay_start(hs->stub, &p->d, p, pending_fire, pending_closed, delay_ms);
}

void mae__stub_grpc_answer(mae_stub_http *hs, mae_grpc_scall *call, int code, char *msg,
                           size_t len, int64_t pushback_ms, uint64_t delay_ms) {
    answer_ex(hs, call, code, msg, len, pushback_ms, delay_ms, false);
}

void mae__stub_grpc_answer_frames(mae_stub_http *hs, mae_grpc_scall *call, uint8_t *frames,
                                  size_t len, uint64_t delay_ms) {
    answer_ex(hs, call, 0, (char *)frames, len, -1, delay_ms, true);
}

static void answer(mae_stub_http *hs, mae_grpc_scall *call, int code, char *msg, size_t len,
                   int64_t pushback_ms, uint64_t delay_ms) {
    answer_ex(hs, call, code, msg, len, pushback_ms, delay_ms, false);
}

/* Packs ServiceResponse; returns malloc'd bytes or NULL. */
static char *pack_response(bool success, const cJSON *data, const char *error, size_t *len) {
    Mae__Pb__ServiceResponse resp = MAE__PB__SERVICE_RESPONSE__INIT;
    Mae__Pb__Any any = MAE__PB__ANY__INIT;
    resp.success = success;
    if (error) resp.error = (char *)error;
    if (success) {
        if (mae__grpc_any_pack_json(data, &any) != 0) return NULL;
        resp.data = &any;
    }
    *len = mae__pb__service_response__get_packed_size(&resp);
    char *buf = malloc(*len ? *len : 1);
    if (buf) mae__pb__service_response__pack(&resp, (uint8_t *)buf);
    if (success) mae__grpc_any_clear(&any);
    return buf;
}

static const char *find_header(const mae_header_kv *h, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(h[i].name, name) == 0) return h[i].value;
    return NULL;
}

static void on_call(mae_grpc_scall *call, const char *path, const uint8_t *msg, size_t len,
                    const mae_header_kv *headers, size_t n_headers, void *ud) {
    mae_stub_http *hs = ud;
    mae_stub_service *svc = hs->svc;
    if (hs->typed) {
        mae__stub_typed_call(hs, call, path, msg, len, headers, n_headers);
        return;
    }
    if (strcmp(path, MAE_GRPC_ENVELOPE_PATH) != 0) {
        mae__stub_log(hs->stub, svc->name, "grpc", path, 0, NULL, MAE_GRPC_UNIMPLEMENTED, NULL);
        mae__grpc_server_fail(call, MAE_GRPC_UNIMPLEMENTED, "the stub serves only the Maestro envelope", NULL, 0);
        return;
    }
    Mae__Pb__ServiceRequest *req = mae__pb__service_request__unpack(NULL, len, msg);
    if (!req) {
        mae__grpc_server_fail(call, MAE_GRPC_INTERNAL, "cannot decode ServiceRequest", NULL, 0);
        return;
    }
    cJSON *input = NULL;
    if (req->payload && mae__grpc_any_to_json(req->payload->type_url, req->payload->value.data,
                                             req->payload->value.len, &input) != 0) {
        mae__pb__service_request__free_unpacked(req, NULL);
        mae__grpc_server_fail(call, MAE_GRPC_INVALID_ARGUMENT, "payload is not a Struct or Value", NULL, 0);
        return;
    }
    if (!cJSON_IsObject(input)) {   /* a non-object payload is .request.value */
        cJSON *w = cJSON_CreateObject();
        if (input) cJSON_AddItemToObject(w, "value", input);
        input = w;
    }
    const char *key = find_header(headers, n_headers, "idempotency-key");
    mae_stub_route *route = NULL;
    for (size_t i = 0; i < svc->n_routes && !route; i++)
        if (strcmp(svc->routes[i].key, req->method) == 0) route = &svc->routes[i];
    if (!route) {
        char m[300];
        snprintf(m, sizeof m, "stub service '%s' has no method '%.200s'", svc->name, req->method);
        mae__stub_log(hs->stub, svc->name, "grpc", req->method, 0, input, MAE_GRPC_UNIMPLEMENTED, key);
        mae__grpc_server_fail(call, MAE_GRPC_UNIMPLEMENTED, m, NULL, 0);
        goto out;
    }
    route->calls++;
    const mae_stub_behavior *b = &route->b;
    if (b->hang) {
        mae__stub_log(hs->stub, svc->name, "grpc", route->key, route->calls, input, -1, key);
        goto out;   /* never answered; freed when the client cancels or leaves */
    }
    if (mae__stub_should_fail(route)) {
        const char *why = b->fail_message ? b->fail_message : "injected failure";
        if (b->fail_app) {
            size_t n;
            char *bytes = pack_response(false, NULL, why, &n);
            mae__stub_log(hs->stub, svc->name, "grpc", route->key, route->calls, input, 0, key);
            answer(hs, call, bytes ? 0 : MAE_GRPC_INTERNAL, bytes ? bytes : strdup("pack failed"), n, -1, b->delay_ms);
        } else {
            int code = b->fail_grpc > 0 ? b->fail_grpc : MAE_GRPC_UNAVAILABLE;
            mae__stub_log(hs->stub, svc->name, "grpc", route->key, route->calls, input, code, key);
            answer(hs, call, code, strdup(why), strlen(why),
                   b->retry_after_s >= 0 ? b->retry_after_s * 1000 : -1, b->delay_ms);
        }
        goto out;
    }
    char m[600];
    cJSON *reply = mae__stub_render(route, input, route->calls, m, sizeof m);
    if (!reply) {
        mae__stub_log(hs->stub, svc->name, "grpc", route->key, route->calls, input, MAE_GRPC_INTERNAL, key);
        answer(hs, call, MAE_GRPC_INTERNAL, strdup(m), strlen(m), -1, 0);
        goto out;
    }
    size_t n = 0;
    char *bytes = pack_response(true, reply, NULL, &n);
    cJSON_Delete(reply);
    mae__stub_log(hs->stub, svc->name, "grpc", route->key, route->calls, input, 0, key);
    if (!bytes) answer(hs, call, MAE_GRPC_INTERNAL, strdup("cannot encode the reply"), 23, -1, 0);
    else answer(hs, call, 0, bytes, n, -1, b->delay_ms);
out:
    cJSON_Delete(input);
    mae__pb__service_request__free_unpacked(req, NULL);
}

int mae__stub_grpc_start(mae_stub *s, mae_stub_http *hs) {
    mae_grpc_server_handler h = {on_call, on_abort, hs};
    mae_grpc_server *srv = NULL;
    int rc = mae__grpc_server_new(s->loop, hs->svc->host, hs->svc->port, NULL, &h, &srv);
    hs->grpc = srv;
    return rc;
}

int mae__stub_grpc_port(const mae_stub_http *hs) {
    return hs->grpc ? mae__grpc_server_port(hs->grpc) : -1;
}

void mae__stub_grpc_close(mae_stub_http *hs, void (*done)(void *), void *ud) {
    mae_grpc_server *srv = hs->grpc;
    hs->grpc = NULL;
    mae__grpc_server_close(srv, done, ud);
}
