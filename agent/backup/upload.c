/*
 * upload - the backup job of one node: every file of the snapshot into the
 * repository, then the node manifest.
 *
 * Tables go one at a time and each table's files in parallel, so the snapshot of a
 * table is released as soon as its files are safe and the disk is never held twice
 * for long. A file is hashed once in its life (hash cache) and uploaded only when
 * the repository lacks its blob, wherever else it came from.
 */
#include "handlers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "repo/blob.h"
#include "base/log.h"
#include "repo/manifest.h"
#include "scylla/names.h"
#include "base/path.h"
#include "base/ratelimit.h"
#include "repo/repo.h"
#include "scylla/sstable.h"
#include "net/wire.h"

/* schema.cql is kept in the manifest; a larger one is not a CREATE statement. */
#define SCHEMA_CQL_MAX (1u << 20)

typedef struct upload_arg {
    agent *a;
    Cairn__Rpc__UploadRequest *rq; /* our own copy: the request dies with its message */
    Cairn__Rpc__NodeInfo *node;
} upload_arg;

typedef struct upload_file {
    char *name;
    uint64_t size;
    uint32_t dir; /* index into the table's snapshot directories */
} upload_file;

typedef struct upload_table {
    job *j;
    upload_arg *arg;
    repo *repo;
    ratelimit *rl;
    const Cairn__Rpc__Table *table;
    char **dirs; /* snapshots/<tag> directories of this table, one per data directory */
    uint32_t *dir_data_dir;
    size_t ndirs;
    upload_file *files;
    Cairn__Repo__FileEntry *entries;
    size_t nfiles;
    atomic_size_t next;
    pthread_mutex_t lock;
    cairn_err err;
    int rc;
} upload_table;

static void upload_arg_free(void *p)
{
    upload_arg *u = p;
    if (!u)
        return;
    if (u->rq)
        cairn__rpc__upload_request__free_unpacked(u->rq, NULL);
    if (u->node)
        cairn__rpc__node_info__free_unpacked(u->node, NULL);
    free(u);
}

static bool is_table_dir(const char *entry, const char *table)
{
    size_t tl = strlen(table);
    if (strncmp(entry, table, tl) != 0 || entry[tl] != '-')
        return false;
    return name_valid(NAME_TABLE_ID, entry + tl + 1);
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
            if (!is_table_dir(de->d_name, t->table->name))
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
    return 0;
}

/* Lists the SSTable files of the table's snapshot directories. */
static int list_files(upload_table *t, cairn_err *e)
{
    size_t cap = 0;
    for (size_t d = 0; d < t->ndirs; d++) {
        DIR *dir = opendir(t->dirs[d]);
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
            if (!(f->name = strdup(de->d_name))) {
                rc = err_set(e, CAIRN_ENOMEM, "out of memory");
                break;
            }
            f->size = (uint64_t)st.st_size;
            f->dir = (uint32_t)d;
            t->nfiles++;
        }
        closedir(dir);
        if (rc)
            return rc;
    }
    return 0;
}

