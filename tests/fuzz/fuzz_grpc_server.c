/* Fuzz target: arbitrary client bytes into the gRPC server side (after a valid client preface
 * and SETTINGS, so frames get parsed). The handler answers at once or never (then the call is
 * aborted when the connection goes); nothing may crash, leak or hang. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "grpc_h2/grpc_msgcodec.h"
#include "grpc_h2/grpc_server.h"

static int n_held, closed;

static void on_call(mae_grpc_scall *c, const char *path, const uint8_t *msg, size_t len,
                    const mae_header_kv *h, size_t n_h, void *ud) {
    mae_grpc_env_request r;
    if (mae__grpc_env_request_decode(msg, len, &r) == 0) {
        uint8_t *out;
        size_t olen;
        if (mae__grpc_env_reply_encode(true, r.input, NULL, &out, &olen) == 0) {
            mae__grpc_server_reply(c, out, olen);
            free(out);
        } else {
            mae__grpc_server_fail(c, 13, "encode", NULL, 0);
        }
        mae__grpc_env_request_free(&r);
        return;
    }
    if (len % 2) {
        n_held++;  /* left unanswered: aborted when the connection goes */
        return;
    }
    mae_header_kv pb[] = {{"grpc-retry-pushback-ms", "5"}};
    mae__grpc_server_fail(c, 3, "bad \r\n envelope %", pb, 1);
}

static int n_aborted;
static void on_abort(mae_grpc_scall *c, void *ud) { n_aborted++; }

static void on_closed(void *ud) { closed++; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const uint8_t preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\4\0\0\0\0\0";
    uv_loop_t loop;
    mae_grpc_server *s;
    if (uv_loop_init(&loop) != 0) abort();
    mae_grpc_server_opts o = {.max_message = 65536};
    mae_grpc_server_handler h = {on_call, on_abort, NULL};
    if (mae__grpc_server_new(&loop, "127.0.0.1", 0, &o, &h, &s) != 0) abort();
    uint8_t *buf = malloc(sizeof preface - 1 + size);
    memcpy(buf, preface, sizeof preface - 1);
    if (size) memcpy(buf + sizeof preface - 1, data, size);
    n_held = closed = n_aborted = 0;
    mae__grpc_server_feed(s, buf, sizeof preface - 1 + size);
    free(buf);
    if (n_aborted > n_held) abort();  /* only unanswered calls are aborted */
    mae__grpc_server_close(s, on_closed, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (closed != 1 || uv_loop_close(&loop) != 0) abort();
    return 0;
}
