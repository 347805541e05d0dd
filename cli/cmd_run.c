/* maestro run | execute WORKFLOW.yaml [options] (docs/cli.md#run--execute): loads and checks the
 * workflow and its input (exit 2, nothing called), runs it on a fresh loop, prints only the output
 * JSON on stdout, a failure summary on stderr, writes --report, and handles SIGINT/SIGTERM (first:
 * cancel and compensate, exit 130; second: exit at once). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "cli/cli.h"
#include "cli/out.h"
#include "cli/plan.h"
#include "cli/progress.h"
#include "workflow/json_out.h"
#include "cli/transports.h"
#include "maestro/maestro.h"
#include "loop/api.h"
#include "workflow/template.h"
#include "workflow/model.h"

enum { O_INPUT = 1, O_REPORT, O_LOG_LEVEL, O_LOG_FORMAT, O_SET, O_TIMEOUT, O_QUIET, O_PROGRESS, O_NO_PROGRESS,
       O_DRY_RUN, O_JOURNAL, O_NO_JOURNAL, O_RETAIN };

static const mae_cli_opt run_opts[] = {
    {O_INPUT, "--input", NULL, "JSON|@FILE|-", "the run's input (default {})"},
    {O_REPORT, "--report", NULL, "FILE", "write the run report (JSON) on every outcome"},
    {O_LOG_LEVEL, "--log-level", NULL, "LEVEL", "error|warn|info|debug (default warn)"},
    {O_LOG_FORMAT, "--log-format", NULL, "FORMAT", "text|json (default text)"},
    {O_SET, "--set", NULL, "service.NAME.endpoint=URL", "override a service's endpoint"},
    {O_TIMEOUT, "--timeout", NULL, "DURATION", "override the workflow timeout (e.g. 30s, 5m)"},
    {O_QUIET, "--quiet", "-q", NULL, "no logs, no progress; only the output and the failure summary"},
    {O_PROGRESS, "--progress", NULL, NULL, "live progress on stderr even when it is not a terminal"},
    {O_NO_PROGRESS, "--no-progress", NULL, NULL, "no live progress, even on a terminal"},
    {O_DRY_RUN, "--dry-run", NULL, NULL, "check the input and print every request as JSON lines; send nothing"},
    {O_JOURNAL, "--journal", NULL, "DIR", "where the run's journal goes (docs/journal.md)"},
    {O_NO_JOURNAL, "--no-journal", NULL, NULL, "write no journal: the run cannot be resumed after a crash"},
    {O_RETAIN, "--retain", NULL, "DURATION", "keep finished runs' journals this long (default 7d)"},
    {0, NULL, NULL, NULL, NULL},
};

static const mae_cli_spec run_spec = {
    "run", "WORKFLOW.yaml [--input JSON|@FILE|-] [options]",
    "Runs the workflow once: the output JSON on stdout; on stderr, live progress (one line as\n"
    "each step starts and ends, retries, compensations; on a terminal, or with --progress;\n"
    "colours unless NO_COLOR is set), logs, and a failure summary.\n",
    run_opts,
    "exit codes: 0 succeeded, 1 failed and compensated, 2 invalid usage/workflow/input,\n"
    "            3 failed and a compensation failed, 4 succeeded but the output or the report\n"
    "            could not be written, 130 interrupted\n",
};

/* Input is bounded: it is read whole before the loop starts. */

typedef struct run_ctx {
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    mae_run *run;
    mae_engine *eng;
    mae_cli_transports tr;
    mae_cli_progress *progress;  /* NULL: no live progress */
    mae_cli_file *report;   /* the report's temporary file, opened before the run */
    int write_failed;       /* the output or the report was not written */
    int exit_code;
    int signals;
    int signals_open;
    int done;
} run_ctx;

/* Replaces the report file with report (the previous one stays when anything fails). 0, or -1
 * with a message on stderr. No report asked for: 0. */
