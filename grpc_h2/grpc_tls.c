/* TLS for the gRPC client over memory BIOs (see grpc_tls.h). The rbio holds ciphertext fed from
 * the socket, the wbio collects what OpenSSL wants sent; both are plain memory BIOs, so no
 * OpenSSL call ever waits on a socket.
 *
 * libssl is loaded when the first TLS context is made (dlopen of libssl.so.3), not linked: the
 * loader's relocation of libssl and libcrypto cost every process ~4 M instructions and ~2 MB of
 * mapped pages at start-up, `maestro version` and h2c-only runs included. Each context keeps
 * its own table of the OpenSSL functions it calls (the library has no global state); each
 * connection holds a reference to its context, so the table outlives the last SSL object.
 * OpenSSL's function-like macros (SSL_CTX_set_mode, BIO_set_mem_eof_return, ...) are spelled
 * as the *_ctrl calls they stand for. */
#include "grpc_h2/grpc_tls.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "maestro/maestro.h"

/* The soname: the ABI our <openssl/ssl.h> describes. libssl depends on libcrypto, so dlsym on
 * libssl's handle finds libcrypto's functions as well. */
#define MAE_SSL_SONAME "libssl.so.3"

/* Every OpenSSL function called below; each field has the type of the function it holds. */
#define MAE_SSL_FUNCS(X)                                                                          \
    X(BIO_ctrl) X(BIO_ctrl_pending) X(BIO_free) X(BIO_new) X(BIO_read) X(BIO_s_mem) X(BIO_write) \
    X(ERR_clear_error) X(ERR_peek_last_error) X(ERR_reason_error_string)                         \
    X(SSL_CTX_check_private_key) X(SSL_CTX_ctrl) X(SSL_CTX_free) X(SSL_CTX_load_verify_locations) \
    X(SSL_CTX_new) X(SSL_CTX_set_alpn_protos) X(SSL_CTX_set_alpn_select_cb)                      \
    X(SSL_CTX_set_cipher_list) X(SSL_CTX_set_default_verify_paths) X(SSL_CTX_set_verify)         \
    X(SSL_CTX_use_PrivateKey_file) X(SSL_CTX_use_certificate_chain_file) X(SSL_ctrl)             \
    X(SSL_do_handshake) X(SSL_free) X(SSL_get0_alpn_selected) X(SSL_get0_param)                  \
    X(SSL_get_error) X(SSL_get_verify_mode) X(SSL_get_verify_result) X(SSL_new) X(SSL_read)      \
    X(SSL_set1_host) X(SSL_set_accept_state) X(SSL_set_bio) X(SSL_set_connect_state)             \
    X(SSL_set_hostflags) X(SSL_write) X(TLS_client_method) X(TLS_server_method)                  \
    X(X509_VERIFY_PARAM_set1_ip_asc) X(X509_verify_cert_error_string)

typedef struct ssl_api {
#define MAE_SSL_FIELD(fn) __typeof__(&fn) fn;
    MAE_SSL_FUNCS(MAE_SSL_FIELD)
#undef MAE_SSL_FIELD
} ssl_api;

struct mae__tls_ctx {
    ssl_api f;
    SSL_CTX *ssl;
    unsigned refs;  /* the owner's, plus one per connection */
};

struct mae__tls {
    mae__tls_ctx *ctx;  /* a reference: its table serves this connection */
    SSL *ssl;
    BIO *rbio, *wbio;  /* owned by ssl */
    bool done;
};

