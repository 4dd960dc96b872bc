/*
 * request - what the dispatcher checks in every request before a handler sees it.
 *
 * A coordinator certificate lets its holder send anything; every name a request
 * carries is checked here (keyspaces, tables, table ids; restore file names and
 * blob ids are checked by the restore job before each use), counts are capped, and repeated tables
 * are done once: flush, snapshot and upload requests drop a table named again (the same table twice
 * is one table); restore requests refuse it, since two file lists for one table cannot both be
 * meant. A node manifest a request names (an upload's parent, what a prune removes) must
 * be one of the request's cluster, with its SHA-256. Handlers check their own tags and
 * repositories.
 */
#ifndef CAIRN_AGENT_REQUEST_H
#define CAIRN_AGENT_REQUEST_H

#include "agent.pb-c.h"
#include "base/err.h"

#define REQUEST_MAX_TABLES 100000
#define REQUEST_MAX_FILES  (1u << 20)

/* Checks rq and drops its repeated tables in place (freeing them). */
int request_check(Cairn__Rpc__Request *rq, cairn_err *e);

#endif
