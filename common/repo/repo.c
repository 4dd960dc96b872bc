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
 * Leases are advisory and need nothing but put, list and delete, which every store
 * has. Acquiring writes the lease and then lists locks/ again, so of two racing
 * acquirers at least the second sees the first; both may back off, neither wrongly
 * proceeds. Expiry does not depend on clocks agreeing: a holder renews (re-puts) well
 * within the ttl and gives up once ttl has passed on its own boot-time clock; others
 * compare the store's timestamp of the lease's last put with the store's timestamp of
 * their own lease (lease_expired), so only the store's clock is ever compared with
 * itself. Whoever lists an expired lease deletes it.
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

#define INFO_MAX    (1u << 20)
#define LEASE_MAX   4096
#define OWNER_MAX   256
#define READ_BUF    (256u << 10)
#define LEASE_MAGIC "cairn-lease 1"
/* Slack on top of a lease's ttl before others judge it expired: S3 stamps whole
 * seconds, and a renewal takes a request's time to land. */
#define LEASE_MARGIN_MS 2000

struct repo {
    store *s;
    char *id;
    unsigned format;     /* cairn.repo's format_version */
    uint64_t created_ms; /* and its created_ms */
    uint64_t leases_removed;
    pthread_mutex_t lease_mu; /* guards held and the deadlines in it (renewal threads) */
    repo_lease *held;         /* the leases this process holds through r */
};

struct repo_lease {
    repo *r;
    repo_lease_kind kind;
    char key[96];
    char owner[OWNER_MAX + 1];
    unsigned ttl_s;
    int64_t expires_ms;
    int64_t deadline_mono_ms; /* when others may judge it expired, on CLOCK_BOOTTIME */
    int64_t store_ms;         /* the store's time of the acquiring put, -1 unknown */
    repo_lease *next;         /* in r->held */
};

