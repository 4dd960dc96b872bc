/*
 * lease - the repository's leases: backups (and restores) share, purge excludes.
 *
 * Design notes. A lease is a small text object under locks/ naming its kind, owner,
 * expiry and the time it was written. Acquiring writes the lease and then lists
 * locks/ once, so of two racing acquirers at least the second sees the first; both
 * may back off, neither wrongly proceeds. Expiry is judged by the store's clock
 * alone (lease_expired): the acquirer's own put stamps the store's "now", and another
 * lease is expired when its last put is older than that by more than its ttl plus a
 * margin; the holder gives up once its ttl has passed on its own monotonic clock
 * since its last put began, so no two machines' clocks are ever compared. The
 * leases a process holds are kept in a list under a mutex, so that writers of
 * cluster manifests can check that theirs is still live (repo_leases_check).
 */
#include <inttypes.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/debug.h"
#include "base/hex.h"
#include "base/log.h"
#include "repo/repo.h"
#include "repo/repo_impl.h"

#define LEASE_MAX   4096
#define LEASE_MAGIC "cairn-lease 1"
/* Slack on top of a lease's ttl before others judge it expired: S3 stamps whole
 * seconds, and a renewal takes a request's time to land. */
#define LEASE_MARGIN_MS 2000

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

static const char *kind_name(repo_lease_kind k)
{
    return k == REPO_LEASE_EXCLUSIVE ? "exclusive" : "shared";
}

static int lease_write(repo_lease *l, cairn_err *e)
{
    char text[LEASE_MAX];
    /* Taken before the put: the store stamps it later, so our deadline comes first.
     * CLOCK_BOOTTIME goes on while the machine is suspended, as the store's does. */
    int64_t mono = repo_clock_ms(CLOCK_BOOTTIME);
    int64_t now = repo_now_ms();
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
    repo_lease_cb others; /* repo_lease_acquire_seeing: sees the live leases not in the way */
    void *others_arg;
    bool refused;         /* others said no */
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
        return li->expires_ms <= repo_now_ms();
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
    int rc = repo_read_small(sc->r->s, ls->key, LEASE_MAX, &m, &sub);
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
    if (!sc->any_blocks && !li.exclusive) {
        if (!sc->others)
            return 0;
        repo_lease_view v = {ls->key, li.exclusive, li.owner, li.expires_ms};
        rc = sc->others(sc->others_arg, &v, e);
        CAIRN_ASSERT(rc <= 0);
        sc->refused = rc != 0;
        return rc;
    }
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
                       repo_lease_cb others, void *others_arg, cairn_err *e)
{
    struct lease_scan sc = {.r = r,
                            .self = self,
                            .any_blocks = kind == REPO_LEASE_EXCLUSIVE,
                            .others = others,
                            .others_arg = others_arg,
                            .store_now_ms = -1,
                            .seen = BUF_INIT};
    int rc = lease_scan_run(&sc, e);
    *store_ms = sc.store_now_ms;
    if (sc.refused)
        return rc;
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
    return repo_lease_acquire_seeing(r, kind, owner, ttl_s, NULL, NULL, out, e);
}

int repo_lease_acquire_seeing(repo *r, repo_lease_kind kind, const char *owner, unsigned ttl_s,
                              repo_lease_cb others, void *ctx, repo_lease **out, cairn_err *e)
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
    rc = lease_check(r, kind, l->key, &l->store_ms, others, ctx, e);
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
    if (repo_clock_ms(CLOCK_BOOTTIME) >= deadline)
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
    int64_t now = repo_clock_ms(CLOCK_BOOTTIME);
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
