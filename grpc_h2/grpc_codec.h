/* The sans-I/O gRPC codec: 5-byte message framing, grpc-timeout, grpc-status/grpc-message,
 * response header/trailer interpretation and the HTTP-status and RST_STREAM → gRPC mappings.
 * Pure functions over (const uint8_t *, size_t): no libuv, no nghttp2 session, no sockets.
 * Everything here is peer input: bounded, never asserted on. */
#ifndef MAE_GRPC_CODEC_H
#define MAE_GRPC_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAE_GRPC_DEFAULT_MAX_MSG (4u * 1024 * 1024)
/* grpc-message is kept up to this many (decoded) bytes; the rest is cut, never an error. */
#define MAE_GRPC_MAX_STATUS_MSG 8192
/* Total bytes of response header and trailer fields accepted per stream. */
#define MAE_GRPC_MAX_HEADER_BYTES (64 * 1024)

/* ---- Length-prefixed messages ---- */

/* Called once per complete message; takes ownership of msg (malloc'd, len bytes; msg may be
 * NULL when len == 0). Returning < 0 stops the feed with that error. */
typedef int (*mae_grpc_msg_cb)(void *ud, bool compressed, uint8_t *msg, size_t len);

typedef struct mae_grpc_deframer {
    uint8_t hdr[5];
    size_t hdr_len;          /* bytes of the current prefix seen (0..5) */
    bool in_body;            /* prefix complete, collecting the body */
    bool compressed;
    uint32_t msg_len;        /* length announced by the prefix */
    uint8_t *buf;            /* body so far; grows towards msg_len, never past it */
    size_t buf_len, buf_cap;
    size_t max;              /* largest accepted message */
    uint64_t n_msgs;         /* complete messages delivered */
    uint64_t announced;      /* length the last rejected prefix announced (for messages) */
} mae_grpc_deframer;

void mae__grpc_deframer_init(mae_grpc_deframer *d, size_t max);
/* Feeds bytes (any split). Returns 0, MAE_ELIMIT when a prefix announces more than max (checked
 * before any allocation; d->announced holds the length), MAE_EPROTO for a flag byte other than
 * 0/1, MAE_ENOMEM, or the callback's error. After an error the deframer must not be fed again. */
int mae__grpc_deframer_feed(mae_grpc_deframer *d, const uint8_t *p, size_t len, mae_grpc_msg_cb cb,
                           void *ud);
/* True when a message is partly received (the stream ended mid-message). */
bool mae__grpc_deframer_partial(const mae_grpc_deframer *d);
void mae__grpc_deframer_free(mae_grpc_deframer *d);

/* Writes the 5-byte prefix for a message of len bytes. */
void mae__grpc_frame_prefix(uint8_t out[5], bool compressed, uint32_t len);

/* ---- grpc-timeout ---- */

/* Encodes a timeout in at most 8 digits with the finest unit that fits (n u m S M H), rounding
 * up. buf needs 10 bytes. Returns the length. A zero timeout encodes as "1n". */
size_t mae__grpc_timeout_encode(uint64_t ns, char buf[10]);
/* Strict parse: 1-8 digits then one unit. Returns 0 or MAE_EPARSE. */
int mae__grpc_timeout_parse(const char *s, size_t len, uint64_t *ns);

/* ---- Status ---- */

/* grpc-status: digits only (1..9 of them) in 0..16, anything else is UNKNOWN (2). */
int mae__grpc_status_parse(const uint8_t *v, size_t len);
/* Percent-decodes grpc-message into out (capacity cap, NUL-terminated, cut at cap-1 bytes).
 * Never fails: a malformed %XX is kept literally. Returns the decoded length. */
size_t mae__grpc_message_decode(const uint8_t *in, size_t len, char *out, size_t cap);
/* Percent-encodes for sending (bytes outside 0x20..0x7e and '%'). Returns malloc'd string. */
char *mae__grpc_message_encode(const char *in, size_t len);

/* HTTP status of a response without grpc-status → gRPC code (gRPC's http-grpc-status-mapping). */
int mae__grpc_from_http_status(int http_status);
/* RST_STREAM / stream-close error code → gRPC code, per PROTOCOL-HTTP2.md. *not_an_attempt is
 * set for REFUSED_STREAM (no processing happened). */
int mae__grpc_from_h2_error(uint32_t h2_error, bool *not_an_attempt);

/* ---- Response metadata of one unary call ---- */

typedef struct mae_grpc_resp {
    int http_status;          /* 0 = none yet */
    bool saw_headers;         /* the first HEADERS block ended */
    bool saw_trailers;        /* a second block (or a Trailers-Only first block) ended */
    bool content_type_grpc;   /* application/grpc, application/grpc+x or application/grpc;... */
    bool content_type_seen;
    bool encoding_identity;   /* grpc-encoding absent or "identity" */
    int grpc_status;          /* -1 = none */
    char *message;            /* decoded grpc-message (malloc'd), NULL = none */
    size_t message_len;
    int64_t pushback_ms;      /* grpc-retry-pushback-ms; -1 = none or not a number */
    bool pushback_stop;       /* grpc-retry-pushback-ms negative or malformed: gRPC's "do not
                                 retry" (A6); a number of more than 12 digits counts as malformed */
    size_t header_bytes;      /* total, bounded by MAE_GRPC_MAX_HEADER_BYTES */
    uint8_t *details;         /* grpc-status-details-bin of the trailers, base64-decoded
                                 (a google.rpc.Status, malloc'd); NULL = none or not base64 */
    size_t details_len;
} mae_grpc_resp;

void mae__grpc_resp_init(mae_grpc_resp *r);
void mae__grpc_resp_free(mae_grpc_resp *r);
/* One received field. trailers: the field belongs to the trailing block (or a Trailers-Only
 * response). Returns 0, MAE_ELIMIT once header bytes pass the bound, or MAE_ENOMEM. */
int mae__grpc_resp_field(mae_grpc_resp *r, bool trailers, const uint8_t *name, size_t nlen,
                        const uint8_t *value, size_t vlen);

/* How a unary call ended, from the codec's point of view. */
typedef struct mae_grpc_outcome {
    int code;                 /* gRPC code; 0 = OK (exactly one message received) */
    const char *message;      /* points into resp or a static string */
    bool not_an_attempt;
} mae_grpc_outcome;

/* Decides the call's status once the stream closed. h2_error is the stream's close error code
 * (0 = closed cleanly with END_STREAM), n_msgs the messages received, partial whether one was
 * cut short. Order: complete trailers with grpc-status win; then RST_STREAM; then a non-200
 * :status; a non-gRPC content-type; a missing grpc-status; then the message count. */
void mae__grpc_resp_outcome(const mae_grpc_resp *r, uint32_t h2_error, uint64_t n_msgs,
                           bool partial, mae_grpc_outcome *out);

#endif
