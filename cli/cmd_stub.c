/* maestro stub STUBS.yaml [--log FILE]: serve fake HTTP and gRPC services until SIGINT/SIGTERM.
 * stdout: one "PORT <port> <service>" line per service once all listen (port 0 in the file
 * means any free port), so scripts and tests can find them. stderr: a human summary. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cli/cli.h"
#include "stub/stub.h"
#include "maestro/maestro.h"

static const char help[] =
    "usage: maestro stub STUBS.yaml [--log FILE]\n"
    "\n"
    "Serves the fake HTTP and gRPC services described in STUBS.yaml until interrupted.\n"
    "  --log FILE   append one JSON line per call received (service, method, n, request, status)\n"
    "Prints \"PORT <port> <service>\" on stdout for each service once listening.\n";

typedef struct stub_cli {
    uv_signal_t sigint, sigterm;
    mae_stub *stub;
    int closed;
} stub_cli;

/* The signal handlers stay installed (unreferenced, so the loop can end) until the stub has
 * closed: a second signal while closing is absorbed instead of killing the process half-way. */
static void stub_closed(void *ud) {
    stub_cli *c = ud;
    c->closed = 1;
    uv_unref((uv_handle_t *)&c->sigint);
    uv_unref((uv_handle_t *)&c->sigterm);
}

static void on_signal(uv_signal_t *h, int sig) {
    stub_cli *c = h->data;
    if (c->stub) mae__stub_close(c->stub, stub_closed, c);
    c->stub = NULL;
}

int mae_cmd_stub(int argc, char **argv) {
    if (mae_cli_wants_help(argc, argv)) {
        fputs(help, stdout);
        return 0;
    }
    const char *file = NULL, *log_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--log") == 0 && i + 1 < argc) log_path = argv[++i];
        else if (argv[i][0] == '-') {
            fprintf(stderr, "maestro stub: unknown option '%s'\n%s", argv[i], help);
            return 2;
        } else if (!file) file = argv[i];
        else {
            fprintf(stderr, "maestro stub: one stub file at a time\n");
            return 2;
        }
    }
    if (!file) {
        fputs(help, stderr);
        return 2;
    }
    mae_diags d;
    mae__diags_init(&d, file);
    mae_stub_file *f = NULL;
    int rc = mae__stub_file_load(file, &f, &d);
    if (rc != 0) {
        mae__diags_sort(&d);
        mae__diags_print(&d, stderr);
        if (d.n == 0) fprintf(stderr, "maestro stub: %s: %s\n", file, mae_strerror(rc));
        mae__diags_free(&d);
        return 2;
    }
    mae__diags_free(&d);
    FILE *log = NULL;
    if (log_path && !(log = fopen(log_path, "a"))) {
        perror(log_path);
        mae__stub_file_free(f);
        return 2;
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    stub_cli c = {0};
    char err[512] = "";
    rc = mae__stub_start(&loop, f, log, &c.stub, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "maestro stub: %s\n", err);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        mae__stub_file_free(f);
        if (log) fclose(log);
        return 2;
    }
    for (size_t i = 0; i < f->n_services; i++) {
        const mae_stub_service *s = &f->services[i];
        int port = mae__stub_port(c.stub, s->name);
        printf("PORT %d %s\n", port, s->name);
        fprintf(stderr, "stub: %-16s %-5s %s:%d  (%zu %s)\n", s->name, s->type != MAE_SVC_GRPC ? "http" : s->tls_cert ? "grpcs" : "grpc",
                s->host, port, s->n_routes, s->type == MAE_SVC_GRPC ? "methods" : "routes");
    }
    fflush(stdout);
    uv_signal_init(&loop, &c.sigint);
    uv_signal_init(&loop, &c.sigterm);
    c.sigint.data = c.sigterm.data = &c;
    uv_signal_start(&c.sigint, on_signal, SIGINT);
    uv_signal_start(&c.sigterm, on_signal, SIGTERM);
    uv_run(&loop, UV_RUN_DEFAULT);
    /* Closing a uv_signal restores the default action; block first so a late signal waits
     * (and is discarded at exit) instead of killing us with a non-zero status. */
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, NULL);
    uv_close((uv_handle_t *)&c.sigint, NULL);
    uv_close((uv_handle_t *)&c.sigterm, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(&loop);
    mae__stub_file_free(f);
    if (log) fclose(log);
    return rc == 0 && c.closed ? 0 : 1;
}
