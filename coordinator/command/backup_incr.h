/*
 * backup_incr - what `cairn backup --incremental` does beyond a full backup.
 *
 * An increment uploads the SSTables ScyllaDB linked into the tables' backups/
 * directories (incremental_backups: true) since the cluster's last backup, and records
 * them as a link of a chain that starts at a full backup. So it needs a last backup to
 * build on and incremental backups on every node, and once its cluster manifest is
 * written the agents remove the links it recorded from backups/, which ScyllaDB never
 * does: a link goes only after what it holds is recorded.
 */
#ifndef CAIRN_BACKUP_INCR_H
#define CAIRN_BACKUP_INCR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "command/backup_parent.h"
#include "fleet/fleet.h"
#include "fleet/jobrun.h"

/* Refuses an increment without a complete backup to build on (parent NULL), or on a
 * node whose ScyllaDB has incremental backups off, naming the nodes and the fix. */
int backup_incr_check(fleet *f, const backup_parent *parent, const char *cluster, cairn_err *e);

/* What the agents removed from backups/ after an increment. */
typedef struct backup_incr_pruned {
    uint64_t files, bytes;
    size_t failed; /* nodes that could not; the next increment removes their links */
} backup_incr_pruned;

/* Has the agent of every job remove the backups/ links its node manifest records in
 * repository url (id repo_id), those written well before the base's snapshot on its
 * node, which the base holds (parent: the increment's), and every link of the views
 * and indexes (never backed up); at most parallel at once. Failures are warnings. */
backup_incr_pruned backup_incr_prune(fleet *f, const jobrun_node *jobs, size_t n,
                                     const backup_parent *parent, const char *url,
                                     const char *repo_id, Cairn__Repo__ViewEntry *const *views,
                                     size_t n_views, unsigned parallel);

/* The base's snapshot time on the node of prev (the parent's NodeRef of a node), which
 * an increment carries along its chain; 0 when unknown. */
uint64_t backup_incr_base_time(const backup_parent *parent, const Cairn__Repo__NodeRef *prev);

/* An increment's node in its cluster manifest (ref->host_id set): the window it covers
 * (from the previous point of that node) and the base's snapshot time there. */
void backup_incr_node_ref(const backup_parent *parent, Cairn__Repo__NodeRef *ref);

#endif
