/* Live progress on stderr from the engine's events (see progress.h). */
#include "cli/progress.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "workflow/model.h"
#include "workflow/utf8.h"

/* How many failed items of one foreach get a line of their own; the rest are only counted. */
#define SHOWN_ITEM_FAILURES 3
/* The redrawn status line is refreshed at most this often. */
#define REDRAW_MS 50

typedef struct stepinfo {
    const char *id;
    mae_step_kind kind;
    int fe;            /* innermost foreach this step is inside, -1 when none */
    int counted;       /* its ends count as the foreach's items (the body, or the calls in it) */
    int own;           /* a foreach: its own summary; else -1 */
    uint64_t t0;       /* group steps: when they started */
} stepinfo;

typedef struct fe_agg {
    const char *id;
    const mae_step *step;
    int total;         /* items, when the array is known from the input; else -1 */
    int started, done, failed, shown;
    int open;
    uint64_t t0;
} fe_agg;

struct mae_cli_progress {
    FILE *out;
    int color, live;
    stepinfo *steps;
    size_t n_steps, cap_steps;
    fe_agg *fes;
    size_t n_fes, cap_fes;
    cJSON *input;      /* the run's input (RUN_START), to count a foreach's items over it */
    int id_width;
    int status_shown;
    uint64_t last_draw;
    int oom;
};

enum { C_NONE, C_OK, C_FAIL, C_WARN, C_UNDO, C_DIM };
static const char *const colors[] = {"", "\033[32m", "\033[1;31m", "\033[33m", "\033[35m", "\033[2m"};

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int mae_cli_progress_decide(int force, int quiet, mae_cli_progress_opts *o) {
    int tty = isatty(2);
    const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");
    o->live = tty && !(term && strcmp(term, "dumb") == 0);
    o->color = o->live && !(nc && nc[0]);
    if (quiet) return 0;
    return force || tty;
}

static int add_step(mae_cli_progress *p, const mae_step *s, int fe, int counted, int own) {
    if (p->n_steps == p->cap_steps) {
        size_t cap = p->cap_steps ? p->cap_steps * 2 : 16;
        stepinfo *n = realloc(p->steps, cap * sizeof *n);
        if (!n) return -1;
        p->steps = n;
        p->cap_steps = cap;
    }
    p->steps[p->n_steps++] = (stepinfo){s->id, s->kind, fe, counted, own, 0};
    int w = (int)strlen(s->id);
    if (w > p->id_width) p->id_width = w > 24 ? 24 : w;
    return 0;
}

static int add_fe(mae_cli_progress *p, const char *id, const mae_step *step) {
    if (p->n_fes == p->cap_fes) {
        size_t cap = p->cap_fes ? p->cap_fes * 2 : 4;
        fe_agg *n = realloc(p->fes, cap * sizeof *n);
        if (!n) return -1;
        p->fes = n;
        p->cap_fes = cap;
    }
    memset(&p->fes[p->n_fes], 0, sizeof p->fes[0]);
    p->fes[p->n_fes].id = id;
    p->fes[p->n_fes].step = step;
    p->fes[p->n_fes].total = -1;
    return (int)p->n_fes++;
}

/* Records every step with an id: its kind and the foreach it is inside. in_body: the steps are
 * (inside) the body of foreach fe whose own id is missing, so their calls are what is counted. */
static int walk(mae_cli_progress *p, const mae_step *steps, size_t n, int fe, int in_body) {
    for (size_t i = 0; i < n; i++) {
        const mae_step *s = &steps[i];
        int counted = in_body && s->kind == MAE_STEP_CALL;
        int k = s->kind == MAE_STEP_FOREACH ? add_fe(p, s->id ? s->id : "foreach", s) : -1;
        if (s->kind == MAE_STEP_FOREACH && k < 0) return -1;
        if (s->id && add_step(p, s, fe, counted, k) != 0) return -1;
        if (s->kind == MAE_STEP_FOREACH) {
            const mae_step *body = s->body;
            if (!body) continue;
            if (body->id) {
                if (add_step(p, body, k, 1, -1) != 0) return -1;
                if (walk(p, body->children, body->n_children, k, 0) != 0) return -1;
            } else if (walk(p, body->children, body->n_children, k, 1) != 0) {
                return -1;
            }
        } else if (walk(p, s->children, s->n_children, fe, in_body) != 0) {
            return -1;
        }
    }
    return 0;
}

