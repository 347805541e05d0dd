/* Unit tests of the workflow loader: defaults and overrides resolved at load, template-tree
 * typing, HTTP method parsing, foreach, durations and sizes, input checking, the YAML layer's
 * caps (in-process, so ASan watches them) and graph output. */
#include <math.h>

#include "harness.h"
#include "maestro/maestro.h"
#include "workflow/model.h"
#include "workflow/yaml.h"

static mae_workflow *load_ok(const char *text) {
    mae_diags d;
    mae__diags_init(&d, "t.yaml");
    mae_workflow *wf = NULL;
    int rc = mae__workflow_load_buf("t.yaml", text, strlen(text), &wf, &d);
    if (rc != 0) {
        mae__diags_sort(&d);
        mae__diags_print(&d, stderr);
        th_fail(__FILE__, __LINE__, "load failed: %d", rc);
    }
    ASSERT_EQ_INT(d.n, 0);
    mae__diags_free(&d);
    return wf;
}

/* Loads text that must fail; returns the sorted diagnostics as "L:C: msg\n" lines. */
static char *load_err(const char *text, size_t len, int want_rc) {
    mae_diags d;
    mae__diags_init(&d, "t.yaml");
    mae_workflow *wf = NULL;
    int rc = mae__workflow_load_buf("t.yaml", text, len, &wf, &d);
    ASSERT_EQ_INT(rc, want_rc);
    ASSERT_NULL(wf);
    mae__diags_sort(&d);
    size_t cap = 1 << 16, n = 0;
    char *out = malloc(cap);
    out[0] = 0;
    for (size_t i = 0; i < d.n && n < cap - 1024; i++)
        n += (size_t)snprintf(out + n, cap - n, "%d:%d: %s\n", d.items[i].line, d.items[i].col, d.items[i].message);
    mae__diags_free(&d);
    return out;
}

static const char svc_wf[] =
    "name: t\n"
    "compensation_timeout: 2m\n"
    "services:\n"
    "  plain: {type: http, endpoint: \"http://127.0.0.1:3000\"}\n"
    "  rpc:\n"
    "    type: grpc\n"
    "    endpoint: 127.0.0.1:50051\n"
    "    timeout: 1.5s\n"
    "    retry: {attempts: 4, backoff: linear, initial: 50ms, max: 1s, multiplier: 3, jitter: none,\n"
    "            on: [connect, \"http:503\", \"grpc:UNAVAILABLE\"]}\n"
    "    circuit_breaker: {failures: 2, open_for: 1m, half_open_probes: 3, probe: Health}\n"
    "    pool: {connections: 9}\n"
    "    max_in_flight: 7\n"
    "    max_response: 1MiB\n"
    "    headers: {Authorization: \"Bearer {{ env \\\"TOKEN\\\" }}\", X-Plain: fixed}\n"
    "steps:\n"
    "  - id: a\n"
    "    service: rpc\n"
    "    method: Create\n"
    "    output: made\n"
    "    retry: {attempts: 2}\n"
    "    timeout: 250ms\n"
    "    compensate:\n"
    "      method: Delete\n"
    "      input: {id: \"{{ .made.id }}\"}\n"
    "      retry: {initial: 1s}\n"
    "  - id: b\n"
    "    service: plain\n"
    "    method: SendTemplate\n"
    "    continue_on_error: true\n"
    "    compensate: {service: rpc, method: Undo, timeout: 3s}\n";

/* The target, described as written (no scope), says want. */
static bool target_says(const mae_target *t, const char *want) {
    char *d = NULL;
    mae_eval_err err;
    bool ok = t && mae_target_describe(t, NULL, &d, &err) == 0 && strcmp(d, want) == 0;
    free(d);
    return ok;
}

