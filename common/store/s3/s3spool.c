#include "store/s3/s3spool.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "base/debug.h"
#include "base/hex.h"

struct s3spool {
    int fd;
    uint64_t size;
    EVP_MD_CTX *md; /* NULL once sealed */
    char *dir;      /* for messages */
};

/* O_TMPFILE where the file system has it; otherwise a named file unlinked at once. */
static int open_nameless(const char *dir)
{
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
        return fd;
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s/.spool-XXXXXX", dir) >= (int)sizeof(path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0)
        unlink(path);
    return fd;
}

int s3spool_open(s3spool **out, const char *dir, cairn_err *e)
{
    *out = NULL;
    s3spool *s = calloc(1, sizeof(*s));
    if (!s || !(s->dir = strdup(dir)) || !(s->md = EVP_MD_CTX_new()) ||
        EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) != 1) {
        if (s) {
            EVP_MD_CTX_free(s->md);
            free(s->dir);
        }
        free(s);
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    }
    if ((s->fd = open_nameless(dir)) < 0) {
        int rc = err_sys(e, errno, "cannot make a spool file in %s for an S3 upload", dir);
        s->fd = -1;
        s3spool_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int s3spool_write(s3spool *s, const void *buf, size_t len, cairn_err *e)
{
    CAIRN_ASSERT(s->md);
    EVP_DigestUpdate(s->md, buf, len);
    const unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(s->fd, p, len, (off_t)s->size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return err_set(e, CAIRN_EIO,
                           "cannot write the spool file of an S3 upload in %s: %s; free space "
                           "there, or lower s3.spool_file_mib to s3.part_size_mib so that files "
                           "larger than a part are read twice instead",
                           s->dir, n < 0 ? strerror(errno) : "no progress");
        s->size += (uint64_t)n;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

uint64_t s3spool_size(const s3spool *s)
{
    return s->size;
}

void s3spool_seal(s3spool *s, char sha[65])
{
    CAIRN_ASSERT(s->md);
    hex_sha256_final(s->md, sha);
    EVP_MD_CTX_free(s->md);
    s->md = NULL;
}

int s3spool_fd(const s3spool *s)
{
    return s->fd;
}

void s3spool_free(s3spool *s)
{
    if (!s)
        return;
    if (s->fd >= 0) {
        /* The file dies with its descriptor; its pages need not crowd out the node's. */
        posix_fadvise(s->fd, 0, 0, POSIX_FADV_DONTNEED);
        close(s->fd);
    }
    EVP_MD_CTX_free(s->md);
    free(s->dir);
    free(s);
}
