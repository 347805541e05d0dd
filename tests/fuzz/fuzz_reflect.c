/* Fuzz target: the reflection client's conversation (grpc_reflect_int.h) fed a server's whole
 * answer stream: the input is a sequence of gRPC-framed ReflectionResponse messages, each fed
 * in turn until the conversation fails or completes (then the pool is linked). The requests it
 * sends are checked to be ReflectionRequests. Nothing may crash, leak or hang. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grpc_h2/grpc_codec.h"
#include "grpc_h2/grpc_reflect_int.h"
#include "maestro/internal/reflection.pb-c.h"

static size_t n_sent;

static int sink(void *ud, const uint8_t *msg, size_t len) {
    Mae__Pb__ReflectionRequest *r = mae__pb__reflection_request__unpack(NULL, len, msg);
    if (!r) abort();  /* what we send must be a request */
    mae__pb__reflection_request__free_unpacked(r, NULL);
    n_sent++;
    return 0;
}

typedef struct feed {
    mae__reflect_conv *conv;
    int rc;
} feed;

static int on_msg(void *ud, bool compressed, uint8_t *msg, size_t len) {
    feed *f = ud;
    if (f->rc == 0) f->rc = mae__reflect_conv_feed(f->conv, msg, len);
    free(msg);
    return f->rc == 0 ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mae__reflect_conv conv;
    n_sent = 0;
    if (mae__reflect_conv_start(&conv, sink, NULL) == 0) {
        feed f = {&conv, 0};
        mae_grpc_deframer df;
        mae__grpc_deframer_init(&df, 1 << 20);
        mae__grpc_deframer_feed(&df, data, size, on_msg, &f);
        mae__grpc_deframer_free(&df);
        if (f.rc == 1) {
            mae__pb_pool *pool = NULL;
            if (mae__reflect_conv_finish(&conv, &pool) == 0) mae__pb_pool_free(pool);
        }
        if (f.rc < 0 && !conv.err[0]) abort();  /* every failure says why */
    }
    mae__reflect_conv_free(&conv);
    return 0;
}
