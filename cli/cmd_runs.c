/* The journal's commands (docs/journal.md, docs/cli.md): `maestro runs`, `show`, `resume`,
 * `compensate`, and the journal options `maestro run` shares (--journal, --no-journal,
 * --retain). Journals are read whole and synchronously here: these commands run before (or
 * instead of) any loop. A resume replays the run through the engine (mae__run_start_ex). */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "cli/cli.h"
#include "cli/out.h"
#include "cli/transports.h"
#include "loop/engine_int.h"
#include "loop/journal_run.h"
#include "maestro/maestro.h"
#include "workflow/json_out.h"
#include "workflow/model.h"

#define DAY_MS (24ull * 3600 * 1000)

enum { O_ALL = 1, O_JSON, O_FORCE, O_QUIET, O_JOURNAL };

#define O_JOURNAL_OPT {O_JOURNAL, "--journal", NULL, "DIR", "the journal directory (default as for run: docs/journal.md)"}
static const mae_cli_opt runs_opts[] = {
    {O_ALL, "--all", NULL, NULL, "finished runs too"},
    {O_JSON, "--json", NULL, NULL, "one JSON array instead of text"},
    O_JOURNAL_OPT,
    {0, NULL, NULL, NULL, NULL},
};
static const mae_cli_opt show_opts[] = {O_JOURNAL_OPT, {0, NULL, NULL, NULL, NULL}};
static const mae_cli_opt resume_opts[] = {
    {O_ALL, "--all", NULL, NULL, "every unfinished run no process holds"},
    {O_FORCE, "--force", NULL, NULL, "go on although the workflow file changed since the run started"},
    {O_QUIET, "--quiet", "-q", NULL, "no logs; only the output and the failure summary"},
    O_JOURNAL_OPT,
    {0, NULL, NULL, NULL, NULL},
};

#define EXIT_CODES                                                                              \
    "exit codes: as maestro run: 0 succeeded, 1 failed and compensated, 2 refused (usage; run\n" \
    "            finished, running, damaged, or its workflow changed), nothing called, 3 a\n"   \
    "            compensation failed, 130 interrupted\n"

static const mae_cli_spec runs_spec = {
    "runs", "[--all] [--json] [--journal DIR]",
    "Lists unfinished journaled runs: run id, workflow, state (running, interrupted,\n"
    "interrupted_compensating, damaged, or the final status), last completed step, calls whose\n"
    "outcome is unknown, age.\n",
    runs_opts, NULL,
};
static const mae_cli_spec show_spec = {
    "show", "RUN_ID [--journal DIR]",
    "Prints the report (JSON) of a journaled run, finished or not.\n", show_opts, NULL,
};
static const mae_cli_spec resume_spec = {
    "resume", "RUN_ID|--all [--force] [--journal DIR]",
    "Continues an unfinished run: completed steps are not called again (their outputs come from\n"
    "the journal); calls of unknown outcome are re-sent with the same idempotency key; then the\n"
    "run goes on, compensating if it fails, as maestro run would.\n",
    resume_opts, EXIT_CODES,
};
static const mae_cli_spec compensate_spec = {
    "compensate", "RUN_ID [--force] [--journal DIR]",
    "Undoes an unfinished run instead of continuing it: nothing new is started; every completed\n"
    "step with a compensate is compensated, newest first; a call of unknown outcome is re-sent\n"
    "with its idempotency key first, and compensated if it succeeded.\n",
    resume_opts, EXIT_CODES,
};

const char *mae_cli_journal_dir(const char *arg, int off) {
    static char buf[4096];
    if (off) return NULL;
    return arg ? arg : mae__journal_default_dir(buf, sizeof buf);
}

