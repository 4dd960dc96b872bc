/*
 * restore - the restore job of one node: download its share of a backup into each
 * table's upload/ directory, verify every byte, and have ScyllaDB load it.
 *
 * Tables go one at a time: a table's files are all downloaded and checked before the
 * load is asked for, so a missing or corrupt blob stops that table before anything of
 * it is loaded, and the files a failed attempt left are removed. Each loaded table is
 * recorded in the state directory; a restore started again with the same tag skips
 * those, so an interrupted restore resumes without loading anything twice.
 *
 * Design notes: the state directory holds restore-<tag>.done (the loaded tables, one
 * "ks.table" a line, fsync'd before the table counts as done) and, while a load is
 * asked for, restore-<tag>.pending.<ks>.<table> (the names handed to ScyllaDB). A
 * table is in one of three places when the agent dies: not loaded (its leftovers are
 * removed and it is done again), loaded but not recorded (the pending names are gone
 * from upload/: recorded now), or recorded (skipped). Files are downloaded under a
 * ".cairn-" name and renamed only once their size and CRC-32 are checked, so ScyllaDB
 * never sees a partial file.
 */
#include "handlers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "base/debug.h"
#include "base/log.h"
#include "base/path.h"
#include "job/start.h"
#include "node/cql.h"
#include "node/hostport.h"
#include "repo/repo.h"
#include "scylla/names.h"
#include "scylla/sstable.h"

#define CQL_TIMEOUT_MS 60000
/* ScyllaDB loads one batch at a time per node; wait this long for our turn. */
#define LOAD_BUSY_RETRIES  600
#define LOAD_BUSY_SLEEP_MS 500

/* What the steps of one restore job share. */
typedef struct restore_ctx {
    job *j;
    agent *a;
    const Cairn__Rpc__RestoreRequest *rq;
    repo *r;
    cql_conn *c;
    char state[4096]; /* the tables this tag has loaded, one "ks.table" a line */
} restore_ctx;

static int state_path(const agent *a, const char *tag, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s/restore-%s.done", a->cfg->state_dir, tag);
    return (n < 0 || (size_t)n >= cap) ? CAIRN_EINVAL : 0;
}

/* Whether "ks.table" is recorded as loaded for this tag. */
static bool already_loaded(const char *path, const char *ks, const char *table)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[256], want[256];
    snprintf(want, sizeof(want), "%s.%s\n", ks, table);
    bool found = false;
    while (!found && fgets(line, sizeof(line), f))
        found = strcmp(line, want) == 0;
    fclose(f);
    return found;
}

static int record_loaded(const char *path, const char *ks, const char *table, cairn_err *e)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_sys(e, errno, "cannot record progress in %s", path);
    char line[256];
    int n = snprintf(line, sizeof(line), "%s.%s\n", ks, table);
    int rc = (write(fd, line, (size_t)n) != n || fsync(fd) != 0)
                 ? err_sys(e, errno, "cannot record progress in %s", path)
                 : 0;
    close(fd);
    return rc;
}

/* Before a load is asked for, the names it will take from upload/ are written down:
 * if the agent dies before it records the table as loaded, the next attempt tells a
 * finished load (ScyllaDB moved every file away) from one that never ran. */
static int pending_path(const agent *a, const char *tag, const char *ks, const char *table,
                        char *buf, size_t cap)
{
    return path_fmt(buf, cap, NULL, "%s/restore-%s.pending.%s.%s", a->cfg->state_dir, tag, ks,
                    table);
}

static int write_pending(const char *path, char **placed, size_t nplaced, cairn_err *e)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return err_sys(e, errno, "cannot record progress in %s", path);
    /* placed holds each file's temporary name, then its final name. */
    CAIRN_ASSERT(nplaced % 2 == 0);
    for (size_t i = 1; i < nplaced; i += 2)
        fprintf(f, "%s\n", placed[i]);
    int rc = (fflush(f) != 0 || fsync(fileno(f)) != 0)
                 ? err_sys(e, errno, "cannot record progress in %s", path)
                 : 0;
    if (fclose(f) != 0 && !rc)
        rc = err_sys(e, errno, "cannot record progress in %s", path);
    return rc;
}

/* After an interrupted attempt: true when its load went through (none of its files is
 * left in upload/). Otherwise what is left is removed, and the table is done again. */
static bool pending_was_loaded(const char *path, const char *dir)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char name[512];
    size_t left = 0, total = 0;
    while (fgets(name, sizeof(name), f)) {
        name[strcspn(name, "\n")] = '\0';
        char full[4700];
        if (!name_valid(NAME_SSTABLE_FILE, name) ||
            path_fmt(full, sizeof(full), NULL, "%s/%s", dir, name) != 0)
            continue;
        total++;
        if (access(full, F_OK) == 0) {
            left++;
            unlink(full);
        }
    }
    fclose(f);
    unlink(path);
    return total > 0 && left == 0;
}

