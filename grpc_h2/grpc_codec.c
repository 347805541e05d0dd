/* The sans-I/O gRPC codec (see grpc_codec.h): framing, timeouts, statuses, status mappings. */
#include "grpc_h2/grpc_codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc_h2/grpc_compress.h"
#include "maestro/maestro.h"
#include "transports/transport.h"
#include "transports/wire.h"

/* ---- Length-prefixed messages ---- */

void mae__grpc_deframer_init(mae_grpc_deframer *d, size_t max) {
    memset(d, 0, sizeof *d);
    d->max = max;
}

void mae__grpc_deframer_free(mae_grpc_deframer *d) {
    free(d->buf);
    d->buf = NULL;
    d->buf_len = d->buf_cap = 0;
}

bool mae__grpc_deframer_partial(const mae_grpc_deframer *d) {
    return d->hdr_len > 0 || d->in_body;
}

static int deliver(mae_grpc_deframer *d, mae_grpc_msg_cb cb, void *ud) {
    uint8_t *msg = d->buf;
    size_t len = d->buf_len;
    d->buf = NULL;
    d->buf_len = d->buf_cap = 0;
    d->in_body = false;
    d->hdr_len = 0;
    d->n_msgs++;
    return cb(ud, d->compressed, msg, len);
}

int mae__grpc_deframer_feed(mae_grpc_deframer *d, const uint8_t *p, size_t len, mae_grpc_msg_cb cb,
                           void *ud) {
    while (len > 0 || (d->in_body && d->buf_len == d->msg_len)) {
        if (!d->in_body) {
            size_t take = 5 - d->hdr_len;
            if (take > len) take = len;
            memcpy(d->hdr + d->hdr_len, p, take);
            d->hdr_len += take;
            p += take;
            len -= take;
            if (d->hdr_len < 5) return 0;
            if (d->hdr[0] > 1) return MAE_EPROTO;
            d->compressed = d->hdr[0] == 1;
            d->msg_len = (uint32_t)d->hdr[1] << 24 | (uint32_t)d->hdr[2] << 16 |
                         (uint32_t)d->hdr[3] << 8 | d->hdr[4];
            /* Checked before any allocation: the peer's prefix must not size our buffers. */
            if (d->msg_len > d->max) {
                d->announced = d->msg_len;
                return MAE_ELIMIT;
            }
            d->in_body = true;
            d->buf_len = 0;
            continue;
        }
        if (d->buf_len == d->msg_len) {
            int rc = deliver(d, cb, ud);
            if (rc < 0) return rc;
            continue;
        }
        size_t want = d->msg_len - d->buf_len;
        size_t take = want < len ? want : len;
        if (d->buf_len + take > d->buf_cap) {
            /* Grow with what arrived, not with what was announced. */
            size_t cap = d->buf_cap ? d->buf_cap * 2 : 256;
            while (cap < d->buf_len + take) cap *= 2;
            if (cap > d->msg_len) cap = d->msg_len;
            uint8_t *nb = realloc(d->buf, cap);
            if (!nb) return MAE_ENOMEM;
            d->buf = nb;
            d->buf_cap = cap;
        }
        memcpy(d->buf + d->buf_len, p, take);
        d->buf_len += take;
        p += take;
        len -= take;
    }
    return 0;
}

void mae__grpc_frame_prefix(uint8_t out[5], bool compressed, uint32_t len) {
    out[0] = compressed ? 1 : 0;
    out[1] = (uint8_t)(len >> 24);
    out[2] = (uint8_t)(len >> 16);
    out[3] = (uint8_t)(len >> 8);
    out[4] = (uint8_t)len;
}

/* ---- grpc-timeout ---- */

static const struct { char unit; uint64_t ns; } units[] = {
    {'n', 1}, {'u', 1000}, {'m', 1000000}, {'S', 1000000000ull},
    {'M', 60ull * 1000000000ull}, {'H', 3600ull * 1000000000ull},
};

size_t mae__grpc_timeout_encode(uint64_t ns, char buf[10]) {
    if (ns == 0) ns = 1;
    for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
        uint64_t v = ns / units[i].ns + (ns % units[i].ns != 0);
        if (v > 99999999u) continue;
        /* Digits written by hand: this runs for every call, and snprintf costs ~900 insns. */
        char tmp[8];
        size_t n = 0;
        do tmp[n++] = (char)('0' + v % 10); while ((v /= 10) != 0);
        for (size_t k = 0; k < n; k++) buf[k] = tmp[n - 1 - k];
        buf[n] = units[i].unit;
        buf[n + 1] = 0;
        return n + 1;
    }
    /* Beyond 99999999 hours: say the maximum. */
    memcpy(buf, "99999999H", 10);
    return 9;
}

