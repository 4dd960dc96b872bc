/*
 * progress - what a long operation is doing, as it does it.
 *
 * On a terminal: one line per busy node plus a total (bytes, speed, ETA), redrawn in
 * place once a second. Elsewhere: a log line every few seconds. Silent in --json mode,
 * where only the final summary is printed.
 *
 * Honest figures: speed counts only the bytes that moved (bytes_done less
 * bytes_skipped: blobs the repository had, files already staged) over the
 * last PROGRESS_WINDOW_MS, and appears only once PROGRESS_MIN_MS of samples show bytes
 * moving; the ETA appears only with a speed. The arithmetic is in pure functions
 * (progress_rate_*, progress_total_line, progress_node_line) that take the clock as
 * an argument, so that it can be tested without waiting.
 */
#ifndef CAIRN_PROGRESS_H
#define CAIRN_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* The speed is that of the last this many ms, known once the samples span the least. */
#define PROGRESS_WINDOW_MS 15000
#define PROGRESS_MIN_MS    3000

typedef struct progress progress;
typedef struct progress_rate progress_rate;

typedef enum { PROGRESS_WAITING, PROGRESS_RUNNING, PROGRESS_DONE, PROGRESS_FAILED } progress_state;

/* One node's figures, as its job reports them. */
typedef struct progress_figures {
    progress_state st;
    uint64_t bytes_done, bytes_total, bytes_skipped, files_done, files_total;
} progress_figures;

/* The sum over the nodes, for the total line. */
typedef struct progress_sum {
    size_t nodes, done, failed;
    uint64_t bytes_done, bytes_total, bytes_skipped;
} progress_sum;

/* labels[i] names node i; they must outlive p. */
int progress_start(progress **out, const char *verb, size_t n, const char *const *labels,
                   bool quiet, cairn_err *e);

void progress_set(progress *p, size_t i, const progress_figures *fig);

/* Stops the display after a last redraw, and frees p. */
void progress_stop(progress *p);

/* A sliding window of (time, bytes moved) samples. */
int progress_rate_new(progress_rate **out, cairn_err *e);
void progress_rate_free(progress_rate *r);
/* moved counts up; when it falls (a node's job started afresh) the window restarts. */
void progress_rate_add(progress_rate *r, uint64_t now_ms, uint64_t moved);
/* Bytes per second over the window, or false while it is not known yet. */
bool progress_rate_get(const progress_rate *r, uint64_t now_ms, uint64_t *per_s);

void progress_sum_add(progress_sum *s, const progress_figures *fig);

/* The total line. While running: nodes done (and failed), bytes, bytes skipped, speed
 * and ETA once known. final: the outcome, the average speed over elapsed_ms. */
void progress_total_line(const char *verb, const progress_sum *s, const progress_rate *r,
                         uint64_t now_ms, bool final, uint64_t elapsed_ms, char *buf, size_t cap);

/* A node's line on a terminal, without the escape codes. */
void progress_node_line(const char *label, const progress_figures *fig, char *buf, size_t cap);

#endif
