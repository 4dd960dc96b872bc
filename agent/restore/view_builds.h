/*
 * view_builds - how far ScyllaDB got building the views and indexes a restore created
 * after loading their base tables. The restore waits for the builds at most
 * VIEW_BUILDS_WAIT_MS: a large one goes on long after, ScyllaDB reports it, and the
 * operator follows it with `nodetool viewbuildstatus`.
 */
#ifndef CAIRN_VIEW_BUILDS_H
#define CAIRN_VIEW_BUILDS_H

#include "agent.pb-c.h"
#include "base/err.h"
#include "node/scylla.h"

#define VIEW_BUILDS_WAIT_MS 10000
#define VIEW_BUILDS_POLL_MS 200

/* Adds the view (type "view") or index (type "index": its view "<name>_index") to the
 * builds of res; CAIRN_ENOMEM. */
int view_builds_add(Cairn__Rpc__ApplySchemaResult *res, const char *keyspace, const char *type,
                    const char *name);

/* Asks the node how far each build of res got, until all are done or the wait is over. */
int view_builds_watch(scylla *rest, Cairn__Rpc__ApplySchemaResult *res, cairn_err *e);

#endif
