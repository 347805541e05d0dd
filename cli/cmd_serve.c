/* maestro serve WORKFLOW.yaml... (docs/serve.md): loads every workflow (any error: exit 2 before
 * listening), starts one engine and the HTTP API on one loop, resumes the unfinished runs of
 * --journal DIR, prints "LISTEN <addr>" on stdout, and runs until SIGTERM/SIGINT (drain: stop
 * accepting, grace period, then cancel and compensate the rest, or with a journal exit leaving
 * them journaled; a second signal cuts the grace short). SIGHUP reloads the files: a file with
 * errors keeps its previous version and the errors go to the log. The server itself is serve/. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "cli/cli.h"
#include "cli/out.h"
#include "cli/transports.h"
#include "maestro/maestro.h"
#include "serve/serve.h"
#include "workflow/fnv.h"
#include "workflow/model.h"

enum { O_LISTEN = 1, O_MAX_RUNS, O_SET, O_DRAIN, O_JOURNAL, O_NO_JOURNAL, O_LOG_LEVEL, O_LOG_FORMAT, O_MAX_BODY,
       O_MAX_CONNS, O_KEEP_RUNS, O_REQ_TIMEOUT, O_IDLE_TIMEOUT };

static const mae_cli_opt serve_opts[] = {
    {O_LISTEN, "--listen", NULL, "HOST:PORT", "address to serve on (default 127.0.0.1:8080; port 0: any)"},
    {O_MAX_RUNS, "--max-runs", NULL, "N", "runs at once; more get 429 (default 256)"},
    {O_SET, "--set", NULL, "service.NAME.endpoint=URL", "override a service's endpoint (every workflow naming it)"},
    {O_DRAIN, "--drain", NULL, "DURATION", "grace period for runs on SIGTERM/SIGINT (default 30s)"},
    {O_JOURNAL, "--journal", NULL, "DIR", "journal every run in DIR; resume its unfinished runs at start"},
    {O_NO_JOURNAL, "--no-journal", NULL, NULL, "no journal (the default)"},
    {O_LOG_LEVEL, "--log-level", NULL, "LEVEL", "error|warn|info|debug (default: info for one line per run end, warn for steps)"},
    {O_LOG_FORMAT, "--log-format", NULL, "FORMAT", "text|json (default text)"},
    {O_MAX_BODY, "--max-body", NULL, "BYTES", "largest request body (default 1048576; 413 above)"},
    {O_MAX_CONNS, "--max-conns", NULL, "N", "client connections at once (default 1024)"},
    {O_REQ_TIMEOUT, "--request-timeout", NULL, "DURATION", "time for a client to send a whole request (default 10s)"},
    {O_IDLE_TIMEOUT, "--idle-timeout", NULL, "DURATION", "an idle keep-alive connection is closed after this (default 60s)"},
    {O_KEEP_RUNS, "--keep-runs", NULL, "N", "finished runs kept for GET /v1/runs (default 1000, at most 1 h)"},
    {0, NULL, NULL, NULL, NULL},
};

static const mae_cli_spec serve_spec = {
    "serve", "WORKFLOW.yaml... [--listen HOST:PORT] [options]",
    "Serves the workflows over an HTTP/1.1 JSON API with one engine for every run, so circuit\n"
    "breakers, pools and max_in_flight limits hold across runs. Prints \"LISTEN <host:port>\"\n"
    "on stdout once listening. SIGTERM/SIGINT drain; SIGHUP reloads the files. See docs/serve.md.\n",
    serve_opts,
    "exit codes: 0 stopped by a signal after draining, 1 cannot listen or start,\n"
    "            2 invalid usage or workflow\n",
};

#define MAX_FILES 64
#define MAX_SETS 64

typedef struct serve_cli {
    uv_loop_t loop;
    uv_signal_t sigint, sigterm, sighup;
    mae_serve *srv;
    mae_cli_transports tr;
    const char *files[MAX_FILES];
    int n_files;
    const char *sets[MAX_SETS];
    int n_sets;
    uint64_t drain_ms;
    int stopping;
} serve_cli;

/* A digest of the file's bytes (FNV-1a, 64 bits): enough to tell versions apart. */
static void digest_of(const char *text, size_t len, char *out, size_t cap) {
    uint64_t h = mae__fnv1a64(MAE_FNV1A64_INIT, text, len);   /* as the journal records it */
    snprintf(out, cap, "fnv1a64:%016llx", (unsigned long long)h);
}

/* Loads path and applies every --set that names one of its services. 0, or 2 with the
 * diagnostics on diag. */
