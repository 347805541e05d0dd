/* Test helper: descriptor sets made at test time from .proto text by protoc-c (libprotoc 3.21:
 * proto3 `optional` included, which grpc_tools' older protoc refuses), with the well-known
 * types' .proto files that grpc_tools ships; and pools built from them. Test-only: static
 * functions. */
#ifndef MAE_TEST_PB_FX_H
#define MAE_TEST_PB_FX_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "grpc_h2/pb.h"
#include "harness.h"

#define FX_WKT_DIR "/usr/lib/python3/dist-packages/grpc_tools/_proto"

/* Writes each (name, text) pair into a fresh directory and compiles the first with
 * --include_imports; returns the FileDescriptorSet bytes (caller frees) and its length. The
 * directory's path goes to dir_out when non-NULL (caller frees), else it is removed. */
static inline uint8_t *fx_protoset(const char *const *files, size_t nfiles, size_t *len,
                                   char **dir_out) {
    char tmpl[] = "/tmp/mae-pb-XXXXXX";
    char *dir = mkdtemp(tmpl);
    ASSERT_NOT_NULL(dir);
    for (size_t i = 0; i + 1 < nfiles * 2; i += 2) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        FILE *f = fopen(path, "w");
        ASSERT_NOT_NULL(f);
        fputs(files[i + 1], f);
        fclose(f);
    }
    char inc[600], out[600];
    snprintf(inc, sizeof inc, "-I%s", dir);
    ASSERT_EQ_INT(chdir(dir), 0);
    snprintf(out, sizeof out, "--descriptor_set_out=%s/set.pb", dir);
    char *argv[] = {"protoc-c", inc, "-I" FX_WKT_DIR, out, "--include_imports",
                    (char *)files[0], NULL};
    char *so = NULL, *se = NULL;
    int rc = th_run(argv, NULL, &so, &se);
    if (rc != 0) th_fail(__FILE__, __LINE__, "protoc failed (%d): %s", rc, se ? se : "");
    free(so);
    free(se);
    char path[600];
    snprintf(path, sizeof path, "%s/set.pb", dir);
    uint8_t *buf = (uint8_t *)th_read_file(path, len);
    ASSERT_NOT_NULL(buf);
    if (dir_out) {
        *dir_out = strdup(dir);
    } else {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        ASSERT_EQ_INT(system(cmd), 0);
    }
    return buf;
}

/* A linked pool of one proto file (named "t.proto"). */
static inline mae__pb_pool *fx_pool1(const char *proto) {
    const char *files[] = {"t.proto", proto};
    size_t len;
    uint8_t *set = fx_protoset(files, 1, &len, NULL);
    mae__pb_pool *p = NULL;
    ASSERT_EQ_INT(mae__pb_pool_new(&p), 0);
    char err[256];
    int rc = mae__pb_pool_add_set(p, set, len, err, sizeof err);
    if (rc) th_fail(__FILE__, __LINE__, "add_set: %d %s", rc, err);
    rc = mae__pb_pool_link(p, err, sizeof err);
    if (rc) th_fail(__FILE__, __LINE__, "link: %d %s", rc, err);
    free(set);
    return p;
}

#endif
