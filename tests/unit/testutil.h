/*
 * testutil - what several unit tests share: a stream collected in memory and the
 * removal of a scratch directory. Header-only, so each test stays one program.
 */
#ifndef CAIRN_TESTUTIL_H
#define CAIRN_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

struct membuf {
    unsigned char *data;
    size_t len;
};

/* A store_sink that appends to a struct membuf (free its data). */
static inline int mem_sink(void *ctx, const void *buf, size_t len, cairn_err *e)
{
    struct membuf *m = ctx;
    m->data = realloc(m->data, m->len + len);
    memcpy(m->data + m->len, buf, len);
    m->len += len;
    return 0;
}

/* Removes dir and everything under it; 0 on success. */
static inline int scratch_remove(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd);
}

#endif
