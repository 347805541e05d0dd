/* The embedding API through the scripted transport: the exact event sequence of a success, a
 * retry and a failure with compensation (an attempt's start comes before the transport sees
 * the call), log lines through on_log, input errors handed back by mae_run_start, loading from
 * memory with positioned diagnostics, and endpoint overrides checked like the loader does. */
#include <stdio.h>
#include <unistd.h>

#include "engine_fx.h"

/* ---- events, recorded as one compact line ---- */
typedef struct evrec {
    char seq[8192];
    mae_transport *tr;
    int starts;              /* ATTEMPT_STARTs seen */
    int start_before_send;   /* ATTEMPT_STARTs at which the transport had not yet got the call */
    int bad_fields;          /* events with a field that contradicts its kind */
    char first_input[256];   /* the rendered input of the first ATTEMPT_START */
    int run_end_has_report;
} evrec;

static void add(evrec *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(evrec *r, const char *fmt, ...) {
    size_t n = strlen(r->seq);
    if (n) r->seq[n++] = ' ';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->seq + n, sizeof r->seq - n, fmt, ap);
    va_end(ap);
}

static void on_event(const mae_event *ev, void *ud) {
    evrec *r = ud;
    char id[96];
    const char *c = ev->compensation ? "~" : "";
    if (ev->index >= 0) snprintf(id, sizeof id, "%s%s[%d]", c, ev->step_id, ev->index);
    else snprintf(id, sizeof id, "%s%s", c, ev->step_id ? ev->step_id : "");
    if (!ev->run_id || strlen(ev->run_id) != 32 || !ev->workflow) r->bad_fields++;
    switch (ev->kind) {
    case MAE_EV_RUN_START: add(r, "run_start"); break;
    case MAE_EV_STEP_START: add(r, "ss:%s", id); break;
    case MAE_EV_ATTEMPT_START: {
        add(r, "as:%s#%d", id, ev->attempt);
        size_t calls = mae_scripted_count(r->tr, MAE_SCRIPT_CALL, NULL);
        if (calls == (size_t)r->starts) r->start_before_send++;
        r->starts++;
        if (!ev->service || !ev->method || !ev->idempotency_key) r->bad_fields++;
        if (r->starts == 1 && ev->input) {
            char *t = cJSON_PrintUnformatted(ev->input);
            snprintf(r->first_input, sizeof r->first_input, "%s", t);
            free(t);
        }
        break;
    }
    case MAE_EV_ATTEMPT_RESULT:
        if (ev->delay_ms >= 0) add(r, "ar:%s#%d:%s:%lld", id, ev->attempt, ev->class_name, (long long)ev->delay_ms);
        else add(r, "ar:%s#%d:%s", id, ev->attempt, ev->class_name);
        if (ev->duration_ms < 0) r->bad_fields++;
        /* success carries no error and no message; a failure both */
        if (!strcmp(ev->class_name, "ok") ? (ev->error || ev->message) : (!ev->error || !ev->message)) r->bad_fields++;
        break;
    case MAE_EV_STEP_END: add(r, "se:%s:%s", id, ev->outcome); break;
    case MAE_EV_COMP_START: add(r, "cs:%s", id); break;
    case MAE_EV_COMP_RESULT: add(r, "cr:%s:%s", id, ev->outcome); break;
    case MAE_EV_RUN_END:
        add(r, "run_end:%s", ev->outcome);
        r->run_end_has_report = ev->report != NULL && ev->duration_ms >= 0;
        break;
    }
}

