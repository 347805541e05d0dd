/* The conversation of a server reflection client without I/O (grpc_reflect.c): which requests
 * to send, what each response adds to the pool, when everything needed has arrived. Fed one
 * response message at a time; requests go out through a callback. Every response is peer
 * input: bounded (services, files, bytes, names), never asserted on. The fuzz target
 * tests/fuzz/fuzz_reflect.c drives it directly. */
#ifndef MAE_GRPC_REFLECT_INT_H
#define MAE_GRPC_REFLECT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "grpc_h2/pb.h"

#define MAE__REFLECT_MAX_SERVICES 1024
#define MAE__REFLECT_MAX_BYTES (32u * 1024 * 1024)  /* descriptor bytes over the whole fetch */
#define MAE__REFLECT_MAX_NAME 1024                  /* a service or file name */
#define MAE__REFLECT_DEFAULT_MS 10000               /* the whole fetch, when nothing says */

/* Sends one serialized request (copied by the callee). Returns 0 or a negative MAE_E*. */
typedef int (*mae__reflect_send_fn)(void *ud, const uint8_t *msg, size_t len);

typedef struct mae__reflect_ask {
    bool file;        /* file_by_filename, else file_containing_symbol */
    char *name;
} mae__reflect_ask;

typedef struct mae__reflect_conv {
    mae__pb_pool *pool;
    mae__reflect_ask *asked;     /* every request after list_services, in order */
    size_t n_asked, cap_asked;
    size_t answered;             /* of asked */
    bool listed;                 /* the list_services answer came */
    size_t bytes, n_files;       /* descriptor bytes and files received */
    size_t n_services;           /* services asked about */
    mae__reflect_send_fn send;
    void *send_ud;
    char err[256];
} mae__reflect_conv;

/* Starts a conversation: a fresh pool, then the list_services request. Returns 0 or a negative
 * MAE_E* (err says why). Free with mae__reflect_conv_free in every case. */
int mae__reflect_conv_start(mae__reflect_conv *c, mae__reflect_send_fn send, void *ud);
/* One response message. Returns 0 (more to come), 1 (everything asked for arrived and nothing
 * is missing: half-close, then mae__reflect_conv_finish), or a negative MAE_E* with err:
 * MAE_EDECODE (not a reflection response), MAE_EPROTO (an answer nobody asked for, a bound
 * passed), MAE_EINVAL (an error response, unusable descriptors), MAE_ENOMEM. */
int mae__reflect_conv_feed(mae__reflect_conv *c, const uint8_t *msg, size_t len);
/* Links the pool and hands it over (*pool; the conversation no longer owns it). Returns 0 or
 * MAE_EINVAL with err. */
int mae__reflect_conv_finish(mae__reflect_conv *c, mae__pb_pool **pool);
void mae__reflect_conv_free(mae__reflect_conv *c);

#endif
