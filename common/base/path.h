/*
 * path - paths built from parts that came from elsewhere (data directories, names).
 *
 * A path that does not fit its buffer is an error, never a shorter path: a truncated
 * path names another file.
 */
#ifndef CAIRN_PATH_H
#define CAIRN_PATH_H

#include <stddef.h>

#include "base/err.h"

int path_fmt(char *buf, size_t cap, cairn_err *e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