int mae__grpc_timeout_parse(const char *s, size_t len, uint64_t *ns) {
    if (len < 2 || len > 9) return MAE_EPARSE;
    uint64_t v = 0;
    for (size_t i = 0; i + 1 < len; i++) {
        if (s[i] < '0' || s[i] > '9') return MAE_EPARSE;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    for (size_t i = 0; i < sizeof units / sizeof *units; i++)
        if (units[i].unit == s[len - 1]) {
            *ns = v * units[i].ns;  /* 99999999 H fits in 64 bits */
            return 0;
        }
    return MAE_EPARSE;
}

/* ---- Status ---- */

int mae__grpc_status_parse(const uint8_t *v, size_t len) {
    if (len == 0 || len > 9) return MAE_GRPC_UNKNOWN;
    long n = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9') return MAE_GRPC_UNKNOWN;
        n = n * 10 + (v[i] - '0');
    }
    return n <= MAE_GRPC_UNAUTHENTICATED ? (int)n : MAE_GRPC_UNKNOWN;
}

/* grpc-message is percent-encoded (printable ASCII but '%' kept): the one codec of wire.h. */
size_t mae__grpc_message_decode(const uint8_t *in, size_t len, char *out, size_t cap) {
    if (cap == 0) return 0;
    return mae__pct_decode_to((const char *)in, len, false, out, cap);
}

char *mae__grpc_message_encode(const char *in, size_t len) {
    char *out = malloc(len * 3 + 1);
    if (out) mae__pct_encode(in, len, MAE_PCT_PRINTABLE, out);
    return out;
}

int mae__grpc_from_http_status(int s) {
    switch (s) {
    case 400: return MAE_GRPC_INTERNAL;
    case 401: return MAE_GRPC_UNAUTHENTICATED;
    case 403: return MAE_GRPC_PERMISSION_DENIED;
    case 404: return MAE_GRPC_UNIMPLEMENTED;
    case 429: case 502: case 503: case 504: return MAE_GRPC_UNAVAILABLE;
    default: return MAE_GRPC_UNKNOWN;
    }
}

int mae__grpc_from_h2_error(uint32_t e, bool *not_an_attempt) {
    *not_an_attempt = false;
    switch (e) {
    case 0x7: *not_an_attempt = true; return MAE_GRPC_UNAVAILABLE;   /* REFUSED_STREAM */
    case 0x8: return MAE_GRPC_CANCELLED;                             /* CANCEL */
    case 0xb: return MAE_GRPC_RESOURCE_EXHAUSTED;                    /* ENHANCE_YOUR_CALM */
    case 0xc: return MAE_GRPC_PERMISSION_DENIED;                     /* INADEQUATE_SECURITY */
    /* NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR, SETTINGS_TIMEOUT,
     * STREAM_CLOSED, FRAME_SIZE_ERROR, COMPRESSION_ERROR, CONNECT_ERROR and unknown codes. */
    default: return MAE_GRPC_INTERNAL;
    }
}

/* ---- Response metadata ---- */

void mae__grpc_resp_free(mae_grpc_resp *r) {
    free(r->details);
    r->details = NULL;
    r->details_len = 0;
    free(r->message);
    r->message = NULL;
    r->message_len = 0;
}

void mae__grpc_resp_init(mae_grpc_resp *r) {
    memset(r, 0, sizeof *r);
    r->grpc_status = -1;
    r->pushback_ms = -1;
    r->encoding_identity = true;
}

static bool name_is(const uint8_t *n, size_t nlen, const char *lit) {
    return nlen == strlen(lit) && memcmp(n, lit, nlen) == 0;
}

static bool grpc_content_type(const uint8_t *v, size_t len) {
    static const char ct[] = "application/grpc";
    size_t n = sizeof ct - 1;
    if (len < n || memcmp(v, ct, n) != 0) return false;
    return len == n || v[n] == '+' || v[n] == ';';
}

/* Binary metadata is base64, padded or not (the gRPC HTTP/2 protocol); standard alphabet, and
 * the URL-safe one accepted. Returns the decoded length or -1. out holds at least len bytes. */
static long b64_decode(const uint8_t *in, size_t len, uint8_t *out) {
    while (len && in[len - 1] == '=') len--;
    uint32_t acc = 0;
    int bits = 0;
    long n = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t ch = in[i];
        int v = ch >= 'A' && ch <= 'Z' ? ch - 'A' : ch >= 'a' && ch <= 'z' ? ch - 'a' + 26
              : ch >= '0' && ch <= '9' ? ch - '0' + 52 : ch == '+' || ch == '-' ? 62
              : ch == '/' || ch == '_' ? 63 : -1;
        if (v < 0) return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (uint8_t)(acc >> bits);
        }
    }
    return len % 4 == 1 ? -1 : n;
}

