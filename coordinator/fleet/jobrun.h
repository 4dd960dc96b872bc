/*
 * jobrun - runs one agent job per node (upload, restore) and follows it to the end.
 *
 * Starts the job on at most `parallel` nodes at a time, polls each until it finishes,
 * feeds the progress display, and tells a node that stopped answering from a job that
 * failed. Asking an agent to start a job it already runs re-attaches to it.
 */
#ifndef CAIRN_JOBRUN_H
#define CAIRN_JOBRUN_H

#include <stdbool.h>
#include <stddef.h>

#include "agent.pb-c.h"
#include "fleet/fleet.h"

typedef struct jobrun_node {
    size_t agent;             /* index into the fleet */
    Cairn__Rpc__JobInfo *job; /* the last state seen, freed by jobrun_free */
    cairn_err err;
    bool failed;
    bool interrupted; /* stopped by a signal (failed is set too) */
    bool stopped;     /* interrupted, and its job was seen to end */
} jobrun_node;

/* Sends the request that starts (or re-attaches to) node i's job: fills rq's op. */
typedef void (*jobrun_request_fn)(void *arg, size_t i, Cairn__Rpc__Request *rq);

/* Runs the jobs; returns 0 when every node's job finished, else the first failure
 * (each failed node is also printed on stderr, named by its address). After a stop
 * signal (cli/interrupt.h) every job is cancelled, and the error says interrupted. */
int jobrun_all(fleet *f, jobrun_node *nodes, size_t n, unsigned parallel, const char *verb,
               bool quiet, jobrun_request_fn request, void *arg, cairn_err *e);

void jobrun_free(jobrun_node *nodes, size_t n);

/* Asks agent's job_id to cancel; *job (may be NULL) receives its state. */
int jobrun_cancel(fleet *f, size_t agent, const char *job_id, long timeout_ms,
                  Cairn__Rpc__JobInfo **job, cairn_err *e);

#endif
