/*
 * backup_parent - the cluster's last complete backup, whose node manifests the agents
 * read as the index of the blobs the repository holds (agent/backup/known.h says why
 * that is safe). Chosen under the backup's lease, by the store's timestamp of each
 * cluster manifest: one listing and one GET, however many backups the cluster has.
 * A backup `cairn verify --repair` marked damaged is never a parent: blobs it names
 * are missing or were deleted as corrupt.
 */
#ifndef CAIRN_BACKUP_PARENT_H
#define CAIRN_BACKUP_PARENT_H

#include <stdbool.h>

#include "base/err.h"
#include "agent.pb-c.h"
#include "repo/repo.h"
#include "repo.pb-c.h"

/* Most increments' manifests a full backup after a chain names to each agent. */
#define BACKUP_PARENT_LINKS_MAX 4096

typedef struct backup_parent backup_parent;

/* *out is NULL when the cluster has no complete backup. The same listing tells
 * whether a complete backup tagged tag exists (*tag_taken), so a new backup's tag
 * costs no request of its own. An increment's parent is the newest backup, full or
 * not (the previous link of its chain); with full, a newest increment gives way to
 * its base, since its node manifests name its new SSTables only, and the chain is read
 * (one GET per link) for backup_parent_links. */
int backup_parent_find(repo *r, const char *cluster, const char *tag, bool full,
                       backup_parent **out, bool *tag_taken, cairn_err *e);

/* The parent's tag, the full backup its chain starts from (itself when it is one),
 * and the blob of its schema dump. */
const char *backup_parent_tag(const backup_parent *p);
const char *backup_parent_base(const backup_parent *p);
const char *backup_parent_schema(const backup_parent *p);

/* For a full backup after increments: host_id's manifests in the increments since the
 * parent (their base), newest first, at most BACKUP_PARENT_LINKS_MAX, none of a backup
 * marked damaged. What they name is as safely in the repository as what the parent
 * names (known.h). *out (NULL when none) belongs to p. */
int backup_parent_links(backup_parent *p, const char *host_id, Cairn__Rpc__ManifestRef ***out,
                        size_t *n, cairn_err *e);

/* The parent's node of host_id; NULL when it has none (p may be NULL). */
const Cairn__Repo__NodeRef *backup_parent_node(const backup_parent *p, const char *host_id);

void backup_parent_free(backup_parent *p);

#endif
