#include "backup/mancopy.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/path.h"

struct mancopy {
    int fd;
    bool named;         /* the file has the name tmp (no O_TMPFILE here, or linked) */
    int err;            /* the first write error (errno), 0 none */
    char tmp[PATH_MAX]; /* the name it is given before it takes the final one */
    char path[PATH_MAX];
};

int mancopy_path(const char *state_dir, const char *repo_id, char *buf, size_t cap, cairn_err *e)
{
    return path_fmt(buf, cap, e, "%s/manifest-%s", state_dir, repo_id);
}

int mancopy_begin(mancopy **out, const char *state_dir, const char *repo_id, cairn_err *e)
{
    *out = NULL;
    mancopy *m = calloc(1, sizeof(*m));
    if (!m)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    int rc = mancopy_path(state_dir, repo_id, m->path, sizeof(m->path), e);
    if (!rc)
        rc = path_fmt(m->tmp, sizeof(m->tmp), e, "%s.new-%ld", m->path, (long)getpid());
    if (rc) {
        free(m);
        return rc;
    }
    m->fd = open(state_dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
    if (m->fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
        m->named = true;
        m->fd = open(m->tmp, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
    }
    if (m->fd < 0) {
        rc = err_set(e, CAIRN_EIO, "cannot keep a copy of the node manifest in %s: %s", state_dir,
                     strerror(errno));
        free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int mancopy_write(void *arg, const void *data, size_t len, cairn_err *e)
{
    mancopy *m = arg;
    for (const char *p = data; !m->err && len;) {
        ssize_t n = write(m->fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            m->err = errno;
            break;
        }
        p += n;
        len -= (size_t)n;
    }
    return m->err ? err_set(e, CAIRN_EIO, "cannot write %s: %s", m->tmp, strerror(m->err)) : 0;
}

/* Gives the unnamed file the tmp name (a leftover of a crash just here has that one
 * name, replaced next time). */
static int link_unnamed(mancopy *m)
{
    char proc[64];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", m->fd);
    if (unlink(m->tmp) != 0 && errno != ENOENT)
        return -1;
    if (linkat(AT_FDCWD, proc, AT_FDCWD, m->tmp, AT_SYMLINK_FOLLOW) != 0)
        return -1;
    m->named = true;
    return 0;
}

int mancopy_commit(mancopy *m, cairn_err *e)
{
    int rc = 0;
    if (m->err)
        rc = err_set(e, CAIRN_EIO, "cannot write %s: %s", m->tmp, strerror(m->err));
    else if ((!m->named && link_unnamed(m) != 0) || rename(m->tmp, m->path) != 0)
        rc = err_set(e, CAIRN_EIO, "cannot keep a copy of the node manifest as %s: %s", m->path,
                     strerror(errno));
    if (rc)
        mancopy_abort(m);
    else {
        close(m->fd);
        free(m);
    }
    return rc;
}

void mancopy_abort(mancopy *m)
{
    if (!m)
        return;
    close(m->fd);
    if (m->named)
        unlink(m->tmp);
    free(m);
}
