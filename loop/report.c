/* The run report (docs/run-report.md), JSON, and the failure summary a person reads on stderr. Step
 * and compensation entries are appended as they happen; the rest is assembled at the end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loop/engine_int.h"
#include "loop/text.h"

/* One more item of step id with this status, not listed. Distinct ids are bounded by the
 * workflow, so the lookups stay cheap. */
static void count_unlisted(cJSON **tally, const char *id, const char *status) {
    if (!*tally && !(*tally = cJSON_CreateObject())) return;
    cJSON *per = cJSON_GetObjectItemCaseSensitive(*tally, id);
    if (!per && !(per = cJSON_AddObjectToObject(*tally, id))) return;
    cJSON *n = cJSON_GetObjectItemCaseSensitive(per, status);
    if (n) cJSON_SetNumberValue(n, n->valuedouble + 1);
    else cJSON_AddNumberToObject(per, status, 1);
}

cJSON *mae__report_step(mae_run *run, const char *id, int index, const char *status, int attempts,
                        int64_t dur_ms, mae_class cls, int status_code, const char *msg) {
    if (!id) return NULL;
    if (strcmp(status, "skipped") != 0) run->n_steps_run++;
    if (attempts > 0) run->n_attempts += (uint64_t)attempts;
    if (!run->rep_steps) return NULL;
    if (index >= MAE_REPORT_ITEMS) {
        count_unlisted(&run->rep_unlisted, id, status);
        return NULL;
    }
    cJSON *s = cJSON_CreateObject();
    if (!s) return NULL;
    cJSON_AddStringToObject(s, "id", id);
    if (index >= 0) cJSON_AddNumberToObject(s, "index", index);
    cJSON_AddStringToObject(s, "status", status);
    cJSON_AddNumberToObject(s, "attempts", attempts);
    cJSON_AddNumberToObject(s, "duration_ms", (double)(dur_ms < 0 ? 0 : dur_ms));
    if (cls != MAE_CLASS_NONE) cJSON_AddItemToObject(s, "error", mae__error_json(cls, status_code, msg));
    else cJSON_AddNullToObject(s, "error");
    cJSON_AddItemToArray(run->rep_steps, s);
    return s;
}

cJSON *mae__report_comp(mae_run *run, const char *step, int index, const char *status,
                        int attempts, mae_class cls, int status_code, const char *msg) {
    if (!run->rep_comps) return NULL;
    /* a failed one is always listed: "uncompensated" must name every one */
    if (index >= MAE_REPORT_ITEMS && strcmp(status, "succeeded") == 0) {
        count_unlisted(&run->rep_comps_unlisted, step, status);
        return NULL;
    }
    cJSON *s = cJSON_CreateObject();
    if (!s) return NULL;
    cJSON_AddStringToObject(s, "step", step);
    if (index >= 0) cJSON_AddNumberToObject(s, "index", index);
    cJSON_AddStringToObject(s, "status", status);
    cJSON_AddNumberToObject(s, "attempts", attempts);
    if (strcmp(status, "succeeded") != 0) cJSON_AddItemToObject(s, "error", mae__error_json(cls, status_code, msg));
    else cJSON_AddNullToObject(s, "error");
    cJSON_AddItemToArray(run->rep_comps, s);
    return s;
}

/* The summary is for a person: past this many bytes the "NOT compensated" list stops and says
 * how many entries it left out (the report has them all). A whole entry is added or none, so
 * nothing is cut inside a character. */
#define SUMMARY_MAX (64u * 1024)
/* Each message from a service is shown escaped, at most this long. */
#define SUMMARY_MSG_MAX 512u

/* A growing summary string. */
typedef struct {
    char *buf;
    size_t len, cap;
} sbuf;