TEST(service_defaults_and_settings) {
    mae_workflow *wf = load_ok(svc_wf);
    ASSERT_EQ_STR(wf->name, "t");
    ASSERT_EQ_INT(wf->timeout_ms, 0);
    ASSERT_EQ_INT(wf->compensation_timeout_ms, 120000);
    ASSERT_EQ_INT(wf->n_services, 2);
    const mae_service *p = mae__workflow_service(wf, "plain");
    ASSERT_NOT_NULL(p);
    ASSERT_EQ_STR(p->type->name, "http");
    ASSERT_EQ_INT(p->timeout_ms, 30000);
    ASSERT_EQ_INT(p->retry.attempts, 3);
    ASSERT_EQ_INT(p->retry.backoff, MAE_BACKOFF_EXPONENTIAL);
    ASSERT_EQ_INT(p->retry.initial_ms, 200);
    ASSERT_EQ_INT(p->retry.max_ms, 10000);
    ASSERT_EQ_DBL(p->retry.multiplier, 2, 0);
    ASSERT_TRUE(p->retry.jitter);
    ASSERT_NULL(p->retry.on);
    ASSERT_EQ_INT(p->breaker.failures, 5);
    ASSERT_EQ_INT(p->breaker.open_for_ms, 30000);
    ASSERT_EQ_INT(p->breaker.half_open_probes, 1);
    ASSERT_NULL(p->breaker.probe);
    ASSERT_EQ_INT(p->pool_connections, 5);
    ASSERT_EQ_INT(p->max_in_flight, 0);
    ASSERT_EQ_INT(p->max_response, 16u << 20);
    ASSERT_EQ_INT(p->n_headers, 0);
    const mae_service *r = mae__workflow_service(wf, "rpc");
    ASSERT_EQ_STR(r->type->name, "grpc");
    ASSERT_EQ_STR(r->endpoint, "127.0.0.1:50051");
    ASSERT_EQ_INT(r->timeout_ms, 1500);
    ASSERT_EQ_INT(r->retry.attempts, 4);
    ASSERT_EQ_INT(r->retry.backoff, MAE_BACKOFF_LINEAR);
    ASSERT_EQ_INT(r->retry.initial_ms, 50);
    ASSERT_EQ_INT(r->retry.max_ms, 1000);
    ASSERT_EQ_DBL(r->retry.multiplier, 3, 0);
    ASSERT_FALSE(r->retry.jitter);
    ASSERT_EQ_INT(r->retry.n_on, 3);
    ASSERT_EQ_STR(r->retry.on[1], "http:503");
    ASSERT_EQ_STR(r->retry.on[2], "grpc:UNAVAILABLE");
    ASSERT_EQ_INT(r->breaker.failures, 2);
    ASSERT_EQ_INT(r->breaker.open_for_ms, 60000);
    ASSERT_EQ_INT(r->breaker.half_open_probes, 3);
    ASSERT_EQ_STR(r->breaker.probe, "Health");
    ASSERT_EQ_INT(r->pool_connections, 9);
    ASSERT_EQ_INT(r->max_in_flight, 7);
    ASSERT_EQ_INT(r->max_response, 1u << 20);
    ASSERT_EQ_INT(r->n_headers, 2);
    ASSERT_EQ_STR(r->headers[0].name, "Authorization");
    ASSERT_EQ_STR(mae__tmpl_source(r->headers[0].value), "Bearer {{ env \"TOKEN\" }}");
    ASSERT_EQ_STR(mae__tmpl_source(r->headers[1].value), "fixed");
    mae_workflow_free(wf);
}

