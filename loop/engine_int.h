/* Internals shared by the engine's modules (loop/): the engine and its per-service state, a
 * run, the execution nodes of steps, and the compensation records. Not installed.
 *
 * Shape of a run: a tree of nodes mirrors the steps being executed. A node's start() either
 * completes synchronously (returns true) or later calls mae__node_finish(), which hands it to
 * its parent (or to the run when it is a root). Only call nodes talk to transports; every
 * active call node is on the run's list so a failure can cancel them all. */
#ifndef MAE_ENGINE_INT_H
#define MAE_ENGINE_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "loop/api.h"
#include "loop/breaker.h"
#include "loop/events.h"
#include "loop/journal.h"
#include "maestro/maestro.h"
#include "transports/transport.h"
#include "workflow/json_out.h"
#include "workflow/model.h"


/* Transports an engine is given (one per service type). */
#define MAE_MAX_TRANSPORTS 8

/* Foreach items listed one by one in the report's steps, per step; the items after these are
 * only counted by status (docs/run-report.md#steps), so a huge foreach keeps a small report. */
#define MAE_REPORT_ITEMS 100

/* Retry delays kept per call for the report (the rest are not listed). */
#define MAE_MAX_DELAYS 32

typedef struct mae_svc_state mae_svc_state;
typedef struct mae_node mae_node;
typedef struct mae_callnode mae_callnode;

/* Per-service state of the engine: breaker, its timer and probe, the max_in_flight count and
 * queue. Keyed by the service's identity (type, endpoint, name), shared by every workflow that
 * names the same service, kept until the engine closes, and never pointing into a workflow:
 * every setting it needs is copied into its own arena when it is created.
 *
 * Two workflows naming the same service (same type, endpoint and name) with different
 * settings: the first call creates the state and its settings win (breaker thresholds,
 * open_for, probe, the retry policy that classifies probe results and breaker outcomes,
 * max_in_flight); later workflows share that breaker and queue as they are. Each call's
 * transport settings (timeout, max_response, tls, pool.connections, headers) are its own
 * workflow's (mae__svc_view in call.c). A service whose endpoint differs (e.g. --set) is
 * another service with its own state. */
struct mae_svc_state {
    mae_engine *eng;
    mae_arena arena;            /* the copies below */
    mae_svc_cfg cfg;            /* the first workflow's, for the probe only: calls send their own */
    mae_retry_policy retry;     /* classifies results for the breaker */
    int max_in_flight;          /* 0 = unlimited */
    const mae_target *probe;    /* compiled from a copy of the probe text; NULL = none */
    mae_transport *tr;          /* the transport for cfg.type, found on first use; NULL = none yet */
    mae_breaker brk;
    uv_timer_t brk_timer;       /* open_for; closed with the engine */
    int in_flight;              /* calls sent and not answered */
    mae_callnode *q_head, *q_tail;  /* waiting for a max_in_flight slot, FIFO */
    mae_callnode *w_head, *w_tail;  /* compensations waiting for the breaker to leave open, FIFO */
    mae_call *probe_call;       /* the active half-open probe in flight, if any */
    uint64_t probe_gen;
    bool closing;
    /* descriptors: reflection (loop/typed.c): what was fetched, shared by every run of this
     * engine until a call answers UNIMPLEMENTED (stale: the next run fetches again). */
    struct mae__typed_desc *reflected;
    bool reflected_stale;           /* kept for the runs going on; the next run fetches again */
    mae_svc_state *next;
};

struct mae_engine {
    uv_loop_t *loop;
    mae_engine_opts opts;
    uint64_t rng[4];            /* xoshiro256** seeded once from uv_random at creation */
    mae_transport *tr[MAE_MAX_TRANSPORTS];  /* from the options (borrowed unless close_transports) */
    const char *tr_type[MAE_MAX_TRANSPORTS]; /* the service type each is for (static strings) */
    size_t n_tr;
    mae_svc_state *svcs;
    mae_run *runs;              /* active and not yet freed */
    int pending_closes;
    bool closing;
    mae_api_state api;          /* owned transports and the close sequence (api.c) */
    mae_jw_stats jstats;        /* fdatasync latency of every run's journal (serve's metrics) */
};

/* Refcounted variables of one scope: the run's (input, workflow, steps, outputs) or one foreach
 * item's (<as>, <as>_index, the item's outputs). Compensation records keep them alive. */
typedef struct mae_vars {
    int refs;
    bool item;                  /* a foreach item's, from mae__vars_new_item: obj and the index
                                   are part of its allocation (engine.c) */
    cJSON *obj;
    mae_scope scope;            /* {obj, parent ? &parent->scope : NULL} */
    struct mae_vars *parent;
} mae_vars;