static void sb_add(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(sbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 512) + (size_t)n;
        char *nb = realloc(b->buf, cap);
        if (!nb) return;
        b->buf = nb;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->buf + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Text from a service (a grpc-message, an error body), escaped for a terminal. Never NULL. */
static char *esc(const char *s, size_t max) {
    char *e = mae__text_escape(s ? s : "", s ? strlen(s) : 0, max);
    return e ? e : strdup("");
}

static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* Appends " id" for each distinct key value among entries whose status is (or, with
 * negate, is not) status, in order of first appearance, with "(xN)" when a foreach repeats it.
 * Distinct ids are bounded by the workflow's size, so the scan is cheap. */
static void sb_ids(sbuf *b, const cJSON *arr, const char *key, const char *status, bool negate) {
    const cJSON *c, *d;
    cJSON_ArrayForEach(c, arr) {
        if ((strcmp(jstr(c, "status"), status) == 0) == negate) continue;
        const char *id = jstr(c, key);
        bool seen = false;
        int n = 0;
        cJSON_ArrayForEach(d, arr) {
            if ((strcmp(jstr(d, "status"), status) == 0) == negate || strcmp(jstr(d, key), id) != 0) continue;
            if (d == c) break;
            seen = true;
            break;
        }
        if (seen) continue;
        for (d = c; d; d = d->next)
            if ((strcmp(jstr(d, "status"), status) == 0) != negate && strcmp(jstr(d, key), id) == 0) n++;
        if (n > 1) sb_add(b, " %s (x%d)", id, n);
        else sb_add(b, " %s", id);
    }
}

static void build_summary(mae_run *run, const cJSON *comps) {
    sbuf b = {0};
    const char *what = run->interrupted || run->status == MAE_RUN_INTERRUPTED ? "was interrupted" : "failed";
    sb_add(&b, "workflow %s (run %s) %s", run->wf->name ? run->wf->name : "?", run->id, what);
    char cls[96];
    mae__class_describe(run->fail_cls, run->fail_status, cls, sizeof cls);
    char *msg = esc(run->fail_msg ? run->fail_msg : run->fail_step ? "" : run->fail_class, 4 * SUMMARY_MSG_MAX);
    /* nothing was sent (a template failed, the breaker was open): no attempt to count */
    if (run->fail_step && run->fail_attempts == 0)
        sb_add(&b, ": step '%s' failed before sending: %s: %s\n", run->fail_step, cls, msg);
    else if (run->fail_step)
        sb_add(&b, ": step '%s' failed after %d attempt%s: %s: %s\n", run->fail_step, run->fail_attempts,
               run->fail_attempts == 1 ? "" : "s", cls, msg);
    else
        sb_add(&b, ": %s\n", msg);
    free(msg);
    int ok = 0, bad = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, comps) {
        if (strcmp(jstr(c, "status"), "succeeded") == 0) ok++;
        else bad++;
    }
    /* succeeded compensations of foreach items the report only counts */
    double more = 0;
    const cJSON *per, *k;
    const cJSON *unlisted = run->report ? cJSON_GetObjectItemCaseSensitive(run->report, "compensations_not_listed") : NULL;
    cJSON_ArrayForEach(per, unlisted)
        cJSON_ArrayForEach(k, per) more += k->valuedouble;
    if (more) ok++;
    if (ok) {
        sb_add(&b, "compensated:");
        sb_ids(&b, comps, "step", "succeeded", false);
        if (more) sb_add(&b, " and %.0f more foreach item%s (counted in the report)", more, more == 1 ? "" : "s");
        sb_add(&b, "\n");
    } else if (!bad) {
        sb_add(&b, "nothing needed compensating\n");
    }
    if (bad) {
        sb_add(&b, "NOT compensated, manual clean-up needed:\n");
        int omitted = 0;
        cJSON_ArrayForEach(c, comps) {
            if (strcmp(jstr(c, "status"), "succeeded") == 0) continue;
            if (b.len >= SUMMARY_MAX) {
                omitted++;
                continue;
            }
            const cJSON *e = cJSON_GetObjectItemCaseSensitive(c, "error");
            /* valuedouble, not valueint: cJSON saturates valueint at INT_MAX */
            const cJSON *at = cJSON_GetObjectItemCaseSensitive(c, "attempts");
            double attempts = cJSON_IsNumber(at) ? at->valuedouble : 0;
            char *m = esc(jstr(e, "message"), SUMMARY_MSG_MAX);
            const cJSON *ix = cJSON_GetObjectItemCaseSensitive(c, "index");
            char idx[32] = "";
            if (cJSON_IsNumber(ix)) snprintf(idx, sizeof idx, "[%.0f]", ix->valuedouble);
            if (attempts == 0)
                sb_add(&b, "  %s%s: %s: %s (before sending)\n", jstr(c, "step"), idx, jstr(e, "class"), m);
            else
                sb_add(&b, "  %s%s: %s: %s (after %.0f attempt%s)\n", jstr(c, "step"), idx, jstr(e, "class"), m,
                       attempts, attempts == 1 ? "" : "s");
            free(m);
        }
        if (omitted)
            sb_add(&b, "  ... and %d more not shown here: the report's \"uncompensated\" lists every one\n", omitted);
    }
    int unknown = 0;
    const cJSON *steps = run->report ? cJSON_GetObjectItemCaseSensitive(run->report, "steps") : NULL;
    cJSON_ArrayForEach(c, steps)
        if (strcmp(jstr(c, "status"), "outcome_unknown") == 0) unknown++;
    if (unknown) {
        sb_add(&b, "outcome unknown (cancelled after being sent):");
        sb_ids(&b, steps, "id", "outcome_unknown", false);
        sb_add(&b, "\n");
    }
    run->summary = b.buf;
}

