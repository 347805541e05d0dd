/* The engine's embedding-API state (loop/api.c): the transports it created for itself, and its
 * shutdown sequence (runs settle → per-service state closes → owned transports close → free).
 * Embedded in struct mae_engine; only api.c reads or writes it. */
#ifndef MAE_LOOP_API_H
#define MAE_LOOP_API_H

#include <stdbool.h>

#include <uv.h>

#include "maestro/maestro.h"

/* Transport types the engine can own one of (entries of the table of transports/target.h). */
#define MAE_API_MAX_TYPES 8

typedef enum { API_OPEN, API_RUNS, API_SVCS, API_TRANSPORTS } mae_api_phase;

typedef struct mae_api_state {
    mae_transport *own[MAE_API_MAX_TYPES];  /* by index in the type table: created on the first
                                               call of that type */
    mae_api_phase phase;
    uv_timer_t close_timer;               /* drives the close from the loop; inited at close */
    int pending;                          /* closes awaited in API_TRANSPORTS */
    void (*done)(void *ud);
    void *ud;
} mae_api_state;

struct mae_engine;
struct mae_run;
/* engine.c → api.c: the transport for a service type the embedder gave none for (lazily
 * created through the type table, owned by the engine); NULL when it cannot be created. */
mae_transport *mae__api_transport(struct mae_engine *e, const char *type);
/* engine.c → api.c: every per-service handle is closed (the close continues). */
void mae__api_svcs_closed(struct mae_engine *e);
/* run.c → api_input.c: parses and checks a run's input (defaults filled in); each problem goes
 * to opts->on_input_error, else to the log. Returns 0 with *out owned by the caller,
 * MAE_EPARSE, MAE_EINVAL or MAE_ENOMEM. */
struct cJSON;
int mae__api_input(struct mae_engine *e, const mae_workflow *wf, const char *json, const mae_run_opts *opts,
                   struct cJSON **out);
/* Passes each diagnostic of d (already sorted) to cb; a last one counts those not collected. */
struct mae_diags;
void mae__diags_emit(const struct mae_diags *d, mae_diag_cb cb, void *ud);
/* report.c → cli: the report and failure summary of a run still going that the process is
 * about to leave (a second signal): compensations not done are listed as failed (class
 * cancelled). Both owned by the run; the run must not continue afterwards (exit). */
void mae__report_abandon(struct mae_run *run, const struct cJSON **report, const char **summary);
/* run.c → api.c: a run's callback returned or the run was freed while the engine closes. */
void mae__api_run_settled(struct mae_engine *e);

#endif
