#include "command/backup_incr.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

/* Pruning a node reads its manifest from the agent's copy and removes files: give it
 * longer than a quick request. */
#define PRUNE_TIMEOUT_FACTOR 10

int backup_incr_check(fleet *f, const backup_parent *parent, const char *cluster, cairn_err *e)
{
    if (!parent)
        return err_set(e, CAIRN_ENOENT,
                       "cluster %s has no complete backup for an increment to build on: run "
                       "`cairn backup` first",
                       cluster);
    size_t off = 0;
    const char *first = NULL;
    for (size_t i = 0; i < fleet_size(f); i++) {
        const Cairn__Rpc__NodeInfo *info = fleet_get(f, i)->info;
        if (!info || !info->has_incremental_backups || info->incremental_backups)
            continue;
        fprintf(stderr, "cairn backup: incremental backups are off on node %s (%s)\n",
                info->host_id, info->address);
        if (!first)
            first = info->host_id;
        off++;
    }
    if (!off)
        return 0;
    return err_set(e, CAIRN_EINVAL,
                   "incremental backups are off on %zu node%s (first %s): set "
                   "`incremental_backups: true` in scylla.yaml and restart ScyllaDB, or run "
                   "`cairn incremental enable` (at once, but only until ScyllaDB restarts)",
                   off, off == 1 ? "" : "s", first);
}

uint64_t backup_incr_base_time(const backup_parent *parent, const Cairn__Repo__NodeRef *prev)
{
    if (prev->has_base_time_ms)
        return prev->base_time_ms;
    bool parent_is_base = strcmp(backup_parent_base(parent), backup_parent_tag(parent)) == 0;
    return parent_is_base && prev->has_snapshot_time_ms ? prev->snapshot_time_ms : 0;
}

void backup_incr_node_ref(const backup_parent *parent, Cairn__Repo__NodeRef *ref)
{
    const Cairn__Repo__NodeRef *prev = backup_parent_node(parent, ref->host_id);
    if (prev && prev->has_snapshot_time_ms) {
        ref->has_window_start_ms = 1;
        ref->window_start_ms = prev->snapshot_time_ms;
    }
    uint64_t base = prev ? backup_incr_base_time(parent, prev) : 0;
    ref->has_base_time_ms = base != 0;
    ref->base_time_ms = base;
}

typedef struct prune_run {
    const jobrun_node **job_of; /* per agent: its job, NULL when none */
    const char *url, *repo_id;
    const backup_parent *parent;
    Cairn__Rpc__Table **views;
    size_t n_views;
    backup_incr_pruned total;
    pthread_mutex_t mu;
} prune_run;

static void prune_one(fleet *f, size_t i, void *arg)
{
    prune_run *p = arg;
    const Cairn__Rpc__JobInfo *j = p->job_of[i]->job;
    Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;
    Cairn__Rpc__PruneBackupsRequest pr = CAIRN__RPC__PRUNE_BACKUPS_REQUEST__INIT;
    pr.repository = (char *)p->url;
    pr.repository_id = (char *)p->repo_id;
    pr.manifest_key = j->manifest_key;
    pr.manifest_sha256 = j->manifest_sha256;
    const Cairn__Repo__NodeRef *prev =
        backup_parent_node(p->parent, fleet_get(f, i)->info->host_id);
    pr.base_time_ms = prev ? backup_incr_base_time(p->parent, prev) : 0;
    pr.has_base_time_ms = pr.base_time_ms != 0;
    pr.views = p->views;
    pr.n_views = p->n_views;
    rq.op_case = CAIRN__RPC__REQUEST__OP_PRUNE_BACKUPS;
    rq.prune_backups = &pr;
    Cairn__Rpc__Response *resp = NULL;
    cairn_err e;
    int rc = fleet_call(f, i, &rq, &resp, fleet_timeout_ms(f) * PRUNE_TIMEOUT_FACTOR, &e);
    if (!rc && resp->result_case != CAIRN__RPC__RESPONSE__RESULT_PRUNED)
        rc = err_set(&e, CAIRN_EPROTO, "the agent answered without what it removed");
    pthread_mutex_lock(&p->mu);
    if (rc) {
        p->total.failed++;
        log_warn("node %s: the links this increment recorded stay in backups/ until the next "
                 "increment removes them: %s",
                 fleet_get(f, i)->addr, e.msg);
    } else {
        p->total.files += resp->pruned->files;
        p->total.bytes += resp->pruned->bytes;
    }
    pthread_mutex_unlock(&p->mu);
    if (resp)
        cairn__rpc__response__free_unpacked(resp, NULL);
}

backup_incr_pruned backup_incr_prune(fleet *f, const jobrun_node *jobs, size_t n,
                                     const backup_parent *parent, const char *url,
                                     const char *repo_id, Cairn__Repo__ViewEntry *const *views,
                                     size_t n_views, unsigned parallel)
{
    prune_run p = {.url = url, .repo_id = repo_id, .parent = parent, .n_views = n_views};
    size_t *idx = calloc(n ? n : 1, sizeof(*idx));
    p.job_of = calloc(fleet_size(f) ? fleet_size(f) : 1, sizeof(*p.job_of));
    Cairn__Rpc__Table *tables = calloc(n_views ? n_views : 1, sizeof(*tables));
    p.views = calloc(n_views ? n_views : 1, sizeof(*p.views));
    if (!idx || !p.job_of || !tables || !p.views) {
        free(idx);
        free(p.job_of);
        free(tables);
        free(p.views);
        log_warn("out of memory: the links this increment recorded stay in backups/ until the "
                 "next increment removes them");
        p.total.failed = n;
        return p.total;
    }
    for (size_t i = 0; i < n_views; i++) {
        cairn__rpc__table__init(&tables[i]);
        tables[i].keyspace = views[i]->keyspace;
        tables[i].name = views[i]->name;
        p.views[i] = &tables[i];
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!jobs[i].job || !jobs[i].job->manifest_key)
            continue;
        idx[k++] = jobs[i].agent;
        p.job_of[jobs[i].agent] = &jobs[i];
    }
    pthread_mutex_init(&p.mu, NULL);
    fleet_each(f, idx, k, parallel, prune_one, &p);
    pthread_mutex_destroy(&p.mu);
    free(idx);
    free(p.job_of);
    free(tables);
    free(p.views);
    return p.total;
}
