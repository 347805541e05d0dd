/* A small embedding host for tests/test_install.c, written against the installed public API
 * only (<maestro/maestro.h>, compiled with nothing but `pkg-config --cflags --libs maestro`).
 * The test uses examples/embed/embed.c instead once that exists.
 *
 * Run from the repository root with no arguments: loads examples/workflows/deploy_service.yaml,
 * runs it with examples/inputs/deploy_service.json on an engine given no transports, and checks
 * what that API promises: the run ends once, failed (exit code 1), its first call refused with
 * "no gRPC transport configured", its report names the failed step, and the loop closes. Exit 0
 * when all of that held. (The transport constructors are not public yet, so this host cannot
 * reach `maestro stub`.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <maestro/maestro.h>
#include <uv.h>

typedef struct host {
    mae_engine *eng;
    int done_called;
    mae_run_status status;
    int exit_code;
    char summary[2048];
} host;

static void on_done(mae_run *run, const mae_run_result *res, void *ud) {
    host *h = ud;
    h->done_called++;
    h->status = res->status;
    h->exit_code = res->exit_code;
    snprintf(h->summary, sizeof h->summary, "%s", res->summary ? res->summary : "");
    mae_run_free(run);
    mae_engine_close(h->eng, NULL, NULL);
}

static char *read_all(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(1 << 16);
    size_t n = buf ? fread(buf, 1, (1 << 16) - 1, f) : 0;
    fclose(f);
    if (buf) buf[n] = '\0';
    return buf;
}

int main(void) {
    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0) return 2;
    host h = {0};
    mae_workflow *wf = NULL;
    mae_run *run = NULL;
    int rc = mae_engine_new(&loop, NULL, &h.eng);
    if (rc != 0) { fprintf(stderr, "host: engine: %s\n", mae_strerror(rc)); return 2; }
    rc = mae_workflow_load("examples/workflows/deploy_service.yaml", &wf, stderr);
    if (rc != 0) { fprintf(stderr, "host: load: %s\n", mae_strerror(rc)); return 2; }
    char *input = read_all("examples/inputs/deploy_service.json");
    if (!input) { fprintf(stderr, "host: cannot read the input\n"); return 2; }
    rc = mae_run_start(h.eng, wf, input, NULL, on_done, &h, &run);
    free(input);
    if (rc != 0) { fprintf(stderr, "host: start: %s (%s)\n", mae_strerror(rc), mae_err_name(rc)); return 2; }
    uv_run(&loop, UV_RUN_DEFAULT);
    int closed = uv_loop_close(&loop);
    mae_workflow_free(wf);
    printf("done_called=%d status=%s exit_code=%d loop_close=%d\n%s\n", h.done_called,
           h.done_called ? mae_run_status_name(h.status) : "-", h.exit_code, closed, h.summary);
    int ok = h.done_called == 1 && h.status == MAE_RUN_FAILED && h.exit_code == 1 && closed == 0 &&
             strstr(h.summary, "no gRPC transport configured") && strstr(h.summary, "provision");
    return ok ? 0 : 1;
}
