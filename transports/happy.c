/* Happy Eyeballs connection racing: see happy.h. One timer paces the attempts; each attempt is a
 * non-blocking socket whose connect completion a uv_poll reports (writable, or an error). */
#include "transports/happy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "maestro/maestro.h"

typedef struct slot {
    uv_poll_t poll;
    int fd;                    /* closed in the poll's close callback; -1 once handed over */
    bool live;                 /* the poll handle is open */
} slot;

struct mae__happy {
    uv_loop_t *loop;
    uv_timer_t timer;          /* the attempt delay; at 0 ms, a failure found during start */
    uint64_t delay_ms;
    mae__happy_attempt att[MAE__HAPPY_MAX_ADDRS];
    slot slots[MAE__HAPPY_MAX_ADDRS];
    int n, next;               /* addresses; the next one to start */
    int pending;               /* attempts connecting */
    int handles;               /* open handles (timer + live polls); the last close frees */
    bool finished;             /* done() delivered or cancelled: no more attempts */
    bool in_start;             /* inside mae__happy_start: done() must be deferred */
    mae__happy_done_fn done;
    mae__happy_closed_fn closed;
    void *ud;
    char msg[MAE__HAPPY_MAX_ADDRS * 80];
};

static socklen_t sa_len(const struct sockaddr *sa) {
    return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

int mae__happy_order(const struct sockaddr *const *in, int n, const struct sockaddr **out) {
    if (n > MAE__HAPPY_MAX_ADDRS) n = MAE__HAPPY_MAX_ADDRS;
    if (n <= 0) return 0;
    bool used[MAE__HAPPY_MAX_ADDRS] = {false};
    int fam = in[0]->sa_family;
    for (int k = 0; k < n; k++) {
        int pick = -1;
        for (int i = 0; i < n && pick < 0; i++)
            if (!used[i] && in[i]->sa_family == fam) pick = i;
        for (int i = 0; i < n && pick < 0; i++)  /* that family ran out */
            if (!used[i]) pick = i;
        used[pick] = true;
        out[k] = in[pick];
        fam = in[pick]->sa_family == AF_INET6 ? AF_INET : AF_INET6;
    }
    return n;
}

void mae__happy_addr_name(const struct sockaddr *sa, char *buf, size_t len) {
    char ip[64] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET6) {
        uv_ip6_name((const struct sockaddr_in6 *)sa, ip, sizeof ip);
        port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
        snprintf(buf, len, "[%s]:%d", ip, port);
    } else {
        uv_ip4_name((const struct sockaddr_in *)sa, ip, sizeof ip);
        port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
        snprintf(buf, len, "%s:%d", ip, port);
    }
}

static void maybe_free(mae__happy *h) {
    if (h->handles > 0) return;
    mae__happy_closed_fn closed = h->closed;
    void *ud = h->ud;
    free(h);
    if (closed) closed(ud);
}

static void on_part_closed(uv_handle_t *hd) {
    mae__happy *h = hd->data;
    if (hd->type == UV_POLL) {
        slot *s = (slot *)hd;
        if (s->fd >= 0) close(s->fd);
        s->fd = -1;
    }
    h->handles--;
    maybe_free(h);
}

static void slot_close(mae__happy *h, slot *s) {
    if (!s->live) return;
    s->live = false;
    uv_close((uv_handle_t *)&s->poll, on_part_closed);  /* stops watching the fd now */
}

/* No more attempts: close what is left. */
static void finish(mae__happy *h) {
    h->finished = true;
    for (int i = 0; i < h->n; i++) slot_close(h, &h->slots[i]);
    uv_close((uv_handle_t *)&h->timer, on_part_closed);
}

static void describe(const mae__happy_attempt *att, int n_started, char *buf, size_t len) {
    size_t off = 0;
    if (len) buf[0] = 0;
    for (int k = 0; k < n_started; k++) {  /* start order is index order */
        char name[64];
        mae__happy_addr_name((const struct sockaddr *)&att[k].addr, name, sizeof name);
        int w = snprintf(buf + off, len - off, "%s%s %s", k ? ", " : "", name,
                         att[k].status ? uv_strerror(att[k].status) : "no answer");
        if (w < 0 || (size_t)w >= len - off) break;
        off += (size_t)w;
    }
}

void mae__happy_describe(const mae__happy *h, char *buf, size_t len) {
    describe(h->att, h->next, buf, len);
}

static void deliver_failure(mae__happy *h) {
    int last = UV_ECONNREFUSED;
    for (int k = 0; k < h->next; k++)
        if (h->att[k].status) last = h->att[k].status;
    describe(h->att, h->next, h->msg, sizeof h->msg);
    mae__happy_result r = {.fd = -1, .status = last, .winner = -1, .n_addrs = h->n,
                           .n_started = h->next, .attempts = h->att, .message = h->msg};
    finish(h);
    h->done(h->ud, &r);
}

static void on_poll(uv_poll_t *p, int status, int events);

