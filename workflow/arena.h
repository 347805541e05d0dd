/* A bump allocator: the workflow model and everything compiled into it live in one arena and
 * are freed together. Not for data that outlives or changes during a run. */
#ifndef MAE_ARENA_H
#define MAE_ARENA_H
#include <stddef.h>

typedef struct mae_arena_chunk mae_arena_chunk;
typedef struct mae_arena {
    mae_arena_chunk *head;
    size_t total;   /* bytes handed out, for the caps on hostile input */
    size_t limit;   /* 0 = unlimited; allocations past it fail with NULL */
} mae_arena;

void mae__arena_init(mae_arena *a, size_t limit);
void mae__arena_free(mae_arena *a);
/* Zeroed, 16-byte aligned; NULL when out of memory or past the limit. */
void *mae__arena_alloc(mae_arena *a, size_t n);
char *mae__arena_strndup(mae_arena *a, const char *s, size_t n);
char *mae__arena_strdup(mae_arena *a, const char *s);
#endif
