/* maestro describe WORKFLOW.yaml [SERVICE]: the typed gRPC services of a workflow
 * (docs/typed-grpc.md): each method with its request and response types and a JSON skeleton of
 * the request, from the descriptor set or fetched by server reflection from the endpoint. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "cli/cli.h"
#include "grpc_h2/grpc_reflect.h"
#include "grpc_h2/grpc_transport.h"
#include "grpc_h2/grpc_typed.h"
#include "maestro/maestro.h"
#include "workflow/json_out.h"
#include "workflow/model.h"

enum { O_SET = 1 };

static const mae_cli_opt describe_opts[] = {
    {O_SET, "--set", NULL, "service.NAME.endpoint=HOST:PORT", "override a service's endpoint (repeatable)"},
    {0, NULL, NULL, NULL, NULL},
};

static const mae_cli_spec describe_spec = {
    "describe", "WORKFLOW.yaml [SERVICE] [--set service.NAME.endpoint=HOST:PORT]...",
    "Prints each typed gRPC service of the workflow (a grpc service with 'descriptors:'), or only\n"
    "SERVICE: every method with its request and response message types and a JSON skeleton of\n"
    "the request (every field with its default), ready to paste into a step's input. Services with\n"
    "'descriptors: reflection' are asked over server reflection (their endpoint must be up).\n",
    describe_opts,
    "exit codes: 0; 1 when reflection failed; 2 on a usage or workflow error.\n",
};

typedef struct fetch_state {
    int rc;
    mae__pb_pool *pool;
    char err[512];
    bool done;
} fetch_state;

static void on_fetched(int rc, mae__pb_pool *pool, const char *err, void *ud) {
    fetch_state *f = ud;
    f->rc = rc;
    f->pool = pool;
    snprintf(f->err, sizeof f->err, "%s", err ? err : "");
    f->done = true;
}

static void on_closed(void *ud) { *(bool *)ud = true; }

/* Fetches svc's descriptors by reflection on a loop of our own. 0 or a negative MAE_E* with
 * the reason in err. */
static int fetch(const mae_service *svc, mae__typed_desc **out, char *err, size_t cap) {
    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0) {
        snprintf(err, cap, "cannot create an event loop");
        return MAE_EINTERNAL;
    }
    mae_transport *t = NULL;
    int rc = mae_grpc_transport_new(&loop, &t);
    fetch_state f = {.rc = 0};
    if (rc == 0) {
        mae_svc_cfg cfg = {
            .type = "grpc",
            .name = svc->name,
            .endpoint = svc->endpoint,
            .timeout_ms = svc->timeout_ms,
            .pool_connections = 1,
            .max_response = svc->max_response,
            .tls = {svc->tls.ca_file, svc->tls.cert_file, svc->tls.key_file, svc->tls.insecure_skip_verify},
        };
        mae__reflect *r;
        rc = mae__grpc_reflect_fetch(t, &cfg, svc->timeout_ms, on_fetched, &f, &r);
        if (rc == 0) {
            while (!f.done && uv_run(&loop, UV_RUN_ONCE)) {}
            rc = f.done ? f.rc : MAE_EINTERNAL;
            snprintf(err, cap, "%s", f.err[0] ? f.err : mae_strerror(rc));
        } else {
            snprintf(err, cap, "%s", mae_strerror(rc));
        }
        bool closed = false;
        t->vt->close(t, on_closed, &closed);
        while (!closed && uv_run(&loop, UV_RUN_ONCE)) {}
    } else {
        snprintf(err, cap, "%s", mae_strerror(rc));
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    if (rc != 0) {
        mae__pb_pool_free(f.pool);
        return rc;
    }
    char origin[300];
    snprintf(origin, sizeof origin, "reflection %s", svc->endpoint);
    rc = mae__typed_desc_new(f.pool, origin, out);
    if (rc != 0) snprintf(err, cap, "out of memory");
    return rc;
}

static void print_skeleton(const mae__pb_msg *m) {
    cJSON *sk = mae__pb_skeleton(m);
    char *text = NULL;
    size_t len;
    if (sk && mae__json_print_pretty(sk, 1u << 20, &text, &len) != 0) text = NULL;
    if (!text) {
        printf("      (out of memory)\n");
    } else {
        /* indented under the method */
        for (char *line = text, *nl; line && *line; line = nl ? nl + 1 : NULL) {
            nl = strchr(line, '\n');
            printf("      %.*s\n", nl ? (int)(nl - line) : (int)strlen(line), line);
        }
    }
    free(text);
    cJSON_Delete(sk);
}

