/*
 * The file:// driver: a directory tree where each key is a file. This file opens the
 * store, reads (get, ranged get, head, list), sweeps the temporaries of dead writers
 * and deletes; store_file_write.c writes.
 */
#include "store/file/store_file_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/debug.h"

const char *file_root_name(const struct file_store *fs)
{
    return fs->root[0] ? fs->root : "/";
}

int file_err(const struct file_store *fs, cairn_err *e, int errnum, const char *what,
             const char *key)
{
    if (errnum == ENOSPC || errnum == EDQUOT)
        return err_set(e, CAIRN_ENOSPC,
                       "repository %s is full (%s %s): free space or use another location",
                       file_root_name(fs), what, key);
    return err_sys(e, errnum, "repository %s: cannot %s %s", file_root_name(fs), what, key);
}

void file_path(const struct file_store *fs, const char *key, char *buf)
{
    snprintf(buf, PATH_CAP, "%s/%s", fs->root, key);
}

static void fsync_dir(const char *path)
{
    int fd = open(path[0] ? path : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* fsyncs the directory holding path (which has at least one '/'). */
void file_fsync_parent(char *path)
{
    char *slash = strrchr(path, '/');
    *slash = '\0';
    fsync_dir(path);
    *slash = '/';
}

/* Creates every missing directory of dir (absolute) and fsyncs the parent of each
 * one created, so the new entry survives a crash. Returns 0 or an errno value. */
int file_mkdir_all(char *dir)
{
    for (char *p = dir + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        int err = 0;
        if (mkdir(dir, 0755) == 0) {
            file_fsync_parent(dir);
        } else if (errno != EEXIST) {
            struct stat st;
            err = errno;
            if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
                err = 0;
        }
        *p = c;
        if (err)
            return err;
        if (!c)
            return 0;
    }
}

static int file_open(const char *url, const store_options *o, void **impl, cairn_err *e)
{
    (void)o; /* nothing to configure */
    const char *path = url + strlen("file://");
    if (path[0] != '/')
        return err_set(e, CAIRN_EINVAL,
                       "repository location '%s' needs an absolute path, as in file:///var/backups",
                       url);
    size_t len = strlen(path);
    while (len > 0 && path[len - 1] == '/')
        len--;
    if (len >= PATH_MAX)
        return err_set(e, CAIRN_EINVAL, "repository path in '%s' is too long", url);
    struct file_store *fs = calloc(1, sizeof(*fs));
    if (!fs)
        return err_set(e, CAIRN_ENOMEM, "out of memory opening %s", url);
    memcpy(fs->root, path, len);
    fs->root[len] = '\0';
    *impl = fs;
    return 0;
}

static void file_close(void *impl)
{
    free(impl);
}

/* Names the object's size and the bytes asked when it ends before the range does. */
static int file_short(const struct file_store *fs, cairn_err *e, const char *key, uint64_t size,
                      uint64_t offset, uint64_t length)
{
    return err_set(e, CAIRN_ECORRUPT,
                   "repository %s: object %s is %" PRIu64 " bytes, shorter than the %" PRIu64
                   " bytes asked (%" PRIu64 " from byte %" PRIu64 ")",
                   file_root_name(fs), key, size, offset + length, length, offset);
}

/* Streams [offset, offset + length) of key's file to sink; length UINT64_MAX reads
 * to the end, whatever the size, as a whole get does. */
static int file_read(const struct file_store *fs, const char *key, uint64_t offset, uint64_t length,
                     store_sink sink, void *ctx, cairn_err *e)
{
    bool whole = length == UINT64_MAX;
    char path[PATH_CAP];
    file_path(fs, key, path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 && errno != ENOENT && errno != ENOTDIR)
        return file_err(fs, e, errno, "read", key);
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        return err_set(e, CAIRN_ENOENT, "repository %s has no object %s", file_root_name(fs), key);
    }
    /* Said before any byte reaches the sink; a file cut while it is read is caught
     * below. */
    if (!whole && (uint64_t)st.st_size < offset + length) {
        close(fd);
        return file_short(fs, e, key, (uint64_t)st.st_size, offset, length);
    }
    posix_fadvise(fd, (off_t)offset, whole ? 0 : (off_t)length, POSIX_FADV_SEQUENTIAL);
    unsigned char *buf = malloc(FILE_BUF);
    if (!buf) {
        close(fd);
        return err_set(e, CAIRN_ENOMEM, "out of memory reading %s", key);
    }
    int rc = 0;
    uint64_t pos = offset, left = length;
    while (left > 0) {
        size_t want = left < FILE_BUF ? (size_t)left : FILE_BUF;
        ssize_t n = pread(fd, buf, want, (off_t)pos);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = file_err(fs, e, errno, "read", key);
            break;
        }
        if (n == 0) {
            if (!whole)
                rc = file_short(fs, e, key, pos, offset, length);
            break;
        }
        rc = sink(ctx, buf, (size_t)n, e);
        if (rc)
            break;
        pos += (uint64_t)n;
        if (!whole)
            left -= (uint64_t)n;
    }
    free(buf);
    close(fd);
    return rc;
}

