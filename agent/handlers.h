/*
 * handlers - the request handlers the dispatcher (agent.c) calls, and the agent they
 * all serve. Private to agent/.
 *
 * Handlers use services (job/, node/, backup/hashcache, common/) and never the
 * dispatcher, so the dependency runs one way: agent.c -> handlers -> services.
 */
#ifndef CAIRN_HANDLERS_H
#define CAIRN_HANDLERS_H

#include "agent.h"
#include "agent.pb-c.h"
#include "backup/hashcache.h"
#include "base/cores.h"
#include "job/jobs.h"
#include "node/scylla.h"
#include "repos/repos.h"

struct agent {
    const agent_config *cfg;
    scylla *rest;
    hashcache *hashes;
    jobs *jobs;
    cores *cores; /* lent to large files' compression while uploads leave some idle */
};

/* Each handler fills resp's result on success; on failure it fills e. */
int agent_describe(agent *a, Cairn__Rpc__Response *resp, cairn_err *e);
int agent_flush(agent *a, const Cairn__Rpc__FlushRequest *rq, cairn_err *e);
int agent_snapshot(agent *a, const Cairn__Rpc__SnapshotRequest *rq, Cairn__Rpc__Response *resp,
                   cairn_err *e);
int agent_clear_snapshot(agent *a, const Cairn__Rpc__ClearSnapshotRequest *rq, cairn_err *e);
int agent_schema(agent *a, const Cairn__Rpc__SchemaRequest *rq, Cairn__Rpc__Response *resp,
                 cairn_err *e);
int agent_upload(agent *a, const Cairn__Rpc__UploadRequest *rq, Cairn__Rpc__Response *resp,
                 cairn_err *e);
int agent_restore(agent *a, const Cairn__Rpc__RestoreRequest *rq, Cairn__Rpc__Response *resp,
                  cairn_err *e);
int agent_forget_restore(agent *a, const Cairn__Rpc__ForgetRestoreRequest *rq, cairn_err *e);
int agent_list_snapshots(agent *a, Cairn__Rpc__Response *resp, cairn_err *e);
int agent_apply_schema(agent *a, const Cairn__Rpc__ApplySchemaRequest *rq,
                       Cairn__Rpc__Response *resp, cairn_err *e);
/* Removes from backups/ the links the increment's node manifest records (prune.c). */
int agent_prune_backups(agent *a, const Cairn__Rpc__PruneBackupsRequest *rq,
                        Cairn__Rpc__Response *resp, cairn_err *e);
int agent_incremental_backups(agent *a, const Cairn__Rpc__IncrementalBackupsRequest *rq,
                              cairn_err *e);
int agent_repository_info(agent *a, const Cairn__Rpc__RepositoryRequest *rq,
                          Cairn__Rpc__Response *resp, cairn_err *e);

#endif
