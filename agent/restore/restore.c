/*
 * restore - the restore jobs of one node: stage (download and verify its whole share
 * of a backup, changing nothing on ScyllaDB), then load (place the staged files into
 * each table's upload/ directory and have ScyllaDB load them).
 *
 * The coordinator starts the load phase on no node before every node has staged, so
 * a missing or damaged blob anywhere stops the restore before anything is loaded or
 * any schema is created. The staging area is the agent's state directory
 * (restore_state.h): the table directories may not exist before the schema is
 * applied, and the state directory is the agent's own. Staged files are hard-linked
 * into upload/ (copied when the state directory is on another file system).
 *
 * Resume: each loaded table is recorded (per source cluster and tag); a restore
 * started again skips those tables, and restore_place's pending record tells an
 * interrupted load that went through from one that did not. A table's staged files
 * are removed once it is recorded as loaded; ForgetRestore removes the rest.
 *
 * Tombstones: a table's tombstone GC is off from before its load until ForgetRestore,
 * which the coordinator sends once every node has loaded. Compaction could otherwise
 * purge a tombstone that came in one SSTable before the data it deletes came in
 * another (from this node, a later table or another node's stream), and the deleted
 * data would be back. The state before is recorded, and ForgetRestore puts it back.
 */
#include "handlers.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/path.h"
#include "job/start.h"
#include "node/cql.h"
#include "node/hostport.h"
#include "repo/repo.h"
#include "repos/repos.h"
#include "restore/restore_place.h"
#include "restore/restore_stage.h"
#include "restore/restore_state.h"
#include "scylla/names.h"

#define CQL_TIMEOUT_MS 60000
/* ScyllaDB loads one batch at a time per node; wait this long for our turn. */
#define LOAD_BUSY_RETRIES  600
#define LOAD_BUSY_SLEEP_MS 500

typedef Cairn__Rpc__RestoreRequest__Phase restore_phase;
#define PHASE_BOTH  CAIRN__RPC__RESTORE_REQUEST__PHASE__STAGE_AND_LOAD
#define PHASE_STAGE CAIRN__RPC__RESTORE_REQUEST__PHASE__STAGE
#define PHASE_LOAD  CAIRN__RPC__RESTORE_REQUEST__PHASE__LOAD
#define PHASE_CHECK CAIRN__RPC__RESTORE_REQUEST__PHASE__CHECK

/* What the steps of one restore job share. */
typedef struct restore_ctx {
    job *j;
    agent *a;
    const Cairn__Rpc__RestoreRequest *rq;
    repo *r;
    cql_conn *c;
    char base[RSTATE_PATH_MAX]; /* restore_state's directory of this cluster and tag */
    bool combined;              /* STAGE_AND_LOAD: each table counts once, in its load */
} restore_ctx;

static const char *source_cluster(const agent *a, const char *asked)
{
    return asked && *asked ? asked : a->cfg->cluster;
}

/* The table's live directory: the one whose id the schema gives; its upload/ into out. */
static int find_upload_dir(agent *a, cql_conn *c, const char *ks, const char *table, char *out,
                           size_t cap, cairn_err *e)
{
    char id[33];
    int rc = cql_table_id(c, ks, table, id, e);
    if (rc == CAIRN_ENOENT)
        return err_set(e, CAIRN_ENOENT,
                       "table %s.%s does not exist on the target: restore with --schema, or "
                       "create it first",
                       ks, table);
    if (rc)
        return rc;
    char **dirs = NULL;
    size_t n = 0;
    if ((rc = scylla_data_dirs(a->rest, &dirs, &n, e)) != 0)
        return rc;
    rc = err_set(e, CAIRN_ENOENT, "no directory for table %s.%s (id %s) in the data directories",
                 ks, table, id);
    for (size_t i = 0; i < n; i++) {
        char tdir[4096];
        struct stat st;
        if (path_fmt(tdir, sizeof(tdir), NULL, "%s/%s/%s-%s", dirs[i], ks, table, id) != 0 ||
            stat(tdir, &st) != 0 || !S_ISDIR(st.st_mode) ||
            path_fmt(out, cap, NULL, "%s/upload", tdir) != 0)
            continue;
        err_clear(e);
        rc = rstate_mkdir(out, e);
        break;
    }
    scylla_strv_free(dirs, n);
    return rc;
}

