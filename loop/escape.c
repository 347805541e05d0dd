/* Percent-encoding of a value substituted into an HTTP path (SPEC §3.1): everything but the
 * unreserved characters of RFC 3986, so a value stays one path segment ("a/b" -> "a%2Fb").
 * A value made only of dots is encoded too: "." or ".." would be a dot segment, which the
 * server resolves (curl sends the path as is), and the value would change the path's meaning. */
#include <stdbool.h>
#include <stdlib.h>

#include "loop/engine_int.h"

char *mae__path_escape(const char *s, size_t len) {
    static const char hx[] = "0123456789ABCDEF";
    char *o = malloc(len * 3 + 1);
    if (!o) return NULL;
    size_t k = 0;
    bool dots = len > 0;
    for (size_t i = 0; i < len && dots; i++) dots = s[i] == '.';
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || (ch == '.' && !dots) || ch == '_' || ch == '~') {
            o[k++] = (char)ch;
        } else {
            o[k++] = '%';
            o[k++] = hx[ch >> 4];
            o[k++] = hx[ch & 15];
        }
    }
    o[k] = 0;
    return o;
}
