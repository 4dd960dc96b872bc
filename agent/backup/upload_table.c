/*
 * upload_table - a table's snapshot (or increment) on disk, for the upload job.
 */
#include "backup/upload_table.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup/tabledir.h"
#include "base/path.h"
#include "scylla/names.h"

/* A requested table whose snapshot is missing (cleared under cairn's feet, or the
 * table re-created) fails the node: a backup without it would say complete and
 * restore nothing of the table. A file of an increment that went away fails it too:
 * it was recorded as there. */
int upload_table_gone(const upload_table *t, const char *what, cairn_err *e)
{
    if (t->arg->rq->incremental)
        return err_set(e, CAIRN_ENOENT,
                       "node %s: a file of table %s.%s left its backups/ directory while the "
                       "increment ran (removed by hand, or the table dropped); run the backup "
                       "again",
                       t->arg->node->host_id, t->table->keyspace, t->table->name);
    return err_set(e, CAIRN_ENOENT,
                   "node %s: table %s.%s has no snapshot %s%s%s: it was cleared, or the table "
                   "re-created, while the backup ran; run the backup again",
                   t->arg->node->host_id, t->table->keyspace, t->table->name, t->arg->rq->tag,
                   what ? " " : "", what ? what : "");
}

/* Where the table's files are in its directory entry of keyspace directory ksdir. */
static int source_dir(const upload_table *t, const char *ksdir, const char *entry, char *out,
                      size_t cap, cairn_err *e)
{
    if (t->arg->rq->incremental)
        return path_fmt(out, cap, e, "%s/%s/backups", ksdir, entry);
    return path_fmt(out, cap, e, "%s/%s/snapshots/%s", ksdir, entry, t->arg->rq->tag);
}

static int add_dir(upload_table *t, const char *path, uint32_t data_dir, cairn_err *e)
{
    char **nd = realloc(t->dirs, (t->ndirs + 1) * sizeof(char *));
    if (nd)
        t->dirs = nd;
    uint32_t *ni = realloc(t->dir_data_dir, (t->ndirs + 1) * sizeof(uint32_t));
    if (ni)
        t->dir_data_dir = ni;
    if (!nd || !ni || !(t->dirs[t->ndirs] = strdup(path)))
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    t->dir_data_dir[t->ndirs++] = data_dir;
    return 0;
}

/* The table's source directory in keyspace directory ksdir of data directory d. A
 * table dropped and created again has two directories; only the live one holds this
 * snapshot (an increment names the table's id to mean the live one). */
static int find_in(upload_table *t, const char *ksdir, uint32_t d, cairn_err *e)
{
    DIR *dir = opendir(ksdir);
    if (!dir)
        return errno == ENOENT ? 0 : err_sys(e, errno, "cannot list %s", ksdir);
    struct dirent *de;
    int rc = 0;
    while (!rc && (de = readdir(dir)) != NULL) {
        if (!tabledir_match(de->d_name, t->table->name, t->id[0] ? t->id : t->table->id))
            continue;
        char src[4096];
        struct stat st;
        if ((rc = source_dir(t, ksdir, de->d_name, src, sizeof(src), e)) != 0)
            break;
        /* A backups/ that is a link is not the table's (tabledir). */
        int src_rc = t->arg->rq->incremental ? lstat(src, &st) : stat(src, &st);
        if (src_rc != 0 || !S_ISDIR(st.st_mode))
            continue;
        if (!t->id[0])
            snprintf(t->id, sizeof(t->id), "%s", de->d_name + strlen(t->table->name) + 1);
        rc = add_dir(t, src, d, e);
    }
    closedir(dir);
    return rc;
}

int upload_table_find(upload_table *t, cairn_err *e)
{
    const Cairn__Rpc__NodeInfo *node = t->arg->node;
    if (t->dropped)
        return 0;
    for (size_t d = 0; d < node->n_data_dirs; d++) {
        char ksdir[4096];
        int rc = path_fmt(ksdir, sizeof(ksdir), e, "%s/%s", node->data_dirs[d], t->table->keyspace);
        if (!rc)
            rc = find_in(t, ksdir, (uint32_t)d, e);
        if (rc)
            return rc;
    }
    return t->ndirs || t->arg->rq->incremental ? 0 : upload_table_gone(t, NULL, e);
}

static int add_file(upload_table *t, size_t *cap, const char *name, uint64_t size, uint32_t d,
                    cairn_err *e)
{
    if (t->nfiles == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        upload_file *nf = realloc(t->files, nc * sizeof(*nf));
        if (!nf)
            return err_set(e, CAIRN_ENOMEM, "out of memory");
        t->files = nf;
        *cap = nc;
    }
    upload_file *f = &t->files[t->nfiles];
    *f = (upload_file){.size = size, .dir = d};
    if (!(f->name = strdup(name)))
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    t->nfiles++;
    return 0;
}

