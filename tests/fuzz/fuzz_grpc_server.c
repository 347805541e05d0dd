/* Fuzz target: arbitrary client bytes into the gRPC server side (after a valid client preface
 * and SETTINGS, so frames get parsed). The handler answers at once, later (orphaned), or not
 * until the end; nothing may crash, leak or hang. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "grpc_h2/grpc_msgcodec.h"
#include "grpc_h2/grpc_server.h"

static mae_grpc_srv_call *held[64];
static int n_held, closed;

static void handler(mae_grpc_srv_call *c, const char *path, const uint8_t *msg, size_t len,
                    void *ud) {
    mae_grpc_env_request r;
    if (mae_grpc_env_request_decode(msg, len, &r) == 0) {
        uint8_t *out;
        size_t olen;
        if (mae_grpc_env_reply_encode(true, r.input, NULL, &out, &olen) == 0) {
            mae_grpc_srv_call_reply(c, out, olen);
            free(out);
        } else {
            mae_grpc_srv_call_fail(c, 13, "encode", -1);
        }
        mae_grpc_env_request_free(&r);
        return;
    }
    if (len % 2 && n_held < 64) {
        held[n_held++] = c;  /* answered after the connection is gone */
        return;
    }
    mae_grpc_srv_call_fail(c, 3, "bad \r\n envelope %", 5);
}

static void on_closed(void *ud) { closed++; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const uint8_t preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\4\0\0\0\0\0";
    uv_loop_t loop;
    mae_grpc_server *s;
    if (uv_loop_init(&loop) != 0) abort();
    if (mae_grpc_server_new(&loop, "127.0.0.1", 0, 65536, handler, NULL, &s) != 0) abort();
    uint8_t *buf = malloc(sizeof preface - 1 + size);
    memcpy(buf, preface, sizeof preface - 1);
    if (size) memcpy(buf + sizeof preface - 1, data, size);
    n_held = closed = 0;
    mae__grpc_server_feed(s, buf, sizeof preface - 1 + size);
    free(buf);
    for (int i = 0; i < n_held; i++) mae_grpc_srv_call_reply(held[i], (const uint8_t *)"x", 1);
    mae_grpc_server_close(s, on_closed, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (closed != 1 || uv_loop_close(&loop) != 0) abort();
    return 0;
}
