#include "backup/upload_blob.h"

#include <string.h>

#include "base/debug.h"

/* One file's upload as the job sees it: its bytes count as done while they are read,
 * so that progress moves during a large file, not only when it ends. */
typedef struct upload_progress {
    job *j;
    uint64_t counted; /* of the file's bytes, added to JOB_BYTES_DONE so far */
    unsigned workers; /* cores borrowed for its compression */
} upload_progress;

/* Files at least this large are worth zstd's worker threads: each worker takes jobs
 * of a few MiB, so a smaller file would not keep one busy. */
#define UPLOAD_WORKERS_MIN (16u << 20)

/* Borrows idle cores for the compression of a large file (give them back with
 * give_cores). */
static void borrow_cores(const upload_blob_ctx *c, uint64_t size, upload_progress *up)
{
    up->workers =
        c->cores && size >= UPLOAD_WORKERS_MIN ? cores_claim(c->cores, BLOB_ENC_WORKERS_MAX) : 0;
}

static void give_cores(const upload_blob_ctx *c, upload_progress *up)
{
    if (up->workers)
        cores_release(c->cores, up->workers);
    up->workers = 0;
}

static bool upload_step(void *arg, uint64_t done)
{
    upload_progress *up = arg;
    if (done > up->counted) {
        job_add(up->j, JOB_BYTES_DONE, done - up->counted);
        up->counted = done;
    }
    return job_cancelled(up->j);
}

static bool parent_has(void *arg, const char *id)
{
    return known_find(arg, id, NULL);
}

static repo_put_opts put_opts(const upload_blob_ctx *c, upload_progress *up)
{
    return (repo_put_opts){.level = c->level,
                           .workers = up->workers,
                           .rl = c->rl,
                           .cancelled = upload_step,
                           .cancel_arg = up,
                           .known = parent_has,
                           .known_arg = (void *)c->known};
}

/* Counts a file's bytes: done as they were read (what is left at once), uploaded and
 * stored when its blob was written, skipped when the repository had it. */
static void count_file(const upload_blob_ctx *c, const upload_progress *up, uint64_t size,
                       bool stored, uint64_t stored_bytes)
{
    if (size > up->counted)
        job_add(c->j, JOB_BYTES_DONE, size - up->counted);
    job_add(c->j, stored ? JOB_BYTES_UPLOADED : JOB_BYTES_SKIPPED, size);
    if (stored)
        job_add(c->j, JOB_BYTES_STORED, stored_bytes);
}

/* Whether the parent names the blob; then its place is the parent's and nothing (more)
 * is read or sent. */
static bool place_known(const upload_blob_ctx *c, const upload_progress *up, const blob_sums *s,
                        upload_place *place)
{
    if (!known_find(c->known, s->id, &place->ref))
        return false;
    place->kind = UPLOAD_KNOWN;
    count_file(c, up, s->size, false, 0);
    return true;
}

/* A small file into the table's pack, read once; a blob the parent has is not added. */
static int store_packed(const upload_blob_ctx *c, int fd, const struct stat *st, bool data,
                        blob_sums *s, upload_place *place, cairn_err *e)
{
    upload_progress up = {.j = c->j};
    repo_put_opts o = put_opts(c, &up);
    bool added = false;
    int rc = pack_add_fd(c->pack, fd, data, &o, s, &place->member, &added, e);
    if (rc)
        return rc;
    if (added) {
        place->kind = UPLOAD_PACKED;
        count_file(c, &up, s->size, true, place->member.length);
    } else {
        /* Not added: o.known said the parent names it. */
        bool named = place_known(c, &up, s, place);
        CAIRN_ASSERT(named);
    }
    return hashcache_store(c->hashes, st, s->id, data ? &s->crc32 : NULL, e);
}

/* Uploads the blob of a large file whose id is known: sums (may be NULL) are those of
 * this run's hashing pass, against which the upload's read is checked; without them
 * the hash cache named it, and a HEAD first saves uploading it again. */
static int store_known(const upload_blob_ctx *c, const blob_sums *sums, const char *id, int fd,
                       uint64_t size, cairn_err *e)
{
    bool exists = false;
    int rc = sums ? 0 : repo_blob_exists(c->repo, id, &exists, e);
    upload_progress up = {.j = c->j};
    uint64_t stored = 0;
    if (!rc && !exists) {
        borrow_cores(c, size, &up);
        repo_put_opts o = put_opts(c, &up);
        rc = repo_blob_put_known(c->repo, id, sums, fd, &o, &stored, e);
        give_cores(c, &up);
    }
    if (!rc)
        count_file(c, &up, size, !exists, stored);
    return rc;
}

/* The one-pass put; its hash is cached only once the pass has read the whole file. */
static int store_new(const upload_blob_ctx *c, int fd, const struct stat *st, bool data,
                     blob_sums *s, upload_place *place, cairn_err *e)
{
    upload_progress up = {.j = c->j};
    borrow_cores(c, (uint64_t)st->st_size, &up);
    repo_put_opts o = put_opts(c, &up);
    bool stored = false;
    uint64_t stored_bytes = 0;
    int rc = repo_blob_put_new(c->repo, fd, data, &o, s, &stored, &stored_bytes, e);
    give_cores(c, &up);
    if (rc)
        return rc;
    if (stored) {
        count_file(c, &up, s->size, true, stored_bytes);
    } else {
        bool named = place_known(c, &up, s, place);
        CAIRN_ASSERT(named);
    }
    return hashcache_store(c->hashes, st, s->id, data ? &s->crc32 : NULL, e);
}

int upload_blob_store(const upload_blob_ctx *c, int fd, const struct stat *st, bool data,
                      blob_sums *s, upload_place *place, cairn_err *e)
{
    bool has_crc = false;
    memset(s, 0, sizeof(*s));
    memset(place, 0, sizeof(*place));
    s->size = (uint64_t)st->st_size;
    bool cached = hashcache_lookup(c->hashes, st, s->id, &s->crc32, &has_crc) && (!data || has_crc);
    upload_progress none = {.j = c->j};
    if (cached && place_known(c, &none, s, place))
        return 0;
    if (s->size <= PACK_MEMBER_MAX)
        return store_packed(c, fd, st, data, s, place, e);
    if (cached)
        return store_known(c, NULL, s->id, fd, s->size, e);
    if (repo_blob_one_pass(c->repo, s->size))
        return store_new(c, fd, st, data, s, place, e);
    /* Cached before the upload, so that a failed upload does not cost the hash again. */
    int rc = blob_hash_fd_sums(fd, data, s, e);
    if (!rc)
        rc = hashcache_store(c->hashes, st, s->id, data ? &s->crc32 : NULL, e);
    if (rc || place_known(c, &none, s, place))
        return rc;
    return store_known(c, s, s->id, fd, s->size, e);
}
