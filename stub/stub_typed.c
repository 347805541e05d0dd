/* Typed gRPC methods and server reflection for `maestro stub` (stub_typed.h). The descriptor
 * set is kept twice: linked into a pb pool (requests and replies go through the proto3 JSON
 * codec) and as the serialized files it holds, indexed by name and by the symbols they
 * declare, which is what reflection answers with (each file with the files it imports). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc_h2/grpc_codec.h"
#include "grpc_h2/pb.h"
#include "stub/stub_typed.h"
#include "maestro/maestro.h"
#include "maestro/internal/descriptor.pb-c.h"
#include "maestro/internal/reflection.pb-c.h"

#define REFLECT_V1 "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
#define REFLECT_V1ALPHA "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
#define MAX_REQUEST_JSON (4u << 20)   /* decoded request, for {{ .request }} */
#define MAX_STREAM_REPLY (64u << 20)  /* the messages of one server-streaming reply */

typedef struct tfile {
    char *name;
    const uint8_t *bytes;        /* into set */
    size_t len;
    char **dep_names;            /* the files it imports, as named */
    size_t n_dep_names;
    size_t *deps;                /* indexes of those in the set */
    size_t n_deps;
} tfile;

typedef struct tsym {
    char *name;                  /* full name: package.Message, package.Service.Method, ... */
    size_t file;
} tsym;

struct mae_stub_typed {
    mae__pb_pool *pool;
    uint8_t *set;
    size_t set_len;
    tfile *files;
    size_t n_files;
    tsym *syms;
    size_t n_syms, cap_syms;
    char **services;             /* full names, once each */
    size_t n_services;
    const mae__pb_method **methods;  /* per route of the service */
};

void mae__stub_typed_free(mae_stub_typed *t) {
    if (!t) return;
    mae__pb_pool_free(t->pool);
    for (size_t i = 0; i < t->n_files; i++) {
        free(t->files[i].name);
        for (size_t d = 0; d < t->files[i].n_dep_names; d++) free(t->files[i].dep_names[d]);
        free(t->files[i].dep_names);
        free(t->files[i].deps);
    }
    for (size_t i = 0; i < t->n_syms; i++) free(t->syms[i].name);
    for (size_t i = 0; i < t->n_services; i++) free(t->services[i]);
    free(t->files);
    free(t->syms);
    free(t->services);
    free(t->methods);
    free(t->set);
    free(t);
}

/* ---- Loading ---- */

static int read_file(const char *path, uint8_t **out, size_t *len) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return MAE_EIO;
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    int rc = 0;
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n, fp);
        n += r;
        if (r == 0) break;
        if (n == cap) {
            if (cap > MAE__STUB_MAX_DESCRIPTORS) {
                rc = MAE_ETOOBIG;
                break;
            }
            uint8_t *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
            } else {
                buf = nb;
            }
        }
    }
    if (ferror(fp) && rc == 0) rc = MAE_EIO;
    fclose(fp);
    if (!buf) return MAE_ENOMEM;
    if (rc < 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    *len = n;
    return 0;
}

static bool varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
    *v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return true;
    }
    return false;
}

/* The serialized FileDescriptorProtos of a FileDescriptorSet (field 1), as slices of it. */
static int split_set(mae_stub_typed *t) {
    const uint8_t *p = t->set, *end = t->set + t->set_len;
    while (p < end) {
        uint64_t key, len;
        if (!varint(&p, end, &key)) return MAE_EDECODE;
        switch (key & 7) {
        case 0:
            if (!varint(&p, end, &len)) return MAE_EDECODE;
            continue;
        case 1: len = 8; break;
        case 5: len = 4; break;
        case 2:
            if (!varint(&p, end, &len)) return MAE_EDECODE;
            break;
        default: return MAE_EDECODE;
        }
        if (len > (uint64_t)(end - p)) return MAE_EDECODE;
        if ((key >> 3) == 1 && (key & 7) == 2) {
            if (t->n_files == MAE__PB_MAX_FILES) return MAE_ELIMIT;
            tfile *nf = realloc(t->files, (t->n_files + 1) * sizeof *nf);
            if (!nf) return MAE_ENOMEM;
            t->files = nf;
            t->files[t->n_files++] = (tfile){.bytes = p, .len = (size_t)len};
        }
        p += len;
    }
    return 0;
}

