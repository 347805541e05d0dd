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

/* Marks the functions libmaestro.so exports; the library is built with -fvisibility=hidden. */
#ifndef MAE_API
#if defined(__GNUC__) || defined(__clang__)
#define MAE_API __attribute__((visibility("default")))
#else
#define MAE_API
#endif
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

MAE_API const char *mae_strerror(int err);
/* The error's symbolic name without the MAE_E prefix, e.g. "TIMEDOUT". */
MAE_API const char *mae_err_name(int err);

/* ------------------------------------------------------------------------------------------
 * The engine (loop/): workflows run on a caller-supplied uv_loop_t. No global state, no
 * threads, nothing blocking on the loop. Several runs share one engine and its per-service
 * state (circuit breakers, max_in_flight queues). Everything is single-threaded: call these
 * functions from the loop's thread only.
 *
 *   mae_engine_new(loop, &opts, &eng);
 *   mae_workflow_load(path, &wf, stderr);
 *   mae_run_start(eng, wf, "{\"image\":\"x\"}", NULL, on_done, ud, &run);
 *   uv_run(loop, UV_RUN_DEFAULT);          // on_done(run, &result, ud) is called once
 *   mae_run_free(run); mae_engine_close(eng, NULL, NULL); uv_run(loop, UV_RUN_DEFAULT);
 *   mae_workflow_free(wf);
 * ------------------------------------------------------------------------------------------ */
#include <stdio.h>

struct uv_loop_s;
struct cJSON;
typedef struct mae_workflow mae_workflow;
typedef struct mae_transport mae_transport;  /* transports/transport.h */
typedef struct mae_engine mae_engine;
typedef struct mae_run mae_run;

typedef enum { MAE_LOG_OFF = -1, MAE_LOG_ERROR, MAE_LOG_WARN, MAE_LOG_INFO, MAE_LOG_DEBUG } mae_log_level;
typedef enum { MAE_LOG_TEXT, MAE_LOG_JSON } mae_log_format;

typedef struct mae_engine_opts {
    mae_transport *http;       /* borrowed, for services of type http; NULL = such calls fail */
    mae_transport *grpc;       /* borrowed, for services of type grpc; NULL = such calls fail */
    mae_log_level log_level;   /* default MAE_LOG_WARN */
    mae_log_format log_format; /* default text */
    FILE *log_stream;          /* default stderr */
} mae_engine_opts;

MAE_API void mae_engine_opts_init(mae_engine_opts *o);
/* Creates an engine on loop (opts NULL = defaults). Reads the random seed once (uv_random)
 * here, never during runs. Returns 0, MAE_EINVAL or MAE_ENOMEM. */
MAE_API int mae_engine_new(struct uv_loop_s *loop, const mae_engine_opts *opts, mae_engine **out);
/* Closes the per-service timers (cancelling an active breaker probe) and frees the engine once
 * they are closed (during uv_run; at once when there is nothing to close); done(ud) then runs if
 * given. Every run must be finished and freed first, else MAE_ESTATE. Close the engine before
 * the transports it was given. Returns 0 or MAE_ESTATE. */
MAE_API int mae_engine_close(mae_engine *e, void (*done)(void *ud), void *ud);

/* Loads and validates a workflow file; problems are printed to diag_out (may be NULL) as
 * FILE:LINE:COL: error: MESSAGE. Returns 0, MAE_EPARSE, MAE_EIO or MAE_ETOOBIG. */
MAE_API int mae_workflow_load(const char *path, mae_workflow **out, FILE *diag_out);
MAE_API void mae_workflow_free(mae_workflow *wf);

typedef enum {
    MAE_RUN_SUCCEEDED, MAE_RUN_FAILED, MAE_RUN_COMPENSATION_FAILED, MAE_RUN_INTERRUPTED
} mae_run_status;
MAE_API const char *mae_run_status_name(mae_run_status s);   /* "succeeded", "failed", ... */

typedef struct mae_run_result {
    mae_run_status status;
    int exit_code;                 /* 0, 1, 3 or 130 (SPEC §1) */
    const char *run_id;
    const struct cJSON *output;    /* the rendered output ({} when none); NULL unless succeeded */
    const struct cJSON *report;    /* the run report of SPEC §4.5 */
    const char *summary;           /* failure summary for a person (multi-line); NULL on success */
} mae_run_result;
/* Called once when the run is over (compensation included) and its handles are closed.
 * Everything in res is owned by the run and valid until mae_run_free. */
typedef void (*mae_run_cb)(mae_run *run, const mae_run_result *res, void *ud);

typedef struct mae_run_opts {
    uint64_t timeout_ms;           /* 0 = the workflow's timeout */
} mae_run_opts;

/* Starts a run; cb is called once when it is over, never from inside this call. input_json
 * NULL means {}. The input is checked against the workflow's declaration (defaults filled in).
 * opts NULL = defaults. The workflow must outlive the run. Returns 0, or (nothing called, cb
 * never runs) MAE_EPARSE (input is not JSON), MAE_EINVAL (bad argument, input not an object or
 * not matching the declaration), MAE_ESTATE (engine closing), MAE_ENOMEM. */
MAE_API int mae_run_start(mae_engine *e, const mae_workflow *wf, const char *input_json,
                  const mae_run_opts *opts, mae_run_cb cb, void *ud, mae_run **out);
/* Interrupts: in-flight calls are cancelled, completed steps compensated, status interrupted.
 * No-op once the run is compensating or over. */
MAE_API void mae_run_cancel(mae_run *run);
/* Frees a finished run (may be called inside its callback). On a run still going it cancels
 * the run and frees it when it is over, without calling its callback. NULL is a no-op. */
MAE_API void mae_run_free(mae_run *run);
MAE_API const char *mae_run_id(const mae_run *run);

#ifdef __cplusplus
}
#endif
#endif
