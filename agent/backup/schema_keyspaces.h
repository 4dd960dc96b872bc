/*
 * schema_keyspaces - the keyspaces of the node and whether each uses tablets, which the
 * schema dump answers with so that the coordinator records it in the cluster manifest
 * (a restore loads a tablet keyspace only by load-and-stream).
 */
#ifndef CAIRN_SCHEMA_KEYSPACES_H
#define CAIRN_SCHEMA_KEYSPACES_H

#include <stddef.h>

#include "base/err.h"
#include "node/scylla.h"
#include "repo.pb-c.h"

/* Every user keyspace the node knows, each with its tablets flag, into *out (malloc'd,
 * as protobuf-c's free_unpacked of the answer frees them). */
int schema_keyspaces(scylla *rest, Cairn__Repo__KeyspaceInfo ***out, size_t *n, cairn_err *e);

#endif
