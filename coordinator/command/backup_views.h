/*
 * backup_views - materialized views and secondary indexes in a backup. They are
 * snapshotted with their keyspace but not uploaded: ScyllaDB builds them from their
 * base tables and refuses their SSTables in a load, so the cluster manifest records
 * them (ClusterManifest.views, from the schema step's answer) instead.
 */
#ifndef CAIRN_BACKUP_VIEWS_H
#define CAIRN_BACKUP_VIEWS_H

#include <stddef.h>

#include "agent.pb-c.h"

/* Removes from tables[0..*n) those res names as views or index views, keeping the
 * others in order; returns how many went. */
size_t backup_views_leave_out(const Cairn__Rpc__SchemaResult *res, Cairn__Rpc__Table **tables,
                              size_t *n);

#endif