static int add_sym(mae_stub_typed *t, const char *pkg, const char *scope, const char *name,
                   size_t file) {
    if (t->n_syms == t->cap_syms) {
        size_t cap = t->cap_syms ? t->cap_syms * 2 : 64;
        tsym *ns = realloc(t->syms, cap * sizeof *ns);
        if (!ns) return MAE_ENOMEM;
        t->syms = ns;
        t->cap_syms = cap;
    }
    size_t n = strlen(pkg) + strlen(scope) + strlen(name) + 3;
    char *full = malloc(n);
    if (!full) return MAE_ENOMEM;
    snprintf(full, n, "%s%s%s%s%s", pkg, *pkg && (*scope || *name) ? "." : "", scope,
             *scope ? "." : "", name);
    t->syms[t->n_syms++] = (tsym){full, file};
    return 0;
}

static const char *nz(const char *s) { return s ? s : ""; }

static int add_enum_syms(mae_stub_typed *t, const char *pkg, const char *scope,
                         Mae__Pb__EnumDescriptorProto *const *e, size_t n, size_t file) {
    for (size_t i = 0; i < n; i++)
        if (add_sym(t, pkg, scope, nz(e[i]->name), file) < 0) return MAE_ENOMEM;
    return 0;
}

static int add_msg_syms(mae_stub_typed *t, const char *pkg, const char *scope,
                        Mae__Pb__DescriptorProto *const *m, size_t n, size_t file, int depth) {
    if (depth > MAE__PB_MAX_DEPTH) return MAE_ELIMIT;
    for (size_t i = 0; i < n; i++) {
        if (add_sym(t, pkg, scope, nz(m[i]->name), file) < 0) return MAE_ENOMEM;
        size_t sl = strlen(scope) + strlen(nz(m[i]->name)) + 2;
        char *inner = malloc(sl);
        if (!inner) return MAE_ENOMEM;
        snprintf(inner, sl, "%s%s%s", scope, *scope ? "." : "", nz(m[i]->name));
        int rc = add_msg_syms(t, pkg, inner, m[i]->nested_type, m[i]->n_nested_type, file,
                              depth + 1);
        if (rc == 0) rc = add_enum_syms(t, pkg, inner, m[i]->enum_type, m[i]->n_enum_type, file);
        free(inner);
        if (rc < 0) return rc;
    }
    return 0;
}

static int add_service(mae_stub_typed *t, const char *full) {
    for (size_t i = 0; i < t->n_services; i++)
        if (strcmp(t->services[i], full) == 0) return 0;
    char **ns = realloc(t->services, (t->n_services + 1) * sizeof *ns);
    if (!ns) return MAE_ENOMEM;
    t->services = ns;
    if (!(ns[t->n_services] = strdup(full))) return MAE_ENOMEM;
    t->n_services++;
    return 0;
}

