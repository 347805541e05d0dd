/* HTTP/1.1 server (transports/h1_server.c) against real clients: Python's http.client and raw
 * sockets in a child process started with uv_spawn, so the server's loop runs meanwhile. */
#include <uv.h>

#include "harness.h"
#include "maestro/maestro.h"
#include "transports/h1_server.h"

static int requests_seen, aborts_seen, closed_called;
static char seen[4096];
static uv_timer_t delay_timer;
static mae_h1_exchange *delayed;

static void on_request(mae_h1_exchange *x, const mae_h1_request *r, void *ud) {
    requests_seen++;
    size_t n = strlen(seen);
    snprintf(seen + n, sizeof seen - n, "%s %s?%s [%.*s] conn=%lu\n", r->method, r->path, r->query,
             (int)r->body_len, r->body, r->conn_id);
    if (strcmp(r->path, "/slow") == 0) {      /* answered later, from a timer */
        delayed = x;
        uv_timer_start(&delay_timer, (uv_timer_cb)ud, 50, 0);
        return;
    }
    if (strcmp(r->path, "/hang") == 0) return;  /* never answered: the client gives up */
    if (strcmp(r->path, "/badname") == 0) {     /* a name no value check catches: refused */
        mae_header_kv bad[] = {{"X-Evil: 1\tSet-Cookie", "v"}};
        ASSERT_EQ_INT(mae__h1_respond(x, 200, NULL, bad, 1, "{}", 2), MAE_EINVAL);
        return;
    }
    char body[128];
    int len = snprintf(body, sizeof body, "{\"n\":%d,\"path\":\"%s\"}", requests_seen, r->path);
    mae_header_kv extra[] = {{"X-Test", "yes"}};
    int status = strcmp(r->path, "/204") == 0 ? 204 : 200;
    ASSERT_EQ_INT(mae__h1_respond(x, status, NULL, extra, 1, body, (size_t)len), 0);
}

static void on_abort(mae_h1_exchange *x, void *ud) {
    aborts_seen++;
    if (x == delayed) delayed = NULL;
}

static void delay_fire(uv_timer_t *t) {
    if (delayed) mae__h1_respond(delayed, 201, "text/plain", NULL, 0, "late", 4);
    delayed = NULL;
}

typedef struct {
    uv_process_t proc;
    uv_pipe_t out;
    char buf[65536];
    size_t len;
    int64_t exit_status;
    mae_h1_server *srv;
} child;

static void out_alloc(uv_handle_t *h, size_t s, uv_buf_t *b) {
    child *c = h->data;
    b->base = c->buf + c->len;
    b->len = sizeof c->buf - c->len - 1;
}
static void out_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
    child *c = s->data;
    if (n > 0) c->len += (size_t)n;
    else if (n < 0) uv_close((uv_handle_t *)s, NULL);
    c->buf[c->len] = 0;
}
static void srv_closed(void *ud) { closed_called++; }
static void on_exit_cb(uv_process_t *p, int64_t st, int sig) {
    child *c = p->data;
    c->exit_status = st;
    uv_close((uv_handle_t *)p, NULL);
    mae__h1_server_close(c->srv, srv_closed, NULL);
    uv_close((uv_handle_t *)&delay_timer, NULL);
}

