/* gRPC message compression: the zlib codec on its own (round trips, truncation, trailing bytes,
 * the inflation bound), grpcio with server-side gzip and our gzip/deflate requests, and a raw
 * HTTP/2 peer (tests/servers/h2_compress_keepalive.py) sending deflate, corrupt, unsupported and
 * bomb replies; the bomb is refused with RESOURCE_EXHAUSTED while the process's peak memory
 * stays far below what it inflates to. */
#include <sys/resource.h>

#include <uv.h>
#include <zlib.h>

#include "grpc_h2/grpc_client_int.h"
#include "grpc_h2/grpc_compress.h"
#include "grpc_h2/grpc_transport.h"
#include "harness.h"
#include "maestro/maestro.h"
#include "target_fx.h"

/* ---- The codec ---- */

TEST(compress_roundtrip_gzip_and_deflate) {
    const char *text = "{\"hello\":\"world\",\"again\":\"world world world world world\"}";
    size_t n = strlen(text);
    mae_grpc_encoding encs[] = {MAE_GRPC_ENC_GZIP, MAE_GRPC_ENC_DEFLATE};
    for (int i = 0; i < 2; i++) {
        uint8_t *z, *back;
        size_t zlen, blen;
        ASSERT_EQ_INT(mae__grpc_deflate(encs[i], (const uint8_t *)text, n, 5, &z, &zlen), 0);
        /* gzip starts with its magic bytes, the zlib format with 0x78. */
        if (encs[i] == MAE_GRPC_ENC_GZIP) ASSERT_EQ_INT(z[5], 0x1f);
        else ASSERT_EQ_INT(z[5], 0x78);
        ASSERT_EQ_INT(mae__grpc_inflate(encs[i], z + 5, zlen - 5, n, &back, &blen), 0);
        ASSERT_EQ_INT(blen, n);
        ASSERT_TRUE(memcmp(back, text, n) == 0);
        free(back);
        /* One byte less than it inflates to: refused. */
        ASSERT_EQ_INT(mae__grpc_inflate(encs[i], z + 5, zlen - 5, n - 1, &back, &blen), MAE_ETOOBIG);
        ASSERT_NULL(back);
        /* Cut short, and with bytes after the end. */
        ASSERT_EQ_INT(mae__grpc_inflate(encs[i], z + 5, zlen - 8, n, &back, &blen), MAE_EDECODE);
        uint8_t *more = malloc(zlen + 3);
        memcpy(more, z, zlen);
        memcpy(more + zlen, "xyz", 3);
        ASSERT_EQ_INT(mae__grpc_inflate(encs[i], more + 5, zlen - 2, n, &back, &blen), MAE_EDECODE);
        free(more);
        /* The wrong wrapper is corrupt data, not a crash. */
        mae_grpc_encoding other = encs[i] == MAE_GRPC_ENC_GZIP ? MAE_GRPC_ENC_DEFLATE : MAE_GRPC_ENC_GZIP;
        ASSERT_EQ_INT(mae__grpc_inflate(other, z + 5, zlen - 5, n, &back, &blen), MAE_EDECODE);
        free(z);
    }
    uint8_t *o;
    size_t ol;
    ASSERT_EQ_INT(mae__grpc_inflate(MAE_GRPC_ENC_IDENTITY, (const uint8_t *)"x", 1, 10, &o, &ol), MAE_EINVAL);
    ASSERT_EQ_INT(mae__grpc_inflate(MAE_GRPC_ENC_GZIP, (const uint8_t *)"", 0, 10, &o, &ol), MAE_EDECODE);
    ASSERT_EQ_INT(mae__grpc_encoding_parse((const uint8_t *)"gzip", 4), MAE_GRPC_ENC_GZIP);
    ASSERT_EQ_INT(mae__grpc_encoding_parse((const uint8_t *)"deflate", 7), MAE_GRPC_ENC_DEFLATE);
    ASSERT_EQ_INT(mae__grpc_encoding_parse((const uint8_t *)"identity", 8), MAE_GRPC_ENC_IDENTITY);
    ASSERT_EQ_INT(mae__grpc_encoding_parse((const uint8_t *)"snappy", 6), MAE_GRPC_ENC_OTHER);
    ASSERT_EQ_INT(mae__grpc_encoding_parse((const uint8_t *)"GZIP", 4), MAE_GRPC_ENC_OTHER);
}

static long maxrss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

