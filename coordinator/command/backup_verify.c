#include "command/backup_verify.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/repocheck.h"
#include "repo/blob.h"
#include "repo/manifest.h"

typedef struct first_problem {
    size_t n;
    cairn_err *e;
} first_problem;

static void print_problem(void *ctx, const char *msg)
{
    first_problem *fp = ctx;
    fprintf(stderr, "cairn backup: %s\n", msg);
    if (fp->n++ == 0)
        err_set(fp->e, CAIRN_EREMOTE, "%s", msg);
}

int backup_check_repository(fleet *f, repo *r, unsigned parallel, store_counts *cost, cairn_err *e)
{
    first_problem fp = {.e = e};
    size_t bad =
        repocheck_agents(f, repo_url(r), repo_id(r), true, parallel, print_problem, &fp, cost);
    if (!bad)
        return 0;
    return err_prefix(e, "%zu of %zu nodes do not see repository %s; nothing was uploaded", bad,
                      fleet_size(f), repo_url(r));
}

/* What the listing of the backup's nodes/ must show: one object per node, each of
 * the size its agent reported. */
/* An agent older than manifest_size reports none: presence is all the listing shows. */
#define SIZE_ANY UINT64_MAX

typedef struct expect {
    const char *key;
    uint64_t size; /* SIZE_ANY when not reported */
    bool seen;
} expect;

typedef struct listing {
    expect *want;
    size_t n;
} listing;

static int list_one(void *ctx, const store_entry *ent, cairn_err *e)
{
    (void)e;
    listing *l = ctx;
    for (size_t i = 0; i < l->n; i++) {
        expect *x = &l->want[i];
        if (strcmp(x->key, ent->key) == 0) {
            x->seen = x->size == SIZE_ANY || x->size == ent->size;
            break;
        }
    }
    return 0;
}

/* The manifest key node i reported: the one the coordinator expects for that host, and
 * with its SHA-256, or an error naming the node. */
static int reported(fleet *f, const jobrun_node *jn, const char *cluster, const char *tag,
                    expect *x, cairn_err *e)
{
    const fleet_agent *a = fleet_get(f, jn->agent);
    const Cairn__Rpc__JobInfo *j = jn->job;
    const char *host = a->info ? a->info->host_id : "?";
    char want[STORE_KEY_MAX + 1];
    repo_node_manifest_key(cluster, tag, host, want, sizeof(want));
    if (!j || !j->manifest_key || !j->manifest_sha256)
        return err_set(e, CAIRN_EPROTO,
                       "node %s (agent %s) finished its upload without naming its node "
                       "manifest; no backup was recorded",
                       host, a->addr);
    if (strcmp(j->manifest_key, want) != 0 || !blob_id_valid(j->manifest_sha256))
        return err_set(e, CAIRN_EPROTO,
                       "node %s (agent %s) reported node manifest %.300s, not %s with a "
                       "SHA-256; no backup was recorded",
                       host, a->addr, j->manifest_key, want);
    x->key = j->manifest_key;
    x->size = j->has_manifest_size ? j->manifest_size : SIZE_ANY;
    return 0;
}

int backup_check_node_manifests(fleet *f, repo *r, const char *cluster, const char *tag,
                                const jobrun_node *jobs, size_t n, cairn_err *e)
{
    listing l = {.want = calloc(n ? n : 1, sizeof(expect)), .n = n};
    if (!l.want)
        return err_set(e, CAIRN_ENOMEM, "out of memory checking the node manifests");
    int rc = 0;
    for (size_t i = 0; !rc && i < n; i++)
        rc = reported(f, &jobs[i], cluster, tag, &l.want[i], e);
    char prefix[STORE_KEY_MAX + 1];
    snprintf(prefix, sizeof(prefix), REPO_BACKUPS_PREFIX "%s/%s/nodes/", cluster, tag);
    if (!rc && (rc = repo_manifest_list_ex(r, prefix, list_one, &l, e)) != 0)
        err_prefix(e, "cannot list the node manifests of backup %s", tag);
    for (size_t i = 0; !rc && i < n; i++) {
        if (l.want[i].seen)
            continue;
        const fleet_agent *a = fleet_get(f, jobs[i].agent);
        rc = err_set(e, CAIRN_ENOENT,
                     "node %s (agent %s) wrote its node manifest %s, but the repository the "
                     "coordinator sees at %s holds no such object of %" PRIu64
                     " bytes: every node must see the same repository (for file://, one "
                     "shared file system mounted at the same path everywhere, "
                     "docs/storage.md)",
                     a->info ? a->info->host_id : "?", a->addr, l.want[i].key, repo_url(r),
                     l.want[i].size);
    }
    free(l.want);
    return rc;
}
