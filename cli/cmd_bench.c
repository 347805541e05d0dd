/* maestro bench WORKFLOW.yaml --input JSON|@FILE -n RUNS -c CONCURRENCY [--json] [--set ...]:
 * runs RUNS instances of one workflow on one engine on one loop, at most CONCURRENCY at a time,
 * and prints throughput (runs/s, steps/s), run latency percentiles from a log-linear histogram
 * (fixed size: memory does not grow with RUNS), failed runs by error class, CPU seconds per step
 * (getrusage) and peak RSS. Exit 0 when every run succeeded, 1 otherwise, 2 on usage errors.
 * A progress line goes to stderr only when stderr is a terminal. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "cli/cli.h"
#include "workflow/json_out.h"
#include "cli/transports.h"
#include "maestro/maestro.h"
#include "workflow/model.h"
#include "workflow/template.h"

enum { O_INPUT = 1, O_RUNS, O_CONC, O_JSON, O_SET, O_TIMEOUT, O_LOG_LEVEL, O_JOURNAL };

static const mae_cli_opt bench_opts[] = {
    {O_INPUT, "--input", NULL, "JSON|@FILE", "each run's input (default {})"},
    {O_RUNS, "--runs", "-n", "RUNS", "how many runs in all (default 100)"},
    {O_CONC, "--concurrency", "-c", "CONC", "at most this many runs at a time (default 10)"},
    {O_JSON, "--json", NULL, NULL, "print one JSON object instead of text"},
    {O_SET, "--set", NULL, "service.NAME.endpoint=URL", "override a service's endpoint"},
    {O_TIMEOUT, "--timeout", NULL, "DURATION", "per-run timeout (default: the workflow's)"},
    {O_LOG_LEVEL, "--log-level", NULL, "LEVEL", "error|warn|info|debug (default: no logs)"},
    {O_JOURNAL, "--journal", NULL, "DIR", "journal every run in DIR, as run does (default: none)"},
    {0, NULL, NULL, NULL, NULL},
};

static const mae_cli_spec bench_spec = {
    "bench", "WORKFLOW.yaml [--input JSON|@FILE] -n RUNS -c CONCURRENCY [options]",
    "Runs many instances of the workflow on one loop and reports throughput, latency, errors,\n"
    "CPU time and peak memory.\n",
    bench_opts,
    "exit codes: 0 every run succeeded, 1 some run did not, 2 invalid usage/workflow/input\n",
};

#define BENCH_MAX_SETS 64
#define BENCH_MAX_CLASSES 32

/* ---- log-linear histogram of microseconds: 2^SUB_BITS linear sub-buckets per power of two,
 * so any value is kept within 1/2^SUB_BITS (~3%) of itself; fixed 64*32 counters. ---- */
#define SUB_BITS 5
#define SUB_N (1u << SUB_BITS)
#define HIST_N (64u * SUB_N)

typedef struct hist {
    uint64_t counts[HIST_N];
    uint64_t total, max;
} hist;

static unsigned hist_index(uint64_t v) {
    if (v < SUB_N) return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);   /* >= SUB_BITS */
    unsigned shift = msb - SUB_BITS;
    unsigned sub = (unsigned)(v >> shift) & (SUB_N - 1);
    return (shift + 1) * SUB_N + sub;
}

/* Upper bound of a bucket (the largest value that falls in it). */
static uint64_t hist_upper(unsigned i) {
    if (i < SUB_N) return i;
    unsigned shift = i / SUB_N - 1;
    uint64_t base = ((uint64_t)SUB_N | (i % SUB_N)) << shift;
    return base + (((uint64_t)1 << shift) - 1);
}

static void hist_add(hist *h, uint64_t v) {
    h->counts[hist_index(v)]++;
    h->total++;
    if (v > h->max) h->max = v;
}

/* The value at quantile q (0..1): the upper bound of the bucket holding that rank, never above
 * the largest value recorded. */
static uint64_t hist_quantile(const hist *h, double q) {
    if (h->total == 0) return 0;
    uint64_t rank = (uint64_t)(q * (double)h->total + 0.999999);
    if (rank < 1) rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_N; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t u = hist_upper(i);
            return u < h->max ? u : h->max;
        }
    }
    return h->max;
}

/* ---- the bench itself ---- */
typedef struct err_class {
    char name[48];
    uint64_t count;
} err_class;

typedef struct bench {
    uv_loop_t loop;
    uv_timer_t progress;
    int progress_on;
    mae_engine *eng;
    mae_cli_transports tr;
    const mae_workflow *wf;
    const char *input;
    mae_run_opts ro;
    uint64_t n, c;
    uint64_t started, finished, succeeded, steps, calls;
    uint64_t in_flight;
    int start_failed;              /* a run could not start: stop starting more */
    int shut;
    hist lat;                      /* run latency, µs */
    err_class errs[BENCH_MAX_CLASSES];
    size_t n_errs;
    uint64_t t0, t_end;            /* t_end: when the last run finished */
} bench;