typedef enum { RUN_RUNNING, RUN_FAILING, RUN_COMPENSATING, RUN_DONE } mae_run_state;

/* One completed step with a compensate, in completion order. */
typedef struct mae_comprec {
    const mae_step *step;
    mae_vars *vars;             /* a ref: the scope the step completed in */
    int index;                  /* foreach item index, -1 when none */
    char *key;                  /* owned: the step's idempotency key; its compensation sends
                                   key + ":compensate" */
    bool unknown;               /* the step's call ended outcome_unknown: before compensating,
                                   it is re-sent with the same key to learn its outcome */
    bool resolved;              /* it was, and succeeded: the compensation follows */
    uint64_t seq;               /* completion order (a resumed run sorts replayed ones by it) */
} mae_comprec;

struct mae_run {
    mae_engine *eng;
    const mae_workflow *wf;
    char id[33];
    char trace_id[33];
    mae_run_state state;
    mae_vars *vars;             /* the run's scope */
    cJSON *steps;               /* borrowed: vars->obj["steps"] */
    uv_timer_t deadline;        /* the run timeout */
    uv_timer_t comp_timer;      /* the compensation budget */
    int open_handles;
    uint64_t started_ms;        /* uv_now */
    uint64_t started_wall_ms;   /* for the report */
    uint64_t deadline_ms;       /* absolute uv_now, 0 = none */
    uint64_t comp_deadline_ms;
    mae_callnode *active;       /* call nodes between start and finish */
    mae_node *root;
    /* failure: the first one wins */
    bool failed, interrupted, timed_out;
    char *fail_step;
    char fail_class[64];
    mae_class fail_cls;
    int fail_status;
    int fail_attempts;
    char *fail_msg;
    /* compensation */
    mae_comprec *comps;
    size_t n_comps, cap_comps;
    size_t comp_next;           /* counts down: next record to compensate is comps[comp_next-1] */
    int comp_failed;
    bool comp_budget_over;
    /* report: built at the end unless the run was started with no_report (and no journal);
     * rep_steps is NULL then. The counts are kept either way (mae_run_result). */
    bool want_report;
    uint64_t n_steps_run, n_attempts;
    cJSON *rep_steps, *rep_comps;
    cJSON *rep_unlisted;        /* foreach items past MAE_REPORT_ITEMS: {step id: {status: count}} */
    cJSON *rep_comps_unlisted;  /* their succeeded compensations, the same way */
    cJSON *output;
    cJSON *report;
    char *summary;
    mae_run_status status;
    mae_run_cb cb;
    void *ud;
    bool free_on_done;          /* mae_run_free came first */
    /* journal (loop/journal_run.c) */
    struct mae_jwriter *jw;     /* NULL: no journal */
    char *jr_path;
    mae_jtext jr_text;          /* the per-call records are written here, one after another */
    struct mae_jfile *replay;   /* resuming: the journal being replayed (owned) */
    int replay_mode;            /* mae_replay_mode */
    bool replaying;             /* no call has gone out live yet: pumps launch what the old run did */
    bool jr_failed;             /* the journal could not be written */
    bool jr_durable;            /* an intent was durable (else a journal failure is exit 2) */
    uint64_t jr_seq;            /* live completions, numbered after the replayed ones */
    mae_run *next, *prev;       /* engine's list */
    /* descriptors fetched by reflection before the root starts (loop/typed.c) */
    struct mae_typed_fetch *fetches;  /* in flight, a list (loop/typed.c) */
    int fetching;               /* fetches this run waits for */
    bool began;                 /* the root was started */
};

typedef enum { NODE_CALL, NODE_SEQ, NODE_PAR, NODE_FOREACH, NODE_ITEM } mae_node_kind;

/* What every node has. A call node (mae_callnode), a group (mae_group) and a foreach
 * (mae_fenode) each start with it and add only what their kind uses: a foreach of 10,000 calls
 * holds 10,000 call and item nodes at once (issue #15: memory per in-flight call). */
struct mae_node {
    mae_node_kind kind;
    bool failed;                /* a fatal failure happened below */
    int index;                  /* foreach item index (NODE_ITEM and below), else -1 */
    const mae_step *step;       /* NODE_ITEM: the foreach step */
    mae_run *run;
    mae_node *parent;
    mae_vars *vars;             /* a ref: where outputs are written and names looked up */
    cJSON *result;              /* owned: this node's value for a parent foreach item */
};

