/* Metrics of `maestro serve` (see serve_metrics.h). One list of series, each a family name plus
 * its rendered label set; a linear search is enough: the number of series is fixed by the
 * workflows, a few hundred at most, and is never driven by a request. */
#include "serve/serve_metrics.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loop/engine_int.h"

/* Latency buckets in seconds, shared by the run and step histograms. */
static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};
#define N_BUCKETS (sizeof buckets / sizeof buckets[0])

typedef enum { FAM_RUNS_STARTED, FAM_RUNS_ENDED, FAM_REJECTED, FAM_ATTEMPTS, FAM_RETRIES, FAM_RUN_SECONDS,
               FAM_STEP_SECONDS, N_FAMS } family;

static const struct {
    const char *name, *type, *help;
} fams[N_FAMS] = {
    {"maestro_runs_started_total", "counter", "Runs started, by workflow."},
    {"maestro_runs_ended_total", "counter", "Runs ended, by workflow and status."},
    {"maestro_requests_rejected_total", "counter", "Run requests refused, by workflow and reason."},
    {"maestro_attempts_total", "counter", "Call attempts (compensations included), by service and result class."},
    {"maestro_retries_total", "counter", "Attempts followed by another attempt, by service and result class."},
    {"maestro_run_duration_seconds", "histogram", "Run duration, compensation included, by workflow."},
    {"maestro_step_duration_seconds", "histogram", "Step duration, retries included, by workflow and step."},
};

typedef struct series {
    family fam;
    char *labels;                 /* rendered, with the closing brace: workflow="a",status="failed"} */
    unsigned long long count;     /* counters: the value; histograms: observations */
    double sum;
    unsigned long long b[N_BUCKETS];
    struct series *next;
} series;

struct mae_metrics {
    series *head, *tail;
};

mae_metrics *mae__metrics_new(void) { return calloc(1, sizeof(mae_metrics)); }

void mae__metrics_free(mae_metrics *m) {
    if (!m) return;
    for (series *s = m->head, *n; s; s = n) {
        n = s->next;
        free(s->labels);
        free(s);
    }
    free(m);
}

/* ---- a growable text buffer; on allocation failure it stays failed ---- */
typedef struct buf {
    char *p;
    size_t len, cap;
    bool failed;
} buf;

