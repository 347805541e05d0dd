/* A TCP listener embedded in a server object (the stub's HTTP/1.1 and gRPC servers): binding
 * with MAE_E* errors, the port actually bound, and the count of open handles that frees the
 * owner once the listener and every accepted connection have closed. */
#ifndef MAE_LISTENER_H
#define MAE_LISTENER_H

#include <stdbool.h>
#include <uv.h>

typedef struct mae_listener {
    uv_tcp_t tcp;                  /* tcp.data is the owner */
    int open_handles;              /* the listener + connections whose close has not completed */
    bool closing;
    void (*free_owner)(void *owner);
    void (*done)(void *ud);
    void *done_ud;
} mae_listener;

/* Binds host:port (port 0: any) and listens; host is an IPv4 literal, an IPv6 literal (with or
 * without brackets) or a name, whose first resolved address is bound (resolved at once: call
 * at start-up only). cb gets connections with tcp.data == owner.
 * Returns 0, or MAE_EINVAL (bad host), MAE_EEXISTS (address in use), MAE_EIO — and then the
 * owner has been handed to free_owner (at once, or from the close callback on the next
 * uv_run): the caller must not touch it again. */
int mae__listener_start(mae_listener *l, uv_loop_t *loop, const char *host, int port, void *owner,
                       void (*free_owner)(void *owner), uv_connection_cb cb);
int mae__listener_port(const mae_listener *l);
/* Bookkeeping for accepted connections: call when a connection handle is initialised, and
 * from its close callback (which may free the owner: touch nothing after it). */
void mae__listener_conn_opened(mae_listener *l);
void mae__listener_conn_closed(mae_listener *l);
/* Stops accepting. Once the owner has closed its connections and every handle is closed, the
 * owner is freed and then done(ud) runs. */
void mae__listener_close(mae_listener *l, void (*done)(void *ud), void *ud);
#endif
