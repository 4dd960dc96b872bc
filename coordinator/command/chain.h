/*
 * chain - the backups a point in time restores from.
 *
 * An increment (cairn backup --incremental) records only the SSTables flushed since the
 * backup before it (previous_tag); it restores as its base, a full backup, plus every
 * increment from the base up to itself; what point in time a backup holds is
 * catalog_point_ms's.
 */
#ifndef CAIRN_CHAIN_H
#define CAIRN_CHAIN_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "repo.pb-c.h"
#include "repo/repo.h"

/* Most backups one chain may hold: at one increment a minute, two months. */
#define CHAIN_MAX 100000

/* Parses TIME of `restore --at`: RFC 3339 ("2026-12-07T18:00:00Z", an offset or
 * fractional seconds allowed; a space for the T) or a time before now_ms ("-15m",
 * "-2h", "-1d", "-90s"). CAIRN_EINVAL naming the forms when it is neither. */
int chain_parse_time(const char *s, uint64_t now_ms, uint64_t *out, cairn_err *e);

/* The tag of the backup of cluster whose point is the latest at or before at_ms
 * (CAIRN_ENOENT saying what the oldest point is when there is none). */
int chain_at(repo *r, const char *cluster, uint64_t at_ms, char *tag, size_t cap, cairn_err *e);

/* The chain that ends with last (owned by the caller, who keeps it): *out[0] is the
 * base, (*out)[*n - 1] last; the others are read (free with chain_free, which leaves
 * last). A full backup is a chain of one. A missing link, a loop or an increment of
 * another base is CAIRN_ECORRUPT naming the backup. */
int chain_load(repo *r, const char *cluster, Cairn__Repo__ClusterManifest *last,
               Cairn__Repo__ClusterManifest ***out, size_t *n, cairn_err *e);
void chain_free(Cairn__Repo__ClusterManifest **chain, size_t n);

#endif
