/* Event emission (loop/events.c): one call at each point where a run changes state, building a
 * mae_event only when the engine has an on_event handler. The emitters never change the run. */
#ifndef MAE_LOOP_EVENTS_H
#define MAE_LOOP_EVENTS_H

#include <stdint.h>

struct mae_run;
struct mae_node;
struct mae_callnode;
struct mae_comprec;

void mae__ev_run_start(struct mae_run *run);
void mae__ev_run_end(struct mae_run *run);
/* A step node is reached (call, or a group with an id; not foreach items). */
void mae__ev_step_start(struct mae_node *n);
/* A group step (parallel, sequence, foreach with an id) is over. */
void mae__ev_group_end(struct mae_node *n);
/* A step is over without calling: skipped by `when`, or failed before any call (msg, with class
 * cls: template, or internal when out of memory). */
void mae__ev_step_early_end(struct mae_node *n, const char *outcome, int cls, const char *msg);
void mae__ev_attempt_start(struct mae_callnode *c);
/* The open attempt's result (no-op when none is open); delay_ms before the next, -1 = none. */
void mae__ev_attempt_end(struct mae_callnode *c, int64_t delay_ms);
/* A call step or compensation is over: closes an open attempt, then STEP_END / COMP_RESULT. */
void mae__ev_call_end(struct mae_callnode *c);
void mae__ev_comp_start(struct mae_callnode *c);
/* A compensation not attempted (budget exhausted, out of memory). */
void mae__ev_comp_skipped(struct mae_run *run, const struct mae_comprec *rec, int cls, const char *msg);

#endif
