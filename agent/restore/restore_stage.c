#include "restore/restore_stage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "base/path.h"
#include "restore/restore_state.h"
#include "scylla/names.h"
#include "scylla/sstable.h"

#define TMP_PREFIX ".cairn-"

typedef struct file_sink {
    int fd;
    uLong crc;
    bool want_crc;
    job *j; /* its bytes count as done as they are written */
} file_sink;

static int sink_write(void *ctx, const void *buf, size_t len, cairn_err *e)
{
    file_sink *s = ctx;
    if (s->want_crc)
        s->crc = crc32(s->crc, buf, (uInt)len);
    const char *p = buf;
    while (len) {
        ssize_t n = write(s->fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return err_sys(e, errno, "cannot write a downloaded file");
        }
        p += n;
        len -= (size_t)n;
        job_add(s->j, JOB_BYTES_DONE, (uint64_t)n);
    }
    return 0;
}

/* Temporaries of an attempt that died are not worth keeping: what they hold is not
 * verified. */
static void remove_temporaries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char path[RSTATE_PATH_MAX + 300];
        if (strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0 &&
            path_fmt(path, sizeof(path), NULL, "%s/%s", dir, de->d_name) == 0)
            unlink(path);
    }
    closedir(d);
}

/* The checks beyond the blob's own SHA-256 (which repo_blob_get makes). */
static int check_file(job *j, const Cairn__Rpc__RestoreTable *t, const Cairn__Repo__FileEntry *f,
                      uint64_t size, const file_sink *s, cairn_err *e)
{
    if (size != f->size)
        return err_set(e, CAIRN_ECORRUPT,
                       "blob %s (%s of %s.%s) holds %llu bytes, the manifest says %llu: the "
                       "repository copy is damaged",
                       f->blob, f->name, t->keyspace, t->name, (unsigned long long)size,
                       (unsigned long long)f->size);
    if (s->want_crc && (uint32_t)s->crc != f->data_crc32 && !f->crc_mismatch)
        return err_set(e, CAIRN_ECORRUPT,
                       "blob %s (%s of %s.%s) does not match its Digest.crc32 after download: "
                       "the repository copy is damaged",
                       f->blob, f->name, t->keyspace, t->name);
    if (f->crc_mismatch)
        job_warn(j, "%s.%s: %s was already corrupt when it was backed up", t->keyspace, t->name,
                 f->name);
    return 0;
}

/* Downloads one blob to tmp, checks it and makes it durable. */
static int fetch(job *j, repo *r, const Cairn__Rpc__RestoreTable *t,
                 const Cairn__Repo__FileEntry *f, const char *tmp, uint64_t *size, cairn_err *e)
{
    file_sink s = {.want_crc = sstable_is_data(f->name) && f->has_data_crc32,
                   .crc = crc32(0, NULL, 0),
                   .j = j};
    s.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (s.fd < 0)
        return err_sys(e, errno, "cannot create %s", tmp);
    *size = 0;
    int rc = repo_blob_get(r, f->blob, sink_write, &s, size, e);
    if (rc)
        err_prefix(e, "blob %s (%s of %s.%s)", f->blob, f->name, t->keyspace, t->name);
    if (!rc)
        rc = check_file(j, t, f, *size, &s, e);
    if (!rc && fsync(s.fd) != 0)
        rc = err_sys(e, errno, "cannot sync %s", tmp);
    if (close(s.fd) != 0 && !rc)
        rc = err_sys(e, errno, "cannot write %s", tmp);
    if (rc)
        unlink(tmp);
    return rc;
}

/* One file: kept when an earlier attempt staged it, downloaded otherwise. */
static int stage_file(job *j, repo *r, const Cairn__Rpc__RestoreTable *t,
                      const Cairn__Repo__FileEntry *f, const char *dir, bool *added, cairn_err *e)
{
    if (!name_valid(NAME_SSTABLE_FILE, f->name) || !name_valid(NAME_BLOB_ID, f->blob))
        return err_set(e, CAIRN_EINVAL, "refusing file name '%.100s' of %s.%s", f->name,
                       t->keyspace, t->name);
    char path[RSTATE_PATH_MAX + 200], tmp[RSTATE_PATH_MAX + 200];
    int rc = path_fmt(path, sizeof(path), e, "%s/%s", dir, f->blob);
    if (!rc)
        rc = path_fmt(tmp, sizeof(tmp), e, "%s/" TMP_PREFIX "%s", dir, f->blob);
    if (rc)
        return rc;
    struct stat st;
    uint64_t size = 0;
    if (stat(path, &st) == 0 && (uint64_t)st.st_size == f->size) {
        /* Staged already (by an earlier attempt, or as another file of the same bytes):
         * done, but nothing travelled. */
        job_add(j, JOB_BYTES_SKIPPED, f->size);
        job_add(j, JOB_BYTES_DONE, f->size);
    } else {
        if ((rc = fetch(j, r, t, f, tmp, &size, e)) != 0)
            return rc;
        if (rename(tmp, path) != 0) {
            rc = err_sys(e, errno, "cannot rename %s", tmp);
            unlink(tmp);
            return rc;
        }
        *added = true;
    }
    job_add(j, JOB_FILES_DONE, 1);
    return 0;
}

int restore_stage_table(job *j, repo *r, const Cairn__Rpc__RestoreTable *t, const char *stage_dir,
                        cairn_err *e)
{
    remove_temporaries(stage_dir);
    bool added = false;
    int rc = 0;
    for (size_t i = 0; !rc && i < t->n_files && !job_cancelled(j); i++)
        rc = stage_file(j, r, t, t->files[i], stage_dir, &added, e);
    if (!rc && job_cancelled(j))
        rc = err_set(e, CAIRN_EBUSY, "agent shutting down");
    /* The renames must survive a crash before the table counts as staged. */
    if (!rc && added)
        rc = rstate_fsync_dir(stage_dir, e);
    return rc;
}
