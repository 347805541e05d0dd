/* The one translation of library error codes into MAE_E* (include/maestro/maestro.h): libuv's
 * UV_E*, libcurl's CURLcode and CURLMcode, and nghttp2's NGHTTP2_ERR_*. Every module that gets
 * an error from one of these libraries returns it through here, so one library error always
 * becomes the same MAE_E*. (Failure classes of calls are another matter: transports/class.c.) */
#ifndef MAE_ERRMAP_H
#define MAE_ERRMAP_H

/* Each returns 0 for the library's success code, else a negative MAE_E*. */
int mae__err_from_uv(int uv_err);
int mae__err_from_curl(int curl_code);
int mae__err_from_curlm(int curlm_code);
int mae__err_from_nghttp2(int ng_err);

#endif
