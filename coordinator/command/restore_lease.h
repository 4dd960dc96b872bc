/*
 * restore_lease - the shared lease a restore holds on the repository while it reads a
 * backup, so that `cairn delete` (and expire) refuse that backup and purge waits.
 *
 * The lease is an ordinary shared lease (repo.h) whose owner reads
 *   cairn restore <cluster>/<tag> on <host> pid <pid>
 * which is how others find the tag it protects (lease_who.h).
 */
#ifndef CAIRN_RESTORE_LEASE_H
#define CAIRN_RESTORE_LEASE_H

#include "base/err.h"
#include "repo/repo.h"

/* Takes and keeps renewing the lease of this process's restore of cluster/tag on r
 * (one restore per process); r must stay open until restore_lease_drop. */
int restore_lease_take(repo *r, const char *cluster, const char *tag, cairn_err *e);
/* Releases it; a no-op when none is held. */
void restore_lease_drop(void);

#endif
