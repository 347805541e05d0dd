/* The engine's journal hooks (loop/journal_run.c): what a run writes to its journal and when,
 * and how a journal is read back, for `maestro runs`/`show` and for resuming a run by replaying
 * it through the engine's own code paths (docs/journal.md).
 *
 * One file per run, <dir>/<run id>.mj, locked (flock) by the process running it. Record
 * payloads are JSON objects:
 *   RUN_START {v, run_id, trace_id, workflow, file, digest, input, endpoints, started_at}
 *   INTENT    {k, kind, step, index, attempt}           before the attempt is sent
 *   RESULT    {k, kind, step, index, attempts, ok, output | class, cls, status, message, sent}
 *   FAIL      {step, class, cls, status, message}       the run started failing
 *   RESUME    {mode, at}                                 resume / compensate took over
 *   RUN_END   {status, report}
 * kind is "step" (a step's call), "resolve" (the re-send of an outcome_unknown step during
 * compensation) or "comp" (a compensation); k is the call's idempotency key.
 *
 * Why hooks and not the event stream: the intent must hold its call until the disk has it,
 * which a notification cannot do, and a replayed call must take its result from the journal
 * instead of the transport. The other records are written at the points where the step events
 * are emitted, from the same state, each hook one call in run.c or call.c. */
#ifndef MAE_LOOP_JOURNAL_RUN_H
#define MAE_LOOP_JOURNAL_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "loop/journal.h"

struct mae_run;
struct mae_callnode;
struct mae_engine;

/* A journal file read back whole (synchronously: for commands and before a resume). */
/* A hash index over the members of a cJSON object by their keys (open addressing): a journal of
 * a 100k-item foreach holds 200k keyed records, too many for cJSON's linear member search. The
 * slots point at the object's members, which own the keys. */
typedef struct mae_jindex {
    cJSON **slot;
    size_t cap, n;
} mae_jindex;

typedef struct mae_jfile {
    char *path;
    mae_jscan scan;
    cJSON *start;       /* RUN_START payload; NULL when missing */
    cJSON *end;         /* RUN_END payload; NULL: the run did not finish */
    cJSON *fail;        /* the first FAIL payload, or NULL */
    cJSON *results;     /* {"kind:key": RESULT payload + "seq"} */
    cJSON *intents;     /* {"kind:key": the last INTENT payload} */
    mae_jindex results_ix, intents_ix;   /* look them up through these, never by member search */
    char *last_step;    /* the step of the last successful step result */
    int n_unknown;      /* intents without a result: calls whose outcome is unknown */
    int resumes;
    bool compensating;  /* a FAIL or a compensate record: a resume compensates */
    bool locked;        /* a live process holds the run (flock) */
    int64_t mtime_ms;
} mae_jfile;

typedef enum { MAE_REPLAY_RESUME, MAE_REPLAY_COMPENSATE } mae_replay_mode;

/* Reads and decodes path. 0, or MAE_EIO / MAE_EDECODE (not a journal) / MAE_ENOMEM with err
 * set. Damage in the middle is not an error here: scan.damaged says so, and nothing after the
 * damage is used. */
int mae__jfile_load(const char *path, mae_jfile *out, char *err, size_t errlen);
/* The same from bytes (f zeroed, or its path set, by the caller). */
int mae__jfile_load_buf(const uint8_t *buf, size_t n, mae_jfile *f, char *err, size_t errlen);
void mae__jfile_free(mae_jfile *f);
/* The RESULT / INTENT record with this "kind:key", or NULL. O(1). */
cJSON *mae__jfile_result(const mae_jfile *f, const char *kind_key);
cJSON *mae__jfile_intent(const mae_jfile *f, const char *kind_key);
/* FNV-1a 64 of a file's bytes as "fnv1a64:<16 hex>" into out (33 bytes). 0 or MAE_EIO. */
int mae__file_digest(const char *path, char out[33]);
/* The default journal directory: $MAESTRO_JOURNAL, $XDG_STATE_HOME/maestro/runs, else
 * ~/.local/state/maestro/runs (built in buf, or the environment's string). */
const char *mae__journal_default_dir(char *buf, size_t len);

/* --- hooks, called by the engine (run.c, call.c) --- */
/* At run start (mae_run_start): creates the directory and the file, locks it, queues RUN_START.
 * The run writes nothing when the engine has no journal directory. 0, or MAE_EIO with a log line
 * (the run does not start). */
int mae__jr_run_open(struct mae_run *run, const cJSON *input);
/* At resume: opens f's file for appending (torn tail cut), queues RESUME. */
int mae__jr_run_reopen(struct mae_run *run, mae_jfile *f, mae_replay_mode mode);
/* Before an attempt is sent. 0: send now (no journal, or a compensation after the journal
 * failed: undoing beats leaving); 1: c waits for the intent to be durable, then
 * mae__call_journaled(c, status) runs; a negative MAE_E*: the intent cannot be written. */
int mae__jr_intent(struct mae_callnode *c);
/* A call's final result (not for results replayed from the journal). */
void mae__jr_result(struct mae_callnode *c);
void mae__jr_fail(struct mae_run *run);
/* The run is over: queues RUN_END and closes the file; done(run) runs from the loop after. */
void mae__jr_run_end(struct mae_run *run, void (*done)(struct mae_run *run));
/* Resuming: fills c's result from the journal. 1: c holds a result (c->replayed set); 0: send it.
 * In compensate mode a step with no result fails the run first (and, if its intent was written,
 * ends outcome_unknown so that the compensation phase re-sends it to learn its outcome). */
int mae__jr_replay(struct mae_callnode *c);
/* The replayed result's position in the journal (completion order); live ones come after. */
uint64_t mae__jr_seq(struct mae_run *run, const struct mae_callnode *c);
void mae__jr_run_free(struct mae_run *run);

#endif
