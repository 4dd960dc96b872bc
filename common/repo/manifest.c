#include "repo/manifest.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/debug.h"
#include "base/hex.h"
#include "repo/blob.h"
#include "repo/repo_impl.h"

/* Field 15 (tables), wire type 2 (length-delimited). */
#define TABLES_FIELD 15
#define TABLES_TAG   ((TABLES_FIELD << 3) | 2)
#define VARINT_MAX   10

static size_t put_varint(uint8_t *out, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

/* ---- writing ---- */

struct manifest_writer {
    store_writer *w;
    blob_enc *enc;
    EVP_MD_CTX *sha; /* of the stored, compressed bytes */
    uint64_t stored; /* how many of them */
    buf scratch;     /* one record, packed */
    store_sink tee;  /* a copy of the stored bytes; NULL: none, or it failed */
    void *tee_ctx;
};

static int writer_sink(void *ctx, const void *data, size_t len, cairn_err *e)
{
    manifest_writer *mw = ctx;
    EVP_DigestUpdate(mw->sha, data, len);
    mw->stored += len;
    if (mw->tee && mw->tee(mw->tee_ctx, data, len, NULL) != 0)
        mw->tee = NULL; /* the copy is its owner's business, never the manifest's */
    return store_writer_write(mw->w, data, len, e);
}

void manifest_node_abort(manifest_writer *w)
{
    if (!w)
        return;
    store_writer_abort(w->w);
    blob_enc_free(w->enc);
    EVP_MD_CTX_free(w->sha);
    buf_free(&w->scratch);
    free(w);
}

int manifest_node_begin(repo *r, const char *key, const Cairn__Repo__NodeManifest *header,
                        manifest_writer **out, cairn_err *e)
{
    return manifest_node_begin_tee(r, key, header, NULL, NULL, out, e);
}

int manifest_node_begin_tee(repo *r, const char *key, const Cairn__Repo__NodeManifest *header,
                            store_sink tee, void *tee_ctx, manifest_writer **out, cairn_err *e)
{
    *out = NULL;
    if (header->n_tables != 0 || !header->cluster || !header->tag || !header->host_id)
        return err_set(e, CAIRN_EINVAL,
                       "node manifest %s: the header needs cluster, tag and host id, and no "
                       "tables (they are added one by one)",
                       key);
    manifest_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return err_set(e, CAIRN_ENOMEM, "out of memory writing %s", key);
    w->tee = tee;
    w->tee_ctx = tee_ctx;
    int rc = 0;
    if (!(w->sha = EVP_MD_CTX_new()) || EVP_DigestInit_ex(w->sha, EVP_sha256(), NULL) != 1)
        rc = err_set(e, CAIRN_ENOMEM, "out of memory writing %s", key);
    if (!rc)
        rc = blob_enc_new(&w->enc, BLOB_DEFAULT_LEVEL, e);
    if (!rc)
        rc = store_put_begin(repo_store(r), key, &w->w, e);
    Cairn__Repo__NodeManifest h = *header;
    h.format_version = MANIFEST_FORMAT_VERSION;
    size_t len = cairn__repo__node_manifest__get_packed_size(&h);
    if (!rc && len > MANIFEST_MAX_RECORD)
        rc = err_set(e, CAIRN_EINVAL, "node manifest %s: the header is over 64 MiB", key);
    if (!rc)
        rc = buf_reserve(&w->scratch, len, e);
    if (!rc) {
        cairn__repo__node_manifest__pack(&h, w->scratch.data);
        rc = blob_enc_write(w->enc, w->scratch.data, len, writer_sink, w, e);
    }
    if (rc) {
        manifest_node_abort(w);
        return rc;
    }
    *out = w;
    return 0;
}

int manifest_node_add_table(manifest_writer *w, const Cairn__Repo__TableEntry *t, cairn_err *e)
{
    size_t len = cairn__repo__table_entry__get_packed_size(t);
    if (len > MANIFEST_MAX_RECORD)
        return err_set(e, CAIRN_EINVAL,
                       "table %s.%s has too many files for one manifest record (%zu bytes, at "
                       "most %u)",
                       t->keyspace, t->name, len, MANIFEST_MAX_RECORD);
    int rc = buf_reserve(&w->scratch, len + 1 + VARINT_MAX, e);
    if (rc)
        return rc;
    size_t pre = 0;
    w->scratch.data[pre++] = TABLES_TAG;
    pre += put_varint(w->scratch.data + pre, len);
    CAIRN_ASSERT(pre <= 1 + VARINT_MAX);
    cairn__repo__table_entry__pack(t, w->scratch.data + pre);
    return blob_enc_write(w->enc, w->scratch.data, pre + len, writer_sink, w, e);
}

int manifest_node_finish(manifest_writer *w, char sha256_hex[65], uint64_t *size, cairn_err *e)
{
    int rc = blob_enc_finish(w->enc, writer_sink, w, e);
    if (rc) {
        manifest_node_abort(w);
        return rc;
    }
    rc = store_writer_commit(w->w, e);
    w->w = NULL;
    if (!rc && sha256_hex)
        hex_sha256_final(w->sha, sha256_hex);
    if (!rc && size)
        *size = w->stored;
    manifest_node_abort(w);
    return rc;
}

/* ---- reading ---- */

enum rd_state { RD_TAG, RD_VARINT, RD_LEN, RD_BYTES };

/* Parses the decompressed stream one top-level field at a time. */
struct reader {
    const char *key;
    manifest_table_cb cb;
    void *ctx;
    enum rd_state state;
    uint64_t acc; /* varint being read */
    unsigned shift;
    uint8_t raw[VARINT_MAX]; /* its bytes, copied into the header when it belongs there */
    size_t rawlen;
    uint32_t field;
    bool in_table; /* the current field is a TableEntry */
    uint64_t need; /* bytes left in the current fixed or length-delimited value */
    buf head;      /* every non-table field, as it appeared */
    buf rec;       /* the current TableEntry */
    bool have_version;
    uint64_t version;
};

static int rd_corrupt(struct reader *rd, cairn_err *e, const char *what)
{
    return err_set(e, CAIRN_ECORRUPT, "node manifest %s is corrupt: %s", rd->key, what);
}

static int rd_check_version(struct reader *rd, cairn_err *e)
{
    if (rd->have_version && rd->version > MANIFEST_FORMAT_VERSION)
        return err_set(e, CAIRN_EPROTO,
                       "node manifest %s has format version %" PRIu64
                       ", newer than the %d this cairn understands: upgrade cairn",
                       rd->key, rd->version, MANIFEST_FORMAT_VERSION);
    return 0;
}

static int rd_table(struct reader *rd, cairn_err *e)
{
    int rc = rd_check_version(rd, e);
    if (rc)
        return rc;
    Cairn__Repo__TableEntry *t = cairn__repo__table_entry__unpack(NULL, rd->rec.len, rd->rec.data);
    if (!t)
        return rd_corrupt(rd, e, "a table record is not a valid TableEntry");
    rc = rd->cb ? rd->cb(rd->ctx, t, e) : 0;
    cairn__repo__table_entry__free_unpacked(t, NULL);
    return rc;
}

/* Keeps n bytes of the current record, refusing records over the limit. */
static int rd_keep(struct reader *rd, buf *dst, const void *p, size_t n, cairn_err *e)
{
    if (dst->len + n > MANIFEST_MAX_RECORD)
        return rd_corrupt(rd, e,
                          dst == &rd->head ? "its header is over 64 MiB"
                                           : "a table record is over 64 MiB");
    return buf_append(dst, p, n, e);
}

/* A value (or its last byte) is complete. */
static int rd_value_done(struct reader *rd, cairn_err *e)
{
    rd->state = RD_TAG;
    if (!rd->in_table)
        return 0;
    int rc = rd_table(rd, e);
    buf_reset(&rd->rec);
    return rc;
}

/* One varint byte in; returns 1 when the varint is complete. */
static int rd_varint_byte(struct reader *rd, uint8_t byte, cairn_err *e)
{
    if (rd->rawlen == VARINT_MAX)
        return rd_corrupt(rd, e, "a varint is too long");
    rd->raw[rd->rawlen++] = byte;
    rd->acc |= (uint64_t)(byte & 0x7f) << rd->shift;
    rd->shift += 7;
    return (byte & 0x80) ? 0 : 1;
}

static int rd_tag(struct reader *rd, cairn_err *e)
{
    uint64_t tag = rd->acc;
    rd->field = (uint32_t)(tag >> 3);
    unsigned wt = (unsigned)(tag & 7);
    if (rd->field == 0 || tag >> 32)
        return rd_corrupt(rd, e, "a field number is invalid");
    rd->in_table = rd->field == TABLES_FIELD;
    if (rd->in_table && wt != 2)
        return rd_corrupt(rd, e, "the tables field has the wrong wire type");
    if (!rd->in_table) {
        int rc = rd_keep(rd, &rd->head, rd->raw, rd->rawlen, e);
        if (rc)
            return rc;
    }
    switch (wt) {
    case 0:
        rd->state = RD_VARINT;
        return 0;
    case 1:
        rd->need = 8;
        rd->state = RD_BYTES;
        return 0;
    case 5:
        rd->need = 4;
        rd->state = RD_BYTES;
        return 0;
    case 2:
        rd->state = RD_LEN;
        return 0;
    default:
        return rd_corrupt(rd, e, "a field has an unsupported wire type");
    }
}

static int rd_feed(void *ctx, const void *data, size_t len, cairn_err *e)
{
    struct reader *rd = ctx;
    const uint8_t *p = data;
    while (len > 0) {
        int rc;
        if (rd->state == RD_BYTES) {
            size_t take = rd->need < len ? (size_t)rd->need : len;
            rc = rd_keep(rd, rd->in_table ? &rd->rec : &rd->head, p, take, e);
            if (rc)
                return rc;
            p += take;
            len -= take;
            rd->need -= take;
            if (rd->need == 0 && (rc = rd_value_done(rd, e)) != 0)
                return rc;
            continue;
        }
        uint8_t byte = *p++;
        len--;
        rc = rd_varint_byte(rd, byte, e);
        if (rc <= 0) {
            if (rc < 0)
                return rc;
            continue;
        }
        rc = 0; /* the varint is complete; what follows decides */
        switch (rd->state) {
        case RD_TAG:
            rc = rd_tag(rd, e);
            break;
        case RD_VARINT:
            rc = rd_keep(rd, &rd->head, rd->raw, rd->rawlen, e);
            if (rd->field == 1) {
                rd->have_version = true;
                rd->version = rd->acc;
            }
            rd->state = RD_TAG;
            break;
        case RD_LEN:
            if (rd->acc > MANIFEST_MAX_RECORD) {
                rc = rd_corrupt(rd, e, "a record is over 64 MiB");
                break;
            }
            if (!rd->in_table)
                rc = rd_keep(rd, &rd->head, rd->raw, rd->rawlen, e);
            rd->need = rd->acc;
            rd->state = RD_BYTES;
            if (!rc && rd->need == 0)
                rc = rd_value_done(rd, e);
            break;
        case RD_BYTES:
            CAIRN_ASSERT(!"RD_BYTES is consumed before any varint");
            break;
        }
        rd->rawlen = 0;
        rd->acc = 0;
        rd->shift = 0;
        if (rc)
            return rc;
    }
    return 0;
}

static int rd_finish(struct reader *rd, Cairn__Repo__NodeManifest **out, cairn_err *e)
{
    if (rd->state != RD_TAG || rd->rawlen != 0)
        return rd_corrupt(rd, e, "it ends in the middle of a record");
    Cairn__Repo__NodeManifest *h =
        cairn__repo__node_manifest__unpack(NULL, rd->head.len, rd->head.data);
    if (!h)
        return rd_corrupt(rd, e, "its header fields do not form a valid NodeManifest");
    rd->have_version = true;
    rd->version = h->format_version;
    int rc = rd_check_version(rd, e);
    if (rc) {
        cairn__repo__node_manifest__free_unpacked(h, NULL);
        return rc;
    }
    *out = h;
    return 0;
}

/* The stored bytes: hashed as they come, then decompressed into the parser. */
struct read_ctx {
    blob_dec *dec;
    EVP_MD_CTX *sha;
    store_sink next;
    void *next_ctx;
    bool next_failed;
};

/* Tells the decoder's own errors, which do not name the object, from the
 * parser's, which do. */
static int forward_sink(void *ctx, const void *data, size_t len, cairn_err *e)
{
    struct read_ctx *c = ctx;
    int rc = c->next(c->next_ctx, data, len, e);
    c->next_failed = rc != 0;
    return rc;
}

static int read_sink(void *ctx, const void *data, size_t len, cairn_err *e)
{
    struct read_ctx *c = ctx;
    if (c->sha)
        EVP_DigestUpdate(c->sha, data, len);
    return blob_dec_write(c->dec, data, len, forward_sink, c, e);
}

/* Feeds fd from its start to its end into sink. */
static int fd_get(int fd, const char *path, store_sink sink, void *ctx, cairn_err *e)
{
    uint8_t chunk[64 * 1024];
    for (off_t at = 0;;) {
        ssize_t n = pread(fd, chunk, sizeof(chunk), at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return err_set(e, CAIRN_EIO, "cannot read %s: %s", path, strerror(errno));
        if (n == 0)
            return 0;
        int rc = sink(ctx, chunk, (size_t)n, e);
        if (rc)
            return rc;
        at += n;
    }
}

/* Streams key, or with fd >= 0 the copy of it at path, through zstd into next,
 * checking the stored bytes' SHA-256 when expected_sha256 is given. what names the
 * object in messages. */
static int read_object(repo *r, const char *key, int fd, const char *path, const char *what,
                       const char *expected_sha256, store_sink next, void *next_ctx, cairn_err *e)
{
    struct read_ctx c = {.next = next, .next_ctx = next_ctx};
    int rc = blob_dec_new(&c.dec, NULL, e);
    if (!rc && expected_sha256 &&
        (!(c.sha = EVP_MD_CTX_new()) || EVP_DigestInit_ex(c.sha, EVP_sha256(), NULL) != 1))
        rc = err_set(e, CAIRN_ENOMEM, "out of memory reading %s", key);
    if (!rc && fd >= 0) {
        key = path;
        if ((rc = fd_get(fd, path, read_sink, &c, e)) != 0 && !c.next_failed)
            err_prefix(e, "%s %s", what, key);
    } else if (!rc) {
        rc = store_get(repo_store(r), key, read_sink, &c, e);
        if (rc == CAIRN_ENOENT)
            err_set(e, rc, "%s %s is missing from repository %s", what, key, repo_url(r));
        else if (rc && !c.next_failed)
            err_prefix(e, "%s %s", what, key);
    }
    if (!rc && (rc = blob_dec_finish(c.dec, NULL, e)) != 0)
        err_prefix(e, "%s %s", what, key);
    if (!rc && c.sha) {
        char got[HEX_SHA256_LEN + 1];
        hex_sha256_final(c.sha, got);
        if (strcmp(got, expected_sha256) != 0)
            rc = err_set(e, CAIRN_ECORRUPT,
                         "%s %s has SHA-256 %s, not the %s its backup recorded: it was damaged "
                         "or replaced",
                         what, key, got, expected_sha256);
    }
    EVP_MD_CTX_free(c.sha);
    blob_dec_free(c.dec);
    return rc;
}

int manifest_node_read(repo *r, const char *key, const char *expected_sha256_or_null,
                       Cairn__Repo__NodeManifest **header_out, manifest_table_cb cb, void *ctx,
                       cairn_err *e)
{
    return manifest_node_read_copy(r, key, -1, NULL, expected_sha256_or_null, header_out, cb, ctx,
                                   e);
}

int manifest_node_read_copy(repo *r, const char *key, int fd, const char *path,
                            const char *expected_sha256_or_null,
                            Cairn__Repo__NodeManifest **header_out, manifest_table_cb cb, void *ctx,
                            cairn_err *e)
{
    CAIRN_ASSERT(fd < 0 || (path && expected_sha256_or_null));
    *header_out = NULL;
    struct reader rd = {.key = fd >= 0 ? path : key, .cb = cb, .ctx = ctx};
    int rc =
        read_object(r, key, fd, path, "node manifest", expected_sha256_or_null, rd_feed, &rd, e);
    if (!rc)
        rc = rd_finish(&rd, header_out, e);
    buf_free(&rd.head);
    buf_free(&rd.rec);
    return rc;
}

static int cluster_sink(void *ctx, const void *data, size_t len, cairn_err *e)
{
    return store_writer_write(ctx, data, len, e);
}

int manifest_cluster_write(repo *r, const char *key, const Cairn__Repo__ClusterManifest *m,
                           cairn_err *e)
{
    if (!m->cluster || !m->tag)
        return err_set(e, CAIRN_EINVAL, "cluster manifest %s needs a cluster and a tag", key);
    Cairn__Repo__ClusterManifest copy = *m;
    copy.format_version = MANIFEST_FORMAT_VERSION;
    size_t len = cairn__repo__cluster_manifest__get_packed_size(&copy);
    uint8_t *packed = malloc(len ? len : 1);
    if (!packed)
        return err_set(e, CAIRN_ENOMEM, "out of memory writing %s", key);
    cairn__repo__cluster_manifest__pack(&copy, packed);
    blob_enc *enc = NULL;
    store_writer *w = NULL;
    /* A backup that lost its lease may have skipped blobs a purge then deleted: it must
     * not become complete (repository-format.md, Leases). */
    int rc = repo_leases_check(r, e);
    if (!rc)
        rc = blob_enc_new(&enc, BLOB_DEFAULT_LEVEL, e);
    if (!rc)
        rc = store_put_begin(repo_store(r), key, &w, e);
    if (!rc)
        rc = blob_enc_write(enc, packed, len, cluster_sink, w, e);
    if (!rc)
        rc = blob_enc_finish(enc, cluster_sink, w, e);
    blob_enc_free(enc);
    free(packed);
    if (rc) {
        store_writer_abort(w);
        return rc;
    }
    rc = store_writer_commit(w, e);
    /* The lease ran out while the put was under way: a purge may have marked before
     * the manifest appeared. Take it back; the backup did not complete. */
    if (!rc && (rc = repo_leases_check(r, e)) != 0)
        store_delete(repo_store(r), key, NULL);
    return rc;
}

struct collect {
    buf b;
    const char *key;
};

static int collect_sink(void *ctx, const void *data, size_t len, cairn_err *e)
{
    struct collect *c = ctx;
    if (c->b.len + len > MANIFEST_MAX_RECORD)
        return err_set(e, CAIRN_ECORRUPT, "cluster manifest %s is over 64 MiB", c->key);
    return buf_append(&c->b, data, len, e);
}

int manifest_cluster_read(repo *r, const char *key, Cairn__Repo__ClusterManifest **out,
                          cairn_err *e)
{
    *out = NULL;
    struct collect c = {.key = key};
    int rc = read_object(r, key, -1, NULL, "cluster manifest", NULL, collect_sink, &c, e);
    Cairn__Repo__ClusterManifest *m = NULL;
    if (!rc && !(m = cairn__repo__cluster_manifest__unpack(NULL, c.b.len, c.b.data)))
        rc = err_set(e, CAIRN_ECORRUPT, "cluster manifest %s is not a valid ClusterManifest", key);
    buf_free(&c.b);
    if (!rc && m->format_version > MANIFEST_FORMAT_VERSION)
        rc = err_set(e, CAIRN_EPROTO,
                     "cluster manifest %s has format version %u, newer than the %d this cairn "
                     "understands: upgrade cairn",
                     key, m->format_version, MANIFEST_FORMAT_VERSION);
    if (rc) {
        if (m)
            cairn__repo__cluster_manifest__free_unpacked(m, NULL);
        return rc;
    }
    *out = m;
    return 0;
}

int manifest_file_ref(const Cairn__Repo__FileEntry *f, repo_ref *out, cairn_err *e)
{
    *out = (repo_ref){.blob = f->blob};
    if (f->pack) {
        if (!f->has_pack_offset || !f->has_pack_length)
            return err_set(e, CAIRN_ECORRUPT,
                           "file %s names pack %s without its place in it: the manifest is "
                           "corrupt",
                           f->name, f->pack);
        *out = (repo_ref){f->blob, f->pack, f->pack_offset, f->pack_length};
    } else if (f->has_pack_offset || f->has_pack_length) {
        return err_set(e, CAIRN_ECORRUPT,
                       "file %s has a place in a pack but names none: the manifest is corrupt",
                       f->name);
    }
    int rc = repo_ref_check(out, e);
    if (rc)
        err_prefix(e, "file %s", f->name);
    return rc;
}
