/* Bump allocator: chunks of at least 64 KiB, a large request gets a chunk of its own. */
#include "workflow/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct mae_arena_chunk {
    mae_arena_chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

#define CHUNK_MIN (64 * 1024)

void mae__arena_init(mae_arena *a, size_t limit) {
    a->head = NULL;
    a->total = 0;
    a->limit = limit;
}

void mae__arena_free(mae_arena *a) {
    mae_arena_chunk *c = a->head;
    while (c) {
        mae_arena_chunk *n = c->next;
        free(c);
        c = n;
    }
    a->head = NULL;
    a->total = 0;
}

void *mae__arena_alloc(mae_arena *a, size_t n) {
    size_t need = (n + 15) & ~(size_t)15;
    if (need < n) return NULL;
    if (a->limit && (a->total + need > a->limit || a->total + need < a->total)) return NULL;
    mae_arena_chunk *c = a->head;
    if (!c || c->cap - c->used < need) {
        size_t cap = need > CHUNK_MIN ? need : CHUNK_MIN;
        c = malloc(sizeof *c + cap);
        if (!c) return NULL;
        c->used = 0;
        c->cap = cap;
        /* A dedicated big chunk goes behind the head so the head's free space stays usable. */
        if (a->head && cap == need) {
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = a->head;
            a->head = c;
        }
    }
    void *p = c->data + c->used;
    c->used += need;
    a->total += need;
    memset(p, 0, n);
    return p;
}

char *mae__arena_strndup(mae_arena *a, const char *s, size_t n) {
    char *d = mae__arena_alloc(a, n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

char *mae__arena_strdup(mae_arena *a, const char *s) {
    return s ? mae__arena_strndup(a, s, strlen(s)) : NULL;
}
