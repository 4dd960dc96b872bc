/*
 * err - status codes and the error context that every fallible call fills in.
 *
 * Functions return 0 on success or a negative CAIRN_E* code; the details a person
 * needs (which file, which node, what to do next) go into a cairn_err the caller
 * owns and prints. Callers add their own context in front with err_prefix().
 */
#ifndef CAIRN_ERR_H
#define CAIRN_ERR_H

#include <stdarg.h>
#include <stddef.h>

enum {
    CAIRN_OK = 0,
    CAIRN_EINVAL = -1,    /* bad argument or malformed input */
    CAIRN_ENOMEM = -2,    /* out of memory */
    CAIRN_EIO = -3,       /* a read or write failed */
    CAIRN_ENOENT = -4,    /* no such file, object, backup or table */
    CAIRN_EEXIST = -5,    /* already exists */
    CAIRN_ECONFIG = -6,   /* configuration error */
    CAIRN_EPROTO = -7,    /* protocol violation or version mismatch */
    CAIRN_ETIMEDOUT = -8, /* no answer in time */
    CAIRN_ECONN = -9,     /* could not connect, or the connection broke */
    CAIRN_ECORRUPT = -10, /* checksum mismatch or undecodable data */
    CAIRN_ENOSPC = -11,   /* no space left on the device */
    CAIRN_EREMOTE = -12,  /* the remote side (ScyllaDB, an agent, a store) failed */
    CAIRN_EBUSY = -13,    /* try again later */
    CAIRN_EAUTH = -14,    /* authentication or permission refused */
    CAIRN_EMISMATCH = -15 /* cluster or identity mismatch */
};

#define CAIRN_ERR_MSG_MAX 1024

typedef struct cairn_err {
    int code;
    char msg[CAIRN_ERR_MSG_MAX];
} cairn_err;

/* Resets e to "no error". */
void err_clear(cairn_err *e);

/* Records code and a formatted message in e (which may be NULL); suffix, when not NULL,
 * is appended after ": ". */
void err_vset(cairn_err *e, int code, const char *suffix, const char *fmt, va_list ap);

/*
 * Records code and a formatted message in e (which may be NULL); returns code.
 * Inline so that a static analyser sees `return err_set(e, CAIRN_EIO, ...)` return a
 * failure, and follows the error path as one.
 */
__attribute__((format(printf, 3, 4))) static inline int err_set(cairn_err *e, int code,
                                                                const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(e, code, NULL, fmt, ap);
    va_end(ap);
    return code;
}

/* The cairn code closest to errno value errnum. */
int err_from_errno(int errnum);

/* The text of errno value errnum. */
const char *err_strerror(int errnum);

/* Like err_set, appending strerror(errnum); returns err_from_errno(errnum). */
__attribute__((format(printf, 3, 4))) static inline int err_sys(cairn_err *e, int errnum,
                                                                const char *fmt, ...)
{
    int code = err_from_errno(errnum);
    va_list ap;
    va_start(ap, fmt);
    err_vset(e, code, err_strerror(errnum), fmt, ap);
    va_end(ap);
    return code;
}

/* Puts "<context>: " in front of the message already in e; returns e->code. It is
 * only ever called on a failure path, so it never returns success: when e holds no
 * code (a callee forgot to set one), e->code becomes CAIRN_EIO and that is returned. */
int err_prefix(cairn_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A short name for a code ("corrupt data", "timed out"). */
const char *err_name(int code);

#endif