/* Opens attempt i's socket and starts its connect. Returns 0 (pending) or a negative libuv
 * error (failed at once: no handle left open). */
static int attempt_open(mae__happy *h, int i) {
    const struct sockaddr *sa = (const struct sockaddr *)&h->att[i].addr;
    slot *s = &h->slots[i];
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
    if (fd < 0) return uv_translate_sys_error(errno);
    int rc;
    do rc = connect(fd, sa, sa_len(sa));
    while (rc < 0 && errno == EINTR);
    if (rc < 0 && errno != EINPROGRESS) {
        rc = uv_translate_sys_error(errno);
        close(fd);
        return rc;
    }
    /* Connected at once or in progress: writability reports the outcome either way. */
    if ((rc = uv_poll_init(h->loop, &s->poll, fd)) < 0) {
        close(fd);
        return rc;
    }
    s->poll.data = h;
    s->fd = fd;
    s->live = true;
    h->handles++;
    if ((rc = uv_poll_start(&s->poll, UV_WRITABLE, on_poll)) < 0) {
        slot_close(h, s);
        return rc;
    }
    return 0;
}

/* Starts the next address (and, while it is pending, the delay before the one after); an
 * address that fails at once moves on to the following one. When nothing is pending and no
 * address is left, the race has failed. */
static void start_next(mae__happy *h, mae__happy_why why) {
    while (h->next < h->n) {
        int i = h->next++;
        h->att[i].why = why;
        h->att[i].seq = i;
        int rc = attempt_open(h, i);
        if (rc == 0) {
            h->pending++;
            return;
        }
        h->att[i].status = rc;
        why = MAE__HAPPY_AFTER_FAILURE;
    }
}

static void on_timer(uv_timer_t *tm);

/* Schedules what comes next: the delay while more addresses wait, the failure when none is
 * pending or left. */
static void step(mae__happy *h, mae__happy_why why) {
    start_next(h, why);
    if (h->pending > 0) {
        if (h->next < h->n) uv_timer_start(&h->timer, on_timer, h->delay_ms, 0);
        else uv_timer_stop(&h->timer);
        return;
    }
    if (h->in_start) {  /* done() never runs inside mae__happy_start */
        uv_timer_start(&h->timer, on_timer, 0, 0);
        return;
    }
    deliver_failure(h);
}

static void on_timer(uv_timer_t *tm) {
    mae__happy *h = tm->data;
    if (h->finished) return;
    if (h->pending == 0 && h->next >= h->n) {
        deliver_failure(h);
        return;
    }
    step(h, MAE__HAPPY_AFTER_DELAY);
}

static void on_poll(uv_poll_t *p, int status, int events) {
    mae__happy *h = p->data;
    slot *s = (slot *)p;
    int i = (int)(s - h->slots);
    if (h->finished) return;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    int rc = err ? uv_translate_sys_error(err) : status < 0 ? status : 0;
    if (rc == 0 && !(events & UV_WRITABLE)) return;  /* not yet */
    h->pending--;
    if (rc < 0) {
        h->att[i].status = rc;
        slot_close(h, s);
        step(h, MAE__HAPPY_AFTER_FAILURE);
        return;
    }
    /* The winner: libuv stops watching its fd now (uv_close), so the caller can open it. */
    int fd = s->fd;
    s->fd = -1;
    mae__happy_result r = {.fd = fd, .winner = i, .n_addrs = h->n, .n_started = h->next,
                           .attempts = h->att, .message = ""};
    finish(h);
    h->done(h->ud, &r);
}

int mae__happy_start(uv_loop_t *loop, const struct sockaddr *const *addrs, int n,
                     uint64_t delay_ms, mae__happy_done_fn done, mae__happy_closed_fn closed,
                     void *ud, mae__happy **out) {
    if (!loop || !addrs || n < 1 || !done || !out) return MAE_EINVAL;
    for (int i = 0; i < n; i++)
        if (!addrs[i] || (addrs[i]->sa_family != AF_INET && addrs[i]->sa_family != AF_INET6))
            return MAE_EINVAL;
    mae__happy *h = calloc(1, sizeof *h);
    if (!h) return MAE_ENOMEM;
    const struct sockaddr *ord[MAE__HAPPY_MAX_ADDRS];
    h->n = mae__happy_order(addrs, n, ord);
    for (int i = 0; i < h->n; i++) {
        memcpy(&h->att[i].addr, ord[i], sa_len(ord[i]));
        h->att[i].seq = -1;
        h->slots[i].fd = -1;
    }
    h->loop = loop;
    h->delay_ms = delay_ms ? delay_ms : MAE__HAPPY_DELAY_MS;
    h->done = done;
    h->closed = closed;
    h->ud = ud;
    uv_timer_init(loop, &h->timer);
    h->timer.data = h;
    h->handles = 1;
    h->in_start = true;
    step(h, MAE__HAPPY_FIRST);
    h->in_start = false;
    *out = h;
    return 0;
}

void mae__happy_cancel(mae__happy *h) {
    if (!h || h->finished) return;
    finish(h);
}
