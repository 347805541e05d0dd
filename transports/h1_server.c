/* HTTP/1.1 server for `maestro stub`: uv_tcp + http-parser. Ownership: the server owns its
 * connections; a connection owns its parser state and at most one exchange at a time; a
 * connection's memory is freed only in its close callback, the server's when the listener and
 * every connection have closed. Bytes that arrive while a request is being answered are kept
 * (bounded) and parsed after the response is written. */
#include "transports/h1_server.h"

#include <http_parser.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maestro/maestro.h"
#include "transports/listener.h"
#include "transports/wire.h"

/* Unparsed bytes kept while a request is in flight: a pipelining client may not push more. */
#define MAX_BACKLOG (256 * 1024)

typedef struct h1_conn h1_conn;

struct mae_h1_exchange {
    h1_conn *conn;          /* NULL once aborted */
    void *data;
};

struct h1_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;       /* request, idle and write deadlines (limits) */
    int handles;            /* tcp + timer not yet closed: freed at 0 */
    mae_h1_server *srv;
    h1_conn *next, *prev;
    http_parser parser;
    unsigned long id;
    char peer[64];
    bool closing, keep_alive, header_value_last, draining;
    bool in_request;        /* bytes of a request parsed, the request not yet complete */
    bool too_big;           /* the announced Content-Length is over max_body */
    bool read_stopped;      /* by the write high-water mark */
    size_t write_queued;    /* bytes handed to uv_write and not yet written */
    /* the request being parsed */
    char *url;
    size_t url_len;
    mae_header_kv headers[MAE_H1_MAX_HEADERS];
    char *hbuf;             /* header names and values, NUL-separated */
    size_t hbuf_len, n_headers;
    char *body;
    size_t body_len, body_cap;
    /* a parsed request waiting for its response */
    mae_h1_exchange *pending;
    char *backlog;
    size_t backlog_len;
};

struct mae_h1_server {
    uv_loop_t *loop;
    mae_listener listener;
    mae_h1_handler h;
    h1_conn *conns;
    size_t max_body;
    unsigned long accepted;
    size_t n_open;
    mae_h1_limits lim;
    bool held;              /* stop_accepting holds the listener's count until close */
};

static void conn_close(h1_conn *c);
static void conn_drain(h1_conn *c);

static void reset_request(h1_conn *c) {
    free(c->url);
    free(c->hbuf);
    free(c->body);
    c->url = c->hbuf = c->body = NULL;
    c->url_len = c->hbuf_len = c->n_headers = c->body_len = c->body_cap = 0;
    c->header_value_last = false;
}

static int append(char **buf, size_t *len, const char *at, size_t n, size_t max) {
    if (*len + n > max) return -1;
    char *b = realloc(*buf, *len + n + 1);
    if (!b) return -1;
    memcpy(b + *len, at, n);
    *len += n;
    b[*len] = 0;
    *buf = b;
    return 0;
}

static void arm(h1_conn *c, uint64_t ms);

static int on_message_begin(http_parser *p) {
    h1_conn *c = p->data;
    reset_request(c);
    c->in_request = true;
    arm(c, c->srv->lim.request_timeout_ms);
    return 0;
}

/* Refuse a body announced over the cap before reading any of it. */
static int on_headers_complete(http_parser *p) {
    h1_conn *c = p->data;
    if (p->content_length != ULLONG_MAX && p->content_length > c->srv->max_body) {
        c->too_big = true;
        return -1;
    }
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n) {
    h1_conn *c = p->data;
    return append(&c->url, &c->url_len, at, n, MAE_H1_MAX_URL);
}

/* Names and values are stored as "name\0value\0" pairs; pointers are fixed up at the end
 * because realloc may move hbuf. A name continues until a value starts, and vice versa. */
static int on_header_field(http_parser *p, const char *at, size_t n) {
    h1_conn *c = p->data;
    if (c->header_value_last || c->n_headers == 0) {
        if (c->n_headers == MAE_H1_MAX_HEADERS) return -1;
        if (c->n_headers > 0 && append(&c->hbuf, &c->hbuf_len, "", 1, MAE_H1_MAX_HEADER_BYTES)) return -1;
        c->headers[c->n_headers].name = (const char *)(uintptr_t)c->hbuf_len;
        c->n_headers++;
        c->header_value_last = false;
    }
    return append(&c->hbuf, &c->hbuf_len, at, n, MAE_H1_MAX_HEADER_BYTES);
}

static int on_header_value(http_parser *p, const char *at, size_t n) {
    h1_conn *c = p->data;
    if (!c->header_value_last) {
        if (append(&c->hbuf, &c->hbuf_len, "", 1, MAE_H1_MAX_HEADER_BYTES)) return -1;
        c->headers[c->n_headers - 1].value = (const char *)(uintptr_t)c->hbuf_len;
        c->header_value_last = true;
    }
    return append(&c->hbuf, &c->hbuf_len, at, n, MAE_H1_MAX_HEADER_BYTES);
}

