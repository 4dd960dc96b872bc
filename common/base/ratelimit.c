#include "base/ratelimit.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

/* The bucket holds at most this share of a second's worth of bytes, so a pause
 * in uploading does not buy a long burst afterwards. */
#define BURST_DIV 10

struct ratelimit {
    pthread_mutex_t lock;
    double rate;   /* bytes per second */
    double burst;  /* bucket capacity */
    double tokens; /* may go negative: that is the debt the takers sleep off */
    struct timespec last;
};

static double elapsed_s(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

int ratelimit_new(ratelimit **out, uint64_t bytes_per_sec, cairn_err *e)
{
    *out = NULL;
    if (bytes_per_sec == 0)
        return 0;
    ratelimit *r = calloc(1, sizeof(*r));
    if (!r)
        return err_set(e, CAIRN_ENOMEM, "out of memory creating the rate limiter");
    pthread_mutex_init(&r->lock, NULL);
    r->rate = (double)bytes_per_sec;
    r->burst = r->rate / BURST_DIV;
    if (r->burst < 1)
        r->burst = 1;
    r->tokens = r->burst;
    clock_gettime(CLOCK_MONOTONIC, &r->last);
    *out = r;
    return 0;
}

void ratelimit_take(ratelimit *r, size_t n)
{
    if (!r || n == 0)
        return;
    struct timespec now;
    pthread_mutex_lock(&r->lock);
    clock_gettime(CLOCK_MONOTONIC, &now);
    r->tokens += elapsed_s(&r->last, &now) * r->rate;
    if (r->tokens > r->burst)
        r->tokens = r->burst;
    r->last = now;
    /* Taking first and sleeping after queues concurrent takers behind each other:
     * each one's debt includes everything taken before it. */
    r->tokens -= (double)n;
    double wait = r->tokens < 0 ? -r->tokens / r->rate : 0;
    pthread_mutex_unlock(&r->lock);
    if (wait > 0) {
        struct timespec ts = {.tv_sec = (time_t)wait,
                              .tv_nsec = (long)((wait - (double)(time_t)wait) * 1e9)};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
    }
}

void ratelimit_free(ratelimit *r)
{
    if (!r)
        return;
    pthread_mutex_destroy(&r->lock);
    free(r);
}
