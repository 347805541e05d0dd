/* The typed example (examples/typed-deploy/): its workflow validates against the committed
 * descriptor set, the set is what protoc-c makes of deploy.proto today, `maestro describe`
 * lists its methods, and the workflow runs against its stub files through the real binary
 * (`maestro stub` serving the typed methods of the same set): the success variant exits 0 with
 * the expected output, the failure variant exits 1 with the compensations in order in the stub's
 * call log. Stubs listen on free ports (rewritten to 0), the workflow is pointed at them with
 * --set, and the stub copy names the descriptor set by its absolute path. */
#include <unistd.h>

#include "harness.h"

#define DIR_ "examples/typed-deploy/"

typedef struct stubbed {
    th_proc proc;
    char *log, *file;
    char sets[8][128];
    int n_sets;
} stubbed;

/* Copies the stub file with every port 0 and the descriptors path made absolute. */
static char *stub_copy(const char *stub_file) {
    char *yaml = th_read_file(th_path(stub_file), NULL);
    ASSERT_NOT_NULL(yaml);
    size_t cap = strlen(yaml) * 2 + 4096;
    char *out = calloc(1, cap);
    for (char *line = strtok(yaml, "\n"); line; line = strtok(NULL, "\n")) {
        char *p;
        if ((p = strstr(line, "listen: 127.0.0.1:"))) {
            strncat(out, line, (size_t)(p - line));
            strcat(out, "listen: 127.0.0.1:0");
        } else if ((p = strstr(line, "descriptors: "))) {
            strncat(out, line, (size_t)(p - line));
            strcat(out, "descriptors: ");
            strcat(out, th_path(DIR_ "deploy.protoset"));
        } else {
            strcat(out, line);
        }
        strcat(out, "\n");
    }
    free(yaml);
    return out;
}

static void start(stubbed *s, const char *stub_file) {
    memset(s, 0, sizeof *s);
    char *yaml = stub_copy(stub_file);
    s->file = th_write_temp(yaml, strlen(yaml), ".yaml");
    s->log = th_write_temp("", 0, ".jsonl");
    const char *bin = getenv("MAESTRO_BIN");
    char *argv[] = {(char *)(bin ? bin : th_path("bin/maestro")), "stub", s->file, "--log", s->log, NULL};
    ASSERT_EQ_INT(th_spawn(&s->proc, argv, 20), 0);
    /* services in file order; the first PORT line was read by th_spawn */
    const char *names[] = {"cloud", "deployer", "health", "loadbalancer", "notifications"};
    const int http[] = {0, 0, 1, 0, 1};
    int port = s->proc.port;
    for (int i = 0; i < 5; i++) {
        if (i > 0) {
            char line[256], name[64];
            ASSERT_NOT_NULL(fgets(line, sizeof line, s->proc.out));
            ASSERT_EQ_INT(sscanf(line, "PORT %d %63s", &port, name), 2);
            ASSERT_EQ_STR(name, names[i]);
        }
        snprintf(s->sets[s->n_sets++], 128, "service.%s.endpoint=%s127.0.0.1:%d", names[i],
                 http[i] ? "http://" : "", port);
    }
    free(yaml);
}

static int run(stubbed *s, char **out, char **err) {
    char *argv[32];
    int n = 0;
    argv[n++] = "maestro";
    argv[n++] = "run";
    argv[n++] = (char *)th_path(DIR_ "workflow.yaml");
    argv[n++] = "--input";
    char in[4200];
    snprintf(in, sizeof in, "@%s", th_path(DIR_ "input.json"));
    argv[n++] = in;
    for (int i = 0; i < s->n_sets; i++) {
        argv[n++] = "--set";
        argv[n++] = s->sets[i];
    }
    argv[n] = NULL;
    return th_maestro(argv, NULL, out, err);
}

