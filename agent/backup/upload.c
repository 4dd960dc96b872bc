/*
 * upload - the backup job of one node: every file of the snapshot into the
 * repository, then the node manifest. An increment takes the complete SSTables of the
 * tables' backups/ directories instead of a snapshot, and the same way.
 *
 * Tables go one at a time and each table's files in parallel, so the snapshot of a
 * table is released as soon as its files are safe and the disk is never held twice
 * for long. A file is hashed once in its life (hash cache) and uploaded only when
 * the parent backup does not name its blob (known); how one open file becomes a blob
 * or a pack member in the fewest reads and requests is upload_blob's, and where a
 * table's snapshot is on disk upload_table's. Small files of a table share its pack,
 * whose id, known only at its commit, is filled into their entries before the table
 * goes into the manifest.
 *
 * Design notes: the job owns a copy of the request and the node's description
 * (job_request); each table is an upload_table that lives only while that table is
 * worked on. A table's files are items of one pool_run: the first failure stops the
 * handing out of further files, and the job ends with it. Totals are counted before
 * the first byte moves, so progress has a denominator from the start. The node
 * manifest is streamed table by table and only finished when every table made it: a
 * failed upload leaves no manifest, and asking again starts the job afresh.
 */
#include "handlers.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/debug.h"
#include "base/log.h"
#include "base/pool.h"
#include "backup/known.h"
#include "backup/mancopy.h"
#include "node/cql.h"
#include "node/hostport.h"
#include "backup/upload_blob.h"
#include "backup/upload_table.h"
#include "base/ratelimit.h"
#include "job/start.h"
#include "repo/blob.h"
#include "repo/manifest.h"
#include "repo/pack.h"
#include "repo/repo.h"
#include "scylla/names.h"
#include "scylla/sstable.h"
#include "status/describe.h"

/* The most files of one table in flight, whatever the configuration says. */
#define UPLOAD_MAX_THREADS 64

/* Compares a Data.db's CRC-32 with its Digest.crc32: a mismatch is backed up as it
 * is, and marked, so the restore knows the file was corrupt before it left. */
static void check_digest(upload_table *t, int dfd, const char *dirpath, const upload_file *f,
                         uint32_t crc, Cairn__Repo__FileEntry *fe)
{
    uint32_t digest;
    cairn_err de;
    int drc = sstable_read_digest(dfd, f->name, &digest, &de);
    if (drc == CAIRN_ENOENT)
        return;
    if (drc != 0) {
        job_warn(t->j, "%s", de.msg);
        return;
    }
    fe->has_data_crc32 = 1;
    fe->data_crc32 = digest;
    if (digest == crc)
        return;
    fe->has_crc_mismatch = 1;
    fe->crc_mismatch = 1;
    job_warn(t->j,
             "CORRUPT: node %s, table %s.%s, file %s/%s: Data.db CRC-32 %u does not match its "
             "Digest.crc32 %u; backed up as it is",
             t->arg->node->address, t->table->keyspace, t->table->name, dirpath, f->name, crc,
             digest);
}

/* Fills a file's manifest entry but for a pack member's pack id, which comes when the
 * pack is committed. */
static int fill_entry(upload_table *t, upload_file *f, Cairn__Repo__FileEntry *fe,
                      const blob_sums *sums, const upload_place *place, cairn_err *e)
{
    fe->name = f->name;
    fe->size = sums->size;
    fe->has_data_dir = 1;
    fe->data_dir = t->dir_data_dir[f->dir];
    if (!(fe->blob = strdup(sums->id)))
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    if (place->kind == UPLOAD_PACKED) {
        f->packed = true;
        f->m = place->member;
    } else if (place->kind == UPLOAD_KNOWN && place->ref.pack) {
        if (!(fe->pack = strdup(place->ref.pack)))
            return err_set(e, CAIRN_ENOMEM, "out of memory");
        fe->has_pack_offset = fe->has_pack_length = 1;
        fe->pack_offset = place->ref.offset;
        fe->pack_length = place->ref.length;
    }
    return 0;
}

