/*
 * Design notes.
 *
 * Threads: every job runs fn in a thread of its own, started by jobs_start and joined
 * only when the job is destroyed (replaced, trimmed, forgotten or at jobs_free). The
 * request thread that started it returns at once with the job's state.
 *
 * Ids: the caller names the job ("upload:<tag>"); the list holds at most one job per
 * id. Asking for a running or finished id with the same request (its digest, when the
 * caller gives one) re-attaches (the new arg is freed unused), so a coordinator that
 * repeats itself never runs the same work twice. Another request for a running id is
 * refused: re-attaching would report the other request's work as this one's (a
 * re-run backup holding the killed attempt's files). Another request for a finished
 * id, and any request for a failed one, replaces the old job, whose thread is then
 * joined.
 *
 * State: RUNNING -> DONE or FAILED, once, in job_main under the lock, which then
 * wakes the long polls waiting in jobs_wait; nothing else writes it. Progress counters are atomics
 * the job adds to without the lock; the result, warnings and error are written under the lock and
 * read by jobs_info.
 *
 * Retention: finished jobs stay (newest JOBS_KEEP counted from the head) so a
 * coordinator that lost track can still read the outcome; running jobs are never
 * trimmed, so the list may briefly hold more.
 *
 * Cancellation: jobs_cancel (a CancelRequest) and jobs_free (the agent stopping) set
 * the job's cancel flag; a job checks job_cancelled between steps (files, tables) and
 * inside a file's upload, and returns early. Such a job ends FAILED, never DONE, with
 * an error that says it was cancelled and by whom (CAIRN_EBUSY), so asking again
 * starts it afresh; jobs_free joins it.
 */
#include "job/jobs.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/debug.h"
#include "base/log.h"
#include "repo/repo.h"

/* Warnings beyond this many are counted, not kept: a node with thousands of corrupt
 * files must not grow the agent without bound. */
#define JOB_MAX_WARNINGS 100

struct job {
    jobs *owner;
    char *id;
    job_fn fn;
    void *arg;
    void (*arg_free)(void *);
    pthread_t thread;
    _Atomic uint64_t counters[JOB_NCOUNTERS];
    atomic_bool cancel;
    atomic_int cancel_why;       /* JOB_CANCEL_* once cancel is set */
    char digest[JOB_DIGEST_MAX]; /* of the request that started it; "" if none given */
    /* Guarded by owner->lock. */
    Cairn__Rpc__JobInfo__State state;
    cairn_err error;
    char *manifest_key;
    char *manifest_sha256;
    uint64_t manifest_size;
    char **warnings;
    size_t nwarnings;
    size_t dropped_warnings;
    bool joined;
    struct job *next;
};

struct jobs {
    pthread_mutex_t lock;
    pthread_cond_t ended; /* a job left RUNNING; on CLOCK_MONOTONIC */
    job *head;            /* newest first */
};

int jobs_new(jobs **out, cairn_err *e)
{
    jobs *js = calloc(1, sizeof(*js));
    if (!js)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    pthread_mutex_init(&js->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&js->ended, &ca);
    pthread_condattr_destroy(&ca);
    *out = js;
    return 0;
}

/* For assertions: whether js->lock is held (by the calling thread, as callers are). */
static bool lock_held(jobs *js)
{
    if (pthread_mutex_trylock(&js->lock) != 0)
        return true;
    pthread_mutex_unlock(&js->lock);
    return false;
}

static void job_destroy(job *j)
{
    if (!j->joined) {
        pthread_join(j->thread, NULL);
        CAIRN_ASSERT(j->state != CAIRN__RPC__JOB_INFO__STATE__RUNNING);
    }
    if (j->arg_free)
        j->arg_free(j->arg);
    for (size_t i = 0; i < j->nwarnings; i++)
        free(j->warnings[i]);
    free(j->warnings);
    free(j->manifest_key);
    free(j->manifest_sha256);
    free(j->id);
    free(j);
}

static void *job_main(void *arg)
{
    job *j = arg;
    cairn_err e;
    err_clear(&e);
    int rc = j->fn(j, j->arg, &e);
    pthread_mutex_lock(&j->owner->lock);
    CAIRN_ASSERT(j->state == CAIRN__RPC__JOB_INFO__STATE__RUNNING);
    if (rc && job_cancelled(j)) {
        /* Whatever step noticed it, the cause is the cancellation. */
        err_set(&e, CAIRN_EBUSY, "job %s was cancelled (%s)", j->id,
                atomic_load(&j->cancel_why) == JOB_CANCEL_SHUTDOWN ? "the agent is stopping"
                                                                   : "by the coordinator");
    }
    if (rc) {
        if (!e.code)
            err_set(&e, rc, "%s", err_name(rc));
        j->error = e;
        j->state = CAIRN__RPC__JOB_INFO__STATE__FAILED;
        log_error("job %s failed: %s", j->id, e.msg);
    } else {
        j->state = CAIRN__RPC__JOB_INFO__STATE__DONE;
        log_info("job %s done", j->id);
    }
    pthread_cond_broadcast(&j->owner->ended);
    pthread_mutex_unlock(&j->owner->lock);
    return NULL;
}