/* Loads libssl and fills f. Returns 0, or MAE_EINTERNAL with the reason in err. */
static int ssl_load(ssl_api *f, char *err, size_t errlen) {
    void *lib = dlopen(MAE_SSL_SONAME, RTLD_LAZY | RTLD_LOCAL);
    if (!lib) {
        const char *e = dlerror();
        snprintf(err, errlen, "cannot load %s: %s", MAE_SSL_SONAME, e ? e : "?");
        return MAE_EINTERNAL;
    }
    _Static_assert(sizeof(void *) == sizeof f->SSL_new, "function pointers are data-pointer sized");
    struct { void *slot; const char *name; } syms[] = {
#define MAE_SSL_SYM(fn) {&f->fn, #fn},
        MAE_SSL_FUNCS(MAE_SSL_SYM)
#undef MAE_SSL_SYM
    };
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        void *p = dlsym(lib, syms[i].name);  /* POSIX: round-trips through void * */
        if (!p) {
            snprintf(err, errlen, "%s has no %s", MAE_SSL_SONAME, syms[i].name);
            dlclose(lib);
            return MAE_EINTERNAL;
        }
        memcpy(syms[i].slot, &p, sizeof p);
    }
    return 0;  /* the library stays loaded for the life of the process, as libcurl does */
}

/* A context with libssl loaded and an SSL_CTX of `method`'s kind. */
static int ctx_make(bool server, char *err, size_t errlen, mae__tls_ctx **out) {
    *out = NULL;
    mae__tls_ctx *c = calloc(1, sizeof *c);
    if (!c) return MAE_ENOMEM;
    int rc = ssl_load(&c->f, err, errlen);
    if (rc != 0) {
        free(c);
        return rc;
    }
    c->refs = 1;
    c->f.ERR_clear_error();
    c->ssl = c->f.SSL_CTX_new(server ? c->f.TLS_server_method() : c->f.TLS_client_method());
    if (!c->ssl) {
        free(c);
        return MAE_ENOMEM;
    }
    c->f.SSL_CTX_ctrl(c->ssl, SSL_CTRL_SET_MIN_PROTO_VERSION, TLS1_2_VERSION, NULL);
    /* One write of ours may be split over records: SSL_write returns only when all went in. */
    c->f.SSL_CTX_ctrl(c->ssl, SSL_CTRL_MODE, SSL_MODE_RELEASE_BUFFERS, NULL);
    /* RFC 7540 9.2.2: h2 over TLS 1.2 needs an AEAD suite; these are OpenSSL's ECDHE+AEAD. */
    c->f.SSL_CTX_set_cipher_list(c->ssl, "ECDHE+AESGCM:ECDHE+CHACHA20");
    *out = c;
    return 0;
}

static void ctx_unref(mae__tls_ctx *c) {
    if (--c->refs) return;
    c->f.SSL_CTX_free(c->ssl);
    free(c);
}

static const unsigned char alpn_h2[] = {2, 'h', '2'};

/* OpenSSL's reason for the last failure, and the certificate check's when that was it. */
static void tls_reason(const mae__tls *t, const char *what, char *err, size_t errlen) {
    const ssl_api *f = &t->ctx->f;
    unsigned long e = f->ERR_peek_last_error();
    const char *r = e ? f->ERR_reason_error_string(e) : NULL;
    long v = f->SSL_get_verify_result(t->ssl);
    if (v != X509_V_OK && e && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED)
        snprintf(err, errlen, "%s: certificate verify failed: %s", what,
                 f->X509_verify_cert_error_string(v));
    else
        snprintf(err, errlen, "%s: %s", what, r ? r : "connection closed by the server");
    f->ERR_clear_error();
}

/* A file-loading failure: what, the file, and OpenSSL's reason. */
static int ctx_fail(mae__tls_ctx *c, const char *what, const char *file, const char *fallback,
                    char *err, size_t errlen) {
    unsigned long e = c->f.ERR_peek_last_error();
    const char *why = e ? c->f.ERR_reason_error_string(e) : NULL;
    if (!why) why = fallback;
    snprintf(err, errlen, "%s%s%s%s%s", what, file ? " " : "", file ? file : "", why ? ": " : "",
             why ? why : "");
    c->f.ERR_clear_error();
    ctx_unref(c);
    return MAE_EINVAL;
}

