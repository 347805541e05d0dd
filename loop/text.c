/* Escaping for text logs and the failure summary, U+FFFD scrubbing for JSON log lines. */
#include "loop/text.h"
#include "workflow/utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *mae__text_escape(const char *s, size_t n, size_t max) {
    /* each input byte becomes at most 4 output bytes (\xHH; a C1 control's 2 bytes become 6) */
    size_t cap = n > (((size_t)-1) - 8) / 4 ? 0 : n * 4 + 4;
    if (max && cap > max + 4) cap = max + 4;
    char *out = cap ? malloc(cap) : NULL;
    if (!out) return NULL;
    const unsigned char *u = (const unsigned char *)s;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        char piece[8];
        size_t pl, step = 1;
        unsigned char c = u[i];
        size_t cl = c >= 0x80 ? mae__utf8_char_len(u + i, n - i) : 0;
        if (cl == 2 && c == 0xc2 && u[i + 1] < 0xa0) {
            /* U+0080..U+009F: C1 controls (U+009B is CSI to many terminals), escaped like C0 */
            snprintf(piece, sizeof piece, "\\u%04X", (unsigned)u[i + 1]);
            pl = 6;
            step = 2;
        } else if (cl) {
            memcpy(piece, u + i, cl);
            pl = step = cl;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            piece[0] = '\\';
            piece[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
            pl = 2;
        } else if (c < 0x20 || c >= 0x7f) {
            snprintf(piece, sizeof piece, "\\x%02X", c);
            pl = 4;
        } else {
            piece[0] = (char)c;
            pl = 1;
        }
        if (max && o + pl > max - (max >= 3 ? 3 : 0) && i + step < n) {
            /* cut on a boundary, with room for "..." */
            if (max >= 3) memcpy(out + o, "...", 3), o += 3;
            break;
        }
        if (max && o + pl > max) break;
        memcpy(out + o, piece, pl);
        o += pl;
        i += step;
    }
    out[o] = 0;
    return out;
}

char *mae__utf8_scrub(const char *s, size_t n) {
    size_t cap = n > (((size_t)-1) - 1) / 3 ? 0 : n * 3 + 1;
    char *out = cap ? malloc(cap) : NULL;
    if (!out) return NULL;
    const unsigned char *u = (const unsigned char *)s;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t cl = u[i] < 0x80 ? 1 : mae__utf8_char_len(u + i, n - i);
        if (u[i] == 0) break;
        if (cl) {
            memcpy(out + o, u + i, cl);
            o += cl;
            i += cl;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    out[o] = 0;
    return out;
}
