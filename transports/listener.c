/* The shared listener of the stub's servers: one place for bind errors, the bound port and
 * the "free the owner when the last handle has closed" count. */
#include "transports/listener.h"

#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "maestro/maestro.h"
#include "transports/errmap.h"

static void maybe_free(mae_listener *l) {
    if (l->open_handles > 0) return;
    void (*done)(void *) = l->done;
    void *ud = l->done_ud;
    l->free_owner(l->tcp.data);   /* l lives inside the owner: read nothing after this */
    if (done) done(ud);
}

static void listener_closed(uv_handle_t *h) {
    mae_listener *l = (mae_listener *)h;
    l->open_handles--;
    maybe_free(l);
}

/* host: an IPv4 literal, an IPv6 literal with or without brackets ("[::1]", "::1"), or a name,
 * resolved here, before the server runs (a blocking lookup, at start-up only); its first
 * address is bound. Returns 0 or MAE_EINVAL. */
static int listen_addr(const char *host, int port, struct sockaddr_storage *out) {
    char h[256];
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        host++;
        n -= 2;
    }
    if (n == 0 || n >= sizeof h) return MAE_EINVAL;
    memcpy(h, host, n);
    h[n] = 0;
    if (uv_ip4_addr(h, port, (struct sockaddr_in *)out) == 0) return 0;
    if (strchr(h, ':')) return uv_ip6_addr(h, port, (struct sockaddr_in6 *)out) == 0 ? 0 : MAE_EINVAL;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL, *ai;
    if (getaddrinfo(h, NULL, &hints, &res) != 0) return MAE_EINVAL;
    for (ai = res; ai; ai = ai->ai_next)
        if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6) break;
    int rc = MAE_EINVAL;
    if (ai) {
        memcpy(out, ai->ai_addr, ai->ai_addrlen);
        if (ai->ai_family == AF_INET) ((struct sockaddr_in *)out)->sin_port = htons((uint16_t)port);
        else ((struct sockaddr_in6 *)out)->sin6_port = htons((uint16_t)port);
        rc = 0;
    }
    freeaddrinfo(res);
    return rc;
}

int mae__listener_start(mae_listener *l, uv_loop_t *loop, const char *host, int port, void *owner,
                       void (*free_owner)(void *owner), uv_connection_cb cb) {
    struct sockaddr_storage addr;
    l->free_owner = free_owner;
    l->open_handles = 0;
    l->closing = false;
    if (listen_addr(host, port, &addr) < 0) {
        free_owner(owner);
        return MAE_EINVAL;
    }
    if (uv_tcp_init(loop, &l->tcp) < 0) {
        free_owner(owner);
        return MAE_EIO;
    }
    l->tcp.data = owner;
    l->open_handles = 1;
    int rc = uv_tcp_bind(&l->tcp, (const struct sockaddr *)&addr, 0);
    if (rc == 0) rc = uv_listen((uv_stream_t *)&l->tcp, 511, cb);
    if (rc < 0) {
        l->closing = true;
        uv_close((uv_handle_t *)&l->tcp, listener_closed);
        return mae__err_from_uv(rc);
    }
    return 0;
}

int mae__listener_port(const mae_listener *l) {
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&ss, &len) != 0) return -1;
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

void mae__listener_conn_opened(mae_listener *l) { l->open_handles++; }

void mae__listener_conn_closed(mae_listener *l) {
    l->open_handles--;
    if (l->closing) maybe_free(l);
}

void mae__listener_close(mae_listener *l, void (*done)(void *ud), void *ud) {
    if (l->closing) return;
    l->closing = true;
    l->done = done;
    l->done_ud = ud;
    uv_close((uv_handle_t *)&l->tcp, listener_closed);
}
