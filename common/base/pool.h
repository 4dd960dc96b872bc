/*
 * pool - runs n independent items of work on a bounded number of threads.
 *
 * The one worker loop of the project: the agent's file uploads, the coordinator's
 * blob checks and its fan-out to agents all hand their items to pool_run. Items are
 * taken in index order by whichever thread is free; the first failure stops the
 * handing out of further items (those already running finish) and is what pool_run
 * reports. Work that must go on past a failure (one result per agent) records its
 * own outcome and returns 0.
 */
#ifndef CAIRN_POOL_H
#define CAIRN_POOL_H

#include <stddef.h>

#include "base/err.h"

/* Does item i; returns 0 or fills e. Called from several threads at once. */
typedef int (*pool_fn)(void *arg, size_t i, cairn_err *e);

/* The most threads one pool_run starts. */
#define POOL_MAX_THREADS 256

/*
 * Runs fn(arg, i, ...) for every i in [0, n) on up to `threads` threads (at least one,
 * at most POOL_MAX_THREADS and n). When no thread can be started the items run on the
 * caller's thread, in order. Returns 0, or the first failure with its message in e.
 */
int pool_run(size_t n, unsigned threads, pool_fn fn, void *arg, cairn_err *e);

#endif
