/*
 * The file:// driver: a directory tree where each key is a file. Puts go to a
 * hidden temporary in the target directory, are fsynced, renamed over the key and
 * the directory fsynced, so an object is either complete and durable or absent,
 * whatever the moment of a crash.
 */
#include "store/store_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/debug.h"

#define FILE_BUF      (256u << 10)
#define PATH_CAP      (PATH_MAX + STORE_KEY_MAX + 2)
#define MKDIR_RETRIES 8

struct file_store {
    char root[PATH_MAX]; /* absolute, without trailing '/'; "" is the filesystem root */
};

struct file_writer {
    const struct file_store *fs;
    char *key;
    const char *name; /* last component of key */
    int dirfd;
    int fd;
    char tmp[80];
    unsigned char *buf;
    size_t used;
};

static atomic_uint_fast64_t tmp_counter;

/* The test fault: a budget of bytes, then errno. */
static pthread_mutex_t fault_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int fault_errno;
static uint64_t fault_budget;

void store_file_fail_writes_after(uint64_t bytes, int errnum)
{
    pthread_mutex_lock(&fault_lock);
    fault_budget = bytes;
    atomic_store(&fault_errno, errnum);
    pthread_mutex_unlock(&fault_lock);
}

static ssize_t fault_write(int fd, const void *buf, size_t len)
{
    if (!atomic_load(&fault_errno))
        return write(fd, buf, len);
    pthread_mutex_lock(&fault_lock);
    int errnum = atomic_load(&fault_errno);
    size_t allowed = len;
    if (errnum) {
        if (allowed > fault_budget)
            allowed = (size_t)fault_budget;
        fault_budget -= allowed;
    }
    pthread_mutex_unlock(&fault_lock);
    if (errnum && allowed == 0) {
        errno = errnum;
        return -1;
    }
    return write(fd, buf, allowed);
}

static const char *root_name(const struct file_store *fs)
{
    return fs->root[0] ? fs->root : "/";
}

static int fs_err(const struct file_store *fs, cairn_err *e, int errnum, const char *what,
                  const char *key)
{
    if (errnum == ENOSPC || errnum == EDQUOT)
        return err_set(e, CAIRN_ENOSPC,
                       "repository %s is full (%s %s): free space or use another location",
                       root_name(fs), what, key);
    return err_sys(e, errnum, "repository %s: cannot %s %s", root_name(fs), what, key);
}

static void path_of(const struct file_store *fs, const char *key, char *buf)
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
static void fsync_parent(char *path)
{
    char *slash = strrchr(path, '/');
    *slash = '\0';
    fsync_dir(path);
    *slash = '/';
}

/* Creates every missing directory of dir (absolute) and fsyncs the parent of each
 * one created, so the new entry survives a crash. Returns 0 or an errno value. */
