/*
 * testutil - what several unit tests share: a stream collected in memory and the
 * removal of a scratch directory. Header-only, so each test stays one program.
 */
#ifndef CAIRN_TESTUTIL_H
#define CAIRN_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"

/* A store_sink that appends to a buf (release it with buf_free). */
static inline int mem_sink(void *ctx, const void *p, size_t len, cairn_err *e)
{
    return buf_append(ctx, p, len, e);
}

/* Removes dir and everything under it; 0 on success. */
static inline int scratch_remove(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd);
}

#endif