int mae_cli_parse_retain(const char *s, unsigned long long *ms) {
    /* days are what retention is counted in; workflow durations stop at hours */
    char *end = NULL;
    unsigned long long d = strtoull(s, &end, 10);
    if (end != s && end[0] == 'd' && end[1] == 0 && d <= 36500) {
        *ms = d * DAY_MS;
        return 0;
    }
    uint64_t v = 0;
    if (mae__parse_duration_ms(s, &v) != 0) return -1;
    *ms = v;
    return 0;
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool is_journal_name(const char *n) {
    size_t l = strlen(n);
    return l > 3 && strcmp(n + l - 3, ".mj") == 0 && n[0] != '.';
}

void mae_cli_journal_prune(const char *dir, unsigned long long retain_ms) {
    DIR *d = opendir(dir);
    if (!d) return;
    int64_t now = now_ms();
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!is_journal_name(de->d_name)) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct stat st;
        if (stat(path, &st) != 0) continue;
        int64_t mt = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
        if (now - mt < (int64_t)retain_ms) continue;
        /* only a finished run's journal goes: an unfinished one may still be resumed */
        mae_jfile f;
        char err[256];
        if (mae__jfile_load(path, &f, err, sizeof err) == 0 && f.end && !f.locked) unlink(path);
        mae__jfile_free(&f);
    }
    closedir(d);
}

typedef struct opts {
    const char *dir;
    const char *id;
    int all, json, force, quiet;
} opts;

/* 0, or the exit code (help printed: 0 through *done; usage error: 2). */
static int parse(const mae_cli_spec *spec, int argc, char **argv, opts *o, int *done) {
    memset(o, 0, sizeof *o);
    *done = 0;
    mae_cli_args a;
    mae_cli_args_init(&a, spec, argc, argv);
    const char *v;
    for (int id; (id = mae_cli_next(&a, &v)) != MAE_CLI_END;) {
        switch (id) {
        case MAE_CLI_HELP: *done = 1; return 0;
        case MAE_CLI_BAD: *done = 1; return 2;
        case MAE_CLI_ARG:
            if (o->id) {
                *done = 1;
                return mae_cli_usage(spec, "more than one run id given ('%s')", v);
            }
            o->id = v;
            break;
        case O_ALL: o->all = 1; break;
        case O_JSON: o->json = 1; break;
        case O_FORCE: o->force = 1; break;
        case O_QUIET: o->quiet = 1; break;
        case O_JOURNAL: o->dir = v; break;
        }
    }
    if (!o->dir) o->dir = mae_cli_journal_dir(NULL, 0);
    return 0;
}

static const char *str(const cJSON *o, const char *name) {
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(s) ? s->valuestring : NULL;
}

static const char *state_of(const mae_jfile *f) {
    if (f->scan.damaged) return "damaged";
    if (f->end) return str(f->end, "status") ? str(f->end, "status") : "finished";
    if (f->locked) return "running";
    return f->compensating ? "interrupted_compensating" : "interrupted";
}

static void age_text(int64_t ms, char *buf, size_t len) {
    int64_t s = ms / 1000;
    if (s < 120) snprintf(buf, len, "%llds", (long long)s);
    else if (s < 7200) snprintf(buf, len, "%lldm", (long long)(s / 60));
    else if (s < 172800) snprintf(buf, len, "%lldh", (long long)(s / 3600));
    else snprintf(buf, len, "%lldd", (long long)(s / 86400));
}

static int path_of(const opts *o, const char *id, char *out, size_t len) {
    for (const char *p = id; *p; p++)
        if (*p == '/' || *p == '.') return -1;
    snprintf(out, len, "%s/%s.mj", o->dir, id);
    return 0;
}

static int print_json(const cJSON *v, bool pretty) {
    char *txt = NULL;
    size_t len = 0;
    int rc = pretty ? mae__json_print_pretty(v, MAE_JSON_UNBOUNDED, &txt, &len) : mae__json_print(v, MAE_JSON_UNBOUNDED, &txt, &len);
    if (rc != 0 || !txt) return 1;
    int e = mae_cli_stdout_write(txt, strlen(txt));
    if (!e) e = mae_cli_stdout_write("\n", 1);
    free(txt);
    return e ? MAE_CLI_EXIT_WRITE : 0;
}

typedef struct ent {
    char *name;
    int64_t started;
} ent;

static int by_start(const void *a, const void *b) {
    const ent *x = a, *y = b;
    return x->started < y->started ? -1 : x->started > y->started;
}