/* The table's live directory: the one whose id the schema gives. */
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
        int len = snprintf(tdir, sizeof(tdir), "%s/%s/%s-%s", dirs[i], ks, table, id);
        if (len < 0 || (size_t)len >= sizeof(tdir) || stat(tdir, &st) != 0 || !S_ISDIR(st.st_mode))
            continue;
        len = snprintf(out, cap, "%s/upload", tdir);
        if (len < 0 || (size_t)len >= cap)
            continue;
        if (mkdir(out, 0755) != 0 && errno != EEXIST) {
            rc = err_sys(e, errno, "cannot create %s", out);
            break;
        }
        rc = 0;
        break;
    }
    scylla_strv_free(dirs, n);
    return rc;
}

typedef struct file_sink {
    int fd;
    uLong crc;
    bool want_crc;
} file_sink;

static int sink_write(void *ctx, const void *buf, size_t len, cairn_err *e)
{
    file_sink *s = ctx;
    if (s->want_crc)
        s->crc = crc32(s->crc, buf, (uInt)len);
    const char *p = buf;
    while (len) {
        ssize_t n = write(s->fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return err_sys(e, errno, "cannot write a downloaded file");
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The name a file gets in upload/: its own, or the same components under a fresh
 * generation when another SSTable of this batch (from another node) took it. */
typedef struct rename_map {
    char (*from)[128];
    char (*to)[128];
    size_t n, cap;
    unsigned long next_gen;
} rename_map;

static const char *final_prefix(rename_map *m, const char *dir, const char *prefix, cairn_err *e)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->from[i], prefix) == 0)
            return m->to[i];
    if (m->n == m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 32;
        void *nf = realloc(m->from, nc * sizeof(*m->from));
        if (!nf)
            return NULL;
        m->from = nf;
        void *nt = realloc(m->to, nc * sizeof(*m->to));
        if (!nt)
            return NULL;
        m->to = nt;
        m->cap = nc;
    }
    CAIRN_ASSERT(m->n < m->cap);
    snprintf(m->from[m->n], sizeof(m->from[0]), "%s", prefix);
    /* Taken when another mapping produced it or a file of that SSTable is there. */
    bool taken = false;
    for (size_t i = 0; i < m->n && !taken; i++)
        taken = strcmp(m->to[i], prefix) == 0;
    char probe[4200];
    if (path_fmt(probe, sizeof(probe), e, "%s/%s-TOC.txt", dir, prefix) != 0)
        return NULL;
    taken = taken || access(probe, F_OK) == 0;
    if (!taken) {
        snprintf(m->to[m->n], sizeof(m->to[0]), "%s", prefix);
    } else {
        /* <version>-<generation>-<format>: keep version and format. */
        const char *d1 = strchr(prefix, '-');
        const char *d2 = d1 ? strchr(d1 + 1, '-') : NULL;
        if (!d2) {
            err_set(e, CAIRN_EINVAL, "unexpected SSTable name %s", prefix);
            return NULL;
        }
        snprintf(m->to[m->n], sizeof(m->to[0]), "%.*s-%lu%s", (int)(d1 - prefix), prefix,
                 m->next_gen++, d2);
    }
    return m->to[m->n++];
}

static void remove_placed(const char *dir, char **placed, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char path[4400];
        if (path_fmt(path, sizeof(path), NULL, "%s/%s", dir, placed[i]) == 0)
            unlink(path);
        free(placed[i]);
    }
}

/* Where a file of the batch goes in upload/: its final name, and the temporary one it
 * is downloaded under, both recorded in placed (temporary first) for the cleanup. */
static int place_names(rename_map *map, const char *dir, const Cairn__Repo__FileEntry *f,
                       const Cairn__Rpc__RestoreTable *t, char ***placed, size_t *nplaced,
                       char *path, char *tmppath, size_t cap, cairn_err *e)
{
    size_t plen;
    const char *comp;
    if (!name_valid(NAME_SSTABLE_FILE, f->name) || sstable_split(f->name, &plen, &comp) != 0 ||
        !name_valid(NAME_BLOB_ID, f->blob))
        return err_set(e, CAIRN_EINVAL, "refusing file name '%.100s' of %s.%s", f->name,
                       t->keyspace, t->name);
    char prefix[128];
    snprintf(prefix, sizeof(prefix), "%.*s", (int)plen, f->name);
    const char *to = final_prefix(map, dir, prefix, e);
    if (!to)
        return e && e->code ? e->code : err_set(e, CAIRN_ENOMEM, "out of memory");
    char name[300], tmp[320];
    int rc;
    if ((rc = path_fmt(name, sizeof(name), e, "%s-%s", to, comp)) != 0 ||
        (rc = path_fmt(tmp, sizeof(tmp), e, ".cairn-%s", name)) != 0 ||
        (rc = path_fmt(path, cap, e, "%s/%s", dir, name)) != 0 ||
        (rc = path_fmt(tmppath, cap, e, "%s/%s", dir, tmp)) != 0)
        return rc;
    char **np = realloc(*placed, (*nplaced + 2) * sizeof(char *));
    if (!np)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    *placed = np;
    np[(*nplaced)++] = strdup(tmp);
    np[(*nplaced)++] = strdup(name);
    return 0;
}

