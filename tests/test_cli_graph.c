/* Issue #14, pictures: `maestro graph` has start and end nodes, tells HTTP from gRPC, shows
 * `when`, what a foreach iterates and how many at a time, attempts, timeouts and
 * continue_on_error, and draws each compensation outside every cluster with an arrow back at
 * its step; Graphviz accepts the DOT without a warning; --format svg|png renders through dot,
 * and says how to get it when it is missing. */
#include <unistd.h>

#include "harness.h"

static const char wf_yaml[] =
    "name: pic\n"
    "input: {items: {type: array, required: true}, vip: {type: boolean, default: false}}\n"
    "services:\n"
    "  web: {type: http, endpoint: \"http://127.0.0.1:9\", timeout: 5s, retry: {attempts: 4, backoff: linear}}\n"
    "  rpc: {type: grpc, endpoint: \"127.0.0.1:9\", retry: {attempts: 1}}\n"
    "steps:\n"
    "  - {id: first, service: rpc, method: Make, timeout: 2m, compensate: {method: Unmake}}\n"
    "  - id: each\n"
    "    foreach: \"{{ .input.items }}\"\n"
    "    as: it\n"
    "    concurrency: 4\n"
    "    do:\n"
    "      id: one\n"
    "      service: web\n"
    "      method: POST /items\n"
    "      continue_on_error: true\n"
    "      compensate: {method: POST /items/undo}\n"
    "  - {id: vip, when: \"{{ .input.vip }}\", service: web, method: POST /vip}\n";

static char *graph(const char *file, const char *format, int *rc) {
    char *out = NULL, *err = NULL;
    char *a[] = {"maestro", "graph", (char *)file, "--format", (char *)format, NULL};
    *rc = th_maestro(a, NULL, &out, &err);
    ASSERT_EQ_STR(err, "");
    free(err);
    return out;
}

TEST(dot_shows_what_runs) {
    char *f = th_write_temp(wf_yaml, sizeof wf_yaml - 1, ".yaml");
    int rc;
    char *dot = graph(f, "dot", &rc);
    ASSERT_EQ_INT(rc, 0);
    ASSERT_CONTAINS(dot, "  start [label=\"start\", shape=circle");
    ASSERT_CONTAINS(dot, "  finish [label=\"end\", shape=doublecircle");
    ASSERT_CONTAINS(dot, "  start -> n0;\n");
    /* gRPC vs HTTP: shape and label */
    ASSERT_CONTAINS(dot, "n0 [label=\"first\\nrpc Make\\ngRPC, timeout 2m\", shape=component");
    ASSERT_CONTAINS(dot, "[label=\"one\\nweb POST /items\\nHTTP, timeout 5s, 4 attempts (linear)\\ncontinue on error\"];");
    /* the foreach's cluster says what it iterates and how many at a time */
    ASSERT_CONTAINS(dot, "label=\"foreach each\\nover {{ .input.items }} as it\\n4 at a time\"; style=dashed;");
    ASSERT_CONTAINS(dot, "vip\\nweb POST /vip\\nHTTP, timeout 5s, 4 attempts (linear)\\nwhen {{ .input.vip }}\"");
    /* the compensation of the foreach's body is drawn after every cluster closed */
    const char *comp = strstr(dot, "[label=\"undo one\\nweb POST /items/undo\"");
    ASSERT_NOT_NULL(comp);
    const char *close = strstr(dot, "\n  }\n");
    ASSERT_NOT_NULL(close);
    ASSERT_TRUE(close < comp);
    ASSERT_FALSE(strstr(comp, "\n  }\n"));
    ASSERT_CONTAINS(dot, "style=dashed, color=\"#c2185b\", dir=back, minlen=0];");
    ASSERT_CONTAINS(dot, " -> finish;\n}\n");
    /* Graphviz takes it without a word */
    char *out = NULL, *err = NULL;
    char *d[] = {"dot", "-Tsvg", NULL};
    ASSERT_EQ_INT(th_run(d, dot, &out, &err), 0);
    ASSERT_EQ_STR(err, "");
    ASSERT_CONTAINS(out, "<svg");
    free(out);
    free(err);
    free(dot);
    unlink(f);
    free(f);
}

TEST(mermaid_shapes_and_accent) {
    char *f = th_write_temp(wf_yaml, sizeof wf_yaml - 1, ".yaml");
    int rc;
    char *m = graph(f, "mermaid", &rc);
    ASSERT_EQ_INT(rc, 0);
    ASSERT_CONTAINS(m, "  start((start))\n  finish(((end)))\n");
    ASSERT_CONTAINS(m, "  n0[[\"first<br/>rpc Make<br/>gRPC, timeout 2m\"]]:::grpc\n");
    ASSERT_CONTAINS(m, "(\"vip<br/>web POST /vip<br/>HTTP, timeout 5s, 4 attempts (linear)<br/>when {{ .input.vip }}\"):::http");
    ASSERT_CONTAINS(m, "(\"undo first<br/>rpc Unmake\"):::comp\n");
    ASSERT_CONTAINS(m, "-.->|undo| n0\n  linkStyle 0 stroke:#c2185b");
    free(m);
    unlink(f);
    free(f);
}

TEST(svg_and_png_through_graphviz) {
    char *f = th_write_temp(wf_yaml, sizeof wf_yaml - 1, ".yaml");
    int rc;
    char *svg = graph(f, "svg", &rc);
    ASSERT_EQ_INT(rc, 0);
    ASSERT_CONTAINS(svg, "<svg");
    ASSERT_CONTAINS(svg, "undo one");
    free(svg);
    char *png = graph(f, "png", &rc);
    ASSERT_EQ_INT(rc, 0);
    ASSERT_TRUE(strncmp(png, "\x89PNG", 4) == 0);
    free(png);
    /* no Graphviz on PATH: one message saying what to install, nothing on stdout */
    setenv("PATH", "/nonexistent", 1);
    char *out = NULL, *err = NULL;
    char *a[] = {"maestro", "graph", f, "--format=svg", NULL};
    ASSERT_EQ_INT(th_maestro(a, NULL, &out, &err), 2);
    ASSERT_CONTAINS(err, "needs Graphviz's 'dot'");
    ASSERT_CONTAINS(err, "apt-get install graphviz");
    ASSERT_EQ_STR(out, "");
    free(out);
    free(err);
    unlink(f);
    free(f);
}

/* The README's picture is deploy_service as `make pictures` draws it: every step and every
 * compensation of the real file is in it. */
TEST(readme_picture_is_the_real_workflow) {
    char *svg = th_read_file(th_path("docs/deploy_service.svg"), NULL);
    ASSERT_NOT_NULL(svg);
    ASSERT_CONTAINS(svg, "<svg");
    static const char *const steps[] = {"provision", "deploy_app", "check_health", "register_lb", "notify",
                                        "undo provision", "undo deploy_app", "undo register_lb", ">start<", ">end<"};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) ASSERT_CONTAINS(svg, steps[i]);
    free(svg);
    char *readme = th_read_file(th_path("README.md"), NULL);
    ASSERT_CONTAINS(readme, "](docs/deploy_service.svg)");
    ASSERT_FALSE(strstr(readme, "| dot -T"));
    free(readme);
}