int mae_cmd_runs(int argc, char **argv) {
    opts o;
    int done, rc0 = parse(&runs_spec, argc, argv, &o, &done);
    if (done) return rc0;
    if (o.id) return mae_cli_usage(&runs_spec, "unexpected argument '%s'", o.id);
    /* oldest first: collect, sort by start time, print */
    ent *ents = NULL;
    size_t n_ents = 0, cap = 0;
    DIR *d = opendir(o.dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (!is_journal_name(de->d_name)) continue;
        char path[4096], err[512];
        snprintf(path, sizeof path, "%s/%s", o.dir, de->d_name);
        mae_jfile f;
        if (mae__jfile_load(path, &f, err, sizeof err) != 0) {
            fprintf(stderr, "maestro runs: %s\n", err);
            mae__jfile_free(&f);
            continue;
        }
        const cJSON *sa = cJSON_GetObjectItemCaseSensitive(f.start, "started_at");
        int64_t started = cJSON_IsNumber(sa) ? (int64_t)sa->valuedouble : f.mtime_ms;
        bool keep = !f.end || o.all;
        mae__jfile_free(&f);
        if (!keep) continue;
        if (n_ents == cap) {
            cap = cap ? cap * 2 : 32;
            ent *ne = realloc(ents, cap * sizeof *ne);
            if (!ne) break;
            ents = ne;
        }
        ents[n_ents].name = strdup(de->d_name);
        ents[n_ents++].started = started;
    }
    if (d) closedir(d);
    if (n_ents > 1) qsort(ents, n_ents, sizeof *ents, by_start);
    cJSON *arr = cJSON_CreateArray();
    int64_t now = now_ms();
    if (!o.json) printf("%-32s  %-20s  %-24s  %-20s  %7s  %s\n", "RUN_ID", "WORKFLOW", "STATE", "LAST_STEP", "UNKNOWN", "AGE");
    for (size_t k = 0; k < n_ents; k++) {
        char path[4096], err[512];
        snprintf(path, sizeof path, "%s/%s", o.dir, ents[k].name ? ents[k].name : "");
        free(ents[k].name);
        mae_jfile f;
        if (mae__jfile_load(path, &f, err, sizeof err) != 0) {
            mae__jfile_free(&f);
            continue;
        }
        int64_t started = ents[k].started;
        const char *id = str(f.start, "run_id");
        const char *wf = str(f.start, "workflow");
        if (o.json) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "run_id", id ? id : "");
            cJSON_AddStringToObject(e, "workflow", wf ? wf : "");
            cJSON_AddStringToObject(e, "state", state_of(&f));
            if (f.last_step) cJSON_AddStringToObject(e, "last_completed_step", f.last_step);
            else cJSON_AddNullToObject(e, "last_completed_step");
            cJSON_AddNumberToObject(e, "unknown_outcome", f.end ? 0 : f.n_unknown);
            cJSON_AddNumberToObject(e, "age_ms", (double)(now - started));
            cJSON_AddStringToObject(e, "file", path);
            if (f.scan.damaged) cJSON_AddNumberToObject(e, "damaged_at", (double)f.scan.damaged_at);
            cJSON_AddItemToArray(arr, e);
        } else {
            char age[32];
            age_text(now - started, age, sizeof age);
            printf("%-32s  %-20s  %-24s  %-20s  %7d  %s\n", id ? id : "?", wf ? wf : "?", state_of(&f),
                   f.last_step ? f.last_step : "-", f.end ? 0 : f.n_unknown, age);
            if (f.scan.damaged)
                fprintf(stderr, "maestro runs: %s is damaged at offset %zu: left alone (nothing after it is read)\n", path,
                        f.scan.damaged_at);
        }
        mae__jfile_free(&f);
    }
    free(ents);
    int rc = o.json ? print_json(arr, false) : 0;
    cJSON_Delete(arr);
    return rc;
}

