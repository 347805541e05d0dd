/* Fuzz target: arbitrary client bytes into the stub's HTTP/1.1 server over real loopback TCP.
 * One loop and one server live across iterations (a listener per input would exhaust ports);
 * each input is one client connection, closed with RST so no TIME_WAIT piles up. The client
 * must not half-close (shutdown(SHUT_WR)) first: its FIN makes the server close in turn, which
 * leaves the client socket in TIME_WAIT despite SO_LINGER, and after ~28k inputs every
 * ephemeral port is taken and connect() fails. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "transports/h1_server.h"

static uv_loop_t loop;
static mae_h1_server *srv;
static struct sockaddr_in addr;

static void on_request(mae_h1_exchange *x, const mae_h1_request *r, void *ud) {
    if (r->body_len % 3 == 1) {            /* exercise drop as well as respond */
        mae__h1_drop(x);
        return;
    }
    mae__h1_respond(x, 200, NULL, NULL, 0, r->path, strlen(r->path));
}

static void client_alloc(uv_handle_t *h, size_t s, uv_buf_t *b) {
    static char buf[65536];
    b->base = buf;
    b->len = sizeof buf;
}
static void client_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
    if (n < 0) uv_read_stop(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!srv) {
        uv_loop_init(&loop);
        mae_h1_handler h = {on_request, NULL, NULL};
        if (mae__h1_server_new(&loop, "127.0.0.1", 0, &h, &srv) != 0) abort();
        uv_ip4_addr("127.0.0.1", mae__h1_server_port(srv), &addr);
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    if (fd < 0) abort();
    /* libFuzzer's SIGALRM (its -timeout watchdog) may interrupt a blocking connect(); the
     * connection then goes on in the background: wait for it with further connect() calls. */
    while (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        if (errno == EISCONN) break;
        if (errno == EINTR || errno == EALREADY) continue;
        perror("fuzz_h1_server: connect");
        abort();
    }
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(fd, data + off, size - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        off += (size_t)w;
    }
    uv_tcp_t client;
    uv_tcp_init(&loop, &client);
    uv_tcp_open(&client, fd);
    uv_read_start((uv_stream_t *)&client, client_alloc, client_read);
    /* Bounded: the server answers or closes; a request it waits on forever just stops here. */
    for (int i = 0; i < 50 && uv_is_active((uv_handle_t *)&client); i++) uv_run(&loop, UV_RUN_NOWAIT);
    uv_close((uv_handle_t *)&client, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    return 0;
}
