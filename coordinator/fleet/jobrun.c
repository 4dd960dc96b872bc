/*
 * Design notes.
 *
 * One fleet_each worker per node, at most `parallel` at once: it sends the request
 * that starts the job (the agent answers with the job's first state, or with the job
 * already running under that request, which is how a coordinator re-attaches), then
 * follows the job by id until it leaves RUNNING. Each poll is a long poll: the agent
 * answers when the job ends, or after POLL_MS with its progress, so the end of a job
 * is seen when it happens (a backup's time does not come in steps of a poll period)
 * and a long job costs two requests a second. An agent that answers at once (one
 * older than long polls) is paced to the same two a second.
 *
 * Gone versus failed: a failed poll is retried, each with its own short timeout
 * (min(timeout, 5 s)), so that a short network blip never aborts a long backup; a
 * poll that finds no such job (the agent restarted) sends the start request again,
 * which re-attaches or starts the job afresh. Only when the polls have failed for the
 * configured `grace` is the node declared failed, as not answering; its job is then
 * asked to cancel (best effort) before the caller clears its snapshot. A job that
 * ends in any state but DONE fails with the agent's own error.
 *
 * Interrupts: every loop looks at interrupt_requested(); then each node's job is
 * asked to cancel and followed for at most CANCEL_WAIT_MS, and the node is marked
 * interrupted (stopped when its job was seen to end).
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
#include <time.h>
#include <unistd.h>

#include "base/debug.h"
#include "cli/interrupt.h"
#include "cli/progress.h"

#define POLL_MS 500
/* A poll is cheap, so its answer is quick or never. */
#define POLL_TIMEOUT_MS 5000
/* How long an interrupted run waits for a cancelled job to end. */
#define CANCEL_WAIT_MS 15000

