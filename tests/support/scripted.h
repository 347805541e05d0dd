/* A scripted in-process transport for tests (give it to an engine for any service type): each rule (per method, or per service+method)
 * gives a latency (a uv timer), N failures with a class/status/message/Retry-After before
 * success, a fixed output or the request's input echoed back, or a call that hangs until
 * cancelled. Every call, cancel and result is recorded in order. Follows transport.h: the
 * callback always comes once, from its own timer, never from inside start() or cancel(). */
#ifndef MAE_SCRIPTED_H
#define MAE_SCRIPTED_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "transports/transport.h"

typedef struct mae_script_rule {
    /* matching: service name (NULL = any) and method (NULL = any): the method as written in the
     * workflow, or the call as its target describes it ("POST /api/x", "GET /u/a%2Fb"). */
    const char *service, *method;
    const char *match_input;   /* when set, also requires this substring in the input's JSON;
                                  malloc'd, owned by the rule */
    uint64_t latency_ms;
    int fail_times;            /* the first fail_times calls fail; -1 = every call */
    mae_class fail_cls;        /* default MAE_CLASS_HTTP_5XX */
    int fail_status;           /* default 503 */
    const char *fail_message;  /* default "scripted failure"; borrowed */
    int64_t retry_after_ms;    /* -1 = none (default) */
    bool fail_sent;            /* failures report sent=true (default false) */
    int not_an_attempt_times;  /* the first calls are refused as not_an_attempt */
    bool hang;                 /* never answers until cancelled */
    cJSON *output;             /* owned by the rule; NULL = echo the request's input (or null) */
    int calls;                 /* calls matched so far (counter, read by tests) */
} mae_script_rule;

typedef enum { MAE_SCRIPT_CALL, MAE_SCRIPT_CANCEL, MAE_SCRIPT_RESULT } mae_script_ev;

typedef struct mae_script_entry {
    mae_script_ev ev;
    char *service, *method, *step_id, *idempotency_key, *traceparent;
    char *desc;                /* the call as its target describes it, rendered: "GET /u/a%2Fb" */
    char *input;               /* compact JSON text of the input ("null" when none) */
    uint64_t at_ms;            /* uv_now at the event */
    uint64_t timeout_ms;       /* the attempt timeout the engine passed */
    bool compensation;
    mae_class cls;             /* MAE_SCRIPT_RESULT: the class delivered */
    uint64_t call_no;          /* 1-based number of the call this entry belongs to */
} mae_script_entry;

/* Creates the transport on loop. Close it with its vtbl close (mae_scripted_close below),
 * which cancels whatever is pending and frees it once every timer is closed. */
int mae_scripted_new(uv_loop_t *loop, mae_transport **out);
void mae_scripted_close(mae_transport *t, void (*done)(void *ud), void *ud);
/* Adds a rule (first match wins, in the order added); returns it to be filled in, with
 * defaults set. NULL on OOM. The strings are copied. */
mae_script_rule *mae_scripted_rule(mae_transport *t, const char *service, const char *method);
/* The log so far, in order. Valid until the transport is freed or the next event. */
const mae_script_entry *mae_scripted_log(mae_transport *t, size_t *n);
/* How many log entries match (ev, method); method NULL = any. */
size_t mae_scripted_count(mae_transport *t, mae_script_ev ev, const char *method);
/* Calls in flight now, and the most that ever were (overall, and for one method). */
int mae_scripted_in_flight(mae_transport *t);
int mae_scripted_max_in_flight(mae_transport *t);
/* When false, entries are not recorded (big fan-out tests); counters still run. */
void mae_scripted_set_logging(mae_transport *t, bool on);

#endif
