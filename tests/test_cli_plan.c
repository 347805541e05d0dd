/* Issue #14: the input is checked before anything is called, even without an `input:` block
 * (every .input.X read outside `default` must be there), on every example; `run --dry-run`
 * prints every request in order as JSON lines with placeholders for outputs not known yet,
 * evaluates `when`, expands a foreach over the input, and sends nothing (a real stub's call log
 * stays empty). */
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static th_proc stub;
static char *stub_file, *log_file;

static const char stub_yaml[] =
    "services:\n"
    "  api:\n"
    "    type: http\n"
    "    listen: 127.0.0.1:0\n"
    "    routes:\n"
    "      \"POST /a\": {respond: {id: 1}}\n"
    "      \"POST /b\": {respond: {}}\n"
    "      \"POST /check\": {respond: {}}\n";

static void stub_start(void) {
    stub_file = th_write_temp(stub_yaml, strlen(stub_yaml), ".yaml");
    log_file = th_write_temp("", 0, ".jsonl");
    const char *bin = getenv("MAESTRO_BIN");
    char *argv[] = {(char *)(bin ? bin : th_path("bin/maestro")), "stub", stub_file, "--log", log_file, NULL};
    ASSERT_EQ_INT(th_spawn(&stub, argv, 20), 0);
}

/* Stops the stub and returns how many calls it logged. */
static int stub_stop(void) {
    th_stop(&stub);
    size_t len = 0;
    char *t = th_read_file(log_file, &len);
    int n = 0;
    for (size_t i = 0; t && i < len; i++) n += t[i] == '\n';
    free(t);
    unlink(stub_file);
    unlink(log_file);
    free(stub_file);
    free(log_file);
    return n;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; s && *s; s++) n += *s == '\n';
    return n;
}

TEST(every_example_declares_and_checks_its_input) {
    static const char *const names[] = {"background_check", "deploy_service", "lead_enrichment",
                                        "order_processing", "user_onboarding", "video_processing"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "examples/workflows/%s.yaml", names[i]);
        char *wf = strdup(th_path(rel));
        char *y = th_read_file(wf, NULL);
        ASSERT_NOT_NULL(y);
        ASSERT_TRUE(strstr(y, "\ninput:\n") != NULL);
        /* every key the example reads is declared: an empty input is refused by the declaration */
        char *out = NULL, *err = NULL;
        char *a[] = {"maestro", "run", wf, "--input", "{}", "--dry-run", NULL};
        ASSERT_EQ_INT(th_maestro(a, NULL, &out, &err), 2);
        ASSERT_CONTAINS(err, "required");
        ASSERT_EQ_STR(out, "");
        free(out);
        free(err);
        /* its sample input passes both checks */
        snprintf(rel, sizeof rel, "examples/inputs/%s.json", names[i]);
        char in[600];
        snprintf(in, sizeof in, "@%s", th_path(rel));
        char *b[] = {"maestro", "run", wf, "--input", in, "--dry-run", NULL};
        ASSERT_EQ_INT(th_maestro(b, NULL, &out, &err), 0);
        ASSERT_EQ_STR(err, "");
        ASSERT_CMP_INT(count_lines(out), >=, 3);
        free(out);
        free(err);
        /* the declaration removed, the keys the example reads are still required */
        char *decl = strstr(y, "\ninput:\n");
        char *end = strstr(decl + 1, "\n\n");
        ASSERT_NOT_NULL(end);
        memmove(decl + 1, end + 2, strlen(end + 2) + 1);
        char *undeclared = th_write_temp(y, strlen(y), ".yaml");
        char *c[] = {"maestro", "run", undeclared, "--input", "{}", "--dry-run", NULL};
        ASSERT_EQ_INT(th_maestro(c, NULL, &out, &err), 2);
        ASSERT_CONTAINS(err, "maestro run: the input lacks '");
        ASSERT_CONTAINS(err, "(read by ");
        ASSERT_CONTAINS(err, "; nothing was called\n");
        ASSERT_EQ_STR(out, "");
        free(out);
        free(err);
        unlink(undeclared);
        free(undeclared);
        free(y);
        free(wf);
    }
}

