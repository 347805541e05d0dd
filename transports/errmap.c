/* Library errors → MAE_E* (see errmap.h). */
#include "transports/errmap.h"

#include <curl/curl.h>
#include <nghttp2/nghttp2.h>
#include <uv.h>

#include "maestro/maestro.h"

int mae__err_from_uv(int e) {
    switch (e) {
    case 0: return 0;
    case UV_ENOMEM: case UV_ENOBUFS: case UV_EAI_MEMORY: return MAE_ENOMEM;
    case UV_EINVAL: case UV_EBADF: case UV_ENOTSOCK: return MAE_EINVAL;
    case UV_ECONNREFUSED: return MAE_ECONNREFUSED;
    case UV_ECONNRESET: case UV_ECONNABORTED: case UV_EPIPE: case UV_EOF: return MAE_ECONNRESET;
    case UV_ETIMEDOUT: case UV_EAI_AGAIN: return MAE_ETIMEDOUT;
    case UV_ECANCELED: case UV_EAI_CANCELED: return MAE_ECANCELED;
    case UV_EADDRINUSE: case UV_EEXIST: return MAE_EEXISTS;
    case UV_ENOENT: return MAE_ENOTFOUND;
    case UV_EAI_NONAME: case UV_EAI_FAIL: case UV_EAI_NODATA: case UV_EAI_ADDRFAMILY:
    case UV_EAI_FAMILY: case UV_EAI_SERVICE: case UV_EAI_SOCKTYPE: return MAE_EDNS;
    default: return e < 0 ? MAE_EIO : 0;
    }
}

int mae__err_from_curl(int e) {
    switch ((CURLcode)e) {
    case CURLE_OK: return 0;
    case CURLE_OUT_OF_MEMORY: return MAE_ENOMEM;
    case CURLE_COULDNT_RESOLVE_HOST: case CURLE_COULDNT_RESOLVE_PROXY: return MAE_EDNS;
    case CURLE_COULDNT_CONNECT: return MAE_ECONNREFUSED;
    case CURLE_OPERATION_TIMEDOUT: return MAE_ETIMEDOUT;
    case CURLE_SEND_ERROR: case CURLE_RECV_ERROR: case CURLE_GOT_NOTHING: return MAE_ECONNRESET;
    case CURLE_ABORTED_BY_CALLBACK: return MAE_ECANCELED;
    case CURLE_URL_MALFORMAT: case CURLE_UNSUPPORTED_PROTOCOL: case CURLE_BAD_FUNCTION_ARGUMENT:
        return MAE_EINVAL;
    case CURLE_FILESIZE_EXCEEDED: return MAE_ETOOBIG;
    case CURLE_WEIRD_SERVER_REPLY: case CURLE_HTTP2: case CURLE_HTTP2_STREAM: return MAE_EPROTO;
    default: return MAE_EINTERNAL;
    }
}

int mae__err_from_curlm(int e) {
    switch ((CURLMcode)e) {
    case CURLM_OK: return 0;
    case CURLM_OUT_OF_MEMORY: return MAE_ENOMEM;
    case CURLM_BAD_HANDLE: case CURLM_BAD_EASY_HANDLE: case CURLM_BAD_SOCKET:
    case CURLM_UNKNOWN_OPTION: case CURLM_ADDED_ALREADY: return MAE_EINVAL;
    default: return MAE_EINTERNAL;
    }
}

int mae__err_from_nghttp2(int e) {
    if (e >= 0) return 0;
    switch (e) {
    case NGHTTP2_ERR_NOMEM: return MAE_ENOMEM;
    case NGHTTP2_ERR_INVALID_ARGUMENT: case NGHTTP2_ERR_BUFFER_ERROR: return MAE_EINVAL;
    case NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE: case NGHTTP2_ERR_INVALID_STATE:
    case NGHTTP2_ERR_STREAM_CLOSED: case NGHTTP2_ERR_STREAM_CLOSING:
    case NGHTTP2_ERR_STREAM_SHUT_WR: case NGHTTP2_ERR_DATA_EXIST:
    case NGHTTP2_ERR_SESSION_CLOSING: case NGHTTP2_ERR_START_STREAM_NOT_ALLOWED:
        return MAE_ESTATE;
    case NGHTTP2_ERR_CALLBACK_FAILURE: case NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE:
        return MAE_ECANCELED;
    case NGHTTP2_ERR_FLOW_CONTROL: case NGHTTP2_ERR_HEADER_COMP: case NGHTTP2_ERR_FLOODED:
    case NGHTTP2_ERR_BAD_CLIENT_MAGIC: case NGHTTP2_ERR_PROTO: case NGHTTP2_ERR_FRAME_SIZE_ERROR:
    case NGHTTP2_ERR_GOAWAY_ALREADY_SENT: case NGHTTP2_ERR_SETTINGS_EXPECTED:
    case NGHTTP2_ERR_TOO_MANY_SETTINGS:
        return MAE_EPROTO;
    default: return MAE_EPROTO;
    }
}