/* Runs a Python client script (given the port as argv[1]) against a fresh server. */
static void run_client(const char *script, child *c) {
    uv_loop_t loop;
    ASSERT_EQ_INT(uv_loop_init(&loop), 0);
    uv_timer_init(&loop, &delay_timer);
    mae_h1_handler h = {on_request, on_abort, (void *)delay_fire};
    memset(c, 0, sizeof *c);
    ASSERT_EQ_INT(mae__h1_server_new(&loop, "127.0.0.1", 0, &h, &c->srv), 0);
    char port[16];
    snprintf(port, sizeof port, "%d", mae__h1_server_port(c->srv));
    char *args[] = {TH_PYTHON, "-c", (char *)script, port, NULL};
    uv_pipe_init(&loop, &c->out, 0);
    c->out.data = c;
    c->proc.data = c;
    uv_stdio_container_t stdio[3] = {{.flags = UV_IGNORE}, {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&c->out},
                                     {.flags = UV_INHERIT_FD, .data.fd = 2}};
    uv_process_options_t o = {.exit_cb = on_exit_cb, .file = TH_PYTHON, .args = args, .stdio_count = 3,
                              .stdio = stdio};
    ASSERT_EQ_INT(uv_spawn(&loop, &c->proc, &o), 0);
    uv_read_start((uv_stream_t *)&c->out, out_alloc, out_read);
    ASSERT_EQ_INT(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ASSERT_EQ_INT(closed_called, 1);
    ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}

TEST(keep_alive_pipelining_and_bodies) {
    child c;
    run_client(
        "import http.client, socket, sys\n"
        "p = int(sys.argv[1])\n"
        "h = http.client.HTTPConnection('127.0.0.1', p)\n"
        "for i in range(3):\n"
        "    h.request('POST', '/a/%d?x=%d' % (i, i), body='{\"i\":%d}' % i, headers={'Content-Type':'application/json'})\n"
        "    r = h.getresponse(); print(r.status, r.getheader('X-Test'), r.read().decode())\n"
        "s = socket.create_connection(('127.0.0.1', p))\n"
        "s.sendall(b'GET /p1 HTTP/1.1\\r\\nHost: x\\r\\n\\r\\nGET /p2 HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n')\n"
        "data = b''\n"
        "while True:\n"
        "    d = s.recv(65536)\n"
        "    if not d: break\n"
        "    data += d\n"
        "print(data.count(b'HTTP/1.1 200 OK'), data.decode().endswith('\"path\":\"/p2\"}'))\n",
        &c);
    ASSERT_EQ_INT(c.exit_status, 0);
    ASSERT_EQ_STR(c.buf, "200 yes {\"n\":1,\"path\":\"/a/0\"}\n"
                         "200 yes {\"n\":2,\"path\":\"/a/1\"}\n"
                         "200 yes {\"n\":3,\"path\":\"/a/2\"}\n"
                         "2 True\n");
    ASSERT_EQ_INT(requests_seen, 5);
    ASSERT_EQ_STR(seen, "POST /a/0?x=0 [{\"i\":0}] conn=1\n"
                        "POST /a/1?x=1 [{\"i\":1}] conn=1\n"
                        "POST /a/2?x=2 [{\"i\":2}] conn=1\n"
                        "GET /p1? [] conn=2\n"
                        "GET /p2? [] conn=2\n");
    ASSERT_EQ_INT(aborts_seen, 0);
}

/* A response to HEAD, and a 204, end at their blank line: a body there would be read as the
 * start of the next response on the connection (RFC 9112 §6.3). */
TEST(head_and_204_responses_carry_no_body) {
    child c;
    run_client(
        "import socket, sys\n"
        "p = int(sys.argv[1])\n"
        "s = socket.create_connection(('127.0.0.1', p))\n"
        "s.sendall(b'HEAD /h HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'\n"
        "          b'POST /204 HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 0\\r\\n\\r\\n'\n"
        "          b'GET /g HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n')\n"
        "data = b''\n"
        "while True:\n"
        "    d = s.recv(65536)\n"
        "    if not d: break\n"
        "    data += d\n"
        "print(data.decode().replace('\\r\\n', '|'))\n",
        &c);
    ASSERT_EQ_INT(c.exit_status, 0);
    ASSERT_EQ_STR(c.buf,
                  "HTTP/1.1 200 OK|Content-Type: application/json|Content-Length: 19|X-Test: yes||"
                  "HTTP/1.1 204 No Content|Content-Type: application/json|X-Test: yes||"
                  "HTTP/1.1 200 OK|Content-Type: application/json|Content-Length: 19|X-Test: yes|"
                  "Connection: close||{\"n\":3,\"path\":\"/g\"}\n");
    ASSERT_EQ_INT(requests_seen, 3);
}

TEST(a_response_header_name_that_is_not_a_token_gets_a_500) {
    child c;
    run_client(
        "import socket, sys\n"
        "p = int(sys.argv[1])\n"
        "s = socket.create_connection(('127.0.0.1', p))\n"
        "s.sendall(b'GET /badname HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n')\n"
        "data = b''\n"
        "while True:\n"
        "    d = s.recv(65536)\n"
        "    if not d: break\n"
        "    data += d\n"
        "print(data.decode().replace('\\r\\n', '|'))\n",
        &c);
    ASSERT_EQ_INT(c.exit_status, 0);
    ASSERT_EQ_STR(c.buf, "HTTP/1.1 500 Internal Server Error|Content-Type: text/plain|Content-Length: 23|"
                         "Connection: close||invalid response header\n");
}

TEST(delayed_response_and_abort_of_hanging_request) {
    child c;
    run_client(
        "import http.client, socket, sys\n"
        "p = int(sys.argv[1])\n"
        "h = http.client.HTTPConnection('127.0.0.1', p)\n"
        "h.request('GET', '/slow'); r = h.getresponse(); print(r.status, r.read().decode())\n"
        "s = socket.create_connection(('127.0.0.1', p))\n"
        "s.sendall(b'GET /hang HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n')\n"
        "s.settimeout(0.2)\n"
        "try:\n"
        "    s.recv(10); print('answered')\n"
        "except socket.timeout:\n"
        "    print('no answer')\n"
        "s.close()\n",
        &c);
    ASSERT_EQ_INT(c.exit_status, 0);
    ASSERT_EQ_STR(c.buf, "201 late\nno answer\n");
    ASSERT_EQ_INT(requests_seen, 2);
    ASSERT_EQ_INT(aborts_seen, 1);   /* the hanging exchange, when the client closed */
}

TEST(malformed_and_oversized_requests_get_4xx_and_close) {
    child c;
    run_client(
        "import socket, sys\n"
        "p = int(sys.argv[1])\n"
        "def ask(raw):\n"
        "    s = socket.create_connection(('127.0.0.1', p)); s.sendall(raw)\n"
        "    data = b''\n"
        "    while True:\n"
        "        d = s.recv(65536)\n"
        "        if not d: break\n"
        "        data += d\n"
        "    print(data.split(b'\\r\\n')[0].decode())\n"
        "ask(b'NOT HTTP AT ALL\\r\\n\\r\\n')\n"
        "ask(b'GET /' + b'a' * 9000 + b' HTTP/1.1\\r\\n\\r\\n')\n"
        "ask(b'GET / HTTP/1.1\\r\\n' + b''.join(b'X-%d: v\\r\\n' % i for i in range(70)) + b'\\r\\n')\n",
        &c);
    ASSERT_EQ_INT(c.exit_status, 0);
    ASSERT_EQ_STR(c.buf, "HTTP/1.1 400 Bad Request\nHTTP/1.1 413 Payload Too Large\nHTTP/1.1 413 Payload Too Large\n");
    ASSERT_EQ_INT(requests_seen, 0);
}

static void never(mae_h1_exchange *x, const mae_h1_request *r, void *ud) { mae__h1_respond(x, 200, NULL, NULL, 0, "", 0); }

TEST(port_in_use_is_reported) {
    uv_loop_t loop;
    uv_loop_init(&loop);
    mae_h1_handler h = {never, NULL, NULL};
    mae_h1_server *a, *b = NULL;
    ASSERT_EQ_INT(mae__h1_server_new(&loop, "127.0.0.1", 0, &h, &a), 0);
    ASSERT_EQ_INT(mae__h1_server_new(&loop, "127.0.0.1", mae__h1_server_port(a), &h, &b), MAE_EEXISTS);
    ASSERT_EQ_INT(mae__h1_server_new(&loop, "not-an-ip", 0, &h, &b), MAE_EINVAL);
    mae__h1_server_close(a, srv_closed, NULL);
    ASSERT_EQ_INT(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ASSERT_EQ_INT(closed_called, 1);
    ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}
