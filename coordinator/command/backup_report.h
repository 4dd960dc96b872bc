/*
 * backup_report - what `cairn backup` prints when it ends: the summary of a complete
 * backup, or what an interrupted one kept.
 */
#ifndef CAIRN_BACKUP_REPORT_H
#define CAIRN_BACKUP_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fleet/jobrun.h"
#include "repo.pb-c.h"
#include "repo/repo.h"

/* The requests of the whole backup: the coordinator's (r) and each node's upload job. */
/* Every request the backup sent: the coordinator's through r, the upload jobs', and
 * agents (the other answers that carried their requests: repository checks, the
 * schema dump). */
store_counts backup_report_requests(repo *r, const jobrun_node *jobs, size_t n,
                                    const store_counts *agents);

/* The summary of a complete backup, on standard output: one JSON document when json. */
void backup_report_done(const char *tag, bool json, size_t nodes, size_t tables,
                        const Cairn__Repo__ClusterManifest *m, const store_counts *q,
                        uint64_t duration);

/* On standard error: the nodes that stopped, what they uploaded (kept for the next
 * backup), and whether the snapshots were cleared. */
void backup_report_interrupted(const jobrun_node *jobs, size_t n, bool keep_snapshot);

#endif
