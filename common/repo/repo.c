#include "repo/repo.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "repo/blob.h"
#include "base/log.h"
#include "repo.pb-c.h"

#define INFO_MAX    (1u << 20)
#define LEASE_MAX   4096
#define OWNER_MAX   256
#define READ_BUF    (256u << 10)
#define LEASE_MAGIC "cairn-lease 1"

struct repo {
    store *s;
    char *id;
};

struct repo_lease {
    repo *r;
    repo_lease_kind kind;
    char key[96];
    char owner[OWNER_MAX + 1];
    unsigned ttl_s;
    int64_t expires_ms;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Collects a small object into memory, refusing more than cap bytes. */
struct membuf {
    unsigned char *data;
    size_t len, cap, max;
};

static int membuf_sink(void *ctx, const void *buf, size_t len, cairn_err *e)
{
    struct membuf *m = ctx;
    if (m->len + len > m->max)
        return err_set(e, CAIRN_ECORRUPT, "object is larger than the %zu bytes it may have",
                       m->max);
    if (m->len + len > m->cap) {
        size_t cap = m->cap ? m->cap : 1024;
        while (cap < m->len + len)
            cap *= 2;
        unsigned char *grown = realloc(m->data, cap);
        if (!grown)
            return err_set(e, CAIRN_ENOMEM, "out of memory reading an object");
        m->data = grown;
        m->cap = cap;
    }
    memcpy(m->data + m->len, buf, len);
    m->len += len;
    return 0;
}

static int read_small(store *s, const char *key, size_t max, struct membuf *m, cairn_err *e)
{
    memset(m, 0, sizeof(*m));
    m->max = max;
    int rc = store_get(s, key, membuf_sink, m, e);
    if (rc) {
        free(m->data);
        m->data = NULL;
    }
    return rc;
}

static int make_uuid(char out[37], cairn_err *e)
{
    unsigned char u[16];
    if (RAND_bytes(u, sizeof(u)) != 1)
        return err_set(e, CAIRN_EIO, "no random bytes available for the repository id");
    u[6] = (unsigned char)((u[6] & 0x0f) | 0x40);
    u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);
    char *p = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        p += sprintf(p, "%02x", u[i]);
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
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return err_set(e, CAIRN_ENOMEM, "out of memory creating the repository");
    cairn__repo__repo_info__pack(&info, buf);
    rc = store_put_buf(s, REPO_INFO_KEY, buf, len, e);
    free(buf);
    return rc;
}

/* Reads cairn.repo. Two simultaneous inits may both write it; the last rename
 * wins, and re-reading after the write makes both adopt the surviving id. */
