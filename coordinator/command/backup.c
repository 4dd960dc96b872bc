/*
 * backup - `cairn backup`: one consistent backup of the whole cluster.
 *
 * Check the cluster, lease the repository, flush everywhere, snapshot everywhere with
 * one tag, dump the schema once, have every agent upload its node, then write the
 * cluster manifest, last, which is what makes the backup exist. On any failure no
 * cluster manifest is written and the snapshots of the tag are cleared.
 *
 * Guards (backup_guard.c): a second backup of the cluster under another tag is
 * refused, and a re-run of a killed attempt's tag first stops that attempt's jobs
 * and clears its snapshot. SIGINT/SIGTERM (cli/interrupt.h): the agents' jobs are
 * cancelled, the snapshots cleared, the lease released, what was kept is printed,
 * and the command exits 130.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fleet/check.h"
#include "cmd.h"
#include "cli/human.h"
#include "base/log.h"
#include "repo/manifest.h"
#include "fleet/jobrun.h"
#include "repo/repo.h"
#include "cli/select.h"
#include "command/backup_guard.h"
#include "command/backup_incr.h"
#include "command/backup_opts.h"
#include "command/expire.h"
#include "command/lease_keep.h"
#include "cli/interrupt.h"
#include "command/backup_verify.h"
#include "command/backup_keyspaces.h"
#include "command/backup_metrics.h"
#include "command/backup_nodes.h"
#include "command/backup_parent.h"
#include "command/backup_views.h"
#include "command/backup_report.h"

#define LEASE_TTL_S 120

typedef struct backup_run {
    const coord_config *cfg;
    backup_opts *o;
    fleet *f;
    backup_node *nodes;
    size_t n;
    Cairn__Rpc__Table **tables;
    size_t n_tables;
    Cairn__Rpc__UploadRequest *upload; /* one per node, alive while the jobs start */
    jobrun_node *jobs;
    bool refused;        /* another backup runs: this one touched nothing */
    metrics *mx;         /* with --metrics-file */
    size_t failed_nodes; /* in the flush or snapshot step */
    /* Requests agents sent outside their upload jobs (repository check, schema). */
    store_counts agent_requests;
    backup_parent *parent;                 /* the last complete backup, NULL when none */
    Cairn__Rpc__Response *schema;          /* the schema step's answer: its views, recorded */
    const char *repo_id;                   /* cairn.repo's id, as the coordinator read it */
    Cairn__Repo__KeyspaceInfo **keyspaces; /* of the tables, as the schema dump said */
    size_t n_keyspaces;
} backup_run;

/* The tables of the backup: every selected user table any node knows. */
static int select_tables(backup_run *b, cairn_err *e)
{
    for (size_t i = 0; i < b->n; i++) {
        const Cairn__Rpc__NodeInfo *info = fleet_get(b->f, b->nodes[i].agent)->info;
        for (size_t t = 0; t < info->n_tables; t++) {
            Cairn__Rpc__Table *tb = info->tables[t];
            if (!select_match(&b->o->c.filter, tb->keyspace, tb->name))
                continue;
            bool seen = false;
            for (size_t k = 0; k < b->n_tables && !seen; k++)
                seen = strcmp(b->tables[k]->keyspace, tb->keyspace) == 0 &&
                       strcmp(b->tables[k]->name, tb->name) == 0;
            if (seen)
                continue;
            Cairn__Rpc__Table **nt = realloc(b->tables, (b->n_tables + 1) * sizeof(*nt));
            if (!nt)
                return err_set(e, CAIRN_ENOMEM, "out of memory");
            b->tables = nt;
            nt[b->n_tables++] = tb; /* owned by the fleet */
        }
    }
    if (b->n_tables == 0)
        return err_set(
            e, CAIRN_ENOENT,
            "no user table matches the --keyspace/--exclude patterns: nothing to back up");
    return 0;
}

