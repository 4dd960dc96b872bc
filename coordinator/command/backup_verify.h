/*
 * backup_verify - the checks that make a backup reported complete a backup that can be
 * restored: before anything is uploaded, every agent sees the coordinator's repository;
 * before the cluster manifest is written, every node manifest it will name is in that
 * repository as its agent reported it (one listing).
 */
#ifndef CAIRN_BACKUP_VERIFY_H
#define CAIRN_BACKUP_VERIFY_H

#include "fleet/fleet.h"
#include "fleet/jobrun.h"
#include "repo/repo.h"

/* Every agent sees repository r (the id in its cairn.repo); each node that does not
 * is printed, and the error names the first. */
int backup_check_repository(fleet *f, repo *r, unsigned parallel, store_counts *cost, cairn_err *e);

/* Every job reported the node manifest key of its host in backup tag of cluster, with a
 * SHA-256, and one listing of the backup's nodes/ in r shows each at the size its agent
 * reported; the error names the node. The content is not read back: its SHA-256 goes
 * into the cluster manifest, and every reader checks it. */
int backup_check_node_manifests(fleet *f, repo *r, const char *cluster, const char *tag,
                                const jobrun_node *jobs, size_t n, cairn_err *e);

#endif