/* Names, symbols and imports of every file (the pool already accepted the set). */
static int index_files(mae_stub_typed *t) {
    for (size_t f = 0; f < t->n_files; f++) {
        Mae__Pb__FileDescriptorProto *fd =
            mae__pb__file_descriptor_proto__unpack(NULL, t->files[f].len, t->files[f].bytes);
        if (!fd) return MAE_EDECODE;
        const char *pkg = nz(fd->package);
        tfile *tf = &t->files[f];
        int rc = (tf->name = strdup(nz(fd->name))) ? 0 : MAE_ENOMEM;
        if (rc == 0) rc = add_msg_syms(t, pkg, "", fd->message_type, fd->n_message_type, f, 0);
        if (rc == 0) rc = add_enum_syms(t, pkg, "", fd->enum_type, fd->n_enum_type, f);
        for (size_t s = 0; rc == 0 && s < fd->n_service; s++) {
            const Mae__Pb__ServiceDescriptorProto *sd = fd->service[s];
            rc = add_sym(t, pkg, "", nz(sd->name), f);
            if (rc == 0) rc = add_service(t, t->syms[t->n_syms - 1].name);
            for (size_t m = 0; rc == 0 && m < sd->n_method; m++)
                rc = add_sym(t, pkg, nz(sd->name), nz(sd->method[m]->name), f);
        }
        if (rc == 0 && fd->n_dependency) {
            tf->dep_names = calloc(fd->n_dependency, sizeof *tf->dep_names);
            if (!tf->dep_names) rc = MAE_ENOMEM;
        }
        for (size_t d = 0; rc == 0 && d < fd->n_dependency; d++) {
            if (!(tf->dep_names[d] = strdup(nz(fd->dependency[d])))) rc = MAE_ENOMEM;
            else tf->n_dep_names++;
        }
        mae__pb__file_descriptor_proto__free_unpacked(fd, NULL);
        if (rc < 0) return rc;
    }
    /* Imports as indexes, now that every file has its name (the pool checked they resolve). */
    for (size_t f = 0; f < t->n_files; f++) {
        tfile *tf = &t->files[f];
        if (!tf->n_dep_names) continue;
        if (!(tf->deps = calloc(tf->n_dep_names, sizeof *tf->deps))) return MAE_ENOMEM;
        for (size_t d = 0; d < tf->n_dep_names; d++)
            for (size_t g = 0; g < t->n_files; g++)
                if (strcmp(t->files[g].name, tf->dep_names[d]) == 0) {
                    tf->deps[tf->n_deps++] = g;
                    break;
                }
    }
    return 0;
}

int mae__stub_typed_load(mae_stub_http *hs, char *err, size_t cap) {
    const mae_stub_service *svc = hs->svc;
    mae_stub_typed *t = calloc(1, sizeof *t);
    if (!t) return MAE_ENOMEM;
    char why[256] = "";
    int rc = read_file(svc->descriptors, &t->set, &t->set_len);
    if (rc < 0) {
        snprintf(err, cap, "service '%s': descriptors: cannot read %s: %s", svc->name,
                 svc->descriptors, rc == MAE_EIO ? "no such file or unreadable" : mae_strerror(rc));
        goto fail;
    }
    rc = mae__pb_pool_new(&t->pool);
    if (rc == 0) rc = mae__pb_pool_add_set(t->pool, t->set, t->set_len, why, sizeof why);
    if (rc == 0) rc = mae__pb_pool_link(t->pool, why, sizeof why);
    if (rc == 0) rc = split_set(t);
    if (rc == 0) rc = index_files(t);
    if (rc < 0) {
        snprintf(err, cap, "service '%s': descriptors %s: %s", svc->name, svc->descriptors,
                 why[0] ? why : mae_strerror(rc));
        goto fail;
    }
    t->methods = calloc(svc->n_routes ? svc->n_routes : 1, sizeof *t->methods);
    if (!t->methods) {
        rc = MAE_ENOMEM;
        snprintf(err, cap, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < svc->n_routes; i++) {
        const mae__pb_method *m = mae__pb_pool_method(t->pool, svc->routes[i].key, why, sizeof why);
        if (!m) {
            rc = MAE_EINVAL;
            snprintf(err, cap, "service '%s': method '%s': %s", svc->name, svc->routes[i].key, why);
            goto fail;
        }
        if (m->client_streaming) {
            rc = MAE_EINVAL;
            snprintf(err, cap, "service '%s': method '%s' is %s-streaming: the stub serves unary "
                     "and server-streaming typed methods", svc->name, svc->routes[i].key,
                     m->server_streaming ? "bidirectional" : "client");
            goto fail;
        }
        for (size_t j = 0; j < i; j++)
            if (t->methods[j] == m) {
                rc = MAE_EINVAL;
                snprintf(err, cap, "service '%s': methods '%s' and '%s' are the same method %s",
                         svc->name, svc->routes[j].key, svc->routes[i].key, m->path);
                goto fail;
            }
        t->methods[i] = m;
    }
    hs->typed = t;
    return 0;
fail:
    mae__stub_typed_free(t);
    return rc;
}

void mae__stub_typed_serve(mae_stub_http *hs) {
    mae_grpc_stream_handler sh = {mae__stub_typed_is_reflection, mae__stub_typed_reflect, hs};
    mae__grpc_server_set_streams(hs->grpc, &sh);
}

int mae__stub_typed_check(mae_stub_service *svc, char *err, size_t cap) {
    mae_stub_http hs = {.svc = svc};
    int rc = mae__stub_typed_load(&hs, err, cap);
    mae__stub_typed_free(hs.typed);
    return rc;
}

/* ---- Typed calls ---- */

static const char *find_header(const mae_header_kv *h, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(h[i].name, name) == 0) return h[i].value;
    return NULL;
}