typedef struct bench_slot {
    bench *b;
    uint64_t t_start;
} bench_slot;

static void count_error(bench *b, const char *cls) {
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < b->n_errs; i++) {
            if (!strcmp(b->errs[i].name, cls)) {
                b->errs[i].count++;
                return;
            }
        }
        if (b->n_errs < BENCH_MAX_CLASSES - 1) break;
        cls = "other";   /* the last slot collects every class beyond the table */
        if (pass == 1) return;
    }
    snprintf(b->errs[b->n_errs].name, sizeof b->errs[b->n_errs].name, "%s", cls);
    b->errs[b->n_errs++].count = 1;
}

static void closed_nothing(uv_handle_t *h) { (void)h; }
static void tr_closed(void *ud) { (void)ud; }
static void engine_closed(void *ud) { mae_cli_transports_close(ud, tr_closed, NULL); }

static void shutdown_all(bench *b) {
    if (b->shut) return;
    b->shut = 1;
    if (b->progress_on) uv_close((uv_handle_t *)&b->progress, closed_nothing);
    b->progress_on = 0;
    /* the transports outlive the engine: closed once it is */
    if (!b->eng || mae_engine_close(b->eng, engine_closed, &b->tr) != 0) mae_cli_transports_close(&b->tr, tr_closed, NULL);
    b->eng = NULL;
}

static void start_more(bench *b);

static void on_done(mae_run *run, const mae_run_result *res, void *ud) {
    bench_slot *slot = ud;
    bench *b = slot->b;
    uint64_t us = (uv_hrtime() - slot->t_start) / 1000;
    free(slot);
    hist_add(&b->lat, us);
    b->finished++;
    b->in_flight--;
    /* the runs are started with no_report: the counts come with the result */
    b->steps += res->steps_run;
    b->calls += res->attempts;
    if (res->status == MAE_RUN_SUCCEEDED) {
        b->succeeded++;
    } else {
        const char *cls = res->error_class;
        count_error(b, cls && *cls ? cls : mae_run_status_name(res->status));
    }
    mae_run_free(run);
    start_more(b);
}

static void start_more(bench *b) {
    while (!b->start_failed && b->started < b->n && b->in_flight < b->c) {
        bench_slot *slot = malloc(sizeof *slot);
        mae_run *run = NULL;
        int rc = slot ? 0 : MAE_ENOMEM;
        if (slot) {
            slot->b = b;
            slot->t_start = uv_hrtime();
            rc = mae_run_start(b->eng, b->wf, b->input, &b->ro, on_done, slot, &run);
        }
        if (rc != 0) {
            free(slot);
            fprintf(stderr, "maestro bench: cannot start run %llu: %s\n", (unsigned long long)b->started + 1,
                    mae_strerror(rc));
            b->start_failed = 1;
            break;
        }
        b->started++;
        b->in_flight++;
    }
    if (b->in_flight == 0 && (b->started == b->n || b->start_failed)) {
        if (!b->t_end) b->t_end = uv_hrtime();
        shutdown_all(b);
    }
}

static void on_progress(uv_timer_t *t) {
    bench *b = t->data;
    double s = (double)(uv_hrtime() - b->t0) / 1e9;
    fprintf(stderr, "\r%llu/%llu runs, %llu in flight, %.0f runs/s, %llu failed   ",
            (unsigned long long)b->finished, (unsigned long long)b->n, (unsigned long long)b->in_flight,
            s > 0 ? (double)b->finished / s : 0.0, (unsigned long long)(b->finished - b->succeeded));
    fflush(stderr);
}

/* ---- arguments and input ---- */
static int parse_count(const char *s, uint64_t *out) {
    char *end;
    if (!s || !*s || *s == '-') return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || v == 0 || v > 100000000ull) return -1;
    *out = v;
    return 0;
}

/* ---- results ---- */
static double tv_s(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec / 1e6; }