static void describe(const mae_service *svc, const mae__typed_desc *d) {
    printf("service %s (grpc %s, %s)\n", svc->name, svc->endpoint, mae__typed_desc_origin(d));
    const mae__pb_pool *pool = mae__typed_desc_pool(d);
    size_t n = mae__pb_pool_methods(pool, NULL, 0);
    const mae__pb_method **ms = calloc(n ? n : 1, sizeof *ms);
    if (!ms) {
        printf("  (out of memory)\n");
        return;
    }
    mae__pb_pool_methods(pool, ms, n);
    for (size_t i = 0; i < n; i++) {
        const mae__pb_method *m = ms[i];
        const char *kind = m->client_streaming
                               ? (m->server_streaming ? "  (bidirectional streaming: cannot be called)"
                                                      : "  (client streaming: cannot be called)")
                               : m->server_streaming ? "  (server streaming: the output is an array)" : "";
        printf("  %s%s\n", m->path + 1, kind);
        printf("    request:  %s\n", mae__pb_msg_name(m->input));
        printf("    response: %s\n", mae__pb_msg_name(m->output));
        if (m->client_streaming) continue;
        printf("    input:\n");
        print_skeleton(m->input);
    }
    free(ms);
}

int mae_cmd_describe(int argc, char **argv) {
    const char *file = NULL, *only = NULL;
    const char *sets[64];
    int n_sets = 0;
    mae_cli_args args;
    mae_cli_args_init(&args, &describe_spec, argc, argv);
    const char *val;
    for (int id; (id = mae_cli_next(&args, &val)) != MAE_CLI_END;) {
        if (id == MAE_CLI_HELP) return 0;
        if (id == MAE_CLI_BAD) return 2;
        if (id == O_SET) {
            if (n_sets == 64) return mae_cli_usage(&describe_spec, "too many --set");
            sets[n_sets++] = val;
        } else if (!file) {
            file = val;
        } else if (!only) {
            only = val;
        } else {
            return mae_cli_usage(&describe_spec, "too many arguments ('%s')", val);
        }
    }
    if (!file) return mae_cli_usage(&describe_spec, "a workflow file is required");
    mae_diags d;
    mae__diags_init(&d, file);
    mae_workflow *wf = NULL;
    int rc = mae__workflow_load_file(file, &wf, &d);
    if (rc != 0) {
        if (d.n == 0 && d.dropped == 0) mae__diag_add(&d, (mae_pos){0, 0}, "%s", mae_strerror(rc));
        mae__diags_sort(&d);
        mae__diags_print(&d, stderr);
        mae__diags_free(&d);
        return 2;
    }
    mae__diags_free(&d);
    for (int i = 0; i < n_sets; i++)
        if (mae_cli_apply_set("describe", wf, sets[i]) != 0) {
            mae_workflow_free(wf);
            return 2;
        }
    int code = 0;
    size_t shown = 0;
    for (size_t i = 0; i < wf->n_services; i++) {
        const mae_service *svc = &wf->services[i];
        if (only && strcmp(svc->name, only) != 0) continue;
        if (!svc->descriptors) {
            if (only) {
                fprintf(stderr, "maestro describe: service '%s' is not typed (it has no 'descriptors:')\n", only);
                code = 2;
            }
            continue;
        }
        if (shown++) printf("\n");
        if (svc->typed) {
            describe(svc, svc->typed);
            continue;
        }
        mae__typed_desc *td = NULL;
        char err[600];
        if (fetch(svc, &td, err, sizeof err) != 0) {
            fprintf(stderr, "maestro describe: service %s: cannot fetch descriptors by reflection: %s\n",
                    svc->name, err);
            code = code ? code : 1;
            continue;
        }
        describe(svc, td);
        mae__typed_desc_unref(td);
    }
    if (only && !mae__workflow_service(wf, only)) {
        fprintf(stderr, "maestro describe: no service '%s' in %s\n", only, file);
        code = 2;
    } else if (!only && shown == 0) {
        fprintf(stderr, "maestro describe: %s has no typed gRPC service (none has 'descriptors:')\n", file);
        code = 2;
    }
    mae_workflow_free(wf);
    return code;
}
