/* Live progress of `maestro run` on stderr, built on the engine's events (events.h) and nothing
 * else: one line as each step starts and ends (service, method, attempts, duration, class),
 * retries with their delay, compensations as they run, and foreach items summarised on one
 * line ("transcode 37/100 done, 3 failed, 5 running") redrawn in place on a terminal.
 * It never reaches into the engine and never changes a run: it only writes text. */
#ifndef MAE_CLI_PROGRESS_H
#define MAE_CLI_PROGRESS_H
#include <stdio.h>

#include "maestro/events.h"

struct mae_workflow;
typedef struct mae_cli_progress mae_cli_progress;

typedef struct mae_cli_progress_opts {
    int color;   /* ANSI colours */
    int live;    /* a terminal: the foreach summary line is redrawn in place */
} mae_cli_progress_opts;

/* Whether progress is shown and how, from the flags and the environment: --progress forces it
 * (colours still only on a terminal), --quiet or a non-terminal stderr turn it off, NO_COLOR
 * (any non-empty value) or TERM=dumb turn colours off. Returns 1 when progress is on. */
int mae_cli_progress_decide(int force, int quiet, mae_cli_progress_opts *o);

/* Reads which steps are inside which foreach; the step ids are borrowed, so wf must outlive
 * the progress. NULL when out of memory (no progress then). Writes to out, which the caller
 * keeps open. */
mae_cli_progress *mae_cli_progress_new(const struct mae_workflow *wf, FILE *out, const mae_cli_progress_opts *o);
/* An mae_event_cb: ud is the mae_cli_progress. */
void mae_cli_progress_event(const mae_event *ev, void *ud);
/* An mae_log_cb: ud is the mae_cli_progress. Log lines asked for with --log-level go through
 * here so that they never land inside the redrawn status line. */
void mae_cli_progress_log(int level, const char *line, void *ud);
/* Clears the redrawn status line, so a message can be printed on a line of its own (the next
 * event draws it again). NULL is a no-op. */
void mae_cli_progress_clear(mae_cli_progress *p);
/* Clears a status line left on the terminal and frees. NULL is a no-op. */
void mae_cli_progress_free(mae_cli_progress *p);
#endif
