/*
 * The file:// driver's writer. A put goes to a hidden temporary (".tmp-<pid>-<n>-<rnd>")
 * in the target directory, is fsynced, renamed over the key and the directory fsynced,
 * so an object is either complete and durable or absent, whatever the moment of a
 * crash. An unnamed put keeps its temporary in the directory it was given and is
 * renamed into the directory of the key it is committed as.
 */
#include "store/file/store_file_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

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
            if (err == ENOENT && (err = file_mkdir_all(dir)) == 0)
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

int file_put_begin(void *impl, const char *key, uint64_t size_hint, void **wimpl, cairn_err *e)
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
    file_path(fs, key, dir);
    char *slash_end = strrchr(dir, '/');
    if (slash_end == dir)
        slash_end++; /* the filesystem root itself */
    *slash_end = '\0';
    int err = writer_create_tmp(w, dir);
    if (err) {
        writer_free(w, false);
        return file_err(fs, e, err, "create", key);
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
            return file_err(w->fs, e, errno, "write", w->key);
        }
        off += (size_t)n;
    }
    w->used = 0;
    return 0;
}

int file_write(void *wimpl, const void *buf, size_t len, cairn_err *e)
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
        rc = file_err(w->fs, e, errno, "sync", w->key);
        goto fail;
    }
    int fd = w->fd;
    w->fd = -1;
    if (close(fd) != 0) {
        rc = file_err(w->fs, e, errno, "close", w->key);
        goto fail;
    }
    if (renameat(w->dirfd, w->tmp, todir, name) != 0) {
        rc = file_err(w->fs, e, errno, "commit", w->key);
        goto fail;
    }
    w->tmp[0] = '\0';
    if (fsync(todir) != 0) {
        /* The rename happened but may not survive a crash; say so rather than
         * claim durability. */
        rc = file_err(w->fs, e, errno, "sync the directory of", w->key);
        writer_free(w, false);
        return rc;
    }
    writer_free(w, false);
    return 0;
fail:
    writer_free(w, true);
    return rc;
}

int file_commit(void *wimpl, cairn_err *e)
{
    struct file_writer *w = wimpl;
    return writer_publish(w, w->dirfd, w->name, e);
}

/* An unnamed put is an ordinary one whose temporary lives in dir; its key, until
 * commit_as names it, only says so in messages ("cannot write blobs/(new object)"). */
int file_put_begin_unnamed(void *impl, const char *dir, void **wimpl, cairn_err *e)
{
    char key[STORE_KEY_MAX + 16];
    snprintf(key, sizeof(key), "%s/(new object)", dir);
    return file_put_begin(impl, key, 0, wimpl, e);
}

/* Opens the directory of key, creating it; a concurrent delete may remove an
 * emptied directory in between, so that case starts over. -1 with errno set. */
static int open_key_dir(const struct file_store *fs, const char *key)
{
    char dir[PATH_CAP];
    file_path(fs, key, dir);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash++; /* the filesystem root itself */
    *slash = '\0';
    int fd = -1, err = ENOENT;
    for (int i = 0; i < MKDIR_RETRIES && fd < 0 && err == ENOENT; i++) {
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        err = fd < 0 ? errno : 0;
        if (err == ENOENT) {
            int m = file_mkdir_all(dir);
            if (m)
                err = m;
        }
    }
    if (fd < 0)
        errno = err;
    return fd;
}

int file_commit_as(void *impl, void *wimpl, const char *key, cairn_err *e)
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
        int rc = file_err(w->fs, e, errno, "create the directory of", k);
        writer_free(w, true);
        return rc;
    }
    int rc = writer_publish(w, todir, w->name, e);
    close(todir);
    return rc;
}

/* A file can grow as large as the file system allows. */
uint64_t file_unnamed_max(void *impl)
{
    (void)impl;
    return UINT64_MAX;
}

void file_abort(void *wimpl)
{
    writer_free(wimpl, true);
}
