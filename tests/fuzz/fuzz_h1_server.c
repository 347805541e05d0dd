/* Fuzz target: arbitrary client bytes into the stub's HTTP/1.1 server over a real socket pair
 * on a private loop: no crash, no leak, the loop always closes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "transports/h1_server.h"

static void on_request(mae_h1_exchange *x, const mae_h1_request *r, void *ud) {
    if (r->body_len % 3 == 1) {            /* exercise drop and respond */
        mae_h1_drop(x);
        return;
    }
    mae_h1_respond(x, 200, NULL, NULL, 0, r->path, strlen(r->path));
}

static void closed(void *ud) { *(int *)ud = 1; }

static void client_read_alloc(uv_handle_t *h, size_t s, uv_buf_t *b) {
    static char buf[65536];
    b->base = buf;
    b->len = sizeof buf;
}
static void client_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
    if (n < 0) uv_close((uv_handle_t *)s, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uv_loop_t loop;
    uv_loop_init(&loop);
    mae_h1_handler h = {on_request, NULL, NULL};
    mae_h1_server *srv;
    if (mae_h1_server_new(&loop, "127.0.0.1", 0, &h, &srv) != 0) abort();
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", mae_h1_server_port(srv), &addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) abort();
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(fd, data + off, size - off);
        if (w <= 0) break;
        off += (size_t)w;
    }
    shutdown(fd, SHUT_WR);
    uv_tcp_t client;
    uv_tcp_init(&loop, &client);
    uv_tcp_open(&client, fd);
    uv_read_start((uv_stream_t *)&client, client_read_alloc, client_read);
    /* Let the server see everything, then close it. */
    for (int i = 0; i < 50 && uv_is_active((uv_handle_t *)&client); i++) uv_run(&loop, UV_RUN_NOWAIT);
    if (!uv_is_closing((uv_handle_t *)&client)) uv_close((uv_handle_t *)&client, NULL);
    int done = 0;
    mae_h1_server_close(srv, closed, &done);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (!done || uv_loop_close(&loop) != 0) abort();
    return 0;
}
