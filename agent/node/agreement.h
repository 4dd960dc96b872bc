/*
 * agreement - waits until every node of the cluster reports one schema version.
 *
 * A schema change reaches the other nodes after the node that made it: until they have
 * it, a load into a new table fails on them, and a table directory the agent looks up
 * is not there. ScyllaDB publishes each node's schema version in system.local (its
 * own) and system.peers (the others', as this node last heard them), which is what
 * drivers poll after DDL; so does this, on the agent's own connection, with a backoff
 * of 100 ms doubling up to 1 s. A peer row without a version (a node being removed,
 * a stale row) is skipped, as drivers skip it.
 */
#ifndef CAIRN_AGREEMENT_H
#define CAIRN_AGREEMENT_H

#include "base/err.h"
#include "node/cql.h"

#include <stddef.h>
#include <stdint.h>

/* A change normally reaches every node within seconds; two minutes leave room for a
 * loaded cluster. */
#define AGREEMENT_DEFAULT_TIMEOUT_MS 120000L

typedef struct agreement {
    char version[37]; /* the version every node reports, as a dashed uuid */
    size_t nodes;     /* how many nodes reported it, this one included */
    uint64_t ms;      /* how long the wait took */
} agreement;

/*
 * Polls until every node reports the same schema version, or timeout_ms passes:
 * CAIRN_ETIMEDOUT then, with a message naming each version and the nodes on it (this
 * node is "local").
 */
int agreement_wait(cql_conn *c, long timeout_ms, agreement *out, cairn_err *e);

#endif
