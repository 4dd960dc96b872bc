/*
 * handlers - what the agent's request handlers share. Private to agent/.
 */
#ifndef CAIRN_HANDLERS_H
#define CAIRN_HANDLERS_H

#include <pthread.h>
#include <stdbool.h>

#include "agent.h"
#include "agent.pb-c.h"
#include "backup/hashcache.h"
#include "job/jobs.h"
#include "node/scylla.h"

struct agent {
    const agent_config *cfg;
    scylla *rest;
    hashcache *hashes;
    jobs *jobs;
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
int agent_job(agent *a, const Cairn__Rpc__JobRequest *rq, Cairn__Rpc__Response *resp, cairn_err *e);

int agent_restore(agent *a, const Cairn__Rpc__RestoreRequest *rq, Cairn__Rpc__Response *resp,
                  cairn_err *e);
int agent_forget_restore(agent *a, const Cairn__Rpc__ForgetRestoreRequest *rq, cairn_err *e);
int agent_apply_schema(agent *a, const Cairn__Rpc__ApplySchemaRequest *rq,
                       Cairn__Rpc__Response *resp, cairn_err *e);

/* A deep copy of m (through its encoding), for a job that outlives its request;
 * free it with protobuf_c_message_free_unpacked. NULL when out of memory. */
ProtobufCMessage *agent_copy_message(const ProtobufCMessage *m);

/* Starts job id (or re-attaches to it) and answers with its state. */
int agent_start_job(agent *a, const char *id, job_fn fn, void *arg, void (*arg_free)(void *),
                    Cairn__Rpc__Response *resp, cairn_err *e);

/* Checks the keyspace and table names a request carries before they touch a path. */
int agent_check_table_name(const char *keyspace, const char *table, cairn_err *e);

/* Frees whatever a handler allocated into resp's result. */
void agent_response_clear(Cairn__Rpc__Response *resp);

/* Splits "host:port" (IPv6 in brackets) for the CQL address. */
int agent_split_hostport(const char *s, char *host, size_t cap, int *port, cairn_err *e);

#endif