int mae__grpc_resp_field(mae_grpc_resp *r, bool trailers, const uint8_t *name, size_t nlen,
                        const uint8_t *value, size_t vlen) {
    r->header_bytes += nlen + vlen + 32;
    if (r->header_bytes > MAE_GRPC_MAX_HEADER_BYTES) return MAE_ELIMIT;
    if (name_is(name, nlen, ":status")) {
        int s = 0;
        if (vlen != 3) s = -1;
        for (size_t i = 0; i < vlen && s >= 0; i++)
            s = (value[i] >= '0' && value[i] <= '9') ? s * 10 + (value[i] - '0') : -1;
        r->http_status = s > 0 ? s : 999;
    } else if (name_is(name, nlen, "content-type")) {
        r->content_type_seen = true;
        r->content_type_grpc = grpc_content_type(value, vlen);
    } else if (name_is(name, nlen, "grpc-encoding")) {
        r->encoding_identity = name_is(value, vlen, "identity");
        r->encoding = (int)mae__grpc_encoding_parse(value, vlen);
    } else if (name_is(name, nlen, "grpc-status")) {
        /* Only trailers (or Trailers-Only) carry the status. */
        if (trailers) r->grpc_status = mae__grpc_status_parse(value, vlen);
    } else if (name_is(name, nlen, "grpc-message")) {
        if (!trailers) return 0;
        /* Decoding never grows the text: vlen + 1 bytes (capped) always suffice. */
        size_t cap = vlen + 1 < MAE_GRPC_MAX_STATUS_MSG ? vlen + 1 : MAE_GRPC_MAX_STATUS_MSG;
        char *m = malloc(cap);
        if (!m) return MAE_ENOMEM;
        free(r->message);
        r->message = m;
        r->message_len = mae__grpc_message_decode(value, vlen, m, cap);
    } else if (name_is(name, nlen, "grpc-status-details-bin")) {
        if (!trailers) return 0;
        uint8_t *d = malloc(vlen + 1);
        if (!d) return MAE_ENOMEM;
        long n = b64_decode(value, vlen, d);
        free(r->details);
        r->details = n < 0 ? NULL : d;
        r->details_len = n < 0 ? 0 : (size_t)n;
        if (n < 0) free(d);
    } else if (name_is(name, nlen, "grpc-retry-pushback-ms")) {
        int64_t v = 0;
        if (vlen == 0 || vlen > 12) v = -1;
        for (size_t i = 0; i < vlen && v >= 0; i++)
            v = (value[i] >= '0' && value[i] <= '9') ? v * 10 + (value[i] - '0') : -1;
        r->pushback_ms = v;
        r->pushback_stop = v < 0;
    }
    return 0;
}

void mae__grpc_resp_outcome(const mae_grpc_resp *r, uint32_t h2_error, uint64_t n_msgs,
                           bool partial, mae_grpc_outcome *out) {
    memset(out, 0, sizeof *out);
    bool have_status = r->saw_trailers && r->grpc_status >= 0 && r->http_status == 200;
    if (h2_error != 0 && !have_status) {
        out->code = mae__grpc_from_h2_error(h2_error, &out->not_an_attempt);
        out->message = out->not_an_attempt ? "stream refused by the server (RST_STREAM)"
                                           : "stream reset by the server (RST_STREAM)";
        return;
    }
    if (r->http_status == 0) {
        out->code = MAE_GRPC_INTERNAL;
        out->message = "stream closed without response headers";
        return;
    }
    if (r->http_status != 200) {
        out->code = mae__grpc_from_http_status(r->http_status);
        out->message = "non-200 HTTP status from a gRPC server";
        return;
    }
    if (!r->content_type_grpc) {
        out->code = MAE_GRPC_UNKNOWN;
        out->message = r->content_type_seen ? "response content-type is not application/grpc"
                                            : "response has no content-type";
        return;
    }
    if (!r->saw_trailers) {
        out->code = MAE_GRPC_INTERNAL;
        out->message = "server closed the stream without sending trailers";
        return;
    }
    if (r->grpc_status < 0) {
        out->code = MAE_GRPC_UNKNOWN;
        out->message = "no grpc-status in trailers";
        return;
    }
    if (r->grpc_status != 0) {
        out->code = r->grpc_status;
        out->message = r->message ? r->message : "";
        return;
    }
    if (partial) {
        out->code = MAE_GRPC_INTERNAL;
        out->message = "reply message cut short by the end of the stream";
    } else if (n_msgs != 1) {
        out->code = MAE_GRPC_INTERNAL;
        out->message = n_msgs == 0 ? "unary reply held no message" : "unary reply held several messages";
    } else {
        out->code = MAE_GRPC_OK;
        out->message = "";
    }
}
