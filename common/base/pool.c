/*
 * Design notes: the items are an index range, so the shared state is one atomic
 * counter (the next item) plus the first error under a mutex. A thread that finds a
 * failure recorded stops taking items; the caller joins every thread before it reads
 * the outcome, so the error needs no lock once pool_run returns.
 */
#include "base/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "base/debug.h"

typedef struct pool_state {
    size_t n;
    atomic_size_t next;
    atomic_bool failed;
    pool_fn fn;
    void *arg;
    pthread_mutex_t lock; /* guards rc and err */
    int rc;
    cairn_err err;
} pool_state;

static void *pool_worker(void *p)
{
    pool_state *s = p;
    while (!atomic_load(&s->failed)) {
        size_t i = atomic_fetch_add(&s->next, 1);
        if (i >= s->n)
            break;
        cairn_err e;
        err_clear(&e);
        int rc = s->fn(s->arg, i, &e);
        if (!rc)
            continue;
        pthread_mutex_lock(&s->lock);
        if (!s->rc) {
            s->rc = rc;
            s->err = e;
            if (!s->err.code)
                s->err.code = rc;
        }
        atomic_store(&s->failed, true);
        pthread_mutex_unlock(&s->lock);
    }
    return NULL;
}

int pool_run(size_t n, unsigned threads, pool_fn fn, void *arg, cairn_err *e)
{
    if (n == 0)
        return 0;
    pool_state s = {.n = n, .fn = fn, .arg = arg};
    atomic_init(&s.next, 0);
    atomic_init(&s.failed, false);
    pthread_mutex_init(&s.lock, NULL);
    size_t nt = threads ? threads : 1;
    if (nt > POOL_MAX_THREADS)
        nt = POOL_MAX_THREADS;
    if (nt > n)
        nt = n;
    pthread_t tid[POOL_MAX_THREADS];
    size_t started = 0;
    /* One item list needs no second thread: the caller's own does the work. */
    if (nt > 1)
        for (; started < nt; started++)
            if (pthread_create(&tid[started], NULL, pool_worker, &s) != 0)
                break;
    if (started == 0)
        pool_worker(&s);
    for (size_t k = 0; k < started; k++)
        pthread_join(tid[k], NULL);
    pthread_mutex_destroy(&s.lock);
    CAIRN_ASSERT(s.rc || atomic_load(&s.next) >= n);
    if (s.rc && e)
        *e = s.err;
    return s.rc;
}
