/* Fuzz target: arbitrary client bytes into the gRPC server's streams (grpc_server.h's stream
 * handler, what the stub's reflection uses), after a valid client preface and SETTINGS. Paths
 * starting "/s" are streams: each request message gets an echo answer, none, or ends the stream
 * with a code, by its first byte; other paths are unary calls answered at once. Nothing may
 * crash, leak or hang. Seeds are HTTP/2 frame sequences (see tests/fuzz/seed-fuzz_grpc_server). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "grpc_h2/grpc_server.h"

static int closed;

static void on_call(mae_grpc_scall *c, const char *path, const uint8_t *msg, size_t len,
                    const mae_header_kv *h, size_t n_h, void *ud) {
    mae__grpc_server_reply(c, msg, len);
}

static bool is_stream(const char *path, void *ud) { return strncmp(path, "/s", 2) == 0; }

static int on_stream_msg(const char *path, const uint8_t *msg, size_t len, uint8_t **reply,
                         size_t *reply_len, void *ud) {
    if (len && msg[0] == 'x') return 3;  /* INVALID_ARGUMENT: ends the stream */
    if (len && msg[0] == 'n') return 0;  /* no answer */
    *reply = malloc(len + 1);
    if (!*reply) return 8;
    (*reply)[0] = 'e';
    if (len) memcpy(*reply + 1, msg, len);
    *reply_len = len + 1;
    return 0;
}

static void on_closed(void *ud) { closed++; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const uint8_t preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\4\0\0\0\0\0";
    uv_loop_t loop;
    mae_grpc_server *s;
    if (uv_loop_init(&loop) != 0) abort();
    mae_grpc_server_opts o = {.max_message = 65536};
    mae_grpc_server_handler h = {on_call, NULL, NULL};
    if (mae__grpc_server_new(&loop, "127.0.0.1", 0, &o, &h, &s) != 0) abort();
    mae_grpc_stream_handler sh = {is_stream, on_stream_msg, NULL};
    mae__grpc_server_set_streams(s, &sh);
    uint8_t *buf = malloc(sizeof preface - 1 + size);
    memcpy(buf, preface, sizeof preface - 1);
    if (size) memcpy(buf + sizeof preface - 1, data, size);
    closed = 0;
    mae__grpc_server_feed(s, buf, sizeof preface - 1 + size);
    free(buf);
    mae__grpc_server_close(s, on_closed, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (closed != 1 || uv_loop_close(&loop) != 0) abort();
    return 0;
}