TEST(step_and_compensate_policies_merge_over_service) {
    mae_workflow *wf = load_ok(svc_wf);
    const mae_service *rpc = mae__workflow_service(wf, "rpc"), *plain = mae__workflow_service(wf, "plain");
    ASSERT_EQ_INT(wf->n_steps, 2);
    const mae_step *a = &wf->steps[0];
    ASSERT_EQ_INT(a->kind, MAE_STEP_CALL);
    ASSERT_EQ_INT(a->pos.line, 17);
    ASSERT_EQ_INT(a->pos.col, 5);
    ASSERT_TRUE(a->service == rpc);
    ASSERT_EQ_STR(a->method, "Create");
    ASSERT_TRUE(a->target->type == rpc->type);
    ASSERT_EQ_STR(a->target->text, "Create");
    ASSERT_EQ_STR(a->output, "made");
    ASSERT_EQ_INT(a->timeout_ms, 250);
    /* attempts from the step, everything else from the service */
    ASSERT_EQ_INT(a->retry.attempts, 2);
    ASSERT_EQ_INT(a->retry.backoff, MAE_BACKOFF_LINEAR);
    ASSERT_EQ_INT(a->retry.initial_ms, 50);
    ASSERT_EQ_INT(a->retry.n_on, 3);
    ASSERT_FALSE(a->continue_on_error);
    /* compensate: the step's service, its policy with attempts 5, then its own keys */
    ASSERT_NOT_NULL(a->compensate);
    ASSERT_TRUE(a->compensate->service == rpc);
    ASSERT_EQ_STR(a->compensate->method, "Delete");
    ASSERT_EQ_INT(a->compensate->retry.attempts, 5);
    ASSERT_EQ_INT(a->compensate->retry.initial_ms, 1000);
    ASSERT_EQ_INT(a->compensate->retry.backoff, MAE_BACKOFF_LINEAR);
    ASSERT_EQ_INT(a->compensate->timeout_ms, 0);
    ASSERT_EQ_INT(a->compensate->input->kind, MAE_TV_OBJECT);
    ASSERT_EQ_STR(a->compensate->input->items[0].key, "id");
    ASSERT_EQ_INT(a->compensate->input->items[0].kind, MAE_TV_TEMPLATE);

    const mae_step *b = &wf->steps[1];
    ASSERT_TRUE(b->service == plain);
    ASSERT_EQ_INT(b->timeout_ms, 0);
    ASSERT_EQ_INT(b->retry.attempts, 3);
    ASSERT_TRUE(b->continue_on_error);
    ASSERT_TRUE(b->target->type == plain->type);
    ASSERT_TRUE(target_says(b->target, "POST /api/sendtemplate"));
    ASSERT_TRUE(b->compensate->service == rpc);
    ASSERT_EQ_INT(b->compensate->retry.attempts, 5);
    ASSERT_EQ_INT(b->compensate->retry.initial_ms, 50);
    ASSERT_EQ_INT(b->compensate->timeout_ms, 3000);
    ASSERT_NULL(b->compensate->input);
    mae_workflow_free(wf);
}

TEST(template_tree_typing) {
    mae_workflow *wf = load_ok(
        "name: t\n"
        "services: {api: {type: http, endpoint: \"http://127.0.0.1:1\"}}\n"
        "steps:\n"
        "  - id: a\n"
        "    service: api\n"
        "    method: \"GET /companies/{{ .input.domain }}\"\n"
        "    input:\n"
        "      n: 3\n"
        "      s: \"3\"\n"
        "      f: -1.5e2\n"
        "      hex: 0x1F\n"
        "      yes: true\n"
        "      word: yes\n"
        "      nul: ~\n"
        "      empty:\n"
        "      single: 'null'\n"
        "      t: \"{{ .input.x }}\"\n"
        "      mixed: \"id-{{ .input.x }}\"\n"
        "      list: [1, two, {k: v}]\n"
        "output: {done: true}\n");
    const mae_step *a = &wf->steps[0];
    ASSERT_TRUE(target_says(a->target, "GET /companies/{{ .input.domain }}"));
    const mae_tval *in = a->input;
    ASSERT_EQ_INT(in->kind, MAE_TV_OBJECT);
    ASSERT_EQ_INT(in->n, 12);
    const mae_tval *v = in->items;
    ASSERT_EQ_STR(v[0].key, "n");
    ASSERT_EQ_INT(v[0].kind, MAE_TV_NUMBER);
    ASSERT_EQ_DBL(v[0].num, 3, 0);
    ASSERT_EQ_STR(v[0].str, "3");
    ASSERT_EQ_INT(v[0].pos.line, 8);
    ASSERT_EQ_INT(v[0].pos.col, 10);
    ASSERT_EQ_INT(v[1].kind, MAE_TV_STRING);
    ASSERT_EQ_STR(v[1].str, "3");
    ASSERT_EQ_INT(v[2].kind, MAE_TV_NUMBER);
    ASSERT_EQ_DBL(v[2].num, -150, 0);
    ASSERT_EQ_DBL(v[3].num, 31, 0);
    ASSERT_EQ_INT(v[4].kind, MAE_TV_BOOL);
    ASSERT_TRUE(v[4].b);
    /* YAML 1.2 core schema: "yes" is a string. */
    ASSERT_EQ_INT(v[5].kind, MAE_TV_STRING);
    ASSERT_EQ_INT(v[6].kind, MAE_TV_NULL);
    ASSERT_EQ_INT(v[7].kind, MAE_TV_NULL);
    ASSERT_EQ_INT(v[8].kind, MAE_TV_STRING);
    ASSERT_EQ_STR(v[8].str, "null");
    ASSERT_EQ_INT(v[9].kind, MAE_TV_TEMPLATE);
    ASSERT_EQ_STR(mae__tmpl_source(v[9].tmpl), "{{ .input.x }}");
    ASSERT_EQ_INT(v[10].kind, MAE_TV_TEMPLATE);
    ASSERT_EQ_INT(v[11].kind, MAE_TV_ARRAY);
    ASSERT_EQ_INT(v[11].n, 3);
    ASSERT_EQ_INT(v[11].items[1].kind, MAE_TV_STRING);
    ASSERT_EQ_INT(v[11].items[2].kind, MAE_TV_OBJECT);
    ASSERT_EQ_STR(v[11].items[2].items[0].key, "k");
    ASSERT_EQ_INT(wf->output->kind, MAE_TV_OBJECT);
    ASSERT_EQ_INT(wf->output->items[0].kind, MAE_TV_BOOL);
    mae_workflow_free(wf);
}