/* Drops the oldest finished jobs beyond JOBS_KEEP. Called with the lock held. */
static void jobs_trim(jobs *js)
{
    CAIRN_ASSERT(lock_held(js));
    size_t n = 0;
    for (job **pp = &js->head; *pp;) {
        job *j = *pp;
        if (++n > JOBS_KEEP && j->state != CAIRN__RPC__JOB_INFO__STATE__RUNNING) {
            *pp = j->next;
            job_destroy(j);
            continue;
        }
        pp = &j->next;
    }
}

/* Whether a job started by a request of digest d is the one asked for by digest want. */
static bool same_request(const job *j, const char *want)
{
    return !want || !*want || !j->digest[0] || strcmp(j->digest, want) == 0;
}

int jobs_start(jobs *js, const char *id, const char *digest, job_fn fn, void *arg,
               void (*arg_free)(void *), bool *attached, cairn_err *e)
{
    *attached = false;
    CAIRN_ASSERT(!digest || strlen(digest) < JOB_DIGEST_MAX);
    pthread_mutex_lock(&js->lock);
    for (job **pp = &js->head; *pp; pp = &(*pp)->next) {
        job *old = *pp;
        if (strcmp(old->id, id) != 0)
            continue;
        bool same = same_request(old, digest);
        if (old->state == CAIRN__RPC__JOB_INFO__STATE__RUNNING && !same) {
            pthread_mutex_unlock(&js->lock);
            if (arg_free)
                arg_free(arg);
            return err_set(e, CAIRN_EBUSY,
                           "job %s is running for another request: cancel it or wait for it "
                           "to end",
                           id);
        }
        if (old->state != CAIRN__RPC__JOB_INFO__STATE__FAILED && same) {
            pthread_mutex_unlock(&js->lock);
            *attached = true;
            if (arg_free)
                arg_free(arg);
            return 0;
        }
        /* A failed attempt, or a finished job of another request, gives way. */
        *pp = old->next;
        job_destroy(old);
        break;
    }
    job *j = calloc(1, sizeof(*j));
    if (!j || !(j->id = strdup(id))) {
        free(j);
        pthread_mutex_unlock(&js->lock);
        if (arg_free)
            arg_free(arg);
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    }
    j->owner = js;
    j->fn = fn;
    j->arg = arg;
    j->arg_free = arg_free;
    if (digest)
        snprintf(j->digest, sizeof(j->digest), "%s", digest);
    j->state = CAIRN__RPC__JOB_INFO__STATE__RUNNING;
    if (pthread_create(&j->thread, NULL, job_main, j) != 0) {
        j->joined = true;
        pthread_mutex_unlock(&js->lock);
        job_destroy(j);
        return err_set(e, CAIRN_ENOMEM, "cannot start a thread for job %s", id);
    }
    j->next = js->head;
    js->head = j;
    jobs_trim(js);
    pthread_mutex_unlock(&js->lock);
    log_info("job %s started", id);
    return 0;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* The job's progress and request counters. Called with the lock held. */
static void info_counters(const job *j, Cairn__Rpc__JobInfo *info)
{
    uint64_t *fields[JOB_REQ_PUTS] = {
        &info->files_total,    &info->files_done,   &info->bytes_total, &info->bytes_done,
        &info->bytes_uploaded, &info->bytes_stored, &info->tables,      &info->bytes_skipped};
    protobuf_c_boolean *has[JOB_REQ_PUTS] = {&info->has_files_total,    &info->has_files_done,
                                             &info->has_bytes_total,    &info->has_bytes_done,
                                             &info->has_bytes_uploaded, &info->has_bytes_stored,
                                             &info->has_tables,         &info->has_bytes_skipped};
    for (int c = 0; c < JOB_REQ_PUTS; c++) {
        *fields[c] = atomic_load(&j->counters[c]);
        *has[c] = 1;
    }
    info->requests = malloc(sizeof(*info->requests));
    if (!info->requests)
        return;
    Cairn__Rpc__StoreRequests *r = info->requests;
    cairn__rpc__store_requests__init(r);
    uint64_t *req[] = {&r->puts,  &r->part_puts, &r->gets,      &r->heads,
                       &r->lists, &r->deletes,   &r->multipart, &r->retries};
    protobuf_c_boolean *hreq[] = {&r->has_puts,      &r->has_part_puts, &r->has_gets,
                                  &r->has_heads,     &r->has_lists,     &r->has_deletes,
                                  &r->has_multipart, &r->has_retries};
    _Static_assert(sizeof(req) / sizeof(req[0]) == JOB_NCOUNTERS - JOB_REQ_PUTS,
                   "one StoreRequests field per request counter");
    for (int c = JOB_REQ_PUTS; c < JOB_NCOUNTERS; c++) {
        *req[c - JOB_REQ_PUTS] = atomic_load(&j->counters[c]);
        *hreq[c - JOB_REQ_PUTS] = 1;
    }
}

/* The kept warnings, and a last line counting those that were not. Lock held. */
static void info_warnings(const job *j, Cairn__Rpc__JobInfo *info)
{
    size_t nw = j->nwarnings + (j->dropped_warnings ? 1 : 0);
    if (!nw || (info->warnings = calloc(nw, sizeof(char *))) == NULL)
        return;
    for (size_t i = 0; i < j->nwarnings; i++)
        info->warnings[info->n_warnings++] = strdup(j->warnings[i]);
    if (j->dropped_warnings) {
        char line[96];
        snprintf(line, sizeof(line), "... and %zu more warnings (see the agent's log)",
                 j->dropped_warnings);
        info->warnings[info->n_warnings++] = strdup(line);
    }
    CAIRN_ASSERT(info->n_warnings == nw);
}

/* The job of that id; called with the lock held. */
static job *find(jobs *js, const char *id)
{
    CAIRN_ASSERT(lock_held(js));
    job *j = js->head;
    while (j && strcmp(j->id, id) != 0)
        j = j->next;
    return j;
}

void jobs_wait(jobs *js, const char *id, unsigned wait_ms)
{
    if (wait_ms > JOBS_WAIT_MAX_MS)
        wait_ms = JOBS_WAIT_MAX_MS;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += wait_ms / 1000;
    until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&js->lock);
    /* Looked up again after every wake-up: a job may be trimmed meanwhile. */
    for (job *j; (j = find(js, id)) && j->state == CAIRN__RPC__JOB_INFO__STATE__RUNNING;)
        if (pthread_cond_timedwait(&js->ended, &js->lock, &until) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&js->lock);
}