static void fail_now(mae_stub_http *hs, mae_grpc_scall *call, int code, const char *msg) {
    char *m = strdup(msg);
    mae__stub_grpc_answer(hs, call, code, m, m ? strlen(m) : 0, -1, 0);
}

/* A server-streaming reply: `respond` is the array of messages, each encoded and framed. */
static int encode_stream(const mae__pb_msg *m, const cJSON *reply, uint8_t **out, size_t *len,
                         char *why, size_t cap) {
    if (!cJSON_IsArray(reply)) {
        snprintf(why, cap, "a server-streaming method's respond must be an array of messages");
        return MAE_ETEMPLATE;
    }
    uint8_t *frames = NULL;
    size_t n = 0;
    int i = 0;
    for (const cJSON *el = reply->child; el; el = el->next, i++) {
        uint8_t *one;
        size_t ol;
        char sub[400];
        int rc = mae__pb_encode(m, el, 5, &one, &ol, sub, sizeof sub);
        if (rc == 0 && (ol > UINT32_MAX || n + ol + 5 > MAX_STREAM_REPLY)) {
            free(one);
            snprintf(sub, sizeof sub, "the messages exceed %u bytes", MAX_STREAM_REPLY);
            rc = MAE_ELIMIT;
        }
        uint8_t *nf = rc == 0 ? realloc(frames, n + ol + 5) : NULL;
        if (rc == 0 && !nf) {
            free(one);
            rc = MAE_ENOMEM;
            snprintf(sub, sizeof sub, "out of memory");
        }
        if (rc < 0) {
            snprintf(why, cap, "[%d]: %s", i, sub);
            free(frames);
            return rc;
        }
        frames = nf;
        mae__grpc_frame_prefix(one, false, (uint32_t)ol);
        memcpy(frames + n, one, ol + 5);
        n += ol + 5;
        free(one);
    }
    *out = frames;
    *len = n;
    return 0;
}

