/*
 * Design notes.
 *
 * Layout (docs/repository-format.md has the details):
 *   cairn.repo                                   identity: format version, repository id
 *   blobs/<2 hex>/<64 hex>                       file contents, named by their SHA-256
 *   backups/<cluster>/<tag>/nodes/<host>.manifest  one per node, written first
 *   backups/<cluster>/<tag>/backup.manifest      written last: a backup exists once it does
 *   locks/<kind>-<16 hex>.lease                  leases
 * Nothing is ever modified in place: blobs are immutable because their name is their
 * content, manifests are written whole, and a lease is replaced by a newer put.
 *
 * Leases (lease.c) are advisory and need nothing but put, list and delete, which
 * every store has; their expiry is judged by the store's clock alone.
 *
 * The store is this folder's business: callers above get repository-level operations
 * (blobs by id, manifests under backups/, request counts) and never the store itself.
 */
#include "repo/repo.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/debug.h"
#include "base/hex.h"
#include "base/log.h"
#include "repo.pb-c.h"
#include "repo/blob.h"
#include "repo/repo_impl.h"

#define INFO_MAX (1u << 20)

int64_t repo_clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t repo_now_ms(void)
{
    return repo_clock_ms(CLOCK_REALTIME);
}

/* Collects a small object into a buf, refusing more than its limit. */
static int small_sink(void *ctx, const void *p, size_t len, cairn_err *e)
{
    buf *b = ctx;
    int rc = buf_append(b, p, len, NULL);
    if (rc == CAIRN_EPROTO)
        return err_set(e, CAIRN_ECORRUPT, "object is larger than the %zu bytes it may have",
                       b->limit);
    if (rc)
        return err_set(e, CAIRN_ENOMEM, "out of memory reading an object");
    return 0;
}

/* Reads the object at key, of at most max bytes, into b (free it with buf_free). */
int repo_read_small(store *s, const char *key, size_t max, buf *b, cairn_err *e)
{
    *b = (buf)BUF_INIT;
    b->limit = max;
    int rc = store_get(s, key, small_sink, b, e);
    if (rc)
        buf_free(b);
    return rc;
}

static int make_uuid(char out[37], cairn_err *e)
{
    unsigned char u[16];
    if (RAND_bytes(u, sizeof(u)) != 1)
        return err_set(e, CAIRN_EIO, "no random bytes available for the repository id");
    u[6] = (unsigned char)((u[6] & 0x0f) | 0x40);
    u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);
    static const size_t groups[] = {4, 2, 2, 2, 6}; /* bytes of 8-4-4-4-12 */
    const unsigned char *in = u;
    for (size_t g = 0; g < 5; g++) {
        if (g > 0)
            *out++ = '-';
        hex_encode(in, groups[g], out);
        in += groups[g];
        out += 2 * groups[g];
    }
    return 0;
}

static int write_info(store *s, cairn_err *e)
{
    char uuid[37];
    int rc = make_uuid(uuid, e);
    if (rc)
        return rc;
    Cairn__Repo__RepoInfo info = CAIRN__REPO__REPO_INFO__INIT;
    info.format_version = REPO_FORMAT_VERSION;
    info.repository_id = uuid;
    info.created_ms = (uint64_t)repo_now_ms();
    info.created_by = "cairn " CAIRN_VERSION;
    size_t len = cairn__repo__repo_info__get_packed_size(&info);
    uint8_t *data = malloc(len ? len : 1);
    if (!data)
        return err_set(e, CAIRN_ENOMEM, "out of memory creating the repository");
    cairn__repo__repo_info__pack(&info, data);
    rc = store_put_buf(s, REPO_INFO_KEY, data, len, e);
    free(data);
    return rc;
}

/* Reads cairn.repo. Two simultaneous inits may both write it; the last rename
 * wins, and re-reading after the write makes both adopt the surviving id. */
