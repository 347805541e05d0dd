/* TLS for the gRPC client over memory BIOs (see grpc_tls.h). The rbio holds ciphertext fed from
 * the socket, the wbio collects what OpenSSL wants sent; both are plain memory BIOs, so no
 * OpenSSL call ever waits on a socket. */
#include "grpc_h2/grpc_tls.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "maestro/maestro.h"

struct mae__tls_ctx {
    SSL_CTX *ssl;
};

struct mae__tls {
    SSL *ssl;
    BIO *rbio, *wbio;  /* owned by ssl */
    bool done;
};

static const unsigned char alpn_h2[] = {2, 'h', '2'};

/* OpenSSL's reason for the last failure, and the certificate check's when that was it. */
static void tls_reason(const SSL *ssl, const char *what, char *err, size_t errlen) {
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    if (ssl && v != X509_V_OK && e && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED)
        snprintf(err, errlen, "%s: certificate verify failed: %s", what,
                 X509_verify_cert_error_string(v));
    else
        snprintf(err, errlen, "%s: %s", what, r ? r : "connection closed by the server");
    ERR_clear_error();
}

int mae__tls_ctx_new(const mae_svc_tls *cfg, char *err, size_t errlen, mae__tls_ctx **out) {
    *out = NULL;
    mae__tls_ctx *c = calloc(1, sizeof *c);
    if (!c) return MAE_ENOMEM;
    ERR_clear_error();
    c->ssl = SSL_CTX_new(TLS_client_method());
    if (!c->ssl) {
        free(c);
        return MAE_ENOMEM;
    }
    SSL_CTX_set_min_proto_version(c->ssl, TLS1_2_VERSION);
    /* One write of ours may be split over records: SSL_write returns only when all went in. */
    SSL_CTX_set_mode(c->ssl, SSL_MODE_RELEASE_BUFFERS);
    /* RFC 7540 9.2.2: h2 over TLS 1.2 needs an AEAD suite; these are OpenSSL's ECDHE+AEAD. */
    SSL_CTX_set_cipher_list(c->ssl, "ECDHE+AESGCM:ECDHE+CHACHA20");
    if (SSL_CTX_set_alpn_protos(c->ssl, alpn_h2, sizeof alpn_h2) != 0) {  /* 0 is success */
        mae__tls_ctx_free(c);
        return MAE_ENOMEM;
    }
    const char *what = NULL, *file = NULL;
    if (cfg->ca_file) {
        if (SSL_CTX_load_verify_locations(c->ssl, cfg->ca_file, NULL) != 1)
            what = "cannot load tls.ca_file", file = cfg->ca_file;
    } else if (SSL_CTX_set_default_verify_paths(c->ssl) != 1) {
        what = "cannot load the system CA certificates";
    }
    if (!what && cfg->cert_file) {
        const char *key = cfg->key_file ? cfg->key_file : cfg->cert_file;
        if (SSL_CTX_use_certificate_chain_file(c->ssl, cfg->cert_file) != 1)
            what = "cannot load tls.cert_file", file = cfg->cert_file;
        else if (SSL_CTX_use_PrivateKey_file(c->ssl, key, SSL_FILETYPE_PEM) != 1)
            what = "cannot load tls.key_file", file = key;
        else if (SSL_CTX_check_private_key(c->ssl) != 1)
            what = "tls.key_file does not match tls.cert_file", file = key;
    } else if (!what && cfg->key_file) {
        what = "tls.key_file without tls.cert_file", file = cfg->key_file;
    }
    if (what) {
        unsigned long e = ERR_peek_last_error();
        const char *r = e ? ERR_reason_error_string(e) : NULL;
        snprintf(err, errlen, "%s%s%s: %s", what, file ? " " : "", file ? file : "",
                 r ? r : "unusable");
        ERR_clear_error();
        mae__tls_ctx_free(c);
        return MAE_EINVAL;
    }
    SSL_CTX_set_verify(c->ssl, cfg->insecure_skip_verify ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    *out = c;
    return 0;
}

/* Server ALPN: h2 or nothing. */
static int select_h2(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                     const unsigned char *in, unsigned int inlen, void *arg) {
    for (unsigned int i = 0; i < inlen; i += 1u + in[i]) {
        if (in[i] == 2 && i + 3 <= inlen && memcmp(in + i + 1, "h2", 2) == 0) {
            *out = in + i + 1;
            *outlen = 2;
            return SSL_TLSEXT_ERR_OK;
        }
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

int mae__tls_server_ctx_new(const char *cert_file, const char *key_file, char *err, size_t errlen,
                            mae__tls_ctx **out) {
    *out = NULL;
    mae__tls_ctx *c = calloc(1, sizeof *c);
    if (!c) return MAE_ENOMEM;
    ERR_clear_error();
    c->ssl = SSL_CTX_new(TLS_server_method());
    if (!c->ssl) {
        free(c);
        return MAE_ENOMEM;
    }
    SSL_CTX_set_min_proto_version(c->ssl, TLS1_2_VERSION);
    SSL_CTX_set_mode(c->ssl, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_cipher_list(c->ssl, "ECDHE+AESGCM:ECDHE+CHACHA20");
    SSL_CTX_set_alpn_select_cb(c->ssl, select_h2, NULL);
    const char *what = NULL, *file = NULL;
    if (!cert_file || !key_file)
        what = "tls needs both cert_file and key_file", file = NULL;
    else if (SSL_CTX_use_certificate_chain_file(c->ssl, cert_file) != 1)
        what = "cannot load tls.cert_file", file = cert_file;
    else if (SSL_CTX_use_PrivateKey_file(c->ssl, key_file, SSL_FILETYPE_PEM) != 1)
        what = "cannot load tls.key_file", file = key_file;
    if (what) {
        unsigned long e = ERR_peek_last_error();
        const char *r = e ? ERR_reason_error_string(e) : NULL;
        snprintf(err, errlen, "%s%s%s%s%s", what, file ? " " : "", file ? file : "",
                 r ? ": " : "", r ? r : "");
        ERR_clear_error();
        mae__tls_ctx_free(c);
        return MAE_EINVAL;
    }
    *out = c;
    return 0;
}

int mae__tls_new_server(mae__tls_ctx *ctx, mae__tls **out) {
    *out = NULL;
    mae__tls *t = calloc(1, sizeof *t);
    if (!t) return MAE_ENOMEM;
    t->ssl = SSL_new(ctx->ssl);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->rbio || !t->wbio) {
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        SSL_free(t->ssl);
        free(t);
        return MAE_ENOMEM;
    }
    BIO_set_mem_eof_return(t->rbio, -1);
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    SSL_set_accept_state(t->ssl);
    *out = t;
    return 0;
}

void mae__tls_ctx_free(mae__tls_ctx *ctx) {
    if (!ctx) return;
    SSL_CTX_free(ctx->ssl);
    free(ctx);
}

int mae__tls_new(mae__tls_ctx *ctx, const char *name, mae__tls **out) {
    *out = NULL;
    mae__tls *t = calloc(1, sizeof *t);
    if (!t) return MAE_ENOMEM;
    t->ssl = SSL_new(ctx->ssl);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->rbio || !t->wbio) {
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        SSL_free(t->ssl);
        free(t);
        return MAE_ENOMEM;
    }
    /* An empty rbio means "wait for more", never end of stream. */
    BIO_set_mem_eof_return(t->rbio, -1);
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    SSL_set_connect_state(t->ssl);
    unsigned char ip[16];
    bool is_ip = inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1;
    int ok = 1;
    if (!is_ip) ok = SSL_set_tlsext_host_name(t->ssl, name) == 1;
    if (ok && SSL_get_verify_mode(t->ssl) != SSL_VERIFY_NONE) {
        if (is_ip) {
            ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), name) == 1;
        } else {
            SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            ok = SSL_set1_host(t->ssl, name) == 1;
        }
    }
    if (!ok) {
        ERR_clear_error();
        mae__tls_free(t);
        return MAE_ENOMEM;
    }
    *out = t;
    return 0;
}

