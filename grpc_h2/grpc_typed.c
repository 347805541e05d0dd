/* Typed gRPC calls (see grpc_typed.h): refcounted descriptors and the per-call typed codec. */
#include "grpc_h2/grpc_typed.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc_h2/grpc_target.h"
#include "maestro/maestro.h"

struct mae__typed_desc {
    int refs;
    mae__pb_pool *pool;
    char *origin;
};

int mae__typed_desc_new(mae__pb_pool *pool, const char *origin, mae__typed_desc **out) {
    *out = NULL;
    mae__typed_desc *d = calloc(1, sizeof *d);
    char *o = strdup(origin ? origin : "");
    if (!d || !o) {
        free(d);
        free(o);
        mae__pb_pool_free(pool);
        return MAE_ENOMEM;
    }
    d->refs = 1;
    d->pool = pool;
    d->origin = o;
    *out = d;
    return 0;
}

mae__typed_desc *mae__typed_desc_ref(mae__typed_desc *d) {
    if (d) d->refs++;
    return d;
}

void mae__typed_desc_unref(mae__typed_desc *d) {
    if (!d || --d->refs > 0) return;
    mae__pb_pool_free(d->pool);
    free(d->origin);
    free(d);
}

const mae__pb_pool *mae__typed_desc_pool(const mae__typed_desc *d) { return d ? d->pool : NULL; }
const char *mae__typed_desc_origin(const mae__typed_desc *d) { return d ? d->origin : ""; }

int mae__typed_desc_load(const char *path, mae__typed_desc **out, char *err, size_t cap) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, cap, "cannot open descriptor set %s: %s", path, strerror(errno));
        return MAE_EIO;
    }
    /* At most one byte past the cap is read, so a huge file is refused without reading it. */
    size_t n = 0, want = MAE__TYPED_MAX_SET + 1, have = 0;
    uint8_t *buf = NULL;
    for (;;) {
        if (n == have) {
            size_t ncap = have ? have * 2 : 64 * 1024;
            if (ncap > want) ncap = want;
            if (ncap == have) break;
            uint8_t *p = realloc(buf, ncap);
            if (!p) {
                free(buf);
                fclose(f);
                snprintf(err, cap, "out of memory reading %s", path);
                return MAE_ENOMEM;
            }
            buf = p;
            have = ncap;
        }
        size_t r = fread(buf + n, 1, have - n, f);
        if (r == 0) break;
        n += r;
    }
    int ferr = ferror(f);
    fclose(f);
    if (ferr) {
        free(buf);
        snprintf(err, cap, "cannot read descriptor set %s", path);
        return MAE_EIO;
    }
    if (n > MAE__TYPED_MAX_SET) {
        free(buf);
        snprintf(err, cap, "descriptor set %s is larger than %u MiB", path, MAE__TYPED_MAX_SET >> 20);
        return MAE_ETOOBIG;
    }
    mae__pb_pool *pool;
    int rc = mae__pb_pool_new(&pool);
    if (rc < 0) {
        free(buf);
        snprintf(err, cap, "out of memory");
        return rc;
    }
    char why[400] = "";
    rc = mae__pb_pool_add_set(pool, buf, n, why, sizeof why);
    free(buf);
    if (rc == 0) rc = mae__pb_pool_link(pool, why, sizeof why);
    if (rc < 0) {
        /* the usual cause: protoc run without --include_imports */
        bool missing = mae__pb_pool_missing(pool, NULL, 0) > 0 || strstr(why, "missing");
        mae__pb_pool_free(pool);
        snprintf(err, cap, "descriptor set %s: %s%s", path, why[0] ? why : mae_strerror(rc),
                 missing ? " (build the set with protoc --include_imports)" : "");
        return rc;
    }
    char origin[300];
    snprintf(origin, sizeof origin, "descriptor set %s", path);
    rc = mae__typed_desc_new(pool, origin, out);
    if (rc < 0) snprintf(err, cap, "out of memory");
    return rc;
}