int jobs_info(jobs *js, const char *id, Cairn__Rpc__JobInfo *info, cairn_err *e)
{
    cairn__rpc__job_info__init(info);
    pthread_mutex_lock(&js->lock);
    job *j = find(js, id);
    if (!j) {
        pthread_mutex_unlock(&js->lock);
        return err_set(e, CAIRN_ENOENT, "no job %s on this agent (was the agent restarted?)", id);
    }
    info->job_id = strdup(j->id);
    info->state = j->state;
    info_counters(j, info);
    if (j->state == CAIRN__RPC__JOB_INFO__STATE__FAILED) {
        info->error = malloc(sizeof(*info->error));
        if (info->error) {
            cairn__rpc__status__init(info->error);
            info->error->code = j->error.code;
            info->error->message = strdup(j->error.msg);
        }
    }
    info->manifest_key = dup_or_null(j->manifest_key);
    info->manifest_sha256 = dup_or_null(j->manifest_sha256);
    info->has_manifest_size = j->manifest_sha256 != NULL;
    info->manifest_size = j->manifest_size;
    info_warnings(j, info);
    pthread_mutex_unlock(&js->lock);
    if (!info->job_id)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    return 0;
}

void jobs_info_clear(Cairn__Rpc__JobInfo *info)
{
    free(info->job_id);
    if (info->error)
        free(info->error->message);
    free(info->error);
    free(info->manifest_key);
    free(info->manifest_sha256);
    free(info->requests);
    for (size_t i = 0; i < info->n_warnings; i++)
        free(info->warnings[i]);
    free(info->warnings);
    cairn__rpc__job_info__init(info);
}

int jobs_running(jobs *js, char ***ids, size_t *n, cairn_err *e)
{
    *ids = NULL;
    *n = 0;
    pthread_mutex_lock(&js->lock);
    size_t count = 0;
    for (job *j = js->head; j; j = j->next)
        count += j->state == CAIRN__RPC__JOB_INFO__STATE__RUNNING;
    char **out = count ? calloc(count, sizeof(*out)) : NULL;
    bool oom = count && !out;
    for (job *j = js->head; out && j; j = j->next) {
        if (j->state != CAIRN__RPC__JOB_INFO__STATE__RUNNING)
            continue;
        if (!(out[*n] = strdup(j->id))) {
            oom = true;
            break;
        }
        (*n)++;
    }
    pthread_mutex_unlock(&js->lock);
    if (oom) {
        for (size_t i = 0; i < *n; i++)
            free(out[i]);
        free(out);
        *n = 0;
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    }
    *ids = out;
    return 0;
}

