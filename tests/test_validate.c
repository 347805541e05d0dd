/* `maestro validate` and `maestro graph` through the real binary: every file of tests/broken/
 * must produce exactly its "# expect:" lines and exit 2; the shipped examples validate clean;
 * hostile files generated here (never committed) are rejected quickly with a classified error. */
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include "harness.h"

/* The "# expect: ..." lines of a file, each prefixed with "path:" and newline-terminated. */
static char *expected_of(const char *path) {
    char *text = th_read_file(path, NULL);
    ASSERT_NOT_NULL(text);
    size_t cap = strlen(text) * 2 + 4096, len = 0;
    char *out = malloc(cap);
    out[0] = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "# expect: ", 10) != 0) continue;
        len += (size_t)snprintf(out + len, cap - len, "%s:%s\n", path, line + 10);
    }
    free(text);
    return out;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

TEST(broken_files_report_exact_diagnostics) {
    const char *dir = th_path("tests/broken");
    DIR *d = opendir(dir);
    ASSERT_NOT_NULL(d);
    char *names[256];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) {
        size_t l = strlen(e->d_name);
        if (l > 5 && strcmp(e->d_name + l - 5, ".yaml") == 0) names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    ASSERT_CMP_INT(n, >=, 30);
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/tests/broken/%s", getenv("MAESTRO_ROOT") ? getenv("MAESTRO_ROOT") : ".",
                 names[i]);
        char *want = expected_of(path);
        if (!want[0]) th_fail(__FILE__, __LINE__, "%s has no '# expect:' line", names[i]);
        char *out = NULL, *err = NULL;
        char *argv[] = {"maestro", "validate", path, NULL};
        int rc = th_maestro(argv, NULL, &out, &err);
        if (rc != 2 || strcmp(err, want) != 0 || out[0])
            th_fail(__FILE__, __LINE__, "%s: exit %d (want 2)\n--- stderr:\n%s--- expected:\n%s--- stdout:\n%s",
                    names[i], rc, err, want, out);
        free(out);
        free(err);
        free(want);
        free(names[i]);
    }
}

TEST(examples_validate_clean) {
    const char *files[] = {"background_check", "video_processing", "deploy_service", "lead_enrichment",
                           "order_processing", "user_onboarding"};
    char *argv[9] = {"maestro", "validate"};
    char paths[6][4096];
    for (int i = 0; i < 6; i++) {
        snprintf(paths[i], sizeof paths[i], "%s", th_path("examples/workflows/x.yaml"));
        char *slash = strrchr(paths[i], '/');
        snprintf(slash + 1, sizeof paths[i] - (size_t)(slash + 1 - paths[i]), "%s.yaml", files[i]);
        argv[2 + i] = paths[i];
    }
    argv[8] = NULL;
    char *out = NULL, *err = NULL;
    int rc = th_maestro(argv, NULL, &out, &err);
    ASSERT_EQ_STR(out, "");
    ASSERT_EQ_INT(rc, 0);
    for (int i = 0; i < 6; i++) {
        char line[8192];
        snprintf(line, sizeof line, "%.4000s: ok\n", paths[i]);
        ASSERT_CONTAINS(err, line);
    }
    ASSERT_FALSE(strstr(err, "error"));
    free(out);
    free(err);
}

static const char good_wf[] =
    "name: good\n"
    "services:\n"
    "  api: {type: http, endpoint: \"http://127.0.0.1:3000\"}\n"
    "steps:\n"
    "  - id: a\n"
    "    service: api\n"
    "    method: \"POST /a\"\n";

