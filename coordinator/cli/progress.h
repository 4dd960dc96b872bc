/*
 * progress - what a long operation is doing, as it does it.
 *
 * On a terminal: one line per busy node plus a total (bytes, rate, ETA), redrawn in
 * place once a second. Elsewhere: a log line every few seconds. Silent in --json mode,
 * where only the final summary is printed.
 */
#ifndef CAIRN_PROGRESS_H
#define CAIRN_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef struct progress progress;

typedef enum { PROGRESS_WAITING, PROGRESS_RUNNING, PROGRESS_DONE, PROGRESS_FAILED } progress_state;

/* labels[i] names node i; they must outlive p. */
int progress_start(progress **out, const char *verb, size_t n, const char *const *labels,
                   bool quiet, cairn_err *e);

void progress_set(progress *p, size_t i, progress_state st, uint64_t bytes_done,
                  uint64_t bytes_total, uint64_t files_done, uint64_t files_total);

/* Stops the display after a last redraw, and frees p. */
void progress_stop(progress *p);

#endif
