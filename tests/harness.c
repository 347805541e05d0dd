/* The harness behind harness.h: registration, one forked process per test, summary line. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TH_MAX 1024
static struct { const char *name; th_fn fn; int timeout_s; } tests[TH_MAX];
static int n_tests;

void th_register(const char *name, th_fn fn, int timeout_s) {
    if (n_tests == TH_MAX) { fprintf(stderr, "too many tests\n"); exit(2); }
    tests[n_tests].name = name;
    tests[n_tests].fn = fn;
    tests[n_tests].timeout_s = timeout_s;
    n_tests++;
}

void th_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    fprintf(stdout, "  %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
    _exit(1);
}

const char *th_path(const char *rel) {
    static char bufs[8][4096];
    static int slot;
    const char *root = getenv("MAESTRO_ROOT");
    char *b = bufs[slot++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", root ? root : ".", rel);
    return b;
}

char *th_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n + 1 >= cap) buf = realloc(buf, cap *= 2);
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        if (r == 0) break;
        n += r;
    }
    fclose(f);
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

char *th_write_temp(const char *contents, size_t len, const char *suffix) {
    char *path = malloc(256);
    snprintf(path, 256, "/tmp/maestro-test-XXXXXX%s", suffix ? suffix : "");
    int fd = mkstemps(path, suffix ? (int)strlen(suffix) : 0);
    if (fd < 0) { perror("mkstemps"); exit(1); }
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fd, contents + off, len - off);
        if (w <= 0) { perror("write"); exit(1); }
        off += (size_t)w;
    }
    close(fd);
    return path;
}

int th_spawn(th_proc *p, char *const argv[], int timeout_s) {
    int pipefd[2];
    memset(p, 0, sizeof *p);
    if (pipe(pipefd) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(pipefd[1], 1);
        close(pipefd[0]);
        close(pipefd[1]);
        setpgid(0, 0);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(pipefd[1]);
    p->pid = pid;
    p->out = fdopen(pipefd[0], "r");
    struct pollfd pfd = {.fd = pipefd[0], .events = POLLIN};
    char line[512];
    time_t end = time(NULL) + timeout_s;
    while (time(NULL) < end) {
        if (poll(&pfd, 1, 200) <= 0) continue;
        if (!fgets(line, sizeof line, p->out)) break;
        if (sscanf(line, "PORT %d", &p->port) == 1) return 0;
    }
    th_stop(p);
    return -1;
}

int th_stop(th_proc *p) {
    int st = 0;
    if (p->pid <= 0) return 0;
    kill(-p->pid, SIGTERM);
    kill(p->pid, SIGTERM);
    for (int i = 0; i < 200; i++) {
        if (waitpid(p->pid, &st, WNOHANG) == p->pid) goto done;
        usleep(10000);
    }
    kill(-p->pid, SIGKILL);
    kill(p->pid, SIGKILL);
    waitpid(p->pid, &st, 0);
done:
    if (p->out) fclose(p->out);
    p->out = NULL;
    p->pid = 0;
    return st;
}

/* Reads both pipes to EOF without deadlock, feeding stdin as we go. */
int th_run(char *const argv[], const char *stdin_text, char **out, char **err) {
    int in[2], o[2], e[2];
    if (pipe(in) || pipe(o) || pipe(e)) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(in[0], 0); dup2(o[1], 1); dup2(e[1], 2);
        close(in[0]); close(in[1]); close(o[0]); close(o[1]); close(e[0]); close(e[1]);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(in[0]); close(o[1]); close(e[1]);
    signal(SIGPIPE, SIG_IGN);
    const char *inp = stdin_text ? stdin_text : "";
    size_t in_left = strlen(inp);
    if (in_left == 0) { close(in[1]); in[1] = -1; }
    char *bufs[2] = {NULL, NULL};
    size_t lens[2] = {0, 0}, caps[2] = {0, 0};
    int fds[2] = {o[0], e[0]};
    while (fds[0] >= 0 || fds[1] >= 0 || in[1] >= 0) {
        struct pollfd pf[3];
        int n = 0, map[3];
        for (int i = 0; i < 2; i++) if (fds[i] >= 0) { pf[n].fd = fds[i]; pf[n].events = POLLIN; map[n++] = i; }
        if (in[1] >= 0) { pf[n].fd = in[1]; pf[n].events = POLLOUT; map[n++] = 2; }
        if (poll(pf, n, -1) < 0) { if (errno == EINTR) continue; break; }
        for (int k = 0; k < n; k++) {
            if (!pf[k].revents) continue;
            int i = map[k];
            if (i == 2) {
                ssize_t w = write(in[1], inp, in_left);
                if (w > 0) { inp += w; in_left -= (size_t)w; }
                if (w <= 0 || in_left == 0) { close(in[1]); in[1] = -1; }
                continue;
            }
            if (caps[i] - lens[i] < 4096) bufs[i] = realloc(bufs[i], caps[i] = caps[i] * 2 + 8192);
            ssize_t r = read(fds[i], bufs[i] + lens[i], caps[i] - lens[i] - 1);
            if (r <= 0) { close(fds[i]); fds[i] = -1; } else lens[i] += (size_t)r;
        }
    }
    for (int i = 0; i < 2; i++) { if (!bufs[i]) bufs[i] = calloc(1, 1); bufs[i][lens[i]] = 0; }
    int st;
    waitpid(pid, &st, 0);
    if (out) *out = bufs[0]; else free(bufs[0]);
    if (err) *err = bufs[1]; else free(bufs[1]);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
}

static int run_bin(const char *bin, char *const argv[], const char *stdin_text, char **out, char **err) {
    int n = 0;
    while (argv[n]) n++;
    char **a = calloc((size_t)n + 2, sizeof *a);
    a[0] = (char *)bin;
    for (int i = 1; i < n; i++) a[i] = argv[i];
    int rc = th_run(a, stdin_text, out, err);
    free(a);
    return rc;
}

int th_maestro(char *const argv[], const char *stdin_text, char **out, char **err) {
    const char *bin = getenv("MAESTRO_BIN");
    return run_bin(bin ? bin : th_path("bin/maestro"), argv, stdin_text, out, err);
}

const char *th_maestro_test_bin(void) {
    const char *bin = getenv("MAESTRO_TEST_BIN");
    return bin ? bin : th_path("build/norm/tests/maestro-test");
}

int th_maestro_test(char *const argv[], const char *stdin_text, char **out, char **err) {
    return run_bin(th_maestro_test_bin(), argv, stdin_text, out, err);
}

int main(int argc, char **argv) {
    int pass = 0, fail = 0;
    const char *only = argc > 1 ? argv[1] : NULL;
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* a test is an embedding host: like any libuv program it must not die of a write to a
     * socket its peer closed (docs/embedding.md); the socket write then fails with EPIPE */
    signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < n_tests; i++) {
        if (only && !strstr(tests[i].name, only)) continue;
        fflush(stdout);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        pid_t pid = fork();
        if (pid == 0) {
            alarm((unsigned)tests[i].timeout_s);
            tests[i].fn();
            fflush(stdout);
            exit(0);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
            pass++;
            printf("ok   %s (%ld ms)\n", tests[i].name, ms);
        } else {
            fail++;
            if (WIFSIGNALED(st))
                printf("FAIL %s: killed by signal %d%s\n", tests[i].name, WTERMSIG(st),
                       WTERMSIG(st) == SIGALRM ? " (time limit)" : "");
            else
                printf("FAIL %s (exit %d)\n", tests[i].name, WEXITSTATUS(st));
        }
    }
    printf("%d passed, %d failed\n", pass, fail);
    return fail ? 1 : 0;
}
