/* The embedding API's workflow calls: load from a file or from memory with the diagnostics
 * printed and/or handed over one by one, the workflow's name, and endpoint overrides checked as
 * strictly as the loader checks `endpoint:`. Its own file so programs that build models another
 * way do not pull in the YAML loader. */
#include <stdio.h>
#include <string.h>

#include "loop/api.h"
#include "maestro/maestro.h"
#include "workflow/model.h"

void mae__diags_emit(const mae_diags *d, mae_diag_cb cb, void *ud) {
    for (size_t i = 0; i < d->n; i++) {
        mae_diagnostic g = {d->file, d->items[i].line, d->items[i].col, d->items[i].message};
        cb(&g, ud);
    }
    if (d->dropped) {
        char msg[64];
        snprintf(msg, sizeof msg, "%zu more errors not shown", d->dropped);
        mae_diagnostic g = {d->file, 0, 0, msg};
        cb(&g, ud);
    }
}

int mae_workflow_load_opts(const char *path, const mae_load_opts *opts, mae_workflow **out) {
    if (!out) return MAE_EINVAL;
    *out = NULL;
    if (!path) return MAE_EINVAL;
    mae_diags d;
    mae__diags_init(&d, path);
    int rc = opts && opts->text ? mae__workflow_load_buf(path, opts->text, opts->len, out, &d)
                                : mae__workflow_load_file(path, out, &d);
    if (rc != 0 && opts) {
        mae__diags_sort(&d);
        if (opts->diag_out) mae__diags_print(&d, opts->diag_out);
        if (opts->on_diag) mae__diags_emit(&d, opts->on_diag, opts->diag_ud);
    }
    mae__diags_free(&d);
    return rc;
}

int mae_workflow_load(const char *path, mae_workflow **out, FILE *diag_out) {
    mae_load_opts o = {.diag_out = diag_out};
    return mae_workflow_load_opts(path, &o, out);
}

int mae_workflow_load_mem(const char *name, const char *text, size_t len, mae_workflow **out, FILE *diag_out) {
    if (!text) {
        if (out) *out = NULL;
        return MAE_EINVAL;
    }
    mae_load_opts o = {.text = text, .len = len, .diag_out = diag_out};
    return mae_workflow_load_opts(name ? name : "<memory>", &o, out);
}

const char *mae_workflow_name(const mae_workflow *wf) { return wf ? wf->name : NULL; }

int mae_workflow_set_endpoint(mae_workflow *wf, const char *service, const char *endpoint, char *errbuf,
                              size_t errlen) {
    char tmp[8];
    if (!errbuf || errlen == 0) {
        errbuf = tmp;
        errlen = sizeof tmp;
    }
    errbuf[0] = 0;
    if (!wf || !service || !endpoint) {
        snprintf(errbuf, errlen, "missing argument");
        return MAE_EINVAL;
    }
    mae_service *s = NULL;
    for (size_t i = 0; i < wf->n_services && !s; i++)
        if (strcmp(wf->services[i].name, service) == 0) s = &wf->services[i];
    if (!s) {
        snprintf(errbuf, errlen, "the workflow has no service '%s'", service);
        return MAE_ENOTFOUND;
    }
    if (mae__endpoint_check(s->type, endpoint, errbuf, errlen) != 0) return MAE_EINVAL;
    char *copy = mae__arena_strdup(&wf->arena, endpoint);
    if (!copy) {
        snprintf(errbuf, errlen, "out of memory");
        return MAE_ENOMEM;
    }
    s->endpoint = copy;
    return 0;
}
