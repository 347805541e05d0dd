/* What the CLI writes and where: the standard descriptors made safe at start-up, stdout writes
 * whose failure is noticed (fflush and ferror, not only fputs), and files replaced atomically
 * (a temporary file in the same directory, renamed over the target once complete). */
#ifndef MAE_CLI_OUT_H
#define MAE_CLI_OUT_H
#include <stddef.h>
#include <stdio.h>

/* Exit code when the command did its work but its output or its report could not be written
 * (a run that failed keeps its own code, 1, 3 or 130: see docs/cli.md). */
#define MAE_CLI_EXIT_WRITE 4

/* Call first in main, before anything opens a descriptor: a closed 0, 1 or 2 is reopened
 * (stdin and stderr onto /dev/null, stdout onto /dev/full, so that writing the output fails
 * like any other write error instead of landing in whatever descriptor took number 1). Also
 * ignores SIGXFSZ, so a file size limit is a write error (EFBIG) rather than a kill. */
void mae_cli_std_init(void);

/* Writes len bytes and flushes stdout. 0, or an errno value (EBADF when stdout was closed at
 * start-up). */
int mae_cli_stdout_write(const char *s, size_t len);
/* Flushes stdout and checks its error flag. 0 or an errno value. */
int mae_cli_stdout_finish(void);
/* A message for an errno value from the two functions above. */
const char *mae_cli_stdout_strerror(int err);

/* A file being replaced: the temporary file exists from mae_cli_file_open to commit/abandon. */
typedef struct mae_cli_file {
    char *path;   /* the target */
    char *tmp;    /* PATH's directory/.NAME.XXXXXX */
    FILE *f;
} mae_cli_file;
/* Creates the temporary file next to path (mode 0666 & ~umask, like fopen). Opening it early
 * reserves its descriptor before the run's connections can take them all. 0 or an errno value
 * (the object is then empty, and commit/abandon are no-ops). */
int mae_cli_file_open(mae_cli_file *o, const char *path);
/* Writes text, then a newline, flushes, syncs, closes and renames the temporary file over the
 * target. On any failure the temporary file is removed and the target is left as it was.
 * 0 or an errno value. Always releases o. */
int mae_cli_file_commit(mae_cli_file *o, const char *text, size_t len);
/* Removes the temporary file; the target is untouched. */
void mae_cli_file_abandon(mae_cli_file *o);
#endif
