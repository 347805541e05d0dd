/* The workflow loader's entry points: file → YAML tree → model (top-level keys, input
 * declaration, output), then the reference checks of validate.c. Every problem is collected. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maestro/maestro.h"
#include "grpc_h2/grpc_typed.h"
#include "workflow/load_int.h"

/* Bound on the arena of one workflow: a file of at most 8 MiB never needs more. */
#define ARENA_LIMIT (256u << 20)

static const char *const top_keys[] = {"name", "version", "description", "timeout", "compensation_timeout",
    "input", "services", "steps", "output", NULL};
static const char *const input_keys[] = {"type", "required", "default", "description", NULL};

static const struct { const char *name; mae_input_type t; } input_types[] = {
    {"string", MAE_IN_STRING}, {"number", MAE_IN_NUMBER}, {"integer", MAE_IN_INTEGER},
    {"boolean", MAE_IN_BOOLEAN}, {"object", MAE_IN_OBJECT}, {"array", MAE_IN_ARRAY},
};

/* input.c */
bool mae__input_type_ok(mae_input_type t, const cJSON *v);
const char *mae__input_type_name(mae_input_type t);

static void load_inputs(mae_loader *ld, const mae_ynode *n) {
    mae_workflow *wf = ld->wf;
    if (n->kind != MAE_YN_MAP) {
        mae__ld_err(ld, n->pos, "'input' must be a mapping, not %s", mae__yaml_kind_name(n));
        return;
    }
    wf->inputs = mae__arena_alloc(ld->a, (n->n ? n->n : 1) * sizeof *wf->inputs);
    if (!wf->inputs) {
        ld->oom = true;
        return;
    }
    for (size_t i = 0; i < n->n; i++) {
        const mae_ynode *k = n->pairs[i].key, *v = n->pairs[i].val;
        mae_input_decl *d = &wf->inputs[wf->n_inputs];
        if (!mae__ld_name(ld, k, "input name", &d->name)) continue;
        d->pos = k->pos;
        wf->n_inputs++;
        if (!mae__ld_keys(ld, v, "input declaration", input_keys)) continue;
        const mae_ynode *w;
        if ((w = mae__yaml_get(v, "type"))) {
            const char *t;
            if (mae__ld_str(ld, w, "type", &t)) {
                size_t j = 0;
                while (j < sizeof input_types / sizeof input_types[0] && strcmp(input_types[j].name, t)) j++;
                if (j < sizeof input_types / sizeof input_types[0])
                    d->type = input_types[j].t;
                else {
                    const char *names[sizeof input_types / sizeof input_types[0]];
                    for (size_t k = 0; k < sizeof input_types / sizeof input_types[0]; k++) names[k] = input_types[k].name;
                    const char *hint = mae__ld_suggest(t, names, sizeof names / sizeof names[0]);
                    if (hint) mae__ld_err(ld, w->pos, "invalid input type '%s' (did you mean '%s'?)", t, hint);
                    else
                        mae__ld_err(ld, w->pos, "invalid input type '%s' (expected string, number, integer, "
                                    "boolean, object or array)", t);
                }
            }
        }
        if ((w = mae__yaml_get(v, "required"))) mae__ld_bool(ld, w, "required", &d->required);
        if ((w = mae__yaml_get(v, "default"))) {
            d->default_value = mae__ld_json(ld, w);
            if (d->default_value && !mae__input_type_ok(d->type, d->default_value))
                mae__ld_err(ld, w->pos, "default of input '%s' is not of type %s", d->name,
                            mae__input_type_name(d->type));
        }
    }
}

