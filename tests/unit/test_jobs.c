/* The agent's job runner (job/jobs) and how handlers start jobs (job/start). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/log.h"
#include "job/jobs.h"
#include "job/start.h"

/* A job body that holds until the test opens its gate, then does what it is told. */
typedef struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool open;
    int rc;          /* what the job returns */
    bool cancelled;  /* whether the job saw job_cancelled */
    atomic_int runs; /* how many times a job body ran */
    atomic_int frees;
} gate;

static gate *gate_new(int rc)
{
    gate *g = calloc(1, sizeof(*g));
    assert_non_null(g);
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->cond, NULL);
    g->rc = rc;
    return g;
}

static void gate_open(gate *g)
{
    pthread_mutex_lock(&g->lock);
    g->open = true;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

static void gate_free(gate *g)
{
    pthread_mutex_destroy(&g->lock);
    pthread_cond_destroy(&g->cond);
    free(g);
}

static int gated_job(job *j, void *arg, cairn_err *e)
{
    gate *g = arg;
    atomic_fetch_add(&g->runs, 1);
    pthread_mutex_lock(&g->lock);
    while (!g->open && !job_cancelled(j)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 10 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&g->cond, &g->lock, &ts);
    }
    g->cancelled = job_cancelled(j);
    int rc = g->rc;
    pthread_mutex_unlock(&g->lock);
    job_add(j, JOB_FILES_TOTAL, 3);
    job_add(j, JOB_FILES_DONE, 2);
    job_add(j, JOB_BYTES_DONE, 700);
    job_add(j, JOB_BYTES_SKIPPED, 300);
    job_add(j, JOB_REQ_RETRIES, 5);
    if (rc == CAIRN_EIO)
        return err_set(e, CAIRN_EIO, "disk on fire");
    return rc; /* CAIRN_EBUSY comes back without a message */
}

static void count_free(void *arg)
{
    gate *g = arg;
    atomic_fetch_add(&g->frees, 1);
}

/* Waits until job id has left RUNNING and returns its info. */
static Cairn__Rpc__JobInfo__State wait_done(jobs *js, const char *id, Cairn__Rpc__JobInfo *info)
{
    for (int i = 0; i < 6000; i++) {
        cairn_err e;
        assert_int_equal(jobs_info(js, id, info, &e), 0);
        if (info->state != CAIRN__RPC__JOB_INFO__STATE__RUNNING)
            return info->state;
        jobs_info_clear(info);
        usleep(5000);
    }
    fail_msg("job %s did not finish", id);
    return CAIRN__RPC__JOB_INFO__STATE__RUNNING;
}

static void test_lifecycle_and_reattach(void **state)
{
    (void)state;
    jobs *js;
    cairn_err e;
    assert_int_equal(jobs_new(&js, &e), 0);
    gate *g = gate_new(0);
    bool attached = true;
    assert_int_equal(jobs_start(js, "upload:t1", NULL, gated_job, g, count_free, &attached, &e), 0);
    assert_false(attached);

    Cairn__Rpc__JobInfo info;
    assert_int_equal(jobs_info(js, "upload:t1", &info, &e), 0);
    assert_string_equal(info.job_id, "upload:t1");
    assert_int_equal(info.state, CAIRN__RPC__JOB_INFO__STATE__RUNNING);
    assert_null(info.error);
    jobs_info_clear(&info);

    /* Asking again for a running job re-attaches; the second arg is freed unused. */
    gate *g2 = gate_new(0);
    assert_int_equal(jobs_start(js, "upload:t1", NULL, gated_job, g2, count_free, &attached, &e),
                     0);
    assert_true(attached);
    assert_int_equal(atomic_load(&g2->frees), 1);
    assert_int_equal(atomic_load(&g2->runs), 0);

    /* A running job cannot be forgotten. */
    assert_int_equal(jobs_forget(js, "upload:t1", &e), CAIRN_EBUSY);
    assert_non_null(strstr(e.msg, "still running"));

    gate_open(g);
    assert_int_equal(wait_done(js, "upload:t1", &info), CAIRN__RPC__JOB_INFO__STATE__DONE);
    assert_int_equal(info.files_total, 3);
    assert_int_equal(info.files_done, 2);
    assert_true(info.has_bytes_total);
    /* Skipped bytes are reported apart, within bytes_done, so speed can leave them out. */
    assert_int_equal(info.bytes_done, 700);
    assert_true(info.has_bytes_skipped);
    assert_int_equal(info.bytes_skipped, 300);
    assert_non_null(info.requests);
    assert_int_equal(info.requests->retries, 5);
    assert_null(info.manifest_key);
    jobs_info_clear(&info);

    /* A finished job also re-attaches: the work is not done twice. */
    assert_int_equal(jobs_start(js, "upload:t1", NULL, gated_job, g2, count_free, &attached, &e),
                     0);
    assert_true(attached);
    assert_int_equal(atomic_load(&g2->runs), 0);

    /* Forgotten, the same id starts afresh; unknown ids are no error. */
    assert_int_equal(jobs_forget(js, "upload:t1", &e), 0);
    assert_int_equal(atomic_load(&g->frees), 1);
    assert_int_equal(jobs_info(js, "upload:t1", &info, &e), CAIRN_ENOENT);
    assert_non_null(strstr(e.msg, "no job upload:t1"));
    assert_int_equal(jobs_forget(js, "upload:never", &e), 0);
    gate_open(g2);
    assert_int_equal(jobs_start(js, "upload:t1", NULL, gated_job, g2, count_free, &attached, &e),
                     0);
    assert_false(attached);
    assert_int_equal(wait_done(js, "upload:t1", &info), CAIRN__RPC__JOB_INFO__STATE__DONE);
    jobs_info_clear(&info);
    assert_int_equal(atomic_load(&g2->runs), 1);
    jobs_free(js);
    assert_int_equal(atomic_load(&g2->frees), 3);
    gate_free(g);
    gate_free(g2);
}