TEST(missing_key_stops_the_run_before_any_call) {
    stub_start();
    char y[1024];
    int n = snprintf(y, sizeof y,
                     "name: inputs\n"
                     "services:\n"
                     "  api: {type: http, endpoint: \"http://127.0.0.1:%d\"}\n"
                     "steps:\n"
                     "  - {id: first, service: api, method: POST /a, input: {x: \"{{ .input.x }}\"}}\n"
                     "  - {id: second, service: api, method: POST /b,\n"
                     "     input: {c: \"{{ .input.channel }}\", d: \"{{ default 3 .input.optional }}\"}}\n"
                     "  - {id: third, service: api, method: POST /b, input: {c: \"{{ .input.channel }}\"}}\n",
                     stub.port);
    char *wf = th_write_temp(y, (size_t)n, ".yaml");
    char *out = NULL, *err = NULL;
    char *a[] = {"maestro", "run", wf, "--input", "{\"x\":1}", NULL};
    ASSERT_EQ_INT(th_maestro(a, NULL, &out, &err), 2);
    ASSERT_EQ_STR(err, "maestro run: the input lacks 'channel' (read by second, third); nothing was called\n");
    free(out);
    free(err);
    ASSERT_EQ_INT(stub_stop(), 0);
    /* with the key: it runs (the optional key read under default is not required) */
    stub_start();
    n = snprintf(y, sizeof y,
                 "name: inputs\n"
                 "services:\n"
                 "  api: {type: http, endpoint: \"http://127.0.0.1:%d\"}\n"
                 "steps:\n"
                 "  - {id: first, service: api, method: POST /a, input: {x: \"{{ .input.x }}\"}}\n"
                 "  - {id: second, service: api, method: POST /b,\n"
                 "     input: {c: \"{{ .input.channel }}\", d: \"{{ default 3 .input.optional }}\"}}\n",
                 stub.port);
    FILE *f = fopen(wf, "w");
    fwrite(y, 1, (size_t)n, f);
    fclose(f);
    char *b[] = {"maestro", "run", wf, "--input", "{\"x\":1,\"channel\":\"c\"}", NULL};
    ASSERT_EQ_INT(th_maestro(b, NULL, &out, &err), 0);
    free(out);
    free(err);
    ASSERT_EQ_INT(stub_stop(), 2);
    unlink(wf);
    free(wf);
}

TEST(dry_run_deploy_service) {
    stub_start();
    char *wf = strdup(th_path("examples/workflows/deploy_service.yaml"));
    char *in = strdup(th_path("examples/inputs/deploy_service.json"));
    char inarg[600], set[128];
    snprintf(inarg, sizeof inarg, "@%s", in);
    snprintf(set, sizeof set, "service.health.endpoint=http://127.0.0.1:%d", stub.port);
    char *out = NULL, *err = NULL;
    char *a[] = {"maestro", "run", wf, "--input", inarg, "--set", set, "--dry-run", NULL};
    ASSERT_EQ_INT(th_maestro(a, NULL, &out, &err), 0);
    ASSERT_EQ_STR(err, "");
    /* five calls and three compensations, in run order */
    ASSERT_EQ_INT(count_lines(out), 8);
    const char *first =
        "{\"step\":\"provision\",\"service\":\"cloud\",\"type\":\"grpc\",\"endpoint\":\"127.0.0.1:50051\","
        "\"method\":\"CreateInstance\",\"headers\":{},"
        "\"body\":{\"image\":\"ubuntu-22.04\",\"size\":\"t3.small\",\"region\":\"eu-west-1\"}}\n";
    ASSERT_TRUE(strncmp(out, first, strlen(first)) == 0);
    /* a compensation right after its step, the earlier output shown as a placeholder */
    ASSERT_CONTAINS(out, "\n{\"compensation_of\":\"provision\",\"service\":\"cloud\",\"type\":\"grpc\","
                         "\"endpoint\":\"127.0.0.1:50051\",\"method\":\"DestroyInstance\",\"headers\":{},"
                         "\"body\":{\"instance_id\":\"<instance.id>\"}}\n");
    /* HTTP: verb and URL (the --set endpoint), placeholders inside the body */
    char want[512];
    snprintf(want, sizeof want,
             "{\"step\":\"check_health\",\"service\":\"health\",\"type\":\"http\",\"endpoint\":"
             "\"http://127.0.0.1:%d\",\"method\":\"POST\",\"url\":\"http://127.0.0.1:%d/check\",\"headers\":{},"
             "\"body\":{\"target\":\"<instance.ip>\",\"port\":\"<deployment.port>\",\"expected_status\":200}}\n",
             stub.port, stub.port);
    ASSERT_CONTAINS(out, want);
    ASSERT_CONTAINS(out, "\"body\":{\"channel\":\"#deploys\",\"message\":\"Deployed s3://builds/api-1.4.2.tar.gz "
                         "to eu-west-1\"}}\n");
    const char *prov = strstr(out, "\"step\":\"provision\""), *dep = strstr(out, "\"step\":\"deploy_app\""),
               *reg = strstr(out, "\"step\":\"register_lb\""), *note = strstr(out, "\"step\":\"notify\"");
    ASSERT_TRUE(prov && dep && reg && note && prov < dep && dep < reg && reg < note);
    free(out);
    free(err);
    /* nothing was sent */
    ASSERT_EQ_INT(stub_stop(), 0);
    free(wf);
    free(in);
}

