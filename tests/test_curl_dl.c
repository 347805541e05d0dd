/* Issue #15: libcurl is loaded (dlopen of libcurl.so.4, transports/curl_dl.c) by the first HTTP
 * call, never linked: `maestro version`, `validate` and gRPC-only runs do not map it and its
 * ~30 libraries. libssl/libcrypto likewise (grpc_h2/grpc_tls.c loads libssl.so.3 for the first
 * TLS context): h2c runs never map them. Checked three ways: the ELF NEEDED entries of bin/maestro and libmaestro.so,
 * this process's own mappings around a first HTTP call (this test binary is linked like
 * bin/maestro, without libcurl), and the dynamic loader's trace (LD_DEBUG=files) of a gRPC-only
 * and an HTTP-only `maestro run`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http_fx.h"
#include "transports/curl_dl.h"

static bool maps_libcurl(void) {
    char *maps = th_read_file("/proc/self/maps", NULL);
    ASSERT_NOT_NULL(maps);
    bool yes = strstr(maps, "libcurl") != NULL;
    free(maps);
    return yes;
}

static const char *maestro_bin(void) {
    const char *b = getenv("MAESTRO_BIN");
    return b && *b ? b : th_path("bin/maestro");
}

static char *needed(const char *file) {
    char *argv[] = {"readelf", "-d", (char *)file, NULL};
    char *out = NULL, *err = NULL;
    ASSERT_EQ_INT(th_run(argv, NULL, &out, &err), 0);
    free(err);
    ASSERT_CONTAINS(out, "(NEEDED)");
    return out;
}

TEST(bin_maestro_and_libmaestro_so_do_not_link_libcurl) {
    char *out = needed(maestro_bin());
    ASSERT_CONTAINS(out, "libuv");
    ASSERT_TRUE(strstr(out, "libcurl") == NULL);
    ASSERT_TRUE(strstr(out, "libssl") == NULL);
    ASSERT_TRUE(strstr(out, "libcrypto") == NULL);
    free(out);
    const char *so = th_path("build/pic/libmaestro.so");
    if (access(so, R_OK) == 0) {   /* built by `make test` */
        out = needed(so);
        ASSERT_TRUE(strstr(out, "libcurl") == NULL);
        ASSERT_TRUE(strstr(out, "libssl") == NULL);
        ASSERT_TRUE(strstr(out, "libcrypto") == NULL);
        free(out);
    }
}

TEST(the_first_http_call_loads_libcurl_not_the_transport) {
    ASSERT_FALSE(maps_libcurl());
    fx f;
    fx_start(&f);
    ASSERT_FALSE(maps_libcurl());   /* a transport that makes no call never loads it */
    mae_call_req req = fx_req(&f, "GET", "/work", NULL);
    got g;
    call1(&f, &req, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    ASSERT_EQ_INT(g.status, 200);
    ASSERT_TRUE(maps_libcurl());
    mae__curl_api api;   /* loading again is fine: the loader hands back the same library */
    char err[256];
    ASSERT_EQ_INT(mae__curl_load(&api, err, sizeof err), 0);
    ASSERT_NOT_NULL(api.version_info(CURLVERSION_NOW));
    cJSON_Delete(g.out);
    fx_end(&f);
}

/* The loader's trace of `maestro run WF` against a closed port (the call fails; loading is
 * what is checked). */
static char *loader_trace(const char *yaml, const char *set) {
    char *wf = th_write_temp(yaml, strlen(yaml), ".yaml");
    ASSERT_NOT_NULL(wf);
    char *argv[] = {"env", "LD_DEBUG=files", (char *)maestro_bin(), "run", wf, "--quiet",
                    "--set", (char *)set, NULL};
    char *out = NULL, *err = NULL;
    int rc = th_run(argv, NULL, &out, &err);
    ASSERT_NE_INT(rc, 0);           /* nothing listens there */
    ASSERT_CONTAINS(err, "file=libuv.so.1");   /* the trace is there */
    free(out);
    unlink(wf);
    free(wf);
    return err;
}

TEST(a_grpc_only_run_never_loads_libcurl_an_http_run_does) {
    static const char grpc_wf[] =
        "name: g\nservices:\n  rpc: {type: grpc, endpoint: \"127.0.0.1:9\", timeout: 2s}\n"
        "steps:\n  - id: a\n    service: rpc\n    method: Echo\n    input: {}\n";
    static const char http_wf[] =
        "name: h\nservices:\n  web: {type: http, endpoint: \"http://127.0.0.1:9\", timeout: 2s}\n"
        "steps:\n  - id: a\n    service: web\n    method: \"GET /x\"\n";
    char *err = loader_trace(grpc_wf, "service.rpc.endpoint=127.0.0.1:1");
    ASSERT_TRUE(strstr(err, "libcurl") == NULL);
    ASSERT_TRUE(strstr(err, "libssl") == NULL);    /* h2c: no TLS library either */
    ASSERT_TRUE(strstr(err, "libcrypto") == NULL);
    free(err);
    err = loader_trace(http_wf, "service.web.endpoint=http://127.0.0.1:1");
    ASSERT_CONTAINS(err, "file=libcurl.so.4");
    free(err);
}

TEST(a_grpcs_run_loads_libssl_an_h2c_run_does_not) {
    static const char grpcs_wf[] =
        "name: g\nservices:\n  rpc: {type: grpc, endpoint: \"grpcs://127.0.0.1:9\", timeout: 2s}\n"
        "steps:\n  - id: a\n    service: rpc\n    method: Echo\n    input: {}\n";
    char *err = loader_trace(grpcs_wf, "service.rpc.endpoint=grpcs://127.0.0.1:1");
    ASSERT_CONTAINS(err, "file=libssl.so.3");
    ASSERT_CONTAINS(err, "file=libcrypto.so.3");
    ASSERT_TRUE(strstr(err, "libcurl") == NULL);
    free(err);
}