static int load_table(restore_ctx *x, const Cairn__Rpc__RestoreTable *t, cairn_err *e)
{
    /* A table's own method first: a tablet keyspace's is load-and-stream in a refresh. */
    bool las = t->has_load_and_stream ? t->load_and_stream : x->rq->load_and_stream;
    for (int attempt = 0;; attempt++) {
        int rc = scylla_load_sstables(x->a->rest, t->keyspace, t->name, las,
                                      x->rq->primary_replica_only, e);
        if (rc != CAIRN_EBUSY || attempt >= LOAD_BUSY_RETRIES || job_cancelled(x->j))
            return rc;
        usleep(LOAD_BUSY_SLEEP_MS * 1000);
    }
}

static uint64_t table_bytes(const Cairn__Rpc__RestoreTable *t)
{
    uint64_t bytes = 0;
    for (size_t k = 0; k < t->n_files; k++)
        bytes += t->files[k]->size;
    return bytes;
}

/* Counts a table as done in this phase: its files (unless they were counted as they
 * were downloaded) and, once per job, the table. In a combined job the stage counts
 * files and the load counts tables. */
static void count_done(restore_ctx *x, const Cairn__Rpc__RestoreTable *t, bool stage,
                       bool files_counted)
{
    if (!files_counted && (stage || !x->combined)) {
        job_add(x->j, JOB_FILES_DONE, t->n_files);
        job_add(x->j, JOB_BYTES_DONE, table_bytes(t));
    }
    if (!stage || !x->combined)
        job_add(x->j, JOB_TABLES, 1);
}

/* Of what count_done adds, the bytes an earlier attempt moved: progress leaves them out
 * of the speed. */
static void count_skipped(restore_ctx *x, const Cairn__Rpc__RestoreTable *t, bool stage)
{
    if (stage || !x->combined)
        job_add(x->j, JOB_BYTES_SKIPPED, table_bytes(t));
}

/* CHECK for one table: what an earlier attempt loaded, or may have begun to load. */
static int check_next(restore_ctx *x, const Cairn__Rpc__RestoreTable *t, cairn_err *e)
{
    char pending[RSTATE_PATH_MAX];
    int rc = rstate_pending_path(x->base, t->keyspace, t->name, pending, sizeof(pending), e);
    if (rc)
        return rc;
    if (rstate_done(x->base, t->keyspace, t->name) || restore_pending_placed(pending))
        job_add(x->j, JOB_BYTES_UPLOADED, table_bytes(t));
    count_done(x, t, true, false);
    return 0;
}

/* Phase 1 for one table: download and verify, unless an earlier attempt loaded it. */
static int stage_next(restore_ctx *x, const Cairn__Rpc__RestoreTable *t, cairn_err *e)
{
    char dir[RSTATE_PATH_MAX], pending[RSTATE_PATH_MAX];
    int rc = rstate_pending_path(x->base, t->keyspace, t->name, pending, sizeof(pending), e);
    if (rc)
        return rc;
    /* Loaded, or placed in upload/ for a load (phase 2 finishes it without staging). */
    if (rstate_done(x->base, t->keyspace, t->name) || restore_pending_placed(pending)) {
        count_skipped(x, t, true);
        count_done(x, t, true, false);
        return 0;
    }
    rc = rstate_stage_dir(x->base, t->keyspace, t->name, true, dir, sizeof(dir), e);
    if (!rc)
        rc = restore_stage_table(x->j, x->r, t, dir, (unsigned)x->a->cfg->restore_parallel, e);
    if (rc)
        return err_prefix(e, "table %s.%s", t->keyspace, t->name);
    count_done(x, t, true, true);
    return 0;
}

/* The table is loaded: recorded, and its staged files are not needed any more. */
static int table_loaded(restore_ctx *x, const Cairn__Rpc__RestoreTable *t, const char *pending,
                        const char *stage, cairn_err *e)
{
    int rc = rstate_record_done(x->base, t->keyspace, t->name, e);
    if (rc)
        return rc;
    unlink(pending);
    if (rstate_remove_tree(stage, NULL) != 0)
        log_warn("restore %s: cannot remove %s", x->rq->tag, stage);
    count_done(x, t, false, false);
    job_add(x->j, JOB_BYTES_UPLOADED, table_bytes(t));
    return 0;
}

/* Tombstone GC off on the table, its state before recorded once (a resumed load finds
 * it off: cairn's doing). A ScyllaDB without the switch loads all the same; repair
 * right after the restore matters the more (docs/restore.md). */