void mae__stub_typed_call(mae_stub_http *hs, mae_grpc_scall *call, const char *path,
                          const uint8_t *msg, size_t len, const mae_header_kv *headers,
                          size_t n_headers) {
    mae_stub_typed *t = hs->typed;
    mae_stub_service *svc = hs->svc;
    mae_stub_route *route = NULL;
    const mae__pb_method *m = NULL;
    for (size_t i = 0; i < svc->n_routes && !route; i++)
        if (strcmp(t->methods[i]->path, path) == 0) {
            route = &svc->routes[i];
            m = t->methods[i];
        }
    if (!route) {
        char e[400];
        snprintf(e, sizeof e, "stub service '%s' has no method %.300s", svc->name, path);
        mae__stub_log(hs->stub, svc->name, "grpc", path, 0, NULL, MAE_GRPC_UNIMPLEMENTED, NULL);
        fail_now(hs, call, MAE_GRPC_UNIMPLEMENTED, e);
        return;
    }
    const char *key = find_header(headers, n_headers, "idempotency-key");
    char why[512];
    cJSON *input = NULL;
    if (mae__pb_decode(m->input, msg, len, MAX_REQUEST_JSON, &input, why, sizeof why) < 0) {
        char e[600];
        snprintf(e, sizeof e, "request is not a valid %s: %s", mae__pb_msg_name(m->input), why);
        mae__stub_log(hs->stub, svc->name, "grpc", route->key, route->calls, NULL,
                      MAE_GRPC_INVALID_ARGUMENT, key);
        fail_now(hs, call, MAE_GRPC_INVALID_ARGUMENT, e);
        return;
    }
    route->calls++;
    const mae_stub_behavior *b = &route->b;
    if (b->hang) {
        mae__stub_log(hs->stub, svc->name, "grpc", route->key, route->calls, input, -1, key);
        cJSON_Delete(input);
        return;  /* never answered; freed when the client cancels or leaves */
    }
    if (mae__stub_should_fail(route)) {
        const char *msgtxt = b->fail_message ? b->fail_message : "injected failure";
        int code = b->fail_grpc > 0 ? b->fail_grpc : MAE_GRPC_UNAVAILABLE;
        mae__stub_log(hs->stub, svc->name, "grpc", route->key, route->calls, input, code, key);
        char *dup = strdup(msgtxt);
        mae__stub_grpc_answer(hs, call, code, dup, dup ? strlen(dup) : 0,
                              b->retry_after_s >= 0 ? b->retry_after_s * 1000 : -1, b->delay_ms);
        cJSON_Delete(input);
        return;
    }
    char e[600];
    cJSON *reply = mae__stub_render(route, input, route->calls, e, sizeof e);
    uint8_t *out = NULL;
    size_t olen = 0;
    int rc = !reply ? -1
             : m->server_streaming ? encode_stream(m->output, reply, &out, &olen, why, sizeof why)
                                   : mae__pb_encode(m->output, reply, 0, &out, &olen, why, sizeof why);
    cJSON_Delete(reply);
    if (rc < 0) {
        if (reply) snprintf(e, sizeof e, "stub reply is not a valid %s%s: %s",
                            m->server_streaming ? "stream of " : "", mae__pb_msg_name(m->output),
                            why);
        mae__stub_log(hs->stub, svc->name, "grpc", route->key, route->calls, input,
                      MAE_GRPC_INTERNAL, key);
        fail_now(hs, call, MAE_GRPC_INTERNAL, e);
    } else {
        mae__stub_log(hs->stub, svc->name, "grpc", route->key, route->calls, input, 0, key);
        if (m->server_streaming) mae__stub_grpc_answer_frames(hs, call, out, olen, b->delay_ms);
        else mae__stub_grpc_answer(hs, call, 0, (char *)out, olen, -1, b->delay_ms);
    }
    cJSON_Delete(input);
}

/* ---- Reflection ---- */

bool mae__stub_typed_is_reflection(const char *path, void *ud) {
    return strcmp(path, REFLECT_V1) == 0 || strcmp(path, REFLECT_V1ALPHA) == 0;
}

static const tsym *find_sym(const mae_stub_typed *t, const char *name) {
    for (size_t i = 0; i < t->n_syms; i++)
        if (strcmp(t->syms[i].name, name) == 0) return &t->syms[i];
    return NULL;
}

static size_t find_file(const mae_stub_typed *t, const char *name) {
    for (size_t i = 0; i < t->n_files; i++)
        if (strcmp(t->files[i].name, name) == 0) return i;
    return SIZE_MAX;
}

/* The file, then every file it imports, directly or not (each once). */
static int file_closure(const mae_stub_typed *t, size_t f, Mae__Pb__ReflectionFileDescriptors *out,
                        ProtobufCBinaryData *slots, bool *seen) {
    size_t stack_n = 0;
    size_t *stack = malloc(t->n_files * sizeof *stack);
    if (!stack) return MAE_ENOMEM;
    stack[stack_n++] = f;
    seen[f] = true;
    while (stack_n) {
        size_t g = stack[--stack_n];
        slots[out->n_file_descriptor_proto++] = (ProtobufCBinaryData){t->files[g].len,
                                                                      (uint8_t *)t->files[g].bytes};
        for (size_t d = 0; d < t->files[g].n_deps; d++) {
            size_t h = t->files[g].deps[d];
            if (!seen[h]) {
                seen[h] = true;
                stack[stack_n++] = h;
            }
        }
    }
    free(stack);
    out->file_descriptor_proto = slots;
    return 0;
}

