/* Issue #14, CLI conventions: unknown commands and options give one line with "did you mean"
 * and a "Try 'maestro help CMD'." line (never a page of usage); --opt=value is accepted;
 * `maestro help CMD` prints that command's help; a flag that takes no value is not asked for
 * one; an option is never taken for a file name; a missing @file is one message with the
 * system's reason; stub and validate give the real reason and know stub files. */
#include <unistd.h>

#include "harness.h"

static int lines(const char *s) {
    int n = 0;
    for (; s && *s; s++) n += *s == '\n';
    return n;
}

/* Runs maestro with argv; returns the exit code, stdout and stderr in *out and *err. */
static int mae(char *const argv[], char **out, char **err) {
    free(*out);
    free(*err);
    *out = *err = NULL;
    return th_maestro(argv, NULL, out, err);
}

static const char *wf(void) {
    static char *p;
    if (!p) p = strdup(th_path("examples/workflows/user_onboarding.yaml"));
    return p;
}

TEST(unknown_command_suggests) {
    char *out = NULL, *err = NULL;
    char *a[] = {"maestro", "rn", NULL};
    ASSERT_EQ_INT(mae(a, &out, &err), 2);
    ASSERT_EQ_STR(err, "maestro: unknown command 'rn'; did you mean 'run'?\nTry 'maestro help'.\n");
    ASSERT_EQ_STR(out, "");
    char *b[] = {"maestro", "valdiate", NULL};
    ASSERT_EQ_INT(mae(b, &out, &err), 2);
    ASSERT_CONTAINS(err, "did you mean 'validate'?");
    /* nothing close: no suggestion, still two lines */
    char *c[] = {"maestro", "frobnicate", NULL};
    ASSERT_EQ_INT(mae(c, &out, &err), 2);
    ASSERT_EQ_STR(err, "maestro: unknown command 'frobnicate'\nTry 'maestro help'.\n");
    free(out);
    free(err);
}

TEST(unknown_option_suggests) {
    char *out = NULL, *err = NULL;
    char *a[] = {"maestro", "run", "--inptu", "{}", (char *)wf(), NULL};
    ASSERT_EQ_INT(mae(a, &out, &err), 2);
    ASSERT_EQ_STR(err, "maestro run: unknown option '--inptu'; did you mean '--input'?\nTry 'maestro help run'.\n");
    char *b[] = {"maestro", "bench", "--jsn", NULL};
    ASSERT_EQ_INT(mae(b, &out, &err), 2);
    ASSERT_EQ_STR(err, "maestro bench: unknown option '--jsn'; did you mean '--json'?\nTry 'maestro help bench'.\n");
    /* the flag is not taken for a file name */
    char *c[] = {"maestro", "validate", "--strict", (char *)wf(), NULL};
    ASSERT_EQ_INT(mae(c, &out, &err), 2);
    ASSERT_EQ_STR(err, "maestro validate: unknown option '--strict'\nTry 'maestro help validate'.\n");
    char *d[] = {"maestro", "stub", "--lgo", "x", NULL};
    ASSERT_EQ_INT(mae(d, &out, &err), 2);
    ASSERT_CONTAINS(err, "did you mean '--log'?");
    ASSERT_EQ_INT(lines(err), 2);
    char *e[] = {"maestro", "graph", "--fromat=dot", (char *)wf(), NULL};
    ASSERT_EQ_INT(mae(e, &out, &err), 2);
    ASSERT_CONTAINS(err, "unknown option '--fromat'; did you mean '--format'?");
    free(out);
    free(err);
}

TEST(opt_equals_value) {
    char *out = NULL, *err = NULL;
    /* --input={...}: the value after '=' (the input lacks 'email': refused, not a usage error) */
    char *a[] = {"maestro", "run", (char *)wf(), "--input={\"name\":\"x\"}", "--timeout=5s", NULL};
    ASSERT_EQ_INT(mae(a, &out, &err), 2);
    ASSERT_FALSE(strstr(err, "Try 'maestro help"));
    ASSERT_FALSE(strstr(err, "needs a value"));
    ASSERT_FALSE(strstr(err, "unknown option"));
    ASSERT_CONTAINS(err, "email");
    char *b[] = {"maestro", "graph", "--format=mermaid", (char *)wf(), NULL};
    ASSERT_EQ_INT(mae(b, &out, &err), 0);
    ASSERT_CONTAINS(out, "flowchart");
    /* a flag given a value */
    char *c[] = {"maestro", "run", (char *)wf(), "--quiet=yes", NULL};
    ASSERT_EQ_INT(mae(c, &out, &err), 2);
    ASSERT_CONTAINS(err, "--quiet takes no value");
    free(out);
    free(err);
}