/* The report of an unfinished run, from what its journal holds. */
static cJSON *partial_report(const mae_jfile *f) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "run_id", str(f->start, "run_id") ? str(f->start, "run_id") : "");
    cJSON_AddStringToObject(r, "workflow", str(f->start, "workflow") ? str(f->start, "workflow") : "");
    cJSON_AddStringToObject(r, "status", state_of(f));
    const cJSON *sa = cJSON_GetObjectItemCaseSensitive(f->start, "started_at");
    cJSON_AddNumberToObject(r, "started_at_ms", cJSON_IsNumber(sa) ? sa->valuedouble : 0);
    cJSON *in = cJSON_GetObjectItemCaseSensitive(f->start, "input");
    cJSON_AddItemToObject(r, "input", in ? cJSON_Duplicate(in, 1) : cJSON_CreateNull());
    if (f->fail) cJSON_AddItemToObject(r, "error", cJSON_Duplicate(f->fail, 1));
    cJSON *steps = cJSON_AddArrayToObject(r, "steps");
    cJSON *comps = cJSON_AddArrayToObject(r, "compensations");
    for (const cJSON *x = f->results ? f->results->child : NULL; x; x = x->next) {
        cJSON *e = cJSON_CreateObject();
        const char *kind = str(x, "kind");
        cJSON_AddStringToObject(e, kind && strcmp(kind, "step") ? "step" : "id", str(x, "step") ? str(x, "step") : "");
        const cJSON *ix = cJSON_GetObjectItemCaseSensitive(x, "index");
        if (cJSON_IsNumber(ix) && ix->valuedouble >= 0) cJSON_AddNumberToObject(e, "index", ix->valuedouble);
        bool ok = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(x, "ok"));
        cJSON_AddStringToObject(e, "status", ok ? "succeeded" : "failed");
        if (kind && !strcmp(kind, "resolve")) cJSON_AddStringToObject(e, "outcome", ok ? "committed" : "unknown");
        const cJSON *at = cJSON_GetObjectItemCaseSensitive(x, "attempts");
        cJSON_AddNumberToObject(e, "attempts", cJSON_IsNumber(at) ? at->valuedouble : 0);
        if (!ok) {
            cJSON *er = cJSON_AddObjectToObject(e, "error");
            cJSON_AddStringToObject(er, "class", str(x, "class") ? str(x, "class") : "");
            cJSON_AddStringToObject(er, "message", str(x, "message") ? str(x, "message") : "");
        }
        cJSON_AddItemToArray(kind && !strcmp(kind, "comp") ? comps : steps, e);
    }
    cJSON *unk = cJSON_AddArrayToObject(r, "outcome_unknown");
    for (const cJSON *x = f->intents ? f->intents->child : NULL; x; x = x->next) {
        if (mae__jfile_result(f, x->string)) continue;
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "step", str(x, "step") ? str(x, "step") : "");
        cJSON_AddStringToObject(e, "kind", str(x, "kind") ? str(x, "kind") : "");
        cJSON_AddStringToObject(e, "idempotency_key", str(x, "k") ? str(x, "k") : "");
        cJSON_AddItemToArray(unk, e);
    }
    if (f->scan.damaged) cJSON_AddNumberToObject(r, "damaged_at", (double)f->scan.damaged_at);
    return r;
}

int mae_cmd_show(int argc, char **argv) {
    opts o;
    int done, rc0 = parse(&show_spec, argc, argv, &o, &done);
    if (done) return rc0;
    if (!o.id) return mae_cli_usage(&show_spec, "no run id given");
    char path[4096], err[512];
    if (path_of(&o, o.id, path, sizeof path) != 0) return mae_cli_usage(&show_spec, "not a run id: '%s'", o.id);
    mae_jfile f;
    if (mae__jfile_load(path, &f, err, sizeof err) != 0) {
        fprintf(stderr, "maestro show: %s\n", err);
        mae__jfile_free(&f);
        return 2;
    }
    if (f.scan.damaged)
        fprintf(stderr, "maestro show: %s is damaged at offset %zu; showing what comes before it\n", path, f.scan.damaged_at);
    const cJSON *rep = f.end ? cJSON_GetObjectItemCaseSensitive(f.end, "report") : NULL;
    int rc;
    if (rep && !cJSON_IsNull(rep)) {
        rc = print_json(rep, true);
    } else {
        cJSON *p = partial_report(&f);
        rc = print_json(p, true);
        cJSON_Delete(p);
    }
    mae__jfile_free(&f);
    return rc;
}

/* ---- resume / compensate ---- */

typedef struct rctx {
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    mae_engine *eng;
    mae_run *run;
    mae_cli_transports tr;
    int exit_code;
    int signals_open;
} rctx;

static void closed_nothing(uv_handle_t *h) { (void)h; }
static void tr_closed(void *ud) { (void)ud; }
static void engine_closed(void *ud) { mae_cli_transports_close(ud, tr_closed, NULL); }

static void shutdown_all(rctx *c) {
    if (c->signals_open) {
        uv_close((uv_handle_t *)&c->sigint, closed_nothing);
        uv_close((uv_handle_t *)&c->sigterm, closed_nothing);
        c->signals_open = 0;
    }
    if (!c->eng || mae_engine_close(c->eng, engine_closed, &c->tr) != 0) mae_cli_transports_close(&c->tr, tr_closed, NULL);
    c->eng = NULL;
}

