/*
 * testutil - what several unit tests share: a stream collected in memory, the
 * monotonic clock, and the count and removal of a scratch directory's entries. Header-only, so each
 * test stays one program.
 */
#ifndef CAIRN_TESTUTIL_H
#define CAIRN_TESTUTIL_H

#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/err.h"

/* An unlinked scratch file holding len bytes of data, open for reading and writing; -1
 * on failure. */
static inline int test_make_file(const void *data, size_t len)
{
    char path[] = "/tmp/cairn-test-file-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    unlink(path);
    if (write(fd, data, len) != (ssize_t)len) {
        close(fd);
        return -1;
    }
    return fd;
}

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

/* The wall clock, in ms since the epoch (what a store stamps its objects with). */
static inline int64_t test_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A read-progress hook (blob_stop_fn) that appends to the file *arg under the reader
 * once, after its first chunk: a file that changes while it is read. */
static inline bool test_grow_once(void *arg, uint64_t done)
{
    int *fd = arg;
    if (done > 0 && *fd >= 0) {
        if (pwrite(*fd, "more", 4, lseek(*fd, 0, SEEK_END)) != 4)
            abort();
        *fd = -1;
    }
    return false;
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