mae_cli_progress *mae_cli_progress_new(const mae_workflow *wf, FILE *out, const mae_cli_progress_opts *o) {
    mae_cli_progress *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->out = out;
    p->color = o->color;
    p->live = o->live;
    p->id_width = 8;
    if (walk(p, wf->steps, wf->n_steps, -1, 0) != 0) {
        mae_cli_progress_free(p);
        return NULL;
    }
    return p;
}

static void clear_status(mae_cli_progress *p) {
    if (!p->status_shown) return;
    fputs("\r\033[K", p->out);
    p->status_shown = 0;
}

void mae_cli_progress_clear(mae_cli_progress *p) {
    if (!p) return;
    clear_status(p);
    fflush(p->out);
}

void mae_cli_progress_free(mae_cli_progress *p) {
    if (!p) return;
    clear_status(p);
    fflush(p->out);
    free(p->steps);
    free(p->fes);
    cJSON_Delete(p->input);
    free(p);
}

static stepinfo *find(mae_cli_progress *p, const char *id) {
    for (size_t i = 0; id && i < p->n_steps; i++)
        if (strcmp(p->steps[i].id, id) == 0) return &p->steps[i];
    return NULL;
}

static void fmt_ms(char *b, size_t n, int64_t ms) {
    if (ms < 0) snprintf(b, n, "?");
    else if (ms < 1000) snprintf(b, n, "%lldms", (long long)ms);
    else if (ms < 60000) snprintf(b, n, "%.1fs", (double)ms / 1000);
    else snprintf(b, n, "%lldm%02llds", (long long)(ms / 60000), (long long)(ms / 1000 % 60));
}

/* A failure text from a service, safe on a terminal and on one line: control characters
 * (C0, DEL, C1) become spaces, bytes that are not valid UTF-8 '?'; cut after 160 bytes on a
 * character boundary, marked "...". */
static void one_line(char *b, size_t n, const char *s) {
    size_t j = 0, left = s ? strlen(s) : 0;
    const unsigned char *u = (const unsigned char *)s;
    while (left && j + 8 < n && j < 160) {
        size_t cl = mae__utf8_char_len(u, left);
        if (cl == 0) {
            b[j++] = '?';
            cl = 1;
        } else if (cl == 1) {
            b[j++] = u[0] < 0x20 || u[0] == 0x7f ? ' ' : (char)u[0];
        } else if (cl == 2 && u[0] == 0xC2 && u[1] < 0xA0) {
            b[j++] = ' ';   /* U+0080..U+009F */
        } else {
            memcpy(b + j, u, cl);
            j += cl;
        }
        u += cl;
        left -= cl;
    }
    if (left) {
        memcpy(b + j, "...", 3);
        j += 3;
    }
    b[j] = 0;
}

/* How many items a foreach over the run's input has (its array evaluated against the input
 * alone); -1 when it needs anything else (an earlier output, a foreach variable). */
static int count_items(const mae_cli_progress *p, const mae_step *s) {
    if (!p->input || !s || !s->foreach) return -1;
    cJSON *vars = cJSON_CreateObject();
    if (!vars) return -1;
    cJSON_AddItemReferenceToObject(vars, "input", p->input);
    mae_scope scope = {vars, NULL};
    cJSON *items = NULL;
    mae_eval_err err;
    int n = mae__tmpl_eval(s->foreach, &scope, &items, &err) == 0 && cJSON_IsArray(items) ? cJSON_GetArraySize(items) : -1;
    cJSON_Delete(items);
    cJSON_Delete(vars);
    return n;
}

/* The summary of one foreach. */
static void fe_text(char *b, size_t n, const fe_agg *a) {
    int running = a->started - a->done - a->failed;
    int k = a->total >= 0 ? snprintf(b, n, "%d/%d done", a->done, a->total) : snprintf(b, n, "%d done", a->done);
    if (a->failed && k > 0 && (size_t)k < n) k += snprintf(b + k, n - (size_t)k, ", %d failed", a->failed);
    if (running > 0 && k > 0 && (size_t)k < n) snprintf(b + k, n - (size_t)k, ", %d running", running);
}