static int load_one(serve_cli *c, const char *path, FILE *diag, mae_workflow **out, char *digest, size_t dcap) {
    size_t len = 0;
    char *text = NULL;
    FILE *f = fopen(path, "rb");
    if (f) {
        size_t cap = 0;
        for (;;) {
            if (len + 4096 > cap) {
                char *n = cap > (64u << 20) ? NULL : realloc(text, cap = cap * 2 + 8192);
                if (!n) break;
                text = n;
            }
            size_t r = fread(text + len, 1, cap - len, f);
            if (r == 0) break;
            len += r;
        }
        fclose(f);
    }
    if (!text) {
        fprintf(diag, "maestro serve: %s: cannot read: %s\n", path, strerror(errno ? errno : EIO));
        return 2;
    }
    mae_load_opts lo = {.text = text, .len = len, .diag_out = diag};
    mae_workflow *wf = NULL;
    int rc = mae_workflow_load_opts(path, &lo, &wf);
    digest_of(text, len, digest, dcap);
    free(text);
    if (rc != 0) {
        fprintf(diag, "maestro serve: %s: workflow not loaded (%s)\n", path, mae_strerror(rc));
        return 2;
    }
    for (int i = 0; i < c->n_sets; i++) {
        /* --set applies to every workflow with that service: others are not an error here */
        const char *kv = c->sets[i];
        const char *eq = strchr(kv, '=');
        const char *name = kv + 8;
        const char *suf = eq ? eq - 9 : NULL;
        if (!eq || strncmp(kv, "service.", 8) != 0 || suf <= name || strncmp(suf, ".endpoint", 9) != 0) {
            fprintf(diag, "maestro serve: --set expects service.NAME.endpoint=URL, got '%s'\n", kv);
            mae_workflow_free(wf);
            return 2;
        }
        char svc[256], err[600];
        snprintf(svc, sizeof svc, "%.*s", (int)(suf - name), name);
        int src = mae_workflow_set_endpoint(wf, svc, eq + 1, err, sizeof err);
        if (src != 0 && src != MAE_ENOTFOUND) {
            fprintf(diag, "maestro serve: %s: --set: %s\n", path, err);
            mae_workflow_free(wf);
            return 2;
        }
    }
    *out = wf;
    return 0;
}

/* Diagnostics of a reload go to the log, line by line. */
static void reload(serve_cli *c) {
    int ok = 0, bad = 0;
    for (int i = 0; i < c->n_files; i++) {
        char *dbuf = NULL;
        size_t dlen = 0;
        FILE *diag = open_memstream(&dbuf, &dlen);
        mae_workflow *wf = NULL;
        char digest[64];
        int rc = load_one(c, c->files[i], diag ? diag : stderr, &wf, digest, sizeof digest);
        if (diag) fclose(diag);
        if (rc == 0) rc = mae__serve_set_workflow(c->srv, c->files[i], wf, digest);
        if (rc == 0) {
            ok++;
        } else {
            bad++;
            if (rc == MAE_EEXISTS) mae__serve_log(c->srv, MAE_LOG_ERROR, "reload: %s: another file serves a workflow of the same name", c->files[i]);
            for (char *line = dbuf, *nl; line && *line; line = nl ? nl + 1 : NULL) {
                nl = strchr(line, '\n');
                if (nl) *nl = 0;
                if (*line) mae__serve_log(c->srv, MAE_LOG_ERROR, "reload: %s", line);
            }
            mae__serve_log(c->srv, MAE_LOG_ERROR, "reload: %s keeps its previous version", c->files[i]);
        }
        free(dbuf);
    }
    mae__serve_log(c->srv, bad ? MAE_LOG_WARN : MAE_LOG_INFO, "reload: %d file(s) reloaded, %d kept their previous version", ok, bad);
}

static void closed_nothing(uv_handle_t *h) { (void)h; }
static void tr_closed(void *ud) { (void)ud; }

static void serve_closed(void *ud) {
    serve_cli *c = ud;
    c->srv = NULL;
    /* closing a uv_signal restores the default action: block first, so a late signal waits
     * (and is discarded at exit) instead of killing us with a non-zero status */
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    sigprocmask(SIG_BLOCK, &block, NULL);
    mae_cli_transports_close(&c->tr, tr_closed, NULL);
    uv_close((uv_handle_t *)&c->sigint, closed_nothing);
    uv_close((uv_handle_t *)&c->sigterm, closed_nothing);
    uv_close((uv_handle_t *)&c->sighup, closed_nothing);
}

static void drained(void *ud) {
    serve_cli *c = ud;
    if (mae__serve_left(c->srv) > 0) {
        /* like a crash as far as the runs know: their journals hold where they are, and the
         * next start resumes them (their files are unlocked when the process ends) */
        fflush(NULL);
        _exit(0);
    }
    mae__serve_log(c->srv, MAE_LOG_INFO, "drained: every run is over, stopping");
    mae__serve_close(c->srv, serve_closed, c);
}

