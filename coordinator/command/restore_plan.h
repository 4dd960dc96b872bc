/*
 * restore_plan - what a restore puts where: the SSTables of a backup read from its
 * node manifests, and the node of the target cluster each one goes to.
 *
 * The plan is built once, before any node is touched: read the manifests (only the
 * tables the filter selects), check that every blob is in the repository, then
 * assign. Refresh gives every node its own files back and needs the same nodes with
 * the same tokens; load-and-stream balances the bytes over the target nodes. A tablet
 * keyspace's tables are loaded by load-and-stream whatever the method: their data is
 * placed by tablets, not by the nodes' tokens.
 */
#ifndef CAIRN_RESTORE_PLAN_H
#define CAIRN_RESTORE_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent.pb-c.h"
#include "base/buf.h"
#include "base/err.h"
#include "cli/select.h"
#include "repo.pb-c.h"
#include "repo/repo.h"

typedef enum { METHOD_AUTO, METHOD_REFRESH, METHOD_LAS } restore_method;

/* One SSTable of the backup: its files are files[first .. first + n). */
typedef struct rs_sstable {
    uint32_t table;
    uint32_t source; /* index of the source node */
    uint32_t first, n;
    uint64_t bytes;
    int32_t target; /* index into the target nodes, -1 until assigned */
} rs_sstable;

typedef struct rs_table {
    char *keyspace, *name;
    bool tablets; /* its keyspace uses tablets: loaded by load-and-stream */
} rs_table;

typedef struct rs_source {
    char *host_id;
    char **tokens;
    size_t n_tokens;
} rs_source;

typedef struct restore_plan {
    rs_table *tables;
    size_t n_tables;
    rs_source *sources;
    size_t n_sources;
    rs_sstable *sst; /* points into sst_buf */
    size_t n_sst;
    Cairn__Repo__FileEntry *files; /* points into files_buf */
    size_t n_files;
    uint64_t bytes;
    const select_filter *filter; /* set by the caller: the tables to restore */
    /* Set by the caller: the backup's ClusterManifest.keyspaces (none in backups made
     * before it was recorded: every keyspace is then taken as not using tablets). */
    Cairn__Repo__KeyspaceInfo *const *keyspaces;
    size_t n_keyspaces;
    uint32_t cur_source; /* the node whose manifest is being read */
    buf sst_buf, files_buf;
    uint32_t *seen; /* SSTables by table, source and name: index + 1 into sst, 0 free */
    size_t seen_cap, seen_n;
} restore_plan;

/* Reads every node manifest of the n backups of chain into p (the tables p->filter
 * selects): a full backup and the increments that follow it, in order (n = 1: one
 * backup). A node is one source however many backups name it, and an SSTable a later
 * backup names again is taken once. */
int restore_plan_read_chain(repo *r, Cairn__Repo__ClusterManifest *const *chain, size_t n,
                            restore_plan *p, cairn_err *e);

/* restore_plan_read_chain of one backup. */
int restore_plan_read(repo *r, const Cairn__Repo__ClusterManifest *m, restore_plan *p,
                      cairn_err *e);

/* Adds one table entry of source node p->cur_source, its files grouped into SSTables;
 * a table the filter does not select is skipped. */
int restore_plan_add_table(restore_plan *p, const Cairn__Repo__TableEntry *te, cairn_err *e);

/* Checks that every blob the plan needs is in the repository, or the pack that holds
 * it; a missing one is named with its file and table. */
int restore_plan_check_blobs(repo *r, restore_plan *p, cairn_err *e);

/* Sets every SSTable's target among the n nodes: by *method, which auto resolves to
 * refresh when every source node is there with its tokens, else load-and-stream; the
 * tables of tablet keyspaces are balanced for load-and-stream whatever it is. Refresh
 * asked for where it cannot be is CAIRN_EINVAL, and so is refresh asked for with
 * tablet keyspaces in the plan (named). A NULL node (one not described) never matches
 * a source node. */
int restore_plan_assign(restore_plan *p, Cairn__Rpc__NodeInfo *const *nodes, size_t n,
                        restore_method *method, cairn_err *e);

/* The distinct keyspaces of the plan's tables, in order, into ks (room for n_tables);
 * returns how many. The strings belong to p. */
size_t restore_plan_keyspaces(const restore_plan *p, char **ks);

/* Whether any table of the plan is a tablet keyspace's. */
bool restore_plan_has_tablets(const restore_plan *p);

/* The plan's tables that already hold data on the target: a table counts when any of
 * the n nodes (NULL ones are skipped) reports live_bytes > 0 for it. Calls cb for each
 * with the bytes summed over the nodes, in plan order; returns how many. */
typedef void (*restore_plan_table_cb)(void *ctx, const rs_table *t, uint64_t live_bytes);
size_t restore_plan_nonempty(const restore_plan *p, Cairn__Rpc__NodeInfo *const *nodes, size_t n,
                             restore_plan_table_cb cb, void *ctx);

void restore_plan_free(restore_plan *p);

#endif
