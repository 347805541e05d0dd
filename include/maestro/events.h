/* Maestro's public API: run events. An engine given on_event reports every state change of
 * every run through it, in the order they happen; the journal, the progress display and server
 * mode are built on these and nothing else.
 *
 * Per run the order is:
 *   RUN_START
 *   for each step reached (call steps, and parallel/sequence/foreach steps that have an id):
 *     STEP_START, then for a call: (ATTEMPT_START, ATTEMPT_RESULT)*, then STEP_END
 *     (steps of a parallel block or foreach interleave; events of one step keep this order)
 *   when the run failed, for each completed step with a compensate, newest first:
 *     COMP_START, (ATTEMPT_START, ATTEMPT_RESULT)*, COMP_RESULT
 *     (COMP_RESULT alone when it was not attempted: budget exhausted, out of memory)
 *   RUN_END (then, once the run's handles are closed, the run's callback)
 * Every STEP_START has exactly one STEP_END; every ATTEMPT_START exactly one ATTEMPT_RESULT,
 * before the next ATTEMPT_START of the same call. ATTEMPT_START comes before the request is
 * handed to the transport. A step skipped by `when` has STEP_START then STEP_END "skipped". */
#ifndef MAESTRO_EVENTS_H
#define MAESTRO_EVENTS_H

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cJSON;
typedef struct mae_run mae_run;

typedef enum {
    MAE_EV_RUN_START,      /* the run began executing (the loop iteration after mae_run_start) */
    MAE_EV_STEP_START,
    MAE_EV_ATTEMPT_START,  /* an attempt of a call or compensation is about to be sent */
    MAE_EV_ATTEMPT_RESULT, /* its result: class, status, duration, delay before the retry */
    MAE_EV_STEP_END,       /* outcome: succeeded, failed, cancelled, outcome_unknown, skipped */
    MAE_EV_COMP_START,     /* a compensation call begins */
    MAE_EV_COMP_RESULT,    /* outcome: succeeded or failed */
    MAE_EV_RUN_END,        /* outcome: the run status; output and report set (see report) */
} mae_event_kind;

/* One event. Every pointer is borrowed: valid only during the on_event call. Fields that do
 * not apply to a kind are NULL, 0 or -1 as stated. */
typedef struct mae_event {
    mae_event_kind kind;
    mae_run *run;
    const char *run_id;
    const char *workflow;          /* the workflow's name */
    const char *step_id;           /* NULL for RUN_START / RUN_END */
    int index;                     /* foreach item index; -1 outside a foreach */
    int compensation;              /* 1 for COMP_* and the attempts of a compensation */
    int attempt;                   /* ATTEMPT_*: 1-based attempt number; STEP_END, COMP_RESULT:
                                      attempts made; else 0 */
    const char *service;           /* calls: the service name; else NULL */
    const char *method;            /* calls: the method as written ("Deploy", "POST /x/{{..}}") */
    const char *idempotency_key;   /* ATTEMPT_START: the key sent with the request */
    const char *outcome;           /* STEP_END, COMP_RESULT, RUN_END (see the kinds); else NULL */
    const char *class_name;        /* ATTEMPT_RESULT, STEP_END, COMP_RESULT, RUN_END: "ok",
                                      "http_5xx", "grpc:UNAVAILABLE", "timeout", ...; else NULL */
    int status;                    /* HTTP status or gRPC code of the result; 0 when none */
    int sent;                      /* ATTEMPT_RESULT: 1 when the request may have reached the
                                      service (a cancelled call then has an unknown outcome) */
    int64_t duration_ms;           /* ATTEMPT_RESULT: this attempt; STEP_END, COMP_RESULT: the
                                      step from its start; RUN_END: the run; else -1 */
    int64_t delay_ms;              /* ATTEMPT_RESULT: the wait before the next attempt when one
                                      follows (0 for a refusal retried at once without counting
                                      an attempt: the same attempt number is then started
                                      again); -1 when none follows */
    const char *message;           /* failure text (ATTEMPT_RESULT, STEP_END, COMP_RESULT,
                                      RUN_END); NULL on success */
    const struct cJSON *input;     /* ATTEMPT_START: the rendered request input (may be NULL);
                                      RUN_START: the run's input, defaults filled in */
    const struct cJSON *output;    /* successful ATTEMPT_RESULT / STEP_END, RUN_END (succeeded):
                                      the output; else NULL */
    const struct cJSON *error;     /* failed ATTEMPT_RESULT, STEP_END, COMP_RESULT:
                                      {"class","message","status"}; else NULL */
    const struct cJSON *report;    /* RUN_END: the run report (NULL when the run was started
                                      with mae_run_opts.no_report); else NULL */
} mae_event;

typedef void (*mae_event_cb)(const mae_event *ev, void *ud);

/* "run_start", "step_start", "attempt_start", ...; "?" out of range. Never NULL. */
MAE_API const char *mae_event_kind_name(mae_event_kind k);

#ifdef __cplusplus
}
#endif
#endif
