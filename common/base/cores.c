#include "base/cores.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/debug.h"

struct cores {
    pthread_mutex_t lock;
    unsigned total, busy;
};

static unsigned usable(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        return (unsigned)CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

int cores_new(cores **out, unsigned total, cairn_err *e)
{
    *out = NULL;
    cores *c = calloc(1, sizeof(*c));
    if (!c)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    pthread_mutex_init(&c->lock, NULL);
    unsigned n = usable();
    c->total = total && total < n ? total : n;
    *out = c;
    return 0;
}

void cores_free(cores *c)
{
    if (!c)
        return;
    CAIRN_ASSERT(c->busy == 0);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

void cores_enter(cores *c)
{
    pthread_mutex_lock(&c->lock);
    c->busy++;
    pthread_mutex_unlock(&c->lock);
}

void cores_leave(cores *c)
{
    cores_release(c, 1);
}

unsigned cores_claim(cores *c, unsigned max)
{
    pthread_mutex_lock(&c->lock);
    unsigned idle = c->busy < c->total ? c->total - c->busy : 0;
    unsigned n = idle < max ? idle : max;
    c->busy += n;
    pthread_mutex_unlock(&c->lock);
    return n;
}

void cores_release(cores *c, unsigned n)
{
    pthread_mutex_lock(&c->lock);
    CAIRN_ASSERT(c->busy >= n);
    c->busy -= n;
    pthread_mutex_unlock(&c->lock);
}