int mae__stub_typed_reflect(const char *path, const uint8_t *msg, size_t len, uint8_t **reply,
                            size_t *reply_len, void *ud) {
    mae_stub_http *hs = ud;
    mae_stub_typed *t = hs->typed;
    Mae__Pb__ReflectionRequest *req = mae__pb__reflection_request__unpack(NULL, len, msg);
    if (!req) return MAE_GRPC_INVALID_ARGUMENT;
    Mae__Pb__ReflectionResponse r = MAE__PB__REFLECTION_RESPONSE__INIT;
    Mae__Pb__ReflectionFileDescriptors files = MAE__PB__REFLECTION_FILE_DESCRIPTORS__INIT;
    Mae__Pb__ReflectionServiceList list = MAE__PB__REFLECTION_SERVICE_LIST__INIT;
    Mae__Pb__ReflectionError error = MAE__PB__REFLECTION_ERROR__INIT;
    Mae__Pb__ReflectionServiceName *names = calloc(t->n_services + 1, sizeof *names);
    Mae__Pb__ReflectionServiceName **name_ptrs = calloc(t->n_services + 1, sizeof *name_ptrs);
    ProtobufCBinaryData *slots = calloc(t->n_files + 1, sizeof *slots);
    bool *seen = calloc(t->n_files + 1, sizeof *seen);
    int code = 0;
    char emsg[400];
    if (!names || !name_ptrs || !slots || !seen) {
        code = MAE_GRPC_RESOURCE_EXHAUSTED;
        goto out;
    }
    r.valid_host = req->host;
    r.original_request = req;
    size_t f = SIZE_MAX;
    switch (req->message_request_case) {
    case MAE__PB__REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES:
        for (size_t i = 0; i < t->n_services; i++) {
            mae__pb__reflection_service_name__init(&names[i]);
            names[i].name = t->services[i];
            name_ptrs[i] = &names[i];
        }
        list.n_service = t->n_services;
        list.service = name_ptrs;
        r.message_response_case = MAE__PB__REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE;
        r.list_services_response = &list;
        break;
    case MAE__PB__REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME:
        f = find_file(t, req->file_by_filename);
        if (f == SIZE_MAX) snprintf(emsg, sizeof emsg, "file not found: %.300s", req->file_by_filename);
        break;
    case MAE__PB__REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL: {
        const tsym *s = find_sym(t, req->file_containing_symbol);
        if (s) f = s->file;
        else snprintf(emsg, sizeof emsg, "symbol not found: %.300s", req->file_containing_symbol);
        break;
    }
    default:
        snprintf(emsg, sizeof emsg, "the stub answers list_services, file_by_filename and "
                 "file_containing_symbol");
        error.error_code = MAE_GRPC_UNIMPLEMENTED;
        break;
    }
    if (r.message_response_case == 0 && f != SIZE_MAX) {
        if (file_closure(t, f, &files, slots, seen) < 0) {
            code = MAE_GRPC_RESOURCE_EXHAUSTED;
            goto out;
        }
        r.message_response_case = MAE__PB__REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE;
        r.file_descriptor_response = &files;
    } else if (r.message_response_case == 0) {
        if (!error.error_code) error.error_code = MAE_GRPC_NOT_FOUND;
        error.error_message = emsg;
        r.message_response_case = MAE__PB__REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE;
        r.error_response = &error;
    }
    *reply_len = mae__pb__reflection_response__get_packed_size(&r);
    *reply = malloc(*reply_len ? *reply_len : 1);
    if (!*reply) code = MAE_GRPC_RESOURCE_EXHAUSTED;
    else mae__pb__reflection_response__pack(&r, *reply);
out:
    free(names);
    free(name_ptrs);
    free(slots);
    free(seen);
    mae__pb__reflection_request__free_unpacked(req, NULL);
    return code;
}