static int gc_hold(restore_ctx *x, const Cairn__Rpc__RestoreTable *t, cairn_err *e)
{
    int rc = 0;
    if (!rstate_gc_recorded(x->base, t->keyspace, t->name)) {
        bool on = true;
        rc = scylla_tombstone_gc_get(x->a->rest, t->keyspace, t->name, &on, e);
        if (rc == CAIRN_ENOENT) {
            log_warn("restore %s: %s; %s.%s loads with it on", x->rq->tag, e->msg, t->keyspace,
                     t->name);
            err_clear(e);
            return 0;
        }
        if (!rc)
            rc = rstate_gc_record(x->base, t->keyspace, t->name, on, e);
    }
    if (!rc)
        rc = scylla_tombstone_gc_set(x->a->rest, t->keyspace, t->name, false, e);
    return rc ? err_prefix(e, "turning tombstone GC off") : 0;
}

/* Phase 2 for one table: place and load, resuming what an earlier attempt left. */
static int load_next(restore_ctx *x, const Cairn__Rpc__RestoreTable *t, cairn_err *e)
{
    const char *tag = x->rq->tag;
    if (rstate_done(x->base, t->keyspace, t->name)) {
        log_info("restore %s: %s.%s was loaded by an earlier attempt", tag, t->keyspace, t->name);
        count_skipped(x, t, false);
        count_done(x, t, false, false);
        return 0;
    }
    char upload[RSTATE_PATH_MAX], pending[RSTATE_PATH_MAX], stage[RSTATE_PATH_MAX];
    int rc = rstate_pending_path(x->base, t->keyspace, t->name, pending, sizeof(pending), e);
    if (!rc)
        rc = rstate_stage_dir(x->base, t->keyspace, t->name, false, stage, sizeof(stage), e);
    if (!rc)
        rc = find_upload_dir(x->a, x->c, t->keyspace, t->name, upload, sizeof(upload), e);
    if (rc)
        return err_prefix(e, "table %s.%s", t->keyspace, t->name);
    pending_state ps = restore_pending_recover(pending, upload);
    if (ps == PENDING_LOADED) {
        log_info("restore %s: %s.%s was loaded just before the last attempt stopped", tag,
                 t->keyspace, t->name);
        return table_loaded(x, t, pending, stage, e);
    }
    rc = gc_hold(x, t, e);
    if (!rc && ps == PENDING_NONE)
        rc = restore_place_table(t, stage, upload, pending, e);
    if (!rc)
        rc = load_table(x, t, e);
    if (rc) {
        /* Nothing of a table that failed to load stays in upload/. */
        restore_pending_discard(pending, upload);
        return err_prefix(e, "table %s.%s", t->keyspace, t->name);
    }
    return table_loaded(x, t, pending, stage, e);
}

static int run_phase(restore_ctx *x, restore_phase phase, cairn_err *e)
{
    int rc = 0;
    for (size_t i = 0; !rc && i < x->rq->n_tables; i++) {
        const Cairn__Rpc__RestoreTable *t = x->rq->tables[i];
        rc = phase == PHASE_CHECK   ? check_next(x, t, e)
             : phase == PHASE_STAGE ? stage_next(x, t, e)
                                    : load_next(x, t, e);
        if (!rc && job_cancelled(x->j))
            rc = err_set(e, CAIRN_EBUSY, "agent shutting down");
    }
    return rc;
}

/* Phase 2 talks to ScyllaDB over CQL (the tables' ids); phase 1 does not. */
static int connect_cql(restore_ctx *x, cairn_err *e)
{
    char host[256];
    int port;
    int rc = hostport_split(x->a->cfg->scylla_cql, host, sizeof(host), &port, e);
    return rc ? rc
              : cql_connect(&x->c, host, port, x->a->cfg->scylla_username,
                            x->a->cfg->scylla_password, &x->a->cfg->scylla_cql_tls, CQL_TIMEOUT_MS,
                            e);
}