TEST(values_required) {
    char *out = NULL, *err = NULL;
    char *a[] = {"maestro", "run", (char *)wf(), "--report", NULL};
    ASSERT_EQ_INT(mae(a, &out, &err), 2);
    ASSERT_EQ_STR(err, "maestro run: --report needs a value (FILE)\nTry 'maestro help run'.\n");
    /* the next option is not taken for the value */
    char *b[] = {"maestro", "run", (char *)wf(), "--report", "--quiet", NULL};
    ASSERT_EQ_INT(mae(b, &out, &err), 2);
    ASSERT_CONTAINS(err, "--report needs a value");
    char *c[] = {"maestro", "bench", (char *)wf(), "-n", NULL};
    ASSERT_EQ_INT(mae(c, &out, &err), 2);
    ASSERT_CONTAINS(err, "-n needs a value");
    free(out);
    free(err);
}

TEST(help_command) {
    char *out = NULL, *err = NULL;
    char *a[] = {"maestro", "help", "run", NULL};
    ASSERT_EQ_INT(mae(a, &out, &err), 0);
    ASSERT_TRUE(strncmp(out, "usage: maestro run ", 19) == 0);
    ASSERT_CONTAINS(out, "--report FILE");
    char *b[] = {"maestro", "help", "bench", NULL};
    ASSERT_EQ_INT(mae(b, &out, &err), 0);
    ASSERT_CONTAINS(out, "-n, --runs RUNS");
    char *c[] = {"maestro", "help", "stbu", NULL};
    ASSERT_EQ_INT(mae(c, &out, &err), 2);
    ASSERT_CONTAINS(err, "did you mean 'stub'?");
    char *d[] = {"maestro", "help", NULL};
    ASSERT_EQ_INT(mae(d, &out, &err), 0);
    ASSERT_CONTAINS(out, "maestro validate");
    free(out);
    free(err);
}

TEST(input_file_errors_once) {
    char *out = NULL, *err = NULL;
    char *a[] = {"maestro", "run", (char *)wf(), "--input", "@/nonexistent/missing.json", NULL};
    ASSERT_EQ_INT(mae(a, &out, &err), 2);
    ASSERT_EQ_STR(err, "maestro run: --input: cannot read /nonexistent/missing.json: No such file or directory; "
                       "nothing was called\n");
    char *b[] = {"maestro", "run", (char *)wf(), "--input", "@/", NULL};
    ASSERT_EQ_INT(mae(b, &out, &err), 2);
    ASSERT_CONTAINS(err, "cannot read /: Is a directory");
    ASSERT_EQ_INT(lines(err), 1);
    /* position of a JSON error, trailing junk refused */
    char *c[] = {"maestro", "run", (char *)wf(), "--input", "{\"a\":1} junk", NULL};
    ASSERT_EQ_INT(mae(c, &out, &err), 2);
    ASSERT_CONTAINS(err, "line 1, column");
    char *d[] = {"maestro", "run", (char *)wf(), "--input", "{\n bad", NULL};
    ASSERT_EQ_INT(mae(d, &out, &err), 2);
    ASSERT_CONTAINS(err, "line 2, column");
    ASSERT_FALSE(strstr(err, "not a JSON object"));
    free(out);
    free(err);
}