static void put(buf *b, const char *s, size_t n) {
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void putf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(buf *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* name="value" with the exposition format's escapes (\\, \", \n). */
static void put_label(buf *b, const char *name, const char *v) {
    if (b->len && b->p[b->len - 1] != '{') put(b, ",", 1);
    put(b, name, strlen(name));
    put(b, "=\"", 2);
    for (const char *c = v ? v : ""; *c; c++) {
        if (*c == '\\') put(b, "\\\\", 2);
        else if (*c == '"') put(b, "\\\"", 2);
        else if (*c == '\n') put(b, "\\n", 2);
        else put(b, c, 1);
    }
    put(b, "\"", 1);
}

/* The series of fam with these labels (pairs of name, value; NULL-terminated), created on first
 * use; NULL when out of memory (the observation is then lost, nothing else). */
static series *find(mae_metrics *m, family fam, ...) {
    buf b = {0};
    put(&b, "{", 1);
    va_list ap;
    va_start(ap, fam);
    for (const char *n; (n = va_arg(ap, const char *));) put_label(&b, n, va_arg(ap, const char *));
    va_end(ap);
    put(&b, "}", 1);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    const char *labels = b.p + 1;   /* kept with its closing brace: a="x",b="y"} */
    for (series *s = m->head; s; s = s->next) {
        if (s->fam == fam && strcmp(s->labels, labels) == 0) {
            free(b.p);
            return s;
        }
    }
    series *s = calloc(1, sizeof *s);
    char *l = strdup(labels);
    free(b.p);
    if (!s || !l) {
        free(s);
        free(l);
        return NULL;
    }
    s->fam = fam;
    s->labels = l;
    if (m->tail) m->tail->next = s;
    else m->head = s;
    m->tail = s;
    return s;
}

static void observe(series *s, int64_t ms) {
    if (!s) return;
    double v = ms < 0 ? 0 : (double)ms / 1000.0;
    s->count++;
    s->sum += v;
    for (size_t i = 0; i < N_BUCKETS; i++)
        if (v <= buckets[i]) s->b[i]++;
}

static void inc(series *s) {
    if (s) s->count++;
}

void mae__metrics_event(mae_metrics *m, const mae_event *ev) {
    if (!m) return;
    switch (ev->kind) {
    case MAE_EV_RUN_START:
        inc(find(m, FAM_RUNS_STARTED, "workflow", ev->workflow, NULL));
        break;
    case MAE_EV_RUN_END:
        inc(find(m, FAM_RUNS_ENDED, "workflow", ev->workflow, "status", ev->outcome, NULL));
        observe(find(m, FAM_RUN_SECONDS, "workflow", ev->workflow, NULL), ev->duration_ms);
        break;
    case MAE_EV_STEP_END:
        if (ev->outcome && strcmp(ev->outcome, "skipped") != 0)
            observe(find(m, FAM_STEP_SECONDS, "workflow", ev->workflow, "step", ev->step_id, NULL), ev->duration_ms);
        break;
    case MAE_EV_ATTEMPT_RESULT:
        inc(find(m, FAM_ATTEMPTS, "service", ev->service, "class", ev->class_name, NULL));
        if (ev->delay_ms >= 0) inc(find(m, FAM_RETRIES, "service", ev->service, "class", ev->class_name, NULL));
        break;
    default:
        break;
    }
}

void mae__metrics_rejected(mae_metrics *m, const char *workflow, const char *reason) {
    if (m) inc(find(m, FAM_REJECTED, "workflow", workflow, "reason", reason, NULL));
}

static void put_family_head(buf *b, family f) {
    putf(b, "# HELP %s %s\n# TYPE %s %s\n", fams[f].name, fams[f].help, fams[f].name, fams[f].type);
}

/* A histogram's lines: name_bucket{labels,le=".."}, _sum, _count. */
static void put_histogram(buf *b, const series *s) {
    const char *name = fams[s->fam].name;
    const char *sep = s->labels[0] == '}' ? "" : ",";
    for (size_t i = 0; i < N_BUCKETS; i++)
        putf(b, "%s_bucket{%.*s%sle=\"%g\"} %llu\n", name, (int)strlen(s->labels) - 1, s->labels, sep, buckets[i], s->b[i]);
    putf(b, "%s_bucket{%.*s%sle=\"+Inf\"} %llu\n", name, (int)strlen(s->labels) - 1, s->labels, sep, s->count);
    putf(b, "%s_sum{%s %.6f\n", name, s->labels, s->sum);
    putf(b, "%s_count{%s %llu\n", name, s->labels, s->count);
}

static void put_gauge_head(buf *b, const char *name, const char *help) {
    putf(b, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

char *mae__metrics_text(const mae_metrics *m, mae_engine *e, int runs_running, size_t conns_open, size_t *len) {
    buf b = {0};
    for (family f = 0; f < N_FAMS; f++) {
        put_family_head(&b, f);
        for (const series *s = m->head; s; s = s->next) {
            if (s->fam != f) continue;
            if (fams[f].type[0] == 'h') put_histogram(&b, s);
            else putf(&b, "%s{%s %llu\n", fams[f].name, s->labels, s->count);
        }
    }
    put_gauge_head(&b, "maestro_runs_running", "Runs going now.");
    putf(&b, "maestro_runs_running %d\n", runs_running);
    put_gauge_head(&b, "maestro_http_connections_open", "Client connections open now.");
    putf(&b, "maestro_http_connections_open %zu\n", conns_open);
    /* per-service state read from the engine now: one line per service identity */
    static const char *const state_names[] = {"closed", "open", "half_open"};
    put_gauge_head(&b, "maestro_breaker_state", "1 for the circuit breaker's current state, by service.");
    for (mae_svc_state *s = e ? e->svcs : NULL; s; s = s->next) {
        for (int k = 0; k < 3; k++) {
            buf l = {0};
            put(&l, "{", 1);
            put_label(&l, "service", s->cfg.name);
            put_label(&l, "state", state_names[k]);
            if (!l.failed) putf(&b, "maestro_breaker_state%s} %d\n", l.p, (int)s->brk.state == k);
            free(l.p);
        }
    }
    put_gauge_head(&b, "maestro_calls_in_flight", "Calls sent and not yet answered, by service.");
    put_gauge_head(&b, "maestro_calls_queued", "Calls waiting for a max_in_flight slot, by service.");
    for (mae_svc_state *s = e ? e->svcs : NULL; s; s = s->next) {
        int queued = 0;
        for (mae_callnode *c = s->q_head; c; c = c->q_next) queued++;
        buf l = {0};
        put(&l, "{", 1);
        put_label(&l, "service", s->cfg.name);
        if (!l.failed) {
            putf(&b, "maestro_calls_in_flight%s} %d\n", l.p, s->in_flight);
            putf(&b, "maestro_calls_queued%s} %d\n", l.p, queued);
        }
        free(l.p);
    }
    /* the journal's group commits, every run's writer together (all zero without a journal) */
    putf(&b, "# HELP maestro_journal_fsync_seconds fdatasync latency of the journal's group commits.\n"
             "# TYPE maestro_journal_fsync_seconds histogram\n");
    const mae_jw_stats *j = e ? &e->jstats : NULL;
    for (int i = 0; i < MAE_JW_STAT_BUCKETS; i++)
        putf(&b, "maestro_journal_fsync_seconds_bucket{le=\"%g\"} %llu\n", mae__jw_stat_bounds[i],
             j ? (unsigned long long)j->b[i] : 0ULL);
    putf(&b, "maestro_journal_fsync_seconds_bucket{le=\"+Inf\"} %llu\n", j ? (unsigned long long)j->count : 0ULL);
    putf(&b, "maestro_journal_fsync_seconds_sum %.6f\n", j ? (double)j->sum_ns / 1e9 : 0.0);
    putf(&b, "maestro_journal_fsync_seconds_count %llu\n", j ? (unsigned long long)j->count : 0ULL);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}