const mae__pb_method *mae__typed_method(const mae__typed_desc *d, const char *name, char *err,
                                        size_t cap) {
    const mae__pb_method *m = mae__pb_pool_method(d->pool, name, err, cap);
    if (!m) return NULL;
    if (m->client_streaming) {
        snprintf(err, cap, "%s is a %s method: only unary and server-streaming methods can be called",
                 m->path + 1, m->server_streaming ? "bidirectional-streaming" : "client-streaming");
        return NULL;
    }
    return m;
}

/* ---- the codec ---- */

typedef struct typed_codec {
    mae_grpc_codec base;
    mae__typed_desc *d;              /* a reference */
    const mae__pb_method *m;
    size_t max_out;                  /* bound on a decoded reply's JSON (0 = none) */
    char err[512];                   /* the last encode or decode failure */
} typed_codec;

static int ty_path(const mae_grpc_codec *c, const mae_call_req *req, char *buf, size_t cap) {
    const typed_codec *tc = c->data;
    size_t n = strlen(tc->m->path);
    if (n + 1 > cap) return MAE_ETOOBIG;
    memcpy(buf, tc->m->path, n + 1);
    return 0;
}

static int ty_encode(const mae_grpc_codec *c, const mae_call_req *req, uint8_t **msg, size_t *len) {
    typed_codec *tc = c->data;
    tc->err[0] = 0;
    /* No `input:` sends the empty message. */
    cJSON *none = req->input ? NULL : cJSON_CreateObject();
    if (!req->input && !none) return MAE_ENOMEM;
    int rc = mae__pb_encode(tc->m->input, req->input ? req->input : none, 5, msg, len, tc->err,
                            sizeof tc->err);
    cJSON_Delete(none);
    if (rc == MAE_ETEMPLATE && !tc->err[0])
        snprintf(tc->err, sizeof tc->err, "input does not fit %s", mae__pb_msg_name(tc->m->input));
    return rc;
}

static int ty_decode(const mae_grpc_codec *c, const uint8_t *msg, size_t len, mae_grpc_reply *out) {
    typed_codec *tc = c->data;
    memset(out, 0, sizeof *out);
    tc->err[0] = 0;
    return mae__pb_decode(tc->m->output, msg, len, tc->max_out, &out->output, tc->err, sizeof tc->err);
}

int mae__grpc_typed_codec_new(mae__typed_desc *d, const char *name, size_t max_out,
                              mae_grpc_codec **out, char *err, size_t cap) {
    *out = NULL;
    const mae__pb_method *m = mae__typed_method(d, name, err, cap);
    if (!m) return MAE_EINVAL;
    typed_codec *tc = calloc(1, sizeof *tc);
    if (!tc) {
        snprintf(err, cap, "out of memory");
        return MAE_ENOMEM;
    }
    tc->d = mae__typed_desc_ref(d);
    tc->m = m;
    tc->max_out = max_out;
    tc->base = (mae_grpc_codec){
        .name = "typed", .path = ty_path, .encode = ty_encode, .decode = ty_decode, .data = tc,
        .server_streaming = m->server_streaming};
    *out = &tc->base;
    return 0;
}

void mae__grpc_typed_codec_free(mae_grpc_codec *c) {
    if (!c) return;
    typed_codec *tc = c->data;
    mae__typed_desc_unref(tc->d);
    free(tc);
}

const char *mae__grpc_typed_error(const mae_grpc_codec *c) {
    return mae__grpc_codec_is_typed(c) ? ((const typed_codec *)c->data)->err : "";
}

bool mae__grpc_codec_is_typed(const mae_grpc_codec *c) { return c && c->path == ty_path; }

const mae__pb_method *mae__grpc_typed_codec_method(const mae_grpc_codec *c) {
    return mae__grpc_codec_is_typed(c) ? ((const typed_codec *)c->data)->m : NULL;
}

const mae__pb_pool *mae__grpc_typed_codec_pool(const mae_grpc_codec *c) {
    return mae__grpc_codec_is_typed(c) ? ((const typed_codec *)c->data)->d->pool : NULL;
}