static void test_failed_job_is_replaced(void **state)
{
    (void)state;
    jobs *js;
    cairn_err e;
    assert_int_equal(jobs_new(&js, &e), 0);
    gate *bad = gate_new(CAIRN_EIO);
    gate_open(bad);
    bool attached;
    assert_int_equal(jobs_start(js, "restore:x", NULL, gated_job, bad, count_free, &attached, &e),
                     0);
    Cairn__Rpc__JobInfo info;
    assert_int_equal(wait_done(js, "restore:x", &info), CAIRN__RPC__JOB_INFO__STATE__FAILED);
    assert_non_null(info.error);
    assert_int_equal(info.error->code, CAIRN_EIO);
    assert_string_equal(info.error->message, "disk on fire");
    jobs_info_clear(&info);

    /* A failure without a message is named by its code. */
    gate *quiet = gate_new(CAIRN_EBUSY);
    gate_open(quiet);
    assert_int_equal(jobs_start(js, "restore:x", NULL, gated_job, quiet, count_free, &attached, &e),
                     0);
    assert_false(attached);
    assert_int_equal(atomic_load(&bad->frees), 1);
    assert_int_equal(wait_done(js, "restore:x", &info), CAIRN__RPC__JOB_INFO__STATE__FAILED);
    assert_int_equal(info.error->code, CAIRN_EBUSY);
    assert_string_equal(info.error->message, err_name(CAIRN_EBUSY));
    jobs_info_clear(&info);
    jobs_free(js);
    gate_free(bad);
    gate_free(quiet);
}

static int result_job(job *j, void *arg, cairn_err *e)
{
    (void)arg;
    (void)e;
    for (int i = 0; i < 130; i++)
        job_warn(j, "warning %d", i);
    assert_int_equal(job_set_result(j, "k1", "s1", 1), 0);
    return job_set_result(j, "cluster/tag/node.manifest", "abc123", 4242);
}

static void test_result_and_warnings(void **state)
{
    (void)state;
    jobs *js;
    cairn_err e;
    assert_int_equal(jobs_new(&js, &e), 0);
    bool attached;
    assert_int_equal(jobs_start(js, "upload:w", NULL, result_job, NULL, NULL, &attached, &e), 0);
    Cairn__Rpc__JobInfo info;
    assert_int_equal(wait_done(js, "upload:w", &info), CAIRN__RPC__JOB_INFO__STATE__DONE);
    assert_string_equal(info.manifest_key, "cluster/tag/node.manifest");
    assert_string_equal(info.manifest_sha256, "abc123");
    assert_true(info.has_manifest_size);
    assert_int_equal(info.manifest_size, 4242);
    /* 100 kept, then one line that counts the rest. */
    assert_int_equal(info.n_warnings, 101);
    assert_string_equal(info.warnings[0], "warning 0");
    assert_string_equal(info.warnings[99], "warning 99");
    assert_non_null(strstr(info.warnings[100], "and 30 more warnings"));
    jobs_info_clear(&info);
    jobs_free(js);
}