/* The upload request for node i; the same request re-attaches to a running job. */
static void upload_request(void *arg, size_t i, Cairn__Rpc__Request *rq)
{
    backup_run *b = arg;
    Cairn__Rpc__UploadRequest *ur = &b->upload[i];
    cairn__rpc__upload_request__init(ur);
    ur->tag = b->o->tag;
    ur->repository = b->cfg->repository;
    ur->repository_id = (char *)b->repo_id;
    ur->tables = b->tables;
    ur->n_tables = b->n_tables;
    ur->has_rate_limit = b->o->rate_limit != 0;
    ur->rate_limit = b->o->rate_limit;
    ur->has_keep_snapshot = 1;
    ur->keep_snapshot = b->o->keep_snapshot;
    ur->has_compression_level = 1;
    ur->compression_level = (int32_t)b->cfg->compression_level;
    ur->has_snapshot_time_ms = 1;
    ur->snapshot_time_ms = b->nodes[i].snapshot_ms;
    ur->has_incremental = 1;
    ur->incremental = b->o->incremental;
    const char *host = fleet_get(b->f, b->nodes[i].agent)->info->host_id;
    const Cairn__Repo__NodeRef *pn = backup_parent_node(b->parent, host);
    if (pn) {
        ur->parent_manifest_key = pn->manifest_key;
        ur->parent_manifest_sha256 = pn->manifest_sha256;
        ur->base_time_ms = b->o->incremental ? backup_incr_base_time(b->parent, pn) : 0;
        ur->has_base_time_ms = ur->base_time_ms != 0;
        cairn_err e;
        if (backup_parent_links(b->parent, host, &ur->known_increments, &ur->n_known_increments,
                                &e) != 0)
            log_warn("%s: node %s uploads again what the increments since %s hold", e.msg, host,
                     backup_parent_tag(b->parent));
    }
    rq->op_case = CAIRN__RPC__REQUEST__OP_UPLOAD;
    rq->upload = ur;
}

static int write_cluster_manifest(backup_run *b, repo *r, const char *schema_blob,
                                  uint64_t schema_size, uint64_t start_ms, uint64_t skew,
                                  Cairn__Repo__ClusterManifest *m, cairn_err *e)
{
    Cairn__Repo__NodeRef *refs = calloc(b->n, sizeof(*refs));
    Cairn__Repo__NodeRef **ptrs = calloc(b->n, sizeof(*ptrs));
    if (!refs || !ptrs) {
        free(refs);
        free(ptrs);
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    }
    m->format_version = MANIFEST_FORMAT_VERSION;
    m->cluster = b->cfg->cluster;
    m->tag = b->o->tag;
    m->start_ms = start_ms;
    m->tool_version = (char *)CAIRN_VERSION;
    m->schema_blob = (char *)schema_blob;
    m->has_schema_size = m->has_skew_ms = m->has_files = m->has_bytes = 1;
    m->has_uploaded_bytes = m->has_tables = 1;
    m->schema_size = schema_size;
    m->skew_ms = skew;
    m->tables = b->n_tables;
    m->keyspaces = b->keyspaces;
    m->n_keyspaces = b->n_keyspaces;
    m->keyspace_filter = (char **)b->o->c.filter.include;
    m->n_keyspace_filter = b->o->c.filter.n_include;
    m->exclude_filter = (char **)b->o->c.filter.exclude;
    m->n_exclude_filter = b->o->c.filter.n_exclude;
    m->views = b->schema->schema->views;
    m->n_views = b->schema->schema->n_views;
    if (b->o->incremental) {
        m->base_tag = (char *)backup_parent_base(b->parent);
        m->previous_tag = (char *)backup_parent_tag(b->parent);
    }
    for (size_t i = 0; i < b->n; i++) {
        const Cairn__Rpc__NodeInfo *info = fleet_get(b->f, b->nodes[i].agent)->info;
        const Cairn__Rpc__JobInfo *j = b->jobs[i].job;
        Cairn__Repo__NodeRef *ref = &refs[i];
        cairn__repo__node_ref__init(ref);
        ref->host_id = info->host_id;
        ref->manifest_key = j->manifest_key;
        ref->manifest_sha256 = j->manifest_sha256;
        ref->address = info->address;
        ref->dc = info->dc;
        ref->rack = info->rack;
        ref->has_snapshot_time_ms = ref->has_files = ref->has_bytes = ref->has_tables = 1;
        ref->snapshot_time_ms = b->nodes[i].snapshot_ms;
        ref->files = j->files_done;
        ref->bytes = j->bytes_done;
        ref->tables = j->tables;
        if (b->o->incremental)
            backup_incr_node_ref(b->parent, ref);
        ptrs[i] = ref;
        m->files += j->files_done;
        m->bytes += j->bytes_done;
        m->uploaded_bytes += j->bytes_uploaded;
        m->has_stored_bytes = 1, m->stored_bytes += j->bytes_stored;
    }
    m->nodes = ptrs;
    m->n_nodes = b->n;
    m->end_ms = human_now_ms();
    char key[1024];
    repo_cluster_manifest_key(b->cfg->cluster, b->o->tag, key, sizeof(key));
    int rc = manifest_cluster_write(r, key, m, e);
    m->nodes = NULL;
    m->n_nodes = 0;
    m->views = NULL; /* the schema answer's */
    m->n_views = 0;
    free(refs);
    free(ptrs);
    return rc;
}