static int load_info(repo *r, const char *url, bool create, cairn_err *e)
{
    struct membuf m;
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
    free(m.data);
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

void repo_blob_key(const char *id, char *buf, size_t cap)
{
    snprintf(buf, cap, "blobs/%.2s/%s", id, id);
}

void repo_node_manifest_key(const char *cluster, const char *tag, const char *host_id, char *buf,
                            size_t cap)
{
    snprintf(buf, cap, "backups/%s/%s/nodes/%s.manifest", cluster, tag, host_id);
}

void repo_cluster_manifest_key(const char *cluster, const char *tag, char *buf, size_t cap)
{
    snprintf(buf, cap, "backups/%s/%s/backup.manifest", cluster, tag);
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
};

static int put_sink(void *ctx, const void *buf, size_t len, cairn_err *e)
{
    struct put_ctx *p = ctx;
    ratelimit_take(p->rl, len);
    p->stored += len;
    return store_writer_write(p->w, buf, len, e);
}

/* Feeds fd to the encoder, returning the SHA-256 of what was read. */
static int encode_fd(int fd, blob_enc *enc, struct put_ctx *p, char got[BLOB_ID_HEX + 1],
                     cairn_err *e)
{
    unsigned char *buf = malloc(READ_BUF);
    EVP_MD_CTX *sha = EVP_MD_CTX_new();
    int rc = 0;
    if (!buf || !sha || EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1) {
        rc = err_set(e, CAIRN_ENOMEM, "out of memory uploading a file");
        goto out;
    }
    for (uint64_t off = 0;;) {
        ssize_t n = pread(fd, buf, READ_BUF, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = err_sys(e, errno, "cannot read the file at offset %" PRIu64, off);
            goto out;
        }
        if (n == 0)
            break;
        EVP_DigestUpdate(sha, buf, (size_t)n);
        rc = blob_enc_write(enc, buf, (size_t)n, put_sink, p, e);
        if (rc)
            goto out;
        off += (uint64_t)n;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_DigestFinal_ex(sha, md, &mdlen);
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(got + 2 * i, 3, "%02x", md[i]);
out:
    EVP_MD_CTX_free(sha);
    free(buf);
    return rc;
}

int repo_blob_put_fd(repo *r, const char *id, int fd, int level, ratelimit *rl,
                     uint64_t *stored_bytes, cairn_err *e)
{
    char key[128], got[BLOB_ID_HEX + 1];
    int rc = check_id(id, e);
    if (rc)
        return rc;
    repo_blob_key(id, key, sizeof(key));
    struct put_ctx p = {.rl = rl};
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

static int get_sink(void *ctx, const void *buf, size_t len, cairn_err *e)
{
    struct get_ctx *g = ctx;
    return blob_dec_write(g->dec, buf, len, g->sink, g->ctx, e);
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
    char buf[LEASE_MAX];
    int64_t now = now_ms();
    int64_t expires = now + (int64_t)l->ttl_s * 1000;
    int n = snprintf(buf, sizeof(buf),
                     LEASE_MAGIC "\nkind: %s\nowner: %s\nexpires_ms: %" PRId64
                                 "\nwritten_ms: %" PRId64 "\n",
                     kind_name(l->kind), l->owner, expires, now);
    int rc = store_put_buf(l->r->s, l->key, buf, (size_t)n, e);
    if (!rc)
        l->expires_ms = expires;
    return rc;
}

struct lease_info {
    bool exclusive;
    char owner[OWNER_MAX + 1];
    int64_t expires_ms;
};

static bool lease_parse(const char *text, struct lease_info *li)
{
    if (strncmp(text, LEASE_MAGIC "\n", sizeof(LEASE_MAGIC)) != 0)
        return false;
    bool have_kind = false, have_exp = false;
    li->owner[0] = '\0';
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
        }
        line = end ? end + 1 : NULL;
    }
    return have_kind && have_exp;
}

struct lease_scan {
    repo *r;
    const char *self; /* our own lease key, skipped; may be NULL */
    bool any_blocks;  /* exclusive acquire: every live lease is in the way */
    struct lease_info found;
    char found_key[STORE_KEY_MAX + 1];
};

/* List callback: stops (returning 1) at the first live lease in the way. */
static int lease_scan_cb(void *ctx, const char *key, uint64_t size, cairn_err *e)
{
    struct lease_scan *sc = ctx;
    if (sc->self && strcmp(key, sc->self) == 0)
        return 0;
    struct membuf m;
    cairn_err sub;
    int rc = read_small(sc->r->s, key, LEASE_MAX, &m, &sub);
    if (rc == CAIRN_ENOENT)
        return 0; /* released meanwhile */
    if (rc) {
        if (e)
            *e = sub;
        return rc;
    }
    m.max++; /* room for the terminating NUL */
    struct lease_info li;
    bool ok = membuf_sink(&m, "", 1, &sub) == 0 && lease_parse((const char *)m.data, &li);
    free(m.data);
    if (!ok) {
        log_warn("repository %s: ignoring %s, which is not a valid lease", store_url(sc->r->s),
                 key);
        return 0;
    }
    if (li.expires_ms <= now_ms()) {
        log_info("repository %s: removing expired %s lease of %s (%s)", store_url(sc->r->s),
                 li.exclusive ? "exclusive" : "shared", li.owner, key);
        store_delete(sc->r->s, key, NULL);
        return 0;
    }
    if (!sc->any_blocks && !li.exclusive)
        return 0;
    sc->found = li;
    snprintf(sc->found_key, sizeof(sc->found_key), "%s", key);
    return 1;
}

/* 0 when nothing is in the way, CAIRN_EBUSY naming the holder, or an error. */
static int lease_check(repo *r, repo_lease_kind kind, const char *self, cairn_err *e)
{
    struct lease_scan sc = {.r = r, .self = self, .any_blocks = kind == REPO_LEASE_EXCLUSIVE};
    int rc = store_list(r->s, REPO_LOCKS_PREFIX, lease_scan_cb, &sc, e);
    if (rc < 0)
        return err_prefix(e, "cannot check the leases of repository %s", store_url(r->s));
    if (rc == 0)
        return 0;
    int64_t left = (sc.found.expires_ms - now_ms() + 999) / 1000;
    if (kind == REPO_LEASE_SHARED)
        return err_set(e, CAIRN_EBUSY,
                       "repository %s is locked exclusively by '%s' (%s, expires in %" PRId64
                       " s): wait until it finishes; a lease of a crashed process "
                       "expires by itself",
                       store_url(r->s), sc.found.owner, sc.found_key, left);
    return err_set(e, CAIRN_EBUSY,
                   "repository %s is in use by '%s' (%s lease %s, expires in %" PRId64
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
    int rc = lease_check(r, kind, NULL, e);
    if (rc)
        return rc;
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
    int n = snprintf(l->key, sizeof(l->key), REPO_LOCKS_PREFIX "%s-", kind_name(kind));
    for (size_t i = 0; i < sizeof(rnd); i++)
        n += snprintf(l->key + n, sizeof(l->key) - (size_t)n, "%02x", rnd[i]);
    snprintf(l->key + n, sizeof(l->key) - (size_t)n, ".lease");
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
    /* Someone may have written a conflicting lease between our check and our
     * write; whoever wrote second sees the other now and backs off. */
    rc = lease_check(r, kind, l->key, e);
    if (rc) {
        store_delete(r->s, l->key, NULL);
        free(l);
        return rc;
    }
    *out = l;
    return 0;
}

int repo_lease_renew(repo_lease *l, cairn_err *e)
{
    if (now_ms() >= l->expires_ms)
        return err_set(e, CAIRN_ETIMEDOUT,
                       "the %s lease of '%s' on repository %s expired before it was renewed; "
                       "others may have acted on that: start the operation again",
                       kind_name(l->kind), l->owner, store_url(l->r->s));
    int rc = lease_write(l, e);
    return rc ? err_prefix(e, "cannot renew the lease on repository %s", store_url(l->r->s)) : 0;
}

void repo_lease_release(repo_lease *l)
{
    if (!l)
        return;
    cairn_err e;
    if (store_delete(l->r->s, l->key, &e) != 0)
        log_warn("could not release lease %s (it will expire by itself): %s", l->key, e.msg);
    free(l);
}
