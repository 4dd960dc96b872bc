/*
 * ratelimit - a token bucket that several upload threads share, so that one
 * limit (bytes per second) caps what a node sends to the repository in total.
 *
 * A NULL limiter is accepted everywhere and means unlimited.
 */
#ifndef CAIRN_RATELIMIT_H
#define CAIRN_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef struct ratelimit ratelimit;

/* bytes_per_sec 0 means unlimited (*out is then NULL). */
int ratelimit_new(ratelimit **out, uint64_t bytes_per_sec, cairn_err *e);
/* Accounts for n bytes, sleeping as long as the rate requires. */
void ratelimit_take(ratelimit *r, size_t n);
void ratelimit_free(ratelimit *r);

#endif