/* The last complete backup, whose manifests tell the agents what the repository
 * holds; without one every file is uploaded as new, which is slower, never wrong.
 * Its listing also tells whether the tag is taken; when it fails, a HEAD does. */
static void find_parent(backup_run *b, repo *r, bool *tag_taken)
{
    cairn_err pe;
    if (backup_parent_find(r, b->cfg->cluster, b->o->tag, !b->o->incremental, &b->parent, tag_taken,
                           &pe) == 0) {
        if (b->parent)
            log_info("files the last backup (%s) holds are not uploaded again",
                     backup_parent_tag(b->parent));
        return;
    }
    log_warn("could not read the last backup of cluster %s, so every file is uploaded as "
             "new: %s",
             b->cfg->cluster, pe.msg);
    char key[1024];
    repo_cluster_manifest_key(b->cfg->cluster, b->o->tag, key, sizeof(key));
    *tag_taken = repo_manifest_stat(r, key, NULL, NULL) == 0;
}

/* The tables, a tag that no backup of the cluster has yet, and the parent. */
static int check_new(backup_run *b, repo *r, cairn_err *e)
{
    int rc = select_tables(b, e);
    if (rc)
        return rc;
    bool taken = false;
    find_parent(b, r, &taken);
    if (taken)
        return err_set(e, CAIRN_EEXIST, "a backup tagged %s already exists: choose another --tag",
                       b->o->tag);
    return b->o->incremental ? backup_incr_check(b->f, b->parent, b->cfg->cluster, e) : 0;
}

static int interrupted(cairn_err *e)
{
    if (!interrupt_requested())
        return 0;
    return err_set(e, CAIRN_EBUSY, "backup interrupted by signal %d", interrupt_signal());
}

static backup_nodes nodes_of(const backup_run *b)
{
    return (backup_nodes){.f = b->f,
                          .nodes = b->nodes,
                          .n = b->n,
                          .tables = b->tables,
                          .n_tables = b->n_tables,
                          .tag = b->o->tag};
}

/* Flushes, then snapshots every node; *skew is the spread of the snapshot times. */
static int take_snapshots(backup_run *b, uint64_t *skew, cairn_err *e)
{
    backup_nodes s = nodes_of(b);
    /* A killed attempt of this tag may still upload, or have left its snapshot. */
    backup_guard_clear_stale(b->f, b->o->tag);
    int rc = interrupted(e);
    if (rc)
        return rc;
    if (!b->o->c.json)
        fprintf(stderr, "flushing %zu tables on %zu nodes\n", b->n_tables, b->n);
    int failed = backup_nodes_flush(&s, &b->failed_nodes, e);
    if ((rc = interrupted(e)) != 0 || (rc = failed) != 0)
        return rc;
    failed = backup_nodes_snapshot(&s, &b->failed_nodes, e);
    if ((rc = interrupted(e)) != 0 || (rc = failed) != 0)
        return rc;
    *skew = backup_nodes_spread(&s);
    if (!b->o->c.json)
        fprintf(stderr, "snapshot %s taken on %zu nodes (skew %llu ms)\n", b->o->tag, b->n,
                (unsigned long long)*skew);
    return 0;
}