static int on_body(http_parser *p, const char *at, size_t n) {
    h1_conn *c = p->data;
    if (c->body_len + n > c->srv->max_body) return -1;
    if (c->body_len + n + 1 > c->body_cap) {
        size_t cap = c->body_cap ? c->body_cap : 1024;
        while (cap < c->body_len + n + 1) cap *= 2;
        char *b = realloc(c->body, cap);
        if (!b) return -1;
        c->body = b;
        c->body_cap = cap;
    }
    memcpy(c->body + c->body_len, at, n);
    c->body_len += n;
    c->body[c->body_len] = 0;
    return 0;
}

static int on_message_complete(http_parser *p) {
    h1_conn *c = p->data;
    mae_h1_exchange *x = calloc(1, sizeof *x);
    if (!x) return -1;
    x->conn = c;
    c->pending = x;
    c->in_request = false;
    /* the handler takes its time: no deadline while it works */
    uv_timer_stop(&c->timer);
    c->keep_alive = http_should_keep_alive(p) != 0;
    /* One request at a time: stop here, the rest waits in the backlog. */
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void dispatch(h1_conn *c) {
    mae_h1_server *s = c->srv;
    mae_header_kv hdrs[MAE_H1_MAX_HEADERS];
    for (size_t i = 0; i < c->n_headers; i++) {
        hdrs[i].name = c->hbuf + (uintptr_t)c->headers[i].name;
        hdrs[i].value = c->headers[i].value ? c->hbuf + (uintptr_t)c->headers[i].value : "";
    }
    char *url = c->url ? c->url : "/";
    char *q = strchr(url, '?');
    const char *query = "";
    if (q) {
        *q = 0;
        query = q + 1;
    }
    mae_h1_request req = {
        .method = http_method_str((enum http_method)c->parser.method),
        .path = url,
        .query = query,
        .headers = hdrs,
        .n_headers = c->n_headers,
        .body = c->body ? c->body : "",
        .body_len = c->body_len,
        .peer = c->peer,
        .conn_id = c->id,
    };
    s->h.on_request(c->pending, &req, s->h.ud);
}

static void send_error_and_close(h1_conn *c, int status, const char *msg);

/* A deadline passed: a request still arriving gets 408; an idle connection or a peer that
 * stopped reading is just closed. */
static void on_deadline(uv_timer_t *t) {
    h1_conn *c = t->data;
    if (c->closing || c->pending) return;
    if (c->in_request && c->write_queued == 0) send_error_and_close(c, 408, "request not received in time");
    else conn_close(c);
}

static void arm(h1_conn *c, uint64_t ms) {
    if (c->closing) return;
    if (ms) uv_timer_start(&c->timer, on_deadline, ms, 0);
    else uv_timer_stop(&c->timer);
}

/* Parses the backlog until it is empty or a request is waiting for its response. Iterative,
 * guarded against re-entry: a handler answering synchronously inside dispatch() just lets the
 * loop go on instead of recursing once per pipelined request. */
static void conn_drain(h1_conn *c) {
    if (c->draining) return;
    c->draining = true;
    size_t off = 0;
    size_t hwm = c->srv->lim.write_hwm;
    while (off < c->backlog_len && !c->closing && !c->pending && !(hwm && c->write_queued > hwm)) {
        size_t used = http_parser_execute(&c->parser, &settings, c->backlog + off, c->backlog_len - off);
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
        off += used;
        if (e == HPE_PAUSED) {
            http_parser_pause(&c->parser, 0);
        } else if (e != HPE_OK) {
            bool too_big = c->too_big || e == HPE_CB_url || e == HPE_CB_header_field || e == HPE_CB_header_value ||
                           e == HPE_CB_body || e == HPE_HEADER_OVERFLOW;
            send_error_and_close(c, too_big ? 413 : 400, http_errno_description(e));
            break;
        }
        if (c->pending) dispatch(c);
        else if (used == 0) break;
    }
    if (off > 0 && !c->closing) {
        memmove(c->backlog, c->backlog + off, c->backlog_len - off);
        c->backlog_len -= off;
    }
    c->draining = false;
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    buf->base = malloc(suggested);
    buf->len = buf->base ? suggested : 0;
}

static void read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
    h1_conn *c = st->data;
    if (n < 0) {
        free(buf->base);
        conn_close(c);
        return;
    }
    if (c->srv->lim.write_hwm && c->write_queued > c->srv->lim.write_hwm) {
        uv_read_stop(st);
        c->read_stopped = true;
    }
    /* Kept until parsed; a client pipelining while we answer is bounded by MAX_BACKLOG. */
    if (append(&c->backlog, &c->backlog_len, buf->base, (size_t)n, MAX_BACKLOG)) conn_close(c);
    free(buf->base);
    if (!c->closing) conn_drain(c);
}