static int restore_run(job *j, void *p, cairn_err *e)
{
    const job_request *jr = p;
    restore_ctx x = {.j = j, .a = jr->ctx, .rq = (const Cairn__Rpc__RestoreRequest *)jr->rq};
    const Cairn__Rpc__RestoreRequest *rq = x.rq;
    restore_phase phase = rq->has_phase ? rq->phase : PHASE_BOTH;
    x.combined = phase == PHASE_BOTH;
    /* A configuration that cannot reach CQL fails before anything is downloaded. */
    char host[256];
    int port;
    int rc = phase == PHASE_STAGE || phase == PHASE_CHECK
                 ? 0
                 : hostport_split(x.a->cfg->scylla_cql, host, sizeof(host), &port, e);
    if (!rc)
        rc = rstate_base(x.a->cfg->state_dir, source_cluster(x.a, rq->source_cluster), rq->tag,
                         phase != PHASE_CHECK, x.base, sizeof(x.base), e);
    if (rc)
        return rc;
    if (phase == PHASE_CHECK)
        return run_phase(&x, PHASE_CHECK, e);
    for (size_t i = 0; i < rq->n_tables; i++) {
        job_add(j, JOB_FILES_TOTAL, rq->tables[i]->n_files);
        job_add(j, JOB_BYTES_TOTAL, table_bytes(rq->tables[i]));
    }
    if (phase != PHASE_LOAD) {
        rc = repos_repo_open(&x.r, x.a->cfg, rq->repository, NULL, e);
        if (!rc)
            rc = run_phase(&x, PHASE_STAGE, e);
        if (x.r)
            job_add_requests(j, x.r);
        repo_close(x.r);
    }
    if (!rc && phase != PHASE_STAGE) {
        rc = connect_cql(&x, e);
        if (!rc)
            rc = run_phase(&x, PHASE_LOAD, e);
        cql_close(x.c);
    }
    if (rc)
        err_prefix(e, "backup %s of cluster %s", rq->tag, source_cluster(x.a, rq->source_cluster));
    return rc;
}

int agent_restore(agent *a, const Cairn__Rpc__RestoreRequest *rq, Cairn__Rpc__Response *resp,
                  cairn_err *e)
{
    const char *cluster = source_cluster(a, rq->source_cluster);
    int rc = name_check(NAME_TAG, rq->tag, e);
    if (!rc)
        rc = name_check(NAME_CLUSTER, cluster, e);
    for (size_t i = 0; !rc && i < rq->n_tables; i++)
        rc = name_check_table(rq->tables[i]->keyspace, rq->tables[i]->name, e);
    if (rc)
        return rc;
    char key[256];
    snprintf(key, sizeof(key), "%s.%s", cluster, rq->tag);
    restore_phase phase = rq->has_phase ? rq->phase : PHASE_BOTH;
    bool again = phase == PHASE_STAGE || phase == PHASE_CHECK;
    const char *kind = phase == PHASE_STAGE   ? "restore-stage"
                       : phase == PHASE_CHECK ? "restore-check"
                                              : "restore";
    /* Staging (or checking) again after a finished one is how a second attempt sees
     * what a failed load changed; a running one is re-attached (EBUSY is kept). */
    if (again) {
        char id[300];
        cairn_err fe;
        job_request_id(kind, key, id, sizeof(id));
        jobs_forget(a->jobs, id, &fe);
    }
    return job_start_request(a->jobs, kind, key, &rq->base, a, NULL, restore_run, resp, e);
}

/* Puts a table's tombstone GC back as it was before the restore. */
static void gc_release(void *ctx, const char *ks, const char *table, bool was_on)
{
    agent *a = ctx;
    cairn_err e;
    if (!was_on || !name_valid(NAME_KEYSPACE, ks) || !name_valid(NAME_TABLE, table))
        return;
    if (scylla_tombstone_gc_set(a->rest, ks, table, true, &e) != 0)
        log_warn("restore: cannot turn tombstone GC back on for %s.%s (%s): ScyllaDB turns it "
                 "on when it restarts, or POST /column_family/tombstone_gc/%s:%s",
                 ks, table, e.msg, ks, table);
    else
        log_info("restore: tombstone GC on again for %s.%s", ks, table);
}

int agent_forget_restore(agent *a, const Cairn__Rpc__ForgetRestoreRequest *rq, cairn_err *e)
{
    const char *cluster = source_cluster(a, rq->source_cluster);
    int rc = name_check(NAME_TAG, rq->tag, e);
    if (!rc)
        rc = name_check(NAME_CLUSTER, cluster, e);
    if (rc)
        return rc;
    char key[256], id[300], base[RSTATE_PATH_MAX];
    snprintf(key, sizeof(key), "%s.%s", cluster, rq->tag);
    job_request_id("restore-stage", key, id, sizeof(id));
    if ((rc = jobs_forget(a->jobs, id, e)) != 0)
        return rc;
    job_request_id("restore-check", key, id, sizeof(id));
    if ((rc = jobs_forget(a->jobs, id, e)) != 0)
        return rc;
    if (!rq->staged_only) {
        job_request_id("restore", key, id, sizeof(id));
        if ((rc = jobs_forget(a->jobs, id, e)) != 0)
            return rc;
    }
    rc = rstate_base(a->cfg->state_dir, cluster, rq->tag, false, base, sizeof(base), e);
    if (!rc && !rq->staged_only)
        rstate_gc_each(base, gc_release, a);
    return rc ? rc : rstate_remove(base, rq->staged_only, e);
}
