/*
 * restore_metrics - the figures `cairn restore --metrics-file` writes: the plan's
 * when the restore completed, each node's from its last job, the requests of every
 * phase (cli/metrics.h).
 */
#ifndef CAIRN_RESTORE_METRICS_H
#define CAIRN_RESTORE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "command/restore_plan.h"
#include "fleet/jobrun.h"
#include "store/store.h"

/* Adds what the jobs of a phase asked of the repository to q. */
void restore_metrics_requests(store_counts *q, const jobrun_node *jobs, size_t n);

/* Writes the file at path: earlier holds the requests of the phases before the current
 * jobs; plan is NULL when the restore failed. A failure to write is a warning. */
void restore_metrics_write(const char *path, const char *cluster, fleet *f, const jobrun_node *jobs,
                           size_t n, const store_counts *earlier, const restore_plan *plan,
                           uint64_t duration_ms);

#endif
