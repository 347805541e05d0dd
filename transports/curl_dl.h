/* libcurl, loaded when the first HTTP call needs it (dlopen of libcurl.so.4), not linked.
 *
 * Linking libcurl costs every process its ~30 dependent libraries (TLS, Kerberos, LDAP, SSH...):
 * ~13 M instructions of dynamic relocation and ~9 MB of mapped pages at start-up, even for
 * `maestro version` or a gRPC-only run. So the files that call libcurl include this header
 * instead of <curl/curl.h> and call libcurl only through a table of its functions, filled by
 * mae__curl_load(): api->easy_setopt(...) rather than curl_easy_setopt(...). The HTTP
 * transport keeps the table (mae_http.curl) and loads it on its first call; curl_uv.c borrows
 * it. Calling curl_* by name would link libcurl again: bin/maestro's NEEDED entries are checked
 * by tests/test_curl_dl.c.
 *
 * The price: curl's compile-time type check of curl_easy_setopt's argument (typecheck-gcc.h)
 * does not apply to calls through the table. */
#ifndef MAE_CURL_DL_H
#define MAE_CURL_DL_H

#include <stddef.h>

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

/* Loads libcurl.so.4 (dlopen; a process that has it loaded already just gets it again) and fills
 * *api with its functions. The library stays loaded for the life of the process (unloading
 * libcurl and its TLS library safely is not possible in general). Each user keeps its own
 * table: the library has no global state. Returns 0, or MAE_EINTERNAL with the reason in err
 * (*api untouched). */
int mae__curl_load(mae__curl_api *api, char *err, size_t errlen);

#endif
