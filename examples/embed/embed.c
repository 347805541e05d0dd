/* Embedding Maestro: run examples/workflows/deploy_service.yaml on your own libuv loop.
 *
 * Start the fake services, then run this from the repository root:
 *   bin/maestro stub examples/stubs/deploy_service.yaml &
 *   cc examples/embed/embed.c $(pkg-config --cflags --libs maestro) -o embed
 *   ./embed
 * It prints each step as it ends (from the engine's events) on stderr, the workflow's output on
 * stdout, and exits 0 when the run succeeded (else the run's exit code, with its summary).
 * Optional arguments NAME=ENDPOINT point a service elsewhere, e.g. health=http://127.0.0.1:3100. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <maestro/maestro.h>
#include <uv.h>

static const char workflow_path[] = "examples/workflows/deploy_service.yaml";
static const char input[] =
    "{\"image\": \"ubuntu-22.04\", \"instance_size\": \"t3.small\", \"region\": \"eu-west-1\","
    " \"artifact_url\": \"s3://builds/api-1.4.2.tar.gz\", \"environment\": \"production\","
    " \"lb_id\": \"lb-main\", \"slack_channel\": \"#deploys\"}";

typedef struct app {
    mae_engine *engine;
    int exit_code;
} app;

/* Progress from the events: one line per step and per compensation when it ends. */
static void on_event(const mae_event *ev, void *ud) {
    (void)ud;
    if (ev->kind == MAE_EV_STEP_END || ev->kind == MAE_EV_COMP_RESULT)
        fprintf(stderr, "  %-10s %-14s %-16s %5lld ms%s%s\n", ev->compensation ? "compensate" : "step",
                ev->step_id, ev->outcome, (long long)ev->duration_ms, ev->message ? "  " : "",
                ev->message ? ev->message : "");
    else if (ev->kind == MAE_EV_ATTEMPT_RESULT && ev->delay_ms >= 0)
        fprintf(stderr, "  %-10s %-14s attempt %d: %s, retrying in %lld ms\n", "retry", ev->step_id, ev->attempt,
                ev->class_name, (long long)ev->delay_ms);
}

static void on_input_error(const mae_diagnostic *d, void *ud) {
    (void)ud;
    fprintf(stderr, "embed: invalid input: %s\n", d->message);
}

static void on_done(mae_run *run, const mae_run_result *res, void *ud) {
    app *a = ud;
    a->exit_code = res->exit_code;
    if (res->status == MAE_RUN_SUCCEEDED) {
        char *text = NULL;
        if (mae_json_format(res->output, &text) == 0) printf("%s\n", text);
        free(text);
    } else {
        fprintf(stderr, "embed: run %s\n%s", mae_run_status_name(res->status), res->summary ? res->summary : "");
    }
    mae_run_free(run);
    /* closes the transports the engine made too; the loop then has nothing left to run */
    mae_engine_close(a->engine, NULL, NULL);
}

int main(int argc, char **argv) {
    uv_loop_t loop;
    signal(SIGPIPE, SIG_IGN);   /* a peer that hangs up makes a write fail, not the process die */
    if (uv_loop_init(&loop) != 0) return 1;
    mae_workflow *wf = NULL;
    if (mae_workflow_load(workflow_path, &wf, stderr) != 0) {
        fprintf(stderr, "embed: cannot load %s (run me from the repository root)\n", workflow_path);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        char name[64], err[256];
        const char *eq = strchr(argv[i], '=');
        if (!eq || eq - argv[i] >= (long)sizeof name) {
            fprintf(stderr, "embed: expected NAME=ENDPOINT, got '%s'\n", argv[i]);
            return 2;
        }
        snprintf(name, sizeof name, "%.*s", (int)(eq - argv[i]), argv[i]);
        if (mae_workflow_set_endpoint(wf, name, eq + 1, err, sizeof err) != 0) {
            fprintf(stderr, "embed: %s\n", err);
            return 2;
        }
    }

    app a = {NULL, 1};
    mae_engine_opts opts;
    mae_engine_opts_init(&opts);   /* no transports given: the engine creates and closes its own */
    opts.on_event = on_event;
    int rc = mae_engine_new(&loop, &opts, &a.engine);
    if (rc != 0) {
        fprintf(stderr, "embed: %s\n", mae_strerror(rc));
        return 1;
    }
    mae_run_opts ropts = {0};
    ropts.on_input_error = on_input_error;
    mae_run *run;
    rc = mae_run_start(a.engine, wf, input, &ropts, on_done, &a, &run);
    if (rc != 0) {
        fprintf(stderr, "embed: cannot start the run: %s\n", mae_strerror(rc));
        mae_engine_close(a.engine, NULL, NULL);
        a.exit_code = 2;
    }
    uv_run(&loop, UV_RUN_DEFAULT);   /* returns once the run is over and the engine closed */
    if (uv_loop_close(&loop) != 0) fprintf(stderr, "embed: handles left open\n");
    mae_workflow_free(wf);
    return a.exit_code;
}