/* Hashes (through the cache), checks and uploads one file; fills its manifest entry. */
static int upload_one(upload_table *t, size_t i, cairn_err *e)
{
    upload_file *f = &t->files[i];
    Cairn__Repo__FileEntry *fe = &t->entries[i];
    const char *dirpath = t->dirs[f->dir];
    int dfd = open(dirpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return err_sys(e, errno, "cannot open %s", dirpath);
    int fd = openat(dfd, f->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    int rc = 0;
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        rc = err_sys(e, errno, "cannot read %s/%s", dirpath, f->name);
        goto done;
    }
    bool data = sstable_is_data(f->name);
    char id[BLOB_ID_HEX + 1];
    uint32_t crc = 0;
    bool has_crc = false;
    uint64_t size = (uint64_t)st.st_size;
    if (!hashcache_lookup(t->arg->a->hashes, &st, id, &crc, &has_crc) || (data && !has_crc)) {
        if ((rc = blob_hash_fd(fd, id, data ? &crc : NULL, &size, e)) != 0)
            goto done;
        has_crc = data;
        if ((rc = hashcache_store(t->arg->a->hashes, &st, id, data ? &crc : NULL, e)) != 0)
            goto done;
    }
    fe->name = f->name;
    fe->size = size;
    fe->blob = strdup(id);
    fe->has_data_dir = 1;
    fe->data_dir = t->dir_data_dir[f->dir];
    if (!fe->blob) {
        rc = err_set(e, CAIRN_ENOMEM, "out of memory");
        goto done;
    }
    if (data) {
        uint32_t digest;
        cairn_err de;
        int drc = sstable_read_digest(dfd, f->name, &digest, &de);
        if (drc == 0) {
            fe->has_data_crc32 = 1;
            fe->data_crc32 = digest;
            if (digest != crc) {
                fe->has_crc_mismatch = 1;
                fe->crc_mismatch = 1;
                job_warn(t->j,
                         "CORRUPT: node %s, table %s.%s, file %s/%s: Data.db CRC-32 %u does not "
                         "match its Digest.crc32 %u; backed up as it is",
                         t->arg->node->address, t->table->keyspace, t->table->name, dirpath,
                         f->name, crc, digest);
            }
        } else if (drc != CAIRN_ENOENT) {
            job_warn(t->j, "%s", de.msg);
        }
    }
    bool exists = false;
    if ((rc = repo_blob_exists(t->repo, id, &exists, e)) != 0)
        goto done;
    if (!exists) {
        uint64_t stored = 0;
        rc = repo_blob_put_fd(t->repo, id, fd, t->arg->rq->compression_level, t->rl, &stored, e);
        if (rc)
            goto done;
        job_add(t->j, JOB_BYTES_UPLOADED, size);
        job_add(t->j, JOB_BYTES_STORED, stored);
    }
    job_add(t->j, JOB_FILES_DONE, 1);
    job_add(t->j, JOB_BYTES_DONE, size);
done:
    if (fd >= 0)
        close(fd);
    close(dfd);
    if (rc)
        err_prefix(e, "%s.%s", t->table->keyspace, t->table->name);
    return rc;
}

static void *upload_worker(void *p)
{
    upload_table *t = p;
    for (;;) {
        size_t i = atomic_fetch_add(&t->next, 1);
        pthread_mutex_lock(&t->lock);
        bool stop = t->rc != 0 || i >= t->nfiles;
        pthread_mutex_unlock(&t->lock);
        if (stop)
            return NULL;
        cairn_err e;
        err_clear(&e);
        int rc = job_cancelled(t->j) ? err_set(&e, CAIRN_EBUSY, "agent shutting down")
                                     : upload_one(t, i, &e);
        if (rc) {
            pthread_mutex_lock(&t->lock);
            if (!t->rc) {
                t->rc = rc;
                t->err = e;
            }
            pthread_mutex_unlock(&t->lock);
        }
    }
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
        if (t->entries)
            free(t->entries[i].blob);
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
    if (nt > t->nfiles)
        nt = (unsigned)t->nfiles;
    pthread_t threads[64];
    if (nt > 64)
        nt = 64;
    unsigned started = 0;
    for (; started < nt; started++)
        if (pthread_create(&threads[started], NULL, upload_worker, t) != 0)
            break;
    if (started == 0 && t->nfiles)
        upload_worker(t);
    for (unsigned k = 0; k < started; k++)
        pthread_join(threads[k], NULL);
    if (t->rc) {
        *e = t->err;
        return t->rc;
    }
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
    rc = manifest_node_add_table(mw, &te, e);
    free(te.schema_cql);
    free(ptrs);
    return rc;
}

static int upload_run(job *j, void *p, cairn_err *e)
{
    upload_arg *u = p;
    const Cairn__Rpc__UploadRequest *rq = u->rq;
    repo *r = NULL;
    ratelimit *rl = NULL;
    manifest_writer *mw = NULL;
    int rc = repo_open(&r, rq->repository, u->a->cfg->store, false, e);
    if (!rc)
        rc = ratelimit_new(&rl, rq->rate_limit, e);
    if (rc)
        goto done;

    Cairn__Repo__NodeManifest h = CAIRN__REPO__NODE_MANIFEST__INIT;
    const Cairn__Rpc__NodeInfo *n = u->node;
    h.format_version = MANIFEST_FORMAT_VERSION;
    h.cluster = u->a->cfg->cluster;
    h.tag = rq->tag;
    h.host_id = n->host_id;
    h.address = n->address;
    h.dc = n->dc;
    h.rack = n->rack;
    h.tokens = n->tokens;
    h.n_tokens = n->n_tokens;
    h.scylla_version = n->scylla_version;
    h.has_snapshot_time_ms = rq->has_snapshot_time_ms;
    h.snapshot_time_ms = rq->snapshot_time_ms;
    h.data_dirs = n->data_dirs;
    h.n_data_dirs = n->n_data_dirs;
    h.tool_version = (char *)CAIRN_VERSION;
    char key[1024];
    repo_node_manifest_key(u->a->cfg->cluster, rq->tag, n->host_id, key, sizeof(key));
    if ((rc = manifest_node_begin(r, key, &h, &mw, e)) != 0)
        goto done;

    /* Sizes first, so progress has a total from the start. */
    upload_table *tables = calloc(rq->n_tables ? rq->n_tables : 1, sizeof(*tables));
    if (!tables) {
        rc = err_set(e, CAIRN_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < rq->n_tables; i++) {
        upload_table *t = &tables[i];
        t->j = j;
        t->arg = u;
        t->repo = r;
        t->rl = rl;
        t->table = rq->tables[i];
        pthread_mutex_init(&t->lock, NULL);
        atomic_init(&t->next, 0);
    }
    for (size_t i = 0; !rc && i < rq->n_tables; i++) {
        upload_table *t = &tables[i];
        rc = find_snapshot_dirs(t, e);
        for (size_t d = 0; !rc && d < t->ndirs; d++) {
            DIR *dir = opendir(t->dirs[d]);
            struct dirent *de;
            while (dir && (de = readdir(dir)) != NULL) {
                struct stat st;
                if (name_valid(NAME_SSTABLE_FILE, de->d_name) &&
                    fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                    S_ISREG(st.st_mode)) {
                    job_add(j, JOB_FILES_TOTAL, 1);
                    job_add(j, JOB_BYTES_TOTAL, (uint64_t)st.st_size);
                }
            }
            if (dir)
                closedir(dir);
        }
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
    for (size_t i = 0; i < rq->n_tables; i++) {
        table_release(&tables[i]);
        pthread_mutex_destroy(&tables[i].lock);
    }
    free(tables);
    if (!rc) {
        char sha[65];
        rc = manifest_node_finish(mw, sha, e);
        mw = NULL;
        if (!rc)
            rc = job_set_result(j, key, sha);
    }
done:
    if (mw)
        manifest_node_abort(mw);
    if (r)
        job_add_requests(j, r);
    ratelimit_free(rl);
    repo_close(r);
    return rc;
}

int agent_upload(agent *a, const Cairn__Rpc__UploadRequest *rq, Cairn__Rpc__Response *resp,
                 cairn_err *e)
{
    int rc = name_check(NAME_TAG, rq->tag, e);
    for (size_t i = 0; !rc && i < rq->n_tables; i++)
        rc = agent_check_table_name(rq->tables[i]->keyspace, rq->tables[i]->name, e);
    if (rc)
        return rc;
    upload_arg *u = calloc(1, sizeof(*u));
    if (!u)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    u->a = a;
    u->rq = (Cairn__Rpc__UploadRequest *)agent_copy_message(&rq->base);
    if (!u->rq) {
        upload_arg_free(u);
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    }
    Cairn__Rpc__Response tmp = CAIRN__RPC__RESPONSE__INIT;
    if ((rc = agent_describe(a, &tmp, e)) != 0) {
        upload_arg_free(u);
        return rc;
    }
    u->node = tmp.node;
    char id[256];
    snprintf(id, sizeof(id), "upload:%s", rq->tag);
    return agent_start_job(a, id, upload_run, u, upload_arg_free, resp, e);
}

int agent_job(agent *a, const Cairn__Rpc__JobRequest *rq, Cairn__Rpc__Response *resp, cairn_err *e)
{
    Cairn__Rpc__JobInfo *info = malloc(sizeof(*info));
    if (!info)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    int rc = jobs_info(a->jobs, rq->job_id, info, e);
    if (rc) {
        free(info);
        return rc;
    }
    resp->result_case = CAIRN__RPC__RESPONSE__RESULT_JOB;
    resp->job = info;
    return 0;
}
