/* Fixtures of the typed gRPC tests: the test schema (tests/servers/typed/) compiled into a
 * FileDescriptorSet with protoc-c at test time, in a fresh directory that also holds the
 * workflow files (descriptors: paths are relative to the workflow). */
#ifndef MAE_TYPED_FX_H
#define MAE_TYPED_FX_H

#include <dirent.h>
#include <unistd.h>

#include "harness.h"

typedef struct typed_dir {
    char dir[64];
    char set[128];      /* dir/deploy.protoset */
} typed_dir;

static inline void typed_dir_make(typed_dir *d) {
    snprintf(d->dir, sizeof d->dir, "/tmp/maestro-typed-XXXXXX");
    ASSERT_NOT_NULL(mkdtemp(d->dir));
    snprintf(d->set, sizeof d->set, "%s/deploy.protoset", d->dir);
    char inc[4200];
    snprintf(inc, sizeof inc, "-I%s", th_path("tests/servers/typed"));
    char *argv[] = {"protoc-c", inc, "-o", d->set, "--include_imports", "acme/deploy/v1/deploy.proto",
                    "grpc/health/v1/health.proto", NULL};
    char *out = NULL, *err = NULL;
    int rc = th_run(argv, NULL, &out, &err);
    if (rc != 0) th_fail(__FILE__, __LINE__, "protoc-c failed (%d): %s", rc, err);
    free(out);
    free(err);
}

/* Writes dir/name with text; returns the path (static buffer per call slot of 4). */
static inline const char *typed_dir_file(typed_dir *d, const char *name, const char *text) {
    static char paths[4][256];
    static int slot;
    char *p = paths[slot++ & 3];
    snprintf(p, 256, "%s/%s", d->dir, name);
    FILE *f = fopen(p, "w");
    ASSERT_NOT_NULL(f);
    fputs(text, f);
    fclose(f);
    return p;
}

static inline void typed_dir_remove(typed_dir *d) {
    DIR *dd = opendir(d->dir);
    if (!dd) return;
    struct dirent *e;
    while ((e = readdir(dd))) {
        if (e->d_name[0] == '.') continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", d->dir, e->d_name);
        unlink(p);
    }
    closedir(dd);
    rmdir(d->dir);
}

#endif
