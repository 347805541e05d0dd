/* The shared listener of the stub's servers: one place for bind errors, the bound port and
 * the "free the owner when the last handle has closed" count. */
#include "transports/listener.h"

#include <stdlib.h>

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

int mae__listener_start(mae_listener *l, uv_loop_t *loop, const char *host, int port, void *owner,
                       void (*free_owner)(void *owner), uv_connection_cb cb) {
    struct sockaddr_in addr;
    l->free_owner = free_owner;
    l->open_handles = 0;
    l->closing = false;
    if (uv_ip4_addr(host, port, &addr) < 0) {
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
