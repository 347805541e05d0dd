/* `maestro serve`: one engine running workflows on request, behind the project's HTTP/1.1
 * server (docs/serve.md). The server owns the engine (created here so every event reaches the
 * metrics), the workflow table (each version refcounted by its runs, so a reload never frees a
 * workflow a run still borrows), the table of runs (running ones, and finished ones kept for a
 * bounded number and time) and the metrics. It never loads files: the caller (cli/cmd_serve.c)
 * loads, applies --set and hands finished workflows over. Internal: not in the public API.
 *
 * Memory bound: running runs <= max_runs; finished runs <= keep_finished, each at most
 * keep_ms old; metrics series are keyed by workflow, step, service and failure class, all
 * finite sets fixed by the loaded workflows (never by a request). */
#ifndef MAE_SERVE_H
#define MAE_SERVE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "maestro/maestro.h"
#include "transports/h1_server.h"

typedef struct mae_serve mae_serve;

typedef struct mae_serve_opts {
    int max_runs;              /* runs at once; beyond it POST answers 429 (0: none allowed) */
    size_t keep_finished;      /* finished runs kept for GET (oldest dropped first) */
    uint64_t keep_ms;          /* and for at most this long after their end */
    size_t max_body;           /* request body cap (413 above) */
    mae_h1_limits limits;      /* connections, deadlines, write high-water mark */
    mae_log_level log_level;   /* the server's own lines (run ends, reloads); default info */
    /* the engine journals every run (mae_engine_opts.journal_dir is set): a drain that runs
     * out of grace leaves the runs still going journaled instead of cancelling them */
    bool journal;
} mae_serve_opts;

/* Defaults: max_runs 256, keep 1000 runs for 1 h, 1 MiB bodies, 1024 connections, 10 s to
 * send a request, 60 s idle, 1 MiB of unread responses. */
void mae__serve_opts_init(mae_serve_opts *o);

/* Creates the server and its engine on loop (eo: log settings and transports; its on_event is
 * replaced). Returns 0 or a negative MAE_E*. */
int mae__serve_new(uv_loop_t *loop, const mae_serve_opts *o, const mae_engine_opts *eo, mae_serve **out);
/* Installs wf (taken) as the version of the workflow loaded from path: a new entry, or the next
 * version of the entry with that path (the old one is freed when its last run ends). digest is
 * copied. Returns 0, MAE_EEXISTS (another file already serves a workflow of that name: wf is
 * freed) or MAE_ENOMEM. */
int mae__serve_set_workflow(mae_serve *s, const char *path, mae_workflow *wf, const char *digest);
/* Listens on host:port (0: any); *port_out gets the bound port. 0 or a negative MAE_E*. */
int mae__serve_listen(mae_serve *s, const char *host, int port, int *port_out);

/* Handles one request; the answer goes to the responder (mae__h1_respond by default), now or
 * when the run ends. x is the exchange. Exposed for the fuzz target. */
void mae__serve_handle(mae_serve *s, mae_h1_exchange *x, const mae_h1_request *req);
typedef int (*mae_serve_responder)(mae_h1_exchange *x, int status, const char *content_type,
                                   const mae_header_kv *extra, size_t n_extra, const char *body, size_t len);
void mae__serve_set_responder(mae_serve *s, mae_serve_responder r);

/* Resumes the unfinished runs journaled in dir by a previous process (not locked, not
 * damaged, of a workflow loaded here whose file has the digest the run started with), as
 * `maestro resume --all` would; they join the run table as running. Returns how many were
 * resumed; each one left alone is logged with its reason. */
int mae__serve_resume_journal(mae_serve *s, const char *dir);
/* Drain: stop accepting connections, answer new POSTs with 503, let runs finish for grace_ms,
 * then cancel the rest (they compensate). done(ud) runs once no run is going. With a journal,
 * when the grace is over done(ud) runs at once with the runs still going and
 * mae__serve_left() says how many: the caller exits, leaving them journaled for the next start
 * (their waiting clients have been answered 503). */
void mae__serve_drain(mae_serve *s, uint64_t grace_ms, void (*done)(void *ud), void *ud);
/* Closes the HTTP server and the engine (runs still going are cancelled), frees everything,
 * then done(ud). Call it once, from the loop. */
void mae__serve_close(mae_serve *s, void (*done)(void *ud), void *ud);
int mae__serve_running(const mae_serve *s);
int mae__serve_left(const mae_serve *s);
/* Cancels every run going (they compensate); what the drain does once the grace is over. */
void mae__serve_cancel_all(mae_serve *s);
void mae__serve_set_max_runs(mae_serve *s, int max_runs);
/* Writes a log line through the engine's log settings (stream, format), filtered by the
 * server's own level, which may be above the engine's: "info" shows one line per run end
 * without the engine's per-step lines. */
void mae__serve_log(mae_serve *s, mae_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