int mae__tls_ctx_new(const mae_svc_tls *cfg, char *err, size_t errlen, mae__tls_ctx **out) {
    mae__tls_ctx *c;
    int rc = ctx_make(false, err, errlen, &c);
    if (rc != 0) return rc;
    if (c->f.SSL_CTX_set_alpn_protos(c->ssl, alpn_h2, sizeof alpn_h2) != 0) {  /* 0 is success */
        ctx_unref(c);
        return MAE_ENOMEM;
    }
    const char *what = NULL, *file = NULL;
    if (cfg->ca_file) {
        if (c->f.SSL_CTX_load_verify_locations(c->ssl, cfg->ca_file, NULL) != 1)
            what = "cannot load tls.ca_file", file = cfg->ca_file;
    } else if (c->f.SSL_CTX_set_default_verify_paths(c->ssl) != 1) {
        what = "cannot load the system CA certificates";
    }
    if (!what && cfg->cert_file) {
        const char *key = cfg->key_file ? cfg->key_file : cfg->cert_file;
        if (c->f.SSL_CTX_use_certificate_chain_file(c->ssl, cfg->cert_file) != 1)
            what = "cannot load tls.cert_file", file = cfg->cert_file;
        else if (c->f.SSL_CTX_use_PrivateKey_file(c->ssl, key, SSL_FILETYPE_PEM) != 1)
            what = "cannot load tls.key_file", file = key;
        else if (c->f.SSL_CTX_check_private_key(c->ssl) != 1)
            what = "tls.key_file does not match tls.cert_file", file = key;
    } else if (!what && cfg->key_file) {
        what = "tls.key_file without tls.cert_file", file = cfg->key_file;
    }
    if (what) return ctx_fail(c, what, file, "unusable", err, errlen);
    c->f.SSL_CTX_set_verify(c->ssl, cfg->insecure_skip_verify ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
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
    mae__tls_ctx *c;
    int rc = ctx_make(true, err, errlen, &c);
    if (rc != 0) return rc;
    c->f.SSL_CTX_set_alpn_select_cb(c->ssl, select_h2, NULL);
    const char *what = NULL, *file = NULL;
    if (!cert_file || !key_file)
        what = "tls needs both cert_file and key_file", file = NULL;
    else if (c->f.SSL_CTX_use_certificate_chain_file(c->ssl, cert_file) != 1)
        what = "cannot load tls.cert_file", file = cert_file;
    else if (c->f.SSL_CTX_use_PrivateKey_file(c->ssl, key_file, SSL_FILETYPE_PEM) != 1)
        what = "cannot load tls.key_file", file = key_file;
    if (what) return ctx_fail(c, what, file, NULL, err, errlen);
    *out = c;
    return 0;
}

void mae__tls_ctx_free(mae__tls_ctx *ctx) {
    if (ctx) ctx_unref(ctx);
}

/* A connection's SSL object over two memory BIOs, holding a reference to ctx. */
static mae__tls *conn_new(mae__tls_ctx *ctx) {
    const ssl_api *f = &ctx->f;
    mae__tls *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->ssl = f->SSL_new(ctx->ssl);
    t->rbio = f->BIO_new(f->BIO_s_mem());
    t->wbio = f->BIO_new(f->BIO_s_mem());
    if (!t->ssl || !t->rbio || !t->wbio) {
        f->BIO_free(t->rbio);
        f->BIO_free(t->wbio);
        f->SSL_free(t->ssl);
        free(t);
        return NULL;
    }
    /* An empty rbio means "wait for more", never end of stream (BIO_set_mem_eof_return). */
    f->BIO_ctrl(t->rbio, BIO_C_SET_BUF_MEM_EOF_RETURN, -1, NULL);
    f->SSL_set_bio(t->ssl, t->rbio, t->wbio);
    t->ctx = ctx;
    ctx->refs++;
    return t;
}

int mae__tls_new_server(mae__tls_ctx *ctx, mae__tls **out) {
    *out = conn_new(ctx);
    if (!*out) return MAE_ENOMEM;
    ctx->f.SSL_set_accept_state((*out)->ssl);
    return 0;
}

int mae__tls_new(mae__tls_ctx *ctx, const char *name, mae__tls **out) {
    const ssl_api *f = &ctx->f;
    mae__tls *t = conn_new(ctx);
    *out = NULL;
    if (!t) return MAE_ENOMEM;
    f->SSL_set_connect_state(t->ssl);
    unsigned char ip[16];
    bool is_ip = inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1;
    int ok = 1;
    if (!is_ip)  /* SSL_set_tlsext_host_name */
        ok = f->SSL_ctrl(t->ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, (void *)name) == 1;
    if (ok && f->SSL_get_verify_mode(t->ssl) != SSL_VERIFY_NONE) {
        if (is_ip) {
            ok = f->X509_VERIFY_PARAM_set1_ip_asc(f->SSL_get0_param(t->ssl), name) == 1;
        } else {
            f->SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            ok = f->SSL_set1_host(t->ssl, name) == 1;
        }
    }
    if (!ok) {
        f->ERR_clear_error();
        mae__tls_free(t);
        return MAE_ENOMEM;
    }
    *out = t;
    return 0;
}

void mae__tls_free(mae__tls *t) {
    if (!t) return;
    t->ctx->f.SSL_free(t->ssl);  /* frees both BIOs */
    ctx_unref(t->ctx);
    free(t);
}

int mae__tls_feed(mae__tls *t, const uint8_t *p, size_t len) {
    while (len) {
        int n = t->ctx->f.BIO_write(t->rbio, p, len > INT32_MAX ? INT32_MAX : (int)len);
        if (n <= 0) return MAE_ENOMEM;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int mae__tls_handshake(mae__tls *t, char *err, size_t errlen) {
    const ssl_api *f = &t->ctx->f;
    if (t->done) return 1;
    f->ERR_clear_error();
    int r = f->SSL_do_handshake(t->ssl);
    if (r != 1) {
        int e = f->SSL_get_error(t->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
        tls_reason(t, "TLS handshake", err, errlen);
        return MAE_EPROTO;
    }
    const unsigned char *proto = NULL;
    unsigned int plen = 0;
    f->SSL_get0_alpn_selected(t->ssl, &proto, &plen);
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
    const ssl_api *f = &t->ctx->f;
    f->ERR_clear_error();
    int n = f->SSL_read(t->ssl, buf, cap > INT32_MAX ? INT32_MAX : (int)cap);
    if (n > 0) return n;
    int e = f->SSL_get_error(t->ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
    if (e == SSL_ERROR_ZERO_RETURN) {
        snprintf(err, errlen, "TLS: connection closed by the server (close_notify)");
        return MAE_EPROTO;
    }
    tls_reason(t, "TLS", err, errlen);
    return MAE_EPROTO;
}

int mae__tls_write(mae__tls *t, const uint8_t *p, size_t len, char *err, size_t errlen) {
    const ssl_api *f = &t->ctx->f;
    while (len) {
        f->ERR_clear_error();
        int n = f->SSL_write(t->ssl, p, len > INT32_MAX ? INT32_MAX : (int)len);
        if (n <= 0) {
            tls_reason(t, "TLS", err, errlen);
            return MAE_EPROTO;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

size_t mae__tls_pending(const mae__tls *t) { return t->ctx->f.BIO_ctrl_pending(t->wbio); }

size_t mae__tls_take(mae__tls *t, uint8_t *buf, size_t cap) {
    int n = t->ctx->f.BIO_read(t->wbio, buf, cap > INT32_MAX ? INT32_MAX : (int)cap);
    return n > 0 ? (size_t)n : 0;
}
