/*
 * upload_table - one table of an upload job and its files on disk: where
 * snapshots/<tag> (or, for an increment, backups/) is in each data directory, which
 * SSTable files it holds, and the lists that follow one table at a time through the
 * upload. Private to upload.c.
 */
#ifndef CAIRN_UPLOAD_TABLE_H
#define CAIRN_UPLOAD_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent.h"
#include "agent.pb-c.h"
#include "backup/known.h"
#include "base/err.h"
#include "base/ratelimit.h"
#include "job/jobs.h"
#include "repo/pack.h"
#include "repo/repo.h"
#include "repo.pb-c.h"

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
    uint32_t dir; /* index into the table's source directories */
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
    char id[33];  /* the table id of its live directory, "" when none was found */
    bool dropped; /* an increment's table ScyllaDB no longer has: nothing to take */
    char **dirs;  /* snapshots/<tag> (or backups/) of this table, one per data directory */
    uint32_t *dir_data_dir;
    size_t ndirs;
    bool listed;
    upload_file *files;
    Cairn__Repo__FileEntry *entries;
    size_t nfiles;
} upload_table;

/* Finds snapshots/<tag> of the table in every data directory; none is
 * upload_table_gone's error. An increment finds backups/ instead, and a table without
 * one has nothing to upload. */
int upload_table_find(upload_table *t, cairn_err *e);

/* Lists the SSTable files of the snapshot directories (others are skipped with a
 * warning); for an increment, the files of the complete SSTables in backups/. A
 * listed table is not listed again. */
int upload_table_list(upload_table *t, cairn_err *e);

/* Adds the SSTable files and bytes to upload to the job's totals. */
int upload_table_count(upload_table *t, cairn_err *e);

/* Files of a table's snapshot kept verbatim in the node manifest, and their limits: a
 * larger schema.cql is not a CREATE statement; ScyllaDB 2026.1's manifest.json takes
 * about 250 bytes per SSTable, so 4 MiB is some 16,000 SSTables on one node. */
#define SCHEMA_CQL_MAX        (1u << 20)
#define SNAPSHOT_MANIFEST_MAX (4u << 20)

/* The snapshot's file `name` (malloc'd) from the first of its directories that has
 * one; NULL when none has, for an increment, and when it is larger than max or holds
 * a NUL byte (the job then warns). */
char *upload_table_snapshot_file(const upload_table *t, const char *name, uint64_t max);

/* The error of a table whose snapshot (or a file of its increment) went away; what
 * (may be NULL) says when. */
int upload_table_gone(const upload_table *t, const char *what, cairn_err *e);

/* Frees the table's lists and pack; a released table is empty and may be released
 * again. */
void upload_table_release(upload_table *t);

#endif
