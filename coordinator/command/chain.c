#include "command/chain.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "command/catalog.h"
#include "repo/manifest.h"

static bool parse_relative(const char *s, uint64_t now_ms, uint64_t *out)
{
    char *end;
    if (s[0] != '-' || s[1] < '0' || s[1] > '9')
        return false;
    unsigned long long v = strtoull(s + 1, &end, 10);
    uint64_t unit = strcmp(end, "s") == 0   ? 1000
                    : strcmp(end, "m") == 0 ? 60000
                    : strcmp(end, "h") == 0 ? 3600000
                    : strcmp(end, "d") == 0 ? 86400000
                                            : 0;
    if (!unit || v > 100000ULL * 86400 || v * unit > now_ms)
        return false;
    *out = now_ms - v * unit;
    return true;
}

static bool parse_rfc3339(const char *s, uint64_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int n = 0;
    char sep;
    if (sscanf(s, "%4d-%2d-%2d%c%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &sep,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 7 ||
        (sep != 'T' && sep != 't' && sep != ' ') || tm.tm_mon < 1 || tm.tm_mon > 12 ||
        tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
        return false;
    const char *p = s + n;
    uint64_t ms = 0;
    if (*p == '.') {
        uint64_t scale = 100;
        if (p[1] < '0' || p[1] > '9')
            return false;
        for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
            ms += (uint64_t)(*p - '0') * scale;
    }
    long offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om, k = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &k) != 2 || k != 5 || oh > 23 || om > 59)
            return false;
        offset_s = (*p == '+' ? 1 : -1) * (oh * 3600L + om * 60L);
        p += 6;
    } else {
        return false; /* a time without its zone means nothing to a cluster-wide restore */
    }
    if (*p)
        return false;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    if (t < 0 || (long)t < offset_s)
        return false;
    *out = (uint64_t)((long)t - offset_s) * 1000 + ms;
    return true;
}

int chain_parse_time(const char *s, uint64_t now_ms, uint64_t *out, cairn_err *e)
{
    if (parse_relative(s, now_ms, out) || parse_rfc3339(s, out))
        return 0;
    return err_set(e, CAIRN_EINVAL,
                   "'%s' is not a time: write RFC 3339 with its zone (2026-12-07T18:00:00Z, "
                   "2026-12-07T19:00:00+01:00) or a time before now (-90s, -15m, -2h, -1d)",
                   s);
}

typedef struct at_scan {
    uint64_t at, best, oldest;
    char *tag;
    size_t cap;
    bool found;
} at_scan;

static int consider(void *ctx, const char *tag, const Cairn__Repo__ClusterManifest *m, cairn_err *e)
{
    (void)e;
    at_scan *a = ctx;
    uint64_t p = catalog_point_ms(m);
    if (!a->oldest || p < a->oldest)
        a->oldest = p;
    if (p <= a->at && (!a->found || p > a->best)) {
        a->best = p;
        a->found = true;
        snprintf(a->tag, a->cap, "%s", tag);
    }
    return 0;
}

int chain_at(repo *r, const char *cluster, uint64_t at_ms, char *tag, size_t cap, cairn_err *e)
{
    at_scan a = {.at = at_ms, .tag = tag, .cap = cap};
    int rc = catalog_each(r, cluster, consider, &a, e);
    if (rc || a.found)
        return rc;
    if (!a.oldest)
        return err_set(e, CAIRN_ENOENT, "no complete backup of cluster %s in the repository",
                       cluster);
    time_t t = (time_t)(a.oldest / 1000);
    struct tm tm;
    char when[32];
    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return err_set(e, CAIRN_ENOENT,
                   "no backup of cluster %s is at or before that time: the oldest point is %s",
                   cluster, when);
}

void chain_free(Cairn__Repo__ClusterManifest **chain, size_t n)
{
    /* The last is the caller's. */
    for (size_t i = 0; chain && n && i + 1 < n; i++)
        cairn__repo__cluster_manifest__free_unpacked(chain[i], NULL);
    free(chain);
}

/* Reads the backup before m in its chain into *out. */
static int read_previous(repo *r, const char *cluster, const Cairn__Repo__ClusterManifest *m,
                         Cairn__Repo__ClusterManifest **out, cairn_err *e)
{
    char key[1024];
    repo_cluster_manifest_key(cluster, m->previous_tag, key, sizeof(key));
    int rc = manifest_cluster_read(r, key, out, e);
    if (rc == CAIRN_ENOENT)
        return err_set(e, CAIRN_ECORRUPT,
                       "increment %s needs backup %s, which is not in the repository: the "
                       "chain is broken, restore an earlier point",
                       m->tag, m->previous_tag);
    if (rc)
        return rc;
    /* Backups of a cluster run one at a time, so a chain goes back in time: an older
     * start also ends a walk through a loop of names. */
    if (strcmp((*out)->base_tag ? (*out)->base_tag : (*out)->tag, m->base_tag) != 0 ||
        (*out)->start_ms >= m->start_ms) {
        rc = err_set(e, CAIRN_ECORRUPT,
                     "increment %s follows %s, which is not an earlier backup of base %s", m->tag,
                     m->previous_tag, m->base_tag);
        cairn__repo__cluster_manifest__free_unpacked(*out, NULL);
    }
    return rc;
}

int chain_load(repo *r, const char *cluster, Cairn__Repo__ClusterManifest *last,
               Cairn__Repo__ClusterManifest ***out, size_t *n, cairn_err *e)
{
    size_t len = 1, cap = 8;
    Cairn__Repo__ClusterManifest **c = malloc(cap * sizeof(*c));
    if (!c)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    c[0] = last; /* newest first while walking; reversed at the end */
    int rc = 0;
    while (!rc && c[len - 1]->base_tag) {
        const Cairn__Repo__ClusterManifest *m = c[len - 1];
        if (!m->previous_tag || len >= CHAIN_MAX) {
            rc = err_set(e, CAIRN_ECORRUPT, "increment %s names no previous backup within %d",
                         m->tag, CHAIN_MAX);
            break;
        }
        if (len == cap) {
            Cairn__Repo__ClusterManifest **nc = realloc(c, 2 * cap * sizeof(*c));
            if (!nc) {
                rc = err_set(e, CAIRN_ENOMEM, "out of memory");
                break;
            }
            c = nc;
            cap *= 2;
        }
        if ((rc = read_previous(r, cluster, m, &c[len], e)) == 0)
            len++;
    }
    for (size_t i = 0; i < len / 2; i++) {
        Cairn__Repo__ClusterManifest *t = c[i];
        c[i] = c[len - 1 - i];
        c[len - 1 - i] = t;
    }
    if (rc) {
        chain_free(c, len);
        return rc;
    }
    *out = c;
    *n = len;
    return 0;
}
