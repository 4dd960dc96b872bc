/*
 * describe - what the agent tells the coordinator about its node: identity, ring,
 * tokens, data directories and user tables, all from the local REST API, and what waits
 * in the tables' backups/ directories.
 */
#ifndef CAIRN_DESCRIBE_H
#define CAIRN_DESCRIBE_H

#include "agent.pb-c.h"
#include "base/err.h"
#include "node/scylla.h"

/* The node as ScyllaDB reports it, unpack-compatible: free it with
 * cairn__rpc__node_info__free_unpacked. */
int describe_node(scylla *rest, Cairn__Rpc__NodeInfo **out, cairn_err *e);

#endif
