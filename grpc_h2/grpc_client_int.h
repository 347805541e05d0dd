/* Internals shared by the gRPC client's two halves: grpc_conn.c (one HTTP/2 connection: TCP,
 * the nghttp2 session driven by mem_recv/mem_send, per-stream response handling) and
 * grpc_transport.c (the transport vtable, calls, per-endpoint pools, the local queue, timers).
 * Not a public API. */
#ifndef MAE_GRPC_CLIENT_INT_H
#define MAE_GRPC_CLIENT_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <nghttp2/nghttp2.h>
#include <uv.h>

#include "grpc_h2/grpc_codec.h"
#include "grpc_h2/grpc_msgcodec.h"
#include "grpc_h2/grpc_keepalive.h"
#include "grpc_h2/grpc_tls.h"
#include "transports/happy.h"
#include "transports/transport.h"

/* Intrusive doubly linked list. */
typedef struct mae__gq {
    struct mae__gq *prev, *next;
} mae__gq;
static inline void mae__gq_init(mae__gq *q) { q->prev = q->next = q; }
static inline bool mae__gq_empty(const mae__gq *q) { return q->next == q; }
static inline void mae__gq_push(mae__gq *q, mae__gq *e) {
    e->prev = q->prev; e->next = q; q->prev->next = e; q->prev = e;
}
static inline void mae__gq_remove(mae__gq *e) {
    e->prev->next = e->next; e->next->prev = e->prev; e->prev = e->next = e;
}
#define MAE__GQ_ITEM(p, type, field) ((type *)((char *)(p) - offsetof(type, field)))

#define MAE__GRPC_STREAM_WINDOW (8 * 1024 * 1024)
#define MAE__GRPC_CONN_WINDOW (32 * 1024 * 1024)
#define MAE__GRPC_MAX_POOL 64
#define MAE__GRPC_HANDSHAKE_MS 10000
#define MAE__GRPC_MAX_ADDRS MAE__HAPPY_MAX_ADDRS /* resolved addresses raced per connection */
#define MAE__GRPC_WRITE_HIGH (4 * 1024 * 1024)  /* stop producing frames past this backlog */
#define MAE__GRPC_WBUF_KEEP (64 * 1024)         /* a write buffer above this is freed when idle */

typedef struct mae__gtransport mae__gtransport;
typedef struct mae__gpool mae__gpool;
typedef struct mae__gconn mae__gconn;

typedef enum { MAE__CALL_QUEUED, MAE__CALL_ACTIVE, MAE__CALL_DONE } mae__call_state;

/* What a stream (grpc_stream.h) adds to a call; freed with the call. */
typedef struct mae__gstream {
    int (*on_msg)(void *ud, const uint8_t *msg, size_t len);
    size_t body_cap;             /* of the call's body: the queue of framed messages to send */
    bool half_closed;            /* END_STREAM once the queue is sent */
    bool deferred;               /* nghttp2 waits for data: resume it on send/half-close */
    bool delivering;             /* inside on_msg: a cancel waits until it returns */
    bool cancel_pending;
} mae__gstream;

struct mae_call {
    mae__gtransport *t;
    mae__gpool *pool;
    mae__gconn *conn;            /* while ACTIVE */
    int32_t stream_id;
    mae__gq link;                /* in pool->queue (QUEUED) or conn->calls (ACTIVE) */
    mae__call_state state;
    /* In t->timed while the transport times the call itself (no caller_deadline), else alone.
     * Once DONE, link is in t->delivering until the result is delivered. */
    mae__gq dl_link;
    mae_call_cb cb;
    void *ud;
    const mae_grpc_codec *codec;
    uint64_t deadline;           /* uv_now() value; 0 = none */
    uint8_t *body;               /* 5-byte prefix + message */
    size_t body_len, body_off;
    nghttp2_nv *nv;              /* during mae__conn_submit only: the request headers */
    size_t n_nv;                 /* until then: the entries in hdr_store */
    char *hdr_store;             /* the call's own request headers until submitted */
    mae_grpc_resp resp;
    mae_grpc_deframer df;
    uint8_t *reply;              /* the first (only) reply message */
    size_t reply_len;
    /* codec->server_streaming: the decoded messages so far, and the bytes they took on the
     * wire (prefixes included), bounded by df.max in total. */
    cJSON *stream_out;
    uint64_t stream_bytes;
    mae_class stream_fail;       /* why the stream was cut (MAE_CLASS_NONE: by the peer) */
    /* A stream opened with grpc_stream.h (NULL for a call): body is its send queue, each
     * received message goes to its callback. */
    struct mae__gstream *sx;
    bool sent;                   /* HEADERS went out: the service may have seen the call */
    mae_call_result res;
    char *res_msg;               /* owned text behind res.message */
    cJSON *res_details;          /* owned value behind res.details */
};