static void test_cancel_on_free(void **state)
{
    (void)state;
    jobs *js;
    cairn_err e;
    assert_int_equal(jobs_new(&js, &e), 0);
    gate *g = gate_new(0);
    bool attached;
    assert_int_equal(jobs_start(js, "upload:c", NULL, gated_job, g, count_free, &attached, &e), 0);
    while (atomic_load(&g->runs) == 0)
        usleep(1000);
    /* The gate is never opened: only the cancel flag lets the job end. */
    jobs_free(js);
    assert_true(g->cancelled);
    assert_int_equal(atomic_load(&g->frees), 1);
    gate_free(g);
    jobs_free(NULL);
}

static void test_cancel_request(void **state)
{
    (void)state;
    jobs *js;
    cairn_err e;
    assert_int_equal(jobs_new(&js, &e), 0);
    gate *g = gate_new(CAIRN_EBUSY); /* what a job returns when it notices */
    bool attached;
    assert_int_equal(jobs_cancel(js, "upload:k", &e), CAIRN_ENOENT);
    assert_int_equal(jobs_start(js, "upload:k", NULL, gated_job, g, count_free, &attached, &e), 0);
    while (atomic_load(&g->runs) == 0)
        usleep(1000);
    /* The gate stays shut: the cancel request alone ends the job, as FAILED. */
    assert_int_equal(jobs_cancel(js, "upload:k", &e), 0);
    Cairn__Rpc__JobInfo info;
    assert_int_equal(wait_done(js, "upload:k", &info), CAIRN__RPC__JOB_INFO__STATE__FAILED);
    assert_true(g->cancelled);
    assert_non_null(info.error);
    assert_int_equal(info.error->code, CAIRN_EBUSY);
    assert_non_null(strstr(info.error->message, "cancelled (by the coordinator)"));
    jobs_info_clear(&info);
    /* A finished job is left as it is. */
    assert_int_equal(jobs_cancel(js, "upload:k", &e), 0);
    jobs_free(js);
    assert_int_equal(atomic_load(&g->frees), 1);
    gate_free(g);
}

static void *open_soon(void *arg)
{
    usleep(20 * 1000);
    gate_open(arg);
    return NULL;
}

/* A long poll: held while the job runs (up to its wait), answered when the job ends. */
static void test_long_poll(void **state)
{
    (void)state;
    jobs *js;
    cairn_err e;
    assert_int_equal(jobs_new(&js, &e), 0);
    gate *g = gate_new(0);
    bool attached;
    assert_int_equal(jobs_start(js, "upload:w", NULL, gated_job, g, count_free, &attached, &e), 0);
    /* Unknown and running jobs: the wait ends (at its limit for the running one). */
    jobs_wait(js, "upload:none", JOBS_WAIT_MAX_MS);
    jobs_wait(js, "upload:w", 30);
    Cairn__Rpc__JobInfo info;
    assert_int_equal(jobs_info(js, "upload:w", &info, &e), 0);
    assert_int_equal(info.state, CAIRN__RPC__JOB_INFO__STATE__RUNNING);
    jobs_info_clear(&info);
    /* The gate opens while the poll waits: the poll sees the job done. */
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, open_soon, g), 0);
    jobs_wait(js, "upload:w", JOBS_WAIT_MAX_MS);
    assert_int_equal(jobs_info(js, "upload:w", &info, &e), 0);
    assert_int_equal(info.state, CAIRN__RPC__JOB_INFO__STATE__DONE);
    jobs_info_clear(&info);
    pthread_join(t, NULL);
    /* A finished job: answered at once, whatever the wait. */
    jobs_wait(js, "upload:w", UINT32_MAX);
    jobs_free(js);
    gate_free(g);
}