/* Downloads one blob to tmppath and checks its size and CRC-32 against the manifest. */
static int fetch_file(job *j, repo *r, const Cairn__Rpc__RestoreTable *t,
                      const Cairn__Repo__FileEntry *f, const char *tmppath, uint64_t *size,
                      cairn_err *e)
{
    file_sink s = {.want_crc = sstable_is_data(f->name) && f->has_data_crc32,
                   .crc = crc32(0, NULL, 0)};
    s.fd = open(tmppath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (s.fd < 0)
        return err_sys(e, errno, "cannot create %s", tmppath);
    *size = 0;
    int rc = repo_blob_get(r, f->blob, sink_write, &s, size, e);
    if (close(s.fd) != 0 && !rc)
        rc = err_sys(e, errno, "cannot write %s", tmppath);
    if (rc) {
        err_prefix(e, "blob %s (%s of %s.%s)", f->blob, f->name, t->keyspace, t->name);
        return rc;
    }
    if (*size != f->size)
        return err_set(
            e, CAIRN_ECORRUPT, "blob %s of %s.%s holds %llu bytes, the manifest says %llu", f->blob,
            t->keyspace, t->name, (unsigned long long)*size, (unsigned long long)f->size);
    if (s.want_crc && (uint32_t)s.crc != f->data_crc32 && !f->crc_mismatch)
        return err_set(e, CAIRN_ECORRUPT,
                       "%s of %s.%s does not match its Digest.crc32 after download", f->name,
                       t->keyspace, t->name);
    if (f->crc_mismatch)
        job_warn(j, "%s.%s: %s was already corrupt when it was backed up", t->keyspace, t->name,
                 f->name);
    return 0;
}

static int download_table(job *j, repo *r, const Cairn__Rpc__RestoreTable *t, const char *dir,
                          char ***placed, size_t *nplaced, cairn_err *e)
{
    rename_map map = {.next_gen = (unsigned long)time(NULL) * 1000};
    int rc = 0;
    for (size_t i = 0; !rc && i < t->n_files; i++) {
        const Cairn__Repo__FileEntry *f = t->files[i];
        char path[4400], tmppath[4400];
        uint64_t size = 0;
        rc = place_names(&map, dir, f, t, placed, nplaced, path, tmppath, sizeof(path), e);
        if (!rc)
            rc = fetch_file(j, r, t, f, tmppath, &size, e);
        if (!rc && rename(tmppath, path) != 0)
            rc = err_sys(e, errno, "cannot rename %s", tmppath);
        if (!rc) {
            job_add(j, JOB_FILES_DONE, 1);
            job_add(j, JOB_BYTES_DONE, size);
        }
    }
    free(map.from);
    free(map.to);
    return rc;
}

static int load_table(job *j, agent *a, const Cairn__Rpc__RestoreRequest *rq,
                      const Cairn__Rpc__RestoreTable *t, cairn_err *e)
{
    for (int attempt = 0;; attempt++) {
        int rc = scylla_load_sstables(a->rest, t->keyspace, t->name, rq->load_and_stream,
                                      rq->primary_replica_only, e);
        if (rc != CAIRN_EBUSY || attempt >= LOAD_BUSY_RETRIES || job_cancelled(j))
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

/* Counts a table an earlier attempt loaded as done. */
static void count_loaded(job *j, const Cairn__Rpc__RestoreTable *t)
{
    job_add(j, JOB_FILES_DONE, t->n_files);
    job_add(j, JOB_BYTES_DONE, table_bytes(t));
    job_add(j, JOB_TABLES, 1);
}

/* Nothing of a failed table stays behind in upload/. */
static void table_failed(const char *dir, char **placed, size_t nplaced, const char *pending,
                         const Cairn__Rpc__RestoreTable *t, cairn_err *e)
{
    remove_placed(dir, placed, nplaced);
    unlink(pending);
    err_prefix(e, "table %s.%s", t->keyspace, t->name);
}

/* Downloads, checks and loads one table that no earlier attempt loaded. */
static int restore_table(restore_ctx *x, const Cairn__Rpc__RestoreTable *t, const char *dir,
                         const char *pending, cairn_err *e)
{
    char **placed = NULL;
    size_t nplaced = 0;
    int rc = download_table(x->j, x->r, t, dir, &placed, &nplaced, e);
    if (!rc)
        rc = write_pending(pending, placed, nplaced, e);
    if (!rc)
        rc = load_table(x->j, x->a, x->rq, t, e);
    if (rc) {
        table_failed(dir, placed, nplaced, pending, t, e);
    } else {
        for (size_t k = 0; k < nplaced; k++)
            free(placed[k]);
        rc = record_loaded(x->state, t->keyspace, t->name, e);
        unlink(pending);
        job_add(x->j, JOB_TABLES, 1);
        job_add(x->j, JOB_BYTES_UPLOADED, table_bytes(t));
    }
    free(placed);
    return rc;
}

/* One table of the restore: skipped when an earlier attempt loaded it, restored
 * otherwise. */
static int restore_next(restore_ctx *x, const Cairn__Rpc__RestoreTable *t, cairn_err *e)
{
    const char *tag = x->rq->tag;
    if (already_loaded(x->state, t->keyspace, t->name)) {
        log_info("restore %s: %s.%s was loaded by an earlier attempt", tag, t->keyspace, t->name);
        count_loaded(x->j, t);
        return 0;
    }
    char dir[4096] = "", pending[4096];
    if (pending_path(x->a, tag, t->keyspace, t->name, pending, sizeof(pending)) != 0)
        return err_set(e, CAIRN_EINVAL, "state directory path too long");
    int rc = find_upload_dir(x->a, x->c, t->keyspace, t->name, dir, sizeof(dir), e);
    if (!rc && pending_was_loaded(pending, dir)) {
        log_info("restore %s: %s.%s was loaded just before the last attempt stopped", tag,
                 t->keyspace, t->name);
        rc = record_loaded(x->state, t->keyspace, t->name, e);
        count_loaded(x->j, t);
        return rc;
    }
    if (rc)
        table_failed(dir, NULL, 0, pending, t, e);
    else
        rc = restore_table(x, t, dir, pending, e);
    if (job_cancelled(x->j) && !rc)
        rc = err_set(e, CAIRN_EBUSY, "agent shutting down");
    return rc;
}

static int restore_run(job *j, void *p, cairn_err *e)
{
    const job_request *jr = p;
    restore_ctx x = {.j = j, .a = jr->ctx, .rq = (const Cairn__Rpc__RestoreRequest *)jr->rq};
    const Cairn__Rpc__RestoreRequest *rq = x.rq;
    char host[256];
    int port;
    int rc = state_path(x.a, rq->tag, x.state, sizeof(x.state));
    if (rc)
        return err_set(e, rc, "state directory path too long");
    for (size_t i = 0; i < rq->n_tables; i++) {
        job_add(j, JOB_FILES_TOTAL, rq->tables[i]->n_files);
        job_add(j, JOB_BYTES_TOTAL, table_bytes(rq->tables[i]));
    }
    repo *r = NULL;
    rc = hostport_split(x.a->cfg->scylla_cql, host, sizeof(host), &port, e);
    if (!rc)
        rc = repos_repo_open(&r, x.a->cfg, rq->repository, e);
    x.r = r;
    if (!rc)
        rc = cql_connect(&x.c, host, port, x.a->cfg->scylla_username, x.a->cfg->scylla_password,
                         CQL_TIMEOUT_MS, e);
    for (size_t i = 0; !rc && i < rq->n_tables; i++)
        rc = restore_next(&x, rq->tables[i], e);
    cql_close(x.c);
    if (r)
        job_add_requests(j, r);
    repo_close(r);
    return rc;
}

int agent_restore(agent *a, const Cairn__Rpc__RestoreRequest *rq, Cairn__Rpc__Response *resp,
                  cairn_err *e)
{
    int rc = name_check(NAME_TAG, rq->tag, e);
    for (size_t i = 0; !rc && i < rq->n_tables; i++)
        rc = name_check_table(rq->tables[i]->keyspace, rq->tables[i]->name, e);
    if (rc)
        return rc;
    return job_start_request(a->jobs, "restore", rq->tag, &rq->base, a, NULL, restore_run, resp, e);
}

int agent_forget_restore(agent *a, const Cairn__Rpc__ForgetRestoreRequest *rq, cairn_err *e)
{
    int rc = name_check(NAME_TAG, rq->tag, e);
    if (rc)
        return rc;
    char id[256], state[4096];
    job_request_id("restore", rq->tag, id, sizeof(id));
    if ((rc = jobs_forget(a->jobs, id, e)) != 0)
        return rc;
    if (state_path(a, rq->tag, state, sizeof(state)) == 0 && unlink(state) != 0 && errno != ENOENT)
        return err_sys(e, errno, "cannot remove %s", state);
    return 0;
}
