/*
 * error.c - messages and names for the BS_ERRNO_MAP codes (see error.h).
 */
#include "common/error.h"

#include <string.h>

const char *bs_strerror(int err) {
    switch (err) {
    case 0: return "success";
#define BS__ERR_MSG(name, val, msg)                                            \
    case (val): return (msg);
        BS_ERRNO_MAP(BS__ERR_MSG)
#undef BS__ERR_MSG
    default: break;
    }
    if (err < 0 && err > -1000) return strerror(-err);
    return "unknown error";
}

const char *bs_err_name(int err) {
    switch (err) {
    case 0: return "BS_OK";
#define BS__ERR_NAME(name, val, msg)                                           \
    case (val): return "BS_E" #name;
        BS_ERRNO_MAP(BS__ERR_NAME)
#undef BS__ERR_NAME
    default: break;
    }
    if (err < 0 && err > -1000) return "ERRNO";
    return "BS_E?";
}