typedef struct jobrun {
    jobrun_node *nodes;
    size_t n;
    long poll_ms;     /* timeout of one poll */
    unsigned wait_ms; /* how long the agent may hold a poll */
    long grace_ms;
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

static int job_call(fleet *f, size_t agent, Cairn__Rpc__Request *rq, long timeout_ms,
                    Cairn__Rpc__JobInfo **job, cairn_err *e)
{
    Cairn__Rpc__Response *resp = NULL;
    int rc = fleet_call(f, agent, rq, &resp, timeout_ms, e);
    return rc ? rc : take_job(resp, job, e);
}

/* The job's state now, or (wait_ms > 0) once it ends or wait_ms went by. */
static int poll_job(fleet *f, size_t agent, const char *job_id, unsigned wait_ms, long timeout_ms,
                    Cairn__Rpc__JobInfo **job, cairn_err *e)
{
    Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;
    Cairn__Rpc__JobRequest jr = CAIRN__RPC__JOB_REQUEST__INIT;
    jr.job_id = (char *)job_id;
    jr.has_wait_ms = wait_ms > 0;
    jr.wait_ms = wait_ms;
    rq.op_case = CAIRN__RPC__REQUEST__OP_JOB;
    rq.job = &jr;
    return job_call(f, agent, &rq, timeout_ms, job, e);
}

int jobrun_cancel(fleet *f, size_t agent, const char *job_id, long timeout_ms,
                  Cairn__Rpc__JobInfo **job, cairn_err *e)
{
    Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;
    Cairn__Rpc__CancelRequest cr = CAIRN__RPC__CANCEL_REQUEST__INIT;
    cr.job_id = (char *)job_id;
    rq.op_case = CAIRN__RPC__REQUEST__OP_CANCEL;
    rq.cancel = &cr;
    Cairn__Rpc__JobInfo *got = NULL;
    int rc = job_call(f, agent, &rq, timeout_ms, &got, e);
    if (!rc && job) {
        *job = got;
    } else if (got) {
        cairn__rpc__job_info__free_unpacked(got, NULL);
    }
    return rc;
}

static long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void show(jobrun *r, size_t i, const Cairn__Rpc__JobInfo *j, bool failed)
{
    progress_state st = failed                                             ? PROGRESS_FAILED
                        : j->state == CAIRN__RPC__JOB_INFO__STATE__RUNNING ? PROGRESS_RUNNING
                        : j->state == CAIRN__RPC__JOB_INFO__STATE__DONE    ? PROGRESS_DONE
                                                                           : PROGRESS_FAILED;
    progress_figures fig = {.st = st,
                            .bytes_done = j->bytes_done,
                            .bytes_total = j->bytes_total,
                            .bytes_skipped = j->bytes_skipped,
                            .files_done = j->files_done,
                            .files_total = j->files_total};
    progress_set(r->prog, i, &fig);
}

/* After an interrupt: asks the job to cancel and follows it for CANCEL_WAIT_MS. */
static void stop_one(fleet *f, jobrun *r, jobrun_node *nd, Cairn__Rpc__JobInfo **job)
{
    cairn_err ce;
    Cairn__Rpc__JobInfo *next = NULL;
    nd->failed = nd->interrupted = true;
    err_set(&nd->err, CAIRN_EBUSY, "interrupted");
    if (jobrun_cancel(f, nd->agent, (*job)->job_id, r->poll_ms, &next, &ce) != 0)
        return; /* not answering: its job is left to the agent */
    for (long until = now_ms() + CANCEL_WAIT_MS;;) {
        cairn__rpc__job_info__free_unpacked(*job, NULL);
        *job = next;
        if (next->state != CAIRN__RPC__JOB_INFO__STATE__RUNNING || now_ms() > until)
            break;
        usleep(100 * 1000);
        if (poll_job(f, nd->agent, (*job)->job_id, 0, r->poll_ms, &next, &ce) != 0)
            return;
    }
    nd->stopped = (*job)->state != CAIRN__RPC__JOB_INFO__STATE__RUNNING;
}

/* The next state of node i's job; polls that fail are retried for the grace period,
 * and a job the agent no longer knows is asked for again. */
static int follow(fleet *f, jobrun *r, size_t i, const char *job_id, Cairn__Rpc__JobInfo **next,
                  cairn_err *e)
{
    jobrun_node *nd = &r->nodes[i];
    long since = now_ms();
    for (unsigned tries = 0;; tries++) {
        if (interrupt_requested())
            return err_set(e, CAIRN_EBUSY, "interrupted");
        int rc = poll_job(f, nd->agent, job_id, r->wait_ms, r->poll_ms, next, e);
        if (rc == CAIRN_ENOENT) {
            /* The agent restarted: the same request re-attaches or starts anew. */
            Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;
            r->request(r->arg, i, &rq);
            rc = job_call(f, nd->agent, &rq, r->poll_ms, next, e);
        }
        if (!rc)
            return 0;
        if (now_ms() - since >= r->grace_ms)
            return err_prefix(e, "not answering progress polls for %ld s (grace)",
                              r->grace_ms / 1000);
        if (tries == 0)
            fprintf(stderr, "warning: %s; retrying for up to %ld s\n", e->msg, r->grace_ms / 1000);
        usleep(POLL_MS * 1000);
    }
}

static void run_one(fleet *f, size_t i, void *arg)
{
    jobrun *r = arg;
    CAIRN_ASSERT(i < r->n);
    jobrun_node *nd = &r->nodes[i];
    CAIRN_ASSERT(!nd->job && !nd->failed); /* each node's job is run once */
    Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;
    Cairn__Rpc__JobInfo *job = NULL;
    if (interrupt_requested()) {
        nd->failed = nd->interrupted = nd->stopped = true;
        err_set(&nd->err, CAIRN_EBUSY, "interrupted before its job started");
        return;
    }
    r->request(r->arg, i, &rq);
    if (job_call(f, nd->agent, &rq, fleet_timeout_ms(f), &job, &nd->err) != 0) {
        nd->failed = true;
        progress_set(r->prog, i, &(progress_figures){.st = PROGRESS_FAILED});
        return;
    }
    while (job->state == CAIRN__RPC__JOB_INFO__STATE__RUNNING) {
        show(r, i, job, false);
        if (interrupt_requested()) {
            stop_one(f, r, nd, &job);
            break;
        }
        long asked = now_ms();
        Cairn__Rpc__JobInfo *next = NULL;
        if (follow(f, r, i, job->job_id, &next, &nd->err) != 0) {
            if (interrupt_requested()) {
                stop_one(f, r, nd, &job);
                break;
            }
            nd->failed = true;
            /* Best effort: should it come back, the job must not go on alone. */
            cairn_err ce;
            jobrun_cancel(f, nd->agent, job->job_id, r->poll_ms, NULL, &ce);
            break;
        }
        cairn__rpc__job_info__free_unpacked(job, NULL);
        job = next;
        long took = now_ms() - asked;
        if (job->state == CAIRN__RPC__JOB_INFO__STATE__RUNNING && took < (long)r->wait_ms / 2)
            usleep((useconds_t)(r->wait_ms - (unsigned long)took) * 1000);
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
    long poll = fleet_timeout_ms(f) < POLL_TIMEOUT_MS ? fleet_timeout_ms(f) : POLL_TIMEOUT_MS;
    jobrun r = {.nodes = nodes,
                .n = n,
                .request = request,
                .arg = arg,
                .poll_ms = poll,
                .wait_ms = (unsigned)(poll / 2 < POLL_MS ? poll / 2 : POLL_MS),
                .grace_ms = fleet_grace_ms(f)};
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
    if (!rc && interrupt_requested()) {
        rc = err_set(e, CAIRN_EBUSY, "%s interrupted by signal %d", verb, interrupt_signal());
        goto done;
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
done:
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
