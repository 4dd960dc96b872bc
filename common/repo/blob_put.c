/*
 * blob_put - writing blobs: the one-pass put of a file not seen before, and the put
 * of a blob whose id is already known.
 *
 * Design notes. A blob's name is the SHA-256 of its plain bytes, so the name must be
 * known before the object is committed, not before it is written. Where the store can
 * name an object at commit (store_put_begin_unnamed: file:// always, S3 within one
 * part), a new file is read once: every chunk is hashed (SHA-256, XXH3, and the CRC-32
 * for Data.db) and compressed into the unnamed writer, and at the end the writer is
 * committed under the hash, or dropped when the repository has that blob already.
 * Otherwise (a file on S3 too large for one part: a multipart upload is named when it
 * starts) the caller hashes first and puts the known id; the second read is checked
 * against the XXH3 of the first instead of a second SHA-256, a twentieth of the cost.
 * Either way no object is stored under a name its bytes do not have.
 *
 * No HEAD asks whether the repository has a new blob: the caller knows the blobs of
 * the node's last backup (repo_put_opts.known), and a blob the repository holds from
 * elsewhere is rewritten with the same bytes, which costs a PUT where a HEAD before
 * every new file would cost one request more for each.
 *
 * A one-pass read has no earlier pass to compare with, so a file that changes while it
 * is read is caught by its size and modification time (fstat before and after) and by
 * the count of bytes read. The change time is not compared: a snapshot's hard link
 * has its ctime changed when ScyllaDB compacts the live SSTable away, which changes
 * no byte.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "repo/blob.h"
#include "repo/repo.h"
#include "repo/repo_impl.h"

struct put_ctx {
    store_writer *w;
    ratelimit *rl;
    uint64_t stored;
};

static int put_sink(void *ctx, const void *data, size_t len, cairn_err *e)
{
    struct put_ctx *p = ctx;
    ratelimit_take(p->rl, len);
    p->stored += len;
    return store_writer_write(p->w, data, len, e);
}

/* Ends a put whose bytes all went in (rc 0 so far): the frame's last bytes to the
 * writer; frees the encoder and the sums, and aborts the writer on any failure. */
static int put_finish(int rc, blob_enc *enc, blob_sum *sum, struct put_ctx *p, cairn_err *e)
{
    if (!rc)
        rc = blob_enc_finish(enc, put_sink, p, e);
    blob_enc_free(enc);
    blob_sum_free(sum);
    if (rc) {
        store_writer_abort(p->w);
        p->w = NULL;
    }
    return rc;
}

int repo_blob_put_known(repo *r, const char *id, const blob_sums *sums, int fd,
                        const repo_put_opts *o, uint64_t *stored_bytes, cairn_err *e)
{
    char key[128];
    int rc = repo_blob_id_check(id, e);
    if (rc)
        return rc;
    repo_blob_key(id, key, sizeof(key));
    struct put_ctx p = {.rl = o->rl};
    /* The file's size bounds the blob's closely enough for the store to size its
     * parts (zstd adds little even to incompressible data). */
    struct stat st;
    uint64_t hint = fstat(fd, &st) == 0 && st.st_size > 0 ? (uint64_t)st.st_size : 0;
    blob_enc *enc = NULL;
    blob_sum *sum = NULL;
    blob_sums got;
    rc = blob_enc_new(&enc, o->level, e);
    if (!rc && o->workers)
        blob_enc_workers(enc, o->workers);
    if (!rc)
        rc = blob_sum_new(&sum, sums ? BLOB_SUM_XXH3 : BLOB_SUM_SHA256, e);
    if (!rc)
        rc = store_put_begin_hint(r->s, key, hint, &p.w, e);
    if (!rc)
        rc = blob_read_fd(fd, sum, enc, put_sink, &p, o->cancelled, o->cancel_arg, e);
    if (!rc) {
        blob_sum_final(sum, &got);
        bool same =
            sums ? got.xxh3 == sums->xxh3 && got.size == sums->size : strcmp(got.id, id) == 0;
        if (!same)
            rc = err_set(e, CAIRN_ECORRUPT,
                         "the file changed while it was uploaded as blob %s (its bytes no "
                         "longer hash to that name); nothing was stored",
                         id);
    }
    if ((rc = put_finish(rc, enc, sum, &p, e)) != 0)
        return rc;
    rc = store_writer_commit(p.w, e);
    if (!rc && stored_bytes)
        *stored_bytes = p.stored;
    return rc;
}