static void print_results(const bench *b, double wall_s, double cpu_s, long maxrss_kb, int json) {
    double rps = wall_s > 0 ? (double)b->finished / wall_s : 0;
    double sps = wall_s > 0 ? (double)b->steps / wall_s : 0;
    double cps = b->steps ? cpu_s / (double)b->steps : 0;
    double p50 = (double)hist_quantile(&b->lat, 0.50) / 1000, p90 = (double)hist_quantile(&b->lat, 0.90) / 1000;
    double p99 = (double)hist_quantile(&b->lat, 0.99) / 1000, mx = (double)b->lat.max / 1000;
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "workflow", b->wf->name);
        cJSON_AddNumberToObject(o, "runs", (double)b->finished);
        cJSON_AddNumberToObject(o, "succeeded", (double)b->succeeded);
        cJSON_AddNumberToObject(o, "failed", (double)(b->finished - b->succeeded));
        cJSON_AddNumberToObject(o, "not_started", (double)(b->n - b->started));
        cJSON_AddNumberToObject(o, "concurrency", (double)b->c);
        cJSON_AddNumberToObject(o, "steps", (double)b->steps);
        cJSON_AddNumberToObject(o, "calls", (double)b->calls);
        cJSON_AddNumberToObject(o, "wall_s", wall_s);
        cJSON_AddNumberToObject(o, "runs_per_s", rps);
        cJSON_AddNumberToObject(o, "steps_per_s", sps);
        cJSON *l = cJSON_AddObjectToObject(o, "latency_ms");
        cJSON_AddNumberToObject(l, "p50", p50);
        cJSON_AddNumberToObject(l, "p90", p90);
        cJSON_AddNumberToObject(l, "p99", p99);
        cJSON_AddNumberToObject(l, "max", mx);
        cJSON *e = cJSON_AddObjectToObject(o, "errors");
        for (size_t i = 0; i < b->n_errs; i++) cJSON_AddNumberToObject(e, b->errs[i].name, (double)b->errs[i].count);
        cJSON_AddNumberToObject(o, "cpu_s", cpu_s);
        cJSON_AddNumberToObject(o, "cpu_s_per_step", cps);
        cJSON_AddNumberToObject(o, "peak_rss_kb", (double)maxrss_kb);
        char *txt = mae__json_text(o);
        if (txt) printf("%s\n", txt);
        free(txt);
        cJSON_Delete(o);
        return;
    }
    printf("workflow     %s\n", b->wf->name);
    printf("runs         %llu (%llu succeeded, %llu failed", (unsigned long long)b->finished,
           (unsigned long long)b->succeeded, (unsigned long long)(b->finished - b->succeeded));
    if (b->started < b->n) printf(", %llu not started", (unsigned long long)(b->n - b->started));
    printf("), concurrency %llu\n", (unsigned long long)b->c);
    printf("wall         %.3f s\n", wall_s);
    printf("throughput   %.1f runs/s, %.1f steps/s (%llu steps, %llu calls)\n", rps, sps,
           (unsigned long long)b->steps, (unsigned long long)b->calls);
    printf("latency ms   p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n", p50, p90, p99, mx);
    printf("errors      ");
    if (!b->n_errs) printf(" none");
    for (size_t i = 0; i < b->n_errs; i++) printf(" %s=%llu", b->errs[i].name, (unsigned long long)b->errs[i].count);
    printf("\n");
    printf("cpu          %.3f s (%.2f us per step)\n", cpu_s, cps * 1e6);
    printf("peak rss     %ld KB\n", maxrss_kb);
}

