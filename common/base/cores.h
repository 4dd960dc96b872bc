/*
 * cores - the processor cores a process may lend to work beyond its own threads.
 *
 * Threads that each work on one item (an agent's file uploads) count as busy while
 * they work on it; an item that can use more (a large file that zstd compresses on
 * worker threads) claims cores that are idle, never more, and gives them back when it
 * is done. So where the items themselves take every core, nothing more starts; a large
 * file uploaded alone uses the idle ones. Thread-safe.
 */
#ifndef CAIRN_CORES_H
#define CAIRN_CORES_H

#include "base/err.h"

typedef struct cores cores;

/* At most total cores, and at most those this process may run on (its CPU
 * affinity); total 0: all of those. */
int cores_new(cores **out, unsigned total, cairn_err *e);
void cores_free(cores *c);

/* A thread starts, or ends, work on an item. */
void cores_enter(cores *c);
void cores_leave(cores *c);

/* Marks up to max idle cores busy and returns how many; 0 when none is idle. */
unsigned cores_claim(cores *c, unsigned max);
/* Gives back n cores claimed before. */
void cores_release(cores *c, unsigned n);

#endif
