/*
 * s3budget - the memory the part buffers of a process's S3 uploads share.
 *
 * Every object being written holds one part buffer whatever the budget, so no
 * upload ever waits for another; further buffers (parts sent while the next one
 * fills) are taken only while they fit. The program makes one budget (inside its
 * store_options) and every store it opens draws on it, so several large uploads at
 * once share it. Private to the s3 driver.
 */
#ifndef CAIRN_S3BUDGET_H
#define CAIRN_S3BUDGET_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

typedef struct s3budget s3budget;

/* A budget of `bytes` for the buffers beyond each object's first. */
int s3budget_new(s3budget **out, size_t bytes, cairn_err *e);

/* Frees b; everything charged must have been released. */
void s3budget_free(s3budget *b);

/* Counts n bytes against b, unconditionally when always is set, otherwise only
 * when they fit; returns whether they were counted. Thread-safe. */
bool s3budget_charge(s3budget *b, size_t n, bool always);

/* Gives back n bytes charged before. Thread-safe. */
void s3budget_release(s3budget *b, size_t n);

/* The bytes charged now. */
size_t s3budget_used(s3budget *b);

#endif
