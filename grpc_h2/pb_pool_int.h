/* The pool's own layout, shared by pb_pool.c (building, linking) and pb_query.c (lookups,
 * hints, skeletons). Nothing else includes it. */
#ifndef MAE_PB_POOL_INT_H
#define MAE_PB_POOL_INT_H

#include "grpc_h2/pb_int.h"
#include "workflow/arena.h"

/* Serialized descriptor bytes accepted in one pool, in all. */
#define MAE__PB_MAX_POOL_BYTES (64 << 20)

struct Mae__Pb__FileDescriptorProto;

typedef struct pb_file {
    const char *name;
    const uint8_t *bytes;       /* a copy, to tell an identical re-add from a conflicting one */
    size_t len;
    struct Mae__Pb__FileDescriptorProto *fd;   /* unpacked; names in the pool point into it */
    size_t idx;                 /* its place in the pool's files */
} pb_file;

/* A method and the type names link resolves; m comes first so &ent->m is the entry. */
typedef struct pb_method_ent {
    mae__pb_method m;
    const char *in_name, *out_name, *file;
} pb_method_ent;

/* One name in the symbol table (chained hash; undo links the names one add registered). */
typedef struct pb_sym {
    const char *name;
    int kind;
    void *ptr;
    struct pb_sym *next, *undo;
} pb_sym;

struct mae__pb_pool {
    mae_arena arena;
    pb_file **files;
    size_t nfiles, capfiles, total_bytes;
    mae__pb_msg **msgs;
    size_t nmsgs, capmsgs;
    pb_method_ent **methods;
    size_t nmethods, capmethods;
    pb_sym **buckets;
    size_t nbuckets, nsyms;
    bool linked;
};

/* A symbol of a kind (0 file, 1 message, 2 enum, 3 service) by full name; NULL when none. */
void *mae__pb_sym(const mae__pb_pool *p, const char *name, int kind);

#endif
