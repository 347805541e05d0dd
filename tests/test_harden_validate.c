/* Issue #17, defect 8: validation is linear in the number of template references. A string with
 * 100k references took 163 s because a line:col was computed for every reference; the limits
 * below are bounds against that hang (today's figures are well under a second), not timings. */
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* A workflow whose step b holds n references in one string: {{ .ROOT.id }} each. */
static char *big_workflow(int n, const char *root) {
    size_t cap = (size_t)n * 24 + 1024, len = 0;
    char *y = malloc(cap);
    ASSERT_NOT_NULL(y);
    len += (size_t)snprintf(y, cap,
                            "name: big\nservices:\n  s: {type: grpc, endpoint: \"127.0.0.1:1\"}\nsteps:\n"
                            "  - {id: a, service: s, method: A, output: a}\n"
                            "  - {id: b, service: s, method: B, input: {x: \"");
    for (int i = 0; i < n; i++) len += (size_t)snprintf(y + len, cap - len, "{{ .%s.id }} ", root);
    len += (size_t)snprintf(y + len, cap - len, "\"}}\n");
    char *p = th_write_temp(y, len, ".yaml");
    free(y);
    return p;
}

static int validate(const char *path, char **out, char **err) {
    char *argv[] = {"maestro", "validate", (char *)path, NULL};
    return th_maestro(argv, NULL, out, err);
}

/* Was 163 s; the test's 20 s limit kills the child process if validation hangs. */
TEST_T(validate_100k_references_in_one_string, 20) {
    char *p = big_workflow(100000, "a"), *out = NULL, *err = NULL;
    ASSERT_EQ_INT(validate(p, &out, &err), 0);
    ASSERT_CONTAINS(err, ": ok");
    unlink(p);
    free(p);
    free(out);
    free(err);
}

/* Four times the input again (400k references, 5.2 MB, inside the loader's caps): linear work
 * finishes well inside the limit, quadratic work (16x of 163 s) never would. */
TEST_T(validate_400k_references_in_one_string, 40) {
    char *p = big_workflow(400000, "a"), *out = NULL, *err = NULL;
    ASSERT_EQ_INT(validate(p, &out, &err), 0);
    ASSERT_CONTAINS(err, ": ok");
    unlink(p);
    free(p);
    free(out);
    free(err);
}

/* Diagnostics still carry exact positions, and 100k bad references stop at the diagnostic cap. */
TEST_T(validate_100k_bad_references_positions_and_cap, 20) {
    char *p = big_workflow(100000, "zz"), *out = NULL, *err = NULL;
    ASSERT_EQ_INT(validate(p, &out, &err), 2);
    /* line 6; the first reference's '.' is column 51, each reference takes 13 columns */
    ASSERT_CONTAINS(err, ":6:51: error: unknown variable '.zz'");
    ASSERT_CONTAINS(err, ":6:64: error: unknown variable '.zz'");
    ASSERT_CONTAINS(err, "more errors not shown");
    unlink(p);
    free(p);
    free(out);
    free(err);
}