/* The SSTable files of snapshot directory d. */
static int list_snapshot(upload_table *t, uint32_t d, size_t *cap, cairn_err *e)
{
    DIR *dir = opendir(t->dirs[d]);
    if (!dir && errno == ENOENT)
        return upload_table_gone(t, "any more", e);
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
        if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
            rc = add_file(t, cap, de->d_name, (uint64_t)st.st_size, d, e);
    }
    closedir(dir);
    return rc;
}

/* What tabledir_complete_sstables hands over, into the table's list. */
typedef struct backups_ctx {
    upload_table *t;
    size_t *cap;
    uint32_t d;
} backups_ctx;

static int add_backups_file(void *p, const char *name, uint64_t size, bool held, cairn_err *e)
{
    backups_ctx *c = p;
    return held ? 0 : add_file(c->t, c->cap, name, size, c->d, e); /* held: the base has it */
}

int upload_table_list(upload_table *t, cairn_err *e)
{
    if (t->listed)
        return 0;
    t->listed = true;
    size_t cap = 0;
    int rc = 0;
    for (uint32_t d = 0; !rc && d < t->ndirs; d++) {
        backups_ctx c = {t, &cap, d};
        rc = t->arg->rq->incremental
                 ? tabledir_complete_sstables(t->dirs[d],
                                              tabledir_held_before(t->arg->rq->base_time_ms),
                                              add_backups_file, &c, e)
                 : list_snapshot(t, d, &cap, e);
    }
    return rc;
}

/* The whole of one small regular file, NUL-terminated (NULL when absent, unreadable or
 * not kept); *present says whether the file is there. A file larger than max, or one
 * holding a NUL byte (a string field would cut it there), is not kept: a warning says
 * so, and the backup goes on without it. */
static char *read_small(const upload_table *t, const char *path, uint64_t max, bool *present)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    *present = fd >= 0;
    if (fd < 0)
        return NULL;
    struct stat st;
    char *buf = NULL;
    ssize_t n = -1;
    bool regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    if (regular && (uint64_t)st.st_size > max)
        job_warn(t->j, "%s: %llu bytes, more than the %llu a node manifest keeps; not kept", path,
                 (unsigned long long)st.st_size, (unsigned long long)max);
    else if (regular && (buf = malloc((size_t)st.st_size + 1)) != NULL)
        n = pread(fd, buf, (size_t)st.st_size, 0);
    close(fd);
    if (n < 0) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (strlen(buf) != (size_t)n) {
        job_warn(t->j, "%s holds a NUL byte; not kept in the node manifest", path);
        free(buf);
        return NULL;
    }
    return buf;
}

char *upload_table_snapshot_file(const upload_table *t, const char *name, uint64_t max)
{
    if (t->arg->rq->incremental)
        return NULL;
    for (size_t d = 0; d < t->ndirs; d++) {
        char path[4096];
        bool present = false;
        if (path_fmt(path, sizeof(path), NULL, "%s/%s", t->dirs[d], name) != 0)
            continue;
        char *buf = read_small(t, path, max, &present);
        if (present) /* the first that has one: a 2026.1 manifest.json is the whole snapshot */
            return buf;
    }
    return NULL;
}

/* Releases a table's lists as soon as it is done, so memory follows one table at a
 * time; a released table is empty and may be released again. */
void upload_table_release(upload_table *t)
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
    t->listed = false;
    pack_writer_free(t->pack);
    t->pack = NULL;
}

static void count_file(upload_table *t, uint64_t size)
{
    job_add(t->j, JOB_FILES_TOTAL, 1);
    job_add(t->j, JOB_BYTES_TOTAL, size);
}

/* An increment is listed as it is counted: an SSTable that became complete in between
 * would be uploaded outside the totals. It holds what was flushed since the last one,
 * so every table's list at once is small; a snapshot's lists go one table at a time. */
int upload_table_count(upload_table *t, cairn_err *e)
{
    if (t->arg->rq->incremental) {
        int rc = upload_table_list(t, e);
        for (size_t i = 0; !rc && i < t->nfiles; i++)
            count_file(t, t->files[i].size);
        return rc;
    }
    for (size_t d = 0; d < t->ndirs; d++) {
        DIR *dir = opendir(t->dirs[d]);
        struct dirent *de;
        while (dir && (de = readdir(dir)) != NULL) {
            struct stat st;
            if (name_valid(NAME_SSTABLE_FILE, de->d_name) &&
                fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISREG(st.st_mode))
                count_file(t, (uint64_t)st.st_size);
        }
        if (dir)
            closedir(dir);
    }
    return 0;
}