static void on_signal(uv_signal_t *s, int signum) {
    rctx *c = s->data;
    fprintf(stderr, "maestro: signal %d: cancelling and compensating\n", signum);
    if (c->run) mae_run_cancel(c->run);
}

static void on_done(mae_run *run, const mae_run_result *res, void *ud) {
    rctx *c = ud;
    c->exit_code = res->exit_code;
    if (res->status == MAE_RUN_SUCCEEDED && res->output) {
        char *txt = NULL;
        size_t len = 0;
        if (mae__json_print((const cJSON *)res->output, (size_t)1 << 30, &txt, &len) == 0) {
            mae_cli_stdout_write(txt, len);
            mae_cli_stdout_write("\n", 1);
        }
        free(txt);
    }
    if (res->summary) fputs(res->summary, stderr);
    mae_run_free(run);
    c->run = NULL;
    shutdown_all(c);
}

/* Resumes (or compensates) the run of journal path. Returns the exit code. */
static int resume_one(const char *cmd, const opts *o, const char *path, bool compensate) {
    char err[512];
    mae_jfile *f = calloc(1, sizeof *f);
    if (!f) return 1;
    int rc = mae__jfile_load(path, f, err, sizeof err);
    const char *id = rc == 0 ? str(f->start, "run_id") : NULL;
    int code = 2;
    mae_workflow *wf = NULL;
    char **eps = NULL;
    size_t n_eps = 0;
    if (rc != 0) {
        fprintf(stderr, "maestro %s: %s\n", cmd, err);
        goto out;
    }
    if (f->scan.damaged) {
        fprintf(stderr, "maestro %s: %s is damaged at offset %zu: the run is left alone rather than guessed at\n", cmd,
                path, f->scan.damaged_at);
        goto out;
    }
    if (f->end) {
        fprintf(stderr, "maestro %s: run %s is already over (%s): nothing to do\n", cmd, id ? id : "?",
                state_of(f));
        goto out;
    }
    if (f->locked) {
        fprintf(stderr, "maestro %s: run %s is still running in another process\n", cmd, id ? id : "?");
        goto out;
    }
    const char *file = str(f->start, "file");
    const char *digest = str(f->start, "digest");
    if (!file) {
        fprintf(stderr, "maestro %s: run %s was not started from a workflow file: it cannot be resumed here\n", cmd,
                id ? id : "?");
        goto out;
    }
    char now[33];
    if (mae__file_digest(file, now) != 0) {
        fprintf(stderr, "maestro %s: the workflow file %s cannot be read: %s\n", cmd, file, strerror(errno));
        goto out;
    }
    if (!digest || strcmp(digest, now) != 0) {
        if (!o->force) {
            fprintf(stderr,
                    "maestro %s: the workflow file %s changed since run %s started (%s, now %s): refusing; "
                    "--force goes on with the file as it is now\n",
                    cmd, file, id ? id : "?", digest ? digest : "no digest", now);
            goto out;
        }
        fprintf(stderr, "maestro %s: warning: %s changed since the run started; going on (--force)\n", cmd, file);
    }
    if (mae_workflow_load(file, &wf, stderr) != 0) {
        fprintf(stderr, "maestro %s: %s: workflow not loaded, nothing was called\n", cmd, file);
        goto out;
    }
    /* the services the run called (--set included): the workflow keeps the strings */
    const cJSON *ep = cJSON_GetObjectItemCaseSensitive(f->start, "endpoints");
    n_eps = (size_t)cJSON_GetArraySize(ep);
    eps = calloc(n_eps ? n_eps : 1, sizeof *eps);
    size_t i = 0;
    for (const cJSON *e = ep ? ep->child : NULL; eps && e && i < n_eps; e = e->next, i++) {
        if (!cJSON_IsString(e)) continue;
        eps[i] = strdup(e->valuestring);
        if (eps[i]) mae_workflow_set_endpoint(wf, e->string, eps[i], NULL, 0);
    }
    char *input = mae__json_text(cJSON_GetObjectItemCaseSensitive(f->start, "input"));
    rctx c;
    memset(&c, 0, sizeof c);
    c.exit_code = 1;
    if (uv_loop_init(&c.loop) != 0 || !input) {
        free(input);
        code = 1;
        goto out;
    }
    if (mae_cli_transports_open(&c.loop, &c.tr) != 0) {
        free(input);
        uv_run(&c.loop, UV_RUN_DEFAULT);
        uv_loop_close(&c.loop);
        code = 1;
        goto out;
    }
    char *dir = strdup(path);
    char *slash = dir ? strrchr(dir, '/') : NULL;
    if (slash) *slash = 0;
    mae_engine_opts eo;
    mae_engine_opts_init(&eo);
    if (o->quiet) eo.log_level = MAE_LOG_OFF;
    eo.http = c.tr.http;
    eo.grpc = c.tr.grpc;
    eo.journal_dir = slash ? dir : ".";
    mae_replay_mode mode = compensate || f->compensating ? MAE_REPLAY_COMPENSATE : MAE_REPLAY_RESUME;
    if (!o->quiet)
        fprintf(stderr, "maestro %s: run %s: %s (%d call(s) of unknown outcome)\n", cmd, id ? id : "?",
                mode == MAE_REPLAY_COMPENSATE ? "compensating" : "resuming", f->n_unknown);
    rc = mae_engine_new(&c.loop, &eo, &c.eng);
    if (rc == 0) rc = mae__run_start_ex(c.eng, wf, input, NULL, on_done, &c, &c.run, f, mode);
    free(input);
    if (rc == 0) {
        f = NULL;   /* the run owns it */
        uv_signal_init(&c.loop, &c.sigint);
        uv_signal_init(&c.loop, &c.sigterm);
        c.sigint.data = c.sigterm.data = &c;
        uv_signal_start(&c.sigint, on_signal, SIGINT);
        uv_signal_start(&c.sigterm, on_signal, SIGTERM);
        c.signals_open = 1;
    } else {
        fprintf(stderr, "maestro %s: cannot start: %s\n", cmd, mae_strerror(rc));
        c.exit_code = 2;
        shutdown_all(&c);
    }
    uv_run(&c.loop, UV_RUN_DEFAULT);
    uv_loop_close(&c.loop);
    free(dir);
    code = c.exit_code;
out:
    mae_workflow_free(wf);
    for (size_t k = 0; eps && k < n_eps; k++) free(eps[k]);
    free(eps);
    if (f) {
        mae__jfile_free(f);
        free(f);
    }
    return code;
}