void mae__tls_free(mae__tls *t) {
    if (!t) return;
    SSL_free(t->ssl);  /* frees both BIOs */
    free(t);
}

int mae__tls_feed(mae__tls *t, const uint8_t *p, size_t len) {
    while (len) {
        int n = BIO_write(t->rbio, p, len > INT32_MAX ? INT32_MAX : (int)len);
        if (n <= 0) return MAE_ENOMEM;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int mae__tls_handshake(mae__tls *t, char *err, size_t errlen) {
    if (t->done) return 1;
    ERR_clear_error();
    int r = SSL_do_handshake(t->ssl);
    if (r != 1) {
        int e = SSL_get_error(t->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
        tls_reason(t->ssl, "TLS handshake", err, errlen);
        return MAE_EPROTO;
    }
    const unsigned char *proto = NULL;
    unsigned int plen = 0;
    SSL_get0_alpn_selected(t->ssl, &proto, &plen);
    if (plen != 2 || memcmp(proto, "h2", 2) != 0) {
        snprintf(err, errlen, "TLS handshake: the server did not select ALPN h2 (%s%.*s)",
                 plen ? "it chose " : "no ALPN", (int)plen, plen ? (const char *)proto : "");
        return MAE_EPROTO;
    }
    t->done = true;
    return 1;
}

bool mae__tls_done(const mae__tls *t) { return t->done; }

ssize_t mae__tls_read(mae__tls *t, uint8_t *buf, size_t cap, char *err, size_t errlen) {
    ERR_clear_error();
    int n = SSL_read(t->ssl, buf, cap > INT32_MAX ? INT32_MAX : (int)cap);
    if (n > 0) return n;
    int e = SSL_get_error(t->ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
    if (e == SSL_ERROR_ZERO_RETURN) {
        snprintf(err, errlen, "TLS: connection closed by the server (close_notify)");
        return MAE_EPROTO;
    }
    tls_reason(t->ssl, "TLS", err, errlen);
    return MAE_EPROTO;
}

int mae__tls_write(mae__tls *t, const uint8_t *p, size_t len, char *err, size_t errlen) {
    while (len) {
        ERR_clear_error();
        int n = SSL_write(t->ssl, p, len > INT32_MAX ? INT32_MAX : (int)len);
        if (n <= 0) {
            tls_reason(t->ssl, "TLS", err, errlen);
            return MAE_EPROTO;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

size_t mae__tls_pending(const mae__tls *t) { return BIO_ctrl_pending(t->wbio); }

size_t mae__tls_take(mae__tls *t, uint8_t *buf, size_t cap) {
    int n = BIO_read(t->wbio, buf, cap > INT32_MAX ? INT32_MAX : (int)cap);
    return n > 0 ? (size_t)n : 0;
}