static int64_t clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t now_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
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
static int read_small(store *s, const char *key, size_t max, buf *b, cairn_err *e)
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
    info.created_ms = (uint64_t)now_ms();
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
    int rc = read_small(r->s, REPO_INFO_KEY, INFO_MAX, &m, e);
    if (rc == CAIRN_ENOENT && create) {
        rc = write_info(r->s, e);
        if (rc)
            return err_prefix(e, "cannot create a repository at %s", url);
        rc = read_small(r->s, REPO_INFO_KEY, INFO_MAX, &m, e);
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

int repo_open(repo **out, const char *url, const store_options *o, bool create, cairn_err *e)
{
    *out = NULL;
    repo *r = calloc(1, sizeof(*r));
    if (!r)
        return err_set(e, CAIRN_ENOMEM, "out of memory opening %s", url);
    pthread_mutex_init(&r->lease_mu, NULL);
    int rc = store_open(&r->s, url, o, e);
    if (!rc)
        rc = load_info(r, url, create, e);
    if (rc) {
        repo_close(r);
        return rc;
    }
    *out = r;
    return 0;
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

int repo_manifest_stat(repo *r, const char *key, uint64_t *size, cairn_err *e)
{
    CAIRN_ASSERT(under_backups(key));
    return store_head(r->s, key, size, e);
}

static int check_id(const char *id, cairn_err *e)
{
    if (!blob_id_valid(id))
        return err_set(e, CAIRN_EINVAL, "'%s' is not a blob id (64 lowercase hex digits)", id);
    return 0;
}

int repo_blob_exists(repo *r, const char *id, bool *exists, cairn_err *e)
{
    char key[128];
    int rc = check_id(id, e);
    if (rc)
        return rc;
    repo_blob_key(id, key, sizeof(key));
    rc = store_head(r->s, key, NULL, e);
    *exists = rc == 0;
    if (rc == CAIRN_ENOENT) {
        err_clear(e); /* absence is an answer, not an error */
        rc = 0;
    }
    return rc;
}

struct put_ctx {
    store_writer *w;
    ratelimit *rl;
    uint64_t stored;
    repo_cancel_fn cancelled; /* may be NULL */
    void *cancel_arg;
};

static int put_sink(void *ctx, const void *data, size_t len, cairn_err *e)
{
    struct put_ctx *p = ctx;
    ratelimit_take(p->rl, len);
    p->stored += len;
    return store_writer_write(p->w, data, len, e);
}

/* Feeds fd to the encoder, returning the SHA-256 of what was read. */
static int encode_fd(int fd, blob_enc *enc, struct put_ctx *p, char got[BLOB_ID_HEX + 1],
                     cairn_err *e)
{
    unsigned char *data = malloc(READ_BUF);
    EVP_MD_CTX *sha = EVP_MD_CTX_new();
    int rc = 0;
    if (!data || !sha || EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1) {
        rc = err_set(e, CAIRN_ENOMEM, "out of memory uploading a file");
        goto out;
    }
    for (uint64_t off = 0;;) {
        ssize_t n = pread(fd, data, READ_BUF, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = err_sys(e, errno, "cannot read the file at offset %" PRIu64, off);
            goto out;
        }
        if (n == 0)
            break;
        /* Checked per chunk: a large file at a low rate limit takes minutes. */
        if (p->cancelled && p->cancelled(p->cancel_arg)) {
            rc = err_set(e, CAIRN_EBUSY, "cancelled at offset %" PRIu64, off);
            goto out;
        }
        EVP_DigestUpdate(sha, data, (size_t)n);
        rc = blob_enc_write(enc, data, (size_t)n, put_sink, p, e);
        if (rc)
            goto out;
        off += (uint64_t)n;
    }
    hex_sha256_final(sha, got);
out:
    EVP_MD_CTX_free(sha);
    free(data);
    return rc;
}

int repo_blob_put_fd(repo *r, const char *id, int fd, int level, ratelimit *rl,
                     uint64_t *stored_bytes, cairn_err *e)
{
    return repo_blob_put_fd_until(r, id, fd, level, rl, NULL, NULL, stored_bytes, e);
}

int repo_blob_put_fd_until(repo *r, const char *id, int fd, int level, ratelimit *rl,
                           repo_cancel_fn cancelled, void *cancel_arg, uint64_t *stored_bytes,
                           cairn_err *e)
{
    char key[128], got[BLOB_ID_HEX + 1];
    int rc = check_id(id, e);
    if (rc)
        return rc;
    repo_blob_key(id, key, sizeof(key));
    struct put_ctx p = {.rl = rl, .cancelled = cancelled, .cancel_arg = cancel_arg};
    /* The file's size bounds the blob's closely enough for the store to size its
     * parts (zstd adds little even to incompressible data). */
    struct stat st;
    uint64_t hint = fstat(fd, &st) == 0 && st.st_size > 0 ? (uint64_t)st.st_size : 0;
    blob_enc *enc = NULL;
    rc = blob_enc_new(&enc, level, e);
    if (!rc)
        rc = store_put_begin_hint(r->s, key, hint, &p.w, e);
    if (!rc)
        rc = encode_fd(fd, enc, &p, got, e);
    if (!rc && strcmp(got, id) != 0)
        rc = err_set(e, CAIRN_ECORRUPT,
                     "the file changed while it was uploaded as blob %s (its bytes now hash to "
                     "%s); nothing was stored",
                     id, got);
    if (!rc)
        rc = blob_enc_finish(enc, put_sink, &p, e);
    blob_enc_free(enc);
    if (rc) {
        store_writer_abort(p.w);
        return rc;
    }
    rc = store_writer_commit(p.w, e);
    if (!rc && stored_bytes)
        *stored_bytes = p.stored;
    return rc;
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

int repo_blob_get(repo *r, const char *id, store_sink sink, void *ctx, uint64_t *size, cairn_err *e)
{
    char key[128];
    int rc = check_id(id, e);
    if (rc)
        return rc;
    repo_blob_key(id, key, sizeof(key));
    struct get_ctx g = {.sink = sink, .ctx = ctx};
    rc = blob_dec_new(&g.dec, id, e);
    if (rc)
        return rc;
    rc = store_get(r->s, key, get_sink, &g, e);
    if (rc == CAIRN_ENOENT)
        err_set(e, rc, "blob %s is missing from repository %s", id, store_url(r->s));
    if (!rc)
        rc = blob_dec_finish(g.dec, size, e);
    blob_dec_free(g.dec);
    return rc;
}

/* ---- leases ---- */

static const char *kind_name(repo_lease_kind k)
{
    return k == REPO_LEASE_EXCLUSIVE ? "exclusive" : "shared";
}

static int lease_write(repo_lease *l, cairn_err *e)
{
    char text[LEASE_MAX];
    /* Taken before the put: the store stamps it later, so our deadline comes first.
     * CLOCK_BOOTTIME goes on while the machine is suspended, as the store's does. */
    int64_t mono = clock_ms(CLOCK_BOOTTIME);
    int64_t now = now_ms();
    int64_t expires = now + (int64_t)l->ttl_s * 1000;
    int n = snprintf(text, sizeof(text),
                     LEASE_MAGIC "\nkind: %s\nowner: %s\nexpires_ms: %" PRId64
                                 "\nwritten_ms: %" PRId64 "\n",
                     kind_name(l->kind), l->owner, expires, now);
    CAIRN_ASSERT(n > 0 && (size_t)n < sizeof(text)); /* the owner is at most OWNER_MAX */
    int rc = store_put_buf(l->r->s, l->key, text, (size_t)n, e);
    if (!rc) {
        pthread_mutex_lock(&l->r->lease_mu);
        l->expires_ms = expires;
        l->deadline_mono_ms = mono + (int64_t)l->ttl_s * 1000;
        pthread_mutex_unlock(&l->r->lease_mu);
    }
    return rc;
}

struct lease_info {
    bool exclusive;
    char owner[OWNER_MAX + 1];
    int64_t expires_ms;
    int64_t written_ms; /* the writer's clock; only expires_ms - written_ms is used */
};

static bool lease_parse(const char *text, struct lease_info *li)
{
    if (strncmp(text, LEASE_MAGIC "\n", sizeof(LEASE_MAGIC)) != 0)
        return false;
    bool have_kind = false, have_exp = false;
    li->owner[0] = '\0';
    li->written_ms = 0;
    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > 6 && strncmp(line, "kind: ", 6) == 0) {
            li->exclusive = len == 15 && strncmp(line + 6, "exclusive", 9) == 0;
            have_kind = true;
        } else if (len > 7 && strncmp(line, "owner: ", 7) == 0) {
            size_t n = len - 7 > OWNER_MAX ? OWNER_MAX : len - 7;
            memcpy(li->owner, line + 7, n);
            li->owner[n] = '\0';
        } else if (len > 12 && strncmp(line, "expires_ms: ", 12) == 0) {
            li->expires_ms = strtoll(line + 12, NULL, 10);
            have_exp = true;
        } else if (len > 12 && strncmp(line, "written_ms: ", 12) == 0) {
            li->written_ms = strtoll(line + 12, NULL, 10);
        }
        line = end ? end + 1 : NULL;
    }
    return have_kind && have_exp;
}

/* A lease another process wrote, as listed: its key and the store's time of its
 * last put. */
struct lease_seen {
    char key[96];
    int64_t mtime_ms;
};

struct lease_scan {
    repo *r;
    const char *self; /* our own lease key, skipped; may be NULL */
    bool any_blocks;  /* exclusive acquire: every live lease is in the way */
    repo_lease_cb fn; /* repo_lease_each: every live lease goes to fn instead */
    void *fn_arg;
    int64_t store_now_ms; /* the store's time of our own lease's put, -1 unknown */
    buf seen;             /* struct lease_seen, every lease listed */
    struct lease_info found;
    char found_key[STORE_KEY_MAX + 1];
};

static int lease_collect(void *ctx, const store_entry *ent, cairn_err *e)
{
    struct lease_scan *sc = ctx;
    if (sc->self && strcmp(ent->key, sc->self) == 0) {
        sc->store_now_ms = ent->mtime_ms;
        return 0;
    }
    struct lease_seen ls = {.mtime_ms = ent->mtime_ms};
    if (strlen(ent->key) >= sizeof(ls.key))
        return 0; /* not a name repo_lease_acquire gives */
    memcpy(ls.key, ent->key, strlen(ent->key) + 1);
    if (buf_append(&sc->seen, &ls, sizeof(ls), NULL) != 0)
        return err_set(e, CAIRN_ENOMEM, "out of memory reading the leases");
    return 0;
}

/*
 * The expiry judgement. Two machines' wall clocks need not agree, so a lease is
 * judged by the store's clock alone: the store stamps every put (file: mtime, S3:
 * LastModified), and our own lease, put just before this listing, tells the store's
 * "now". A lease whose last put is older than that by more than its ttl (which its
 * writer states as expires_ms - written_ms, a difference on one clock) plus a margin
 * for timestamp granularity has not been renewed in time: its holder stopped, since
 * a holder gives up once ttl has passed on its own monotonic clock since its last
 * put began. Without store times (a driver that has none) the wall clocks decide.
 */
static bool lease_expired(const struct lease_scan *sc, const struct lease_seen *ls,
                          const struct lease_info *li)
{
    if (sc->store_now_ms < 0 || ls->mtime_ms < 0)
        return li->expires_ms <= now_ms();
    int64_t ttl = li->expires_ms - li->written_ms;
    if (ttl <= 0)
        return true;
    int64_t margin = ttl / 10 > LEASE_MARGIN_MS ? ttl / 10 : LEASE_MARGIN_MS;
    return sc->store_now_ms - ls->mtime_ms > ttl + margin;
}

/* Reads one listed lease: returns 1 when it is live and in the way (filling found). */
static int lease_judge(struct lease_scan *sc, const struct lease_seen *ls, cairn_err *e)
{
    buf m;
    cairn_err sub;
    int rc = read_small(sc->r->s, ls->key, LEASE_MAX, &m, &sub);
    if (rc == CAIRN_ENOENT)
        return 0; /* released meanwhile */
    if (rc) {
        if (e)
            *e = sub;
        return rc;
    }
    struct lease_info li;
    bool ok = m.data && lease_parse((const char *)m.data, &li); /* buf keeps a NUL after */
    buf_free(&m);
    if (!ok) {
        log_warn("repository %s: ignoring %s, which is not a valid lease", store_url(sc->r->s),
                 ls->key);
        return 0;
    }
    if (lease_expired(sc, ls, &li)) {
        /* A viewer (repo_lease_each) has no lease of its own, so no store time to judge
         * by: it skips what looks expired and leaves the removal to acquirers. */
        if (sc->fn)
            return 0;
        log_info("repository %s: removing expired %s lease of %s (%s)", store_url(sc->r->s),
                 li.exclusive ? "exclusive" : "shared", li.owner, ls->key);
        if (store_delete(sc->r->s, ls->key, NULL) == 0)
            sc->r->leases_removed++;
        return 0;
    }
    if (sc->fn) {
        repo_lease_view v = {ls->key, li.exclusive, li.owner, li.expires_ms};
        return sc->fn(sc->fn_arg, &v, e);
    }
    if (!sc->any_blocks && !li.exclusive)
        return 0;
    sc->found = li;
    snprintf(sc->found_key, sizeof(sc->found_key), "%s", ls->key);
    return 1;
}

/* Lists locks/ (with the store's times) and judges every lease but self. */
static int lease_scan_run(struct lease_scan *sc, cairn_err *e)
{
    int rc = store_list_ex(sc->r->s, REPO_LOCKS_PREFIX, lease_collect, sc, e);
    const struct lease_seen *all = (const struct lease_seen *)sc->seen.data;
    size_t n = sc->seen.len / sizeof(*all);
    for (size_t i = 0; !rc && i < n; i++)
        rc = lease_judge(sc, &all[i], e);
    buf_free(&sc->seen);
    return rc;
}

/* 0 when nothing is in the way, CAIRN_EBUSY naming the holder, or an error. */
static int lease_check(repo *r, repo_lease_kind kind, const char *self, int64_t *store_ms,
                       cairn_err *e)
{
    struct lease_scan sc = {.r = r,
                            .self = self,
                            .any_blocks = kind == REPO_LEASE_EXCLUSIVE,
                            .store_now_ms = -1,
                            .seen = BUF_INIT};
    int rc = lease_scan_run(&sc, e);
    *store_ms = sc.store_now_ms;
    if (rc < 0)
        return err_prefix(e, "cannot check the leases of repository %s", store_url(r->s));
    if (rc == 0)
        return 0;
    int64_t left = (sc.found.expires_ms - sc.found.written_ms + 999) / 1000;
    if (kind == REPO_LEASE_SHARED)
        return err_set(e, CAIRN_EBUSY,
                       "repository %s is locked exclusively by '%s' (%s, ttl %" PRId64
                       " s): wait until it finishes; a lease of a crashed process "
                       "expires by itself",
                       store_url(r->s), sc.found.owner, sc.found_key, left);
    return err_set(e, CAIRN_EBUSY,
                   "repository %s is in use by '%s' (%s lease %s, ttl %" PRId64
                   " s): wait until it finishes; a lease of a crashed process expires by itself",
                   store_url(r->s), sc.found.owner, sc.found.exclusive ? "exclusive" : "shared",
                   sc.found_key, left);
}

int repo_lease_acquire(repo *r, repo_lease_kind kind, const char *owner, unsigned ttl_s,
                       repo_lease **out, cairn_err *e)
{
    *out = NULL;
    if (ttl_s == 0)
        return err_set(e, CAIRN_EINVAL, "a lease needs a time to live of at least 1 s");
    /* No check before the write: our own lease's store time is the "now" against
     * which the others' expiry is judged (lease_expired). */
    int rc;
    repo_lease *l = calloc(1, sizeof(*l));
    if (!l)
        return err_set(e, CAIRN_ENOMEM, "out of memory taking a lease");
    unsigned char rnd[8];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        free(l);
        return err_set(e, CAIRN_EIO, "no random bytes available to name a lease");
    }
    l->r = r;
    l->kind = kind;
    l->ttl_s = ttl_s;
    char name[2 * sizeof(rnd) + 1];
    hex_encode(rnd, sizeof(rnd), name);
    int n =
        snprintf(l->key, sizeof(l->key), REPO_LOCKS_PREFIX "%s-%s.lease", kind_name(kind), name);
    CAIRN_ASSERT(n > 0 && (size_t)n < sizeof(l->key));
    /* The owner ends up on one line of a text object: keep it printable. */
    snprintf(l->owner, sizeof(l->owner), "%s", owner ? owner : "unknown");
    for (char *p = l->owner; *p; p++) {
        if (*p < 0x20 || *p > 0x7e)
            *p = '?';
    }
    rc = lease_write(l, e);
    if (rc) {
        free(l);
        return err_prefix(e, "cannot take a lease on repository %s", store_url(r->s));
    }
    /* Of two racing acquirers, whoever wrote second sees the other now and backs
     * off (both may). */
    rc = lease_check(r, kind, l->key, &l->store_ms, e);
    if (rc) {
        store_delete(r->s, l->key, NULL);
        free(l);
        return rc;
    }
    pthread_mutex_lock(&r->lease_mu);
    l->next = r->held;
    r->held = l;
    pthread_mutex_unlock(&r->lease_mu);
    *out = l;
    return 0;
}

