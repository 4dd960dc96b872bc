/*
 * jobs - long agent operations (upload) running in their own threads.
 *
 * A job is named by its caller (e.g. "upload:<tag>"), so asking twice for the same
 * work (the same request digest) re-attaches to the running or finished job instead
 * of doing it again; a failed job is started afresh, and another request for the id
 * is refused while the job runs and replaces it once it has finished. Finished jobs are kept (the
 * newest JOBS_KEEP) so a coordinator that lost track can still read the outcome.
 */
#ifndef CAIRN_JOBS_H
#define CAIRN_JOBS_H

#include <stdbool.h>
#include <stdint.h>

#include "agent.pb-c.h"
#include "base/err.h"

#define JOBS_KEEP 64
/* A request digest: hex SHA-256 and its terminator. */
#define JOB_DIGEST_MAX 65

/* Why a job was cancelled, for its error. */
enum { JOB_CANCEL_NONE, JOB_CANCEL_COORDINATOR, JOB_CANCEL_SHUTDOWN };

typedef struct jobs jobs;
typedef struct job job;

/* Runs in the job's thread; returns 0 or fills e. */
typedef int (*job_fn)(job *j, void *arg, cairn_err *e);

int jobs_new(jobs **out, cairn_err *e);

/* Starts fn(arg) as job id unless a job of that id started by the same request
 * (digest; NULL matches any) is running or done, in which case *attached is set. A
 * job of that id running for another request: CAIRN_EBUSY. arg is freed with arg_free
 * whenever the job does not take it. */
int jobs_start(jobs *js, const char *id, const char *digest, job_fn fn, void *arg,
               void (*arg_free)(void *), bool *attached, cairn_err *e);

/* Asks running job id to stop at its next check; it then ends FAILED with a
 * "cancelled" error. A finished job is left as it is; CAIRN_ENOENT if unknown. */
int jobs_cancel(jobs *js, const char *id, cairn_err *e);

/* Returns once job id is no longer running (at once when it is not, or is unknown),
 * or after wait_ms (at most JOBS_WAIT_MAX_MS): a long poll, so that whoever follows
 * the job learns of its end when it happens, without asking over and over. */
#define JOBS_WAIT_MAX_MS 2000
void jobs_wait(jobs *js, const char *id, unsigned wait_ms);

/* Fills info (strings malloc'd; release with jobs_info_clear). CAIRN_ENOENT if unknown. */
int jobs_info(jobs *js, const char *id, Cairn__Rpc__JobInfo *info, cairn_err *e);
void jobs_info_clear(Cairn__Rpc__JobInfo *info);

/* The ids of the jobs running now, newest first: *ids and each id malloc'd. */
int jobs_running(jobs *js, char ***ids, size_t *n, cairn_err *e);

/* Drops a finished job, so the same id starts afresh next time; a running job is
 * kept (CAIRN_EBUSY). Unknown ids are not an error. */
int jobs_forget(jobs *js, const char *id, cairn_err *e);

/* Asks every job to stop at its next step and waits for them. */
void jobs_free(jobs *js);

/* For the job's own thread. */
typedef enum {
    JOB_FILES_TOTAL,
    JOB_FILES_DONE,
    JOB_BYTES_TOTAL,
    JOB_BYTES_DONE,
    JOB_BYTES_UPLOADED,
    JOB_BYTES_STORED,
    JOB_TABLES,
    JOB_BYTES_SKIPPED,
    /* Repository requests, in StoreRequests' field order. */
    JOB_REQ_PUTS,
    JOB_REQ_PART_PUTS,
    JOB_REQ_GETS,
    JOB_REQ_HEADS,
    JOB_REQ_LISTS,
    JOB_REQ_DELETES,
    JOB_REQ_MULTIPART,
    JOB_REQ_RETRIES,
    JOB_NCOUNTERS
} job_counter;

void job_add(job *j, job_counter c, uint64_t n);
void job_warn(job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int job_set_result(job *j, const char *manifest_key, const char *manifest_sha256,
                   uint64_t manifest_size);
bool job_cancelled(const job *j);

/* Adds what a repository's store was asked to the job's request counters. */
struct repo;
void job_add_requests(job *j, const struct repo *r);

#endif
