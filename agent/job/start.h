/*
 * start - how a request handler turns a request into a job and its answer.
 *
 * Every long request (upload, restore) is started the same way: the job gets its own
 * copy of the request (the request dies with its message, the job does not), its id
 * is "<kind>:<tag>" so asking again with the same request re-attaches (another
 * request for a running job is refused, docs/architecture.md), and the answer is the
 * job's state.
 */
#ifndef CAIRN_JOB_START_H
#define CAIRN_JOB_START_H

#include "agent.pb-c.h"
#include "base/err.h"
#include "job/jobs.h"

/* What a started job's fn receives as its arg. */
typedef struct job_request {
    void *ctx;               /* the starter's context, shared by every job */
    ProtobufCMessage *rq;    /* the job's own copy of the request */
    ProtobufCMessage *extra; /* the starter's addition (NULL if none); the job frees it */
} job_request;

/*
 * Starts fn as job "<kind>:<tag>" on a copy of rq (or re-attaches to that job) and
 * answers with its state. extra (unpack-compatible, may be NULL) is handed to the job
 * and freed with it, also when this fails.
 */
int job_start_request(jobs *js, const char *kind, const char *tag, const ProtobufCMessage *rq,
                      void *ctx, ProtobufCMessage *extra, job_fn fn, Cairn__Rpc__Response *resp,
                      cairn_err *e);

/* The id job_start_request gives a job of kind for tag, in id (cap bytes). */
void job_request_id(const char *kind, const char *tag, char *id, size_t cap);

/* Answers with job id's state (CAIRN_ENOENT if unknown); free with jobs_info_clear and
 * free(resp->job). */
int job_reply(jobs *js, const char *id, Cairn__Rpc__Response *resp, cairn_err *e);

/* A CancelRequest: asks job id to stop and answers with its state (still RUNNING
 * until the job notices). CAIRN_ENOENT if the agent has no such job. */
int job_cancel_reply(jobs *js, const char *id, Cairn__Rpc__Response *resp, cairn_err *e);

#endif
