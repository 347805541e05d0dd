/* Maestro's public API, common part: the version, the export macro, error codes and the
 * diagnostic record shared by the loader and the run input check. Included by every other
 * public header; it needs only the C standard headers. */
#ifndef MAESTRO_BASE_H
#define MAESTRO_BASE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MAE_VERSION "0.1.0"

/* Marks the functions libmaestro.so exports (it is built with -fvisibility=hidden). Define it
 * before including a Maestro header to change it, e.g. to nothing. */
#ifndef MAE_API
#define MAE_API __attribute__((visibility("default")))
#endif

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

/* "timed out"; "unknown error" for a value outside the table. Never NULL. */
MAE_API const char *mae_strerror(int err);
/* The error's symbolic name without the MAE_E prefix, e.g. "TIMEDOUT". Never NULL. */
MAE_API const char *mae_err_name(int err);

/* One problem found in a workflow file or a run's input. Printed as
 * "FILE:LINE:COL: error: MESSAGE" (LINE:COL left out when 0). Every pointer is borrowed: valid
 * only during the callback that receives it. */
typedef struct mae_diagnostic {
    const char *file;       /* the file name (or the name given to in-memory text; "input") */
    int line, col;          /* 1-based; 0 when unknown */
    const char *message;
} mae_diagnostic;

/* Receives diagnostics one at a time, in source order, from inside the call that found them. */
typedef void (*mae_diag_cb)(const mae_diagnostic *d, void *ud);

struct cJSON;
/* Compact JSON text of v (a run's output, an event's input/output/error), with every integer up
 * to 2^53 printed exactly: no need to link cJSON just to print results. *out is malloc'd and
 * NUL-terminated; free it with free(). Returns 0, MAE_EINVAL (v or out NULL), MAE_ELIMIT (text
 * over 1 GiB) or MAE_ENOMEM; *out is NULL on error. */
MAE_API int mae_json_format(const struct cJSON *v, char **out);

#ifdef __cplusplus
}
#endif
#endif