/* An increment's point in time on each node: once its memtables are flushed (unless
 * --no-flush), every write before it is in an SSTable ScyllaDB linked into backups/. */
static int flush_for_increment(backup_run *b, uint64_t *skew, cairn_err *e)
{
    backup_guard_clear_stale(b->f, b->o->tag);
    int rc = interrupted(e);
    if (rc)
        return rc;
    if (!b->o->no_flush) {
        if (!b->o->c.json)
            fprintf(stderr, "flushing %zu tables on %zu nodes\n", b->n_tables, b->n);
        backup_nodes s = nodes_of(b);
        int failed = backup_nodes_flush(&s, &b->failed_nodes, e);
        if ((rc = interrupted(e)) != 0 || (rc = failed) != 0)
            return rc;
    }
    /* Taken once every node has flushed: the point is after each node's flush. */
    uint64_t now = human_now_ms();
    for (size_t i = 0; i < b->n; i++)
        b->nodes[i].snapshot_ms = now;
    *skew = 0;
    return 0;
}

/* The schema once, from the first node, into blob (65 bytes). */
static int backup_schema(backup_run *b, char *blob, uint64_t *size, cairn_err *e)
{
    Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;
    Cairn__Rpc__SchemaRequest sr = CAIRN__RPC__SCHEMA_REQUEST__INIT;
    sr.repository = b->cfg->repository;
    sr.repository_id = (char *)b->repo_id;
    sr.parent_blob = b->parent ? (char *)backup_parent_schema(b->parent) : NULL;
    rq.op_case = CAIRN__RPC__REQUEST__OP_SCHEMA;
    rq.schema = &sr;
    Cairn__Rpc__Response *resp = NULL;
    if (fleet_call(b->f, b->nodes[0].agent, &rq, &resp, fleet_timeout_ms(b->f), e) != 0)
        return err_prefix(e, "schema backup");
    if (resp->result_case != CAIRN__RPC__RESPONSE__RESULT_SCHEMA) {
        cairn__rpc__response__free_unpacked(resp, NULL);
        return err_set(e, CAIRN_EPROTO, "the agent answered the schema request without a blob");
    }
    snprintf(blob, 65, "%s", resp->schema->blob);
    *size = resp->schema->size;
    fleet_requests_add(&b->agent_requests, resp->schema->requests);
    b->schema = resp;
    return backup_keyspaces(resp->schema, b->tables, b->n_tables, &b->keyspaces, &b->n_keyspaces,
                            e);
}

/* Views and indexes go unuploaded (backup_views.h). */
static int leave_views_out(backup_run *b, cairn_err *e)
{
    size_t gone = backup_views_leave_out(b->schema->schema, b->tables, &b->n_tables);
    if (gone && !b->o->c.json)
        fprintf(stderr,
                "leaving %zu views and indexes out (ScyllaDB builds them from their base "
                "tables)\n",
                gone);
    if (b->n_tables == 0)
        return err_set(e, CAIRN_ENOENT,
                       "the selected tables are all views or indexes: nothing to back up (select "
                       "their base tables)");
    return 0;
}

/* Every node uploads its share, as one agent job each. */
static int upload_all(backup_run *b, cairn_err *e)
{
    b->upload = calloc(b->n, sizeof(*b->upload));
    b->jobs = calloc(b->n, sizeof(*b->jobs));
    if (!b->upload || !b->jobs)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    for (size_t i = 0; i < b->n; i++)
        b->jobs[i].agent = b->nodes[i].agent;
    return jobrun_all(b->f, b->jobs, b->n, b->o->c.parallel, "backup", b->o->c.json, upload_request,
                      b, e);
}

