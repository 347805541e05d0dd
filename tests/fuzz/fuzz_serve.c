/* Fuzz target: arbitrary requests into `maestro serve`'s router and body handling
 * (serve/serve.c), without sockets: the input is split into a method, a path with its query,
 * headers and a body, handed to mae__serve_handle, and the answer goes to a responder that
 * checks it was called exactly once per exchange with a sane status. The first byte picks
 * whether runs may start: when they may, they are cancelled at once and the loop turned until
 * none is going, so the input check, the run table, idempotency keys and waiters are all
 * exercised. One server lives across inputs (its run table is bounded by keep_finished).
 *
 * Input: FLAGS METHOD ' ' TARGET '\n' (NAME ':' VALUE '\n')* '\n' BODY */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "serve/serve.h"

static const char WF[] =
    "name: echo\n"
    "input:\n"
    "  n: {type: integer, required: true}\n"
    "  s: {type: string, default: x}\n"
    "services:\n"
    "  svc: {type: http, endpoint: \"http://127.0.0.1:1\"}\n"
    "steps:\n"
    "  - id: a\n"
    "    service: svc\n"
    "    method: POST /a\n"
    "    input: {n: \"{{ .input.n }}\"}\n";

static uv_loop_t loop;
static mae_serve *srv;
static int answers;

typedef struct fake_x {
    int answered;
} fake_x;

static int responder(mae_h1_exchange *x, int status, const char *ct, const mae_header_kv *h, size_t nh,
                     const char *body, size_t len) {
    fake_x *f = (fake_x *)x;
    if (f->answered++) abort();                  /* one answer per exchange */
    if (status < 200 || status > 599) abort();
    if (len && !body) abort();
    answers++;
    free(f);
    return 0;
}

static void init(void) {
    if (uv_loop_init(&loop) != 0) abort();
    mae_serve_opts o;
    mae__serve_opts_init(&o);
    o.keep_finished = 50;
    o.log_level = MAE_LOG_OFF;
    mae_engine_opts eo;
    mae_engine_opts_init(&eo);
    eo.log_level = MAE_LOG_OFF;
    if (mae__serve_new(&loop, &o, &eo, &srv) != 0) abort();
    mae__serve_set_responder(srv, responder);
    mae_workflow *wf;
    if (mae_workflow_load_mem("wf.yaml", WF, strlen(WF), &wf, NULL) != 0) abort();
    if (mae__serve_set_workflow(srv, "wf.yaml", wf, "d") != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!srv) init();
    if (size < 1) return 0;
    int allow_runs = data[0] & 1;
    char *in = malloc(size);
    memcpy(in, data + 1, size - 1);
    in[size - 1] = 0;
    size_t n = size - 1;
    /* request line */
    char *nl = memchr(in, '\n', n);
    char *line_end = nl ? nl : in + n;
    char method[16] = "GET", target[512] = "/";
    char *sp = memchr(in, ' ', (size_t)(line_end - in));
    if (sp) {
        snprintf(method, sizeof method, "%.*s", (int)(sp - in), in);
        snprintf(target, sizeof target, "%.*s", (int)(line_end - sp - 1), sp + 1);
    }
    char *q = strchr(target, '?');
    const char *query = "";
    if (q) {
        *q = 0;
        query = q + 1;
    }
    /* headers until an empty line */
    mae_header_kv hdrs[16];
    size_t nh = 0;
    char *p = nl ? nl + 1 : in + n;
    while (p < in + n && *p != '\n' && nh < 16) {
        char *e = memchr(p, '\n', (size_t)(in + n - p));
        if (!e) e = in + n;
        *e = 0;
        char *colon = strchr(p, ':');
        if (colon) {
            *colon = 0;
            hdrs[nh].name = p;
            hdrs[nh].value = colon + 1 + (colon[1] == ' ');
            nh++;
        }
        p = e + 1;
    }
    if (p < in + n && *p == '\n') p++;
    const char *body = p < in + n ? p : "";
    size_t blen = p < in + n ? (size_t)(in + n - p) : 0;
    mae_h1_request req = {.method = method, .path = target, .query = query, .headers = hdrs, .n_headers = nh,
                          .body = body, .body_len = blen, .peer = "fuzz", .conn_id = 1};
    /* max_runs is read per request: 0 refuses every run (429) */
    mae__serve_set_max_runs(srv, allow_runs ? 8 : 0);
    fake_x *x = calloc(1, sizeof *x);
    int before = answers;
    mae__serve_handle(srv, (mae_h1_exchange *)x, &req);
    if (allow_runs) {
        mae__serve_cancel_all(srv);
        while (mae__serve_running(srv) > 0) uv_run(&loop, UV_RUN_ONCE);
    }
    /* every request is answered by now: at once, or when its (cancelled) run ended */
    if (answers != before + 1) abort();
    free(in);
    return 0;
}
