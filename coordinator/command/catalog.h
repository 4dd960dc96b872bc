/*
 * catalog - the complete backups of a cluster in a repository, as listed by their
 * cluster manifests.
 */
#ifndef CAIRN_CATALOG_H
#define CAIRN_CATALOG_H

#include <stddef.h>

#include "base/err.h"
#include "repo/repo.h"

/* The tag of the newest complete backup of cluster; CAIRN_ENOENT when there is none. */
int catalog_latest(repo *r, const char *cluster, char *tag, size_t cap, cairn_err *e);

/* The tag that `tag` names: the newest backup's for `latest`, else tag itself once it
 * is a valid name (CAIRN_EINVAL when not). */
int catalog_resolve(repo *r, const char *cluster, const char *tag, char *out, size_t cap,
                    cairn_err *e);

#endif
