/*
 * backup_metrics - the figures `cairn backup --metrics-file` writes: the cluster's
 * from the cluster manifest, each node's from its upload job (cli/metrics.h).
 */
#ifndef CAIRN_BACKUP_METRICS_H
#define CAIRN_BACKUP_METRICS_H

#include <stddef.h>

#include "cli/metrics.h"
#include "fleet/jobrun.h"
#include "repo.pb-c.h"

/* What a complete backup stored; jobs[i].agent indexes f. */
void backup_metrics_done(metrics *mx, fleet *f, const jobrun_node *jobs, size_t n, size_t n_tables,
                         const Cairn__Repo__ClusterManifest *m, const store_counts *q);

/* The outcome of the run, complete or not, and the file written (a failure to write it
 * is a warning). */
void backup_metrics_write(metrics *mx, const char *path, size_t failed_nodes, bool ok,
                          uint64_t duration_ms);

#endif
