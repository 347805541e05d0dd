/* Go-style durations ("250ms", "1h30m", "1.5s") and byte sizes ("16MiB", "512KB", "1024").
 * Pure parsing, no allocation; everything out of range is MAE_EINVAL. */
#include <ctype.h>
#include <math.h>
#include <string.h>

#include "maestro/maestro.h"
#include "workflow/model.h"

/* Longest accepted value: 10 years is far past any sensible timeout and far from overflow. */
#define MAX_DURATION_MS (10.0 * 365 * 24 * 3600 * 1000)
#define MAX_SIZE_BYTES (1024.0 * 1024 * 1024 * 1024)   /* 1 TiB */

/* Reads a non-negative decimal "12", "1.5", ".5" at *s; advances *s. */
static int read_number(const char **s, double *out) {
    const char *p = *s;
    double v = 0;
    int digits = 0;
    while (isdigit((unsigned char)*p)) {
        v = v * 10 + (*p++ - '0');
        digits++;
        if (v > 1e18) return MAE_EINVAL;
    }
    if (*p == '.') {
        p++;
        double scale = 0.1;
        while (isdigit((unsigned char)*p)) {
            v += (*p++ - '0') * scale;
            scale /= 10;
            digits++;
        }
    }
    if (!digits) return MAE_EINVAL;
    *s = p;
    *out = v;
    return 0;
}

int mae__parse_duration_ms(const char *s, uint64_t *out_ms) {
    static const struct { const char *name; double ms; } units[] = {
        {"ns", 1e-6}, {"us", 1e-3}, {"\xc2\xb5s", 1e-3}, {"ms", 1}, {"s", 1000}, {"m", 60000},
        {"h", 3600000},
    };
    if (!s || !*s) return MAE_EINVAL;
    if (strcmp(s, "0") == 0) {
        *out_ms = 0;
        return 0;
    }
    double total = 0;
    const char *p = s;
    while (*p) {
        double v;
        if (read_number(&p, &v)) return MAE_EINVAL;
        /* The longest unit name that matches ("ms" before "m"). */
        size_t best = 0, best_len = 0;
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
            size_t l = strlen(units[i].name);
            if (l > best_len && strncmp(p, units[i].name, l) == 0) {
                best = i;
                best_len = l;
            }
        }
        if (!best_len) return MAE_EINVAL;
        p += best_len;
        total += v * units[best].ms;
        if (total > MAX_DURATION_MS) return MAE_EINVAL;
    }
    /* A positive duration shorter than a millisecond still waits one. */
    uint64_t ms = (uint64_t)llround(total);
    if (ms == 0 && total > 0) ms = 1;
    *out_ms = ms;
    return 0;
}

int mae__parse_size(const char *s, uint64_t *out_bytes) {
    static const struct { const char *name; double mul; } units[] = {
        {"", 1}, {"B", 1}, {"KB", 1e3}, {"kB", 1e3}, {"KiB", 1024.0}, {"MB", 1e6},
        {"MiB", 1024.0 * 1024}, {"GB", 1e9}, {"GiB", 1024.0 * 1024 * 1024},
    };
    if (!s || !*s) return MAE_EINVAL;
    const char *p = s;
    double v;
    if (read_number(&p, &v)) return MAE_EINVAL;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(p, units[i].name) == 0) {
            double bytes = v * units[i].mul;
            if (bytes > MAX_SIZE_BYTES || bytes != floor(bytes)) return MAE_EINVAL;
            *out_bytes = (uint64_t)bytes;
            return 0;
        }
    }
    return MAE_EINVAL;
}