static int load_info(repo *r, const char *url, bool create, cairn_err *e)
{
    buf m;
    int rc = repo_read_small(r->s, REPO_INFO_KEY, INFO_MAX, &m, e);
    if (rc == CAIRN_ENOENT && create) {
        rc = write_info(r->s, e);
        if (rc)
            return err_prefix(e, "cannot create a repository at %s", url);
        rc = repo_read_small(r->s, REPO_INFO_KEY, INFO_MAX, &m, e);
    }
    if (rc == CAIRN_ENOENT)
        return err_set(e, CAIRN_ENOENT, "no cairn repository at %s: run `cairn repo init`", url);
    if (rc)
        return err_prefix(e, "cannot read %s in repository %s", REPO_INFO_KEY, url);
    Cairn__Repo__RepoInfo *info = cairn__repo__repo_info__unpack(NULL, m.len, m.data);
    buf_free(&m);
    if (!info)
        return err_set(e, CAIRN_ECORRUPT,
                       "%s in repository %s is not a valid RepoInfo message: restore it from a "
                       "copy, or check that the location holds a cairn repository",
                       REPO_INFO_KEY, url);
    if (info->format_version > REPO_FORMAT_VERSION) {
        rc = err_set(e, CAIRN_EPROTO,
                     "repository %s has format version %u, newer than the %d this cairn "
                     "understands: upgrade cairn",
                     url, info->format_version, REPO_FORMAT_VERSION);
    } else if (!(r->id = strdup(info->repository_id))) {
        rc = err_set(e, CAIRN_ENOMEM, "out of memory opening %s", url);
    } else {
        r->format = info->format_version;
        r->created_ms = info->created_ms;
    }
    cairn__repo__repo_info__free_unpacked(info, NULL);
    return rc;
}

/* The repository object over an open store at url, cairn.repo not yet read. */
static int repo_new(repo **out, const char *url, const store_options *o, cairn_err *e)
{
    *out = NULL;
    repo *r = calloc(1, sizeof(*r));
    if (!r)
        return err_set(e, CAIRN_ENOMEM, "out of memory opening %s", url);
    pthread_mutex_init(&r->lease_mu, NULL);
    int rc = store_open(&r->s, url, o, e);
    if (rc) {
        repo_close(r);
        return rc;
    }
    *out = r;
    return 0;
}

int repo_open(repo **out, const char *url, const store_options *o, bool create, cairn_err *e)
{
    int rc = repo_new(out, url, o, e);
    if (!rc && (rc = load_info(*out, url, create, e)) != 0) {
        repo_close(*out);
        *out = NULL;
    }
    return rc;
}

int repo_open_as(repo **out, const char *url, const store_options *o, const repo_identity *id,
                 cairn_err *e)
{
    CAIRN_ASSERT(id->id[0] && id->format <= REPO_FORMAT_VERSION);
    int rc = repo_new(out, url, o, e);
    if (rc)
        return rc;
    repo *r = *out;
    r->format = id->format;
    r->created_ms = id->created_ms;
    if (!(r->id = strdup(id->id))) {
        repo_close(r);
        *out = NULL;
        return err_set(e, CAIRN_ENOMEM, "out of memory opening %s", url);
    }
    return 0;
}

void repo_identity_of(const repo *r, repo_identity *out)
{
    snprintf(out->id, sizeof(out->id), "%s", r->id);
    out->format = r->format;
    out->created_ms = r->created_ms;
}

void repo_close(repo *r)
{
    if (!r)
        return;
    store_close(r->s);
    free(r->id);
    pthread_mutex_destroy(&r->lease_mu);
    free(r);
}

store *repo_store(repo *r)
{
    return r->s;
}

const char *repo_id(const repo *r)
{
    return r->id;
}

const char *repo_url(const repo *r)
{
    return store_url(r->s);
}

void repo_stats(const repo *r, store_counts *out)
{
    store_stats(r->s, out);
}