/* Hashes (through the cache), checks and uploads one file; fills its manifest entry. */
static int upload_one(upload_table *t, size_t i, cairn_err *e)
{
    CAIRN_ASSERT(i < t->nfiles);
    upload_file *f = &t->files[i];
    Cairn__Repo__FileEntry *fe = &t->entries[i];
    CAIRN_ASSERT(f->dir < t->ndirs);
    const char *dirpath = t->dirs[f->dir];
    int dfd = open(dirpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 && errno == ENOENT)
        return upload_table_gone(t, "any more", e);
    if (dfd < 0)
        return err_sys(e, errno, "cannot open %s", dirpath);
    int fd = openat(dfd, f->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    int rc = 0;
    struct stat st;
    if (fd < 0 && errno == ENOENT) {
        rc = upload_table_gone(t, "any more", e);
        err_prefix(e, "%s", f->name);
        goto done;
    }
    if (fd < 0 || fstat(fd, &st) != 0) {
        rc = err_sys(e, errno, "cannot read %s/%s", dirpath, f->name);
        goto done;
    }
    bool data = sstable_is_data(f->name);
    blob_sums sums;
    /* ScyllaDB reads its SSTables with O_DIRECT: the pages this read brings in serve
     * nobody after it, so they are dropped rather than evict the node's other pages. */
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    upload_blob_ctx bc = {.j = t->j,
                          .repo = t->repo,
                          .rl = t->rl,
                          .hashes = t->arg->a->hashes,
                          .known = t->arg->known,
                          .pack = t->pack,
                          .cores = t->arg->a->cores,
                          .level = t->arg->rq->compression_level};
    upload_place place;
    cores_enter(bc.cores);
    rc = upload_blob_store(&bc, fd, &st, data, &sums, &place, e);
    cores_leave(bc.cores);
    if (rc || (rc = fill_entry(t, f, fe, &sums, &place, e)) != 0)
        goto done;
    if (data)
        check_digest(t, dfd, dirpath, f, sums.crc32, fe);
    job_add(t->j, JOB_FILES_DONE, 1);
done:
    if (fd >= 0) {
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        close(fd);
    }
    close(dfd);
    if (rc)
        err_prefix(e, "%s.%s", t->table->keyspace, t->table->name);
    return rc;
}

/* pool_fn over a table's files. */
static int upload_item(void *p, size_t i, cairn_err *e)
{
    upload_table *t = p;
    if (job_cancelled(t->j))
        return err_set(e, CAIRN_EBUSY, "cancelled");
    return upload_one(t, i, e);
}

/* The table's part of the node manifest, once every file of it is safe. */
static int table_add_to_manifest(upload_table *t, manifest_writer *mw, cairn_err *e)
{
    Cairn__Repo__TableEntry te = CAIRN__REPO__TABLE_ENTRY__INIT;
    te.keyspace = t->table->keyspace;
    te.name = t->table->name;
    te.id = t->id[0] ? t->id : NULL;
    Cairn__Repo__FileEntry **ptrs = calloc(t->nfiles ? t->nfiles : 1, sizeof(*ptrs));
    if (!ptrs)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    for (size_t i = 0; i < t->nfiles; i++)
        ptrs[i] = &t->entries[i];
    te.files = ptrs;
    te.n_files = t->nfiles;
    te.schema_cql = upload_table_snapshot_file(t, "schema.cql", SCHEMA_CQL_MAX);
    te.snapshot_manifest = upload_table_snapshot_file(t, "manifest.json", SNAPSHOT_MANIFEST_MAX);
    int rc = manifest_node_add_table(mw, &te, e);
    free(te.schema_cql);
    free(te.snapshot_manifest);
    free(ptrs);
    return rc;
}

/* The pack ids of the table's members, now that their packs are committed. */
static int resolve_packs(upload_table *t, cairn_err *e)
{
    for (size_t i = 0; i < t->nfiles; i++) {
        const upload_file *f = &t->files[i];
        Cairn__Repo__FileEntry *fe = &t->entries[i];
        if (!f->packed)
            continue;
        if (!(fe->pack = strdup(pack_writer_id(t->pack, f->m.pack))))
            return err_set(e, CAIRN_ENOMEM, "out of memory");
        fe->has_pack_offset = fe->has_pack_length = 1;
        fe->pack_offset = f->m.offset;
        fe->pack_length = f->m.length;
    }
    return 0;
}

static int upload_table_run(upload_table *t, manifest_writer *mw, cairn_err *e)
{
    int rc = upload_table_list(t, e);
    if (rc)
        return rc;
    t->entries = calloc(t->nfiles ? t->nfiles : 1, sizeof(*t->entries));
    if (!t->entries)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    for (size_t i = 0; i < t->nfiles; i++)
        cairn__repo__file_entry__init(&t->entries[i]);
    unsigned nt = (unsigned)t->arg->a->cfg->upload_parallel;
    if (nt > UPLOAD_MAX_THREADS)
        nt = UPLOAD_MAX_THREADS;
    if ((rc = pack_writer_new(t->repo, &t->pack, e)) != 0 ||
        (rc = pool_run(t->nfiles, nt, upload_item, t, e)) != 0 ||
        (rc = pack_writer_finish(t->pack, e)) != 0 || (rc = resolve_packs(t, e)) != 0)
        return rc;
    return table_add_to_manifest(t, mw, e);
}

/* The node manifest's header: who the node is and when the snapshot was taken. */
static void manifest_header(const upload_arg *u, Cairn__Repo__NodeManifest *h)
{
    const Cairn__Rpc__UploadRequest *rq = u->rq;
    const Cairn__Rpc__NodeInfo *n = u->node;
    cairn__repo__node_manifest__init(h);
    h->format_version = MANIFEST_FORMAT_VERSION;
    h->cluster = u->a->cfg->cluster;
    h->tag = rq->tag;
    h->host_id = n->host_id;
    h->address = n->address;
    h->dc = n->dc;
    h->rack = n->rack;
    h->tokens = n->tokens;
    h->n_tokens = n->n_tokens;
    h->scylla_version = n->scylla_version;
    h->has_snapshot_time_ms = rq->has_snapshot_time_ms;
    h->snapshot_time_ms = rq->snapshot_time_ms;
    h->data_dirs = n->data_dirs;
    h->n_data_dirs = n->n_data_dirs;
    h->tool_version = (char *)CAIRN_VERSION;
}

/* Uploads every table in turn; a table's snapshot goes once its files are safe (an
 * increment has none: its links in backups/ go with a prune, once the increment's
 * cluster manifest is written). */
static int upload_tables(job *j, const upload_arg *u, upload_table *tables, manifest_writer *mw,
                         cairn_err *e)
{
    const Cairn__Rpc__UploadRequest *rq = u->rq;
    int rc = 0;
    /* Sizes first, so progress has a total from the start. */
    for (size_t i = 0; !rc && i < rq->n_tables; i++) {
        rc = upload_table_find(&tables[i], e);
        if (!rc)
            rc = upload_table_count(&tables[i], e);
    }
    for (size_t i = 0; !rc && i < rq->n_tables; i++) {
        upload_table *t = &tables[i];
        rc = upload_table_run(t, mw, e);
        if (!rc) {
            job_add(j, JOB_TABLES, 1);
            if (!rq->keep_snapshot && !rq->incremental && t->ndirs) {
                cairn_err de;
                if (scylla_snapshot_delete(u->a->rest, rq->tag, t->table->keyspace, t->table->name,
                                           &de) != 0)
                    job_warn(j, "could not remove snapshot %s of %s.%s: %s", rq->tag,
                             t->table->keyspace, t->table->name, de.msg);
            }
        }
        upload_table_release(t);
    }
    return rc;
}

/* Tables go, and so are listed in the manifest, by keyspace and name: `cairn show`
 * streams a manifest and lists it in its order. */
static int by_table_name(const void *a, const void *b)
{
    const upload_table *x = a, *y = b;
    int c = strcmp(x->table->keyspace, y->table->keyspace);
    return c ? c : strcmp(x->table->name, y->table->name);
}

/* An increment takes backups/ of each table's live directory only: a table dropped and
 * created again keeps its old directory, whose backups/ holds the old table's SSTables.
 * The live one is the one of the id ScyllaDB gives now (the request names none). */
#define UPLOAD_CQL_TIMEOUT_MS 60000

static int live_table_ids(const agent *a, upload_table *tables, size_t n, cairn_err *e)
{
    char host[256];
    int port = 0;
    cql_conn *c = NULL;
    int rc = hostport_split(a->cfg->scylla_cql, host, sizeof(host), &port, e);
    if (!rc)
        rc = cql_connect(&c, host, port, a->cfg->scylla_username, a->cfg->scylla_password,
                         &a->cfg->scylla_cql_tls, UPLOAD_CQL_TIMEOUT_MS, e);
    for (size_t i = 0; !rc && i < n; i++) {
        upload_table *t = &tables[i];
        if (t->table->id && *t->table->id)
            continue;
        rc = cql_table_id(c, t->table->keyspace, t->table->name, t->id, e);
        if (rc == CAIRN_ENOENT) { /* dropped since the coordinator listed it */
            t->dropped = true;
            rc = 0;
        }
    }
    cql_close(c);
    return rc ? err_prefix(e, "finding the tables' live directories for the increment") : 0;
}

/* Streams the node manifest around the tables' uploads; it is finished only when
 * every table made it. */
static int upload_with_manifest(job *j, const upload_arg *u, repo *r, ratelimit *rl, cairn_err *e)
{
    const Cairn__Rpc__UploadRequest *rq = u->rq;
    Cairn__Repo__NodeManifest h;
    manifest_header(u, &h);
    char key[1024];
    repo_node_manifest_key(u->a->cfg->cluster, rq->tag, u->node->host_id, key, sizeof(key));
    manifest_writer *mw = NULL;
    mancopy *mc = NULL;
    cairn_err ce;
    if (mancopy_begin(&mc, u->a->cfg->state_dir, repo_id(r), &ce) != 0)
        job_warn(j, "%s; the next backup reads this manifest from the repository", ce.msg);
    int rc = manifest_node_begin_tee(r, key, &h, mc ? mancopy_write : NULL, mc, &mw, e);
    upload_table *tables = NULL;
    if (!rc && !(tables = calloc(rq->n_tables ? rq->n_tables : 1, sizeof(*tables))))
        rc = err_set(e, CAIRN_ENOMEM, "out of memory");
    if (rc) {
        manifest_node_abort(mw);
        mancopy_abort(mc);
        return rc;
    }
    for (size_t i = 0; i < rq->n_tables; i++)
        tables[i] = (upload_table){.j = j, .arg = u, .repo = r, .rl = rl, .table = rq->tables[i]};
    qsort(tables, rq->n_tables, sizeof(*tables), by_table_name);
    if (rq->incremental)
        rc = live_table_ids(u->a, tables, rq->n_tables, e);
    if (!rc)
        rc = upload_tables(j, u, tables, mw, e);
    for (size_t i = 0; i < rq->n_tables; i++)
        upload_table_release(&tables[i]);
    free(tables);
    if (rc) {
        manifest_node_abort(mw);
        mancopy_abort(mc);
        return rc;
    }
    char sha[65];
    uint64_t size = 0;
    if ((rc = manifest_node_finish(mw, sha, &size, e)) != 0) {
        mancopy_abort(mc);
        return rc;
    }
    if (mc && mancopy_commit(mc, &ce) != 0)
        job_warn(j, "%s; the next backup reads this manifest from the repository", ce.msg);
    return job_set_result(j, key, sha, size);
}

/* A full backup after increments: what they hold, newest first (the agent's copy is
 * of the newest when it wrote it). One that cannot be read costs uploads only. */
static void add_increments(job *j, known *k, repo *r, const char *copy,
                           const Cairn__Rpc__UploadRequest *rq)
{
    for (size_t i = 0; i < rq->n_known_increments; i++) {
        const Cairn__Rpc__ManifestRef *m = rq->known_increments[i];
        bool local = false;
        cairn_err ke;
        if (known_add(k, r, m->key, m->sha256, i == 0 ? copy : NULL, &local, &ke) != 0)
            job_warn(j, "%s; what that increment holds is uploaded again", ke.msg);
    }
}

/* The index of what the repository holds: the parent's manifest, when the
 * coordinator names one. One that cannot be read costs uploads, not the backup. */
static int load_known(job *j, repo *r, const char *state_dir, const Cairn__Rpc__UploadRequest *rq,
                      known **out, cairn_err *e)
{
    if (!rq->parent_manifest_key || !rq->parent_manifest_sha256)
        return known_empty(out, e);
    cairn_err ke;
    char copy[PATH_MAX];
    bool local = false;
    int rc = mancopy_path(state_dir, repo_id(r), copy, sizeof(copy), &ke);
    if (!rc && (rc = known_load(out, r, rq->parent_manifest_key, rq->parent_manifest_sha256, copy,
                                &local, &ke)) == 0) {
        log_debug("the parent manifest %s came from %s", rq->parent_manifest_key,
                  local ? copy : "the repository");
        add_increments(j, *out, r, copy, rq);
        return 0;
    }
    job_warn(j, "%s; every file is uploaded as new", ke.msg);
    return known_empty(out, e);
}

static int upload_run(job *j, void *p, cairn_err *e)
{
    const job_request *jr = p;
    upload_arg ua = {jr->ctx, (const Cairn__Rpc__UploadRequest *)jr->rq,
                     (const Cairn__Rpc__NodeInfo *)jr->extra, NULL};
    const Cairn__Rpc__UploadRequest *rq = ua.rq;
    repo *r = NULL;
    ratelimit *rl = NULL;
    known *k = NULL;
    int rc = repos_repo_open(&r, ua.a->cfg, rq->repository, rq->repository_id, e);
    if (!rc)
        rc = ratelimit_new(&rl, rq->rate_limit, e);
    if (!rc)
        rc = load_known(j, r, ua.a->cfg->state_dir, rq, &k, e);
    ua.known = k;
    if (!rc)
        rc = upload_with_manifest(j, &ua, r, rl, e);
    if (r)
        job_add_requests(j, r);
    known_free(k);
    ratelimit_free(rl);
    repo_close(r);
    return rc;
}

int agent_upload(agent *a, const Cairn__Rpc__UploadRequest *rq, Cairn__Rpc__Response *resp,
                 cairn_err *e)
{
    const store_options *opts = NULL;
    int rc = name_check(NAME_TAG, rq->tag, e);
    for (size_t i = 0; !rc && i < rq->n_tables; i++)
        rc = name_check_table(rq->tables[i]->keyspace, rq->tables[i]->name, e);
    /* Refused here, before a job exists, so the coordinator hears it at once. */
    if (!rc)
        rc = repos_store_for(a->cfg, rq->repository, &opts, e);
    Cairn__Rpc__NodeInfo *node = NULL;
    if (!rc)
        rc = describe_node(a->rest, &node, e);
    if (rc)
        return rc;
    return job_start_request(a->jobs, "upload", rq->tag, &rq->base, a, &node->base, upload_run,
                             resp, e);
}