static int file_get(void *impl, const char *key, store_sink sink, void *ctx, cairn_err *e)
{
    return file_read(impl, key, 0, UINT64_MAX, sink, ctx, e);
}

static int file_get_range(void *impl, const char *key, uint64_t offset, uint64_t length,
                          store_sink sink, void *ctx, cairn_err *e)
{
    return file_read(impl, key, offset, length, sink, ctx, e);
}

static int file_head(void *impl, const char *key, uint64_t *size, cairn_err *e)
{
    struct file_store *fs = impl;
    char path[PATH_CAP];
    file_path(fs, key, path);
    struct stat st;
    bool found = stat(path, &st) == 0;
    if (!found && errno != ENOENT && errno != ENOTDIR)
        return file_err(fs, e, errno, "stat", key);
    if (!found || !S_ISREG(st.st_mode))
        return err_set(e, CAIRN_ENOENT, "repository %s has no object %s", file_root_name(fs), key);
    if (size)
        *size = (uint64_t)st.st_size;
    return 0;
}

struct list_ent {
    char *name; /* directories carry a trailing '/', so plain strcmp gives key order */
    uint64_t size;
    int64_t mtime_ms;
};

static int ent_cmp(const void *a, const void *b)
{
    return strcmp(((const struct list_ent *)a)->name, ((const struct list_ent *)b)->name);
}

/* Hidden names are this driver's temporaries; store.c drops the other names a key
 * cannot have. */
static bool name_listable(const char *name)
{
    return name[0] != '.' && name[0] != '\0';
}

/* Reads one directory's matching entries, sorted. *n_out 0 with a NULL array when
 * the directory does not exist. */
static int read_dir(const struct file_store *fs, const char *dirkey, const char *match,
                    struct list_ent **out, size_t *n_out, cairn_err *e)
{
    *out = NULL;
    *n_out = 0;
    char path[PATH_CAP];
    snprintf(path, sizeof(path), "%s/%s", fs->root, dirkey);
    DIR *d = opendir(path);
    if (!d) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        return file_err(fs, e, errno, "list", dirkey[0] ? dirkey : "the top directory");
    }
    struct list_ent *ents = NULL;
    size_t n = 0, cap = 0, match_len = strlen(match);
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!name_listable(de->d_name) || strncmp(de->d_name, match, match_len) != 0)
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, 0) != 0)
            continue; /* deleted meanwhile, or a dangling link */
        bool is_dir = S_ISDIR(st.st_mode);
        if (!is_dir && !S_ISREG(st.st_mode))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            struct list_ent *grown = realloc(ents, cap * sizeof(*ents));
            if (!grown) {
                rc = err_set(e, CAIRN_ENOMEM, "out of memory listing %s", dirkey);
                break;
            }
            ents = grown;
        }
        size_t len = strlen(de->d_name);
        char *name = malloc(len + 2);
        if (!name) {
            rc = err_set(e, CAIRN_ENOMEM, "out of memory listing %s", dirkey);
            break;
        }
        memcpy(name, de->d_name, len);
        name[len] = is_dir ? '/' : '\0';
        name[len + 1] = '\0';
        ents[n].name = name;
        ents[n].size = (uint64_t)st.st_size;
        ents[n].mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
        n++;
    }
    closedir(d);
    if (rc) {
        for (size_t i = 0; i < n; i++)
            free(ents[i].name);
        free(ents);
        return rc;
    }
    if (n > 1)
        qsort(ents, n, sizeof(*ents), ent_cmp);
    *out = ents;
    *n_out = n;
    return 0;
}

/* Lists under the directory key[0..len) (empty, or ending in '/'); key has room
 * for STORE_KEY_MAX + 2 bytes and is extended in place while descending. */
static int list_dir(const struct file_store *fs, char *key, size_t len, const char *match,
                    store_list_ex_cb cb, void *ctx, cairn_err *e)
{
    CAIRN_ASSERT(len <= STORE_KEY_MAX); /* key's room: STORE_KEY_MAX + 2 */
    key[len] = '\0';
    struct list_ent *ents;
    size_t n;
    int rc = read_dir(fs, key, match, &ents, &n, e);
    for (size_t i = 0; i < n; i++) {
        size_t nlen = strlen(ents[i].name);
        if (rc || len + nlen > STORE_KEY_MAX)
            continue;
        memcpy(key + len, ents[i].name, nlen + 1);
        if (ents[i].name[nlen - 1] == '/')
            rc = list_dir(fs, key, len + nlen, "", cb, ctx, e);
        else
            rc = cb(ctx, &(store_entry){key, ents[i].size, ents[i].mtime_ms}, e);
    }
    for (size_t i = 0; i < n; i++)
        free(ents[i].name);
    free(ents);
    return rc;
}

