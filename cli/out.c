/* The CLI's writes: standard descriptors, stdout errors, atomic file replacement. Plain stdio and
 * POSIX calls; nothing here knows about runs or reports. */
#include "cli/out.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Set once at start-up, before anything else runs: the process had no stdout. */
static int stdout_was_closed;

void mae_cli_std_init(void) {
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
        /* The lowest free number is fd itself, since the lower ones are open by now. */
        int nfd = fd == 1 ? open("/dev/full", O_WRONLY) : -1;
        if (nfd < 0) nfd = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
        if (nfd >= 0 && nfd != fd) {
            dup2(nfd, fd);
            close(nfd);
        }
        if (fd == 1) stdout_was_closed = 1;
    }
    signal(SIGXFSZ, SIG_IGN);
}

int mae_cli_stdout_finish(void) {
    if (fflush(stdout) != 0 || ferror(stdout)) return stdout_was_closed ? EBADF : errno ? errno : EIO;
    return 0;
}

int mae_cli_stdout_write(const char *s, size_t len) {
    if (stdout_was_closed) return EBADF;
    errno = 0;
    if (len && fwrite(s, 1, len, stdout) != len) return errno ? errno : EIO;
    return mae_cli_stdout_finish();
}

const char *mae_cli_stdout_strerror(int err) {
    return err == EBADF && stdout_was_closed ? "stdout is closed" : strerror(err);
}

int mae_cli_file_open(mae_cli_file *o, const char *path) {
    memset(o, 0, sizeof *o);
    const char *slash = strrchr(path, '/');
    size_t dl = slash ? (size_t)(slash - path) + 1 : 0;
    const char *base = slash ? slash + 1 : path;
    struct stat st;
    /* rename(2) cannot replace a directory: say so before anything is called */
    if (!*base || (stat(path, &st) == 0 && S_ISDIR(st.st_mode))) return EISDIR;
    o->path = strdup(path);
    o->tmp = malloc(dl + strlen(base) + 10);
    if (!o->path || !o->tmp) {
        mae_cli_file_abandon(o);
        return ENOMEM;
    }
    /* Hidden, in the same directory: rename(2) then replaces the target in one step. */
    sprintf(o->tmp, "%.*s.%s.XXXXXX", (int)dl, path, base);
    int fd = mkstemp(o->tmp);
    if (fd < 0) {
        int e = errno;
        free(o->tmp);
        o->tmp = NULL;
        mae_cli_file_abandon(o);
        return e;
    }
    mode_t um = umask(0);
    umask(um);
    if (fchmod(fd, 0666 & ~um) != 0 || !(o->f = fdopen(fd, "wb"))) {
        int e = errno;
        close(fd);
        mae_cli_file_abandon(o);
        return e;
    }
    return 0;
}

void mae_cli_file_abandon(mae_cli_file *o) {
    if (o->f) fclose(o->f);
    if (o->tmp) unlink(o->tmp);
    free(o->tmp);
    free(o->path);
    memset(o, 0, sizeof *o);
}

int mae_cli_file_commit(mae_cli_file *o, const char *text, size_t len) {
    if (!o->f) return EBADF;
    errno = 0;
    int e = 0;
    if (fwrite(text, 1, len, o->f) != len || fputc('\n', o->f) == EOF || fflush(o->f) != 0 || ferror(o->f) ||
        fsync(fileno(o->f)) != 0)
        e = errno ? errno : EIO;
    /* fclose's own error counts too (NFS reports some only there). */
    FILE *f = o->f;
    o->f = NULL;
    if (fclose(f) != 0 && !e) e = errno ? errno : EIO;
    if (!e && rename(o->tmp, o->path) != 0) e = errno;
    if (!e) {
        free(o->tmp);
        o->tmp = NULL;
    }
    mae_cli_file_abandon(o);
    return e;
}
