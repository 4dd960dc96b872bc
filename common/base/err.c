#include "base/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void err_clear(cairn_err *e)
{
    if (e) {
        e->code = 0;
        e->msg[0] = '\0';
    }
}

void err_vset(cairn_err *e, int code, const char *suffix, const char *fmt, va_list ap)
{
    if (!e)
        return;
    e->code = code;
    int n = vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    if (suffix && n >= 0 && (size_t)n < sizeof(e->msg))
        snprintf(e->msg + n, sizeof(e->msg) - (size_t)n, ": %s", suffix);
}

const char *err_strerror(int errnum)
{
    return strerror(errnum);
}

int err_prefix(cairn_err *e, const char *fmt, ...)
{
    if (!e)
        return CAIRN_EINVAL;
    char ctx[CAIRN_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof(ctx), fmt, ap);
    va_end(ap);
    /* Room for both in full; the result is cut to the message size afterwards. */
    char both[2 * CAIRN_ERR_MSG_MAX + 2];
    snprintf(both, sizeof(both), "%s: %s", ctx, e->msg);
    size_t n = strnlen(both, sizeof(e->msg) - 1);
    memcpy(e->msg, both, n);
    e->msg[n] = '\0';
    /* Called on a failure path: a code lost on the way must not read as success. */
    if (e->code == CAIRN_OK)
        e->code = CAIRN_EIO;
    return e->code;
}

const char *err_name(int code)
{
    switch (code) {
    case CAIRN_OK:
        return "success";
    case CAIRN_EINVAL:
        return "invalid input";
    case CAIRN_ENOMEM:
        return "out of memory";
    case CAIRN_EIO:
        return "I/O error";
    case CAIRN_ENOENT:
        return "not found";
    case CAIRN_EEXIST:
        return "already exists";
    case CAIRN_ECONFIG:
        return "configuration error";
    case CAIRN_EPROTO:
        return "protocol error";
    case CAIRN_ETIMEDOUT:
        return "timed out";
    case CAIRN_ECONN:
        return "connection failed";
    case CAIRN_ECORRUPT:
        return "corrupt data";
    case CAIRN_ENOSPC:
        return "no space left";
    case CAIRN_EREMOTE:
        return "remote failure";
    case CAIRN_EBUSY:
        return "busy";
    case CAIRN_EAUTH:
        return "access denied";
    case CAIRN_EMISMATCH:
        return "mismatch";
    default:
        return "unknown error";
    }
}

int err_from_errno(int errnum)
{
    switch (errnum) {
    case ENOENT:
        return CAIRN_ENOENT;
    case EEXIST:
        return CAIRN_EEXIST;
    case ENOSPC:
    case EDQUOT:
        return CAIRN_ENOSPC;
    case ENOMEM:
        return CAIRN_ENOMEM;
    case EACCES:
    case EPERM:
        return CAIRN_EAUTH;
    case EINVAL:
        return CAIRN_EINVAL;
    case ETIMEDOUT:
        return CAIRN_ETIMEDOUT;
    case ECONNREFUSED:
    case ECONNRESET:
    case EHOSTUNREACH:
        return CAIRN_ECONN;
    default:
        return CAIRN_EIO;
    }
}