static void on_signal(uv_signal_t *h, int sig) {
    serve_cli *c = h->data;
    if (!c->srv) return;
    if (sig == SIGHUP) {
        reload(c);
        return;
    }
    if (c->stopping++ == 0)
        mae__serve_log(c->srv, MAE_LOG_WARN, "%s: draining (%d run(s) going, grace %llu ms)", sig == SIGINT ? "SIGINT" : "SIGTERM",
                       mae__serve_running(c->srv), (unsigned long long)c->drain_ms);
    else
        mae__serve_log(c->srv, MAE_LOG_WARN, "second signal: cancelling the runs still going now");
    mae__serve_drain(c->srv, c->drain_ms, drained, c);
}

static int parse_count(const char *v, long max, long *out) {
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < 0 || n > max) return -1;
    *out = n;
    return 0;
}

/* "host:port", "[v6]:port" or ":port". */
static int parse_listen(const char *v, char *host, size_t cap, int *port) {
    const char *colon = strrchr(v, ':');
    if (!colon) return -1;
    long p;
    if (parse_count(colon + 1, 65535, &p) != 0) return -1;
    size_t hl = (size_t)(colon - v);
    if (hl >= 2 && v[0] == '[' && v[hl - 1] == ']') {
        v++;
        hl -= 2;
    }
    if (hl >= cap) return -1;
    snprintf(host, cap, "%.*s", (int)hl, hl ? v : "0.0.0.0");
    *port = (int)p;
    return 0;
}

