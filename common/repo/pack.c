/*
 * pack - small blobs stored together.
 *
 * Design notes. Each member is read, hashed and compressed by the calling thread into
 * memory (at most PACK_MEMBER_MAX plain bytes, so its frame is small), then appended
 * to the open pack under the writer's lock, which keeps the threads of a table's
 * upload busy in parallel and the pack's bytes in one order. The pack goes to a store
 * writer that is named at commit (store_put_begin_unnamed), by the SHA-256 of every
 * byte appended, so it is written as it fills and never held whole here. A pack is
 * committed before a member that would overflow it is appended; the member's place
 * is known when it is appended, the pack's id only at commit, which is why members
 * carry the index of their pack.
 */
#include "repo/pack.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zstd.h>

#include "base/buf.h"
#include "base/debug.h"
#include "repo/blob.h"
#include "repo/repo_impl.h"

struct pack_writer {
    repo *r;
    uint64_t cap;
    pthread_mutex_t mu;
    store_writer *w; /* the open pack, NULL before its first member */
    blob_sum *sum;   /* of the open pack's bytes */
    uint64_t len;    /* of the open pack */
    char (*ids)[BLOB_ID_HEX + 1];
    size_t n, ids_cap;
    uint64_t stored;
    int failed; /* the first failure's code: the writer is unusable after it */
};

int pack_writer_new(repo *r, pack_writer **out, cairn_err *e)
{
    pack_writer *p = calloc(1, sizeof(*p));
    if (!p)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    uint64_t max = store_unnamed_max(r->s);
    p->r = r;
    p->cap = max < PACK_TARGET ? max : PACK_TARGET;
    /* A member always fits in an empty pack. */
    CAIRN_ASSERT(ZSTD_compressBound(PACK_MEMBER_MAX) <= REPO_PACK_MAX);
    if (p->cap < ZSTD_compressBound(PACK_MEMBER_MAX))
        p->cap = ZSTD_compressBound(PACK_MEMBER_MAX);
    pthread_mutex_init(&p->mu, NULL);
    *out = p;
    return 0;
}

/* Commits the open pack under its hash; the caller holds the lock. */
static int commit_open(pack_writer *p, cairn_err *e)
{
    if (!p->w)
        return 0;
    if (p->n == p->ids_cap) {
        size_t cap = p->ids_cap ? p->ids_cap * 2 : 4;
        void *grown = realloc(p->ids, cap * sizeof(*p->ids));
        if (!grown)
            return err_set(e, CAIRN_ENOMEM, "out of memory");
        p->ids = grown;
        p->ids_cap = cap;
    }
    blob_sums s;
    blob_sum_final(p->sum, &s);
    blob_sum_free(p->sum);
    p->sum = NULL;
    char key[128];
    repo_pack_key(s.id, key, sizeof(key));
    store_writer *w = p->w;
    p->w = NULL;
    int rc = store_writer_commit_as(w, key, e);
    if (rc)
        return rc;
    memcpy(p->ids[p->n++], s.id, sizeof(s.id));
    p->stored += p->len;
    p->len = 0;
    return 0;
}

/* Appends one member's frame; the caller holds the lock. */
static int append(pack_writer *p, const buf *frame, ratelimit *rl, pack_member *m, cairn_err *e)
{
    int rc = 0;
    if (p->w && p->len + frame->len > p->cap)
        rc = commit_open(p, e);
    if (!rc && !p->w) {
        rc = blob_sum_new(&p->sum, BLOB_SUM_SHA256, e);
        if (!rc)
            rc = store_put_begin_unnamed(p->r->s, "packs", &p->w, e);
    }
    if (rc)
        return rc;
    ratelimit_take(rl, frame->len);
    if ((rc = store_writer_write(p->w, frame->data, frame->len, e)) != 0)
        return rc;
    blob_sum_update(p->sum, frame->data, frame->len);
    *m = (pack_member){.pack = p->n, .offset = p->len, .length = frame->len};
    p->len += frame->len;
    return 0;
}

static int frame_sink(void *ctx, const void *data, size_t len, cairn_err *e)
{
    return buf_append(ctx, data, len, e);
}

int pack_add_fd(pack_writer *p, int fd, bool crc32, const repo_put_opts *o, blob_sums *sums,
                pack_member *m, bool *added, cairn_err *e)
{
    *added = false;
    memset(sums, 0, sizeof(*sums));
    struct stat st;
    if (fstat(fd, &st) != 0)
        return err_sys(e, errno, "cannot read the file to upload");
    if ((uint64_t)st.st_size > PACK_MEMBER_MAX)
        return err_set(e, CAIRN_EINVAL, "a file of more than %u bytes does not go into a pack",
                       PACK_MEMBER_MAX);
    buf frame = BUF_INIT;
    /* A file that grows past the limit while it is read fails here or as changed. */
    frame.limit = ZSTD_compressBound(PACK_MEMBER_MAX);
    int rc = repo_encode_fd(fd, crc32, o, frame_sink, &frame, sums, e);
    if (rc || repo_put_known(o, sums->id)) {
        buf_free(&frame);
        return rc;
    }
    pthread_mutex_lock(&p->mu);
    if (p->failed)
        rc = err_set(e, p->failed, "an earlier file of this pack failed");
    else if ((rc = append(p, &frame, o->rl, m, e)) != 0)
        p->failed = rc;
    pthread_mutex_unlock(&p->mu);
    buf_free(&frame);
    *added = rc == 0;
    return rc;
}

