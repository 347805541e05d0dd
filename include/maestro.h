/* Maestro's public API: errors, the workflow model's lifecycle, and the engine that runs
 * workflows on a caller's uv_loop_t. No global state: everything hangs off an engine. */
#ifndef MAESTRO_H
#define MAESTRO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MAE_VERSION "0.1.0"

/* Every function returning int returns 0 or one of these (negative). */
#define MAE_ERRNO_MAP(XX)                                         \
    XX(NOMEM, "out of memory")                                    \
    XX(INVAL, "invalid argument")                                 \
    XX(IO, "input/output error")                                  \
    XX(PARSE, "cannot parse")                                     \
    XX(TOOBIG, "too large")                                       \
    XX(NOTFOUND, "not found")                                     \
    XX(EXISTS, "already exists")                                  \
    XX(STATE, "operation not valid in this state")                \
    XX(CANCELED, "operation cancelled")                           \
    XX(TIMEDOUT, "timed out")                                     \
    XX(CONNREFUSED, "connection refused")                         \
    XX(CONNRESET, "connection reset")                             \
    XX(DNS, "name resolution failed")                             \
    XX(PROTO, "protocol error")                                   \
    XX(TEMPLATE, "template error")                                \
    XX(DECODE, "undecodable data")                                \
    XX(LIMIT, "limit exceeded")                                   \
    XX(INTERNAL, "internal error")

typedef enum {
    MAE_OK = 0,
    MAE_E__BASE = -1000,
#define MAE_XX(name, _) MAE_E##name,
    MAE_ERRNO_MAP(MAE_XX)
#undef MAE_XX
} mae_errno;

const char *mae_strerror(int err);
/* The error's symbolic name without the MAE_E prefix, e.g. "TIMEDOUT". */
const char *mae_err_name(int err);

#ifdef __cplusplus
}
#endif
#endif