typedef enum { MAE__CONN_RESOLVING, MAE__CONN_CONNECTING, MAE__CONN_READY, MAE__CONN_DRAINING,
               MAE__CONN_CLOSING } mae__conn_state;

struct mae__gconn {
    mae__gpool *pool;
    mae__gq link;                /* in pool->conns */
    mae__conn_state state;
    uv_tcp_t tcp;
    bool has_tcp;                /* false for sessions fed by tests/fuzzers without a socket */
    uv_timer_t hs_timer;         /* bounds connect + the server's first SETTINGS; once READY,
                                    the keepalive timer */
    mae__ka ka;                  /* keepalive, on uv_now's clock */
    int refs;                    /* handles and requests still to close; the last frees it */
    bool gai_pending;
    uv_getaddrinfo_t gai;
    /* Racing the addresses (Happy Eyeballs, transports/happy.h) until one connects; the winner's
     * socket is opened into tcp. Within the handshake bound. NULL when not racing. */
    mae__happy *happy;
    nghttp2_session *ng;
    mae__gq calls;               /* ACTIVE calls on this connection */
    uint32_t n_streams;          /* streams nghttp2 has open (incl. ones we reset) */
    int in_recv;                 /* inside nghttp2 callbacks: closing is deferred */
    bool close_pending;
    size_t write_backlog;        /* bytes handed to uv_write and not yet completed */
    /* Sending: mae__conn_flush only marks the connection dirty; the transport's prepare handle
     * flushes every dirty connection once per loop iteration, so the frames of all the calls
     * started in one tick leave in one write. wbuf is reused between flushes and is owned by
     * the connection; while a uv_write of it is in flight (writing) nothing more is produced:
     * on_write marks the connection dirty again. */
    mae__gq dirty_link;          /* in t->dirty while dirty */
    bool dirty;
    bool writing;
    uint8_t *wbuf;
    size_t wcap;
    uv_write_t wreq;
    char err[128];               /* nghttp2's last error message, or the last address's connect error */
    /* grpcs: the TLS layer between the socket and the session (NULL for h2c). The session starts
     * once the handshake is complete; cbuf holds the ciphertext of the write in flight. */
    mae__tls *tls;
    uint8_t *cbuf;
    size_t ccap;
    bool tls_busy, free_later;   /* socketless: closed inside mae__conn_recv_tls, freed after */
    /* A socketless (sans-I/O) connection's output, see mae__conn_new_detached: the session
     * tests read the frames here, the fuzzer passes NULL (dropped). */
    void (*sink)(void *ud, const uint8_t *p, size_t len);
    void *sink_ud;
};

struct mae__gpool {
    mae__gtransport *t;
    mae__gq link;                /* in t->pools */
    char *endpoint;              /* as configured */
    /* What the pool is looked up by, besides the endpoint: the TLS and keepalive settings as
     * configured, compared field by field on every call (no key string built per call). */
    bool key_tls, key_insecure;
    uint64_t key_ka_ms, key_ka_timeout_ms;
    char *key_files[4];          /* ca_file, cert_file, key_file, server_name; NULL = unset */
    bool tls;                    /* grpcs:// or a `tls:` mapping */
    mae__tls_ctx *tls_ctx;       /* NULL with tls set: tls_err says why connections fail */
    char *tls_name;              /* verified and sent as SNI: tls.server_name, else the host */
    char *tls_err;
    bool tls_client_cert;        /* a client certificate is configured (for messages) */
    uint64_t ka_ms, ka_timeout_ms; /* keepalive PING after ka_ms of silence; 0 = off. Doubled
                                      by each GOAWAY ENHANCE_YOUR_CALM */
    int calms;                   /* GOAWAY ENHANCE_YOUR_CALM received: the reconnect backoff */
    char *host, *authority;
    int port;
    int max_conns;
    size_t max_msg;
    mae__gq conns;
    mae__gq queue;               /* QUEUED calls, oldest first */
    uv_timer_t backoff;
    bool backoff_active;
    int fails;                   /* consecutive failed connects */
};

