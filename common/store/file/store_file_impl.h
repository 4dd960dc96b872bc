/*
 * store_file_impl - what the two files of the file:// driver share: the store, key
 * paths, error messages and directory creation, and the writer's entry points for the
 * driver table. Private to common/store/file.
 */
#ifndef CAIRN_STORE_FILE_IMPL_H
#define CAIRN_STORE_FILE_IMPL_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/store_impl.h"

#define FILE_BUF      (256u << 10)
#define PATH_CAP      (PATH_MAX + STORE_KEY_MAX + 2)
#define MKDIR_RETRIES 8

struct file_store {
    char root[PATH_MAX]; /* absolute, without trailing '/'; "" is the filesystem root */
};

const char *file_root_name(const struct file_store *fs);
/* Sets e for an errno of what on key: a full file system as CAIRN_ENOSPC with the fix. */
int file_err(const struct file_store *fs, cairn_err *e, int errnum, const char *what,
             const char *key);
/* The path of key, into buf of PATH_CAP bytes. */
void file_path(const struct file_store *fs, const char *key, char *buf);
/* Fsyncs the directory holding path (which it modifies and restores). */
void file_fsync_parent(char *path);
/* Creates every missing directory of dir (absolute), fsyncing each parent; 0 or an
 * errno value. */
int file_mkdir_all(char *dir);

/* The writer (store_file_write.c), as store_impl.h's driver functions. */
int file_put_begin(void *impl, const char *key, uint64_t size_hint, void **wimpl, cairn_err *e);
int file_write(void *wimpl, const void *buf, size_t len, cairn_err *e);
int file_commit(void *wimpl, cairn_err *e);
void file_abort(void *wimpl);
int file_put_begin_unnamed(void *impl, const char *dir, void **wimpl, cairn_err *e);
int file_commit_as(void *impl, void *wimpl, const char *key, cairn_err *e);
uint64_t file_unnamed_max(void *impl);

#endif