int repo_blob_put_fd(repo *r, const char *id, int fd, int level, ratelimit *rl,
                     uint64_t *stored_bytes, cairn_err *e)
{
    repo_put_opts o = {.level = level, .rl = rl};
    return repo_blob_put_known(r, id, NULL, fd, &o, stored_bytes, e);
}

bool repo_blob_one_pass(const repo *r, uint64_t size)
{
    uint64_t max = store_unnamed_max(r->s);
    return size <= max && ZSTD_compressBound((size_t)size) <= max;
}

/* Whether the file is not the one that was opened for reading any more. */
static bool changed(const struct stat *a, const struct stat *b, uint64_t read)
{
    return a->st_size != b->st_size || (uint64_t)b->st_size != read ||
           a->st_mtim.tv_sec != b->st_mtim.tv_sec || a->st_mtim.tv_nsec != b->st_mtim.tv_nsec;
}

int repo_encode_fd(int fd, bool crc32, const repo_put_opts *o, store_sink sink, void *ctx,
                   blob_sums *sums, cairn_err *e)
{
    struct stat before, after;
    if (fstat(fd, &before) != 0)
        return err_sys(e, errno, "cannot read the file to upload");
    blob_enc *enc = NULL;
    blob_sum *sum = NULL;
    int rc = blob_enc_new(&enc, o->level, e);
    if (!rc && o->workers)
        blob_enc_workers(enc, o->workers);
    if (!rc)
        rc = blob_sum_new(&sum, BLOB_SUM_SHA256 | (crc32 ? BLOB_SUM_CRC32 : 0), e);
    if (!rc)
        rc = blob_read_fd(fd, sum, enc, sink, ctx, o->cancelled, o->cancel_arg, e);
    if (!rc) {
        blob_sum_final(sum, sums);
        if (fstat(fd, &after) != 0)
            rc = err_sys(e, errno, "cannot read the file to upload");
        else if (changed(&before, &after, sums->size))
            rc = err_set(e, CAIRN_ECORRUPT,
                         "the file changed while it was uploaded (%" PRIu64
                         " bytes read of %lld, or its modification time moved); nothing was "
                         "stored",
                         sums->size, (long long)after.st_size);
    }
    if (!rc)
        rc = blob_enc_finish(enc, sink, ctx, e);
    blob_enc_free(enc);
    blob_sum_free(sum);
    return rc;
}

bool repo_put_known(const repo_put_opts *o, const char *id)
{
    return o->known && o->known(o->known_arg, id);
}

int repo_blob_put_new(repo *r, int fd, bool crc32, const repo_put_opts *o, blob_sums *sums,
                      bool *stored, uint64_t *stored_bytes, cairn_err *e)
{
    *stored = false;
    struct put_ctx p = {.rl = o->rl};
    int rc = store_put_begin_unnamed(r->s, "blobs", &p.w, e);
    if (!rc)
        rc = repo_encode_fd(fd, crc32, o, put_sink, &p, sums, e);
    if (rc || repo_put_known(o, sums->id)) {
        store_writer_abort(p.w);
        return rc;
    }
    char key[128];
    repo_blob_key(sums->id, key, sizeof(key));
    if ((rc = store_writer_commit_as(p.w, key, e)) != 0)
        return rc;
    *stored = true;
    if (stored_bytes)
        *stored_bytes = p.stored;
    return 0;
}