static void draw_status(mae_cli_progress *p) {
    if (!p->live) return;
    char line[512];
    size_t k = 0;
    for (size_t i = 0; i < p->n_fes && k + 80 < sizeof line; i++) {
        if (!p->fes[i].open) continue;
        char t[96];
        fe_text(t, sizeof t, &p->fes[i]);
        k += (size_t)snprintf(line + k, sizeof line - k, "%s%s %s", k ? "; " : "", p->fes[i].id, t);
    }
    fputs("\r\033[K", p->out);
    p->status_shown = 0;
    if (k) {
        fprintf(p->out, "%s  ...    %s%s", p->color ? colors[C_DIM] : "", line, p->color ? "\033[0m" : "");
        p->status_shown = 1;
    }
    fflush(p->out);
    p->last_draw = now_ms();
}

/* One line: a tag (coloured), the step (with its foreach index), then the details. */
static void line(mae_cli_progress *p, int color, const char *tag, const mae_event *ev, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void line(mae_cli_progress *p, int color, const char *tag, const mae_event *ev, const char *fmt, ...) {
    clear_status(p);
    char step[96];
    if (ev->index >= 0) snprintf(step, sizeof step, "%s[%d]", ev->step_id, ev->index);
    else snprintf(step, sizeof step, "%s", ev->step_id ? ev->step_id : "");
    if (p->color) fprintf(p->out, "  %s%-6s\033[0m %-*s ", colors[color], tag, p->id_width, step);
    else fprintf(p->out, "  %-6s %-*s ", tag, p->id_width, step);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(p->out, fmt, ap);
    va_end(ap);
    fputc('\n', p->out);
    draw_status(p);
}

static const char *call_of(const mae_event *ev, char *b, size_t n) {
    if (!ev->service) return "";
    snprintf(b, n, "%s %s", ev->service, ev->method ? ev->method : "");
    return b;
}

static void failure_text(char *b, size_t n, const mae_event *ev) {
    char msg[200];
    one_line(msg, sizeof msg, ev->message);
    snprintf(b, n, "%s%s%s", ev->class_name ? ev->class_name : "error", msg[0] ? ": " : "", msg);
}

static void on_step(mae_cli_progress *p, const mae_event *ev, stepinfo *si) {
    char call[256], d[32], f[400];
    int grp = !ev->service;
    fe_agg *a = si && si->fe >= 0 && ev->index >= 0 ? &p->fes[si->fe] : NULL;
    if (ev->kind == MAE_EV_STEP_START) {
        if (a) {
            /* an item: counted on the summary line, not a line of its own */
            if (si->counted) a->started++;
            if (p->live && now_ms() - p->last_draw >= REDRAW_MS) draw_status(p);
            return;
        }
        if (si) si->t0 = now_ms();
        if (grp && si && si->own >= 0) {
            fe_agg *own = &p->fes[si->own];
            own->open = 1;
            own->started = own->done = own->failed = own->shown = 0;
            own->total = count_items(p, own->step);
            line(p, C_DIM, "start", ev, "foreach");
            return;
        }
        line(p, C_DIM, "start", ev, "%s", grp ? (si && si->kind == MAE_STEP_PARALLEL ? "parallel" : "sequence")
                                               : call_of(ev, call, sizeof call));
        return;
    }
    /* STEP_END */
    const char *o = ev->outcome ? ev->outcome : "?";
    int ok = strcmp(o, "succeeded") == 0, skipped = strcmp(o, "skipped") == 0;
    if (a) {
        if (si->counted) {
            if (ok || skipped) a->done++;
            else a->failed++;
        }
        if (!ok && !skipped && a->shown < SHOWN_ITEM_FAILURES) {
            a->shown++;
            failure_text(f, sizeof f, ev);
            line(p, C_FAIL, "FAIL", ev, "%s", f);
        } else if (p->live && now_ms() - p->last_draw >= REDRAW_MS) {
            draw_status(p);
        }
        return;
    }
    int64_t ms = ev->duration_ms;
    if (ms < 0 && si && si->t0) ms = (int64_t)(now_ms() - si->t0);
    fmt_ms(d, sizeof d, ms);
    if (grp && si && si->own >= 0) {
        fe_agg *own = &p->fes[si->own];
        own->open = 0;
        fe_text(f, sizeof f, own);
        line(p, ok ? C_OK : C_FAIL, ok ? "ok" : "FAIL", ev, "foreach: %s  %s", f, d);
        return;
    }
    if (skipped) {
        line(p, C_DIM, "skip", ev, "(its when is false)");
    } else if (ok) {
        char att[48] = "";
        if (ev->attempt > 1) snprintf(att, sizeof att, "  after %d attempts", ev->attempt);
        line(p, C_OK, "ok", ev, "%s%s  %s", grp ? "" : call_of(ev, call, sizeof call), att, d);
    } else {
        failure_text(f, sizeof f, ev);
        const char *tag = strcmp(o, "cancelled") == 0 ? "cancel" : strcmp(o, "outcome_unknown") == 0 ? "?" : "FAIL";
        char att[48] = "";
        if (ev->attempt > 1) snprintf(att, sizeof att, "after %d attempts, ", ev->attempt);
        else if (ev->attempt == 0 && ev->service) snprintf(att, sizeof att, "before sending, ");
        line(p, C_FAIL, tag, ev, "%s%s: %s", att, d, f);
    }
}

void mae_cli_progress_event(const mae_event *ev, void *ud) {
    mae_cli_progress *p = ud;
    stepinfo *si = find(p, ev->step_id);
    char call[256], d[32], f[400];
    switch (ev->kind) {
    case MAE_EV_RUN_START:
        cJSON_Delete(p->input);
        p->input = ev->input ? cJSON_Duplicate(ev->input, 1) : NULL;
        clear_status(p);
        fprintf(p->out, "maestro: %s run %s started\n", ev->workflow, ev->run_id);
        break;
    case MAE_EV_STEP_START:
    case MAE_EV_STEP_END:
        on_step(p, ev, si);
        break;
    case MAE_EV_ATTEMPT_START:
        break;
    case MAE_EV_ATTEMPT_RESULT:
        /* a failed attempt that is retried: what failed and how long until the next */
        if (ev->delay_ms < 0 || !ev->class_name || strcmp(ev->class_name, "ok") == 0) break;
        if (ev->index >= 0 && si && si->fe >= 0 && !ev->compensation) break;
        failure_text(f, sizeof f, ev);
        fmt_ms(d, sizeof d, ev->delay_ms);
        line(p, C_WARN, "retry", ev, "%sattempt %d failed: %s; next in %s", ev->compensation ? "undo " : "",
             ev->attempt, f, d);
        break;
    case MAE_EV_COMP_START:
        line(p, C_UNDO, "undo", ev, "%s", call_of(ev, call, sizeof call));
        break;
    case MAE_EV_COMP_RESULT:
        fmt_ms(d, sizeof d, ev->duration_ms);
        if (ev->outcome && strcmp(ev->outcome, "succeeded") == 0) {
            line(p, C_UNDO, "undone", ev, "%s  %s", call_of(ev, call, sizeof call), d);
        } else {
            failure_text(f, sizeof f, ev);
            line(p, C_FAIL, "UNDO!", ev, "compensation failed: %s", f);
        }
        break;
    case MAE_EV_RUN_END:
        clear_status(p);
        fmt_ms(d, sizeof d, ev->duration_ms);
        if (p->color) {
            int ok = ev->outcome && strcmp(ev->outcome, "succeeded") == 0;
            fprintf(p->out, "maestro: %s %s%s\033[0m in %s\n", ev->workflow, colors[ok ? C_OK : C_FAIL],
                    ev->outcome ? ev->outcome : "?", d);
        } else {
            fprintf(p->out, "maestro: %s %s in %s\n", ev->workflow, ev->outcome ? ev->outcome : "?", d);
        }
        break;
    }
    if (!p->status_shown) fflush(p->out);
}

void mae_cli_progress_log(int level, const char *text, void *ud) {
    mae_cli_progress *p = ud;
    (void)level;
    clear_status(p);
    fputs(text, p->out);
    fputc('\n', p->out);
    draw_status(p);
    if (!p->status_shown) fflush(p->out);
}