TEST(stub_real_reason_and_validate_knows_stubs) {
    char *out = NULL, *err = NULL;
    char *a[] = {"maestro", "stub", "/nonexistent/stubs.yaml", NULL};
    ASSERT_EQ_INT(mae(a, &out, &err), 2);
    ASSERT_CONTAINS(err, "No such file or directory");
    ASSERT_FALSE(strstr(err, "input/output error"));
    char *sf = strdup(th_path("examples/stubs/deploy_service.yaml"));
    char *b[] = {"maestro", "validate", sf, NULL};
    ASSERT_EQ_INT(mae(b, &out, &err), 0);
    ASSERT_CONTAINS(err, "ok (stub file)");
    /* a broken stub file gets the stub schema's messages, not the workflow's */
    const char bad[] = "services:\n  s:\n    type: http\n    listen: 127.0.0.1:0\n    routes:\n      \"GET /\": {respnd: 1}\n";
    char *bf = th_write_temp(bad, sizeof bad - 1, ".yaml");
    char *c[] = {"maestro", "validate", bf, NULL};
    ASSERT_EQ_INT(mae(c, &out, &err), 2);
    ASSERT_FALSE(strstr(err, "missing required key 'steps'"));
    ASSERT_CONTAINS(err, "respnd");
    char *d[] = {"maestro", "stub", "--check", bf, NULL};
    ASSERT_EQ_INT(mae(d, &out, &err), 2);
    ASSERT_CONTAINS(err, "respnd");
    char *e[] = {"maestro", "stub", "--check", sf, NULL};
    ASSERT_EQ_INT(mae(e, &out, &err), 0);
    ASSERT_EQ_STR(out, "");
    unlink(bf);
    free(bf);
    free(sf);
    free(out);
    free(err);
}

/* --set is held to what the YAML's endpoint is (an HTTP endpoint without a scheme, a gRPC one
 * without a port), before anything is called; a report that cannot be written is an error. */
TEST(set_checked_like_yaml_and_report_destination) {
    char *out = NULL, *err = NULL;
    char *in = strdup(th_path("examples/inputs/user_onboarding.json"));
    char inarg[600];
    snprintf(inarg, sizeof inarg, "@%s", in);
    char *a[] = {"maestro", "run", (char *)wf(), "--input", inarg, "--set", "service.email.endpoint=127.0.0.1:3000", NULL};
    ASSERT_EQ_INT(mae(a, &out, &err), 2);
    ASSERT_CONTAINS(err, "--set: invalid http endpoint '127.0.0.1:3000': no http:// or https://");
    ASSERT_EQ_STR(out, "");
    char *b[] = {"maestro", "run", (char *)wf(), "--input", inarg, "--set", "service.auth.endpoint=127.0.0.1", NULL};
    ASSERT_EQ_INT(mae(b, &out, &err), 2);
    ASSERT_CONTAINS(err, "--set: invalid grpc endpoint '127.0.0.1' (expected host:port)");
    char *c[] = {"maestro", "run", (char *)wf(), "--input", inarg, "--set", "service.emial.endpoint=http://x:1", NULL};
    ASSERT_EQ_INT(mae(c, &out, &err), 2);
    ASSERT_CONTAINS(err, "no service 'emial'; did you mean 'email'?");
    char *d[] = {"maestro", "run", (char *)wf(), "--input", inarg, "--report", "/nonexistent/r.json", NULL};
    ASSERT_EQ_INT(mae(d, &out, &err), 2);
    ASSERT_CONTAINS(err, "cannot write the report to /nonexistent/r.json: No such file or directory; nothing was called");
    free(in);
    free(out);
    free(err);
}

/* A directory given for a file: the system's reason, for workflows and stub files alike. */
TEST(directory_for_a_file_says_why) {
    char *out = NULL, *err = NULL;
    char *dir = strdup(th_path("examples/workflows"));
    char *a[] = {"maestro", "validate", dir, NULL};
    ASSERT_EQ_INT(mae(a, &out, &err), 2);
    ASSERT_CONTAINS(err, ": error: cannot read file: Is a directory\n");
    char *b[] = {"maestro", "stub", dir, NULL};
    ASSERT_EQ_INT(mae(b, &out, &err), 2);
    ASSERT_CONTAINS(err, ": error: cannot read file: Is a directory\n");
    ASSERT_FALSE(strstr(err, "empty stub file"));
    free(dir);
    free(out);
    free(err);
}