static void load_top(mae_loader *ld, const mae_ynode *root) {
    mae_workflow *wf = ld->wf;
    wf->compensation_timeout_ms = 60000;
    if (!root) {
        mae__ld_err(ld, (mae_pos){1, 1}, "empty workflow file");
        return;
    }
    if (!mae__ld_keys(ld, root, "workflow", top_keys)) return;
    const mae_ynode *v;
    if ((v = mae__yaml_get(root, "name"))) mae__ld_name(ld, v, "workflow name", &wf->name);
    else mae__ld_err(ld, root->pos, "missing required key 'name'");
    if ((v = mae__yaml_get(root, "version"))) mae__ld_str(ld, v, "version", &wf->version);
    if ((v = mae__yaml_get(root, "description"))) {
        const char *s;
        mae__ld_str(ld, v, "description", &s);
    }
    if ((v = mae__yaml_get(root, "timeout"))) mae__ld_duration(ld, v, "timeout", true, &wf->timeout_ms);
    if ((v = mae__yaml_get(root, "compensation_timeout")))
        mae__ld_duration(ld, v, "compensation_timeout", true, &wf->compensation_timeout_ms);
    if ((v = mae__yaml_get(root, "input"))) load_inputs(ld, v);
    if ((v = mae__yaml_get(root, "services"))) mae__ld_services(ld, v);
    else mae__ld_err(ld, root->pos, "missing required key 'services'");
    if ((v = mae__yaml_get(root, "steps"))) {
        mae__ld_steps(ld, v, "steps", &wf->steps, &wf->n_steps);
        if (v->kind == MAE_YN_SEQ && v->n == 0) mae__ld_err(ld, v->pos, "'steps' must not be empty");
    } else {
        mae__ld_err(ld, root->pos, "missing required key 'steps'");
    }
    if ((v = mae__yaml_get(root, "output"))) wf->output = mae__ld_tval(ld, v);
}

int mae__workflow_load_buf(const char *name, const char *buf, size_t len, mae_workflow **out,
                          mae_diags *diags) {
    *out = NULL;
    if (len > MAE_YAML_MAX_FILE) {
        mae__diag_add(diags, (mae_pos){0, 0}, "file too large (%zu bytes, limit %u)", len, MAE_YAML_MAX_FILE);
        return MAE_ETOOBIG;
    }
    mae_workflow *wf = calloc(1, sizeof *wf);
    if (!wf) return MAE_ENOMEM;
    mae__arena_init(&wf->arena, ARENA_LIMIT);
    wf->file = mae__arena_strdup(&wf->arena, name ? name : "<input>");
    mae_loader ld = {.wf = wf, .a = &wf->arena, .d = diags, .buf = buf, .len = len};
    mae_ynode *root = NULL;
    int rc = mae__yaml_parse(&wf->arena, buf, len, &root, diags);
    /* Duplicate keys leave a usable tree: go on so that every problem is reported. */
    if (rc == 0 || (rc == MAE_EPARSE && root)) {
        if (rc) ld.errors++;
        load_top(&ld, root);
        if (!ld.oom) mae__validate_refs(&ld);
        rc = ld.oom ? MAE_ENOMEM : ld.errors ? MAE_EPARSE : 0;
    }
    free(ld.ids);
    free(ld.tsrc);
    if (rc != 0 || !wf->file) {
        mae_workflow_free(wf);
        return rc ? rc : MAE_ENOMEM;
    }
    *out = wf;
    return 0;
}

int mae__workflow_load_file(const char *path, mae_workflow **out, mae_diags *diags) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        mae__diag_add(diags, (mae_pos){0, 0}, "cannot open: %s", strerror(errno));
        return MAE_EIO;
    }
    /* Read at most one byte past the cap, so a huge file is never read whole. */
    size_t cap = MAE_YAML_MAX_FILE + 1, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return MAE_ENOMEM;
    }
    size_t r;
    errno = 0;
    while (len < cap && (r = fread(buf + len, 1, cap - len, f)) > 0) len += r;
    int err = ferror(f) ? (errno ? errno : EIO) : 0;
    fclose(f);
    if (err) {
        free(buf);
        mae__diag_add(diags, (mae_pos){0, 0}, "cannot read file: %s", strerror(err));
        return MAE_EIO;
    }
    if (len > MAE_YAML_MAX_FILE) {
        free(buf);
        mae__diag_add(diags, (mae_pos){0, 0}, "file too large (limit %u bytes)", MAE_YAML_MAX_FILE);
        return MAE_ETOOBIG;
    }
    int rc = mae__workflow_load_buf(path, buf, len, out, diags);
    free(buf);
    return rc;
}

void mae_workflow_free(mae_workflow *wf) {
    if (!wf) return;
    for (size_t i = 0; i < wf->n_inputs; i++) cJSON_Delete(wf->inputs[i].default_value);
    for (size_t i = 0; i < wf->n_services; i++) mae__typed_desc_unref(wf->services[i].typed);
    mae__arena_free(&wf->arena);
    free(wf);
}

const mae_service *mae__workflow_service(const mae_workflow *wf, const char *name) {
    for (size_t i = 0; i < wf->n_services; i++)
        if (strcmp(wf->services[i].name, name) == 0) return &wf->services[i];
    return NULL;
}