int jobs_forget(jobs *js, const char *id, cairn_err *e)
{
    pthread_mutex_lock(&js->lock);
    for (job **pp = &js->head; *pp; pp = &(*pp)->next) {
        job *j = *pp;
        if (strcmp(j->id, id) != 0)
            continue;
        if (j->state == CAIRN__RPC__JOB_INFO__STATE__RUNNING) {
            pthread_mutex_unlock(&js->lock);
            return err_set(e, CAIRN_EBUSY, "job %s is still running", id);
        }
        *pp = j->next;
        job_destroy(j);
        break;
    }
    pthread_mutex_unlock(&js->lock);
    return 0;
}

/* Sets j's cancel flag, keeping the first reason. */
static void job_cancel(job *j, int why)
{
    int none = JOB_CANCEL_NONE;
    atomic_compare_exchange_strong(&j->cancel_why, &none, why);
    atomic_store(&j->cancel, true);
}

int jobs_cancel(jobs *js, const char *id, cairn_err *e)
{
    pthread_mutex_lock(&js->lock);
    job *j = js->head;
    while (j && strcmp(j->id, id) != 0)
        j = j->next;
    if (j && j->state == CAIRN__RPC__JOB_INFO__STATE__RUNNING)
        job_cancel(j, JOB_CANCEL_COORDINATOR);
    pthread_mutex_unlock(&js->lock);
    if (!j)
        return err_set(e, CAIRN_ENOENT, "no job %s on this agent", id);
    log_info("job %s: cancel requested", id);
    return 0;
}

void jobs_free(jobs *js)
{
    if (!js)
        return;
    pthread_mutex_lock(&js->lock);
    for (job *j = js->head; j; j = j->next)
        job_cancel(j, JOB_CANCEL_SHUTDOWN);
    job *head = js->head;
    js->head = NULL;
    pthread_mutex_unlock(&js->lock);
    while (head) {
        job *next = head->next;
        job_destroy(head);
        head = next;
    }
    pthread_cond_destroy(&js->ended);
    pthread_mutex_destroy(&js->lock);
    free(js);
}

void job_add(job *j, job_counter c, uint64_t n)
{
    CAIRN_ASSERT((unsigned)c < JOB_NCOUNTERS);
    atomic_fetch_add(&j->counters[c], n);
}

void job_warn(job *j, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    log_warn("job %s: %s", j->id, buf);
    pthread_mutex_lock(&j->owner->lock);
    CAIRN_ASSERT(j->nwarnings <= JOB_MAX_WARNINGS);
    char **nw = NULL;
    if (j->nwarnings < JOB_MAX_WARNINGS &&
        (nw = realloc(j->warnings, (j->nwarnings + 1) * sizeof(char *))) != NULL) {
        j->warnings = nw;
        if ((nw[j->nwarnings] = strdup(buf)) != NULL)
            j->nwarnings++;
    } else {
        j->dropped_warnings++;
    }
    pthread_mutex_unlock(&j->owner->lock);
}

int job_set_result(job *j, const char *manifest_key, const char *manifest_sha256,
                   uint64_t manifest_size)
{
    pthread_mutex_lock(&j->owner->lock);
    j->manifest_size = manifest_size;
    free(j->manifest_key);
    free(j->manifest_sha256);
    j->manifest_key = strdup(manifest_key);
    j->manifest_sha256 = strdup(manifest_sha256);
    int ok = j->manifest_key && j->manifest_sha256;
    pthread_mutex_unlock(&j->owner->lock);
    return ok ? 0 : CAIRN_ENOMEM;
}

void job_add_requests(job *j, const struct repo *r)
{
    store_counts c;
    repo_stats(r, &c);
    job_add(j, JOB_REQ_PUTS, c.puts);
    job_add(j, JOB_REQ_PART_PUTS, c.part_puts);
    job_add(j, JOB_REQ_GETS, c.gets);
    job_add(j, JOB_REQ_HEADS, c.heads);
    job_add(j, JOB_REQ_LISTS, c.lists);
    job_add(j, JOB_REQ_DELETES, c.deletes);
    job_add(j, JOB_REQ_MULTIPART, c.mpu_initiates + c.mpu_completes + c.mpu_aborts);
    job_add(j, JOB_REQ_RETRIES, c.retries);
}

bool job_cancelled(const job *j)
{
    return atomic_load(&((job *)j)->cancel);
}
