/* The metrics of `maestro serve`, fed by the engine's events and printed in the Prometheus text
 * format (docs/serve.md#metrics). Series are created on first use and kept; their labels come
 * from workflow, step, service and failure-class names, which the loaded workflows bound. No
 * I/O here: the text is built in memory and handed back. */
#ifndef MAE_SERVE_METRICS_H
#define MAE_SERVE_METRICS_H

#include <stddef.h>

#include "maestro/maestro.h"

typedef struct mae_metrics mae_metrics;

mae_metrics *mae__metrics_new(void);
void mae__metrics_free(mae_metrics *m);   /* NULL: no-op */
/* Counts the event (runs, steps, attempts, retries). */
void mae__metrics_event(mae_metrics *m, const mae_event *ev);
/* A POST refused: reason "max_runs", "draining", "invalid_input". */
void mae__metrics_rejected(mae_metrics *m, const char *workflow, const char *reason);
/* The whole exposition: counters and histograms, plus the gauges read now from the engine
 * (breaker state, calls in flight and queued per service) and the server (runs running, open
 * connections). malloc'd, NUL-terminated; NULL when out of memory. */
char *mae__metrics_text(const mae_metrics *m, mae_engine *e, int runs_running, size_t conns_open, size_t *len);

#endif
