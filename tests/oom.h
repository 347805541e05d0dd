/* A failing allocator for allocation-failure tests. Include it from exactly one test file of a
 * binary: it replaces malloc/calloc/realloc/free in the plain build (glibc's __libc_*
 * underneath) and counts blocks outstanding while armed. Under ASan, which owns malloc, only
 * allocations routed through oom_hook_malloc fail (cJSON's, via cJSON_InitHooks) and
 * LeakSanitizer checks the rest. */
#ifndef MAE_TEST_OOM_H
#define MAE_TEST_OOM_H

#include <stdbool.h>
#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__)
#define TH_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TH_ASAN 1
#endif
#endif

static int armed;          /* counting and failing only between arm() and disarm() */
static long fail_at;       /* the allocation number that fails (1-based); 0 = none */
static long n_allocs;      /* allocations while armed */
static long outstanding;   /* blocks allocated while armed and not yet freed */
static int failed;         /* the injected failure happened */

static bool should_fail(void) {
    if (!armed) return false;
    n_allocs++;
    if (fail_at && n_allocs == fail_at) {
        failed = 1;
        return true;
    }
    return false;
}

#ifndef TH_ASAN
void *__libc_malloc(size_t);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void __libc_free(void *);

void *malloc(size_t n) {
    if (should_fail()) return NULL;
    void *p = __libc_malloc(n);
    if (p && armed) outstanding++;
    return p;
}
void *calloc(size_t n, size_t m) {
    if (should_fail()) return NULL;
    void *p = __libc_calloc(n, m);
    if (p && armed) outstanding++;
    return p;
}
void *realloc(void *q, size_t n) {
    if (should_fail()) return NULL;
    void *p = __libc_realloc(q, n);
    if (p && !q && armed) outstanding++;
    return p;
}
void free(void *p) {
    if (p && armed) outstanding--;
    __libc_free(p);
}
#else
static void *oom_hook_malloc(size_t n) {
    if (should_fail()) return NULL;
    return malloc(n);
}
#endif

/* Starts counting; allocation number at (1-based, 0 = none) will fail. */
static inline void arm(long at) {
    fail_at = at;
    n_allocs = 0;
    outstanding = 0;
    failed = 0;
    armed = 1;
}
static inline void disarm(void) { armed = 0; }

#endif