static void conn_closed_cb(uv_handle_t *h) {
    h1_conn *c = h->data;
    if (--c->handles > 0) return;
    mae_h1_server *s = c->srv;
    reset_request(c);
    free(c->backlog);
    free(c);
    mae__listener_conn_closed(&s->listener);
}

static void conn_close(h1_conn *c) {
    if (c->closing) return;
    c->closing = true;
    mae_h1_server *s = c->srv;
    if (c->prev) c->prev->next = c->next; else s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    s->n_open--;
    if (c->pending) {
        mae_h1_exchange *x = c->pending;
        c->pending = NULL;
        x->conn = NULL;
        if (s->h.on_abort) s->h.on_abort(x, s->h.ud);
        free(x);
    }
    uv_close((uv_handle_t *)&c->timer, conn_closed_cb);
    uv_close((uv_handle_t *)&c->tcp, conn_closed_cb);
}

typedef struct write_req {
    uv_write_t req;
    h1_conn *conn;
    size_t len;
    bool close_after;
    char data[];
} write_req;

static void write_cb(uv_write_t *req, int status) {
    write_req *w = (write_req *)req;
    h1_conn *c = w->conn;
    bool close_after = w->close_after;
    c->write_queued -= w->len;
    free(w);
    if (c->closing) return;
    if (status < 0 || close_after) {
        conn_close(c);
        return;
    }
    size_t hwm = c->srv->lim.write_hwm;
    if (!hwm) return;
    if (c->write_queued > hwm) {
        arm(c, c->srv->lim.request_timeout_ms);   /* the peer took bytes: a new deadline */
        return;
    }
    if (c->read_stopped) {
        c->read_stopped = false;
        if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) < 0) {
            conn_close(c);
            return;
        }
    }
    if (!c->pending) {
        arm(c, c->in_request ? c->srv->lim.request_timeout_ms : c->srv->lim.idle_timeout_ms);
        conn_drain(c);
    }
}

static void send_raw(h1_conn *c, const char *head, size_t hlen, const char *body, size_t blen,
                     bool close_after) {
    write_req *w = malloc(sizeof *w + hlen + blen);
    if (!w) {
        conn_close(c);
        return;
    }
    w->conn = c;
    w->close_after = close_after;
    w->len = hlen + blen;
    memcpy(w->data, head, hlen);
    if (blen) memcpy(w->data + hlen, body, blen);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)(hlen + blen));
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, write_cb) < 0) {
        free(w);
        conn_close(c);
        return;
    }
    c->write_queued += hlen + blen;
}

static const char *reason(int status) {
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 422: return "Unprocessable Content";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
    }
}

static void send_error_and_close(h1_conn *c, int status, const char *msg) {
    char head[512];
    size_t blen = strlen(msg);
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n", status, reason(status), blen);
    send_raw(c, head, (size_t)n, msg, blen, true);
    uv_read_stop((uv_stream_t *)&c->tcp);
}

int mae__h1_respond(mae_h1_exchange *x, int status, const char *content_type,
                   const mae_header_kv *extra, size_t n_extra, const char *body, size_t len) {
    h1_conn *c = x->conn;
    if (!c) {           /* aborted: nothing to send */
        free(x);
        return MAE_ECANCELED;
    }
    c->pending = NULL;
    free(x);
    int rc = 0;
    for (size_t i = 0; i < n_extra; i++)
        if (!mae__header_name_ok(extra[i].name) || !mae__header_value_ok(extra[i].value)) rc = MAE_EINVAL;
    if (rc < 0) {
        status = 500;
        n_extra = 0;
        body = "invalid response header";
        len = strlen(body);
        content_type = "text/plain";
    }
    size_t cap = 256 + (content_type ? strlen(content_type) : 0);
    for (size_t i = 0; i < n_extra; i++) cap += strlen(extra[i].name) + strlen(extra[i].value) + 4;
    char *head = malloc(cap);
    if (!head) {
        conn_close(c);
        return MAE_ENOMEM;
    }
    /* No body after a 1xx, 204 or 304 status (nor their Content-Length), nor after a response to
     * HEAD: the client would read it as the start of the next response (RFC 9112 §6.3). */
    bool no_body = status < 200 || status == 204 || status == 304;
    bool head_req = c->parser.method == HTTP_HEAD;
    size_t off = (size_t)snprintf(head, cap, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n", status, reason(status),
                                  content_type ? content_type : "application/json");
    if (!no_body) off += (size_t)snprintf(head + off, cap - off, "Content-Length: %zu\r\n", len);
    if (no_body || head_req) len = 0;
    for (size_t i = 0; i < n_extra; i++)
        off += (size_t)snprintf(head + off, cap - off, "%s: %s\r\n", extra[i].name, extra[i].value);
    off += (size_t)snprintf(head + off, cap - off, "%s\r\n", c->keep_alive ? "" : "Connection: close\r\n");
    send_raw(c, head, off, body, len, !c->keep_alive);
    free(head);
    if (c->closing || !c->keep_alive) return rc;
    size_t hwm = c->srv->lim.write_hwm;
    if (hwm && c->write_queued > hwm) {
        arm(c, c->srv->lim.request_timeout_ms);   /* the peer must read within this */
        return rc;
    }
    arm(c, c->in_request ? c->srv->lim.request_timeout_ms : c->srv->lim.idle_timeout_ms);
    /* Parse whatever the client pipelined while we were answering. */
    conn_drain(c);
    return rc;
}