TEST(dry_run_when_and_foreach) {
    const char y[] =
        "name: dry\n"
        "input: {items: {type: array, required: true}, vip: {type: boolean, default: false}}\n"
        "services:\n"
        "  api: {type: http, endpoint: \"http://127.0.0.1:9\"}\n"
        "steps:\n"
        "  - {id: list, service: api, method: POST /a, output: listed}\n"
        "  - id: each\n"
        "    foreach: \"{{ .input.items }}\"\n"
        "    as: it\n"
        "    do: {id: one, service: api, method: \"POST /items/{{ .it }}\", input: {i: \"{{ .it_index }}\"}}\n"
        "  - id: later\n"
        "    foreach: \"{{ .listed.all }}\"\n"
        "    as: x\n"
        "    do: {id: two, service: api, method: POST /b, input: {x: \"{{ .x }}\"}}\n"
        "  - {id: vip_only, when: \"{{ .input.vip }}\", service: api, method: POST /b}\n"
        "  - {id: look, service: api, method: GET /search, input: {q: \"a b\", n: 2}}\n";
    char *wf = th_write_temp(y, sizeof y - 1, ".yaml");
    char *out = NULL, *err = NULL;
    char *a[] = {"maestro", "run", wf, "--input", "{\"items\":[\"p\",\"q\"]}", "--dry-run", NULL};
    ASSERT_EQ_INT(th_maestro(a, NULL, &out, &err), 0);
    ASSERT_EQ_STR(err, "");
    ASSERT_CONTAINS(out, "{\"step\":\"one\",\"item\":0,\"service\":\"api\",\"type\":\"http\",\"endpoint\":"
                         "\"http://127.0.0.1:9\",\"method\":\"POST\",\"url\":\"http://127.0.0.1:9/items/p\","
                         "\"headers\":{},\"body\":{\"i\":0}}\n");
    ASSERT_CONTAINS(out, "\"step\":\"one\",\"item\":1,");
    ASSERT_CONTAINS(out, "\"url\":\"http://127.0.0.1:9/items/q\"");
    /* a foreach over an earlier output: the body once, for an unknown item */
    ASSERT_CONTAINS(out, "\"step\":\"two\",");
    ASSERT_CONTAINS(out, "\"body\":{\"x\":\"<an item of {{ .listed.all }}>\"}");
    ASSERT_CONTAINS(out, "{\"step\":\"vip_only\",\"skipped\":true,\"when\":\"{{ .input.vip }}\"}\n");
    /* GET: the input is the query, as the transport sends it */
    ASSERT_CONTAINS(out, "{\"step\":\"look\",\"service\":\"api\",\"type\":\"http\",\"endpoint\":\"http://127.0.0.1:9\","
                         "\"method\":\"GET\",\"url\":\"http://127.0.0.1:9/search?q=a%20b&n=2\",\"headers\":{},"
                         "\"body\":null}\n");
    ASSERT_EQ_INT(count_lines(out), 6);
    free(out);
    free(err);
    unlink(wf);
    free(wf);
}