static void test_reattach_only_same_request(void **state)
{
    (void)state;
    jobs *js;
    cairn_err e;
    assert_int_equal(jobs_new(&js, &e), 0);
    gate *g = gate_new(0), *g2 = gate_new(0), *g3 = gate_new(0);
    bool attached;
    assert_int_equal(jobs_start(js, "upload:r", "aaaa", gated_job, g, count_free, &attached, &e),
                     0);
    /* Another request for the running job: refused, and its arg freed. */
    assert_int_equal(jobs_start(js, "upload:r", "bbbb", gated_job, g2, count_free, &attached, &e),
                     CAIRN_EBUSY);
    assert_non_null(strstr(e.msg, "running for another request"));
    assert_false(attached);
    assert_int_equal(atomic_load(&g2->frees), 1);
    /* The same request re-attaches. */
    assert_int_equal(jobs_start(js, "upload:r", "aaaa", gated_job, g2, count_free, &attached, &e),
                     0);
    assert_true(attached);
    gate_open(g);
    Cairn__Rpc__JobInfo info;
    assert_int_equal(wait_done(js, "upload:r", &info), CAIRN__RPC__JOB_INFO__STATE__DONE);
    jobs_info_clear(&info);
    /* Another request for the finished job replaces it with a new run. */
    gate_open(g3);
    assert_int_equal(jobs_start(js, "upload:r", "cccc", gated_job, g3, count_free, &attached, &e),
                     0);
    assert_false(attached);
    assert_int_equal(wait_done(js, "upload:r", &info), CAIRN__RPC__JOB_INFO__STATE__DONE);
    jobs_info_clear(&info);
    assert_int_equal(atomic_load(&g->frees), 1);
    assert_int_equal(atomic_load(&g3->runs), 1);
    jobs_free(js);
    gate_free(g);
    gate_free(g2);
    gate_free(g3);
}

static void test_retention(void **state)
{
    (void)state;
    jobs *js;
    cairn_err e;
    assert_int_equal(jobs_new(&js, &e), 0);
    gate *g = gate_new(0);
    gate_open(g);
    bool attached;
    char id[32];
    Cairn__Rpc__JobInfo info;
    for (int i = 0; i < JOBS_KEEP + 6; i++) {
        snprintf(id, sizeof(id), "upload:%d", i);
        assert_int_equal(jobs_start(js, id, NULL, gated_job, g, NULL, &attached, &e), 0);
        wait_done(js, id, &info);
        jobs_info_clear(&info);
    }
    /* The oldest finished jobs went; the newest JOBS_KEEP stay. */
    for (int i = 0; i < 6; i++) {
        snprintf(id, sizeof(id), "upload:%d", i);
        assert_int_equal(jobs_info(js, id, &info, &e), CAIRN_ENOENT);
    }
    for (int i = 6; i < JOBS_KEEP + 6; i++) {
        snprintf(id, sizeof(id), "upload:%d", i);
        assert_int_equal(jobs_info(js, id, &info, &e), 0);
        jobs_info_clear(&info);
    }
    jobs_free(js);
    gate_free(g);
}

/* job_start_request and job_reply: the request is copied, the job gets ctx and extra. */
typedef struct seen {
    atomic_int runs;
    char tag[64];
    char host_id[64];
    void *ctx;
} seen;

static int request_job(job *j, void *arg, cairn_err *e)
{
    (void)j;
    (void)e;
    const job_request *r = arg;
    seen *s = r->ctx;
    const Cairn__Rpc__UploadRequest *rq = (const Cairn__Rpc__UploadRequest *)r->rq;
    snprintf(s->tag, sizeof(s->tag), "%s", rq->tag);
    if (r->extra)
        snprintf(s->host_id, sizeof(s->host_id), "%s",
                 ((const Cairn__Rpc__NodeInfo *)r->extra)->host_id);
    s->ctx = r->ctx;
    atomic_fetch_add(&s->runs, 1);
    return 0;
}

static Cairn__Rpc__NodeInfo *node_copy(const char *host_id)
{
    Cairn__Rpc__NodeInfo n = CAIRN__RPC__NODE_INFO__INIT;
    n.host_id = (char *)host_id;
    uint8_t packed[256];
    size_t len = cairn__rpc__node_info__pack(&n, packed);
    return cairn__rpc__node_info__unpack(NULL, len, packed);
}