TEST(validate_every_file_and_exit_2_if_any_bad) {
    char *good = th_write_temp(good_wf, strlen(good_wf), ".yaml");
    const char bad_text[] = "name: bad\nservices: {}\nsteps: []\n";
    char *bad = th_write_temp(bad_text, strlen(bad_text), ".yaml");
    char *out = NULL, *err = NULL;
    char *argv[] = {"maestro", "validate", bad, good, "/nonexistent/wf.yaml", NULL};
    int rc = th_maestro(argv, NULL, &out, &err);
    ASSERT_EQ_INT(rc, 2);
    ASSERT_EQ_STR(out, "");
    char want[8192];
    snprintf(want, sizeof want, "%s:3:8: error: 'steps' must not be empty\n%s: ok\n"
             "/nonexistent/wf.yaml: error: cannot open: No such file or directory\n", bad, good);
    ASSERT_EQ_STR(err, want);
    free(out);
    free(err);
    unlink(good);
    unlink(bad);
    free(good);
    free(bad);
}

TEST(validate_and_graph_usage) {
    char *out = NULL, *err = NULL;
    char *a1[] = {"maestro", "validate", "--help", NULL};
    ASSERT_EQ_INT(th_maestro(a1, NULL, &out, &err), 0);
    ASSERT_CONTAINS(out, "usage: maestro validate");
    free(out);
    free(err);
    char *a2[] = {"maestro", "validate", NULL};
    ASSERT_EQ_INT(th_maestro(a2, NULL, &out, &err), 2);
    ASSERT_CONTAINS(err, "Try 'maestro help validate'.");
    free(out);
    free(err);
    char *a3[] = {"maestro", "graph", "-h", NULL};
    ASSERT_EQ_INT(th_maestro(a3, NULL, &out, &err), 0);
    ASSERT_CONTAINS(out, "--format dot|mermaid");
    free(out);
    free(err);
    char *file = th_write_temp(good_wf, strlen(good_wf), ".yaml");
    char *a4[] = {"maestro", "graph", file, "--format", "gif", NULL};
    ASSERT_EQ_INT(th_maestro(a4, NULL, &out, &err), 2);
    ASSERT_CONTAINS(err, "unknown format 'gif'");
    ASSERT_EQ_STR(out, "");
    free(out);
    free(err);
    /* graph of an invalid workflow: the diagnostics, nothing on stdout */
    const char bad[] = "name: g\nservices: {}\nsteps: [{id: a, service: nope, method: M}]\n";
    char *bf = th_write_temp(bad, sizeof bad - 1, ".yaml");
    char *a5[] = {"maestro", "graph", bf, NULL};
    ASSERT_EQ_INT(th_maestro(a5, NULL, &out, &err), 2);
    ASSERT_EQ_STR(out, "");
    char want[512];
    snprintf(want, sizeof want, "%s:3:26: error: unknown service 'nope'\n", bf);
    ASSERT_EQ_STR(err, want);
    free(out);
    free(err);
    unlink(bf);
    free(bf);
    unlink(file);
    free(file);
}

TEST(graph_dot_and_mermaid_of_example) {
    const char *path = th_path("examples/workflows/video_processing.yaml");
    char p[4096];
    snprintf(p, sizeof p, "%s", path);
    char *out = NULL, *err = NULL;
    char *a1[] = {"maestro", "graph", p, NULL};
    ASSERT_EQ_INT(th_maestro(a1, NULL, &out, &err), 0);
    ASSERT_EQ_STR(err, "");
    ASSERT_CONTAINS(out, "digraph \"video_processing\" {\n");
    ASSERT_CONTAINS(out, "  n0 [label=\"validate\\nvalidator ValidateMedia\\ngRPC, timeout 30s, 3 attempts "
                         "(exponential)\", shape=component, fillcolor=\"#fff3e0\"];\n");
    ASSERT_CONTAINS(out, "  subgraph cluster_1 {\n    label=\"parallel\"; style=dashed;\n");
    /* compensations outside the cluster, beside their step, arrow back at it */
    ASSERT_CONTAINS(out, "  }\n  n7 [label=\"publish");
    ASSERT_CONTAINS(out, "\n  n3 [label=\"undo transcode_720p\\ntranscoder DeleteFile\", style=\"rounded,dashed\", "
                         "color=\"#c2185b\", fontcolor=\"#c2185b\"];\n");
    ASSERT_CONTAINS(out, "  n2 -> n3 [style=dashed, color=\"#c2185b\", dir=back, minlen=0];\n");
    /* validate fans out to the three parallel branches, which all join into publish. */
    ASSERT_CONTAINS(out, "  n0 -> n2;\n  n0 -> n4;\n  n0 -> n6;\n  n2 -> n7;\n  n4 -> n7;\n  n6 -> n7;\n"
                         "  start -> n0;\n  n7 -> finish;\n}\n");
    free(out);
    free(err);
    char *a2[] = {"maestro", "graph", "--format=mermaid", p, NULL};
    ASSERT_EQ_INT(th_maestro(a2, NULL, &out, &err), 0);
    ASSERT_CONTAINS(out, "flowchart TD\n");
    ASSERT_CONTAINS(out, "  subgraph c1 [\"parallel\"]\n");
    ASSERT_CONTAINS(out, "  n3 -.->|undo| n2\n");
    ASSERT_CONTAINS(out, "  n0 --> n2\n");
    ASSERT_FALSE(strstr(out, "digraph"));
    free(out);
    free(err);
}

