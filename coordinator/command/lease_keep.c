#include "command/lease_keep.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "base/log.h"

struct lease_keep {
    repo_lease *lease;
    unsigned ttl_s;
    bool stop, renewing;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
};

static void *keep_main(void *p)
{
    lease_keep *k = p;
    pthread_mutex_lock(&k->lock);
    while (!k->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += k->ttl_s / 3;
        if (pthread_cond_timedwait(&k->cond, &k->lock, &ts) == 0 || k->stop)
            continue;
        cairn_err e;
        if (repo_lease_renew(k->lease, &e) != 0)
            log_warn("could not renew the repository lease: %s", e.msg);
    }
    pthread_mutex_unlock(&k->lock);
    return NULL;
}

int lease_keep_start(lease_keep **out, repo *r, repo_lease_kind kind, const char *owner,
                     unsigned ttl_s, const char *what, cairn_err *e)
{
    return lease_keep_start_seeing(out, r, kind, owner, ttl_s, what, NULL, NULL, e);
}

int lease_keep_start_seeing(lease_keep **out, repo *r, repo_lease_kind kind, const char *owner,
                            unsigned ttl_s, const char *what, repo_lease_cb others, void *ctx,
                            cairn_err *e)
{
    lease_keep *k = calloc(1, sizeof(*k));
    if (!k)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    int rc = repo_lease_acquire_seeing(r, kind, owner, ttl_s, others, ctx, &k->lease, e);
    if (rc) {
        free(k);
        return rc;
    }
    k->ttl_s = ttl_s;
    pthread_mutex_init(&k->lock, NULL);
    pthread_cond_init(&k->cond, NULL);
    k->renewing = pthread_create(&k->thread, NULL, keep_main, k) == 0;
    if (!k->renewing)
        log_warn("cannot start the lease renewal: a %s longer than %u s may lose its lease", what,
                 ttl_s);
    *out = k;
    return 0;
}

void lease_keep_stop(lease_keep *k)
{
    if (!k)
        return;
    pthread_mutex_lock(&k->lock);
    k->stop = true;
    pthread_cond_signal(&k->cond);
    pthread_mutex_unlock(&k->lock);
    if (k->renewing)
        pthread_join(k->thread, NULL);
    repo_lease_release(k->lease);
    pthread_cond_destroy(&k->cond);
    pthread_mutex_destroy(&k->lock);
    free(k);
}
