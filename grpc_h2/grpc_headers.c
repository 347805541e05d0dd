/* The request headers of a gRPC call (grpc_client_int.h): what a call keeps of them while it
 * is queued, and the list handed to nghttp2 when it is submitted. Pure: no libuv, no sockets. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "grpc_h2/grpc_client_int.h"
#include "grpc_h2/grpc_compress.h"
#include "maestro/maestro.h"
#include "transports/wire.h"

static bool reserved_header(const char *n) {
    static const char *const r[] = {"content-type", "te", "user-agent", "grpc-timeout", "host",
                                    "connection", "keep-alive", "proxy-connection",
                                    "transfer-encoding", "upgrade", "idempotency-key",
                                    "traceparent", "grpc-encoding", "grpc-accept-encoding"};
    for (size_t i = 0; i < sizeof r / sizeof *r; i++)
        if (strcasecmp(n, r[i]) == 0) return true;
    return false;
}

/* The request's header list, in this order (tests/test_grpc_session.c checks it). A queued call
 * keeps only the headers of its own (path, grpc-encoding, the two unique ones, the service's
 * and step's headers) packed into hdr_store; the nghttp2_nv list (40 bytes a header) is built
 * when the call is submitted, with the constants and the pool's authority handed to nghttp2
 * without a copy. A burst of 10,000 calls all wait queued while the connections open (issue
 * #15: memory per in-flight call). The two headers unique to each call are sent never-indexed:
 * inserting them into the HPACK table would cost both sides work and evict the headers that
 * repeat (docs/workflow-language.md#grpc-calls-on-the-wire). */
enum { H_METHOD, H_SCHEME, H_PATH, H_AUTHORITY, H_CTYPE, H_TE, H_UA, H_TIMEOUT, H_ENCODING,
       H_ACCEPT, H_IDEM, H_TRACE, H_FIXED, H_CUSTOM = H_FIXED };
_Static_assert(H_FIXED == MAE__GRPC_FIXED_HEADERS, "grpc_client_int.h counts them");
#define HNAME(s) {s, sizeof s - 1}
static const struct { const char *s; size_t len; } hnames[H_FIXED] = {
    HNAME(":method"), HNAME(":scheme"), HNAME(":path"), HNAME(":authority"),
    HNAME("content-type"), HNAME("te"), HNAME("user-agent"), HNAME("grpc-timeout"),
    HNAME("grpc-encoding"), HNAME("grpc-accept-encoding"), HNAME("idempotency-key"),
    HNAME("traceparent"),
};
#undef HNAME

/* hdr_store: entries of one byte (the header's H_ index, H_CUSTOM for the others), then for
 * H_CUSTOM the lower-cased name and a NUL, then the value and a NUL; n_nv counts them. */
int mae__grpc_headers_pack(mae_call *c, const mae_call_req *req, const char *path) {
    const char *own[H_FIXED] = {[H_PATH] = path, [H_ENCODING] = req->service->compression,
                                [H_IDEM] = req->idempotency_key, [H_TRACE] = req->traceparent};
    size_t total = 0;
    for (size_t i = 0; i < H_FIXED; i++)
        if (own[i]) total += strlen(own[i]) + 2;
    for (size_t i = 0; i < req->n_headers; i++) {
        const mae_header_kv *h = &req->headers[i];
        if (!h->name || !h->value) return MAE_EINVAL;
        if (h->name[0] == ':') continue;  /* pseudo-headers are ours: dropped */
        if (!mae__header_name_ok(h->name) || !mae__header_value_ok(h->value)) return MAE_EINVAL;
        /* Binary metadata travels base64-encoded: the value must already be that. */
        if (mae__header_is_bin(h->name) && !mae__header_bin_value_ok(h->value)) return MAE_EINVAL;
        total += strlen(h->name) + strlen(h->value) + 3;
    }
    char *o = c->hdr_store = malloc(total + 1);
    if (!o) return MAE_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < H_FIXED; i++) {
        if (!own[i]) continue;
        size_t vl = strlen(own[i]);
        *o++ = (char)i;
        memcpy(o, own[i], vl + 1);
        o += vl + 1;
        n++;
    }
    for (size_t i = 0; i < req->n_headers; i++) {
        const mae_header_kv *h = &req->headers[i];
        if (h->name[0] == ':' || reserved_header(h->name)) continue;
        size_t nl = strlen(h->name), vl = strlen(h->value);
        *o++ = (char)H_CUSTOM;
        for (size_t k = 0; k < nl; k++) o[k] = (char)tolower((unsigned char)h->name[k]);
        o[nl] = 0;
        memcpy(o + nl + 1, h->value, vl + 1);
        o += nl + vl + 2;
        n++;
    }
    c->n_nv = n;
    return 0;
}

/* The full list for nghttp2 (which copies it at submit) into nv, room for H_FIXED + c->n_nv;
 * grpc-timeout is what is left now, after the wait in the queue (tbuf holds it). */
size_t mae__grpc_headers_list(const mae_call *c, const mae__gpool *p, uint64_t now, char tbuf[10],
                              nghttp2_nv *nv) {
    enum { REF = NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE,
           COPY = NGHTTP2_NV_FLAG_NO_COPY_NAME, UNIQUE = NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_INDEX };
#define CONST_NV(i, v) nv[n++] = (nghttp2_nv){(uint8_t *)hnames[i].s, (uint8_t *)(v), hnames[i].len, sizeof v - 1, REF}
    size_t n = 0;
    const char *q = c->hdr_store;
    size_t left = c->n_nv;
    for (int i = 0; i < H_FIXED; i++) {
        switch (i) {
        case H_METHOD: CONST_NV(i, "POST"); continue;
        case H_SCHEME:
            if (p->tls) CONST_NV(i, "https");
            else CONST_NV(i, "http");
            continue;
        case H_AUTHORITY:
            nv[n++] = (nghttp2_nv){(uint8_t *)hnames[i].s, (uint8_t *)p->authority, hnames[i].len,
                                   strlen(p->authority), REF};
            continue;
        case H_CTYPE: CONST_NV(i, "application/grpc"); continue;
        case H_TE: CONST_NV(i, "trailers"); continue;
        case H_UA: CONST_NV(i, "maestro/" MAE_VERSION); continue;
        case H_ACCEPT: CONST_NV(i, MAE_GRPC_ACCEPT_ENCODING); continue;
        case H_TIMEOUT:
            if (c->deadline) {
                size_t tl = mae__grpc_timeout_encode((c->deadline - now) * 1000000, tbuf);
                nv[n++] = (nghttp2_nv){(uint8_t *)hnames[i].s, (uint8_t *)tbuf, hnames[i].len, tl, COPY};
            }
            continue;
        default:
            break;
        }
        /* one of the call's own: the next stored entry when it is this one */
        if (left > 0 && (unsigned char)*q == i) {
            size_t vl = strlen(q + 1);
            nv[n++] = (nghttp2_nv){(uint8_t *)hnames[i].s, (uint8_t *)q + 1, hnames[i].len, vl,
                                   i == H_IDEM || i == H_TRACE ? UNIQUE : COPY};
            q += vl + 2;
            left--;
        }
    }
#undef CONST_NV
    for (; left > 0; left--) {
        size_t nl = strlen(q + 1), vl = strlen(q + nl + 2);
        nv[n++] = (nghttp2_nv){(uint8_t *)q + 1, (uint8_t *)q + nl + 2, nl, vl, NGHTTP2_NV_FLAG_NONE};
        q += nl + vl + 3;
    }
    return n;
}