static int mkdir_all(char *dir)
{
    for (char *p = dir + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        int err = 0;
        if (mkdir(dir, 0755) == 0) {
            fsync_parent(dir);
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

static void writer_free(struct file_writer *w, bool unlink_tmp)
{
    if (w->fd >= 0)
        close(w->fd);
    if (unlink_tmp && w->tmp[0])
        unlinkat(w->dirfd, w->tmp, 0);
    if (w->dirfd >= 0)
        close(w->dirfd);
    free(w->buf);
    free(w->key);
    free(w);
}

/* Opens the key's directory (creating it) and a fresh temporary inside. A
 * concurrent delete may remove an emptied directory between the two steps, so
 * that case starts over. Returns 0 or an errno value. */
static int writer_create_tmp(struct file_writer *w, char *dir)
{
    uint32_t rnd = 0;
    if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
        rnd = (uint32_t)time(NULL) ^ (uint32_t)(uintptr_t)w;
    snprintf(w->tmp, sizeof(w->tmp), ".tmp-%ld-%llu-%08x", (long)getpid(),
             (unsigned long long)atomic_fetch_add(&tmp_counter, 1), rnd);
    int err = ENOENT;
    for (int i = 0; i < MKDIR_RETRIES && err == ENOENT; i++) {
        w->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (w->dirfd < 0) {
            err = errno;
            if (err == ENOENT && (err = mkdir_all(dir)) == 0)
                err = ENOENT; /* created: open it on the next turn */
            continue;
        }
        w->fd = openat(w->dirfd, w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (w->fd >= 0)
            return 0;
        err = errno;
        close(w->dirfd);
        w->dirfd = -1;
    }
    w->tmp[0] = '\0';
    return err;
}

static int file_put_begin(void *impl, const char *key, uint64_t size_hint, void **wimpl,
                          cairn_err *e)
{
    struct file_store *fs = impl;
    struct file_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return err_set(e, CAIRN_ENOMEM, "out of memory writing %s", key);
    w->fs = fs;
    w->dirfd = w->fd = -1;
    w->key = strdup(key);
    w->buf = malloc(FILE_BUF);
    if (!w->key || !w->buf) {
        writer_free(w, false);
        return err_set(e, CAIRN_ENOMEM, "out of memory writing %s", key);
    }
    const char *slash = strrchr(w->key, '/');
    w->name = slash ? slash + 1 : w->key;

    char dir[PATH_CAP];
    path_of(fs, key, dir);
    char *slash_end = strrchr(dir, '/');
    if (slash_end == dir)
        slash_end++; /* the filesystem root itself */
    *slash_end = '\0';
    int err = writer_create_tmp(w, dir);
    if (err) {
        writer_free(w, false);
        return fs_err(fs, e, err, "create", key);
    }
    *wimpl = w;
    return 0;
}

static int writer_flush(struct file_writer *w, cairn_err *e)
{
    size_t off = 0;
    while (off < w->used) {
        ssize_t n = fault_write(w->fd, w->buf + off, w->used - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return fs_err(w->fs, e, errno, "write", w->key);
        }
        off += (size_t)n;
    }
    w->used = 0;
    return 0;
}

static int file_write(void *wimpl, const void *buf, size_t len, cairn_err *e)
{
    struct file_writer *w = wimpl;
    const unsigned char *p = buf;
    while (len > 0) {
        size_t n = FILE_BUF - w->used;
        if (n > len)
            n = len;
        memcpy(w->buf + w->used, p, n);
        w->used += n;
        p += n;
        len -= n;
        if (w->used == FILE_BUF) {
            int rc = writer_flush(w, e);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* Makes the temporary durable and renames it to name in the directory todir, then
 * makes that directory entry durable; frees w either way. */
static int writer_publish(struct file_writer *w, int todir, const char *name, cairn_err *e)
{
    int rc = writer_flush(w, e);
    if (rc)
        goto fail;
    if (fsync(w->fd) != 0) {
        rc = fs_err(w->fs, e, errno, "sync", w->key);
        goto fail;
    }
    int fd = w->fd;
    w->fd = -1;
    if (close(fd) != 0) {
        rc = fs_err(w->fs, e, errno, "close", w->key);
        goto fail;
    }
    if (renameat(w->dirfd, w->tmp, todir, name) != 0) {
        rc = fs_err(w->fs, e, errno, "commit", w->key);
        goto fail;
    }
    w->tmp[0] = '\0';
    if (fsync(todir) != 0) {
        /* The rename happened but may not survive a crash; say so rather than
         * claim durability. */
        rc = fs_err(w->fs, e, errno, "sync the directory of", w->key);
        writer_free(w, false);
        return rc;
    }
    writer_free(w, false);
    return 0;
fail:
    writer_free(w, true);
    return rc;
}

static int file_commit(void *wimpl, cairn_err *e)
{
    struct file_writer *w = wimpl;
    return writer_publish(w, w->dirfd, w->name, e);
}

/* An unnamed put is an ordinary one whose temporary lives in dir; its key is only a
 * placeholder until commit_as names it. */
static int file_put_begin_unnamed(void *impl, const char *dir, void **wimpl, cairn_err *e)
{
    char key[STORE_KEY_MAX + 16];
    snprintf(key, sizeof(key), "%s/unnamed", dir);
    return file_put_begin(impl, key, 0, wimpl, e);
}

/* Opens the directory of key, creating it; a concurrent delete may remove an
 * emptied directory in between, so that case starts over. -1 with errno set. */
static int open_key_dir(const struct file_store *fs, const char *key)
{
    char dir[PATH_CAP];
    path_of(fs, key, dir);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash++; /* the filesystem root itself */
    *slash = '\0';
    int fd = -1, err = ENOENT;
    for (int i = 0; i < MKDIR_RETRIES && fd < 0 && err == ENOENT; i++) {
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        err = fd < 0 ? errno : 0;
        if (err == ENOENT) {
            int m = mkdir_all(dir);
            if (m)
                err = m;
        }
    }
    if (fd < 0)
        errno = err;
    return fd;
}

static int file_commit_as(void *impl, void *wimpl, const char *key, cairn_err *e)
{
    (void)impl;
    struct file_writer *w = wimpl;
    char *k = strdup(key);
    if (!k) {
        writer_free(w, true);
        return err_set(e, CAIRN_ENOMEM, "out of memory writing %s", key);
    }
    free(w->key);
    w->key = k;
    const char *slash = strrchr(k, '/');
    w->name = slash ? slash + 1 : k;
    int todir = open_key_dir(w->fs, k);
    if (todir < 0) {
        int rc = fs_err(w->fs, e, errno, "create the directory of", k);
        writer_free(w, true);
        return rc;
    }
    int rc = writer_publish(w, todir, w->name, e);
    close(todir);
    return rc;
}

/* A file can grow as large as the file system allows. */
static uint64_t file_unnamed_max(void *impl)
{
    (void)impl;
    return UINT64_MAX;
}

static void file_abort(void *wimpl)
{
    writer_free(wimpl, true);
}

static int file_get(void *impl, const char *key, store_sink sink, void *ctx, cairn_err *e)
{
    struct file_store *fs = impl;
    char path[PATH_CAP];
    path_of(fs, key, path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 && errno != ENOENT && errno != ENOTDIR)
        return fs_err(fs, e, errno, "read", key);
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        return err_set(e, CAIRN_ENOENT, "repository %s has no object %s", root_name(fs), key);
    }
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    unsigned char *buf = malloc(FILE_BUF);
    if (!buf) {
        close(fd);
        return err_set(e, CAIRN_ENOMEM, "out of memory reading %s", key);
    }
    int rc = 0;
    for (;;) {
        ssize_t n = read(fd, buf, FILE_BUF);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = fs_err(fs, e, errno, "read", key);
            break;
        }
        if (n == 0)
            break;
        rc = sink(ctx, buf, (size_t)n, e);
        if (rc)
            break;
    }
    free(buf);
    close(fd);
    return rc;
}

static int file_head(void *impl, const char *key, uint64_t *size, cairn_err *e)
{
    struct file_store *fs = impl;
    char path[PATH_CAP];
    path_of(fs, key, path);
    struct stat st;
    bool found = stat(path, &st) == 0;
    if (!found && errno != ENOENT && errno != ENOTDIR)
        return fs_err(fs, e, errno, "stat", key);
    if (!found || !S_ISREG(st.st_mode))
        return err_set(e, CAIRN_ENOENT, "repository %s has no object %s", root_name(fs), key);
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
        return fs_err(fs, e, errno, "list", dirkey[0] ? dirkey : "the top directory");
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
        return errno == ENOENT || errno == ENOTDIR ? 0 : fs_err(fs, e, errno, "list", path);
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
            rc = fs_err(fs, e, errno, "delete", rel);
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
    path_of(fs, key, path);
    if (unlink(path) != 0) {
        if (errno == ENOENT || errno == ENOTDIR || errno == EISDIR)
            return 0;
        return fs_err(fs, e, errno, "delete", key);
    }
    /* A delete undone by a crash could resurrect a purged backup whose blobs are
     * gone, so the directory entry is made durable before the caller goes on. */
    fsync_parent(path);
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
    .head = file_head,
    .list_ex = file_list_ex,
    .sweep_stale = file_sweep_stale,
    .del = file_del,
};
