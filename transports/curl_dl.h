/* libcurl, loaded when the first HTTP call needs it (dlopen of libcurl.so.4), not linked.
 *
 * Linking libcurl costs every process its ~30 dependent libraries (TLS, Kerberos, LDAP, SSH...):
 * ~13 M instructions of dynamic relocation and ~9 MB of mapped pages at start-up, even for
 * `maestro version` or a gRPC-only run. So the files that call libcurl include this header
 * instead of <curl/curl.h>: it includes curl's header for the types and constants, then maps
 * each curl_* function used to an entry of a table filled by mae__curl_load(). Code keeps
 * calling curl_easy_setopt(...) and friends by their usual names.
 *
 * The price: curl's compile-time type check of curl_easy_setopt's argument (typecheck-gcc.h)
 * is off in these files (the macros below replace it).
 *
 * Rule: nothing may call a curl_* function before mae__curl_load() has returned 0 (the table
 * is all NULL until then). The HTTP transport loads it when it makes its first pool. */
#ifndef MAE_CURL_DL_H
#define MAE_CURL_DL_H

#include <curl/curl.h>

typedef struct mae__curl_api {
    CURLcode (*global_init)(long flags);
    void (*global_cleanup)(void);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *e);
    void (*easy_reset)(CURL *e);
    CURLcode (*easy_setopt)(CURL *e, CURLoption opt, ...);
    CURLcode (*easy_getinfo)(CURL *e, CURLINFO info, ...);
    const char *(*easy_strerror)(CURLcode rc);
    time_t (*getdate)(const char *s, const time_t *unused);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_cleanup)(CURLM *m);
    CURLMcode (*multi_setopt)(CURLM *m, CURLMoption opt, ...);
    CURLMcode (*multi_add_handle)(CURLM *m, CURL *e);
    CURLMcode (*multi_remove_handle)(CURLM *m, CURL *e);
    CURLMcode (*multi_assign)(CURLM *m, curl_socket_t s, void *p);
    CURLMcode (*multi_socket_action)(CURLM *m, curl_socket_t s, int ev, int *running);
    CURLMsg *(*multi_info_read)(CURLM *m, int *left);
    struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
    void (*slist_free_all)(struct curl_slist *l);
    curl_version_info_data *(*version_info)(CURLversion v);
} mae__curl_api;

extern mae__curl_api mae__curl;

/* Loads libcurl.so.4 and resolves every entry, once per process (later calls return the first
 * result; the library is never unloaded). Returns 0, or MAE_EINTERNAL with the loader's
 * message in mae__curl_load_error(). */
int mae__curl_load(void);
const char *mae__curl_load_error(void);

#undef curl_easy_setopt
#undef curl_easy_getinfo
#undef curl_multi_setopt
#define curl_global_init (*mae__curl.global_init)
#define curl_global_cleanup (*mae__curl.global_cleanup)
#define curl_easy_init (*mae__curl.easy_init)
#define curl_easy_cleanup (*mae__curl.easy_cleanup)
#define curl_easy_reset (*mae__curl.easy_reset)
#define curl_easy_setopt (*mae__curl.easy_setopt)
#define curl_easy_getinfo (*mae__curl.easy_getinfo)
#define curl_easy_strerror (*mae__curl.easy_strerror)
#define curl_getdate (*mae__curl.getdate)
#define curl_multi_init (*mae__curl.multi_init)
#define curl_multi_cleanup (*mae__curl.multi_cleanup)
#define curl_multi_setopt (*mae__curl.multi_setopt)
#define curl_multi_add_handle (*mae__curl.multi_add_handle)
#define curl_multi_remove_handle (*mae__curl.multi_remove_handle)
#define curl_multi_assign (*mae__curl.multi_assign)
#define curl_multi_socket_action (*mae__curl.multi_socket_action)
#define curl_multi_info_read (*mae__curl.multi_info_read)
#define curl_slist_append (*mae__curl.slist_append)
#define curl_slist_free_all (*mae__curl.slist_free_all)
#define curl_version_info (*mae__curl.version_info)

#endif
