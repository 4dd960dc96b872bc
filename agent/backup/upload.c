/*
 * upload - the backup job of one node: every file of the snapshot into the
 * repository, then the node manifest.
 *
 * Tables go one at a time and each table's files in parallel, so the snapshot of a
 * table is released as soon as its files are safe and the disk is never held twice
 * for long. A file is hashed once in its life (hash cache) and uploaded only when
 * the repository lacks its blob, wherever else it came from; how one open file
 * becomes a blob in the fewest reads is upload_blob's.
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

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/debug.h"
#include "base/path.h"
#include "base/pool.h"
#include "backup/known.h"
#include "backup/upload_blob.h"
#include "base/ratelimit.h"
#include "job/start.h"
#include "repo/blob.h"
#include "repo/manifest.h"
#include "repo/pack.h"
#include "repo/repo.h"
#include "scylla/names.h"
#include "scylla/sstable.h"
#include "status/describe.h"

/* schema.cql is kept in the manifest; a larger one is not a CREATE statement. */
#define SCHEMA_CQL_MAX (1u << 20)
/* The most files of one table in flight, whatever the configuration says. */
#define UPLOAD_MAX_THREADS 64

/* What every table of one upload job shares. */
typedef struct upload_arg {
    agent *a;
    const Cairn__Rpc__UploadRequest *rq;
    const Cairn__Rpc__NodeInfo *node;
    const known *known; /* the blobs of the parent backup */
} upload_arg;

typedef struct upload_file {
    char *name;
    uint64_t size;
    uint32_t dir; /* index into the table's snapshot directories */
    bool packed;  /* its blob is member m of the table's pack, whose id comes at the end */
    pack_member m;
} upload_file;

typedef struct upload_table {
    job *j;
    const upload_arg *arg;
    repo *repo;
    ratelimit *rl;
    pack_writer *pack;
    const Cairn__Rpc__Table *table;
    char **dirs; /* snapshots/<tag> directories of this table, one per data directory */
    uint32_t *dir_data_dir;
    size_t ndirs;
    upload_file *files;
    Cairn__Repo__FileEntry *entries;
    size_t nfiles;
} upload_table;

/* Whether a keyspace directory entry is the table's; a request that names the table's
 * id means that directory and no other. */
static bool is_table_dir(const char *entry, const Cairn__Rpc__Table *table)
{
    size_t tl = strlen(table->name);
    if (strncmp(entry, table->name, tl) != 0 || entry[tl] != '-')
        return false;
    if (table->id && *table->id)
        return strcmp(entry + tl + 1, table->id) == 0;
    return name_valid(NAME_TABLE_ID, entry + tl + 1);
}

/* A requested table whose snapshot is missing (cleared under cairn's feet, or the
 * table re-created) fails the node: a backup without it would say complete and
 * restore nothing of the table. */
static int no_snapshot(const upload_table *t, const char *what, cairn_err *e)
{
    return err_set(e, CAIRN_ENOENT,
                   "node %s: table %s.%s has no snapshot %s%s%s: it was cleared, or the table "
                   "re-created, while the backup ran; run the backup again",
                   t->arg->node->host_id, t->table->keyspace, t->table->name, t->arg->rq->tag,
                   what ? " " : "", what ? what : "");
}

/* Finds snapshots/<tag> of the table in every data directory. A table dropped and
 * created again has two directories; only the live one holds this snapshot. */
static int find_snapshot_dirs(upload_table *t, cairn_err *e)
{
    const Cairn__Rpc__NodeInfo *node = t->arg->node;
    for (size_t d = 0; d < node->n_data_dirs; d++) {
        char ksdir[4096];
        int prc =
            path_fmt(ksdir, sizeof(ksdir), e, "%s/%s", node->data_dirs[d], t->table->keyspace);
        if (prc)
            return prc;
        DIR *dir = opendir(ksdir);
        if (!dir) {
            if (errno == ENOENT)
                continue;
            return err_sys(e, errno, "cannot list %s", ksdir);
        }
        struct dirent *de;
        int rc = 0;
        while (!rc && (de = readdir(dir)) != NULL) {
            if (!is_table_dir(de->d_name, t->table))
                continue;
            char snap[4096];
            struct stat st;
            if ((rc = path_fmt(snap, sizeof(snap), e, "%s/%s/snapshots/%s", ksdir, de->d_name,
                               t->arg->rq->tag)) != 0)
                break;
            if (stat(snap, &st) != 0 || !S_ISDIR(st.st_mode))
                continue;
            char **nd = realloc(t->dirs, (t->ndirs + 1) * sizeof(char *));
            uint32_t *ni = realloc(t->dir_data_dir, (t->ndirs + 1) * sizeof(uint32_t));
            if (nd)
                t->dirs = nd;
            if (ni)
                t->dir_data_dir = ni;
            if (!nd || !ni || !(t->dirs[t->ndirs] = strdup(snap))) {
                rc = err_set(e, CAIRN_ENOMEM, "out of memory");
                break;
            }
            t->dir_data_dir[t->ndirs++] = (uint32_t)d;
        }
        closedir(dir);
        if (rc)
            return rc;
    }
    return t->ndirs ? 0 : no_snapshot(t, NULL, e);
}

