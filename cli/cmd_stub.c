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
#include "stub/stub_typed.h"
#include "maestro/maestro.h"

enum { O_LOG = 1, O_CHECK };

static const mae_cli_opt stub_opts[] = {
    {O_LOG, "--log", NULL, "FILE", "append one JSON line per call received (service, method, n, request, status)"},
    {O_CHECK, "--check", NULL, NULL, "only check the file (like validate) and exit"},
    {0, NULL, NULL, NULL, NULL},
};

static const mae_cli_spec stub_spec = {
    "stub", "STUBS.yaml [--log FILE]",
    "Serves the fake HTTP and gRPC services described in STUBS.yaml until interrupted.\n"
    "Prints \"PORT <port> <service>\" on stdout for each service once listening.\n",
    stub_opts,
    NULL,
};

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
    const char *file = NULL, *log_path = NULL;
    int check = 0;
    mae_cli_args args;
    mae_cli_args_init(&args, &stub_spec, argc, argv);
    const char *v;
    for (int id; (id = mae_cli_next(&args, &v)) != MAE_CLI_END;) {
        switch (id) {
        case MAE_CLI_HELP: return 0;
        case MAE_CLI_BAD: return 2;
        case MAE_CLI_ARG:
            if (file) return mae_cli_usage(&stub_spec, "one stub file at a time");
            file = v;
            break;
        case O_LOG: log_path = v; break;
        case O_CHECK: check = 1; break;
        }
    }
    if (!file) return mae_cli_usage(&stub_spec, "no stub file given");
    mae_diags d;
    mae__diags_init(&d, file);
    mae_stub_file *f = NULL;
    int rc = mae__stub_file_load(file, &f, &d);
    if (rc != 0) {
        if (d.n == 0 && d.dropped == 0) mae__diag_add(&d, (mae_pos){0, 0}, "%s", mae_strerror(rc));
        mae_cli_print_diags(&d, file);
        mae__diags_free(&d);
        return 2;
    }
    mae__diags_free(&d);
    for (size_t i = 0; check && i < f->n_services; i++) {
        char why[512];  /* typed methods: the descriptor set is read and checked too */
        if (f->services[i].descriptors &&
            mae__stub_typed_check(&f->services[i], why, sizeof why) != 0) {
            fprintf(stderr, "maestro stub: %s\n", why);
            mae__stub_file_free(f);
            return 2;
        }
    }
    if (check) {
        fprintf(stderr, "%s: ok\n", file);
        mae__stub_file_free(f);
        return 0;
    }
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
        fprintf(stderr, "stub: %-16s %-4s %s:%d  (%zu %s)\n", s->name, s->type == MAE_SVC_GRPC ? "grpc" : "http",
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