/* ---- hostile files, generated at run time ---- */

static void expect_rejected(const char *path, const char *needle) {
    char *out = NULL, *err = NULL;
    char *argv[] = {"maestro", "validate", (char *)path, NULL};
    int rc = th_maestro(argv, NULL, &out, &err);
    ASSERT_EQ_INT(rc, 2);
    ASSERT_CONTAINS(err, needle);
    ASSERT_EQ_STR(out, "");
    free(out);
    free(err);
}

TEST(hostile_billion_laughs) {
    char buf[8192];
    size_t len = (size_t)snprintf(buf, sizeof buf, "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for (int i = 1; i < 10; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len,
                                "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i,
                                i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
    char *f = th_write_temp(buf, len, ".yaml");
    expect_rejected(f, ":5:");
    expect_rejected(f, "error: alias expansion exceeds 100000 nodes\n");
    unlink(f);
    free(f);
}

TEST(hostile_self_alias_and_deep_nesting) {
    const char self[] = "a: &x\n  b: [1, *x]\n";
    char *f = th_write_temp(self, strlen(self), ".yaml");
    expect_rejected(f, ":2:10: error: alias '*x' refers to a node that contains it\n");
    unlink(f);
    free(f);
    size_t n = 100000;
    char *deep = malloc(2 * n + 2);
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    deep[2 * n] = '\n';
    f = th_write_temp(deep, 2 * n + 1, ".yaml");
    expect_rejected(f, ":1:65: error: nesting deeper than 64 levels\n");
    unlink(f);
    free(f);
    free(deep);
}

TEST(hostile_100mb_file) {
    char *f = th_write_temp("", 0, ".yaml");
    int fd = open(f, O_WRONLY);
    ASSERT_CMP_INT(fd, >=, 0);
    /* Sparse: costs no disk, and the loader must stop reading past its cap anyway. */
    ASSERT_EQ_INT(ftruncate(fd, 100L << 20), 0);
    close(fd);
    expect_rejected(f, "error: file too large");
    unlink(f);
    free(f);
}

TEST(hostile_invalid_utf8) {
    const char bad[] = "name: ok\nsteps:\n  - id: caf\xc3\xa9\xff\n";
    char *f = th_write_temp(bad, sizeof bad - 1, ".yaml");
    expect_rejected(f, ":3:13: error: invalid UTF-8 (byte 0xFF)\n");
    unlink(f);
    free(f);
    const char overlong[] = "name: \xc0\xaf\n";
    f = th_write_temp(overlong, sizeof overlong - 1, ".yaml");
    expect_rejected(f, ":1:7: error: invalid UTF-8 (byte 0xC0)\n");
    unlink(f);
    free(f);
}
