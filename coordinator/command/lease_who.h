/*
 * lease_who - who holds the live leases on a repository, read from their owner lines
 * (docs/repository-format.md, "Leases"):
 *   cairn backup cluster=<c> tag=<t> host=.. pid=.. start_ms=..   a backup is running
 *                                               (backup_guard.h writes and parses it)
 *   cairn restore <cluster>/<tag> on <host> pid <pid>   a restore is reading that backup
 */
#ifndef CAIRN_LEASE_WHO_H
#define CAIRN_LEASE_WHO_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "repo/repo.h"

#define LEASE_WHO_RESTORE "cairn restore "

/* Whether a live restore lease names cluster/tag; owner (cap bytes) receives its owner
 * line when one does. */
int lease_who_restore(repo *r, const char *cluster, const char *tag, bool *found, char *owner,
                      size_t cap, cairn_err *e);

/* Whether a live backup lease names cluster and tag; owner as above. */
int lease_who_backup(repo *r, const char *cluster, const char *tag, bool *found, char *owner,
                     size_t cap, cairn_err *e);

#endif