/* The increment is recorded: its links in backups/ can go. */
static void prune_backups(backup_run *b, repo *r)
{
    const Cairn__Rpc__SchemaResult *sr = b->schema->schema;
    backup_incr_pruned p = backup_incr_prune(b->f, b->jobs, b->n, b->parent, repo_url(r),
                                             repo_id(r), sr->views, sr->n_views, b->o->c.parallel);
    if (!b->o->c.json) {
        char sz[32];
        fprintf(stderr, "removed %llu uploaded links (%s) from backups/ on %zu nodes\n",
                (unsigned long long)p.files, human_bytes(p.bytes, sz, sizeof(sz)), b->n - p.failed);
    }
}

/* Runs the backup; once its cluster manifest is written the lease (*lk) is released
 * and set to NULL, before the report, so that the report counts every request. */
static int run_backup(backup_run *b, repo *r, lease_keep **lk, cairn_err *e)
{
    uint64_t start_ms = human_now_ms(), t0 = human_mono_ms();
    uint64_t skew = 0, schema_size = 0;
    char schema_blob[65];
    b->repo_id = repo_id(r);
    int rc = check_new(b, r, e);
    if (!rc)
        rc = backup_check_repository(b->f, r, b->o->c.parallel, &b->agent_requests, e);
    if (!rc)
        rc = b->o->incremental ? flush_for_increment(b, &skew, e) : take_snapshots(b, &skew, e);
    if (!rc)
        rc = backup_schema(b, schema_blob, &schema_size, e);
    if (!rc)
        rc = leave_views_out(b, e);
    if (!rc)
        rc = interrupted(e);
    if (!rc)
        rc = upload_all(b, e);
    if (!rc)
        rc = backup_check_node_manifests(b->f, r, b->cfg->cluster, b->o->tag, b->jobs, b->n, e);
    if (rc)
        return rc;
    Cairn__Repo__ClusterManifest m = CAIRN__REPO__CLUSTER_MANIFEST__INIT;
    rc = write_cluster_manifest(b, r, schema_blob, schema_size, start_ms, skew, &m, e);
    if (rc)
        return err_prefix(e, "writing the cluster manifest");
    if (b->o->incremental)
        prune_backups(b, r);
    lease_keep_stop(*lk);
    *lk = NULL;
    store_counts q = backup_report_requests(r, b->jobs, b->n, &b->agent_requests);
    backup_report_done(b->o->tag, b->o->c.json, b->n, b->n_tables, &m, &q, human_mono_ms() - t0);
    if (b->mx)
        backup_metrics_done(b->mx, b->f, b->jobs, b->n, b->n_tables, &m, &q);
    return 0;
}

/* Opens the fleet and checks that the cluster is ready; one backup_node per agent. */
static int open_cluster(backup_run *b, check_result *chk, cairn_err *e)
{
    int rc = fleet_open(&b->f, b->cfg, e);
    if (!rc)
        rc = check_cluster(b->f, chk, e);
    if (rc)
        return rc;
    if (!chk->ready) {
        check_print_problems(chk);
        return err_set(e, CAIRN_EREMOTE, "the cluster is not ready for a backup (see above)");
    }
    b->n = fleet_size(b->f);
    b->nodes = calloc(b->n, sizeof(*b->nodes));
    if (!b->nodes)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    for (size_t i = 0; i < b->n; i++)
        b->nodes[i].agent = i;
    return 0;
}

/* Runs the backup under the shared lease, renewed while it runs; on failure the
 * snapshots of the tag are cleared unless the operator keeps them. */