static int write_report(mae_cli_file *rep, const cJSON *report) {
    if (!rep || !rep->path) return 0;
    char *path = strdup(rep->path);
    char *txt = NULL;
    if (report) mae__json_print_pretty(report, MAE_JSON_UNBOUNDED, &txt, NULL);
    int e = txt ? mae_cli_file_commit(rep, txt, strlen(txt)) : ENOMEM;
    if (!txt) mae_cli_file_abandon(rep);
    free(txt);
    if (e) fprintf(stderr, "maestro: the report could not be written to %s: %s\n", path ? path : "?", strerror(e));
    free(path);
    return e ? -1 : 0;
}

/* Exit 2 still leaves a report when one was asked for: status failed, nothing called. */
static void write_invalid_report(mae_cli_file *rep, const char *wf_name, const char *cls, const char *msg) {
    if (!rep->path) return;
    cJSON *r = cJSON_CreateObject();
    if (!r) {
        write_report(rep, NULL);
        return;
    }
    cJSON_AddNullToObject(r, "run_id");
    if (wf_name) cJSON_AddStringToObject(r, "workflow", wf_name);
    else cJSON_AddNullToObject(r, "workflow");
    cJSON_AddStringToObject(r, "status", "failed");
    cJSON *e = cJSON_AddObjectToObject(r, "error");
    if (e) {
        cJSON_AddNullToObject(e, "step");
        cJSON_AddStringToObject(e, "class", cls);
        cJSON_AddStringToObject(e, "message", msg);
        cJSON_AddNullToObject(e, "status");
        cJSON_AddNumberToObject(e, "attempts", 0);
    }
    cJSON_AddNullToObject(r, "started_at");
    cJSON_AddNumberToObject(r, "duration_ms", 0);
    cJSON_AddNullToObject(r, "output");
    cJSON_AddArrayToObject(r, "steps");
    cJSON_AddArrayToObject(r, "compensations");
    cJSON_AddArrayToObject(r, "uncompensated");
    write_report(rep, r);
    cJSON_Delete(r);
}

static void on_signal(uv_signal_t *s, int signum) {
    run_ctx *c = s->data;
    mae_cli_progress_clear(c->progress);
    if (++c->signals >= 2) {
        fprintf(stderr, "maestro: second signal, exiting now without waiting for compensation\n");
        /* the report and summary are written from the state now: what was not undone is listed */
        if (c->run) {
            const cJSON *rep = NULL;
            const char *summary = NULL;
            mae__report_abandon(c->run, &rep, &summary);
            char *path = c->report->path ? strdup(c->report->path) : NULL;
            int rep_ok = write_report(c->report, rep) == 0;
            if (summary) fputs(summary, stderr);
            if (path && rep_ok) fprintf(stderr, "full report: %s\n", path);
            else if (path) fprintf(stderr, "the report %s was NOT written (see above)\n", path);
            free(path);
        }
        fflush(stderr);
        mae_cli_file_abandon(c->report);
        _exit(130);
    }
    fprintf(stderr, "maestro: %s received: cancelling and compensating (send again to exit at once)\n",
            signum == SIGINT ? "SIGINT" : "SIGTERM");
    mae_run_cancel(c->run);
}

static void progress_log(mae_log_level level, const char *line, void *ud) {
    mae_cli_progress_log((int)level, line, ud);
}

/* Every event of the run goes through here: one line per consumer. */
static void on_event(const mae_event *ev, void *ud) {
    run_ctx *c = ud;
    if (c->progress) mae_cli_progress_event(ev, c->progress);
}

static void closed_nothing(uv_handle_t *h) { (void)h; }
static void tr_closed(void *ud) { (void)ud; }
static void engine_closed(void *ud) { mae_cli_transports_close(ud, tr_closed, NULL); }

/* Closes everything on the loop so uv_run returns: pooled connections of the transports would
 * otherwise keep it alive after the run is over. */
static void shutdown_all(run_ctx *c) {
    if (c->signals_open) {
        uv_close((uv_handle_t *)&c->sigint, closed_nothing);
        uv_close((uv_handle_t *)&c->sigterm, closed_nothing);
        c->signals_open = 0;
    }
    /* the transports outlive the engine: closed once it is */
    if (!c->eng || mae_engine_close(c->eng, engine_closed, &c->tr) != 0) mae_cli_transports_close(&c->tr, tr_closed, NULL);
    c->eng = NULL;
}

