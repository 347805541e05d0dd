/* Maestro's public API: the engine and its runs. Workflows run on a caller-supplied uv_loop_t:
 * no global state, no threads, nothing blocking on the loop. Several runs share one engine and
 * its per-service state (circuit breakers, max_in_flight queues). Everything is
 * single-threaded: call these functions from the loop's thread only.
 *
 * Ownership: the caller owns the engine (until mae_engine_close's done), each run (until
 * mae_run_free, or until the engine is closed), each workflow (it must outlive its runs) and
 * any transport it created and passed in (unless close_transports is set). The engine owns the
 * transports it created itself and everything inside a run result or an event. */
#ifndef MAESTRO_ENGINE_H
#define MAESTRO_ENGINE_H

#include <stdio.h>

#include "base.h"
#include "events.h"
#include "transport.h"
#include "workflow.h"

#ifdef __cplusplus
extern "C" {
#endif

struct uv_loop_s;
struct cJSON;
typedef struct mae_engine mae_engine;
typedef struct mae_run mae_run;

typedef enum { MAE_LOG_OFF = -1, MAE_LOG_ERROR, MAE_LOG_WARN, MAE_LOG_INFO, MAE_LOG_DEBUG } mae_log_level;
typedef enum { MAE_LOG_TEXT, MAE_LOG_JSON } mae_log_format;

/* Receives one formatted log line (text or JSON per log_format, no trailing newline). The line
 * is borrowed: valid during the call. */
typedef void (*mae_log_cb)(mae_log_level level, const char *line, void *ud);

typedef struct mae_engine_opts {
    /* Transports for services of type http / grpc. NULL: the engine creates its own the first
     * time a call of that type is made (a gRPC-only workflow never starts libcurl) and closes
     * it in mae_engine_close. Non-NULL: borrowed; the caller closes it after the engine,
     * unless close_transports is set, which hands both given transports to the engine. Give
     * one transport to at most one engine with close_transports. */
    mae_transport *http;
    mae_transport *grpc;
    int close_transports;
    mae_log_level log_level;   /* default MAE_LOG_WARN */
    mae_log_format log_format; /* default text */
    FILE *log_stream;          /* NULL: stderr, or no stream when on_log is set */
    mae_log_cb on_log;         /* every line that passes log_level, as well as the stream */
    void *log_ud;
    mae_event_cb on_event;     /* every event of every run (events.h); NULL = none */
    void *event_ud;
    /* Where each run writes its journal (docs/journal.md): created if missing, one file per
     * run. NULL: no journal. Borrowed: must stay valid until the engine is closed. A run whose
     * journal cannot be created does not start (mae_run_start returns MAE_EIO). */
    const char *journal_dir;
} mae_engine_opts;

/* Fills in the defaults (every field above). Always call it before setting fields. */
MAE_API void mae_engine_opts_init(mae_engine_opts *o);
/* Creates an engine on loop (opts NULL = defaults; copied). Reads the random seed once
 * (uv_random) here, never during runs. Returns 0, MAE_EINVAL (loop or out NULL) or MAE_ENOMEM. */
MAE_API int mae_engine_new(struct uv_loop_s *loop, const mae_engine_opts *opts, mae_engine **out);
/* Closes everything the engine holds, in order: runs still running are interrupted (as by
 * mae_run_cancel: in-flight calls cancelled, completed steps compensated, status interrupted);
 * runs already failing or compensating finish as they would have (status failed or
 * compensation_failed, not interrupted); every callback is called; runs not freed by then are
 * freed; per-service timers and an active breaker probe are
 * closed; the transports it owns are closed. Then the engine is freed and done(ud) (may be NULL)
 * runs, always from the loop, never from inside this call: keep running the loop until then.
 * After done, uv_loop_close() succeeds unless the caller has handles of its own (or borrowed
 * transports still open). May be called from a run callback. NULL is a no-op (returns 0).
 * Returns 0, MAE_ESTATE (already closing) or MAE_ENOMEM (nothing was done). */
MAE_API int mae_engine_close(mae_engine *e, void (*done)(void *ud), void *ud);

typedef enum {
    MAE_RUN_SUCCEEDED, MAE_RUN_FAILED, MAE_RUN_COMPENSATION_FAILED, MAE_RUN_INTERRUPTED
} mae_run_status;
/* "succeeded", "failed", "compensation_failed", "interrupted"; "?" out of range. */
MAE_API const char *mae_run_status_name(mae_run_status s);

typedef struct mae_run_result {
    mae_run_status status;
    int exit_code;                 /* 0, 1, 3 or 130, as `maestro run` exits */
    const char *run_id;
    const struct cJSON *output;    /* the rendered output ({} when none); NULL unless succeeded */
    /* the run report (docs/run-report.md); NULL when the run was started with no_report */
    const struct cJSON *report;
    /* failure summary for a person (multi-line); NULL on success and with no_report */
    const char *summary;
    /* Kept whether or not a report is built. steps_run: step executions that ended in any
     * status but skipped, every foreach item counted (the report lists at most the first
     * items); attempts: the attempts they made (calls sent, retries included). */
    uint64_t steps_run, attempts;
    /* the failure's class name as in the report's error.class ("timeout", "grpc", ...);
     * NULL on success */
    const char *error_class;
} mae_run_result;
/* Called once when the run is over (compensation included) and its handles are closed.
 * Everything in res is owned by the run and valid until mae_run_free. */
typedef void (*mae_run_cb)(mae_run *run, const mae_run_result *res, void *ud);

typedef struct mae_run_opts {
    uint64_t timeout_ms;           /* 0 = the workflow's timeout */
    /* Each problem with the input (not JSON, not an object, a required field missing, a wrong
     * type) is passed here, from inside mae_run_start, before it returns an error. NULL: they
     * go to the engine's log at level error instead. */
    mae_diag_cb on_input_error;
    void *input_ud;
    /* Non-zero: no run report and no failure summary are built (res.report, res.summary and the
     * RUN_END event's report are NULL), which saves their cost on every run; steps_run,
     * attempts and error_class are still set. Ignored when the engine has a journal_dir (the
     * journal records the report). The default (0, or opts NULL) builds both: what an
     * embedder got before this option existed. */
    int no_report;
} mae_run_opts;

/* Starts a run; cb is called once when it is over, never from inside this call. input_json
 * NULL means {}. The input is checked against the workflow's declaration (defaults filled in).
 * opts NULL = defaults. The workflow must outlive the run. Returns 0, or (nothing called, cb
 * never runs, problems reported as described at on_input_error) MAE_EPARSE (input is not
 * JSON), MAE_EINVAL (a NULL argument, input not an object or not matching the declaration),
 * MAE_ESTATE (the engine is closing), MAE_EIO (the engine has a journal_dir and the run's journal
 * cannot be created there: nothing is called), MAE_ENOMEM. */
MAE_API int mae_run_start(mae_engine *e, const mae_workflow *wf, const char *input_json,
                          const mae_run_opts *opts, mae_run_cb cb, void *ud, mae_run **out);
/* Interrupts: in-flight calls are cancelled, completed steps compensated, status interrupted.
 * No-op once the run is failing (a step failed for good: its in-flight calls are being
 * cancelled), compensating or over: it then ends as failed or compensation_failed. */
MAE_API void mae_run_cancel(mae_run *run);
/* Frees a finished run (may be called inside its callback). On a run still going it cancels
 * the run and frees it when it is over, without calling its callback. NULL is a no-op. */
MAE_API void mae_run_free(mae_run *run);
/* The run's id (32 hex digits), borrowed from the run. */
MAE_API const char *mae_run_id(const mae_run *run);

#ifdef __cplusplus
}
#endif
#endif
