/* FNV-1a, 64 bits: the project's one non-cryptographic hash (journal and workflow digests,
 * in-memory hash tables). Not for anything an attacker must not be able to collide. */
#ifndef MAE_FNV_H
#define MAE_FNV_H

#include <stddef.h>
#include <stdint.h>

#define MAE_FNV1A64_INIT 0xcbf29ce484222325ull

/* h continued over n bytes at p (start from MAE_FNV1A64_INIT). */
static inline uint64_t mae__fnv1a64(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* Of a NUL-terminated string. */
static inline uint64_t mae__fnv1a64_str(const char *s) {
    uint64_t h = MAE_FNV1A64_INIT;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

#endif