struct mae__gtransport {
    mae_transport pub;
    uv_loop_t *loop;
    mae__gq pools;
    int n_handles;               /* open handles and pending requests we own */
    bool closing;
    uv_timer_t keepalive;        /* never started: makes close() always finish asynchronously */
    /* Results are handed out from this timer's callback (a later loop iteration, never from
     * inside start() or cancel()): one handle for every call instead of a timer each. */
    uv_timer_t deliver;
    mae__gq delivering;          /* DONE calls waiting for it, in the order they finished */
    /* The calls whose deadline the transport keeps itself (the caller does not), earliest
     * first, and one timer armed for the first of them. */
    uv_timer_t deadlines;
    mae__gq timed;
    int n_calls;                 /* started and not yet delivered */
    bool timers_closed;
    uint64_t handshake_ms;       /* connect + SETTINGS bound; default MAE__GRPC_HANDSHAKE_MS */
    uv_prepare_t flusher;        /* runs before each poll while t->dirty is not empty */
    mae__gq dirty;               /* connections with frames to send */
    unsigned long n_flush_writes; /* socket flushes (one try_write [+ one uv_write] each) */
    /* The read buffer of every connection of this transport: libuv calls alloc_cb then read_cb
     * before the next alloc_cb, and read_cb consumes the bytes, so one buffer per transport
     * (per loop) is enough; connections do not each pay 64 KiB. */
    char rbuf[65536];
    uint8_t pbuf[65536];         /* the plaintext TLS connections decrypt rbuf into */
    void (*done)(void *ud);
    void *done_ud;
};

/* grpc_transport.c */
/* The pool for the service's endpoint, created on first use. Returns 0, MAE_EINVAL (bad
 * endpoint) or MAE_ENOMEM. */
int mae__pool_get(mae__gtransport *t, const mae_svc_cfg *svc, mae__gpool **out);
/* Starts a call: with codec, the request it encodes on the codec's path; with sx (taken, freed
 * on failure) a stream on spath with nothing queued to send yet. Returns 0 or a negative MAE_E*
 * (no callback). */
int mae__gcall_start(mae__gtransport *t, const mae_call_req *req, const mae_grpc_codec *codec,
                    const char *spath, mae__gstream *sx, mae_call_cb cb, void *ud,
                    mae_call **out);
void mae__call_finish(mae_call *c, mae_class cls, int status, const char *msg);
void mae__call_complete_stream(mae_call *c, uint32_t h2_error);
/* One complete reply message of a stream or a server-streaming call (takes msg). Returns 0, or a
 * negative MAE_E* that stops the deframer: MAE_ECANCELED when the call is already finished
 * (reset and failed here), another code for the caller to fail the call with. */
int mae__call_message(mae_call *call, bool compressed, uint8_t *msg, size_t len);
void mae__pool_dispatch(mae__gpool *p);
/* The server sent GOAWAY ENHANCE_YOUR_CALM: new connections wait (a growing backoff) and the
 * pool's keepalive interval doubles; queued calls stay queued. */
void mae__pool_calm(mae__gpool *p);
/* A connection attempt failed: starts the reconnect backoff and, when no other connection can
 * take them, fails the queued calls with MAE_CLASS_CONNECT. Call before closing `failed`. */
void mae__pool_conn_failed(mae__gpool *p, mae__gconn *failed, const char *why);
void mae__handle_closed(mae__gtransport *t);

/* grpc_headers.c */
/* The headers every request has a place for (pseudo-headers, content-type, te, user-agent,
 * grpc-timeout, grpc-encoding, grpc-accept-encoding, idempotency-key, traceparent). */