static int resume_cmd(const mae_cli_spec *spec, int argc, char **argv, bool compensate) {
    const char *cmd = spec->cmd;
    opts o;
    int done, rc0 = parse(spec, argc, argv, &o, &done);
    if (done) return rc0;
    if (compensate && o.all) return mae_cli_usage(spec, "--all: compensate takes one run id");
    signal(SIGPIPE, SIG_IGN);
    char path[4096];
    if (!o.all) {
        if (!o.id) return mae_cli_usage(spec, "no run id given (or --all)");
        if (path_of(&o, o.id, path, sizeof path) != 0) return mae_cli_usage(spec, "not a run id: '%s'", o.id);
        return resume_one(cmd, &o, path, compensate);
    }
    if (o.id) return mae_cli_usage(spec, "a run id and --all given ('%s')", o.id);
    DIR *d = opendir(o.dir);
    if (!d) return 0;
    /* names first: resuming adds nothing to the directory, but readdir and unlink do not mix */
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!is_journal_name(de->d_name)) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) break;
            names = nn;
        }
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    int worst = 0;
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", o.dir, names[i] ? names[i] : "");
        mae_jfile f;
        memset(&f, 0, sizeof f);
        char err[256];
        bool todo = names[i] && mae__jfile_load(path, &f, err, sizeof err) == 0 && !f.end && !f.locked && !f.scan.damaged;
        mae__jfile_free(&f);
        free(names[i]);
        if (!todo) continue;
        int rc = resume_one(cmd, &o, path, compensate);
        if (rc > worst) worst = rc;
    }
    free(names);
    return worst;
}

int mae_cmd_resume(int argc, char **argv) { return resume_cmd(&resume_spec, argc, argv, false); }
int mae_cmd_compensate(int argc, char **argv) { return resume_cmd(&compensate_spec, argc, argv, true); }
