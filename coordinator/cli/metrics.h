/*
 * metrics - what a run of backup, restore, purge or verify did, as a Prometheus text
 * file (exposition format 0.0.4) for node_exporter's textfile collector.
 *
 * A command collects samples while it runs and writes them once at its end. Every
 * figure describes the last run and is replaced by the next one, so every family is
 * a gauge: a counter would have to survive across runs, which a file rewritten by
 * each run cannot promise. The file is written next to its final name and renamed
 * over it, so the collector never reads half a file.
 */
#ifndef CAIRN_METRICS_H
#define CAIRN_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "store/store.h"

typedef struct metrics metrics;

/* Every sample gets the label cluster="<cluster>". */
int metrics_new(metrics **out, const char *cluster, cairn_err *e);
void metrics_free(metrics *m);

/*
 * Adds one sample of family name (help describes it; the first call for a name sets
 * it) with the label pairs that follow, NULL-terminated: ("node", "10.0.0.1", NULL).
 * Families are written in the order they first appear, each with all its samples.
 * Running out of memory is kept and reported by metrics_write.
 */
void metrics_add(metrics *m, const char *name, const char *help, double value, ...)
    __attribute__((sentinel));

/* The samples of the run's outcome, for command cmd ("backup"): cairn_<cmd>_success,
 * _last_run_timestamp_seconds, _duration_seconds and _last_success_timestamp_seconds,
 * which a failed run carries over from the file at path when it has one. */
void metrics_outcome(metrics *m, const char *cmd, const char *path, bool ok, uint64_t duration_ms);

/* cairn_<cmd>_requests{kind=...}: what the run asked of the repository. */
void metrics_requests(metrics *m, const char *cmd, const store_counts *q);

/* Writes the file atomically: path.tmp.<pid> in the same directory, fsync, rename. */
int metrics_write(const metrics *m, const char *path, cairn_err *e);

/* Writes the file when path is set; a failure is printed as a warning under cmd's name
 * and does not change the command's outcome, which is about the data, not the file. */
void metrics_write_or_warn(const metrics *m, const char *cmd, const char *path);

/* The value of the first sample of family name in the file at path: 0, CAIRN_ENOENT
 * when there is no such file or sample, CAIRN_EIO when it cannot be read. */
int metrics_read_value(const char *path, const char *name, double *out, cairn_err *e);

#endif
