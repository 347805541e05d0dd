/* HTTP call targets (see target.h): "VERB /path" with templates in the path, or the seed's bare
 * method name (→ POST /api/<lowercase name>). Pure: the loader compiles them, the HTTP
 * transport renders them (substituted values percent-encoded as one path segment each). */
#ifndef MAE_HTTP_TARGET_H
#define MAE_HTTP_TARGET_H

#include "transports/target.h"

extern const mae_target_type mae__http_target_type;

/* Renders t (an HTTP target) in scope: *verb is upper case and static, *path is malloc'd and
 * already percent-encoded. Returns 0, MAE_EINVAL (not an HTTP target), MAE_ETEMPLATE (err
 * filled, "path: ...") or MAE_ENOMEM. */
int mae__http_target_render(const mae_target *t, const mae_scope *scope, const char **verb,
                           char **path, mae_eval_err *err);

#endif