void repo_blob_key(const char *id, char *out, size_t cap)
{
    snprintf(out, cap, "blobs/%.2s/%s", id, id);
}

void repo_pack_key(const char *id, char *out, size_t cap)
{
    snprintf(out, cap, "packs/%.2s/%s", id, id);
}

void repo_node_manifest_key(const char *cluster, const char *tag, const char *host_id, char *out,
                            size_t cap)
{
    snprintf(out, cap, REPO_BACKUPS_PREFIX "%s/%s/nodes/%s.manifest", cluster, tag, host_id);
}

void repo_cluster_manifest_key(const char *cluster, const char *tag, char *out, size_t cap)
{
    snprintf(out, cap, REPO_BACKUPS_PREFIX "%s/%s/backup.manifest", cluster, tag);
}

static bool under_backups(const char *key)
{
    return strncmp(key, REPO_BACKUPS_PREFIX, strlen(REPO_BACKUPS_PREFIX)) == 0;
}

int repo_manifest_list(repo *r, const char *prefix, store_list_cb cb, void *ctx, cairn_err *e)
{
    CAIRN_ASSERT(under_backups(prefix));
    return store_list(r->s, prefix, cb, ctx, e);
}

int repo_manifest_list_ex(repo *r, const char *prefix, store_list_ex_cb cb, void *ctx, cairn_err *e)
{
    CAIRN_ASSERT(under_backups(prefix));
    return store_list_ex(r->s, prefix, cb, ctx, e);
}

int repo_manifest_put_note(repo *r, const char *key, const char *text, cairn_err *e)
{
    CAIRN_ASSERT(under_backups(key));
    return store_put_buf(r->s, key, text, strlen(text), e);
}

int repo_manifest_stat(repo *r, const char *key, uint64_t *size, cairn_err *e)
{
    CAIRN_ASSERT(under_backups(key));
    return store_head(r->s, key, size, e);
}

int repo_blob_id_check(const char *id, cairn_err *e)
{
    if (!blob_id_valid(id))
        return err_set(e, CAIRN_EINVAL, "'%s' is not a blob id (64 lowercase hex digits)", id);
    return 0;
}

/* One HEAD: whether the object at key exists. */
static int head_exists(repo *r, const char *key, bool *exists, cairn_err *e)
{
    int rc = store_head(r->s, key, NULL, e);
    *exists = rc == 0;
    if (rc == CAIRN_ENOENT) {
        err_clear(e); /* absence is an answer, not an error */
        rc = 0;
    }
    return rc;
}

int repo_blob_exists(repo *r, const char *id, bool *exists, cairn_err *e)
{
    char key[128];
    int rc = repo_blob_id_check(id, e);
    if (rc)
        return rc;
    repo_blob_key(id, key, sizeof(key));
    return head_exists(r, key, exists, e);
}

int repo_ref_exists(repo *r, const repo_ref *ref, bool *exists, cairn_err *e)
{
    if (!ref->pack)
        return repo_blob_exists(r, ref->blob, exists, e);
    int rc = repo_ref_check(ref, e);
    if (rc)
        return rc;
    char key[128];
    repo_pack_key(ref->pack, key, sizeof(key));
    return head_exists(r, key, exists, e);
}

struct get_ctx {
    blob_dec *dec;
    store_sink sink;
    void *ctx;
};

static int get_sink(void *ctx, const void *data, size_t len, cairn_err *e)
{
    struct get_ctx *g = ctx;
    return blob_dec_write(g->dec, data, len, g->sink, g->ctx, e);
}

/* Decodes and checks what the store streams from key (all of it, or length bytes
 * from offset when ranged) as the blob id. */
