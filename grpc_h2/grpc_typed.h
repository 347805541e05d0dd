/* Typed gRPC calls (issue #11, docs/typed-grpc.md): a service's descriptors (a linked pb pool,
 * shared and refcounted because a workflow, the engine's per-service cache and every call in
 * flight may hold it), and the message codec of one call to a typed method: its own :path, the
 * request encoded from JSON by the proto3 JSON mapping, replies decoded back to JSON.
 *
 * Pure: no I/O. The descriptors come from a FileDescriptorSet read by the loader or from server
 * reflection fetched by the engine; this module only holds them. */
#ifndef MAE_GRPC_TYPED_H
#define MAE_GRPC_TYPED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "grpc_h2/grpc_msgcodec.h"
#include "grpc_h2/pb.h"

typedef struct mae__typed_desc mae__typed_desc;

/* Wraps a linked pool (taking ownership of it) with one reference. origin is copied ("set
 * credit.protoset", "reflection 127.0.0.1:50051"), for messages. Returns 0 or MAE_ENOMEM (the
 * pool is then freed). */
int mae__typed_desc_new(mae__pb_pool *pool, const char *origin, mae__typed_desc **out);
mae__typed_desc *mae__typed_desc_ref(mae__typed_desc *d);
void mae__typed_desc_unref(mae__typed_desc *d);   /* NULL is a no-op; the last frees the pool */
const mae__pb_pool *mae__typed_desc_pool(const mae__typed_desc *d);
const char *mae__typed_desc_origin(const mae__typed_desc *d);

/* Reads a FileDescriptorSet file, adds it to a new pool and links it. Returns 0, MAE_EIO,
 * MAE_ETOOBIG (over 64 MiB), or the pool's errors, with one line in err. Not for the loop
 * thread during a run: the loader calls it. */
#define MAE__TYPED_MAX_SET (64u << 20)
int mae__typed_desc_load(const char *path, mae__typed_desc **out, char *err, size_t cap);

/* Resolves a method for a workflow: the pool's lookup, plus the refusal of client- and
 * bidirectional-streaming methods. NULL with err set when unusable. */
const mae__pb_method *mae__typed_method(const mae__typed_desc *d, const char *name, char *err,
                                        size_t cap);

/* The codec of one call to method name through d (taking a reference on d for as long as the
 * codec lives). max_out bounds the JSON a reply decodes to (0 = none): a small message of
 * empty sub-messages would otherwise expand without limit, every field being present. Returns
 * 0, MAE_EINVAL (err: no such method, a streaming kind we refuse) or MAE_ENOMEM. Its encode
 * returns MAE_ETEMPLATE for input that does not fit the type and its decode MAE_EDECODE or
 * MAE_ELIMIT; the reason is then in mae__grpc_typed_error. Free with
 * mae__grpc_typed_codec_free. */
int mae__grpc_typed_codec_new(mae__typed_desc *d, const char *name, size_t max_out,
                              mae_grpc_codec **out, char *err, size_t cap);
void mae__grpc_typed_codec_free(mae_grpc_codec *c);   /* NULL is a no-op */
const char *mae__grpc_typed_error(const mae_grpc_codec *c);
bool mae__grpc_codec_is_typed(const mae_grpc_codec *c);
const mae__pb_method *mae__grpc_typed_codec_method(const mae_grpc_codec *c);
/* The descriptors of a typed codec (for Any in status details), NULL for any other codec. */
const mae__pb_pool *mae__grpc_typed_codec_pool(const mae_grpc_codec *c);

#endif
