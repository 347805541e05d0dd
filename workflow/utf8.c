/* UTF-8 validation (see utf8.h). */
#include "workflow/utf8.h"

size_t mae__utf8_char_len(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    if (c == 0) return 0;
    if (c < 0x80) return 1;
    size_t need;
    unsigned min, cp;
    if ((c & 0xe0) == 0xc0) need = 2, min = 0x80, cp = c & 0x1f;
    else if ((c & 0xf0) == 0xe0) need = 3, min = 0x800, cp = c & 0x0f;
    else if ((c & 0xf8) == 0xf0) need = 4, min = 0x10000, cp = c & 0x07;
    else return 0;
    if (n < need) return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    /* overlong forms and surrogates are not valid UTF-8 */
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return need;
}

size_t mae__utf8_check(const unsigned char *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = mae__utf8_char_len(s + i, len - i);
        if (!k) return i;
        i += k;
    }
    return len;
}