int mae_cmd_serve(int argc, char **argv) {
    serve_cli c;
    memset(&c, 0, sizeof c);
    c.drain_ms = 30000;
    mae_serve_opts so;
    mae__serve_opts_init(&so);
    mae_engine_opts eo;
    mae_engine_opts_init(&eo);
    int level_set = 0;
    const char *journal = NULL;
    char host[256] = "127.0.0.1";
    int port = 8080;
    mae_cli_args args;
    mae_cli_args_init(&args, &serve_spec, argc, argv);
    const char *v;
    long n;
    for (int id; (id = mae_cli_next(&args, &v)) != MAE_CLI_END;) {
        switch (id) {
        case MAE_CLI_HELP: return 0;
        case MAE_CLI_BAD: return 2;
        case MAE_CLI_ARG:
            if (c.n_files == MAX_FILES) return mae_cli_usage(&serve_spec, "more than %d workflow files", MAX_FILES);
            c.files[c.n_files++] = v;
            break;
        case O_LISTEN:
            if (parse_listen(v, host, sizeof host, &port) != 0) return mae_cli_usage(&serve_spec, "--listen: expected HOST:PORT, got '%s'", v);
            break;
        case O_MAX_RUNS:
            if (parse_count(v, 1000000, &n) != 0 || n == 0) return mae_cli_usage(&serve_spec, "--max-runs: expected a count of at least 1, got '%s'", v);
            so.max_runs = (int)n;
            break;
        case O_MAX_CONNS:
            if (parse_count(v, 1000000, &n) != 0 || n == 0) return mae_cli_usage(&serve_spec, "--max-conns: expected a count of at least 1, got '%s'", v);
            so.limits.max_conns = (size_t)n;
            break;
        case O_MAX_BODY:
            if (parse_count(v, 1L << 30, &n) != 0 || n == 0) return mae_cli_usage(&serve_spec, "--max-body: expected 1 to 1073741824 bytes, got '%s'", v);
            so.max_body = (size_t)n;
            break;
        case O_KEEP_RUNS:
            if (parse_count(v, 1000000, &n) != 0) return mae_cli_usage(&serve_spec, "--keep-runs: expected a count, got '%s'", v);
            so.keep_finished = (size_t)n;
            break;
        case O_SET:
            if (c.n_sets == MAX_SETS) return mae_cli_usage(&serve_spec, "too many --set options");
            c.sets[c.n_sets++] = v;
            break;
        case O_REQ_TIMEOUT:
            if (mae__parse_duration_ms(v, &so.limits.request_timeout_ms) != 0 || !so.limits.request_timeout_ms)
                return mae_cli_usage(&serve_spec, "--request-timeout: not a duration: '%s'", v);
            break;
        case O_IDLE_TIMEOUT:
            if (mae__parse_duration_ms(v, &so.limits.idle_timeout_ms) != 0 || !so.limits.idle_timeout_ms)
                return mae_cli_usage(&serve_spec, "--idle-timeout: not a duration: '%s'", v);
            break;
        case O_DRAIN:
            if (mae__parse_duration_ms(v, &c.drain_ms) != 0) return mae_cli_usage(&serve_spec, "--drain: not a duration: '%s'", v);
            break;
        case O_JOURNAL: journal = v; break;
        case O_NO_JOURNAL: journal = NULL; break;
        case O_LOG_LEVEL:
            level_set = 1;
            if (!strcmp(v, "error")) eo.log_level = MAE_LOG_ERROR;
            else if (!strcmp(v, "warn")) eo.log_level = MAE_LOG_WARN;
            else if (!strcmp(v, "info")) eo.log_level = MAE_LOG_INFO;
            else if (!strcmp(v, "debug")) eo.log_level = MAE_LOG_DEBUG;
            else return mae_cli_usage(&serve_spec, "--log-level: expected error|warn|info|debug, got '%s'", v);
            break;
        case O_LOG_FORMAT:
            if (!strcmp(v, "text")) eo.log_format = MAE_LOG_TEXT;
            else if (!strcmp(v, "json")) eo.log_format = MAE_LOG_JSON;
            else return mae_cli_usage(&serve_spec, "--log-format: expected text|json, got '%s'", v);
            break;
        }
    }
    if (c.n_files == 0) return mae_cli_usage(&serve_spec, "no workflow file given");
    /* info by default for the server's lines (one per run end), warn for the engine's */
    so.log_level = level_set ? eo.log_level : MAE_LOG_INFO;
    eo.journal_dir = journal;
    so.journal = journal != NULL;
    /* every file is checked before anything listens: one bad file, exit 2 */
    mae_workflow *wfs[MAX_FILES] = {0};
    char digests[MAX_FILES][64];
    int bad = 0;
    for (int i = 0; i < c.n_files; i++) bad |= load_one(&c, c.files[i], stderr, &wfs[i], digests[i], sizeof digests[i]) != 0;
    for (int i = 0; !bad && i < c.n_files; i++)
        for (int j = 0; j < i; j++)
            if (strcmp(mae_workflow_name(wfs[i]), mae_workflow_name(wfs[j])) == 0) {
                fprintf(stderr, "maestro serve: %s and %s both define workflow '%s'\n", c.files[j], c.files[i], mae_workflow_name(wfs[i]));
                bad = 1;
            }
    if (bad) {
        for (int i = 0; i < c.n_files; i++) mae_workflow_free(wfs[i]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (uv_loop_init(&c.loop) != 0) {
        fprintf(stderr, "maestro serve: cannot create the event loop\n");
        for (int i = 0; i < c.n_files; i++) mae_workflow_free(wfs[i]);
        return 1;
    }
    int rc = mae_cli_transports_open(&c.loop, &c.tr);
    if (rc == 0) {
        eo.http = c.tr.http;
        eo.grpc = c.tr.grpc;
        rc = mae__serve_new(&c.loop, &so, &eo, &c.srv);
        if (rc != 0) {
            fprintf(stderr, "maestro serve: cannot start: %s\n", mae_strerror(rc));
            mae_cli_transports_close(&c.tr, tr_closed, NULL);
        }
    }
    if (rc != 0) {
        for (int i = 0; i < c.n_files; i++) mae_workflow_free(wfs[i]);
        uv_run(&c.loop, UV_RUN_DEFAULT);
        uv_loop_close(&c.loop);
        return 1;
    }
    for (int i = 0; i < c.n_files; i++) mae__serve_set_workflow(c.srv, c.files[i], wfs[i], digests[i]);
    /* unfinished runs of a previous process go on before new ones are accepted */
    if (journal) {
        int n = mae__serve_resume_journal(c.srv, journal);
        if (n) mae__serve_log(c.srv, MAE_LOG_INFO, "resumed %d run(s) from %s", n, journal);
    }
    int bound = 0;
    rc = mae__serve_listen(c.srv, host, port, &bound);
    uv_signal_init(&c.loop, &c.sigint);
    uv_signal_init(&c.loop, &c.sigterm);
    uv_signal_init(&c.loop, &c.sighup);
    c.sigint.data = c.sigterm.data = c.sighup.data = &c;
    if (rc != 0) {
        fprintf(stderr, "maestro serve: cannot listen on %s:%d: %s\n", host, port, mae_strerror(rc));
        mae__serve_close(c.srv, serve_closed, &c);
        uv_run(&c.loop, UV_RUN_DEFAULT);
        uv_loop_close(&c.loop);
        return 1;
    }
    uv_signal_start(&c.sigint, on_signal, SIGINT);
    uv_signal_start(&c.sigterm, on_signal, SIGTERM);
    uv_signal_start(&c.sighup, on_signal, SIGHUP);
    char line[320];
    int ln = snprintf(line, sizeof line, strchr(host, ':') ? "LISTEN [%s]:%d\n" : "LISTEN %s:%d\n", host, bound);
    mae_cli_stdout_write(line, (size_t)ln);
    mae__serve_log(c.srv, MAE_LOG_INFO, "serving %d workflow(s) on %s:%d", c.n_files, host, bound);
    uv_run(&c.loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&c.loop) != 0) {
        fprintf(stderr, "maestro serve: internal: handles left open at exit\n");
        return 1;
    }
    return 0;
}