TEST(foreach_parallel_sequence_model) {
    mae_workflow *wf = load_ok(
        "name: t\n"
        "input:\n"
        "  items: {type: array, required: true}\n"
        "services: {tx: {type: grpc, endpoint: \"127.0.0.1:50052\"}}\n"
        "steps:\n"
        "  - id: all\n"
        "    foreach: \"{{ .input.items }}\"\n"
        "    as: res\n"
        "    concurrency: 10\n"
        "    do:\n"
        "      service: tx\n"
        "      method: Transcode\n"
        "      input: {r: \"{{ .res }}\", i: \"{{ .res_index }}\"}\n"
        "      output: video\n"
        "      compensate: {method: DeleteFile, input: {path: \"{{ .video.path }}\"}}\n"
        "    output: videos\n"
        "  - parallel:\n"
        "      - sequence:\n"
        "          - {id: s1, service: tx, method: One, output: one}\n"
        "          - {id: s2, service: tx, method: Two, input: {x: \"{{ .one }}\"}}\n"
        "      - id: each2\n"
        "        foreach: \"{{ .videos }}\"\n"
        "        as: v\n"
        "        when: \"{{ .steps.all.status == 'succeeded' }}\"\n"
        "        do:\n"
        "          - {id: inner, service: tx, method: In, output: got}\n"
        "          - {id: inner2, service: tx, method: In2, input: {g: \"{{ .got }}\"}}\n"
        "output: {videos: \"{{ .videos }}\", one: \"{{ .one }}\"}\n");
    ASSERT_EQ_INT(wf->n_steps, 2);
    const mae_step *fe = &wf->steps[0];
    ASSERT_EQ_INT(fe->kind, MAE_STEP_FOREACH);
    ASSERT_EQ_STR(fe->as, "res");
    ASSERT_EQ_INT(fe->concurrency, 10);
    ASSERT_EQ_STR(fe->output, "videos");
    ASSERT_EQ_INT(fe->n_children, 1);
    ASSERT_TRUE(fe->body == &fe->children[0]);
    ASSERT_EQ_INT(fe->body->kind, MAE_STEP_CALL);
    ASSERT_EQ_STR(fe->body->id, "all");           /* a body without id takes the foreach's */
    ASSERT_EQ_STR(fe->body->output, "video");
    ASSERT_NOT_NULL(fe->body->compensate);
    const mae_step *par = &wf->steps[1];
    ASSERT_EQ_INT(par->kind, MAE_STEP_PARALLEL);
    ASSERT_NULL(par->id);
    ASSERT_EQ_INT(par->n_children, 2);
    ASSERT_EQ_INT(par->children[0].kind, MAE_STEP_SEQUENCE);
    ASSERT_EQ_INT(par->children[0].n_children, 2);
    const mae_step *fe2 = &par->children[1];
    ASSERT_EQ_INT(fe2->kind, MAE_STEP_FOREACH);
    ASSERT_NOT_NULL(fe2->when);
    ASSERT_EQ_INT(fe2->concurrency, 0);
    ASSERT_EQ_INT(fe2->body->kind, MAE_STEP_SEQUENCE);
    ASSERT_EQ_INT(fe2->body->n_children, 2);
    ASSERT_EQ_INT(wf->n_inputs, 1);
    ASSERT_EQ_INT(wf->inputs[0].type, MAE_IN_ARRAY);
    ASSERT_TRUE(wf->inputs[0].required);
    mae_workflow_free(wf);
}