int repo_lease_renew(repo_lease *l, cairn_err *e)
{
    CAIRN_ASSERT(l->ttl_s > 0 && l->expires_ms > 0); /* written once by acquire */
    pthread_mutex_lock(&l->r->lease_mu);
    int64_t deadline = l->deadline_mono_ms;
    pthread_mutex_unlock(&l->r->lease_mu);
    if (clock_ms(CLOCK_BOOTTIME) >= deadline)
        return err_set(e, CAIRN_ETIMEDOUT,
                       "the %s lease of '%s' on repository %s expired before it was renewed; "
                       "others may have acted on that: start the operation again",
                       kind_name(l->kind), l->owner, store_url(l->r->s));
    int rc = lease_write(l, e);
    return rc ? err_prefix(e, "cannot renew the lease on repository %s", store_url(l->r->s)) : 0;
}

int repo_lease_each(repo *r, repo_lease_cb cb, void *ctx, cairn_err *e)
{
    struct lease_scan sc = {.r = r, .fn = cb, .fn_arg = ctx, .store_now_ms = -1, .seen = BUF_INIT};
    int rc = lease_scan_run(&sc, e);
    if (rc < 0)
        return err_prefix(e, "cannot list the leases of repository %s", store_url(r->s));
    return rc;
}

int repo_lease_break(repo *r, const char *key, cairn_err *e)
{
    if (strncmp(key, REPO_LOCKS_PREFIX, strlen(REPO_LOCKS_PREFIX)) != 0)
        return err_set(e, CAIRN_EINVAL, "%s is not a lease", key);
    int rc = store_delete(r->s, key, e);
    if (rc == CAIRN_ENOENT) {
        err_clear(e); /* gone already: what was asked */
        rc = 0;
    }
    return rc ? err_prefix(e, "cannot remove lease %s", key) : 0;
}

