/* Logs text or JSON lines, with run id, step, attempt, duration and class, to a stream (stderr
 * by default) and/or the embedder's on_log callback. Levels error|warn|info|debug; below the
 * engine's level nothing is built. Messages carry bytes from services (grpc-message, error
 * bodies): text lines show control characters and invalid UTF-8 escaped, JSON lines hold
 * valid UTF-8 only, so neither can forge a line or drive the terminal. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loop/engine_int.h"
#include "loop/text.h"
#include "workflow/json_out.h"

static const char *lvl_name(mae_log_level l) {
    switch (l) {
    case MAE_LOG_ERROR: return "error";
    case MAE_LOG_WARN: return "warn";
    case MAE_LOG_INFO: return "info";
    case MAE_LOG_DEBUG: return "debug";
    default: return "off";
    }
}

/* The line goes to the stream (stderr when none is set and there is no callback) and to on_log. */
static void out(mae_engine *e, mae_log_level lvl, const char *line) {
    FILE *f = e->opts.log_stream ? e->opts.log_stream : e->opts.on_log ? NULL : stderr;
    if (f) {
        fprintf(f, "%s\n", line);
        fflush(f);
    }
    if (e->opts.on_log) e->opts.on_log(lvl, line, e->opts.log_ud);
}

static void emit(mae_engine *e, mae_log_level lvl, const mae_run *run, const char *step,
                 int attempt, int64_t dur_ms, const char *cls, const char *fmt, va_list ap) {
    char raw[1024];
    vsnprintf(raw, sizeof raw, fmt, ap);
    char *msg = e->opts.log_format == MAE_LOG_JSON ? mae__utf8_scrub(raw, strlen(raw))
                                                   : mae__text_escape(raw, strlen(raw), 0);
    if (!msg) return;
    char ts[32];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    if (e->opts.log_format == MAE_LOG_JSON) {
        cJSON *o = cJSON_CreateObject();
        if (!o) {
            free(msg);
            return;
        }
        char tsm[48];
        snprintf(tsm, sizeof tsm, "%s.%03ldZ", ts, now.tv_nsec / 1000000);
        cJSON_AddStringToObject(o, "ts", tsm);
        cJSON_AddStringToObject(o, "level", lvl_name(lvl));
        if (run) cJSON_AddStringToObject(o, "run_id", run->id);
        if (step) cJSON_AddStringToObject(o, "step", step);
        if (attempt > 0) cJSON_AddNumberToObject(o, "attempt", attempt);
        if (dur_ms >= 0) cJSON_AddNumberToObject(o, "duration_ms", (double)dur_ms);
        if (cls) cJSON_AddStringToObject(o, "class", cls);
        cJSON_AddStringToObject(o, "msg", msg);
        char *txt = mae__json_text(o);
        if (txt) out(e, lvl, txt);
        free(txt);
        cJSON_Delete(o);
    } else {
        char extra[256];
        int n = 0;
        extra[0] = 0;
        if (run) n += snprintf(extra + n, sizeof extra - (size_t)n, " run=%s", run->id);
        if (step && n < (int)sizeof extra) n += snprintf(extra + n, sizeof extra - (size_t)n, " step=%s", step);
        if (attempt > 0 && n < (int)sizeof extra) n += snprintf(extra + n, sizeof extra - (size_t)n, " attempt=%d", attempt);
        if (dur_ms >= 0 && n < (int)sizeof extra) n += snprintf(extra + n, sizeof extra - (size_t)n, " duration_ms=%lld", (long long)dur_ms);
        if (cls && n < (int)sizeof extra) snprintf(extra + n, sizeof extra - (size_t)n, " class=%s", cls);
        char *line = NULL;
        /* "LEVEL fields: msg"; a line with no fields (engine-wide) is "LEVEL msg" */
        if (asprintf(&line, "%s.%03ldZ %-5s%s%s %s", ts, now.tv_nsec / 1000000, lvl_name(lvl), extra,
                     extra[0] ? ":" : "", msg) >= 0)
            out(e, lvl, line);
        free(line);
    }
    free(msg);
}

void mae__log(mae_run *run, mae_log_level lvl, const char *step, int attempt, int64_t dur_ms,
              const char *cls, const char *fmt, ...) {
    mae_engine *e = run->eng;
    if (lvl > e->opts.log_level || e->opts.log_level == MAE_LOG_OFF) return;
    va_list ap;
    va_start(ap, fmt);
    emit(e, lvl, run, step, attempt, dur_ms, cls, fmt, ap);
    va_end(ap);
}

void mae__elog(mae_engine *e, mae_log_level lvl, const char *fmt, ...) {
    if (lvl > e->opts.log_level || e->opts.log_level == MAE_LOG_OFF) return;
    va_list ap;
    va_start(ap, fmt);
    emit(e, lvl, NULL, NULL, 0, -1, NULL, fmt, ap);
    va_end(ap);
}
