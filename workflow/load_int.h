/* Internal to the loader (load*.c, validate.c): the loader's state and the typed accessors that
 * turn YAML nodes into model fields, each reporting a positioned diagnostic on failure and
 * returning false so that loading goes on and every problem is found. */
#ifndef MAE_LOAD_INT_H
#define MAE_LOAD_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "workflow/model.h"
#include "workflow/yaml.h"

typedef struct mae_loader {
    mae_workflow *wf;
    mae_arena *a;
    mae_diags *d;
    const char *buf;        /* the source, for positions inside block scalars */
    size_t len;
    size_t errors;
    bool oom;
    /* Every step id seen so far (duplicates are errors). malloc'd. */
    struct { const char *id; mae_pos pos; } *ids;
    size_t n_ids, cap_ids;
    /* Where each compiled template came from, for positions of reference errors. malloc'd. */
    struct mae_tmpl_src { const mae_tmpl *t; const mae_ynode *n; size_t skip; } *tsrc;
    size_t n_tsrc, cap_tsrc;
    /* Byte offset of every 64th line's start, built on the first positioned template error
     * so that finding a line never rescans a big file. In the arena (nothing to free). */
    uint32_t *lines64;
    size_t n_lines64;
} mae_loader;

void mae__ld_err(mae_loader *ld, mae_pos pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* True once the diagnostics list is full: costly hints are skipped (a hostile file can hold
 * a hundred thousand mistakes). */
bool mae__ld_full(const mae_loader *ld);

/* Unknown keys (with a did-you-mean hint). known is NULL-terminated. False when n is not a
 * mapping (reported as "'what' must be a mapping"). */
bool mae__ld_keys(mae_loader *ld, const mae_ynode *n, const char *what, const char *const *known);
/* The closest of the candidates within edit distance 2, or NULL. */
const char *mae__ld_suggest(const char *word, const char *const *cands, size_t n_cands);

bool mae__ld_str(mae_loader *ld, const mae_ynode *n, const char *what, const char **out);
bool mae__ld_int(mae_loader *ld, const mae_ynode *n, const char *what, long min, long max, int *out);
bool mae__ld_num(mae_loader *ld, const mae_ynode *n, const char *what, double min, double *out);
bool mae__ld_bool(mae_loader *ld, const mae_ynode *n, const char *what, bool *out);
bool mae__ld_duration(mae_loader *ld, const mae_ynode *n, const char *what, bool positive, uint64_t *out);
bool mae__ld_size(mae_loader *ld, const mae_ynode *n, const char *what, uint64_t *out);
/* [A-Za-z0-9_-]+ */
bool mae__ld_name(mae_loader *ld, const mae_ynode *n, const char *what, const char **out);
/* [A-Za-z_][A-Za-z0-9_]* and not a reserved root (input, steps, workflow). */
bool mae__ld_var(mae_loader *ld, const mae_ynode *n, const char *what, const char **out);
bool mae__is_ident(const char *s);

/* Compiles text (the whole scalar, or a slice starting at byte skip) as a template; a compile
 * error is reported at its line:col inside the YAML file. NULL on error. */
mae_tmpl *mae__ld_tmpl(mae_loader *ld, const mae_ynode *n, size_t skip);
/* A `headers:` mapping (a service's or a call step's): names, values without CR/LF, templates;
 * for a grpc type, fixed values of "-bin" names must be base64. */
void mae__ld_headers(mae_loader *ld, const mae_ynode *n, const mae_target_type *type,
                     mae_header_tmpl **out, size_t *n_out);
/* Compiles a method (or probe) scalar with type's compile; problems are reported at the
 * scalar (template errors at their own line:col) and its templates registered for the
 * reference checks. NULL on error. */
const mae_target *mae__ld_target(mae_loader *ld, const mae_ynode *n, const mae_target_type *type,
                                 mae_target_use use);
/* Position of byte offset off of a scalar's value in the source. */
mae_pos mae__ld_scalar_pos(mae_loader *ld, const mae_ynode *n, size_t off);
/* A template tree (input:, output:); NULL only when out of memory (errors are reported and the
 * tree kept, a bad template as a node with tmpl NULL). */
mae_tval *mae__ld_tval(mae_loader *ld, const mae_ynode *n);
/* A plain YAML value as JSON (input defaults). NULL on error. */
cJSON *mae__ld_json(mae_loader *ld, const mae_ynode *n);

/* Plain scalars by YAML's core schema. */
typedef enum { MAE_PLAIN_STRING, MAE_PLAIN_NULL, MAE_PLAIN_BOOL, MAE_PLAIN_INT, MAE_PLAIN_FLOAT } mae_plain_kind;
mae_plain_kind mae__plain_type(const char *s, double *num, bool *b);

/* load_service.c */
void mae__ld_services(mae_loader *ld, const mae_ynode *n);
void mae__ld_retry(mae_loader *ld, const mae_ynode *n, mae_retry_policy *p);
void mae__retry_default(mae_retry_policy *p);
/* load_step.c */
void mae__ld_steps(mae_loader *ld, const mae_ynode *n, const char *what, mae_step **out, size_t *n_out);
/* validate.c: reference checks over the finished model. */
void mae__validate_refs(mae_loader *ld);

#endif