TEST(reference_errors_positions) {
    const char text[] =
        "name: t\n"
        "services: {tx: {type: grpc, endpoint: \"127.0.0.1:50052\"}}\n"
        "steps:\n"
        "  - parallel:\n"
        "      - {id: a, service: tx, method: A, output: x}\n"
        "      - {id: b, service: tx, method: B, input: {v: \"{{ .x }}\"}}\n"
        "  - id: c\n"
        "    service: tx\n"
        "    method: C\n"
        "    input:\n"
        "      ok: \"{{ .x }} {{ .steps.a.output }} {{ .workflow.id }} {{ .input.anything }}\"\n"
        "      bad: \"{{ .steps.c.status }}\"\n"
        "      missing_ok: \"{{ .nope | default 1 }}\"\n";
    char *got = load_err(text, sizeof text - 1, MAE_EPARSE);
    ASSERT_EQ_STR(got,
        "6:56: '.x' is set by step 'a', which does not run before this point\n"
        "12:16: '.steps.c' does not name an earlier step\n");
    free(got);
}

TEST(durations) {
    uint64_t ms = 0;
    ASSERT_EQ_INT(mae__parse_duration_ms("250ms", &ms), 0);
    ASSERT_EQ_INT(ms, 250);
    ASSERT_EQ_INT(mae__parse_duration_ms("1h30m", &ms), 0);
    ASSERT_EQ_INT(ms, 5400000);
    ASSERT_EQ_INT(mae__parse_duration_ms("1.5s", &ms), 0);
    ASSERT_EQ_INT(ms, 1500);
    ASSERT_EQ_INT(mae__parse_duration_ms("2m3s4ms", &ms), 0);
    ASSERT_EQ_INT(ms, 123004);
    ASSERT_EQ_INT(mae__parse_duration_ms("0", &ms), 0);
    ASSERT_EQ_INT(ms, 0);
    ASSERT_EQ_INT(mae__parse_duration_ms("500us", &ms), 0);
    ASSERT_EQ_INT(ms, 1);                          /* never rounds a positive wait to 0 */
    ASSERT_EQ_INT(mae__parse_duration_ms(".5h", &ms), 0);
    ASSERT_EQ_INT(ms, 1800000);
    const char *bad[] = {"", "5", "1h30", "-1s", "s", "10d", "1.5.s", "1 s", "1e3s", "ms5", "99999999999h", NULL};
    for (int i = 0; bad[i]; i++) {
        ms = 77;
        if (mae__parse_duration_ms(bad[i], &ms) != MAE_EINVAL) th_fail(__FILE__, __LINE__, "accepted '%s'", bad[i]);
        ASSERT_EQ_INT(ms, 77);
    }
}

TEST(sizes) {
    uint64_t b = 0;
    ASSERT_EQ_INT(mae__parse_size("16MiB", &b), 0);
    ASSERT_EQ_INT(b, 16u << 20);
    ASSERT_EQ_INT(mae__parse_size("512KB", &b), 0);
    ASSERT_EQ_INT(b, 512000);
    ASSERT_EQ_INT(mae__parse_size("1024", &b), 0);
    ASSERT_EQ_INT(b, 1024);
    ASSERT_EQ_INT(mae__parse_size("1.5KiB", &b), 0);
    ASSERT_EQ_INT(b, 1536);
    ASSERT_EQ_INT(mae__parse_size("2GiB", &b), 0);
    ASSERT_EQ_INT(b, 2ull << 30);
    const char *bad[] = {"", "16 MB", "MiB", "-1", "1.3B", "16mib", "4TiB", "2000GiB", NULL};
    for (int i = 0; bad[i]; i++)
        if (mae__parse_size(bad[i], &b) != MAE_EINVAL) th_fail(__FILE__, __LINE__, "accepted '%s'", bad[i]);
}

static const char input_wf[] =
    "name: t\n"
    "input:\n"
    "  image: {type: string, required: true}\n"
    "  region: {type: string, default: \"eu-west-1\"}\n"
    "  count: {type: integer, default: 2}\n"
    "  ratio: {type: number}\n"
    "  flags: {type: object, default: {a: [1, x]}}\n"
    "  tags: {type: array}\n"
    "  on: {type: boolean}\n"
    "  any: {}\n"
    "services: {api: {type: http, endpoint: \"http://127.0.0.1:1\"}}\n"
    "steps:\n"
    "  - {id: a, service: api, method: \"POST /x\", input: {i: \"{{ .input.image }}\"}}\n";