void mae__report_build(mae_run *run) {
    cJSON *r = cJSON_CreateObject();
    if (!r) return;
    cJSON_AddStringToObject(r, "run_id", run->id);
    cJSON_AddStringToObject(r, "workflow", run->wf->name ? run->wf->name : "");
    cJSON_AddStringToObject(r, "status", mae_run_status_name(run->status));
    if (run->failed) {
        cJSON *e = cJSON_CreateObject();
        if (run->fail_step) cJSON_AddStringToObject(e, "step", run->fail_step);
        else cJSON_AddNullToObject(e, "step");
        cJSON_AddStringToObject(e, "class", run->fail_class);
        cJSON_AddStringToObject(e, "message", run->fail_msg ? run->fail_msg : "");
        if (run->fail_status) cJSON_AddNumberToObject(e, "status", run->fail_status);
        else cJSON_AddNullToObject(e, "status");
        cJSON_AddNumberToObject(e, "attempts", run->fail_attempts);
        cJSON_AddItemToObject(r, "error", e);
    } else {
        cJSON_AddNullToObject(r, "error");
    }
    char ts[64];
    time_t secs = (time_t)(run->started_wall_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - n, ".%03uZ", (unsigned)(run->started_wall_ms % 1000));
    cJSON_AddStringToObject(r, "started_at", ts);
    cJSON_AddNumberToObject(r, "duration_ms", (double)(uv_now(run->eng->loop) - run->started_ms));
    cJSON_AddItemToObject(r, "output", run->output && !run->failed ? cJSON_Duplicate(run->output, 1) : cJSON_CreateNull());
    cJSON_AddItemToObject(r, "steps", run->rep_steps ? run->rep_steps : cJSON_CreateArray());
    run->rep_steps = NULL;
    if (run->rep_unlisted) {
        cJSON_AddItemToObject(r, "items_not_listed", run->rep_unlisted);
        run->rep_unlisted = NULL;
    }
    cJSON *comps = run->rep_comps ? run->rep_comps : cJSON_CreateArray();
    run->rep_comps = NULL;
    cJSON_AddItemToObject(r, "compensations", comps);
    if (run->rep_comps_unlisted) {
        cJSON_AddItemToObject(r, "compensations_not_listed", run->rep_comps_unlisted);
        run->rep_comps_unlisted = NULL;
    }
    cJSON *unc = cJSON_CreateArray();
    const cJSON *c;
    cJSON_ArrayForEach(c, comps)
        if (strcmp(jstr(c, "status"), "succeeded") != 0) cJSON_AddItemToArray(unc, cJSON_CreateString(jstr(c, "step")));
    cJSON_AddItemToObject(r, "uncompensated", unc);
    run->report = r;
    if (run->failed) build_summary(run, comps);
}

/* The report and summary of a run the process abandons (a second signal): every compensation
 * not finished yet is listed as failed, so "uncompensated" and the summary say what still needs
 * undoing. The run must not go on afterwards (its report entries are moved into the report). */
void mae__report_abandon(mae_run *run, const cJSON **report, const char **summary) {
    if (!run->report) {
        size_t done = run->rep_comps ? (size_t)cJSON_GetArraySize(run->rep_comps) : 0;
        /* newest completion is undone first: the oldest n_comps - done records remain */
        size_t pending = run->n_comps > done ? run->n_comps - done : 0;
        for (size_t i = pending; i-- > 0;) {
            const mae_comprec *rec = &run->comps[i];
            bool in_flight = false;
            for (const mae_callnode *c = run->active; c; c = c->a_next)
                if (c->is_comp && c->comp == rec) in_flight = true;
            mae__report_comp(run, rec->step->id, rec->index, "failed", in_flight ? 1 : 0, MAE_CLASS_CANCELLED, 0,
                             in_flight ? "abandoned while in progress (second signal): it may or may not have been undone"
                                       : "not attempted: the process exited on a second signal");
        }
        run->status = MAE_RUN_INTERRUPTED;
        run->failed = true;
        if (!run->fail_class[0]) {
            snprintf(run->fail_class, sizeof run->fail_class, "cancelled");
            run->fail_cls = MAE_CLASS_CANCELLED;
        }
        if (!run->fail_msg) run->fail_msg = strdup("interrupted");
        mae__report_build(run);
    }
    *report = run->report;
    *summary = run->summary;
}
