/* Checks of typed gRPC calls against a service's descriptors (docs/typed-grpc.md#what-is-checked-when):
 * the method exists and is unary or server-streaming, and every literal key of the input (nested
 * too) names a field of the message type; a wholly literal input is also encoded to check its
 * values. Pure: the loader runs it with a descriptor set, the engine at run start with the
 * descriptors it fetched by reflection. */
#ifndef MAE_TYPED_CHECK_H
#define MAE_TYPED_CHECK_H

#include <stddef.h>

#include "grpc_h2/grpc_typed.h"
#include "workflow/model.h"

/* One problem: where (0:0 when unknown) and what, e.g. "service credit: no method GetScor; did
 * you mean GetScore?". */
typedef void (*mae_typed_report)(void *ud, mae_pos pos, const char *msg);

/* One call: method as written at mpos, its input tree (may be NULL). Returns the problems. */
size_t mae__typed_check_call(const mae__typed_desc *d, const mae_service *svc, const char *method,
                             mae_pos mpos, const mae_tval *input, mae_typed_report cb, void *ud);
/* Every step and compensation of wf that calls svc. Returns the problems. */
size_t mae__typed_check_workflow(const mae_workflow *wf, const mae_service *svc,
                                 const mae__typed_desc *d, mae_typed_report cb, void *ud);

#endif