int pack_writer_finish(pack_writer *p, cairn_err *e)
{
    pthread_mutex_lock(&p->mu);
    int rc = p->failed ? err_set(e, p->failed, "a file of this pack failed") : commit_open(p, e);
    if (rc)
        p->failed = rc;
    pthread_mutex_unlock(&p->mu);
    return rc;
}

const char *pack_writer_id(const pack_writer *p, size_t i)
{
    CAIRN_ASSERT(i < p->n);
    return p->ids[i];
}

size_t pack_writer_count(const pack_writer *p)
{
    return p->n;
}

uint64_t pack_writer_stored(const pack_writer *p)
{
    return p->stored;
}

void pack_writer_free(pack_writer *p)
{
    if (!p)
        return;
    if (p->w)
        store_writer_abort(p->w);
    blob_sum_free(p->sum);
    free(p->ids);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* The state of one pack_read: where in the pack the next byte is, and the member
 * being decoded. */
typedef struct demux {
    const repo_ref *refs;
    size_t n, i;
    uint64_t pos;
    blob_dec *dec; /* of member i, once its first byte came */
    store_sink sink;
    void *sink_ctx;
    const pack_read_io *io;
    void *ctx;
} demux;

/* Feeds up to len bytes at pos to member i (*took of them); at the member's end its
 * frame is checked and the caller's end told. */
static int demux_member(demux *d, const uint8_t *p, size_t len, size_t *took, cairn_err *e)
{
    const repo_ref *ref = &d->refs[d->i];
    int rc = 0;
    if (!d->dec && ((rc = d->io->begin(d->ctx, d->i, &d->sink, &d->sink_ctx, e)) != 0 ||
                    (rc = blob_dec_new(&d->dec, ref->blob, e)) != 0))
        return rc;
    uint64_t left = ref->offset + ref->length - d->pos;
    *took = len < left ? len : (size_t)left;
    if ((rc = blob_dec_write(d->dec, p, *took, d->sink, d->sink_ctx, e)) != 0)
        return rc;
    if (*took < left)
        return 0;
    uint64_t size = 0;
    rc = blob_dec_finish(d->dec, &size, e);
    blob_dec_free(d->dec);
    d->dec = NULL;
    if (!rc)
        rc = d->io->end(d->ctx, d->i, size, e);
    if (!rc)
        d->i++;
    return rc;
}

static int demux_write(void *ctx, const void *data, size_t len, cairn_err *e)
{
    demux *d = ctx;
    const uint8_t *p = data;
    while (len && d->i < d->n) {
        size_t took = 0;
        uint64_t start = d->refs[d->i].offset;
        if (d->pos < start)
            took = start - d->pos < len ? (size_t)(start - d->pos) : len;
        else {
            int rc = demux_member(d, p, len, &took, e);
            if (rc) {
                err_prefix(e, "blob %s of pack %s", d->refs[d->i].blob, d->refs[d->i].pack);
                return rc;
            }
        }
        d->pos += took;
        p += took;
        len -= took;
    }
    return 0;
}

static int check_order(const repo_ref *refs, size_t n, cairn_err *e)
{
    for (size_t i = 0; i < n; i++) {
        int rc = repo_ref_check(&refs[i], e);
        if (rc)
            return rc;
        if (!refs[i].pack || strcmp(refs[i].pack, refs[0].pack) != 0 ||
            (i && refs[i].offset < refs[i - 1].offset + refs[i - 1].length))
            return err_set(e, CAIRN_EINVAL,
                           "the members asked of pack %s are not of it alone, in order",
                           refs[0].pack ? refs[0].pack : "(none)");
    }
    return 0;
}

int pack_read(repo *r, const repo_ref *refs, size_t n, const pack_read_io *io, void *ctx,
              cairn_err *e)
{
    if (n == 0)
        return 0;
    int rc = check_order(refs, n, e);
    if (rc)
        return rc;
    char key[128];
    repo_pack_key(refs[0].pack, key, sizeof(key));
    demux d = {.refs = refs, .n = n, .pos = refs[0].offset, .io = io, .ctx = ctx};
    uint64_t end = refs[n - 1].offset + refs[n - 1].length;
    rc = store_get_range(r->s, key, refs[0].offset, end - refs[0].offset, demux_write, &d, e);
    if (!rc && d.i < n)
        rc = err_set(e, CAIRN_ECORRUPT, "pack %s ended before its member %s", refs[0].pack,
                     refs[d.i].blob);
    if (rc == CAIRN_ENOENT)
        err_set(e, rc, "pack %s is missing from repository %s", refs[0].pack, store_url(r->s));
    blob_dec_free(d.dec);
    return rc;
}
