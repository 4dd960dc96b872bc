#include "command/backup_verify.h"

#include <stdio.h>

#include "fleet/repocheck.h"
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
    size_t bad = repocheck_agents(f, repo_url(r), repo_id(r), parallel, print_problem, &fp, cost);
    if (!bad)
        return 0;
    return err_prefix(e, "%zu of %zu nodes do not see repository %s; nothing was uploaded", bad,
                      fleet_size(f), repo_url(r));
}

int backup_check_node_manifests(fleet *f, repo *r, const jobrun_node *jobs, size_t n, cairn_err *e)
{
    for (size_t i = 0; i < n; i++) {
        const fleet_agent *a = fleet_get(f, jobs[i].agent);
        const Cairn__Rpc__JobInfo *j = jobs[i].job;
        const char *host = a->info ? a->info->host_id : "?";
        if (!j || !j->manifest_key || !j->manifest_sha256)
            return err_set(e, CAIRN_EPROTO,
                           "node %s (agent %s) finished its upload without naming its node "
                           "manifest; no backup was recorded",
                           host, a->addr);
        /* An agent older than manifest_size reports none: the SHA-256 still covers it. */
        uint64_t size = j->has_manifest_size ? j->manifest_size : MANIFEST_SIZE_ANY;
        int rc = repo_manifest_verify(r, j->manifest_key, size, j->manifest_sha256, e);
        if (rc)
            return err_prefix(e,
                              "node %s (agent %s) wrote its node manifest, but not to the "
                              "repository the coordinator sees: every node must see the same "
                              "repository (for file://, one shared file system mounted at the "
                              "same path everywhere, docs/storage.md)",
                              host, a->addr);
    }
    return 0;
}
