/* Happy Eyeballs (RFC 8305) connection racing on a libuv loop: given the resolved addresses of
 * one host, it orders them (families interleaved, the first address's family first), starts a
 * TCP connect to the first, then another every `delay_ms` (250 ms by default) while the earlier
 * ones are still pending, or at once when one fails. The first socket to connect wins; every
 * other attempt is closed. The caller gets the winner as a connected non-blocking socket and
 * opens it into its own uv_tcp_t (uv_tcp_open), so its handle never moves.
 *
 * What this module must not do: resolve names (the caller resolves, off the loop thread), read
 * or write on a socket, or bound the whole race in time: the caller owns that deadline and
 * cancels the racer when it passes.
 *
 * Ownership and lifetime: mae__happy_start allocates the racer; it frees itself once done() has
 * been called (or it was cancelled) and every one of its handles has closed, then calls
 * closed(). done() is called at most once, never from inside mae__happy_start, and never after
 * mae__happy_cancel. Each attempt is a raw non-blocking socket watched by a uv_poll; its fd is
 * closed in the poll's close callback, after libuv has stopped watching it. */
#ifndef MAE_HAPPY_H
#define MAE_HAPPY_H

#include <stdbool.h>
#include <stdint.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <uv.h>

#define MAE__HAPPY_MAX_ADDRS 8     /* addresses raced; more are ignored */
#define MAE__HAPPY_DELAY_MS 250    /* RFC 8305's recommended Connection Attempt Delay */

typedef struct mae__happy mae__happy;

/* Why an attempt was started. */
typedef enum {
    MAE__HAPPY_NOT_STARTED,
    MAE__HAPPY_FIRST,          /* the first address, at once */
    MAE__HAPPY_AFTER_DELAY,    /* the previous one was still pending after the delay */
    MAE__HAPPY_AFTER_FAILURE,  /* the previous one failed before the delay passed */
} mae__happy_why;

typedef struct mae__happy_attempt {
    struct sockaddr_storage addr;
    mae__happy_why why;
    int status;                /* 0 (pending, won or never started) or a negative libuv error */
    int seq;                   /* 0-based start order among the attempts; -1 when not started */
} mae__happy_attempt;

typedef struct mae__happy_result {
    int fd;                    /* the winner's connected socket, now the callee's; -1 on failure */
    int status;                /* 0, or the last failing attempt's negative libuv error */
    int winner;                /* index into attempts, -1 on failure */
    int n_addrs;               /* after ordering and capping */
    int n_started;
    const mae__happy_attempt *attempts;  /* in the order tried (valid during the callback) */
    const char *message;       /* on failure: each address with its error; else "" */
} mae__happy_result;

typedef void (*mae__happy_done_fn)(void *ud, const mae__happy_result *r);
typedef void (*mae__happy_closed_fn)(void *ud);

/* Orders addresses for racing (RFC 8305, section 4): families alternate, starting with the
 * first address's, each family keeping its own order. Writes min(n, MAE__HAPPY_MAX_ADDRS)
 * pointers into out and returns that count. Pure. */
int mae__happy_order(const struct sockaddr *const *in, int n, const struct sockaddr **out);

/* Starts racing connects to addrs (IPv4/IPv6 only; copied). delay_ms 0 means
 * MAE__HAPPY_DELAY_MS. closed may be NULL. Returns 0 with *out set, MAE_EINVAL (n < 1, a NULL
 * argument or an address of another family) or MAE_ENOMEM; on error nothing was started and no
 * callback will come. Failures of the attempts themselves come through done(). */
int mae__happy_start(uv_loop_t *loop, const struct sockaddr *const *addrs, int n,
                     uint64_t delay_ms, mae__happy_done_fn done, mae__happy_closed_fn closed,
                     void *ud, mae__happy **out);

/* Stops the race: pending attempts are closed, done() will not be called, closed() will. Only
 * before done(): the racer may be gone afterwards. */
void mae__happy_cancel(mae__happy *h);

/* Writes the attempts so far into buf: each started address with its error, or "no answer"
 * while it is pending ("[::1]:50051 connection refused, 127.0.0.1:50051 no answer"). */
void mae__happy_describe(const mae__happy *h, char *buf, size_t len);

/* Writes "ADDR:PORT" ("[v6]:PORT" for IPv6) into buf. */
void mae__happy_addr_name(const struct sockaddr *sa, char *buf, size_t len);

#endif
