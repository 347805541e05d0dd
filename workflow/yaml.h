/* YAML → node tree, through libyaml's event API. Each node keeps its 1-based line:col and, for
 * scalars, whether it was quoted (so the loader can type plain scalars by the core schema).
 * Hostile input is bounded: file size, nesting depth, alias expansion (aliases share the
 * anchored node, never copy it), self-referencing aliases, duplicate keys, invalid UTF-8 and
 * multiple documents are all errors reported as diagnostics. Pure: no I/O. */
#ifndef MAE_YAML_H
#define MAE_YAML_H

#include <stdbool.h>
#include <stddef.h>

#include "workflow/arena.h"
#include "workflow/diag.h"

#define MAE_YAML_MAX_FILE (8u << 20)    /* bytes */
#define MAE_YAML_MAX_DEPTH 64           /* nested sequences/mappings */
#define MAE_YAML_MAX_NODES 100000       /* nodes after alias expansion */
#define MAE_YAML_MAX_TEXT (32u << 20)   /* bytes of scalar text after alias expansion */

typedef enum { MAE_YN_SCALAR, MAE_YN_SEQ, MAE_YN_MAP } mae_ynode_kind;

typedef struct mae_ynode mae_ynode;
typedef struct mae_ypair {
    mae_ynode *key;   /* always a scalar */
    mae_ynode *val;
} mae_ypair;

struct mae_ynode {
    mae_ynode_kind kind;
    mae_pos pos;
    bool quoted;        /* scalar written '...', "...", | or > (not plain) */
    bool block;         /* scalar written | or > */
    const char *str;    /* scalar text, NUL-terminated (may hold NULs: use len) */
    size_t len;
    mae_ynode **items;  /* MAE_YN_SEQ */
    mae_ypair *pairs;   /* MAE_YN_MAP, in source order */
    size_t n;
    size_t weight;      /* nodes in this subtree once aliases are expanded */
    size_t text;        /* bytes of scalar text in this subtree once aliases are expanded */
};

/* Parses buf[0..len) (one document) into a tree allocated in a. Returns 0 with *root set
 * (NULL for an empty document), MAE_ETOOBIG past MAE_YAML_MAX_FILE, MAE_EPARSE with the
 * problem in diags, or MAE_ENOMEM. On MAE_EPARSE *root is still set when the only problems
 * were duplicate or non-scalar keys, so the caller can go on and report more. */
int mae__yaml_parse(mae_arena *a, const char *buf, size_t len, mae_ynode **root, mae_diags *diags);

/* The value under key in a mapping; NULL when absent or when map is not a mapping. */
mae_ynode *mae__yaml_get(const mae_ynode *map, const char *key);
/* A short name for a node kind in messages: "a string", "a sequence", "a mapping". */
const char *mae__yaml_kind_name(const mae_ynode *n);

#endif
