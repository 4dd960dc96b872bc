/*
 * restore_state - what a restore keeps in the agent's state directory, per source
 * cluster and tag, so that an interrupted restore resumes and loads nothing twice.
 *
 *   <state_dir>/restore/<cluster>/<tag>/done                 tables loaded, "ks.table" a line
 *   <state_dir>/restore/<cluster>/<tag>/pending.<ks>.<table> names a load will take
 *   <state_dir>/restore/<cluster>/<tag>/stage/<ks>.<table>/<blob id>  verified files
 *   <state_dir>/restore/<cluster>/<tag>/gc/<ks>+<table>      "on" or "off": the table's
 *       tombstone GC before the restore turned it off ("+" is in no name)
 *
 * Everything is written durably (fsync of the file, then of its directory) before the
 * step it records counts as done.
 */
#ifndef CAIRN_RESTORE_STATE_H
#define CAIRN_RESTORE_STATE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

#define RSTATE_PATH_MAX 4096

/* <state_dir>/restore/<cluster>/<tag> into out; with create, made with its parents. */
int rstate_base(const char *state_dir, const char *cluster, const char *tag, bool create, char *out,
                size_t cap, cairn_err *e);

/* Whether ks.table is recorded as loaded under base. */
bool rstate_done(const char *base, const char *ks, const char *table);
/* Records ks.table as loaded, durably. */
int rstate_record_done(const char *base, const char *ks, const char *table, cairn_err *e);

/* base/stage/<ks>.<table> into out; with create, made. */
int rstate_stage_dir(const char *base, const char *ks, const char *table, bool create, char *out,
                     size_t cap, cairn_err *e);
/* base/pending.<ks>.<table> into out. */
int rstate_pending_path(const char *base, const char *ks, const char *table, char *out, size_t cap,
                        cairn_err *e);

/* Whether the table's tombstone GC state before the restore is recorded. */
bool rstate_gc_recorded(const char *base, const char *ks, const char *table);
/* Records it, durably. */
int rstate_gc_record(const char *base, const char *ks, const char *table, bool was_on,
                     cairn_err *e);
/* Calls fn for every recorded table; a record it cannot read is skipped with a warning. */
typedef void (*rstate_gc_fn)(void *ctx, const char *ks, const char *table, bool was_on);
void rstate_gc_each(const char *base, rstate_gc_fn fn, void *ctx);

/* Removes base (staged_only: only base/stage) and everything under it. */
int rstate_remove(const char *base, bool staged_only, cairn_err *e);
/* Removes path and everything under it; a missing path is no error. */
int rstate_remove_tree(const char *path, cairn_err *e);

/* fsync of a directory, so a rename or link into it survives a crash. */
int rstate_fsync_dir(const char *dir, cairn_err *e);
/* mkdir that accepts an existing directory. */
int rstate_mkdir(const char *dir, cairn_err *e);

#endif