TEST(input_check_types_required_defaults) {
    mae_workflow *wf = load_ok(input_wf);
    mae_diags d;
    mae__diags_init(&d, "input");
    cJSON *in = cJSON_Parse("{\"image\":\"nginx\",\"extra\":1,\"ratio\":0.5,\"any\":[1]}");
    ASSERT_EQ_INT(mae__input_check(wf, in, &d), 0);
    ASSERT_EQ_INT(d.n, 0);
    char *s = cJSON_PrintUnformatted(in);
    ASSERT_EQ_STR(s, "{\"image\":\"nginx\",\"extra\":1,\"ratio\":0.5,\"any\":[1],\"region\":\"eu-west-1\","
                     "\"count\":2,\"flags\":{\"a\":[1,\"x\"]}}");
    free(s);
    cJSON_Delete(in);

    in = cJSON_Parse("{\"region\":5,\"count\":1.5,\"tags\":{},\"on\":\"yes\",\"flags\":[]}");
    ASSERT_EQ_INT(mae__input_check(wf, in, &d), MAE_EINVAL);
    ASSERT_EQ_INT(d.n, 6);
    ASSERT_EQ_STR(d.items[0].message, "input.image: required");
    ASSERT_EQ_STR(d.items[1].message, "input.region: expected string, got number");
    ASSERT_EQ_STR(d.items[2].message, "input.count: expected integer, got 1.5");
    ASSERT_EQ_STR(d.items[3].message, "input.flags: expected object, got array");
    ASSERT_EQ_STR(d.items[4].message, "input.tags: expected array, got object");
    ASSERT_EQ_STR(d.items[5].message, "input.on: expected boolean, got string");
    cJSON_Delete(in);
    mae__diags_free(&d);

    mae__diags_init(&d, "input");
    in = cJSON_Parse("[1]");
    ASSERT_EQ_INT(mae__input_check(wf, in, &d), MAE_EINVAL);
    ASSERT_EQ_STR(d.items[0].message, "input: must be a JSON object, not array");
    cJSON_Delete(in);
    mae__diags_free(&d);
    mae_workflow_free(wf);
}

TEST(yaml_tree_positions_styles_aliases) {
    mae_arena a;
    mae__arena_init(&a, 0);
    mae_diags d;
    mae__diags_init(&d, "y");
    const char text[] = "k: &v {x: 'q', y: plain}\nl:\n  - *v\n  - *v\n  - |\n    block\n";
    mae_ynode *root = NULL;
    ASSERT_EQ_INT(mae__yaml_parse(&a, text, sizeof text - 1, &root, &d), 0);
    ASSERT_EQ_INT(root->kind, MAE_YN_MAP);
    ASSERT_EQ_INT(root->n, 2);
    const mae_ynode *k = mae__yaml_get(root, "k");
    ASSERT_EQ_INT(k->pos.line, 1);
    ASSERT_EQ_INT(k->pos.col, 4);                 /* a node starts at its anchor */
    ASSERT_TRUE(mae__yaml_get(k, "x")->quoted);
    ASSERT_FALSE(mae__yaml_get(k, "y")->quoted);
    ASSERT_EQ_INT(mae__yaml_get(k, "x")->pos.col, 11);
    const mae_ynode *l = mae__yaml_get(root, "l");
    ASSERT_EQ_INT(l->n, 3);
    ASSERT_TRUE(l->items[0] == k);                 /* an alias shares, never copies */
    ASSERT_TRUE(l->items[2]->block);
    ASSERT_EQ_STR(l->items[2]->str, "block\n");
    ASSERT_EQ_INT(k->weight, 5);
    ASSERT_EQ_INT(l->weight, 12);
    ASSERT_EQ_INT(d.n, 0);
    mae__diags_free(&d);
    mae__arena_free(&a);
}

