#include "restore/restore_stage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/crc.h"
#include "base/pool.h"
#include "base/path.h"
#include "repo/manifest.h"
#include "repo/pack.h"
#include "restore/restore_state.h"
#include "scylla/names.h"
#include "scylla/sstable.h"

#define TMP_PREFIX ".cairn-"

typedef struct file_sink {
    int fd;
    uint32_t crc;
    bool want_crc;
    job *j; /* its bytes count as done as they are written */
} file_sink;

static int sink_write(void *ctx, const void *buf, size_t len, cairn_err *e)
{
    file_sink *s = ctx;
    if (s->want_crc)
        s->crc = crc_update(s->crc, buf, len);
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

/* The stage directory's names of a file: its final one and its temporary. */
typedef struct stage_names {
    char path[RSTATE_PATH_MAX + 200];
    char tmp[RSTATE_PATH_MAX + 200];
} stage_names;

static int names_of(const Cairn__Rpc__RestoreTable *t, const Cairn__Repo__FileEntry *f,
                    const char *dir, stage_names *n, cairn_err *e)
{
    if (!name_valid(NAME_SSTABLE_FILE, f->name) || !name_valid(NAME_BLOB_ID, f->blob))
        return err_set(e, CAIRN_EINVAL, "refusing file name '%.100s' of %s.%s", f->name,
                       t->keyspace, t->name);
    int rc = path_fmt(n->path, sizeof(n->path), e, "%s/%s", dir, f->blob);
    return rc ? rc : path_fmt(n->tmp, sizeof(n->tmp), e, "%s/" TMP_PREFIX "%s", dir, f->blob);
}

static int open_tmp(job *j, const Cairn__Repo__FileEntry *f, const char *tmp, file_sink *s,
                    cairn_err *e)
{
    *s = (file_sink){.want_crc = sstable_is_data(f->name) && f->has_data_crc32, .crc = 0, .j = j};
    s->fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    return s->fd < 0 ? err_sys(e, errno, "cannot create %s", tmp) : 0;
}

/* Ends a download into n->tmp whose bytes all came (rc 0 so far): checks, makes the
 * file durable and gives it its final name; on any failure the temporary goes. */
static int close_tmp(int rc, job *j, const Cairn__Rpc__RestoreTable *t,
                     const Cairn__Repo__FileEntry *f, const stage_names *n, file_sink *s,
                     uint64_t size, cairn_err *e)
{
    if (!rc)
        rc = check_file(j, t, f, size, s, e);
    if (!rc && fsync(s->fd) != 0)
        rc = err_sys(e, errno, "cannot sync %s", n->tmp);
    if (close(s->fd) != 0 && !rc)
        rc = err_sys(e, errno, "cannot write %s", n->tmp);
    s->fd = -1;
    if (!rc && rename(n->tmp, n->path) != 0)
        rc = err_sys(e, errno, "cannot rename %s", n->tmp);
    if (rc)
        unlink(n->tmp);
    else
        job_add(j, JOB_FILES_DONE, 1);
    return rc;
}

/* A blob of its own: downloaded, checked, renamed. */
static int fetch_blob(job *j, repo *r, const Cairn__Rpc__RestoreTable *t,
                      const Cairn__Repo__FileEntry *f, const stage_names *n, cairn_err *e)
{
    file_sink s;
    int rc = open_tmp(j, f, n->tmp, &s, e);
    if (rc)
        return rc;
    uint64_t size = 0;
    rc = repo_blob_get(r, f->blob, sink_write, &s, &size, e);
    if (rc)
        err_prefix(e, "blob %s (%s of %s.%s)", f->blob, f->name, t->keyspace, t->name);
    return close_tmp(rc, j, t, f, n, &s, size, e);
}

/* Whether a file is staged already (by an earlier attempt, or as another file of the
 * same bytes): then it is done, but nothing travelled. */
static bool staged(job *j, const Cairn__Repo__FileEntry *f, const stage_names *n)
{
    struct stat st;
    if (stat(n->path, &st) != 0 || (uint64_t)st.st_size != f->size)
        return false;
    job_add(j, JOB_BYTES_SKIPPED, f->size);
    job_add(j, JOB_BYTES_DONE, f->size);
    job_add(j, JOB_FILES_DONE, 1);
    return true;
}

/*
 * Members of packs are read a run at a time: the members of one pack that lie close
 * together come with one ranged GET, the bytes between them skipped, so a table whose
 * small files were packed together comes back with one request, as it went.
 */
#define RUN_GAP_MAX (1u << 20) /* a larger hole between two members starts another GET */

typedef struct member_run {
    job *j;
    const Cairn__Rpc__RestoreTable *t;
    const char *dir;
    const Cairn__Repo__FileEntry **files; /* of the run, by offset */
    stage_names n;                        /* of the member being written */
    file_sink s;
} member_run;

static int member_begin(void *ctx, size_t i, store_sink *sink, void **sink_ctx, cairn_err *e)
{
    member_run *m = ctx;
    int rc = names_of(m->t, m->files[i], m->dir, &m->n, e);
    if (!rc)
        rc = open_tmp(m->j, m->files[i], m->n.tmp, &m->s, e);
    *sink = sink_write;
    *sink_ctx = &m->s;
    return rc;
}

static int member_end(void *ctx, size_t i, uint64_t size, cairn_err *e)
{
    member_run *m = ctx;
    return close_tmp(0, m->j, m->t, m->files[i], &m->n, &m->s, size, e);
}

static const pack_read_io member_io = {member_begin, member_end};

static int by_place(const void *a, const void *b)
{
    const Cairn__Repo__FileEntry *x = *(const Cairn__Repo__FileEntry *const *)a,
                                 *y = *(const Cairn__Repo__FileEntry *const *)b;
    int c = strcmp(x->pack, y->pack);
    return c ? c : (x->pack_offset > y->pack_offset) - (x->pack_offset < y->pack_offset);
}

static int by_blob(const void *a, const void *b)
{
    return strcmp((*(const Cairn__Repo__FileEntry *const *)a)->blob,
                  (*(const Cairn__Repo__FileEntry *const *)b)->blob);
}

/* Reads files[0..n) (one pack's members, by offset, no blob twice) with one GET. */
static int fetch_run(member_run *m, const Cairn__Repo__FileEntry **files, size_t n, repo *r,
                     cairn_err *e)
{
    repo_ref *refs = calloc(n, sizeof(*refs));
    if (!refs)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    int rc = 0;
    for (size_t i = 0; !rc && i < n; i++)
        rc = manifest_file_ref(files[i], &refs[i], e);
    m->files = files;
    m->s.fd = -1;
    if (!rc)
        rc = pack_read(r, refs, n, &member_io, m, e);
    if (rc && m->s.fd >= 0) {
        close(m->s.fd);
        unlink(m->n.tmp);
    }
    free(refs);
    if (rc)
        err_prefix(e, "%s.%s", m->t->keyspace, m->t->name);
    return rc;
}

/*
 * What one table's staging fetches, shared by the threads of its pool_run: blobs of
 * their own, one item each, and runs of pack members (one ranged GET each). Items
 * write different temporaries (a blob is fetched once: the files of the same bytes
 * wait in `again` until it is staged), so they need no lock; a job's counters are
 * atomic.
 */
typedef struct stage_work {
    job *j;
    repo *r;
    const Cairn__Rpc__RestoreTable *t;
    const char *dir;
    const Cairn__Repo__FileEntry **blobs; /* blobs of their own, one per id */
    size_t nblobs;
    const Cairn__Repo__FileEntry **members; /* pack members, one per id, by place */
    size_t *runs;                           /* run k is members[runs[k], runs[k + 1]) */
    size_t nruns;
} stage_work;

static int stage_item(void *arg, size_t i, cairn_err *e)
{
    stage_work *w = arg;
    if (job_cancelled(w->j))
        return err_set(e, CAIRN_EBUSY, "agent shutting down");
    if (i < w->nblobs) {
        stage_names sn;
        int rc = names_of(w->t, w->blobs[i], w->dir, &sn, e);
        return rc ? rc : fetch_blob(w->j, w->r, w->t, w->blobs[i], &sn, e);
    }
    i -= w->nblobs;
    member_run m = {.j = w->j, .t = w->t, .dir = w->dir};
    return fetch_run(&m, w->members + w->runs[i], w->runs[i + 1] - w->runs[i], w->r, e);
}

/* Keeps the first file of each blob id in todo[0..*n) (sorted by id), moving the others
 * to again[*na..). */
static void split_again(const Cairn__Repo__FileEntry **todo, size_t *n,
                        const Cairn__Repo__FileEntry **again, size_t *na)
{
    qsort(todo, *n, sizeof(*todo), by_blob);
    size_t w = 0;
    for (size_t i = 0; i < *n; i++) {
        if (w && strcmp(todo[i]->blob, todo[w - 1]->blob) == 0)
            again[(*na)++] = todo[i];
        else
            todo[w++] = todo[i];
    }
    *n = w;
}

/* Cuts members (sorted by place) into runs of one pack with small holes; runs has room
 * for n + 1 entries. */
static size_t cut_runs(const Cairn__Repo__FileEntry **members, size_t n, size_t *runs)
{
    size_t nruns = 0;
    for (size_t i = 0; i < n;) {
        size_t k = i + 1;
        while (k < n && strcmp(members[k]->pack, members[i]->pack) == 0 &&
               members[k]->pack_offset <=
                   members[k - 1]->pack_offset + members[k - 1]->pack_length + RUN_GAP_MAX)
            k++;
        runs[nruns++] = i;
        i = k;
    }
    runs[nruns] = n;
    return nruns;
}

/* Sorts what is not staged yet into w (blobs, members; files of a blob fetched by
 * another in again). */
static int stage_plan(stage_work *w, const Cairn__Repo__FileEntry **again, size_t *na, bool *added,
                      cairn_err *e)
{
    const Cairn__Rpc__RestoreTable *t = w->t;
    size_t nm = 0;
    int rc = 0;
    for (size_t i = 0; !rc && i < t->n_files; i++) {
        const Cairn__Repo__FileEntry *f = t->files[i];
        stage_names sn;
        repo_ref ref;
        if ((rc = names_of(t, f, w->dir, &sn, e)) != 0 ||
            (rc = manifest_file_ref(f, &ref, e)) != 0 || staged(w->j, f, &sn))
            continue;
        *added = true;
        if (ref.pack)
            w->members[nm++] = f;
        else
            w->blobs[w->nblobs++] = f;
    }
    if (rc)
        return rc;
    /* A blob twice (two files of the same bytes, maybe in the packs of two nodes) is
     * fetched once; the others find it staged afterwards. */
    split_again(w->blobs, &w->nblobs, again, na);
    split_again(w->members, &nm, again, na);
    qsort(w->members, nm, sizeof(*w->members), by_place);
    w->nruns = cut_runs(w->members, nm, w->runs);
    return 0;
}

/* Stages what is not staged, `parallel` blobs or runs of members at once. */
static int stage_files(job *j, repo *r, const Cairn__Rpc__RestoreTable *t, const char *dir,
                       unsigned parallel, bool *added, cairn_err *e)
{
    size_t cap = t->n_files ? t->n_files : 1;
    stage_work w = {.j = j, .r = r, .t = t, .dir = dir};
    const Cairn__Repo__FileEntry **again = calloc(cap, sizeof(*again));
    w.blobs = calloc(cap, sizeof(*w.blobs));
    w.members = calloc(cap, sizeof(*w.members));
    w.runs = calloc(cap + 1, sizeof(*w.runs));
    size_t na = 0;
    int rc = again && w.blobs && w.members && w.runs ? stage_plan(&w, again, &na, added, e)
                                                     : err_set(e, CAIRN_ENOMEM, "out of memory");
    if (!rc && w.nblobs + w.nruns)
        rc = pool_run(w.nblobs + w.nruns, parallel, stage_item, &w, e);
    for (size_t i = 0; !rc && i < na && !job_cancelled(j); i++) {
        stage_names sn;
        if ((rc = names_of(t, again[i], dir, &sn, e)) == 0 && !staged(j, again[i], &sn))
            rc = err_set(e, CAIRN_EIO, "%s of %s.%s was not staged with its blob %s",
                         again[i]->name, t->keyspace, t->name, again[i]->blob);
    }
    free(again);
    free(w.blobs);
    free(w.members);
    free(w.runs);
    return rc;
}

int restore_stage_table(job *j, repo *r, const Cairn__Rpc__RestoreTable *t, const char *stage_dir,
                        unsigned parallel, cairn_err *e)
{
    remove_temporaries(stage_dir);
    bool added = false;
    int rc = stage_files(j, r, t, stage_dir, parallel, &added, e);
    if (!rc && job_cancelled(j))
        rc = err_set(e, CAIRN_EBUSY, "agent shutting down");
    /* The renames must survive a crash before the table counts as staged. */
    if (!rc && added)
        rc = rstate_fsync_dir(stage_dir, e);
    return rc;
}
