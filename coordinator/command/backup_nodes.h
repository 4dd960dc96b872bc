/*
 * backup_nodes - the steps every node of a backup takes at once: the flush, the
 * snapshot (sent to all nodes together, so the snapshots land together), and the
 * clearing of a failed backup's snapshot.
 */
#ifndef CAIRN_BACKUP_NODES_H
#define CAIRN_BACKUP_NODES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent.pb-c.h"
#include "base/err.h"
#include "fleet/fleet.h"

/* A node's part in the steps. */
typedef struct backup_node {
    size_t agent;         /* index into the fleet */
    uint64_t snapshot_ms; /* when its snapshot (or an increment's flush) was taken */
    cairn_err err;
    bool failed;
} backup_node;

typedef struct backup_nodes {
    fleet *f;
    backup_node *nodes;
    size_t n;
    Cairn__Rpc__Table **tables;
    size_t n_tables;
    const char *tag;
} backup_nodes;

/*
 * Flushes (or snapshots) the tables on every node. A step that failed anywhere fails,
 * every failed node named on stderr and the first in e; *failed counts them.
 */
int backup_nodes_flush(const backup_nodes *s, size_t *failed, cairn_err *e);
int backup_nodes_snapshot(const backup_nodes *s, size_t *failed, cairn_err *e);

/* Best effort: clears the tag's snapshot on every node; a node that cannot is a warning. */
void backup_nodes_clear(const backup_nodes *s);

/* The spread of the nodes' snapshot times. */
uint64_t backup_nodes_spread(const backup_nodes *s);

#endif