TEST(hostile_inputs_in_process) {
    /* billion laughs */
    char buf[8192];
    size_t len = (size_t)snprintf(buf, sizeof buf, "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for (int i = 1; i < 9; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n",
                                i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
    char *got = load_err(buf, len, MAE_EPARSE);
    ASSERT_EQ_STR(got, "6:15: alias expansion exceeds 100000 nodes\n");
    free(got);
    /* deep nesting, flow and block */
    size_t n = 100000;
    char *deep = malloc(2 * n);
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    got = load_err(deep, 2 * n, MAE_EPARSE);
    ASSERT_EQ_STR(got, "1:65: nesting deeper than 64 levels\n");
    free(got);
    for (size_t i = 0; i < n; i++) deep[i] = i % 2 ? ' ' : '-';
    got = load_err(deep, n, MAE_EPARSE);
    ASSERT_EQ_STR(got, "1:129: nesting deeper than 64 levels\n");
    free(got);
    free(deep);
    /* over the size cap, before any parsing */
    size_t big = MAE_YAML_MAX_FILE + 1;
    char *huge = calloc(1, big);
    got = load_err(huge, big, MAE_ETOOBIG);
    ASSERT_EQ_STR(got, "0:0: file too large (8388609 bytes, limit 8388608)\n");
    free(got);
    free(huge);
    /* invalid UTF-8: a truncated sequence, a surrogate */
    got = load_err("name: \xe2\x82\n", 9, MAE_EPARSE);
    ASSERT_EQ_STR(got, "1:7: invalid UTF-8 (byte 0xE2)\n");
    free(got);
    got = load_err("x: 1\ny: \xed\xa0\x80\n", 11, MAE_EPARSE);
    ASSERT_EQ_STR(got, "2:4: invalid UTF-8 (byte 0xED)\n");
    free(got);
    /* NUL and control characters: libyaml's reader rejects them */
    got = load_err("name: a\0b\n", 10, MAE_EPARSE);
    ASSERT_CONTAINS(got, "1:8: yaml: control characters are not allowed");
    free(got);
    /* few nodes but a long anchored string repeated: bounded by expanded text, not only nodes */
    size_t slen = 1u << 20;
    char *sbuf = malloc(slen + 4096);
    size_t o = (size_t)snprintf(sbuf, 4096, "x-big: &s \"{{ .input.x }}");
    memset(sbuf + o, 'a', slen);
    o += slen;
    o += (size_t)snprintf(sbuf + o, 4096, "\"\nl:\n");
    for (int i = 0; i < 40; i++) o += (size_t)snprintf(sbuf + o, 4096, "  - *s\n");
    got = load_err(sbuf, o, MAE_EPARSE);
    ASSERT_EQ_STR(got, "33:5: alias expansion exceeds 32 MiB of text\n");
    free(got);
    free(sbuf);
    /* many anchors and a wide map with duplicate keys stay fast */
    size_t cap = 4u << 20, off = 0;
    char *wide = malloc(cap);
    for (int i = 0; i < 40000; i++) off += (size_t)snprintf(wide + off, cap - off, "k%d: &a%d %d\n", i % 39999, i, i);
    got = load_err(wide, off, MAE_EPARSE);
    ASSERT_CONTAINS(got, "40000:1: duplicate key 'k0' (first at line 1)\n");
    free(got);
    free(wide);
}

TEST(graph_nesting_and_foreach) {
    mae_workflow *wf = load_ok(
        "name: g\n"
        "services: {tx: {type: grpc, endpoint: \"127.0.0.1:50052\"}}\n"
        "steps:\n"
        "  - {id: a, service: tx, method: A}\n"
        "  - id: each\n"
        "    foreach: \"{{ .input.items }}\"\n"
        "    as: it\n"
        "    do:\n"
        "      - {id: b, service: tx, method: B}\n"
        "      - {id: c, service: tx, method: C, compensate: {method: UndoC}}\n"
        "  - {id: d, service: tx, method: D}\n");
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ASSERT_EQ_INT(mae__workflow_graph(wf, MAE_GRAPH_DOT, f), 0);
    fclose(f);
    /* the compensation of c sits outside the foreach cluster, beside c (issue #14) */
    ASSERT_EQ_STR(buf,
        "digraph \"g\" {\n"
        "  rankdir=TB;\n"
        "  fontname=\"Helvetica\";\n"
        "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#e3f2fd\", fontname=\"Helvetica\", fontsize=11];\n"
        "  edge [fontname=\"Helvetica\", fontsize=10];\n"
        "  start [label=\"start\", shape=circle, fillcolor=\"#eeeeee\"];\n"
        "  finish [label=\"end\", shape=doublecircle, fillcolor=\"#eeeeee\"];\n"
        "  n0 [label=\"a\\ntx A\\ngRPC, timeout 30s, 3 attempts (exponential)\", shape=component, fillcolor=\"#fff3e0\"];\n"
        "  subgraph cluster_1 {\n"
        "    label=\"foreach each\\nover {{ .input.items }} as it\\n100 at a time\"; style=dashed;\n"
        "    n2 [label=\"b\\ntx B\\ngRPC, timeout 30s, 3 attempts (exponential)\", shape=component, fillcolor=\"#fff3e0\"];\n"
        "    n3 [label=\"c\\ntx C\\ngRPC, timeout 30s, 3 attempts (exponential)\", shape=component, fillcolor=\"#fff3e0\"];\n"
        "  }\n"
        "  n5 [label=\"d\\ntx D\\ngRPC, timeout 30s, 3 attempts (exponential)\", shape=component, fillcolor=\"#fff3e0\"];\n"
        "  n4 [label=\"undo c\\ntx UndoC\", style=\"rounded,dashed\", color=\"#c2185b\", fontcolor=\"#c2185b\"];\n"
        "  n3 -> n4 [style=dashed, color=\"#c2185b\", dir=back, minlen=0];\n"
        "  n2 -> n3;\n"
        "  n0 -> n2;\n"
        "  n3 -> n5;\n"
        "  start -> n0;\n"
        "  n5 -> finish;\n"
        "}\n");
    free(buf);
    buf = NULL;
    f = open_memstream(&buf, &len);
    ASSERT_EQ_INT(mae__workflow_graph(wf, MAE_GRAPH_MERMAID, f), 0);
    fclose(f);
    ASSERT_EQ_STR(buf,
        "flowchart TD\n"
        "  classDef http fill:#e3f2fd,stroke:#1565c0\n"
        "  classDef grpc fill:#fff3e0,stroke:#e65100\n"
        "  classDef comp fill:#fff,stroke:#c2185b,stroke-dasharray:4 3,color:#c2185b\n"
        "  start((start))\n"
        "  finish(((end)))\n"
        "  n0[[\"a<br/>tx A<br/>gRPC, timeout 30s, 3 attempts (exponential)\"]]:::grpc\n"
        "  subgraph c1 [\"foreach each<br/>over {{ .input.items }} as it<br/>100 at a time\"]\n"
        "    n2[[\"b<br/>tx B<br/>gRPC, timeout 30s, 3 attempts (exponential)\"]]:::grpc\n"
        "    n3[[\"c<br/>tx C<br/>gRPC, timeout 30s, 3 attempts (exponential)\"]]:::grpc\n"
        "  end\n"
        "  n5[[\"d<br/>tx D<br/>gRPC, timeout 30s, 3 attempts (exponential)\"]]:::grpc\n"
        "  n4(\"undo c<br/>tx UndoC\"):::comp\n"
        "  n4 -.->|undo| n3\n"
        "  linkStyle 0 stroke:#c2185b,color:#c2185b\n"
        "  n2 --> n3\n"
        "  n0 --> n2\n"
        "  n3 --> n5\n"
        "  start --> n0\n"
        "  n5 --> finish\n");
    free(buf);
    mae_workflow_free(wf);
}

TEST(merge_keys_and_extension_fields) {
    mae_workflow *wf = load_ok(
        "name: merge\n"
        "x-defaults: &d {type: grpc, timeout: 5s, retry: {attempts: 4}}\n"
        "x-http: &h {type: http, timeout: 1s}\n"
        "services:\n"
        "  a: {<<: *d, endpoint: \"127.0.0.1:50051\"}\n"
        "  b:\n"
        "    <<: [*h, *d]\n"
        "    timeout: 2s\n"
        "    endpoint: \"http://127.0.0.1:3000\"\n"
        "steps:\n"
        "  - {id: s, service: a, method: M}\n"
        "  - {id: t, service: b, method: N}\n");
    const mae_service *a = mae__workflow_service(wf, "a"), *b = mae__workflow_service(wf, "b");
    ASSERT_EQ_STR(a->type->name, "grpc");
    ASSERT_EQ_INT(a->timeout_ms, 5000);
    ASSERT_EQ_INT(a->retry.attempts, 4);
    /* explicit keys win, then the first merged mapping */
    ASSERT_EQ_STR(b->type->name, "http");
    ASSERT_EQ_INT(b->timeout_ms, 2000);
    ASSERT_EQ_INT(b->retry.attempts, 4);
    mae_workflow_free(wf);
    const char bad[] = "name: m\nservices: {a: {<<: 5, type: grpc, endpoint: \"h:1\"}}\nsteps: [{id: s, service: a, method: M}]\n";
    char *got = load_err(bad, sizeof bad - 1, MAE_EPARSE);
    ASSERT_EQ_STR(got, "2:20: a merge key '<<' needs a mapping or a sequence of mappings\n");
    free(got);
}