/* NODE_SEQ, NODE_PAR, NODE_ITEM (its one kid is the body) and, for next/pending, NODE_FOREACH. */
typedef struct mae_group {
    mae_node base;
    const mae_step *kids;
    size_t n_kids;
    size_t next;
    size_t pending;
} mae_group;

typedef struct mae_kept mae_kept;

/* NODE_FOREACH. */
typedef struct mae_fenode {
    mae_group g;                /* next: the next item to start; pending: items running */
    cJSON *items;               /* owned array of the items not started yet: each one moves
                                 * into its item scope when it starts */
    size_t n_items;
    cJSON **results;            /* owned, n_items: the results kept as trees (see kept) */
    mae_jtext kept;             /* the other results, as JSON text one after another */
    mae_kept *kept_at;          /* n_items: where item i's text is in kept (len 0: none) */
    int concurrency;
} mae_fenode;

struct mae_kept {
    size_t off, len;
};

/* A call in progress: a step's call or a compensation. */
struct mae_callnode {
    mae_node base;
    uv_timer_t timer;           /* attempt timeout, backoff, or deferred result */
    int tmode;
    bool is_comp;
    mae_comprec *comp;          /* when is_comp */
    const mae_service *service;
    const mae_target *target;   /* compiled by the service's type; opaque here */
    const mae_tval *in_tmpl;
    const mae_header_tmpl *step_hdrs;  /* the step's own headers (not a compensation's) */
    size_t n_step_hdrs;
    const mae_retry_policy *policy;
    uint64_t timeout_ms;        /* 0 = the service's */
    const char *step_id;        /* "ID" or "ID.compensate" */
    mae_svc_state *svc;
    /* the attempt */
    mae_call *call;
    bool in_flight, queued, dispatched;
    bool brk_waiting;           /* a compensation on svc's breaker wait list */
    bool resolving;             /* is_comp: the re-send of an outcome_unknown step, not its undo */
    bool jwait;                 /* waiting for its intent to be durable */
    bool jabort;                /* aborted while waiting: not sent */
    bool replayed;              /* its result came from the journal */
    uint64_t jseq;
    int cancel_why;             /* 0, CANCEL_TIMEOUT, CANCEL_ABORT */
    uint64_t brk_gen;
    bool brk_admitted;
    int attempts;               /* counted attempts started */
    int free_retries;           /* not_an_attempt retries */
    bool ev_open;               /* an ATTEMPT_START was emitted, its ATTEMPT_RESULT not yet */
    uint64_t started_ms, attempt_started_ms;
    uint64_t attempt_timeout_ms;   /* of the current attempt, fixed when it begins */
    cJSON *req_input;
    char *req_desc;             /* the target as the transport describes it ("POST /x/1") */
    mae_header_kv *req_hdrs;
    size_t n_req_hdrs;
    /* the last result */
    mae_class cls;
    int status;
    char *msg;
    bool sent;
    int64_t retry_after_ms;     /* of the last failure, -1 = none */
    uint32_t *delays;           /* owned, MAE_MAX_DELAYS once a retry waited: the backoff
                                   waited before each retry (report) */
    int n_delays;
    bool no_retry;              /* the last failure cannot get better by retrying (no transport) */
    cJSON *details;             /* the last failure's details (gRPC status details), NULL = none */
    cJSON *output;
    /* lists */
    mae_callnode *q_next;                /* service queue */
    mae_callnode *w_next;                /* service's breaker wait list */
    mae_callnode *a_next, *a_prev;       /* run's active list */
    char idem_key[];            /* part of the node's allocation: "<run>:<step>[i]", a
                                   compensation's with ":compensate" */
};

enum { CANCEL_NONE, CANCEL_TIMEOUT, CANCEL_ABORT };

/* engine.c */
uint64_t mae__rand(mae_engine *e);
void mae__hex_id(mae_engine *e, char *out, size_t nbytes);   /* out holds 2*nbytes+1 */
/* The state of svc's identity, created (with copies of its settings) on first use. NULL on OOM. */
mae_svc_state *mae__svc(mae_engine *e, const mae_service *svc);
/* svc's transport settings as a view borrowing svc's strings (valid while the workflow is). */
void mae__svc_view(const mae_service *svc, mae_svc_cfg *out);
/* The transport for services of type `type`: the embedder's, else the engine's own (created on
 * first use through the type table); NULL when there is none. */
mae_transport *mae__transport_for(mae_engine *e, const char *type);
void mae__engine_close_svcs(mae_engine *e);   /* closing: then mae__api_svcs_closed */
void mae__svc_breaker_record(mae_svc_state *s, uint64_t gen, mae_brk_outcome o);

