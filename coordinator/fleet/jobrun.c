/*
 * Design notes.
 *
 * One fleet_each worker per node, at most `parallel` at once: it sends the request
 * that starts the job (the agent answers with the job's first state, or with the job
 * already running under that request, which is how a coordinator re-attaches), then
 * polls the job by id until it leaves RUNNING. Polls start at 10 ms and double to
 * 500 ms, so a short job is seen to end at once and a long one costs two requests a
 * second.
 *
 * Gone versus failed: a failed poll is retried; POLL_FAILURES_MAX in a row, each with
 * its own short timeout, mean the agent is gone, and the node fails with the poll's
 * error. A job that ends in any state but DONE fails with the agent's own error.
 *
 * Outcome: each node's result is kept in its jobrun_node, written only by its own
 * worker; jobrun_all reads them after fleet_each has joined every worker, so they need
 * no lock. Warnings are printed for every node, then each failure, then the first
 * failure is returned.
 */
#include "fleet/jobrun.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/debug.h"
#include "cli/progress.h"

#define POLL_MS       500
#define POLL_FIRST_MS 10
/* A poll that fails this many times in a row means the agent is gone: about 15 s
 * after it stopped answering. A poll is cheap, so its answer is quick or never. */
#define POLL_FAILURES_MAX 3
#define POLL_TIMEOUT_MS   5000

typedef struct jobrun {
    jobrun_node *nodes;
    size_t n;
    progress *prog;
    jobrun_request_fn request;
    void *arg;
} jobrun;

/* Takes the job out of a response that must carry one. */
static int take_job(Cairn__Rpc__Response *resp, Cairn__Rpc__JobInfo **job, cairn_err *e)
{
    int rc = 0;
    if (resp->result_case != CAIRN__RPC__RESPONSE__RESULT_JOB) {
        rc = err_set(e, CAIRN_EPROTO, "the agent answered without a job");
    } else {
        *job = resp->job;
        resp->job = NULL;
        resp->result_case = CAIRN__RPC__RESPONSE__RESULT__NOT_SET;
    }
    cairn__rpc__response__free_unpacked(resp, NULL);
    return rc;
}

static int poll_job(fleet *f, size_t agent, const char *job_id, Cairn__Rpc__JobInfo **job,
                    cairn_err *e)
{
    Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;
    Cairn__Rpc__JobRequest jr = CAIRN__RPC__JOB_REQUEST__INIT;
    jr.job_id = (char *)job_id;
    rq.op_case = CAIRN__RPC__REQUEST__OP_JOB;
    rq.job = &jr;
    Cairn__Rpc__Response *resp = NULL;
    int rc = fleet_call(f, agent, &rq, &resp, POLL_TIMEOUT_MS, e);
    return rc ? rc : take_job(resp, job, e);
}

static void show(jobrun *r, size_t i, const Cairn__Rpc__JobInfo *j, bool failed)
{
    progress_state st = failed                                             ? PROGRESS_FAILED
                        : j->state == CAIRN__RPC__JOB_INFO__STATE__RUNNING ? PROGRESS_RUNNING
                        : j->state == CAIRN__RPC__JOB_INFO__STATE__DONE    ? PROGRESS_DONE
                                                                           : PROGRESS_FAILED;
    progress_set(r->prog, i, st, j->bytes_done, j->bytes_total, j->files_done, j->files_total);
}

static void run_one(fleet *f, size_t i, void *arg)
{
    jobrun *r = arg;
    CAIRN_ASSERT(i < r->n);
    jobrun_node *nd = &r->nodes[i];
    CAIRN_ASSERT(!nd->job && !nd->failed); /* each node's job is run once */
    Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;
    r->request(r->arg, i, &rq);
    Cairn__Rpc__Response *resp = NULL;
    Cairn__Rpc__JobInfo *job = NULL;
    if (fleet_call(f, nd->agent, &rq, &resp, fleet_timeout_ms(f), &nd->err) != 0 ||
        take_job(resp, &job, &nd->err) != 0) {
        nd->failed = true;
        progress_set(r->prog, i, PROGRESS_FAILED, 0, 0, 0, 0);
        return;
    }
    int failures = 0;
    /* Short jobs (an incremental backup) end in milliseconds: look soon, then less often. */
    unsigned wait_ms = POLL_FIRST_MS;
    while (job->state == CAIRN__RPC__JOB_INFO__STATE__RUNNING) {
        show(r, i, job, false);
        usleep(wait_ms * 1000);
        wait_ms = wait_ms * 2 > POLL_MS ? POLL_MS : wait_ms * 2;
        Cairn__Rpc__JobInfo *next = NULL;
        cairn_err pe;
        if (poll_job(f, nd->agent, job->job_id, &next, &pe) != 0) {
            if (++failures < POLL_FAILURES_MAX)
                continue;
            nd->err = pe;
            nd->failed = true;
            break;
        }
        failures = 0;
        cairn__rpc__job_info__free_unpacked(job, NULL);
        job = next;
    }
    if (!nd->failed && job->state != CAIRN__RPC__JOB_INFO__STATE__DONE) {
        nd->failed = true;
        err_set(&nd->err, job->error ? job->error->code : CAIRN_EREMOTE, "agent %s: %s",
                fleet_get(f, nd->agent)->addr,
                job->error && job->error->message ? job->error->message : "the job failed");
    }
    show(r, i, job, nd->failed);
    nd->job = job;
}

int jobrun_all(fleet *f, jobrun_node *nodes, size_t n, unsigned parallel, const char *verb,
               bool quiet, jobrun_request_fn request, void *arg, cairn_err *e)
{
    const char **labels = calloc(n ? n : 1, sizeof(*labels));
    size_t *idx = calloc(n ? n : 1, sizeof(*idx));
    jobrun r = {.nodes = nodes, .n = n, .request = request, .arg = arg};
    int rc = (labels && idx) ? 0 : err_set(e, CAIRN_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < n; i++) {
        const fleet_agent *a = fleet_get(f, nodes[i].agent);
        labels[i] = a->info ? a->info->address : a->addr;
        idx[i] = i;
    }
    if (!rc)
        rc = progress_start(&r.prog, verb, n, labels, quiet, e);
    if (!rc) {
        fleet_each(f, idx, n, parallel, run_one, &r);
        progress_stop(r.prog);
    }
    for (size_t i = 0; !rc && i < n; i++) {
        const Cairn__Rpc__JobInfo *j = nodes[i].job;
        for (size_t k = 0; j && k < j->n_warnings; k++)
            fprintf(stderr, "warning: node %s: %s\n", labels[i], j->warnings[k]);
    }
    for (size_t i = 0; !rc && i < n; i++) {
        if (!nodes[i].failed)
            continue;
        fprintf(stderr, "cairn %s: node %s failed: %s\n", verb, labels[i], nodes[i].err.msg);
    }
    for (size_t i = 0; !rc && i < n; i++) {
        if (nodes[i].failed) {
            const fleet_agent *a = fleet_get(f, nodes[i].agent);
            rc = err_set(e, nodes[i].err.code ? nodes[i].err.code : CAIRN_EREMOTE,
                         "%s failed on node %s (%s): %s", verb, a->info ? a->info->host_id : "?",
                         labels[i], nodes[i].err.msg);
        }
    }
    free(labels);
    free(idx);
    return rc;
}

void jobrun_free(jobrun_node *nodes, size_t n)
{
    for (size_t i = 0; nodes && i < n; i++)
        if (nodes[i].job)
            cairn__rpc__job_info__free_unpacked(nodes[i].job, NULL);
    free(nodes);
}
