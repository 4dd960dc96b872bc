#include "backup/hashcache.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/crc.h"
#include "base/hex.h"
#include "base/log.h"

/*
 * File layout, little-endian: a 16-byte header ("CAIRNHC\0", u32 version, u32
 * record size), then records of REC_SIZE bytes:
 *   u64 dev, u64 ino, u64 size, i64 mtime_ns, 32 bytes SHA-256, u32 crc,
 *   u32 flags (bit 0: crc present), u32 CRC-32 of the 72 bytes before it.
 * A later record for the same key replaces an earlier one.
 */
#define HC_MAGIC     "CAIRNHC"
#define HC_VERSION   1
#define HEADER_SIZE  16
#define REC_SIZE     76
#define REC_BODY     72
#define FLAG_CRC     1u
#define LOAD_RECORDS 4096

struct hc_entry {
    uint64_t dev, ino, size;
    int64_t mtime_ns;
    uint8_t id[32];
    uint32_t crc;
    uint8_t has_crc;
    uint8_t seen; /* looked up or stored since open */
};

struct hashcache {
    pthread_mutex_t lock;
    char *path;
    int fd;
    struct hc_entry *ents;
    size_t n, cap;
    uint32_t *slots; /* open addressing: index + 1 into ents, 0 when free */
    size_t nslots;   /* a power of two */
    uint64_t file_records;
    bool pruned;
};

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 29);
}

static uint64_t entry_hash(const struct hc_entry *k)
{
    return mix(mix(mix(mix(0, k->dev), k->ino), k->size), (uint64_t)k->mtime_ns);
}

static bool same_key(const struct hc_entry *a, const struct hc_entry *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime_ns == b->mtime_ns;
}

static void key_of(const struct stat *st, struct hc_entry *k)
{
    memset(k, 0, sizeof(*k));
    k->dev = (uint64_t)st->st_dev;
    k->ino = (uint64_t)st->st_ino;
    k->size = (uint64_t)st->st_size;
    k->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* The slot holding k, or the free slot where it belongs. */
static size_t find_slot(const hashcache *h, const struct hc_entry *k)
{
    size_t mask = h->nslots - 1;
    for (size_t i = (size_t)entry_hash(k) & mask;; i = (i + 1) & mask) {
        uint32_t s = h->slots[i];
        if (s == 0 || same_key(&h->ents[s - 1], k))
            return i;
    }
}

static int rehash(hashcache *h, size_t nslots)
{
    uint32_t *slots = calloc(nslots, sizeof(*slots));
    if (!slots)
        return CAIRN_ENOMEM;
    free(h->slots);
    h->slots = slots;
    h->nslots = nslots;
    for (size_t i = 0; i < h->n; i++)
        h->slots[find_slot(h, &h->ents[i])] = (uint32_t)(i + 1);
    return 0;
}

/* Inserts or replaces; returns the entry, or NULL when out of memory. */
static struct hc_entry *put_entry(hashcache *h, const struct hc_entry *v)
{
    if ((h->n + 1) * 4 > h->nslots * 3 && rehash(h, h->nslots ? h->nslots * 2 : 1024) != 0)
        return NULL;
    size_t slot = find_slot(h, v);
    if (h->slots[slot]) {
        struct hc_entry *old = &h->ents[h->slots[slot] - 1];
        *old = *v;
        return old;
    }
    if (h->n == UINT32_MAX - 1)
        return NULL;
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap + h->cap / 2 : 1024;
        struct hc_entry *grown = realloc(h->ents, cap * sizeof(*grown));
        if (!grown)
            return NULL;
        h->ents = grown;
        h->cap = cap;
    }
    h->ents[h->n] = *v;
    h->slots[slot] = (uint32_t)(++h->n);
    return &h->ents[h->n - 1];
}

static void encode_record(const struct hc_entry *v, uint8_t rec[REC_SIZE])
{
    put_u64(rec, v->dev);
    put_u64(rec + 8, v->ino);
    put_u64(rec + 16, v->size);
    put_u64(rec + 24, (uint64_t)v->mtime_ns);
    memcpy(rec + 32, v->id, 32);
    put_u32(rec + 64, v->crc);
    put_u32(rec + 68, v->has_crc ? FLAG_CRC : 0);
    put_u32(rec + REC_BODY, crc_update(0, rec, REC_BODY));
}

static bool decode_record(const uint8_t rec[REC_SIZE], struct hc_entry *v)
{
    if (get_u32(rec + REC_BODY) != crc_update(0, rec, REC_BODY))
        return false;
    memset(v, 0, sizeof(*v));
    v->dev = get_u64(rec);
    v->ino = get_u64(rec + 8);
    v->size = get_u64(rec + 16);
    v->mtime_ns = (int64_t)get_u64(rec + 24);
    memcpy(v->id, rec + 32, 32);
    v->crc = get_u32(rec + 64);
    v->has_crc = (get_u32(rec + 68) & FLAG_CRC) != 0;
    return true;
}

