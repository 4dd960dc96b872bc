/*
 * backup_keyspaces - what the cluster manifest records of each keyspace of a backup
 * (ClusterManifest.keyspaces): whether it uses tablets, as the schema dump's agent
 * reported it. A restore loads a tablet keyspace only by load-and-stream.
 */
#ifndef CAIRN_BACKUP_KEYSPACES_H
#define CAIRN_BACKUP_KEYSPACES_H

#include <stddef.h>

#include "agent.pb-c.h"
#include "base/err.h"
#include "repo.pb-c.h"

/* The keyspaces of the n tables, in the order they first appear, each with what res
 * says of it, into *out (copies; free with backup_keyspaces_free). Nothing (*n_out 0)
 * when res says nothing (an agent that predates it); a keyspace res does not name is
 * left out, since nothing is known of it. */
int backup_keyspaces(const Cairn__Rpc__SchemaResult *res, Cairn__Rpc__Table *const *tables,
                     size_t n, Cairn__Repo__KeyspaceInfo ***out, size_t *n_out, cairn_err *e);

void backup_keyspaces_free(Cairn__Repo__KeyspaceInfo **v, size_t n);

#endif
