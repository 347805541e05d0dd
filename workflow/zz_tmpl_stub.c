/* THROWAWAY stub of template.h so the loader links before the real module lands (branch tmpl).
 * Deleted at the merge. Understands only {{ }} balance and ".a.b" references. */
#include <ctype.h>
#include <string.h>

#include "maestro.h"
#include "workflow/template.h"

struct mae_tmpl {
    const char *src;
    size_t len;
    bool whole;
};

bool mae_tmpl_has_expr(const char *src, size_t len) {
    for (size_t i = 0; i + 1 < len; i++)
        if (src[i] == '{' && src[i + 1] == '{') return true;
    return false;
}

int mae_tmpl_compile(mae_arena *a, const char *src, size_t len, mae_tmpl **out, mae_tmpl_err *err) {
    for (size_t i = 0; i + 1 < len; i++) {
        if (src[i] == '{' && src[i + 1] == '{') {
            size_t j = i + 2;
            while (j + 1 < len && !(src[j] == '}' && src[j + 1] == '}')) j++;
            if (j + 1 >= len) {
                err->offset = i;
                snprintf(err->msg, sizeof err->msg, "unclosed '{{'");
                return MAE_EPARSE;
            }
            i = j + 1;
        }
    }
    mae_tmpl *t = mae_arena_alloc(a, sizeof *t);
    if (!t) return MAE_ENOMEM;
    t->src = mae_arena_strndup(a, src, len);
    t->len = len;
    *out = t;
    return 0;
}

bool mae_tmpl_is_whole(const mae_tmpl *t) { return t->whole; }
const char *mae_tmpl_source(const mae_tmpl *t) { return t->src; }

void mae_tmpl_refs(const mae_tmpl *t, mae_ref_cb cb, void *ud) {
    const char *s = t->src;
    bool in = false, def = false;
    for (size_t i = 0; i < t->len; i++) {
        if (!in && s[i] == '{' && s[i + 1] == '{') {
            in = true;
            def = strstr(s + i, "default") != NULL;
            i++;
            continue;
        }
        if (in && s[i] == '}' && s[i + 1] == '}') { in = false; i++; continue; }
        if (in && s[i] == '.' && (i == 0 || !isalnum((unsigned char)s[i - 1])) && (isalpha((unsigned char)s[i + 1]) || s[i + 1] == '_')) {
            char root[128] = {0}, sub[128] = {0};
            size_t j = i + 1, k = 0;
            while ((isalnum((unsigned char)s[j]) || s[j] == '_') && k < 127) root[k++] = s[j++];
            if (s[j] == '.') {
                j++;
                k = 0;
                while ((isalnum((unsigned char)s[j]) || s[j] == '_' || s[j] == '-') && k < 127) sub[k++] = s[j++];
            }
            cb(ud, root, sub[0] ? sub : NULL, def, i);
            i = j - 1;
        }
    }
}