static void encode_header(uint8_t hdr[HEADER_SIZE])
{
    memcpy(hdr, HC_MAGIC, 8);
    put_u32(hdr + 8, HC_VERSION);
    put_u32(hdr + 12, REC_SIZE);
}

static int write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static ssize_t read_full(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, (uint8_t *)buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/* Reads every record into memory. Bad records are skipped; the file is cut after
 * the last good one so that appends land on a record boundary after a torn write.
 * A file of another format starts the cache afresh. */
static int load(hashcache *h, cairn_err *e)
{
    uint8_t hdr[HEADER_SIZE], want[HEADER_SIZE];
    encode_header(want);
    ssize_t n = read_full(h->fd, hdr, sizeof(hdr));
    if (n < 0)
        return err_sys(e, errno, "cannot read the hash cache %s", h->path);
    if (n != HEADER_SIZE || memcmp(hdr, want, HEADER_SIZE) != 0) {
        if (n > 0)
            log_warn("hash cache %s has an unknown format; starting it afresh", h->path);
        if (ftruncate(h->fd, 0) != 0 || write_all(h->fd, want, sizeof(want)) != 0)
            return err_sys(e, errno, "cannot write the hash cache %s", h->path);
        return 0;
    }
    uint8_t *buf = malloc((size_t)REC_SIZE * LOAD_RECORDS);
    if (!buf)
        return err_set(e, CAIRN_ENOMEM, "out of memory loading the hash cache %s", h->path);
    off_t good_end = HEADER_SIZE, pos = HEADER_SIZE;
    uint64_t bad = 0, kept_bad = 0; /* damaged records before the last good one */
    int rc = 0;
    while ((n = read_full(h->fd, buf, (size_t)REC_SIZE * LOAD_RECORDS)) > 0) {
        for (ssize_t off = 0; off + REC_SIZE <= n; off += REC_SIZE) {
            struct hc_entry v;
            pos += REC_SIZE;
            if (!decode_record(buf + off, &v)) {
                bad++;
                continue;
            }
            if (!put_entry(h, &v)) {
                rc = err_set(e, CAIRN_ENOMEM, "out of memory loading the hash cache %s", h->path);
                goto out;
            }
            h->file_records++;
            good_end = pos;
            kept_bad = bad;
        }
        if (n % REC_SIZE)
            break; /* a partial record can only be the end */
    }
    if (n < 0) {
        rc = err_sys(e, errno, "cannot read the hash cache %s", h->path);
        goto out;
    }
    struct stat st;
    if (fstat(h->fd, &st) == 0 && st.st_size > good_end) {
        log_warn("hash cache %s: dropping %lld bytes after the last intact record (an "
                 "interrupted write)",
                 h->path, (long long)(st.st_size - good_end));
        if (ftruncate(h->fd, good_end) != 0)
            rc = err_sys(e, errno, "cannot repair the hash cache %s", h->path);
    }
    if (kept_bad > 0)
        log_warn("hash cache %s: skipped %llu damaged records", h->path,
                 (unsigned long long)kept_bad);
    h->file_records += kept_bad;
out:
    free(buf);
    return rc;
}

static void hashcache_free(hashcache *h)
{
    if (h->fd >= 0)
        close(h->fd);
    pthread_mutex_destroy(&h->lock);
    free(h->ents);
    free(h->slots);
    free(h->path);
    free(h);
}

int hashcache_open(hashcache **out, const char *state_dir, cairn_err *e)
{
    *out = NULL;
    if (mkdir(state_dir, 0700) != 0 && errno != EEXIST)
        return err_sys(e, errno, "cannot create the state directory %s", state_dir);
    hashcache *h = calloc(1, sizeof(*h));
    if (!h)
        return err_set(e, CAIRN_ENOMEM, "out of memory opening the hash cache");
    pthread_mutex_init(&h->lock, NULL);
    h->fd = -1;
    size_t len = strlen(state_dir) + sizeof("/" HASHCACHE_FILE);
    if (!(h->path = malloc(len)) || rehash(h, 1024) != 0) {
        hashcache_free(h);
        return err_set(e, CAIRN_ENOMEM, "out of memory opening the hash cache");
    }
    snprintf(h->path, len, "%s/" HASHCACHE_FILE, state_dir);
    h->fd = open(h->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (h->fd < 0) {
        int rc = err_sys(e, errno, "cannot open the hash cache %s", h->path);
        hashcache_free(h);
        return rc;
    }
    int rc = load(h, e);
    if (rc) {
        hashcache_free(h);
        return rc;
    }
    *out = h;
    return 0;
}

bool hashcache_lookup(hashcache *h, const struct stat *st, char id[65], uint32_t *crc,
                      bool *has_crc)
{
    struct hc_entry k;
    key_of(st, &k);
    pthread_mutex_lock(&h->lock);
    uint32_t s = h->slots[find_slot(h, &k)];
    if (s) {
        struct hc_entry *v = &h->ents[s - 1];
        v->seen = 1;
        hex_encode(v->id, sizeof(v->id), id);
        if (crc)
            *crc = v->crc;
        if (has_crc)
            *has_crc = v->has_crc;
    }
    pthread_mutex_unlock(&h->lock);
    return s != 0;
}

int hashcache_store(hashcache *h, const struct stat *st, const char *id,
                    const uint32_t *crc_or_null, cairn_err *e)
{
    struct hc_entry v;
    key_of(st, &v);
    if (hex_decode(id, v.id, sizeof(v.id)) != 0 || id[64] != '\0')
        return err_set(e, CAIRN_EINVAL, "'%.70s' is not a blob id (64 lowercase hex digits)", id);
    v.has_crc = crc_or_null != NULL;
    v.crc = crc_or_null ? *crc_or_null : 0;
    v.seen = 1;
    uint8_t rec[REC_SIZE];
    encode_record(&v, rec);

    int rc = 0;
    pthread_mutex_lock(&h->lock);
    uint32_t s = h->slots[find_slot(h, &v)];
    const struct hc_entry *old = s ? &h->ents[s - 1] : NULL;
    if (old && memcmp(old->id, v.id, 32) == 0 && old->has_crc == v.has_crc && old->crc == v.crc) {
        h->ents[s - 1].seen = 1;
    } else if (!put_entry(h, &v)) {
        rc = err_set(e, CAIRN_ENOMEM, "out of memory adding to the hash cache");
    } else {
        int err = write_all(h->fd, rec, sizeof(rec));
        if (err)
            rc = err_sys(e, err, "cannot append to the hash cache %s", h->path);
        else
            h->file_records++;
    }
    pthread_mutex_unlock(&h->lock);
    return rc;
}

size_t hashcache_prune(hashcache *h)
{
    pthread_mutex_lock(&h->lock);
    size_t kept = 0;
    for (size_t i = 0; i < h->n; i++) {
        if (h->ents[i].seen)
            h->ents[kept++] = h->ents[i];
    }
    size_t dropped = h->n - kept;
    h->n = kept;
    if (dropped) {
        h->pruned = true;
        /* Rebuilding in place cannot fail for lack of memory: the table is as large
         * as before and holds fewer entries. */
        memset(h->slots, 0, h->nslots * sizeof(*h->slots));
        for (size_t i = 0; i < h->n; i++)
            h->slots[find_slot(h, &h->ents[i])] = (uint32_t)(i + 1);
    }
    pthread_mutex_unlock(&h->lock);
    return dropped;
}

size_t hashcache_count(hashcache *h)
{
    pthread_mutex_lock(&h->lock);
    size_t n = h->n;
    pthread_mutex_unlock(&h->lock);
    return n;
}

/* Writes the live entries to a temporary and renames it over the cache. */
static int compact(hashcache *h, cairn_err *e)
{
    size_t len = strlen(h->path) + sizeof(".tmp");
    char *tmp = malloc(len);
    uint8_t *buf = malloc((size_t)REC_SIZE * LOAD_RECORDS);
    int rc = 0, err = 0, fd = -1;
    if (!tmp || !buf) {
        rc = err_set(e, CAIRN_ENOMEM, "out of memory compacting the hash cache");
        goto out;
    }
    snprintf(tmp, len, "%s.tmp", h->path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = err_sys(e, errno, "cannot write %s", tmp);
        goto out;
    }
    encode_header(buf);
    err = write_all(fd, buf, HEADER_SIZE);
    for (size_t i = 0; i < h->n && !err; i += LOAD_RECORDS) {
        size_t k = h->n - i < LOAD_RECORDS ? h->n - i : LOAD_RECORDS;
        for (size_t j = 0; j < k; j++)
            encode_record(&h->ents[i + j], buf + j * REC_SIZE);
        err = write_all(fd, buf, k * REC_SIZE);
    }
    if (!err && fsync(fd) != 0)
        err = errno;
    if (close(fd) != 0 && !err)
        err = errno;
    if (!err && rename(tmp, h->path) != 0)
        err = errno;
    if (err) {
        unlink(tmp);
        rc = err_sys(e, err, "cannot rewrite the hash cache %s", h->path);
        goto out;
    }
    char *slash = strrchr(h->path, '/');
    *slash = '\0';
    int dfd = open(h->path[0] ? h->path : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    *slash = '/';
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
out:
    free(tmp);
    free(buf);
    return rc;
}

int hashcache_close(hashcache *h, cairn_err *e)
{
    if (!h)
        return 0;
    int rc = 0;
    if (h->pruned || h->file_records > 2 * (uint64_t)h->n)
        rc = compact(h, e);
    hashcache_free(h);
    return rc;
}
