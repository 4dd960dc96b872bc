/*
 * tabledir - a table's directories (<data dir>/<keyspace>/<table>-<id>) and the
 * backups/ directory inside each, where ScyllaDB's incremental backups hard-link every
 * SSTable a memtable flush seals and never remove the links: an increment uploads the
 * complete SSTables found there, a prune removes the links an increment recorded, and
 * describe counts what waits.
 */
#ifndef CAIRN_TABLEDIR_H
#define CAIRN_TABLEDIR_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

/* Whether entry, a name in a keyspace directory, is a directory of table: with id
 * (32 hex digits) that one directory and no other, without it any incarnation. */
bool tabledir_match(const char *entry, const char *table, const char *id_or_null);

/* An SSTable of backups/ whose every file was written this long before the base's
 * snapshot on the node is in that snapshot (its data, compacted or not): the snapshot
 * links every sealed SSTable, and its flush and linking take far less. Taking it into
 * an increment could bring back rows whose tombstones compaction has purged since. */
#define TABLEDIR_HELD_MARGIN_MS (10 * 60 * 1000)

/* The cut of an increment whose base snapshot on this node was taken at base_time_ms
 * (0: unknown): SSTables written before it are the base's. 0 when there is none. */
int64_t tabledir_held_before(uint64_t base_time_ms);

/* Receives a file of a complete SSTable, with its size; held: the SSTable was written
 * before held_before_ms (tabledir_complete_sstables). */
typedef int (*tabledir_file_fn)(void *ctx, const char *name, uint64_t size, bool held,
                                cairn_err *e);

/* Calls fn, SSTable by SSTable, for every regular file of each complete SSTable in dir:
 * one whose TOC.txt is there with every component it names, and no TOC.txt.tmp.
 * Everything else is skipped: ScyllaDB may be linking it still, and the next increment
 * takes it. A missing dir holds nothing. An SSTable all of whose files were last
 * modified before held_before_ms (ms since the epoch; 0: never) is passed as held. */
int tabledir_complete_sstables(const char *dir, int64_t held_before_ms, tabledir_file_fn fn,
                               void *ctx, cairn_err *e);
/* The same of the directory open as dfd (named dir in messages), which stays open. */
int tabledir_complete_sstables_at(int dfd, const char *dir, int64_t held_before_ms,
                                  tabledir_file_fn fn, void *ctx, cairn_err *e);

/* Adds the regular files in <table_dir>/backups, and their bytes, to *files and *bytes. */
void tabledir_backups_count(const char *table_dir, uint64_t *files, uint64_t *bytes);
/* Removes the SSTable files of <table_dir>/backups, adding them to *files and *bytes:
 * for views and indexes, whose flushes ScyllaDB links as well but a backup never takes. */
void tabledir_backups_clear(const char *table_dir, uint64_t *files, uint64_t *bytes);

#endif