int mae_cmd_bench(int argc, char **argv) {
    const char *wf_path = NULL, *input_arg = NULL, *timeout_s = NULL;
    const char *sets[BENCH_MAX_SETS];
    int n_sets = 0, json = 0;
    uint64_t n = 100, c = 10;
    mae_engine_opts eo;
    mae_engine_opts_init(&eo);
    eo.log_level = MAE_LOG_OFF;
    mae_cli_args args;
    mae_cli_args_init(&args, &bench_spec, argc, argv);
    const char *v;
    for (int id; (id = mae_cli_next(&args, &v)) != MAE_CLI_END;) {
        switch (id) {
        case MAE_CLI_HELP: return 0;
        case MAE_CLI_BAD: return 2;
        case MAE_CLI_ARG:
            if (wf_path) return mae_cli_usage(&bench_spec, "more than one workflow given ('%s')", v);
            wf_path = v;
            break;
        case O_JSON: json = 1; break;
        case O_INPUT: input_arg = v; break;
        case O_RUNS:
            if (parse_count(v, &n) != 0) return mae_cli_usage(&bench_spec, "-n: expected a count of runs >= 1, got '%s'", v);
            break;
        case O_CONC:
            if (parse_count(v, &c) != 0) return mae_cli_usage(&bench_spec, "-c: expected a concurrency >= 1, got '%s'", v);
            break;
        case O_TIMEOUT: timeout_s = v; break;
        case O_JOURNAL: eo.journal_dir = v; break;   /* off unless asked (docs/journal.md) */
        case O_SET:
            if (n_sets == BENCH_MAX_SETS) return mae_cli_usage(&bench_spec, "too many --set options");
            sets[n_sets++] = v;
            break;
        case O_LOG_LEVEL:
            if (!strcmp(v, "error")) eo.log_level = MAE_LOG_ERROR;
            else if (!strcmp(v, "warn")) eo.log_level = MAE_LOG_WARN;
            else if (!strcmp(v, "info")) eo.log_level = MAE_LOG_INFO;
            else if (!strcmp(v, "debug")) eo.log_level = MAE_LOG_DEBUG;
            else return mae_cli_usage(&bench_spec, "--log-level: expected error|warn|info|debug, got '%s'", v);
            break;
        }
    }
    if (!wf_path) return mae_cli_usage(&bench_spec, "no workflow file given");
    bench *b = calloc(1, sizeof *b);
    if (!b) return 1;
    b->n = n;
    b->c = c;
    /* nobody reads the reports: their cost would be counted as the engine's (docs/cli.md) */
    b->ro.no_report = 1;
    if (timeout_s && (mae__parse_duration_ms(timeout_s, &b->ro.timeout_ms) != 0 || b->ro.timeout_ms == 0)) {
        free(b);
        return mae_cli_usage(&bench_spec, "--timeout: not a duration: '%s'", timeout_s);
    }

    mae_workflow *wf = NULL;
    int exit_code = 2;
    char *checked = NULL;
    mae_diags ld;
    mae__diags_init(&ld, wf_path);
    int lrc = mae__workflow_load_file(wf_path, &wf, &ld);
    if (lrc != 0) {
        if (ld.n == 0 && ld.dropped == 0) mae__diag_add(&ld, (mae_pos){0, 0}, "%s", mae_strerror(lrc));
        mae_cli_print_diags(&ld, wf_path);
        fprintf(stderr, "maestro bench: %s: workflow not loaded, nothing was called\n", wf_path);
    }
    mae__diags_free(&ld);
    if (lrc != 0) goto out;
    for (int i = 0; i < n_sets; i++)
        if (mae_cli_apply_set("bench", wf, sets[i]) != 0) {
            goto out;
        }
    char *text = mae_cli_read_input("bench", input_arg);
    cJSON *input = NULL;
    char perr[96] = "";
    if (!text) snprintf(perr, sizeof perr, "the input could not be read");
    if (text && mae__json_parse_doc(text, &input, perr, sizeof perr) != 0)
        fprintf(stderr, "maestro bench: --input: %s; nothing was called\n", perr);
    free(text);
    if (!input || !cJSON_IsObject(input)) {
        if (input || !perr[0])
            fprintf(stderr, "maestro bench: the input is not a JSON object; nothing was called\n");
        cJSON_Delete(input);
        goto out;
    }
    mae_diags d;
    mae__diags_init(&d, "input");
    int bad = mae__input_check(wf, input, &d) != 0;
    for (size_t i = 0; bad && i < d.n; i++) fprintf(stderr, "maestro bench: invalid input: %s\n", d.items[i].message);
    mae__diags_free(&d);
    checked = bad ? NULL : mae__json_text(input);
    cJSON_Delete(input);
    if (bad) goto out;
    exit_code = 1;
    if (!checked) goto out;

    signal(SIGPIPE, SIG_IGN);
    if (uv_loop_init(&b->loop) != 0) {
        fprintf(stderr, "maestro bench: cannot create the event loop\n");
        goto out;
    }
    b->wf = wf;
    b->input = checked;
    int rc = mae_cli_transports_open(&b->loop, &b->tr);
    if (rc == 0) {
        eo.http = b->tr.http;
        eo.grpc = b->tr.grpc;
        rc = mae_engine_new(&b->loop, &eo, &b->eng);
        if (rc != 0) fprintf(stderr, "maestro bench: cannot create the engine: %s\n", mae_strerror(rc));
    }
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    b->t0 = uv_hrtime();
    if (rc == 0) {
        if (isatty(2)) {
            uv_timer_init(&b->loop, &b->progress);
            b->progress.data = b;
            uv_timer_start(&b->progress, on_progress, 500, 500);
            b->progress_on = 1;
        }
        start_more(b);   /* shuts everything down itself once the last run is over */
    } else if (b->tr.http || b->tr.grpc) {
        shutdown_all(b);
    }
    uv_run(&b->loop, UV_RUN_DEFAULT);
    double wall_s = (double)((b->t_end ? b->t_end : uv_hrtime()) - b->t0) / 1e9;
    getrusage(RUSAGE_SELF, &ru1);
    if (uv_loop_close(&b->loop) != 0) fprintf(stderr, "maestro bench: internal: handles left open at exit\n");
    if (isatty(2) && rc == 0) fprintf(stderr, "\r%*s\r", 70, "");
    if (rc == 0) {
        double cpu_s = tv_s(ru1.ru_utime) - tv_s(ru0.ru_utime) + tv_s(ru1.ru_stime) - tv_s(ru0.ru_stime);
        print_results(b, wall_s, cpu_s, ru1.ru_maxrss, json);
        fflush(stdout);
        exit_code = b->succeeded == b->n ? 0 : 1;
    }
out:
    free(checked);
    mae_workflow_free(wf);
    free(b);
    return exit_code;
}
