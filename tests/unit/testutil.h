/*
 * testutil - what several unit tests share: a stream collected in memory, the
 * monotonic clock, and the count and removal of a scratch directory's entries. Header-only, so each
 * test stays one program.
 */
#ifndef CAIRN_TESTUTIL_H
#define CAIRN_TESTUTIL_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/err.h"

/* A store_sink that appends to a buf (release it with buf_free). */
static inline int mem_sink(void *ctx, const void *p, size_t len, cairn_err *e)
{
    return buf_append(ctx, p, len, e);
}

/* The monotonic clock, in seconds. */
static inline double test_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The entries of dir but . and ..; 0 when it does not exist. */
static inline int test_count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    }
    closedir(d);
    return n;
}

/* Removes dir and everything under it; 0 on success. */
static inline int scratch_remove(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd);
}

#endif
