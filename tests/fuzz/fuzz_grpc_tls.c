/* Fuzz target: hostile bytes from the peer into the gRPC client's TLS + HTTP/2 read path, with
 * one call open. The first byte picks where they arrive:
 *   0  raw, before the handshake (a garbage ServerHello, truncated records, alerts)
 *   1  encrypted by a real in-process TLS server after a completed handshake and the server's
 *      SETTINGS: arbitrary HTTP/2 bytes through the record layer
 *   2  raw, after a completed handshake: garbage where records belong
 * Whatever arrives, the call ends exactly once, nothing crashes or leaks, and the transport
 * closes cleanly. The server's certificate is made in memory at start-up. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <uv.h>

#include "../target_fx.h"
#include "grpc_h2/grpc_client_int.h"
#include "grpc_h2/grpc_tls.h"
#include "grpc_h2/grpc_transport.h"

static mae__tls_ctx *server_ctx;
/* The certificate file doubles as the client's CA file: loading the system CAs for every input
 * would cost more than the rest of the run. */
static char cert_path[] = "/tmp/fuzz-tls-cert-XXXXXX";

static void remove_cert(void) { unlink(cert_path); }
static int called, closed;

static void on_result(mae_call_result *r, void *ud) {
    called++;
    cJSON_Delete(r->output);
}
static void on_closed(void *ud) { closed++; }

/* A self-signed P-256 certificate for the in-process server, written to two temporary files. */
static void make_server_ctx(void) {
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    if (!k || !x) abort();
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, k);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"fuzz", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    if (!X509_sign(x, k, EVP_sha256())) abort();
    char *cert = cert_path, key[] = "/tmp/fuzz-tls-key-XXXXXX";
    int cf = mkstemp(cert), kf = mkstemp(key);
    FILE *c = fdopen(cf, "w"), *kk = fdopen(kf, "w");
    if (!c || !kk || !PEM_write_X509(c, x) || !PEM_write_PrivateKey(kk, k, NULL, NULL, 0, NULL, NULL))
        abort();
    fclose(c);
    fclose(kk);
    char err[256];
    if (mae__tls_server_ctx_new(cert, key, err, sizeof err, &server_ctx) != 0) abort();
    atexit(remove_cert);
    unlink(key);
    X509_free(x);
    EVP_PKEY_free(k);
}

/* What the client sends, collected for the in-process server. */
typedef struct wire {
    uint8_t *buf;
    size_t len, cap;
} wire;

static void sink(void *ud, const uint8_t *p, size_t len) {
    wire *w = ud;
    if (w->len + len > w->cap) {
        w->cap = (w->len + len) * 2;
        w->buf = realloc(w->buf, w->cap);
        if (!w->buf) abort();
    }
    memcpy(w->buf + w->len, p, len);
    w->len += len;
}

static bool alive(mae__gpool *p) { return !mae__gq_empty(&p->conns); }

/* Moves the server's pending records to the client. */
static void to_client(mae__gpool *p, mae__gconn *c, mae__tls *srv) {
    uint8_t buf[16384];
    size_t n;
    while (alive(p) && (n = mae__tls_take(srv, buf, sizeof buf)) > 0) mae__conn_recv_tls(c, buf, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!server_ctx) make_server_ctx();
    if (size < 1) return 0;
    int mode = data[0] % 3;
    data++;
    size--;
    uv_loop_t loop;
    mae_transport *t;
    if (uv_loop_init(&loop) != 0 || mae_grpc_transport_new(&loop, &t) != 0) abort();
    mae_svc_cfg svc = {.name = "f", .type = "grpc", .endpoint = "grpcs://127.0.0.1:1",
                       .pool_connections = 1, .max_response = 65536,
                       .tls = {.ca_file = cert_path, .insecure_skip_verify = true}};
    mae__gpool *p;
    mae__gconn *c;
    wire w = {0};
    if (mae__pool_get((mae__gtransport *)t, &svc, &p) != 0) abort();
    if (mae__conn_new_detached_tls(p, sink, &w, &c) != 0) abort();
    cJSON *in = cJSON_Parse("{\"a\":1}");
    mae_call_req req = {.service = &svc, .target = FX_GRPC_TARGET("M"), .input = in, .run_id = "r",
                        .step_id = "s"};
    mae_call *call;
    called = closed = 0;
    if (mae_transport_start(t, &req, on_result, NULL, &call) != 0) abort();
    cJSON_Delete(in);
    mae__tls *srv = NULL;
    if (mode == 0) {
        size_t half = size ? data[0] % (size + 1) : 0;
        if (alive(p)) mae__conn_recv_tls(c, data, half);
        if (alive(p)) mae__conn_recv_tls(c, data + half, size - half);
    } else {
        if (mae__tls_new_server(server_ctx, &srv) != 0) abort();
        char err[200];
        /* The handshake, flight by flight, until both sides are done. */
        for (int round = 0; round < 8 && alive(p) && !mae__tls_done(srv); round++) {
            mae__tls_feed(srv, w.buf, w.len);
            w.len = 0;
            if (mae__tls_handshake(srv, err, sizeof err) < 0) abort();
            to_client(p, c, srv);
        }
        if (!mae__tls_done(srv) || !alive(p)) abort();
        /* The server's SETTINGS make the connection READY and the call go out. */
        static const uint8_t settings[] = {0, 0, 0, 4, 0, 0, 0, 0, 0};
        mae__tls_write(srv, settings, sizeof settings, err, sizeof err);
        to_client(p, c, srv);
        if (mode == 1) {
            mae__tls_write(srv, data, size, err, sizeof err);
            to_client(p, c, srv);
        } else if (alive(p)) {
            mae__conn_recv_tls(c, data, size);
        }
    }
    uv_run(&loop, UV_RUN_NOWAIT);
    t->vt->close(t, on_closed, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    mae__tls_free(srv);
    free(w.buf);
    if (called != 1 || closed != 1 || uv_loop_close(&loop) != 0) abort();
    return 0;
}
