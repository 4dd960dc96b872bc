#include "store/s3/s3budget.h"

#include <pthread.h>
#include <stdlib.h>

#include "base/debug.h"

struct s3budget {
    pthread_mutex_t lock; /* guards used */
    size_t bytes;
    size_t used;
};

int s3budget_new(s3budget **out, size_t bytes, cairn_err *e)
{
    *out = NULL;
    s3budget *b = calloc(1, sizeof(*b));
    if (!b)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    pthread_mutex_init(&b->lock, NULL);
    b->bytes = bytes;
    *out = b;
    return 0;
}

void s3budget_free(s3budget *b)
{
    if (!b)
        return;
    /* A writer still charging would now point at freed memory. */
    CAIRN_ASSERT(b->used == 0);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

bool s3budget_charge(s3budget *b, size_t n, bool always)
{
    pthread_mutex_lock(&b->lock);
    bool ok = always || (b->used <= b->bytes && n <= b->bytes - b->used);
    if (ok)
        b->used += n;
    pthread_mutex_unlock(&b->lock);
    return ok;
}

void s3budget_release(s3budget *b, size_t n)
{
    pthread_mutex_lock(&b->lock);
    CAIRN_ASSERT(n <= b->used);
    b->used -= n;
    pthread_mutex_unlock(&b->lock);
}

size_t s3budget_used(s3budget *b)
{
    pthread_mutex_lock(&b->lock);
    size_t n = b->used;
    pthread_mutex_unlock(&b->lock);
    return n;
}