static void on_done(mae_run *run, const mae_run_result *res, void *ud) {
    run_ctx *c = ud;
    c->done = 1;
    c->exit_code = res->exit_code;
    if (res->status == MAE_RUN_SUCCEEDED && res->output) {
        /* One compact line, integers exact (cJSON's printer rounds past 2^53). */
        char *txt = NULL;
        size_t len = 0;
        int e = mae__json_print((const cJSON *)res->output, (size_t)1 << 30, &txt, &len) == 0 ? 0 : ENOMEM;
        if (!e && (e = mae_cli_stdout_write(txt, len)) == 0) e = mae_cli_stdout_write("\n", 1);
        if (e) {
            fprintf(stderr, "maestro: the output could not be written: %s\n", mae_cli_stdout_strerror(e));
            c->write_failed = 1;
        }
        free(txt);
    }
    char *path = c->report->path ? strdup(c->report->path) : NULL;
    int rep_ok = write_report(c->report, (const cJSON *)res->report) == 0;
    if (!rep_ok) c->write_failed = 1;
    if (res->summary) {
        fputs(res->summary, stderr);
        if (path && rep_ok) fprintf(stderr, "full report: %s\n", path);
        else if (path) fprintf(stderr, "the report %s was NOT written (see above)\n", path);
    }
    free(path);
    mae_run_free(run);
    c->run = NULL;
    shutdown_all(c);
}