static void test_start_request(void **state)
{
    (void)state;
    jobs *js;
    cairn_err e;
    assert_int_equal(jobs_new(&js, &e), 0);
    seen s = {0};
    char tag[] = "nightly";
    Cairn__Rpc__UploadRequest rq = CAIRN__RPC__UPLOAD_REQUEST__INIT;
    rq.tag = tag;
    Cairn__Rpc__Response resp = CAIRN__RPC__RESPONSE__INIT;
    Cairn__Rpc__NodeInfo *node = node_copy("11111111-2222-3333-4444-555555555555");
    assert_int_equal(
        job_start_request(js, "upload", rq.tag, &rq.base, &s, &node->base, request_job, &resp, &e),
        0);
    /* The job works on its own copy: the caller's request may go away. */
    tag[0] = 'X';
    assert_int_equal(resp.result_case, CAIRN__RPC__RESPONSE__RESULT_JOB);
    assert_string_equal(resp.job->job_id, "upload:nightly");
    jobs_info_clear(resp.job);
    free(resp.job);

    Cairn__Rpc__JobInfo info;
    wait_done(js, "upload:nightly", &info);
    jobs_info_clear(&info);
    assert_string_equal(s.tag, "nightly");
    assert_string_equal(s.host_id, "11111111-2222-3333-4444-555555555555");
    assert_ptr_equal(s.ctx, &s);

    /* Again: re-attached, answered with the state, the job not run twice. */
    resp = (Cairn__Rpc__Response)CAIRN__RPC__RESPONSE__INIT;
    rq.tag = (char *)"nightly";
    assert_int_equal(
        job_start_request(js, "upload", rq.tag, &rq.base, &s, NULL, request_job, &resp, &e), 0);
    assert_int_equal(resp.job->state, CAIRN__RPC__JOB_INFO__STATE__DONE);
    jobs_info_clear(resp.job);
    free(resp.job);
    assert_int_equal(atomic_load(&s.runs), 1);

    resp = (Cairn__Rpc__Response)CAIRN__RPC__RESPONSE__INIT;
    assert_int_equal(job_reply(js, "upload:other", &resp, &e), CAIRN_ENOENT);
    assert_int_equal(resp.result_case, CAIRN__RPC__RESPONSE__RESULT__NOT_SET);

    char id[16];
    job_request_id("restore", "a-very-long-tag", id, sizeof(id));
    assert_string_equal(id, "restore:a-very-");
    jobs_free(js);
}

static void free_ids(char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

/* Only running jobs are listed, newest first; finished ones drop out. */
static void test_running_list(void **state)
{
    (void)state;
    jobs *js;
    cairn_err e;
    assert_int_equal(jobs_new(&js, &e), 0);
    char **ids = NULL;
    size_t n = 99;
    assert_int_equal(jobs_running(js, &ids, &n, &e), 0);
    assert_int_equal(n, 0);
    assert_null(ids);
    gate *a = gate_new(0), *b = gate_new(0), *done = gate_new(0);
    gate_open(done);
    bool attached;
    assert_int_equal(jobs_start(js, "upload:old", NULL, gated_job, done, NULL, &attached, &e), 0);
    Cairn__Rpc__JobInfo info;
    assert_int_equal(wait_done(js, "upload:old", &info), CAIRN__RPC__JOB_INFO__STATE__DONE);
    jobs_info_clear(&info);
    assert_int_equal(jobs_start(js, "upload:a", NULL, gated_job, a, NULL, &attached, &e), 0);
    assert_int_equal(jobs_start(js, "restore:c.b", NULL, gated_job, b, NULL, &attached, &e), 0);
    assert_int_equal(jobs_running(js, &ids, &n, &e), 0);
    assert_int_equal(n, 2);
    assert_string_equal(ids[0], "restore:c.b");
    assert_string_equal(ids[1], "upload:a");
    free_ids(ids, n);
    gate_open(a);
    assert_int_equal(wait_done(js, "upload:a", &info), CAIRN__RPC__JOB_INFO__STATE__DONE);
    jobs_info_clear(&info);
    assert_int_equal(jobs_running(js, &ids, &n, &e), 0);
    assert_int_equal(n, 1);
    assert_string_equal(ids[0], "restore:c.b");
    free_ids(ids, n);
    gate_open(b);
    jobs_free(js);
    gate_free(a);
    gate_free(b);
    gate_free(done);
}

int main(void)
{
    log_set_level(LOG_LEVEL_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lifecycle_and_reattach),
        cmocka_unit_test(test_failed_job_is_replaced),
        cmocka_unit_test(test_result_and_warnings),
        cmocka_unit_test(test_cancel_on_free),
        cmocka_unit_test(test_cancel_request),
        cmocka_unit_test(test_long_poll),
        cmocka_unit_test(test_reattach_only_same_request),
        cmocka_unit_test(test_retention),
        cmocka_unit_test(test_start_request),
        cmocka_unit_test(test_running_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