static int file_list_ex(void *impl, const char *prefix, store_list_ex_cb cb, void *ctx,
                        cairn_err *e)
{
    char key[STORE_KEY_MAX + 2];
    const char *slash = strrchr(prefix, '/');
    size_t dirlen = slash ? (size_t)(slash - prefix) + 1 : 0;
    memcpy(key, prefix, dirlen);
    return list_dir(impl, key, dirlen, prefix + dirlen, cb, ctx, e);
}

struct stale_walk {
    int64_t cutoff_ms;
    bool remove;
    store_list_ex_cb cb;
    void *ctx;
};

/* Walks rel (relative to the root, "" or ending in '/') for the temporaries of
 * writers that died (".tmp-" names), in readdir order: one directory handle per
 * level, no names held. */
static int stale_dir(const struct file_store *fs, char *rel, size_t len, const struct stale_walk *w,
                     cairn_err *e)
{
    char path[PATH_CAP];
    snprintf(path, sizeof(path), "%s/%.*s", fs->root, (int)len, rel);
    DIR *d = opendir(path);
    if (!d)
        return errno == ENOENT || errno == ENOTDIR ? 0 : file_err(fs, e, errno, "list", path);
    int rc = 0;
    struct dirent *de;
    while (!rc && (de = readdir(d)) != NULL) {
        size_t nlen = strlen(de->d_name);
        struct stat st;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            len + nlen + 1 > STORE_KEY_MAX || fstatat(dirfd(d), de->d_name, &st, 0) != 0)
            continue;
        memcpy(rel + len, de->d_name, nlen + 1);
        if (S_ISDIR(st.st_mode) && de->d_name[0] != '.') {
            rel[len + nlen] = '/';
            rel[len + nlen + 1] = '\0';
            rc = stale_dir(fs, rel, len + nlen + 1, w, e);
            continue;
        }
        int64_t mtime = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
        if (!S_ISREG(st.st_mode) || strncmp(de->d_name, ".tmp-", 5) != 0 || mtime >= w->cutoff_ms)
            continue;
        rc = w->cb(w->ctx, &(store_entry){rel, (uint64_t)st.st_size, mtime}, e);
        if (!rc && w->remove && unlinkat(dirfd(d), de->d_name, 0) != 0 && errno != ENOENT)
            rc = file_err(fs, e, errno, "delete", rel);
    }
    closedir(d);
    return rc;
}

static int file_sweep_stale(void *impl, int64_t cutoff_ms, bool remove, store_list_ex_cb cb,
                            void *ctx, cairn_err *e)
{
    char rel[STORE_KEY_MAX + 2] = "";
    struct stale_walk w = {cutoff_ms, remove, cb, ctx};
    return stale_dir(impl, rel, 0, &w, e);
}

static int file_del(void *impl, const char *key, cairn_err *e)
{
    struct file_store *fs = impl;
    char path[PATH_CAP];
    file_path(fs, key, path);
    if (unlink(path) != 0) {
        if (errno == ENOENT || errno == ENOTDIR || errno == EISDIR)
            return 0;
        return file_err(fs, e, errno, "delete", key);
    }
    /* A delete undone by a crash could resurrect a purged backup whose blobs are
     * gone, so the directory entry is made durable before the caller goes on. */
    file_fsync_parent(path);
    /* Object stores have no directories: remove the ones this delete emptied, so
     * that the tree shows what exists. */
    size_t rootlen = strlen(fs->root);
    for (;;) {
        char *slash = strrchr(path, '/');
        if (!slash || (size_t)(slash - path) <= rootlen)
            break;
        *slash = '\0';
        if (rmdir(path) != 0)
            break;
    }
    return 0;
}

const store_driver store_file_driver = {
    .scheme = "file://",
    .open = file_open,
    .close = file_close,
    .put_begin = file_put_begin,
    .write = file_write,
    .commit = file_commit,
    .abort = file_abort,
    .put_begin_unnamed = file_put_begin_unnamed,
    .commit_as = file_commit_as,
    .unnamed_max = file_unnamed_max,
    .get = file_get,
    .get_range = file_get_range,
    .head = file_head,
    .list_ex = file_list_ex,
    .sweep_stale = file_sweep_stale,
    .del = file_del,
};