int mae_cmd_run(int argc, char **argv) {
    const char *wf_path = NULL, *input_arg = NULL, *report = NULL, *timeout_s = NULL;
    const char *sets[64];
    int n_sets = 0;
    mae_engine_opts eo;
    mae_engine_opts_init(&eo);
    int quiet = 0, progress = 0, no_progress = 0, log_level_set = 0, dry_run = 0, no_journal = 0;
    const char *journal = NULL, *retain_s = NULL;
    mae_cli_args args;
    mae_cli_args_init(&args, &run_spec, argc, argv);
    const char *v;
    for (int id; (id = mae_cli_next(&args, &v)) != MAE_CLI_END;) {
        switch (id) {
        case MAE_CLI_HELP: return 0;
        case MAE_CLI_BAD: return 2;
        case MAE_CLI_ARG:
            if (wf_path) return mae_cli_usage(&run_spec, "more than one workflow given ('%s')", v);
            wf_path = v;
            break;
        case O_QUIET: quiet = 1; break;
        case O_PROGRESS: progress = 1; break;
        case O_NO_PROGRESS: no_progress = 1; break;
        case O_DRY_RUN: dry_run = 1; break;
        case O_JOURNAL: journal = v; break;
        case O_NO_JOURNAL: no_journal = 1; break;
        case O_RETAIN: retain_s = v; break;
        case O_INPUT: input_arg = v; break;
        case O_REPORT: report = v; break;
        case O_TIMEOUT: timeout_s = v; break;
        case O_SET:
            if (n_sets == 64) return mae_cli_usage(&run_spec, "too many --set options");
            sets[n_sets++] = v;
            break;
        case O_LOG_LEVEL:
            log_level_set = 1;
            if (!strcmp(v, "error")) eo.log_level = MAE_LOG_ERROR;
            else if (!strcmp(v, "warn")) eo.log_level = MAE_LOG_WARN;
            else if (!strcmp(v, "info")) eo.log_level = MAE_LOG_INFO;
            else if (!strcmp(v, "debug")) eo.log_level = MAE_LOG_DEBUG;
            else return mae_cli_usage(&run_spec, "--log-level: expected error|warn|info|debug, got '%s'", v);
            break;
        case O_LOG_FORMAT:
            if (!strcmp(v, "text")) eo.log_format = MAE_LOG_TEXT;
            else if (!strcmp(v, "json")) eo.log_format = MAE_LOG_JSON;
            else return mae_cli_usage(&run_spec, "--log-format: expected text|json, got '%s'", v);
            break;
        }
    }
    if (!wf_path) return mae_cli_usage(&run_spec, "no workflow file given");
    /* The report's file is created before anything else, so the run's connections cannot take
     * the last descriptor, and a destination that cannot be written stops the run before any
     * call. */
    mae_cli_file rep = {0};
    if (report) {
        int e = mae_cli_file_open(&rep, report);
        if (e) {
            fprintf(stderr, "maestro run: cannot write the report to %s: %s; nothing was called\n", report, strerror(e));
            return 2;
        }
    }
    mae_cli_progress_opts po;
    int show_progress = mae_cli_progress_decide(progress, quiet || no_progress, &po);
    /* the progress says what the warnings would, once per step: logs only when asked for */
    if (quiet || (show_progress && !log_level_set)) eo.log_level = MAE_LOG_OFF;
    /* no_report stays 0: the failure summary, --report and the journal come from the report */
    mae_run_opts ro = {0};
    if (timeout_s && (mae__parse_duration_ms(timeout_s, &ro.timeout_ms) != 0 || ro.timeout_ms == 0))
        return mae_cli_usage(&run_spec, "--timeout: not a duration: '%s'", timeout_s);
    unsigned long long retain_ms = 7 * 24 * 3600 * 1000ull;
    if (retain_s && mae_cli_parse_retain(retain_s, &retain_ms) != 0)
        return mae_cli_usage(&run_spec, "--retain: not a duration: '%s'", retain_s);
    eo.journal_dir = mae_cli_journal_dir(journal, no_journal);

    mae_workflow *wf = NULL;
    mae_diags ld;
    mae__diags_init(&ld, wf_path);
    int lrc = mae__workflow_load_file(wf_path, &wf, &ld);
    if (lrc != 0) {
        if (ld.n == 0 && ld.dropped == 0) mae__diag_add(&ld, (mae_pos){0, 0}, "%s", mae_strerror(lrc));
        mae_cli_print_diags(&ld, wf_path);
    }
    mae__diags_free(&ld);
    if (lrc != 0) {
        mae_workflow_free(wf);
        wf = NULL;
        fprintf(stderr, "maestro: %s: workflow not loaded, nothing was called\n", wf_path);
        write_invalid_report(&rep, NULL, "invalid_workflow", "the workflow file is invalid (see the diagnostics)");
        return 2;
    }
    for (int i = 0; i < n_sets; i++) {
        if (mae_cli_apply_set("run", wf, sets[i]) != 0) {
            mae_cli_file_abandon(&rep);
            mae_workflow_free(wf);
            return 2;
        }
    }
    char *text = mae_cli_read_input("run", input_arg);
    cJSON *input = NULL;
    char perr[96] = "";
    /* a file that cannot be read was reported once, with the system's reason */
    if (!text) snprintf(perr, sizeof perr, "the input could not be read");
    if (!text) write_invalid_report(&rep, wf->name, "invalid_input", perr);
    if (text && mae__json_parse_doc(text, &input, perr, sizeof perr) != 0) {
        fprintf(stderr, "maestro: --input: %s; nothing was called\n", perr);
        write_invalid_report(&rep, wf->name, "invalid_input", perr);
    }
    free(text);
    if (!input || !cJSON_IsObject(input)) {
        if (input || !perr[0]) {
            fprintf(stderr, "maestro: the input is not a JSON object; nothing was called\n");
            write_invalid_report(&rep, wf->name, "invalid_input", "the input is not a JSON object");
        }
        cJSON_Delete(input);
        mae_workflow_free(wf);
        return 2;
    }
    mae_diags d;
    mae__diags_init(&d, "input");
    if (mae__input_check(wf, input, &d) != 0) {
        for (size_t i = 0; i < d.n; i++) fprintf(stderr, "maestro: invalid input: %s\n", d.items[i].message);
        fprintf(stderr, "maestro: nothing was called\n");
        write_invalid_report(&rep, wf->name, "invalid_input", d.n ? d.items[0].message : "invalid input");
        mae__diags_free(&d);
        cJSON_Delete(input);
        mae_workflow_free(wf);
        return 2;
    }
    mae__diags_free(&d);
    /* even without an `input:` block: a key the workflow reads is there before any call */
    if (mae_cli_input_reads_check(wf, input, "run") != 0) {
        write_invalid_report(&rep, wf->name, "invalid_input", "the input lacks keys the workflow reads");
        cJSON_Delete(input);
        mae_workflow_free(wf);
        return 2;
    }
    if (dry_run) {
        mae_cli_file_abandon(&rep);
        int drc = mae_cli_dry_run(wf, input, stdout);
        cJSON_Delete(input);
        mae_workflow_free(wf);
        return drc;
    }
    char *checked = mae__json_text(input);
    cJSON_Delete(input);

    /* a closed stdout (maestro run ... | head) must not kill the run before it compensates */
    signal(SIGPIPE, SIG_IGN);
    run_ctx c;
    memset(&c, 0, sizeof c);
    c.report = &rep;
    c.exit_code = 1;
    if (uv_loop_init(&c.loop) != 0) {
        fprintf(stderr, "maestro: cannot create the event loop\n");
        mae_cli_file_abandon(&rep);
        free(checked);
        mae_workflow_free(wf);
        return 1;
    }
    int rc = mae_cli_transports_open(&c.loop, &c.tr);
    if (rc != 0) {
        mae_cli_file_abandon(&rep);
        free(checked);
        mae_workflow_free(wf);
        uv_run(&c.loop, UV_RUN_DEFAULT);
        uv_loop_close(&c.loop);
        return 1;
    }
    eo.http = c.tr.http;
    eo.grpc = c.tr.grpc;
    if (show_progress) c.progress = mae_cli_progress_new(wf, stderr, &po);
    /* events cost something only when a consumer wants them */
    if (c.progress) {
        eo.on_event = on_event;
        eo.event_ud = &c;
    }
    /* logs asked for next to the progress: printed between its lines, never inside them */
    if (c.progress && eo.log_level != MAE_LOG_OFF) {
        eo.on_log = progress_log;
        eo.log_ud = c.progress;
    }
    if (eo.journal_dir) mae_cli_journal_prune(eo.journal_dir, retain_ms);
    rc = mae_engine_new(&c.loop, &eo, &c.eng);
    if (rc == 0) rc = mae_run_start(c.eng, wf, checked, &ro, on_done, &c, &c.run);
    free(checked);
    if (rc == 0) {
        uv_signal_init(&c.loop, &c.sigint);
        uv_signal_init(&c.loop, &c.sigterm);
        c.sigint.data = c.sigterm.data = &c;
        uv_signal_start(&c.sigint, on_signal, SIGINT);
        uv_signal_start(&c.sigterm, on_signal, SIGTERM);
        c.signals_open = 1;
    } else {
        if (rc == MAE_EIO && eo.journal_dir)
            fprintf(stderr, "maestro: the run's journal cannot be created in %s; nothing was called "
                            "(--journal DIR elsewhere, or --no-journal)\n", eo.journal_dir);
        else fprintf(stderr, "maestro: cannot start the run: %s\n", mae_strerror(rc));
        /* MAE_EIO: the journal cannot be created; nothing was called */
        c.exit_code = rc == MAE_EINVAL || rc == MAE_EPARSE || rc == MAE_EIO ? 2 : 1;
        shutdown_all(&c);
    }
    /* on_done shuts everything down, so this returns once the run is over and closed */
    uv_run(&c.loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&c.loop) != 0) fprintf(stderr, "maestro: internal: handles left open at exit\n");
    mae_cli_progress_free(c.progress);
    mae_workflow_free(wf);
    /* the run did not finish (it could not start): the old report stays */
    mae_cli_file_abandon(&rep);
    /* A failed run keeps its code (1, 3, 130): it says more than the lost output. */
    if (c.exit_code == 0 && c.write_failed) return MAE_CLI_EXIT_WRITE;
    return c.exit_code;
}