static int get_checked(repo *r, const char *id, const char *key, bool ranged, uint64_t offset,
                       uint64_t length, store_sink sink, void *ctx, uint64_t *size, cairn_err *e)
{
    struct get_ctx g = {.sink = sink, .ctx = ctx};
    int rc = blob_dec_new(&g.dec, id, e);
    if (rc)
        return rc;
    rc = ranged ? store_get_range(r->s, key, offset, length, get_sink, &g, e)
                : store_get(r->s, key, get_sink, &g, e);
    if (!rc)
        rc = blob_dec_finish(g.dec, size, e);
    blob_dec_free(g.dec);
    return rc;
}

int repo_blob_get(repo *r, const char *id, store_sink sink, void *ctx, uint64_t *size, cairn_err *e)
{
    char key[128];
    int rc = repo_blob_id_check(id, e);
    if (rc)
        return rc;
    repo_blob_key(id, key, sizeof(key));
    rc = get_checked(r, id, key, false, 0, 0, sink, ctx, size, e);
    if (rc == CAIRN_ENOENT)
        err_set(e, rc, "blob %s is missing from repository %s", id, store_url(r->s));
    return rc;
}

int repo_ref_check(const repo_ref *ref, cairn_err *e)
{
    int rc = repo_blob_id_check(ref->blob, e);
    if (rc || !ref->pack)
        return rc;
    if (!blob_id_valid(ref->pack))
        return err_set(e, CAIRN_ECORRUPT, "'%s' is not a pack id (64 lowercase hex digits)",
                       ref->pack);
    if (ref->length == 0 || ref->length > REPO_PACK_MAX ||
        ref->offset > REPO_PACK_MAX - ref->length)
        return err_set(e, CAIRN_ECORRUPT,
                       "blob %s: its place in pack %s (%" PRIu64 " bytes at %" PRIu64
                       ") is not within a pack of at most %u bytes",
                       ref->blob, ref->pack, ref->length, ref->offset, REPO_PACK_MAX);
    return 0;
}

int repo_ref_get(repo *r, const repo_ref *ref, store_sink sink, void *ctx, uint64_t *size,
                 cairn_err *e)
{
    if (!ref->pack)
        return repo_blob_get(r, ref->blob, sink, ctx, size, e);
    int rc = repo_ref_check(ref, e);
    if (rc)
        return rc;
    char key[128];
    repo_pack_key(ref->pack, key, sizeof(key));
    rc = get_checked(r, ref->blob, key, true, ref->offset, ref->length, sink, ctx, size, e);
    if (rc == CAIRN_ENOENT)
        err_set(e, rc, "pack %s, which holds blob %s, is missing from repository %s", ref->pack,
                ref->blob, store_url(r->s));
    else if (rc)
        err_prefix(e, "blob %s in pack %s", ref->blob, ref->pack);
    return rc;
}

/* ---- manifest removal, blob totals ---- */

static int blob_total_cb(void *ctx, const char *key, uint64_t size, cairn_err *e)
{
    uint64_t *t = ctx;
    t[0]++;
    t[1] += size;
    return 0;
}

int repo_manifest_delete(repo *r, const char *key, cairn_err *e)
{
    CAIRN_ASSERT(under_backups(key));
    return store_delete(r->s, key, e); /* absent is success */
}

int repo_blob_totals(repo *r, uint64_t *count, uint64_t *bytes, uint64_t *packs,
                     uint64_t *pack_bytes, cairn_err *e)
{
    uint64_t t[2] = {0, 0}, p[2] = {0, 0};
    int rc = store_list(r->s, "blobs/", blob_total_cb, t, e);
    if (rc)
        return err_prefix(e, "cannot list the blobs of repository %s", store_url(r->s));
    rc = store_list(r->s, "packs/", blob_total_cb, p, e);
    if (rc)
        return err_prefix(e, "cannot list the packs of repository %s", store_url(r->s));
    *count = t[0];
    *bytes = t[1];
    *packs = p[0];
    *pack_bytes = p[1];
    return 0;
}

unsigned repo_format_version(const repo *r)
{
    return r->format;
}

uint64_t repo_created_ms(const repo *r)
{
    return r->created_ms;
}