/* The last path segment of each logged "method", space-separated, in call order. */
static char *calls(stubbed *s) {
    ASSERT_EQ_INT(th_stop(&s->proc), 0);
    if (s->proc.out) fclose(s->proc.out);
    char *log = th_read_file(s->log, NULL);
    char *res = calloc(1, strlen(log) + 1);
    for (char *p = log; (p = strstr(p, "\"method\":\""));) {
        p += 10;
        char *e = strchr(p, '"');
        char *last = p;
        for (char *q = p; q < e; q++)
            if (*q == '/' && !(q > p && q[-1] == ' ')) last = q + 1;
        if (*res) strcat(res, " ");
        strncat(res, last == p ? p : last, (size_t)(e - (last == p ? p : last)));
        p = e;
    }
    free(log);
    unlink(s->log);
    unlink(s->file);
    free(s->log);
    free(s->file);
    return res;
}

TEST(typed_example_validates_and_its_descriptor_set_is_current) {
    char *out = NULL, *err = NULL;
    char *v[] = {"maestro", "validate", (char *)th_path(DIR_ "workflow.yaml"), NULL};
    ASSERT_EQ_INT(th_maestro(v, NULL, &out, &err), 0);
    free(out);
    free(err);
    /* the committed set is what protoc-c makes of deploy.proto */
    char *fresh = th_write_temp("", 0, ".protoset");
    char inc[4200];
    snprintf(inc, sizeof inc, "-I%s", th_path("examples/typed-deploy"));
    char *p[] = {"protoc-c", inc, "--include_imports", "-o", fresh, "deploy.proto", NULL};
    ASSERT_EQ_INT(th_run(p, NULL, &out, &err), 0);
    free(out);
    free(err);
    size_t a_len, b_len;
    char *a = th_read_file(fresh, &a_len), *b = th_read_file(th_path(DIR_ "deploy.protoset"), &b_len);
    ASSERT_NOT_NULL(a);
    ASSERT_NOT_NULL(b);
    ASSERT_EQ_INT(a_len, b_len);
    ASSERT_TRUE(memcmp(a, b, a_len) == 0);
    free(a);
    free(b);
    unlink(fresh);
    free(fresh);
    char *d[] = {"maestro", "describe", (char *)th_path(DIR_ "workflow.yaml"), "loadbalancer", NULL};
    ASSERT_EQ_INT(th_maestro(d, NULL, &out, &err), 0);
    ASSERT_CONTAINS(out, "  acme.deploy.v1.LoadBalancer/RegisterTarget\n"
                         "    request:  acme.deploy.v1.RegisterTargetRequest\n"
                         "    response: acme.deploy.v1.Registration\n");
    ASSERT_CONTAINS(out, "\"target\": {\n");
    free(out);
    free(err);
}

TEST_T(typed_example_succeeds_against_its_stubs, 60) {
    stubbed s;
    start(&s, DIR_ "stubs.yaml");
    char *out, *err;
    int rc = run(&s, &out, &err);
    char *c = calls(&s);
    if (rc != 0) printf("stderr:\n%s\n", err);
    ASSERT_EQ_INT(rc, 0);
    ASSERT_EQ_STR(out, "{\"instance\":\"i-10f3a\",\"size\":\"SIZE_MEDIUM\",\"registration\":\"reg-1\",\"target_port\":8080}\n");
    ASSERT_EQ_STR(c, "CreateInstance Deploy POST /check RegisterTarget POST /send");
    free(out);
    free(err);
    free(c);
}

TEST_T(typed_example_health_failure_undeploys_then_destroys, 60) {
    stubbed s;
    start(&s, DIR_ "stubs.fail.yaml");
    char *out, *err;
    int rc = run(&s, &out, &err);
    char *c = calls(&s);
    if (rc != 1) printf("stderr:\n%s\n", err);
    ASSERT_EQ_INT(rc, 1);
    ASSERT_EQ_STR(out, "");
    ASSERT_EQ_STR(c, "CreateInstance Deploy POST /check POST /check POST /check Undeploy DestroyInstance");
    free(out);
    free(err);
    free(c);
}
