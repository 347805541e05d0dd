/* mae_strerror and mae_err_name from the one X-macro table in maestro.h. */
#include "maestro/maestro.h"

const char *mae_strerror(int err) {
    switch (err) {
    case 0: return "success";
#define MAE_XX(name, msg) case MAE_E##name: return msg;
    MAE_ERRNO_MAP(MAE_XX)
#undef MAE_XX
    default: return "unknown error";
    }
}

const char *mae_err_name(int err) {
    switch (err) {
    case 0: return "OK";
#define MAE_XX(name, msg) case MAE_E##name: return #name;
    MAE_ERRNO_MAP(MAE_XX)
#undef MAE_XX
    default: return "UNKNOWN";
    }
}
