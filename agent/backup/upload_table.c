/*
 * upload_table - a table's snapshot on disk, for the upload job.
 */
#include "backup/upload_table.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/path.h"
#include "scylla/names.h"

/* schema.cql is kept in the manifest; a larger one is not a CREATE statement. */
#define SCHEMA_CQL_MAX (1u << 20)

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
int upload_table_gone(const upload_table *t, const char *what, cairn_err *e)
{
    return err_set(e, CAIRN_ENOENT,
                   "node %s: table %s.%s has no snapshot %s%s%s: it was cleared, or the table "
                   "re-created, while the backup ran; run the backup again",
                   t->arg->node->host_id, t->table->keyspace, t->table->name, t->arg->rq->tag,
                   what ? " " : "", what ? what : "");
}

/* Finds snapshots/<tag> of the table in every data directory. A table dropped and
 * created again has two directories; only the live one holds this snapshot. */
int upload_table_find(upload_table *t, cairn_err *e)
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
    return t->ndirs ? 0 : upload_table_gone(t, NULL, e);
}

/* Lists the SSTable files of the table's snapshot directories. */
int upload_table_list(upload_table *t, cairn_err *e)
{
    size_t cap = 0;
    for (size_t d = 0; d < t->ndirs; d++) {
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

char *upload_table_schema_cql(const upload_table *t)
{
    char path[4096];
    if (!t->ndirs || path_fmt(path, sizeof(path), NULL, "%s/schema.cql", t->dirs[0]) != 0)
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
    pack_writer_free(t->pack);
    t->pack = NULL;
}

/* Adds the table's SSTable files to the job's totals. */
void upload_table_count(upload_table *t)
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