/* fx_init with the engine's events (and optionally logs) going to the test. */
static void init_with(fx *f, const char *yaml, evrec *r, mae_log_cb on_log, void *log_ud, FILE *log_stream) {
    fx_init(f, NULL);
    ASSERT_EQ_INT(mae_engine_close(f->eng, NULL, NULL), 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    mae_engine_opts o;
    mae_engine_opts_init(&o);
    o.http = o.grpc = f->tr;
    o.log_level = on_log || log_stream ? MAE_LOG_INFO : MAE_LOG_OFF;
    o.on_log = on_log;
    o.log_ud = log_ud;
    o.log_stream = log_stream;
    if (r) {
        memset(r, 0, sizeof *r);
        r->tr = f->tr;
        o.on_event = on_event;
        o.event_ud = r;
    }
    ASSERT_EQ_INT(mae_engine_new(&f->loop, &o, &f->eng), 0);
    if (yaml) fx_load(f, yaml);
}

#define SVC "services:\n  s:\n    type: grpc\n    endpoint: \"127.0.0.1:1\"\n    retry: {attempts: 1}\n"

TEST(events_of_a_success_in_order_with_groups_foreach_and_a_skipped_step) {
    static const char wf[] =
        "name: evs\n"
        "input: {xs: {type: array, default: [1, 2]}, go: {type: boolean, default: false}}\n" SVC
        "steps:\n"
        "  - {id: a, service: s, method: A, input: {k: \"{{ .input.xs }}\"}, output: oa}\n"
        "  - id: fan\n"
        "    parallel:\n"
        "      - {id: b, service: s, method: B}\n"
        "      - {id: skip, service: s, method: D, when: \"{{ .input.go }}\"}\n"
        "  - id: each\n"
        "    foreach: \"{{ .input.xs }}\"\n"
        "    as: item\n"
        "    concurrency: 1\n"
        "    do: {id: one, service: s, method: E, input: {n: \"{{ .item }}\"}}\n"
        "output: {a: \"{{ .oa }}\"}\n";
    fx f;
    evrec r;
    init_with(&f, wf, &r, NULL, NULL, NULL);
    fx_rule(&f, "A", NULL, 0, 0);
    fx_rule(&f, "B", NULL, 0, 0);
    fx_rule(&f, "E", NULL, 0, 0);
    ASSERT_EQ_INT(fx_run(&f, NULL), 0);
    ASSERT_EQ_INT(f.status, MAE_RUN_SUCCEEDED);
    ASSERT_EQ_STR(r.seq,
                  "run_start ss:a as:a#1 ar:a#1:ok se:a:succeeded"
                  " ss:fan ss:b as:b#1 ss:skip se:skip:skipped ar:b#1:ok se:b:succeeded se:fan:succeeded"
                  " ss:each ss:one[0] as:one[0]#1 ar:one[0]#1:ok se:one[0]:succeeded"
                  " ss:one[1] as:one[1]#1 ar:one[1]#1:ok se:one[1]:succeeded se:each:succeeded"
                  " run_end:succeeded");
    ASSERT_EQ_INT(r.start_before_send, r.starts);
    ASSERT_EQ_INT(r.starts, 4);
    ASSERT_EQ_INT(r.bad_fields, 0);
    ASSERT_EQ_STR(r.first_input, "{\"k\":[1,2]}");
    ASSERT_TRUE(r.run_end_has_report);
    fx_close(&f);
}

TEST(events_of_retries_carry_class_and_delay_and_a_refusal_repeats_the_attempt) {
    static const char wf[] =
        "name: evr\n"
        "services:\n  s:\n    type: grpc\n    endpoint: \"127.0.0.1:1\"\n"
        "    retry: {attempts: 3, backoff: constant, initial: 7ms, jitter: none}\n"
        "    circuit_breaker: {failures: 100}\n"
        "steps:\n"
        "  - {id: a, service: s, method: A}\n"
        "  - {id: b, service: s, method: B}\n";
    fx f;
    evrec r;
    init_with(&f, wf, &r, NULL, NULL, NULL);
    mae_script_rule *ra = fx_rule(&f, "A", NULL, 0, 2);   /* 503, 503, ok */
    ra->fail_status = 503;
    mae_script_rule *rb = fx_rule(&f, "B", NULL, 0, 0);
    rb->not_an_attempt_times = 1;
    ASSERT_EQ_INT(fx_run(&f, NULL), 0);
    ASSERT_EQ_INT(f.status, MAE_RUN_SUCCEEDED);
    ASSERT_EQ_STR(r.seq,
                  "run_start ss:a as:a#1 ar:a#1:http_5xx:7 as:a#2 ar:a#2:http_5xx:7 as:a#3 ar:a#3:ok se:a:succeeded"
                  " ss:b as:b#1 ar:b#1:grpc:UNAVAILABLE:0 as:b#1 ar:b#1:ok se:b:succeeded run_end:succeeded");
    ASSERT_EQ_INT(r.start_before_send, r.starts);
    ASSERT_EQ_INT(r.bad_fields, 0);
    fx_close(&f);
}

/* Status and attempts of the failing step's result, checked from inside the handler. */
typedef struct { evrec r; int step_end_status, step_end_attempts, comp_results; char fail_err[256]; } evfail;

static void on_event_fail(const mae_event *ev, void *ud) {
    evfail *x = ud;
    on_event(ev, &x->r);
    if (ev->kind == MAE_EV_STEP_END && !strcmp(ev->step_id, "s3")) {
        x->step_end_status = ev->status;
        x->step_end_attempts = ev->attempt;
        char *t = cJSON_PrintUnformatted(ev->error);
        snprintf(x->fail_err, sizeof x->fail_err, "%s", t ? t : "");
        free(t);
    }
    if (ev->kind == MAE_EV_COMP_RESULT) x->comp_results++;
}

TEST(events_of_a_failure_with_compensation_in_exact_order) {
    static const char wf[] =
        "name: evf\n" SVC
        "steps:\n"
        "  - {id: s1, service: s, method: Do1, output: o1, compensate: {method: Undo1, input: {id: \"{{ .o1.id }}\"}}}\n"
        "  - {id: s2, service: s, method: Do2, output: o2, compensate: {method: Undo2, input: {id: \"{{ .o2.id }}\"}, retry: {attempts: 2, initial: 1ms, jitter: none}}}\n"
        "  - {id: s3, service: s, method: Do3}\n"
        "  - {id: s4, service: s, method: Do4}\n";
    fx f;
    evfail x;
    init_with(&f, NULL, NULL, NULL, NULL, NULL);
    ASSERT_EQ_INT(mae_engine_close(f.eng, NULL, NULL), 0);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    memset(&x, 0, sizeof x);
    x.r.tr = f.tr;
    mae_engine_opts o;
    mae_engine_opts_init(&o);
    o.http = o.grpc = f.tr;
    o.log_level = MAE_LOG_OFF;
    o.on_event = on_event_fail;
    o.event_ud = &x;
    ASSERT_EQ_INT(mae_engine_new(&f.loop, &o, &f.eng), 0);
    fx_load(&f, wf);
    fx_rule(&f, "Do1", "{\"id\":\"r1\"}", 0, 0);
    fx_rule(&f, "Do2", "{\"id\":\"r2\"}", 0, 0);
    mae_script_rule *r3 = fx_rule(&f, "Do3", NULL, 0, -1);
    r3->fail_cls = MAE_CLASS_GRPC;
    r3->fail_status = MAE_GRPC_INVALID_ARGUMENT;
    mae_script_rule *u2 = fx_rule(&f, "Undo2", NULL, 0, 1);   /* fails once, then undone */
    u2->fail_cls = MAE_CLASS_GRPC;
    u2->fail_status = MAE_GRPC_UNAVAILABLE;
    fx_rule(&f, "Undo1", NULL, 0, 0);
    ASSERT_EQ_INT(fx_run(&f, NULL), 0);
    ASSERT_EQ_INT(f.status, MAE_RUN_FAILED);
    ASSERT_EQ_STR(x.r.seq,
                  "run_start ss:s1 as:s1#1 ar:s1#1:ok se:s1:succeeded ss:s2 as:s2#1 ar:s2#1:ok se:s2:succeeded"
                  " ss:s3 as:s3#1 ar:s3#1:grpc:INVALID_ARGUMENT se:s3:failed"
                  " cs:~s2 as:~s2#1 ar:~s2#1:grpc:UNAVAILABLE:1 as:~s2#2 ar:~s2#2:ok cr:~s2:succeeded"
                  " cs:~s1 as:~s1#1 ar:~s1#1:ok cr:~s1:succeeded run_end:failed");
    ASSERT_EQ_INT(x.r.start_before_send, x.r.starts);
    ASSERT_EQ_INT(x.r.bad_fields, 0);
    ASSERT_EQ_INT(x.step_end_status, MAE_GRPC_INVALID_ARGUMENT);
    ASSERT_EQ_INT(x.step_end_attempts, 1);
    ASSERT_CONTAINS(x.fail_err, "\"class\":\"grpc:INVALID_ARGUMENT\"");
    ASSERT_EQ_INT(x.comp_results, 2);
    fx_close(&f);
}

/* ---- logs ---- */
typedef struct { int lines, with_newline, errors; char all[8192]; } logrec;

static void on_log(mae_log_level lvl, const char *line, void *ud) {
    logrec *l = ud;
    l->lines++;
    if (strchr(line, '\n')) l->with_newline++;
    if (lvl == MAE_LOG_ERROR) l->errors++;
    strncat(l->all, line, sizeof l->all - strlen(l->all) - 2);
    strcat(l->all, "\n");
}

static const char one_step[] = "name: one\n" SVC "steps:\n  - {id: a, service: s, method: A}\n";

TEST(log_lines_reach_the_callback_and_the_stream_alike) {
    fx f;
    logrec l = {0};
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    init_with(&f, one_step, NULL, on_log, &l, mem);
    fx_rule(&f, "A", NULL, 0, 0);
    ASSERT_EQ_INT(fx_run(&f, NULL), 0);
    fx_close(&f);
    fclose(mem);
    ASSERT_CMP_INT(l.lines, >=, 3);
    ASSERT_EQ_INT(l.with_newline, 0);
    ASSERT_CONTAINS(l.all, "run started: workflow one");
    ASSERT_CONTAINS(l.all, "step=a attempt=1");
    ASSERT_CONTAINS(l.all, "run succeeded");
    /* the stream got the very same lines */
    ASSERT_EQ_STR(buf, l.all);
    free(buf);
}

TEST(engine_wide_log_lines_have_no_empty_field_separator) {
    static const char brk[] =
        "name: b\n"
        "services:\n  s:\n    type: grpc\n    endpoint: \"127.0.0.1:1\"\n    retry: {attempts: 1}\n"
        "    circuit_breaker: {failures: 1, open_for: 1h}\n"
        "steps:\n  - {id: a, service: s, method: A}\n";
    fx f;
    logrec l = {0};
    init_with(&f, brk, NULL, on_log, &l, NULL);
    fx_rule(&f, "A", NULL, 0, -1);
    ASSERT_EQ_INT(fx_run(&f, NULL), 0);
    ASSERT_NOT_NULL(f.summary);   /* it failed */
    fx_close(&f);
    /* "<ts>Z warn  service s: circuit breaker open ...": level, two blanks (padded), message */
    const char *w = strstr(l.all, "Z warn  service s: circuit breaker open for 3600000ms\n");
    if (!w) printf("%s", l.all);
    ASSERT_NOT_NULL(w);
    ASSERT_NULL(strstr(l.all, "warn : "));
    /* a run's line keeps its fields and their separator */
    ASSERT_CONTAINS(l.all, "Z error run=");
    ASSERT_CONTAINS(l.all, " step=a attempt=1 ");
}

TEST(log_callback_alone_writes_nothing_to_stderr) {
    fflush(stderr);
    int saved = dup(2);
    char *path = th_write_temp("", 0, ".err");
    FILE *tmp = fopen(path, "w");
    dup2(fileno(tmp), 2);
    fx f;
    logrec l = {0};
    init_with(&f, one_step, NULL, on_log, &l, NULL);
    fx_rule(&f, "A", NULL, 0, 0);
    ASSERT_EQ_INT(fx_run(&f, NULL), 0);
    fx_close(&f);
    fflush(stderr);
    dup2(saved, 2);
    fclose(tmp);
    size_t n = 0;
    char *err = th_read_file(path, &n);
    unlink(path);
    ASSERT_CMP_INT(l.lines, >=, 3);
    ASSERT_EQ_INT(n, 0);
    free(err);
    free(path);
}

/* ---- input errors ---- */
typedef struct { int n; char msgs[1024]; } diagrec;

static void on_diag(const mae_diagnostic *d, void *ud) {
    diagrec *r = ud;
    char line[300];
    if (d->line) snprintf(line, sizeof line, "%s:%d:%d: %s|", d->file, d->line, d->col, d->message);
    else snprintf(line, sizeof line, "%s: %s|", d->file, d->message);
    strncat(r->msgs, line, sizeof r->msgs - strlen(r->msgs) - 1);
    r->n++;
}

static int never_cb_called;
static void never_cb(mae_run *run, const mae_run_result *res, void *ud) { never_cb_called++; }

TEST(input_errors_are_handed_back_each_one_and_nothing_runs) {
    static const char wf[] =
        "name: in\ninput: {image: {type: string, required: true}, n: {type: integer}}\n" SVC
        "steps:\n  - {id: a, service: s, method: A}\n";
    fx f;
    logrec l = {0};
    init_with(&f, wf, NULL, on_log, &l, NULL);
    mae_run_opts ro = {0};
    diagrec d = {0};
    ro.on_input_error = on_diag;
    ro.input_ud = &d;
    mae_run *run = NULL;
    ASSERT_EQ_INT(mae_run_start(f.eng, f.wf, "{\"n\":\"x\"}", &ro, never_cb, NULL, &run), MAE_EINVAL);
    ASSERT_EQ_INT(d.n, 2);
    ASSERT_CONTAINS(d.msgs, "input: input.image: required|");
    ASSERT_CONTAINS(d.msgs, "input: input.n: expected integer, got string|");
    memset(&d, 0, sizeof d);
    ASSERT_EQ_INT(mae_run_start(f.eng, f.wf, "{nope", &ro, never_cb, NULL, &run), MAE_EPARSE);
    ASSERT_EQ_INT(d.n, 1);
    ASSERT_CONTAINS(d.msgs, "not valid JSON");
    memset(&d, 0, sizeof d);
    ASSERT_EQ_INT(mae_run_start(f.eng, f.wf, "[1]", &ro, never_cb, NULL, &run), MAE_EINVAL);
    ASSERT_EQ_INT(d.n, 1);
    ASSERT_CONTAINS(d.msgs, "must be a JSON object");
    /* handed back: not also logged */
    ASSERT_EQ_INT(l.errors, 0);
    /* without a callback they go to the log */
    ASSERT_EQ_INT(mae_run_start(f.eng, f.wf, "{}", NULL, never_cb, NULL, &run), MAE_EINVAL);
    ASSERT_EQ_INT(l.errors, 1);
    ASSERT_CONTAINS(l.all, "invalid input: input.image: required");
    uv_run(&f.loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(never_cb_called, 0);
    ASSERT_EQ_INT(mae_scripted_count(f.tr, MAE_SCRIPT_CALL, NULL), 0);
    fx_close(&f);
}

/* ---- loading ---- */
TEST(load_from_memory_returns_positioned_diagnostics_to_a_callback_and_a_stream) {
    static const char bad[] =
        "name: mem\n"
        "services:\n"
        "  s:\n"
        "    type: grpc\n"
        "    endpoint: \"nohost\"\n"
        "    colour: blue\n"
        "steps:\n"
        "  - {id: a, service: s, method: A}\n";
    diagrec d = {0};
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    mae_load_opts lo = {.text = bad, .len = strlen(bad), .diag_out = mem, .on_diag = on_diag, .diag_ud = &d};
    mae_workflow *wf = (mae_workflow *)&d;   /* must come back NULL */
    ASSERT_EQ_INT(mae_workflow_load_opts("mem.yaml", &lo, &wf), MAE_EPARSE);
    fclose(mem);
    ASSERT_NULL(wf);
    ASSERT_EQ_INT(d.n, 2);
    ASSERT_CONTAINS(d.msgs, "mem.yaml:5:15: invalid grpc endpoint 'nohost' (expected host:port or grpcs://host:port)|");
    ASSERT_CONTAINS(d.msgs, "mem.yaml:6:5: ");
    ASSERT_CONTAINS(d.msgs, "colour");
    ASSERT_CONTAINS(buf, "mem.yaml:5:15: error: invalid grpc endpoint 'nohost'");
    free(buf);

    /* the same text with the problems fixed loads; the stream form too */
    static const char good[] = "name: mem-ok\n" SVC "steps:\n  - {id: a, service: s, method: A}\n";
    ASSERT_EQ_INT(mae_workflow_load_mem("good.yaml", good, strlen(good), &wf, stderr), 0);
    ASSERT_EQ_STR(mae_workflow_name(wf), "mem-ok");
    mae_workflow_free(wf);
    /* not NUL-terminated: only len bytes are read */
    char cut[sizeof good + 8];
    memcpy(cut, good, strlen(good));
    memcpy(cut + strlen(good), "\x01\x02garbage", 8);
    ASSERT_EQ_INT(mae_workflow_load_mem("cut.yaml", cut, strlen(good), &wf, stderr), 0);
    mae_workflow_free(wf);
    memset(&d, 0, sizeof d);
    lo = (mae_load_opts){.on_diag = on_diag, .diag_ud = &d};
    ASSERT_EQ_INT(mae_workflow_load_opts("/nonexistent/x.yaml", &lo, &wf), MAE_EIO);
    ASSERT_EQ_INT(d.n, 1);
    ASSERT_CONTAINS(d.msgs, "/nonexistent/x.yaml: cannot open");
}

/* ---- endpoint overrides ---- */
static const char two_svcs[] =
    "name: ep\n"
    "services:\n"
    "  web: {type: http, endpoint: \"http://127.0.0.1:1\"}\n"
    "  rpc: {type: grpc, endpoint: \"127.0.0.1:1\"}\n"
    "steps:\n"
    "  - {id: a, service: web, method: \"GET /x\"}\n"
    "  - {id: b, service: rpc, method: B}\n";

/* The loader's message for `endpoint: ep` on a service of the given type. */
static void loader_says(const char *type, const char *ep, char *out, size_t n) {
    char yaml[512];
    snprintf(yaml, sizeof yaml, "name: l\nservices:\n  x: {type: %s, endpoint: \"%s\"}\nsteps:\n  - {id: a, service: x, method: %s}\n",
             type, ep, strcmp(type, "http") ? "A" : "\"GET /a\"");
    diagrec d = {0};
    mae_load_opts lo = {.text = yaml, .len = strlen(yaml), .on_diag = on_diag, .diag_ud = &d};
    mae_workflow *wf;
    ASSERT_EQ_INT(mae_workflow_load_opts("l.yaml", &lo, &wf), MAE_EPARSE);
    ASSERT_EQ_INT(d.n, 1);
    /* "l.yaml:3:L: MESSAGE|" → MESSAGE */
    char *m = strstr(d.msgs, ": ");
    ASSERT_NOT_NULL(m);
    snprintf(out, n, "%s", m + 2);
    out[strlen(out) - 1] = 0;
}

TEST(endpoint_override_accepts_what_the_loader_accepts_and_rejects_the_rest_alike) {
    mae_workflow *wf;
    ASSERT_EQ_INT(mae_workflow_load_mem("ep.yaml", two_svcs, strlen(two_svcs), &wf, stderr), 0);
    char err[256];
    ASSERT_EQ_INT(mae_workflow_set_endpoint(wf, "web", "https://api.example.com:8443/base", err, sizeof err), 0);
    ASSERT_EQ_STR(err, "");
    ASSERT_EQ_INT(mae_workflow_set_endpoint(wf, "rpc", "localhost:50051", err, sizeof err), 0);
    const mae_service *s = mae__workflow_service(wf, "web");
    ASSERT_EQ_STR(s->endpoint, "https://api.example.com:8443/base");
    ASSERT_EQ_STR(mae__workflow_service(wf, "rpc")->endpoint, "localhost:50051");

    static const struct { const char *svc, *type, *ep; } bad[] = {
        {"web", "http", "127.0.0.1:9"},        {"web", "http", "http://"},
        {"web", "http", "ftp://h:1"},          {"web", "http", "http://{{ .input.h }}:1"},
        {"rpc", "grpc", "http://h:1"},         {"rpc", "grpc", "h:99999"},
        {"rpc", "grpc", "nohost"},             {"rpc", "grpc", ":80"},
        {"web", "http", "http://exa mple.com"}, {"web", "http", "http://h:notaport"},
        {"web", "http", "http://h:99999"},     {"web", "http", "http://h?x=1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char want[256];
        loader_says(bad[i].type, bad[i].ep, want, sizeof want);
        ASSERT_EQ_INT(mae_workflow_set_endpoint(wf, bad[i].svc, bad[i].ep, err, sizeof err), MAE_EINVAL);
        ASSERT_EQ_STR(err, want);
    }
    /* a rejected override left the last good one */
    ASSERT_EQ_STR(mae__workflow_service(wf, "rpc")->endpoint, "localhost:50051");
    ASSERT_EQ_INT(mae_workflow_set_endpoint(wf, "nosuch", "h:1", err, sizeof err), MAE_ENOTFOUND);
    ASSERT_EQ_STR(err, "the workflow has no service 'nosuch'");
    ASSERT_EQ_INT(mae_workflow_set_endpoint(wf, "rpc", NULL, NULL, 0), MAE_EINVAL);
    /* small buffers are cut, not overrun */
    char tiny[8];
    ASSERT_EQ_INT(mae_workflow_set_endpoint(wf, "rpc", "nohost", tiny, sizeof tiny), MAE_EINVAL);
    ASSERT_EQ_INT(strlen(tiny), 7);
    mae_workflow_free(wf);
}

/* The engine's done: count the compensations the transport saw, then close the transport
 * (a borrowed one outlives the engine). */
static size_t undo_calls;
static void eng_closed_then_tr(void *ud) {
    fx *f = ud;
    f->eng_closed++;
    undo_calls = mae_scripted_count(f->tr, MAE_SCRIPT_CALL, "U");
    mae_scripted_close(f->tr, fx_tr_closed, f);
}

TEST(engine_close_interrupts_running_runs_waits_for_compensation_and_frees_unfreed_runs) {
    static const char wf[] = "name: cl\n" SVC "steps:\n  - {id: a, service: s, method: A, compensate: {method: U}}\n"
                             "  - {id: h, service: s, method: H}\n";
    fx f;
    evrec r;
    init_with(&f, wf, &r, NULL, NULL, NULL);
    mae_script_rule *h = fx_rule(&f, "H", NULL, 0, 0);
    h->hang = true;
    fx_rule(&f, "A", NULL, 0, 0);
    fx_rule(&f, "U", NULL, 0, 0);
    mae_run *run = NULL;
    ASSERT_EQ_INT(mae_run_start(f.eng, f.wf, NULL, NULL, fx_on_done, &f, &run), 0);
    /* a second run nobody frees: the engine does at close */
    mae_run *run2 = NULL;
    ASSERT_EQ_INT(mae_run_start(f.eng, f.wf, NULL, NULL, never_cb, NULL, &run2), 0);
    /* let both reach the hanging step, then close with both in flight */
    while (mae_scripted_count(f.tr, MAE_SCRIPT_CALL, "H") < 2) uv_run(&f.loop, UV_RUN_ONCE);
    ASSERT_EQ_INT(mae_engine_close(f.eng, eng_closed_then_tr, &f), 0);
    ASSERT_EQ_INT(mae_engine_close(f.eng, NULL, NULL), MAE_ESTATE);
    ASSERT_EQ_INT(f.eng_closed, 0);   /* never from inside the call */
    ASSERT_EQ_INT(mae_run_start(f.eng, f.wf, NULL, NULL, never_cb, NULL, &run2), MAE_ESTATE);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(f.done_called, 1);
    ASSERT_EQ_INT(f.status, MAE_RUN_INTERRUPTED);
    ASSERT_EQ_INT(never_cb_called, 1);
    ASSERT_EQ_INT(f.eng_closed, 1);
    ASSERT_EQ_INT(f.tr_closed, 1);
    ASSERT_EQ_INT(undo_calls, 2);   /* both runs compensated step a before the engine went */
    ASSERT_CONTAINS(r.seq, "run_end:interrupted");
    ASSERT_EQ_INT(uv_loop_close(&f.loop), 0);
    mae_workflow_free(f.wf);
    cJSON_Delete(f.report);
    cJSON_Delete(f.output);
    free(f.summary);
}
