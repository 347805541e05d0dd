/* See curl_dl.h. */
#include "transports/curl_dl.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "maestro/maestro.h"

/* The soname: the library ABI our <curl/curl.h> describes. */
#define MAE_CURL_SONAME "libcurl.so.4"

int mae__curl_load(mae__curl_api *api, char *err, size_t errlen) {
    void *lib = dlopen(MAE_CURL_SONAME, RTLD_LAZY | RTLD_LOCAL);
    if (!lib) {
        const char *e = dlerror();
        snprintf(err, errlen, "cannot load %s: %s", MAE_CURL_SONAME, e ? e : "?");
        return MAE_EINTERNAL;
    }
    mae__curl_api a;
    _Static_assert(sizeof(void *) == sizeof a.global_init, "function pointers are data-pointer sized");
    struct { void *slot; const char *name; } syms[] = {
#define MAE_SYM(field, fn) {&a.field, #fn}
        MAE_SYM(global_init, curl_global_init),
        MAE_SYM(global_cleanup, curl_global_cleanup),
        MAE_SYM(easy_init, curl_easy_init),
        MAE_SYM(easy_cleanup, curl_easy_cleanup),
        MAE_SYM(easy_reset, curl_easy_reset),
        MAE_SYM(easy_setopt, curl_easy_setopt),
        MAE_SYM(easy_getinfo, curl_easy_getinfo),
        MAE_SYM(easy_strerror, curl_easy_strerror),
        MAE_SYM(getdate, curl_getdate),
        MAE_SYM(multi_init, curl_multi_init),
        MAE_SYM(multi_cleanup, curl_multi_cleanup),
        MAE_SYM(multi_setopt, curl_multi_setopt),
        MAE_SYM(multi_add_handle, curl_multi_add_handle),
        MAE_SYM(multi_remove_handle, curl_multi_remove_handle),
        MAE_SYM(multi_assign, curl_multi_assign),
        MAE_SYM(multi_socket_action, curl_multi_socket_action),
        MAE_SYM(multi_info_read, curl_multi_info_read),
        MAE_SYM(slist_append, curl_slist_append),
        MAE_SYM(slist_free_all, curl_slist_free_all),
        MAE_SYM(version_info, curl_version_info),
#undef MAE_SYM
    };
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        /* POSIX: a function pointer round-trips through void * (dlsym's contract). */
        void *f = dlsym(lib, syms[i].name);
        if (!f) {
            snprintf(err, errlen, "%s has no %s", MAE_CURL_SONAME, syms[i].name);
            dlclose(lib);
            return MAE_EINTERNAL;
        }
        memcpy(syms[i].slot, &f, sizeof f);
    }
    *api = a;
    return 0;
}
