/*
 * catalog - the complete backups of a cluster in a repository, as listed by their
 * cluster manifests.
 */
#ifndef CAIRN_CATALOG_H
#define CAIRN_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "coord_config.h"
#include "repo/repo.h"
#include "repo.pb-c.h"

/* The backup's point in time, ms since the epoch: when its data was taken, the latest
 * snapshot (or, for an increment, flush) time of its nodes. */
uint64_t catalog_point_ms(const Cairn__Repo__ClusterManifest *m);

/* The tag of the newest complete backup of cluster; CAIRN_ENOENT when there is none. */
int catalog_latest(repo *r, const char *cluster, char *tag, size_t cap, cairn_err *e);

/* The tag that `tag` names: the newest backup's for `latest`, else tag itself once it
 * is a valid name (CAIRN_EINVAL when not). */
int catalog_resolve(repo *r, const char *cluster, const char *tag, char *out, size_t cap,
                    cairn_err *e);

/* Calls cb for every complete backup of cluster, newest first (the order of `cairn
 * list`); m is valid during the call. Holds the cluster manifests meanwhile, as list
 * does: one small message per backup. */
typedef int (*catalog_cb)(void *ctx, const char *tag, const Cairn__Repo__ClusterManifest *m,
                          cairn_err *e);
int catalog_each(repo *r, const char *cluster, catalog_cb cb, void *ctx, cairn_err *e);

/* The repository of cfg for the commands that read it (list, show): the configuration
 * must name one. */
int catalog_open_repo(const coord_config *cfg, repo **r, cairn_err *e);

/* The options of list (files and tag NULL) and show; returns 0, -1 after --help, or
 * CMD_USAGE after saying what is wrong. */
int catalog_args(const char *cmd, int argc, char **argv, bool *json, bool *files, const char **tag);

/* `cairn info`: the repository's identity, size and the retention policy. */

#endif
