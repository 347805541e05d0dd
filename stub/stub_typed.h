/* The typed side of a `maestro stub` gRPC service with `descriptors:` (docs/cli.md#typed-grpc-
 * methods): its methods are the typed methods the descriptor set describes, requests decoded and
 * replies encoded per the proto3 JSON mapping (grpc_h2/pb.h), and the service answers server
 * reflection (grpc.reflection.v1 and v1alpha) from the same set. The descriptor set is read once,
 * when the stub starts. */
#ifndef MAE_STUB_TYPED_H
#define MAE_STUB_TYPED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "grpc_h2/grpc_server.h"
#include "stub/stub_internal.h"

#define MAE__STUB_MAX_DESCRIPTORS (64u * 1024 * 1024)  /* bytes of a descriptor set file */

typedef struct mae_stub_typed mae_stub_typed;

/* Reads and links hs->svc->descriptors and resolves every method of the service against it
 * (hs->typed). Returns 0, or MAE_EIO / MAE_EDECODE / MAE_EINVAL / MAE_ENOMEM with err naming the
 * service and what is wrong ("service 'cloud': method 'CreateInstanse': no method ...; did you
 * mean CreateInstance?"). */
int mae__stub_typed_load(mae_stub_http *hs, char *err, size_t cap);
void mae__stub_typed_free(mae_stub_typed *t);
/* The same checks for `maestro stub --check`, nothing kept. */
int mae__stub_typed_check(mae_stub_service *svc, char *err, size_t cap);
/* Once hs->grpc listens: its server answers reflection from now on. */
void mae__stub_typed_serve(mae_stub_http *hs);

/* A call to a typed service (any :path but reflection's). */
void mae__stub_typed_call(mae_stub_http *hs, mae_grpc_scall *call, const char *path,
                          const uint8_t *msg, size_t len, const mae_header_kv *headers,
                          size_t n_headers);
/* grpc_server.h's is_stream / on_stream_msg for reflection (ud is the mae_stub_http). */
bool mae__stub_typed_is_reflection(const char *path, void *ud);
int mae__stub_typed_reflect(const char *path, const uint8_t *msg, size_t len, uint8_t **reply,
                            size_t *reply_len, void *ud);

#endif