static int leased_backup(backup_run *b, repo *r, cairn_err *e)
{
    backup_owner self = {.pid = (long)getpid(), .start_ms = human_now_ms()};
    snprintf(self.cluster, sizeof(self.cluster), "%s", b->cfg->cluster);
    snprintf(self.tag, sizeof(self.tag), "%s", b->o->tag);
    if (gethostname(self.host, sizeof(self.host)) != 0 || !self.host[0])
        snprintf(self.host, sizeof(self.host), "?");
    self.host[sizeof(self.host) - 1] = '\0';
    for (char *p = self.host; *p; p++)
        if (*p == ' ')
            *p = '_'; /* the owner text is split at spaces */
    char owner[512];
    backup_owner_format(&self, owner, sizeof(owner));
    lease_keep *lk = NULL;
    /* Shared: a purge (which leases exclusively) waits; another backup of this cluster
     * is refused by the guard. */
    backup_guard g;
    backup_guard_init(&g, r, &self);
    int rc = lease_keep_start_seeing(&lk, r, REPO_LEASE_SHARED, owner, LEASE_TTL_S, "backup",
                                     backup_guard_seen, &g, e);
    if (rc) {
        b->refused = true; /* nothing of ours to clean up */
        return rc;
    }
    rc = run_backup(b, r, &lk, e);
    lease_keep_stop(lk);
    if (rc && !b->o->keep_snapshot && !b->o->incremental) {
        backup_nodes s = nodes_of(b);
        backup_nodes_clear(&s);
    }
    return rc;
}

int cmd_backup(const coord_config *cfg, int argc, char **argv)
{
    backup_opts o;
    memset(&o, 0, sizeof(o));
    int prc = backup_opts_parse(&o, argc, argv);
    if (prc) {
        cliopt_common_free(&o.c);
        return prc < 0 ? CMD_OK : prc;
    }
    cairn_err e;
    err_clear(&e);
    if (coord_config_need_repository(cfg, &e)) {
        fprintf(stderr, "cairn backup: %s\n", e.msg);
        cliopt_common_free(&o.c);
        return CMD_USAGE;
    }
    interrupt_install();
    uint64_t t0 = human_mono_ms();
    backup_run b = {.cfg = cfg, .o = &o};
    check_result chk;
    memset(&chk, 0, sizeof(chk));
    repo *r = NULL;
    int rc = o.metrics_file ? metrics_new(&b.mx, cfg->cluster, &e) : 0;
    if (rc)
        goto done;
    rc = open_cluster(&b, &chk, &e);
    if (rc)
        goto done;
    if ((rc = repo_open(&r, cfg->repository, cfg->store, true, &e)) != 0)
        goto done;
    rc = leased_backup(&b, r, &e);
    if (!rc && !o.no_retention)
        retention_after_backup(cfg, r);
done:
    if (rc && interrupt_requested()) {
        backup_report_interrupted(b.jobs, b.n, b.o->keep_snapshot);
    } else if (rc) {
        fprintf(stderr, "cairn backup: %s\n", e.msg);
        if (b.nodes && !b.refused)
            fprintf(stderr, "cairn backup: no backup was recorded; blobs already uploaded will "
                            "be reused by the next backup\n");
    }
    if (b.mx) {
        size_t failed = b.failed_nodes; /* the steps end at the first that fails */
        for (size_t i = 0; b.jobs && i < b.n; i++)
            failed += b.jobs[i].failed;
        backup_metrics_write(b.mx, o.metrics_file, failed, rc == 0, human_mono_ms() - t0);
    }
    metrics_free(b.mx);
    jobrun_free(b.jobs, b.n);
    free(b.upload);
    backup_parent_free(b.parent);
    if (b.schema)
        cairn__rpc__response__free_unpacked(b.schema, NULL);
    free(b.nodes);
    free(b.tables);
    backup_keyspaces_free(b.keyspaces, b.n_keyspaces);
    check_result_free(&chk);
    repo_close(r);
    fleet_close(b.f);
    cliopt_common_free(&o.c);
    if (rc && interrupt_requested())
        return INTERRUPT_EXIT;
    return rc ? CMD_FAILED : CMD_OK;
}
