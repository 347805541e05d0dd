/* Fixtures of the `maestro serve` tests: a stub and a serve process with real clients (curl,
 * Python's http.client, wrk). Header-only; each test binary includes it once. */
#ifndef MAE_TEST_SERVE_FX_H
#define MAE_TEST_SERVE_FX_H

#include <errno.h>
#include <stdarg.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/harness.h"

typedef struct sv_proc {
    pid_t pid;
    int port;
    char errfile[256];     /* the server's stderr */
} sv_proc;

static inline const char *sv_bin(void) {
    const char *b = getenv("MAESTRO_BIN");
    return b ? b : th_path("bin/maestro");
}

/* Starts `maestro serve ARGS...` and waits for its LISTEN line. */
static inline int sv_start(sv_proc *p, char *const args[]) {
    char *argv[64];
    int n = 0;
    argv[n++] = (char *)sv_bin();
    argv[n++] = "serve";
    for (int i = 0; args[i] && n < 60; i++) argv[n++] = args[i];
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1:0";
    argv[n] = NULL;
    memset(p, 0, sizeof *p);
    char *tmp = th_write_temp("", 0, ".err");
    snprintf(p->errfile, sizeof p->errfile, "%s", tmp);
    free(tmp);
    int pipefd[2];
    if (pipe(pipefd) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(pipefd[1], 1);
        FILE *e = fopen(p->errfile, "w");
        if (e) dup2(fileno(e), 2);
        close(pipefd[0]);
        close(pipefd[1]);
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execv(argv[0], argv);
        _exit(127);
    }
    close(pipefd[1]);
    p->pid = pid;
    FILE *out = fdopen(pipefd[0], "r");
    struct pollfd pfd = {.fd = pipefd[0], .events = POLLIN};
    char line[256];
    time_t end = time(NULL) + 20;
    while (time(NULL) < end) {
        if (poll(&pfd, 1, 200) <= 0) continue;
        if (!fgets(line, sizeof line, out)) break;
        char *colon = strrchr(line, ':');
        if (strncmp(line, "LISTEN ", 7) == 0 && colon) {
            p->port = atoi(colon + 1);
            fclose(out);
            return 0;
        }
    }
    fclose(out);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    p->pid = 0;
    return -1;
}

/* Sends sig and waits up to timeout_s for the exit; the exit status, or -1 (then killed). */
static inline int sv_signal_wait(sv_proc *p, int sig, int timeout_s) {
    int st = 0;
    if (p->pid <= 0) return -1;
    kill(p->pid, sig);
    for (int i = 0; i < timeout_s * 100; i++) {
        if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
            p->pid = 0;
            return st;
        }
        usleep(10000);
    }
    kill(p->pid, SIGKILL);
    waitpid(p->pid, &st, 0);
    p->pid = 0;
    return -1;
}

static inline void sv_stop(sv_proc *p) {
    if (p->pid > 0) sv_signal_wait(p, SIGTERM, 10);
}

/* A stub file (contents) started with `maestro stub FILE --log LOG`; *log_path malloc'd. */
static inline void sv_stub(th_proc *stub, const char *yaml, char **log_path) {
    char *file = th_write_temp(yaml, strlen(yaml), ".yaml");
    *log_path = th_write_temp("", 0, ".log");
    char *argv[] = {(char *)sv_bin(), "stub", file, "--log", *log_path, NULL};
    ASSERT_EQ_INT(th_spawn(stub, argv, 20), 0);
    free(file);
}

/* curl with args; stdout (body, or what -w prints) returned, malloc'd. */
static inline char *sv_curl(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline char *sv_curl(const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char full[4200];
    snprintf(full, sizeof full, "curl -sS --max-time 30 %s", cmd);
    char *argv[] = {"sh", "-c", full, NULL};
    char *out = NULL, *err = NULL;
    th_run(argv, NULL, &out, &err);
    free(err);
    return out;
}

static inline int sv_count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; p && (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* The value of a metric line "name{labels} value" (labels as printed), -1 when absent. */
static inline double sv_metric(const char *text, const char *series) {
    const char *p = text;
    size_t n = strlen(series);
    while (p && *p) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ') return atof(p + n + 1);
        p = strchr(p, '\n');
        if (p) p++;
    }
    return -1;
}

#endif