TEST(compress_bomb_stops_at_the_limit_with_bounded_memory) {
    /* 256 MiB of zeros, gzip'd in a stream (about 260 kB): never held uncompressed here. */
    z_stream z;
    memset(&z, 0, sizeof z);
    ASSERT_EQ_INT(deflateInit2(&z, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
    static uint8_t zeros[1 << 16];
    size_t cap = 4 << 20, used = 0;
    uint8_t *bomb = malloc(cap);
    for (int i = 0; i < (1 << 12); i++) {
        z.next_in = zeros;
        z.avail_in = sizeof zeros;
        while (z.avail_in) {
            z.next_out = bomb + used;
            z.avail_out = (uInt)(cap - used);
            deflate(&z, Z_NO_FLUSH);
            used = cap - z.avail_out;
        }
    }
    z.next_out = bomb + used;
    z.avail_out = (uInt)(cap - used);
    ASSERT_EQ_INT(deflate(&z, Z_FINISH), Z_STREAM_END);
    used = cap - z.avail_out;
    deflateEnd(&z);
    ASSERT_CMP_INT(used, <, 2 << 20);
    long before = maxrss_kb();
    uint8_t *out;
    size_t olen;
    ASSERT_EQ_INT(mae__grpc_inflate(MAE_GRPC_ENC_GZIP, bomb, used, 4 << 20, &out, &olen), MAE_ETOOBIG);
    ASSERT_NULL(out);
    /* At most the 4 MiB limit (+ zlib's window), nowhere near 256 MiB. */
    ASSERT_CMP_INT(maxrss_kb() - before, <, 16 * 1024);
    free(bomb);
}

/* ---- Against real peers ---- */

typedef struct got {
    int called;
    mae_class cls;
    int status;
    char msg[512];
    cJSON *out;
} got;

static uv_loop_t g_loop;
static int closed_called;

static void on_result(mae_call_result *r, void *ud) {
    got *g = ud;
    g->called++;
    g->cls = r->cls;
    g->status = r->status;
    snprintf(g->msg, sizeof g->msg, "%s", r->message ? r->message : "");
    g->out = r->output;
}

static void on_closed(void *ud) { closed_called++; }

static mae_transport *setup(void) {
    ASSERT_EQ_INT(uv_loop_init(&g_loop), 0);
    mae_transport *t = NULL;
    ASSERT_EQ_INT(mae_grpc_transport_new(&g_loop, &t), 0);
    return t;
}

static void finish(mae_transport *t) {
    t->vt->close(t, on_closed, NULL);
    uv_run(&g_loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(closed_called, 1);
    ASSERT_EQ_INT(uv_loop_close(&g_loop), 0);
}

static mae_svc_cfg svc_for(int port) {
    static char ep[64];
    snprintf(ep, sizeof ep, "127.0.0.1:%d", port);
    return (mae_svc_cfg){.name = "z", .type = "grpc", .endpoint = ep, .timeout_ms = 20000,
                         .pool_connections = 1};
}

static void call1(mae_transport *t, const mae_svc_cfg *svc, const char *method, const char *input,
                  const char *reply_kind, got *g) {
    cJSON *in = input ? cJSON_Parse(input) : NULL;
    mae_header_kv hdrs[] = {{"x-reply", reply_kind ? reply_kind : "ok"}};
    mae_call_req req = {.service = svc, .target = FX_GRPC_TARGET(method), .input = in,
                        .timeout_ms = 20000, .run_id = "r", .step_id = "s",
                        .idempotency_key = "r:s", .headers = hdrs, .n_headers = 1};
    mae_call *c = NULL;
    memset(g, 0, sizeof *g);
    ASSERT_EQ_INT(mae_transport_start(t, &req, on_result, g, &c), 0);
    cJSON_Delete(in);
    while (!g->called) uv_run(&g_loop, UV_RUN_ONCE);
}

static void start_grpcio(th_proc *p, bool gzip) {
    char *argv[] = {TH_PYTHON, (char *)th_path("tests/servers/grpc_tls.py"), "--plain",
                    gzip ? "--gzip" : NULL, NULL};
    ASSERT_EQ_INT(th_spawn(p, argv, 30), 0);
}

TEST(compress_grpcio_gzip_replies_bounded_after_inflation) {
    th_proc srv;
    start_grpcio(&srv, true);
    mae_transport *t = setup();
    mae_svc_cfg svc = svc_for(srv.port);
    svc.max_response = 1 << 20;
    got g;
    call1(t, &svc, "Big", "{\"size\":300000}", NULL, &g);
    if (g.cls != MAE_CLASS_NONE) th_fail(__FILE__, __LINE__, "call failed: %s", g.msg);
    cJSON *blob = cJSON_GetObjectItem(g.out, "blob");
    ASSERT_EQ_INT(strlen(blob->valuestring), 300000);
    cJSON_Delete(g.out);
    /* 300 kB of 'x' is a few hundred bytes on the wire: only the inflated size can exceed
     * 100 kB, so this proves grpcio compressed it and we bound it after inflation. */
    mae_svc_cfg small = svc;
    small.max_response = 100000;
    small.name = "small";
    call1(t, &small, "Big", "{\"size\":300000}", NULL, &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_GRPC);
    ASSERT_EQ_INT(g.status, MAE_GRPC_RESOURCE_EXHAUSTED);
    ASSERT_CONTAINS(g.msg, "inflates past the limit of 100000 bytes (grpc-encoding gzip)");
    finish(t);
    th_stop(&srv);
}

TEST(compress_requests_gzip_and_deflate_reach_grpcio) {
    th_proc srv;
    start_grpcio(&srv, false);
    mae_transport *t = setup();
    const char *encs[] = {"gzip", "deflate"};
    char input[9000];
    snprintf(input, sizeof input, "{\"text\":\"%08000d\"}", 7);
    for (int i = 0; i < 2; i++) {
        mae_svc_cfg svc = svc_for(srv.port);
        svc.compression = encs[i];
        got g;
        call1(t, &svc, "Echo", input, NULL, &g);
        if (g.cls != MAE_CLASS_NONE) th_fail(__FILE__, __LINE__, "%s: %s", encs[i], g.msg);
        cJSON *in = cJSON_GetObjectItem(g.out, "input");
        ASSERT_EQ_INT(strlen(cJSON_GetObjectItem(in, "text")->valuestring), 8000);
        cJSON_Delete(g.out);
    }
    finish(t);
    th_stop(&srv);
}

TEST(compress_requests_are_flagged_and_declared) {
    /* What grpcio hides: the flag byte and grpc-encoding as they travel. */
    th_proc srv;
    char *argv[] = {TH_PYTHON, (char *)th_path("tests/servers/h2_compress_keepalive.py"), NULL};
    ASSERT_EQ_INT(th_spawn(&srv, argv, 30), 0);
    mae_transport *t = setup();
    const char *encs[] = {"gzip", "deflate", NULL};
    for (int i = 0; i < 3; i++) {
        mae_svc_cfg svc = svc_for(srv.port);
        svc.compression = encs[i];
        got g;
        call1(t, &svc, "Echo", "{\"text\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", NULL, &g);
        ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
        cJSON_Delete(g.out);
    }
    finish(t);
    char line[256], want[3][256];
    int n = 0;
    while (n < 3 && fgets(line, sizeof line, srv.out))
        if (strncmp(line, "REQ ", 4) == 0) snprintf(want[n++], sizeof want[0], "%s", line);
    ASSERT_EQ_INT(n, 3);
    ASSERT_TRUE(strncmp(want[0], "REQ gzip 1 ", 11) == 0);
    ASSERT_TRUE(strncmp(want[1], "REQ deflate 1 ", 14) == 0);
    ASSERT_TRUE(strncmp(want[2], "REQ - 0 ", 8) == 0);
    /* The same message length once inflated. */
    ASSERT_EQ_STR(strrchr(want[0], ' '), strrchr(want[2], ' '));
    ASSERT_EQ_STR(strrchr(want[1], ' '), strrchr(want[2], ' '));
    th_stop(&srv);
}

TEST(compress_raw_peer_deflate_corrupt_unsupported_and_bomb) {
    th_proc srv;
    char *argv[] = {TH_PYTHON, (char *)th_path("tests/servers/h2_compress_keepalive.py"), NULL};
    ASSERT_EQ_INT(th_spawn(&srv, argv, 30), 0);
    mae_transport *t = setup();
    mae_svc_cfg svc = svc_for(srv.port);
    got g;
    const char *ok[] = {"gzip", "deflate"};
    for (int i = 0; i < 2; i++) {
        call1(t, &svc, "Echo", NULL, ok[i], &g);
        if (g.cls != MAE_CLASS_NONE) th_fail(__FILE__, __LINE__, "%s: %s", ok[i], g.msg);
        ASSERT_EQ_DBL(cJSON_GetObjectItem(g.out, "a")->valuedouble, 1, 0);
        cJSON_Delete(g.out);
    }
    call1(t, &svc, "Echo", NULL, "corrupt", &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_GRPC);
    ASSERT_EQ_INT(g.status, MAE_GRPC_INTERNAL);
    ASSERT_CONTAINS(g.msg, "cannot be decompressed (grpc-encoding gzip)");
    call1(t, &svc, "Echo", NULL, "snappy", &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_GRPC);
    ASSERT_CONTAINS(g.msg, "unsupported grpc-encoding");
    long before = maxrss_kb();
    call1(t, &svc, "Echo", NULL, "bomb", &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_GRPC);
    ASSERT_EQ_INT(g.status, MAE_GRPC_RESOURCE_EXHAUSTED);
    ASSERT_CONTAINS(g.msg, "inflates past the limit of 4194304 bytes (grpc-encoding gzip)");
    /* 256 MiB inflated would show; the 4 MiB limit and the 260 kB message do not. */
    ASSERT_CMP_INT(maxrss_kb() - before, <, 32 * 1024);
    /* The connection survives the refused stream. */
    call1(t, &svc, "Echo", NULL, "ok", &g);
    ASSERT_EQ_INT(g.cls, MAE_CLASS_NONE);
    cJSON_Delete(g.out);
    finish(t);
    /* Every request said what it accepts. */
    char line[256];
    int accepts = 0;
    while (fgets(line, sizeof line, srv.out))
        if (strncmp(line, "ACCEPT ", 7) == 0) {
            ASSERT_CONTAINS(line, "ACCEPT " MAE_GRPC_ACCEPT_ENCODING);
            if (++accepts == 6) break;
        }
    ASSERT_EQ_INT(accepts, 6);
    th_stop(&srv);
}
