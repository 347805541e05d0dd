/* Maestro's test harness: tests register themselves with TEST(), each runs in its own forked
 * process with a time limit, asserts print both operands, and main() ends with the line
 * "N passed, N failed" that tests/run.sh adds up. Helpers start real servers and the CLI. */
#ifndef MAE_TEST_HARNESS_H
#define MAE_TEST_HARNESS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

typedef void (*th_fn)(void);
void th_register(const char *name, th_fn fn, int timeout_s);
void th_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4), noreturn));

#define TH_CAT2(a, b) a##b
#define TH_CAT(a, b) TH_CAT2(a, b)
/* TEST(name) { ... } — default 60 s limit; TEST_T(name, secs) for longer ones. */
#define TEST_T(name, secs)                                                   \
    static void name(void);                                                  \
    __attribute__((constructor)) static void TH_CAT(th_reg_, name)(void) {   \
        th_register(#name, name, secs);                                      \
    }                                                                        \
    static void name(void)
#define TEST(name) TEST_T(name, 60)

#define ASSERT_TRUE(c) do { if (!(c)) th_fail(__FILE__, __LINE__, "expected true: %s", #c); } while (0)
#define ASSERT_FALSE(c) do { if (c) th_fail(__FILE__, __LINE__, "expected false: %s", #c); } while (0)
#define ASSERT_EQ_INT(a, b) do { long long th_a = (long long)(a), th_b = (long long)(b); \
    if (th_a != th_b) th_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, th_a, th_b); } while (0)
#define ASSERT_NE_INT(a, b) do { long long th_a = (long long)(a), th_b = (long long)(b); \
    if (th_a == th_b) th_fail(__FILE__, __LINE__, "%s != %s: both %lld", #a, #b, th_a); } while (0)
#define ASSERT_CMP_INT(a, op, b) do { long long th_a = (long long)(a), th_b = (long long)(b); \
    if (!(th_a op th_b)) th_fail(__FILE__, __LINE__, "%s %s %s: %lld vs %lld", #a, #op, #b, th_a, th_b); } while (0)
#define ASSERT_EQ_DBL(a, b, eps) do { double th_a = (a), th_b = (b); \
    if (!(th_a - th_b <= (eps) && th_b - th_a <= (eps))) \
        th_fail(__FILE__, __LINE__, "%s == %s: %.17g != %.17g", #a, #b, th_a, th_b); } while (0)
#define ASSERT_EQ_STR(a, b) do { const char *th_a = (a), *th_b = (b); \
    if (!th_a || !th_b || strcmp(th_a, th_b) != 0) \
        th_fail(__FILE__, __LINE__, "%s == %s:\n    got      \"%s\"\n    expected \"%s\"", #a, #b, \
                th_a ? th_a : "(null)", th_b ? th_b : "(null)"); } while (0)
#define ASSERT_CONTAINS(hay, needle) do { const char *th_h = (hay), *th_n = (needle); \
    if (!th_h || !strstr(th_h, th_n)) \
        th_fail(__FILE__, __LINE__, "%s contains %s:\n    in   \"%s\"\n    want \"%s\"", #hay, #needle, \
                th_h ? th_h : "(null)", th_n); } while (0)
#define ASSERT_NULL(p) do { if ((p) != NULL) th_fail(__FILE__, __LINE__, "expected NULL: %s", #p); } while (0)
#define ASSERT_NOT_NULL(p) do { if ((p) == NULL) th_fail(__FILE__, __LINE__, "expected non-NULL: %s", #p); } while (0)

/* Absolute path of a file in the source tree ($MAESTRO_ROOT, else "."). Static buffer per call slot. */
const char *th_path(const char *rel);
/* Reads a whole file (NUL-terminated); NULL if missing. Caller frees. */
char *th_read_file(const char *path, size_t *len);
/* Writes a temporary file with the given contents and suffix; returns its path (caller frees). */
char *th_write_temp(const char *contents, size_t len, const char *suffix);

/* A child process: a real server started by a test. */
typedef struct th_proc {
    pid_t pid;
    int port;          /* from the first "PORT <n>" line the child prints, else 0 */
    FILE *out;         /* the rest of the child's stdout */
} th_proc;
/* Starts argv (argv[0] looked up on PATH) and waits up to timeout_s for a "PORT <n>" line. */
int th_spawn(th_proc *p, char *const argv[], int timeout_s);
/* Sends SIGTERM, then SIGKILL after 2 s; reaps. Returns the exit status from waitpid. */
int th_stop(th_proc *p);

/* Runs the maestro binary ($MAESTRO_BIN, else bin/maestro) with argv (argv[0] ignored), optional
 * stdin text; collects stdout and stderr (caller frees) and returns the exit code (-signal if killed). */
int th_maestro(char *const argv[], const char *stdin_text, char **out, char **err);
/* Same with the CLI's test build ($MAESTRO_TEST_BIN, else build/norm/tests/maestro-test), which
 * uses the scripted transport when MAESTRO_SCRIPT names a rules file (tests/support/cli_script.h). */
int th_maestro_test(char *const argv[], const char *stdin_text, char **out, char **err);
/* The path th_maestro_test runs. */
const char *th_maestro_test_bin(void);
/* Same for any command. */
int th_run(char *const argv[], const char *stdin_text, char **out, char **err);

#define TH_PYTHON "/usr/bin/python3"

#endif