void mae__h1_drop(mae_h1_exchange *x) {
    h1_conn *c = x->conn;
    if (c) {
        c->pending = NULL;
        conn_close(c);
    }
    free(x);
}

void mae__h1_exchange_set_data(mae_h1_exchange *x, void *data) { x->data = data; }
void *mae__h1_exchange_data(const mae_h1_exchange *x) { return x->data; }

static void on_connection(uv_stream_t *l, int status) {
    mae_h1_server *s = l->data;
    if (status < 0 || s->listener.closing) return;
    h1_conn *c = calloc(1, sizeof *c);
    if (!c) return;
    if (uv_tcp_init(s->loop, &c->tcp) < 0) {
        free(c);
        return;
    }
    uv_timer_init(s->loop, &c->timer);   /* cannot fail on Linux */
    c->tcp.data = c->timer.data = c;
    c->handles = 2;
    c->srv = s;
    mae__listener_conn_opened(&s->listener);
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    s->n_open++;
    /* over the cap: accepted (so the kernel's queue does not fill) and closed at once */
    if (uv_accept(l, (uv_stream_t *)&c->tcp) < 0 || (s->lim.max_conns && s->n_open > s->lim.max_conns)) {
        conn_close(c);
        return;
    }
    c->id = ++s->accepted;
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    char ip[48] = "?";
    int port = 0;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0 && ss.ss_family == AF_INET) {
        uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof ip);
        port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
    snprintf(c->peer, sizeof c->peer, "%s:%d", ip, port);
    uv_tcp_nodelay(&c->tcp, 1);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) < 0) conn_close(c);
    else arm(c, s->lim.idle_timeout_ms ? s->lim.idle_timeout_ms : s->lim.request_timeout_ms);
}

int mae__h1_server_new(uv_loop_t *loop, const char *host, int port, const mae_h1_handler *h,
                      mae_h1_server **out) {
    mae_h1_server *s = calloc(1, sizeof *s);
    if (!s) return MAE_ENOMEM;
    s->loop = loop;
    s->h = *h;
    s->max_body = MAE_H1_DEFAULT_MAX_BODY;
    int rc = mae__listener_start(&s->listener, loop, host, port, s, free, on_connection);
    if (rc < 0) return rc;   /* s was handed to free() by the listener */
    *out = s;
    return 0;
}

int mae__h1_server_port(const mae_h1_server *s) { return mae__listener_port(&s->listener); }

void mae__h1_server_set_max_body(mae_h1_server *s, size_t max) { s->max_body = max; }

unsigned long mae__h1_server_connections(const mae_h1_server *s) { return s->accepted; }

void mae__h1_server_set_limits(mae_h1_server *s, const mae_h1_limits *l) { s->lim = *l; }

size_t mae__h1_server_open(const mae_h1_server *s) { return s->n_open; }

void mae__h1_server_stop_accepting(mae_h1_server *s) {
    if (s->listener.closing) return;
    /* a count of our own keeps the server alive with no connection left, until close */
    mae__listener_conn_opened(&s->listener);
    s->held = true;
    mae__listener_close(&s->listener, NULL, NULL);
}

void mae__h1_server_close(mae_h1_server *s, void (*done)(void *ud), void *ud) {
    if (s->held) {
        s->held = false;
        s->listener.done = done;
        s->listener.done_ud = ud;
        while (s->conns) conn_close(s->conns);
        mae__listener_conn_closed(&s->listener);   /* may free s */
        return;
    }
    if (s->listener.closing) return;
    mae__listener_close(&s->listener, done, ud);
    while (s->conns) conn_close(s->conns);
}