void repo_lease_release(repo_lease *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->r->lease_mu);
    for (repo_lease **p = &l->r->held; *p; p = &(*p)->next) {
        if (*p == l) {
            *p = l->next;
            break;
        }
    }
    pthread_mutex_unlock(&l->r->lease_mu);
    cairn_err e;
    if (store_delete(l->r->s, l->key, &e) != 0)
        log_warn("could not release lease %s (it will expire by itself): %s", l->key, e.msg);
    free(l);
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

int repo_blob_totals(repo *r, uint64_t *count, uint64_t *bytes, cairn_err *e)
{
    uint64_t t[2] = {0, 0};
    int rc = store_list(r->s, "blobs/", blob_total_cb, t, e);
    if (rc)
        return err_prefix(e, "cannot list the blobs of repository %s", store_url(r->s));
    *count = t[0];
    *bytes = t[1];
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

int64_t repo_lease_store_ms(const repo_lease *l)
{
    return l->store_ms;
}

uint64_t repo_leases_removed(const repo *r)
{
    return r->leases_removed;
}

int repo_leases_check(repo *r, cairn_err *e)
{
    int rc = 0;
    int64_t now = clock_ms(CLOCK_BOOTTIME);
    pthread_mutex_lock(&r->lease_mu);
    for (const repo_lease *l = r->held; l && !rc; l = l->next) {
        if (now >= l->deadline_mono_ms)
            rc = err_set(e, CAIRN_ETIMEDOUT,
                         "the %s lease of '%s' on repository %s was not renewed within its "
                         "%u s; a purge may have run meanwhile",
                         kind_name(l->kind), l->owner, store_url(r->s), l->ttl_s);
    }
    pthread_mutex_unlock(&r->lease_mu);
    return rc;
}