/* log.c */
void mae__log(mae_run *run, mae_log_level lvl, const char *step, int attempt, int64_t dur_ms,
              const char *cls, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
void mae__elog(mae_engine *e, mae_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* vars */
mae_vars *mae__vars_new(mae_vars *parent);  /* refs = 1, obj = {} */
/* A foreach item's scope, refs = 1, obj = {<as>: item, <as_index>: index}: one allocation, the
 * keys are the step's (they outlive the run). Takes item. */
mae_vars *mae__vars_new_item(mae_vars *parent, const char *as, const char *as_index, cJSON *item, int index);
/* Sets a variable (val taken, NULL = null): what an item scope holds must go through here. */
void mae__vars_set(mae_vars *v, const char *name, cJSON *val);
void mae__vars_ref(mae_vars *v);
void mae__vars_unref(mae_vars *v);

/* exec.c: nodes */
mae_node *mae__node_new(mae_run *run, mae_node *parent, const mae_step *step, mae_vars *vars, int index);
bool mae__node_start(mae_node *n);      /* true: completed synchronously */
void mae__node_finish(mae_node *n);     /* asynchronous completion, to parent or run */
void mae__node_free(mae_node *n);
void mae__set_step(mae_run *run, const char *id, const char *status, cJSON *output,
                   mae_class cls, int status_code, const char *msg);

/* call.c */
bool mae__call_start(mae_callnode *c);   /* true: completed synchronously */
mae_callnode *mae__comp_call_new(mae_run *run, mae_comprec *rec);
/* The re-send of rec's outcome_unknown step (its own target, input, retry and key), run in the
 * compensation phase under its budget. */
mae_callnode *mae__resolve_call_new(mae_run *run, mae_comprec *rec);
void mae__call_abort(mae_callnode *c);   /* run failing: cancel or drop whatever it waits for */
void mae__call_free(mae_callnode *c);    /* closes the timer, frees in the close callback */
void mae__svc_pump(mae_svc_state *s);    /* a max_in_flight slot freed: start the next waiter */
/* The breaker left open (half-open or closed): compensations waiting on it ask again. */
void mae__svc_brk_wake(mae_svc_state *s);
/* The intent of c's attempt is durable (status 0) or could not be written: send, or fail. */
void mae__call_journaled(mae_callnode *c, int status);

/* run.c */
void mae__run_deadline_hit(mae_run *run, bool comp);  /* the run's / compensation's deadline passed */
void mae__run_fail(mae_run *run, const char *step, mae_class cls, int status, int attempts,
                   const char *msg);
void mae__run_root_done(mae_run *run, mae_node *n);
void mae__run_comp_done(mae_run *run, mae_callnode *c);
int mae__run_push_comp(mae_run *run, const mae_step *step, mae_vars *vars, int index,
                       const char *key, bool unknown);
bool mae__run_going(const mae_run *run);  /* RUNNING: new work may start */
/* mae_run_start, resuming from journal f (taken) when not NULL: the run keeps f's run id. */
int mae__run_start_ex(mae_engine *e, const mae_workflow *wf, const char *input_json, const mae_run_opts *opts,
                      mae_run_cb cb, void *ud, mae_run **out, struct mae_jfile *f, int mode);
/* One of the run's closes is done (handles, the journal). */
void mae__run_closed_one(mae_run *run);
uint64_t mae__run_deadline(const mae_run *run, bool comp);  /* absolute, 0 = none */

/* report.c */
/* Appends a step entry; returns it (borrowed) so callers can add to it, or NULL. */
cJSON *mae__report_step(mae_run *run, const char *id, int index, const char *status, int attempts,
                      int64_t dur_ms, mae_class cls, int status_code, const char *msg);
/* Appends a compensation entry; returns it (borrowed), or NULL. */
cJSON *mae__report_comp(mae_run *run, const char *step, int index, const char *status,
                        int attempts, mae_class cls, int status_code, const char *msg);
void mae__report_build(mae_run *run);
cJSON *mae__error_json(mae_class cls, int status, const char *msg);

/* loop/typed.c: typed gRPC services with `descriptors: reflection`. Fetches what a run needs
 * before its root starts (false: the run waits; mae__run_begin follows from the fetch), checks
 * it, and keeps it per engine. */
bool mae__typed_run_prepare(mae_run *run);
void mae__run_begin(mae_run *run);
/* A failing run stops its fetches (their callbacks still come). */
void mae__typed_run_abort(mae_run *run);
/* A call to a reflection service answered UNIMPLEMENTED: the next run fetches again. */
void mae__typed_svc_stale(mae_svc_state *s);

#endif