/* Lists the SSTable files of the table's snapshot directories. */
static int list_files(upload_table *t, cairn_err *e)
{
    size_t cap = 0;
    for (size_t d = 0; d < t->ndirs; d++) {
        DIR *dir = opendir(t->dirs[d]);
        if (!dir && errno == ENOENT)
            return no_snapshot(t, "any more", e);
        if (!dir)
            return err_sys(e, errno, "cannot list %s", t->dirs[d]);
        struct dirent *de;
        int rc = 0;
        while (!rc && (de = readdir(dir)) != NULL) {
            if (de->d_name[0] == '.' || strcmp(de->d_name, "schema.cql") == 0 ||
                strcmp(de->d_name, "manifest.json") == 0)
                continue;
            if (!name_valid(NAME_SSTABLE_FILE, de->d_name)) {
                job_warn(t->j, "%s: skipping '%s', which is not an SSTable file", t->dirs[d],
                         de->d_name);
                continue;
            }
            struct stat st;
            if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
                !S_ISREG(st.st_mode))
                continue;
            if (t->nfiles == cap) {
                cap = cap ? cap * 2 : 64;
                upload_file *nf = realloc(t->files, cap * sizeof(*nf));
                if (!nf) {
                    rc = err_set(e, CAIRN_ENOMEM, "out of memory");
                    break;
                }
                t->files = nf;
            }
            upload_file *f = &t->files[t->nfiles];
            *f = (upload_file){.size = (uint64_t)st.st_size, .dir = (uint32_t)d};
            if (!(f->name = strdup(de->d_name))) {
                rc = err_set(e, CAIRN_ENOMEM, "out of memory");
                break;
            }
            t->nfiles++;
        }
        closedir(dir);
        if (rc)
            return rc;
    }
    return 0;
}

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
        return no_snapshot(t, "any more", e);
    if (dfd < 0)
        return err_sys(e, errno, "cannot open %s", dirpath);
    int fd = openat(dfd, f->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    int rc = 0;
    struct stat st;
    if (fd < 0 && errno == ENOENT) {
        rc = no_snapshot(t, "any more", e);
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
                          .level = t->arg->rq->compression_level};
    upload_place place;
    if ((rc = upload_blob_store(&bc, fd, &st, data, &sums, &place, e)) != 0 ||
        (rc = fill_entry(t, f, fe, &sums, &place, e)) != 0)
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

static char *read_small_file(const char *dir, const char *name)
{
    char path[4096];
    if (path_fmt(path, sizeof(path), NULL, "%s/%s", dir, name) != 0)
        return NULL;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    char *buf = NULL;
    if (fstat(fd, &st) == 0 && st.st_size >= 0 && (uint64_t)st.st_size <= SCHEMA_CQL_MAX &&
        (buf = malloc((size_t)st.st_size + 1)) != NULL) {
        ssize_t n = pread(fd, buf, (size_t)st.st_size, 0);
        if (n < 0) {
            free(buf);
            buf = NULL;
        } else {
            buf[n] = '\0';
        }
    }
    close(fd);
    return buf;
}

/* Releases a table's lists as soon as it is done, so memory follows one table at a
 * time; a released table is empty and may be released again. */
static void table_release(upload_table *t)
{
    for (size_t i = 0; i < t->nfiles; i++) {
        free(t->files[i].name);
        if (t->entries) {
            free(t->entries[i].blob);
            free(t->entries[i].pack);
        }
    }
    free(t->files);
    free(t->entries);
    for (size_t d = 0; d < t->ndirs; d++)
        free(t->dirs[d]);
    free(t->dirs);
    free(t->dir_data_dir);
    t->files = NULL;
    t->entries = NULL;
    t->nfiles = 0;
    t->dirs = NULL;
    t->dir_data_dir = NULL;
    t->ndirs = 0;
    pack_writer_free(t->pack);
    t->pack = NULL;
}

/* The table's part of the node manifest, once every file of it is safe. */
static int table_add_to_manifest(upload_table *t, manifest_writer *mw, cairn_err *e)
{
    Cairn__Repo__TableEntry te = CAIRN__REPO__TABLE_ENTRY__INIT;
    te.keyspace = t->table->keyspace;
    te.name = t->table->name;
    /* The table id is the live directory's suffix. */
    char id[33] = "";
    if (t->ndirs) {
        const char *snap = strstr(t->dirs[0], "/snapshots/");
        if (snap && snap - t->dirs[0] > 32) {
            memcpy(id, snap - 32, 32);
            id[32] = '\0';
            te.id = id;
        }
    }
    Cairn__Repo__FileEntry **ptrs = calloc(t->nfiles ? t->nfiles : 1, sizeof(*ptrs));
    if (!ptrs)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    for (size_t i = 0; i < t->nfiles; i++)
        ptrs[i] = &t->entries[i];
    te.files = ptrs;
    te.n_files = t->nfiles;
    te.schema_cql = t->ndirs ? read_small_file(t->dirs[0], "schema.cql") : NULL;
    int rc = manifest_node_add_table(mw, &te, e);
    free(te.schema_cql);
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
    int rc = list_files(t, e);
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

/* Adds the table's SSTable files to the job's totals. */
static void count_totals(upload_table *t)
{
    for (size_t d = 0; d < t->ndirs; d++) {
        DIR *dir = opendir(t->dirs[d]);
        struct dirent *de;
        while (dir && (de = readdir(dir)) != NULL) {
            struct stat st;
            if (name_valid(NAME_SSTABLE_FILE, de->d_name) &&
                fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISREG(st.st_mode)) {
                job_add(t->j, JOB_FILES_TOTAL, 1);
                job_add(t->j, JOB_BYTES_TOTAL, (uint64_t)st.st_size);
            }
        }
        if (dir)
            closedir(dir);
    }
}

/* Uploads every table in turn; a table's snapshot goes once its files are safe. */
static int upload_tables(job *j, const upload_arg *u, upload_table *tables, manifest_writer *mw,
                         cairn_err *e)
{
    const Cairn__Rpc__UploadRequest *rq = u->rq;
    int rc = 0;
    /* Sizes first, so progress has a total from the start. */
    for (size_t i = 0; !rc && i < rq->n_tables; i++) {
        rc = find_snapshot_dirs(&tables[i], e);
        if (!rc)
            count_totals(&tables[i]);
    }
    for (size_t i = 0; !rc && i < rq->n_tables; i++) {
        upload_table *t = &tables[i];
        rc = upload_table_run(t, mw, e);
        if (!rc) {
            job_add(j, JOB_TABLES, 1);
            if (!rq->keep_snapshot && t->ndirs) {
                cairn_err de;
                if (scylla_snapshot_delete(u->a->rest, rq->tag, t->table->keyspace, t->table->name,
                                           &de) != 0)
                    job_warn(j, "could not remove snapshot %s of %s.%s: %s", rq->tag,
                             t->table->keyspace, t->table->name, de.msg);
            }
        }
        table_release(t);
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
    int rc = manifest_node_begin(r, key, &h, &mw, e);
    if (rc)
        return rc;
    upload_table *tables = calloc(rq->n_tables ? rq->n_tables : 1, sizeof(*tables));
    if (!tables) {
        manifest_node_abort(mw);
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < rq->n_tables; i++)
        tables[i] = (upload_table){.j = j, .arg = u, .repo = r, .rl = rl, .table = rq->tables[i]};
    qsort(tables, rq->n_tables, sizeof(*tables), by_table_name);
    rc = upload_tables(j, u, tables, mw, e);
    for (size_t i = 0; i < rq->n_tables; i++)
        table_release(&tables[i]);
    free(tables);
    if (rc) {
        manifest_node_abort(mw);
        return rc;
    }
    char sha[65];
    uint64_t size = 0;
    rc = manifest_node_finish(mw, sha, &size, e);
    return rc ? rc : job_set_result(j, key, sha, size);
}

/* The index of what the repository holds: the parent's manifest, when the
 * coordinator names one. One that cannot be read costs uploads, not the backup. */
static int load_known(job *j, repo *r, const Cairn__Rpc__UploadRequest *rq, known **out,
                      cairn_err *e)
{
    if (!rq->parent_manifest_key || !rq->parent_manifest_sha256)
        return known_empty(out, e);
    cairn_err ke;
    if (known_load(out, r, rq->parent_manifest_key, rq->parent_manifest_sha256, &ke) == 0)
        return 0;
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
    int rc = repos_repo_open(&r, ua.a->cfg, rq->repository, e);
    if (!rc)
        rc = ratelimit_new(&rl, rq->rate_limit, e);
    if (!rc)
        rc = load_known(j, r, rq, &k, e);
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

/* The parent manifest comes from the network: a node manifest of this agent's cluster,
 * with a SHA-256 to check it by, or nothing. */
static int check_parent(const agent *a, const Cairn__Rpc__UploadRequest *rq, cairn_err *e)
{
    const char *key = rq->parent_manifest_key, *sha = rq->parent_manifest_sha256;
    if (!key && !sha)
        return 0;
    char prefix[512];
    snprintf(prefix, sizeof(prefix), "backups/%s/", a->cfg->cluster);
    size_t kl = key ? strlen(key) : 0, sfx = strlen(".manifest");
    if (!key || !sha || !blob_id_valid(sha) || strncmp(key, prefix, strlen(prefix)) != 0 ||
        kl <= sfx || strcmp(key + kl - sfx, ".manifest") != 0 || store_key_check(key, NULL) != 0)
        return err_set(e, CAIRN_EINVAL,
                       "the parent manifest of the upload request is not a node manifest of "
                       "cluster %s with its SHA-256",
                       a->cfg->cluster);
    return 0;
}

int agent_upload(agent *a, const Cairn__Rpc__UploadRequest *rq, Cairn__Rpc__Response *resp,
                 cairn_err *e)
{
    const store_options *opts = NULL;
    int rc = name_check(NAME_TAG, rq->tag, e);
    if (!rc)
        rc = check_parent(a, rq, e);
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