#define MAE__GRPC_FIXED_HEADERS 12
/* Packs what c sends of its own (path, grpc-encoding, idempotency-key, traceparent, req's
 * headers, validated) into c->hdr_store and c->n_nv. Returns 0, MAE_EINVAL or MAE_ENOMEM. */
int mae__grpc_headers_pack(mae_call *c, const mae_call_req *req, const char *path);
/* c's whole header list into nv (room for MAE__GRPC_FIXED_HEADERS + c->n_nv), borrowing from
 * hdr_store, p's authority and tbuf (the grpc-timeout left at now). Returns how many. */
size_t mae__grpc_headers_list(const mae_call *c, const mae__gpool *p, uint64_t now, char tbuf[10],
                              nghttp2_nv *nv);

/* grpc_conn.c */
/* Starts a connection for the pool (resolving, then connecting). Returns 0 or MAE_ENOMEM. */
int mae__conn_open(mae__gpool *p);
/* Starts a connection racing the addresses (Happy Eyeballs: at most MAE__GRPC_MAX_ADDRS,
 * families alternating from the first's, a new attempt every 250 ms or when one fails): what
 * mae__conn_open does once the name is resolved; tests give the list themselves. Returns 0,
 * MAE_EINVAL (n < 1) or MAE_ENOMEM. */
int mae__conn_open_addrs(mae__gpool *p, const struct sockaddr *const *addrs, int n);
/* A connection without a socket, for tests and fuzzers: bytes come in via mae__conn_recv,
 * bytes out go to sink. It becomes READY when the server's SETTINGS are fed. */
int mae__conn_new_detached(mae__gpool *p, void (*sink)(void *, const uint8_t *, size_t),
                           void *sink_ud, mae__gconn **out);
/* The same over TLS (the pool's TLS context): bytes fed with mae__conn_recv_tls are ciphertext,
 * sink gets ciphertext, starting with the ClientHello sent now; the session starts when the
 * handshake is complete. The connection may be gone on return (a failed start): check
 * p->conns. Returns 0, MAE_EINVAL (a pool without TLS) or MAE_ENOMEM. */
int mae__conn_new_detached_tls(mae__gpool *p, void (*sink)(void *, const uint8_t *, size_t),
                               void *sink_ud, mae__gconn **out);
/* Sets up the nghttp2 session (after connect, or directly for tests). */
int mae__conn_session_init(mae__gconn *c);
/* Opens a stream for the call. Returns 0 or a negative MAE_E*. */
int mae__conn_submit(mae__gconn *c, mae_call *call);
/* Resets the call's stream with CANCEL and detaches the call. */
void mae__conn_reset_call(mae__gconn *c, mae_call *call);
/* Fails every call on it with the class and closes it. */
void mae__conn_fail(mae__gconn *c, mae_class cls, int status, const char *msg);
void mae__conn_close(mae__gconn *c);
/* grpcs: starts the TLS handshake on a connected socket (or a detached connection). Returns 0
 * (a failed handshake start has already failed the connection) or MAE_ENOMEM. */
int mae__conn_tls_start(mae__gconn *c);
/* grpcs: feeds ciphertext: advances the handshake, then decrypts into mae__conn_recv. */
void mae__conn_recv_tls(mae__gconn *c, const uint8_t *p, size_t len);
/* Feeds received bytes (the read path, and tests). Returns 0 or MAE_EPROTO. */
int mae__conn_recv(mae__gconn *c, const uint8_t *p, size_t len);
/* Asks for the connection's pending frames to be sent: a socket connection is marked dirty
 * and flushed before the loop next polls; a detached one is flushed now. */
void mae__conn_flush(mae__gconn *c);
/* Produces and writes the pending frames now (the prepare handle, shutdown, error paths). */
void mae__conn_flush_now(mae__gconn *c);
/* The transport's prepare callback: flushes every dirty connection. */
void mae__conn_flush_dirty(uv_prepare_t *h);
/* Frees what the connection owns besides its handles (the write buffer). */
void mae__conn_free(mae__gconn *c);
uint32_t mae__conn_capacity(const mae__gconn *c);

#endif
