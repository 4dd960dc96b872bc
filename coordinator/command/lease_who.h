/*
 * lease_who - who holds the live leases on a repository, read from their owner lines
 * (docs/repository-format.md, "Leases"):
 *   cairn backup <tag> on <host> pid <pid>              a backup of <tag> is running
 *   cairn restore <cluster>/<tag> on <host> pid <pid>   a restore is reading that backup
 */
#ifndef CAIRN_LEASE_WHO_H
#define CAIRN_LEASE_WHO_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "repo/repo.h"

#define LEASE_WHO_BACKUP  "cairn backup "
#define LEASE_WHO_RESTORE "cairn restore "

/* Whether a live restore lease names cluster/tag; owner (cap bytes) receives its owner
 * line when one does. */
int lease_who_restore(repo *r, const char *cluster, const char *tag, bool *found, char *owner,
                      size_t cap, cairn_err *e);

/* Whether a live backup lease names tag (of any cluster: the owner does not say which,
 * so this errs on the side of "running"). */
int lease_who_backup(repo *r, const char *tag, bool *found, char *owner, size_t cap, cairn_err *e);

#endif
