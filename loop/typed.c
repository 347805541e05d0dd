/* Typed gRPC services with `descriptors: reflection` (docs/typed-grpc.md#reflection): before a
 * run's first call, the descriptors of every such service it names are fetched through the
 * gRPC transport (grpc_h2/grpc_reflect.h), unless the engine holds them already, and every call
 * of the workflow to them is checked (method, literal input). A fetch that fails or a check that
 * finds a problem fails the run with nothing called. What was fetched is kept per service state
 * (per engine, never global) until a call answers UNIMPLEMENTED. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc_h2/grpc_reflect.h"
#include "grpc_h2/grpc_typed.h"
#include "loop/engine_int.h"
#include "workflow/typed_check.h"

typedef struct mae_typed_fetch {
    mae_run *run;
    mae_svc_state *svc;
    const mae_service *service;
    mae__reflect *r;
    struct mae_typed_fetch *next;
} mae_typed_fetch;

typedef struct first_problem {
    const char *file;
    char msg[768];
    size_t n;
} first_problem;

/* The first problem, at the step it concerns ("wf.yaml:12:5: service cloud: no method ..."). */
static void on_problem(void *ud, mae_pos pos, const char *msg) {
    first_problem *p = ud;
    if (p->n++ > 0) return;
    if (pos.line > 0) snprintf(p->msg, sizeof p->msg, "%s:%d:%d: %s", p->file, pos.line, pos.col, msg);
    else snprintf(p->msg, sizeof p->msg, "%s", msg);
}

/* Every reflection service has its descriptors: check the workflow's calls to them. */
static void check_and_begin(mae_run *run) {
    const mae_workflow *wf = run->wf;
    for (size_t i = 0; i < wf->n_services && run->state == RUN_RUNNING; i++) {
        const mae_service *svc = &wf->services[i];
        if (!svc->reflection) continue;
        mae_svc_state *s = mae__svc(run->eng, svc);
        if (!s || !s->reflected) continue;   /* a failed fetch has failed the run already */
        first_problem p = {.file = wf->file ? wf->file : "workflow"};
        mae__typed_check_workflow(wf, svc, s->reflected, on_problem, &p);
        if (p.n) {
            char msg[900];
            if (p.n > 1) snprintf(msg, sizeof msg, "%s (and %zu more problem(s))", p.msg, p.n - 1);
            else snprintf(msg, sizeof msg, "%s", p.msg);
            mae__run_fail(run, NULL, MAE_CLASS_TEMPLATE, 0, 0, msg);
        }
    }
    mae__run_begin(run);
}

static void on_fetched(int rc, mae__pb_pool *pool, const char *err, void *ud) {
    mae_typed_fetch *f = ud;
    mae_run *run = f->run;
    for (mae_typed_fetch **pp = &run->fetches; *pp; pp = &(*pp)->next)
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    run->fetching--;
    if (rc == 0) {
        char origin[300];
        snprintf(origin, sizeof origin, "reflection %s", f->service->endpoint ? f->service->endpoint : "");
        mae__typed_desc *d;
        rc = mae__typed_desc_new(pool, origin, &d);
        if (rc == 0) {
            mae__typed_desc_unref(f->svc->reflected);
            f->svc->reflected = d;
            f->svc->reflected_stale = false;
            mae__log(run, MAE_LOG_INFO, NULL, 0, -1, NULL, "service %s: descriptors fetched by reflection",
                     f->service->name);
        } else {
            err = "out of memory";
        }
    }
    if (rc != 0 && rc != MAE_ECANCELED) {
        char msg[700];
        snprintf(msg, sizeof msg, "service %s: cannot fetch descriptors by reflection: %s", f->service->name,
                 err && *err ? err : mae_strerror(rc));
        mae_class cls = rc == MAE_ENOMEM ? MAE_CLASS_INTERNAL
                        : rc == MAE_ETIMEDOUT ? MAE_CLASS_TIMEOUT
                        : rc == MAE_EINVAL || rc == MAE_EDECODE || rc == MAE_EPROTO ? MAE_CLASS_DECODE
                                                                                     : MAE_CLASS_CONNECT;
        mae__run_fail(run, NULL, cls, 0, 0, msg);
    }
    free(f);
    if (run->fetching == 0) check_and_begin(run);
}

/* The service is already being fetched for this run (two names, one state). */
static bool fetching_svc(const mae_run *run, const mae_svc_state *s) {
    for (const mae_typed_fetch *f = run->fetches; f; f = f->next)
        if (f->svc == s) return true;
    return false;
}

bool mae__typed_run_prepare(mae_run *run) {
    const mae_workflow *wf = run->wf;
    bool any = false;
    for (size_t i = 0; i < wf->n_services; i++) {
        const mae_service *svc = &wf->services[i];
        if (!svc->reflection) continue;
        any = true;
        mae_svc_state *s = mae__svc(run->eng, svc);
        if (!s) {
            mae__run_fail(run, NULL, MAE_CLASS_INTERNAL, 0, 0, "out of memory");
            break;
        }
        if ((s->reflected && !s->reflected_stale) || fetching_svc(run, s)) continue;
        if (!s->tr) s->tr = mae__transport_for(run->eng, s->cfg.type);
        char msg[300];
        if (!s->tr) {
            snprintf(msg, sizeof msg, "no %s transport configured for service %s", s->cfg.type, svc->name);
            mae__run_fail(run, NULL, MAE_CLASS_CONNECT, 0, 0, msg);
            break;
        }
        mae_typed_fetch *f = calloc(1, sizeof *f);
        if (!f) {
            mae__run_fail(run, NULL, MAE_CLASS_INTERNAL, 0, 0, "out of memory");
            break;
        }
        f->run = run;
        f->svc = s;
        f->service = svc;
        mae_svc_cfg cfg;
        mae__svc_view(svc, &cfg);
        cfg.typed = NULL;
        int rc = mae__grpc_reflect_fetch(s->tr, &cfg, svc->timeout_ms, on_fetched, f, &f->r);
        if (rc < 0) {
            free(f);
            snprintf(msg, sizeof msg, "service %s: cannot fetch descriptors by reflection: %s", svc->name,
                     mae_strerror(rc));
            mae__run_fail(run, NULL, rc == MAE_ENOMEM ? MAE_CLASS_INTERNAL : MAE_CLASS_CONNECT, 0, 0, msg);
            break;
        }
        f->next = run->fetches;
        run->fetches = f;
        run->fetching++;
    }
    if (run->fetching) return false;
    if (!any || run->state != RUN_RUNNING) return true;
    /* everything was cached: still checked, since this workflow may differ from the last */
    check_and_begin(run);
    return false;
}

void mae__typed_run_abort(mae_run *run) {
    /* the callbacks come later, but the list is read as if one could come now */
    for (mae_typed_fetch *f = run->fetches, *next; f; f = next) {
        next = f->next;
        mae__grpc_reflect_cancel(f->r);
    }
}

void mae__typed_svc_stale(mae_svc_state *s) {
    if (!s->reflected || s->reflected_stale) return;
    mae__elog(s->eng, MAE_LOG_INFO, "service %s: UNIMPLEMENTED: descriptors fetched again by the next run",
              s->cfg.name);
    s->reflected_stale = true;
}
