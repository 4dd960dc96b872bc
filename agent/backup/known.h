/*
 * known - the blobs a backup may take as present in the repository without asking:
 * those of this node's manifest in the cluster's last complete backup (the parent) and,
 * for a full backup after increments, in the increments since that base.
 *
 * Why that is safe: a complete backup's blobs and packs are deleted only by a purge,
 * which takes the repository's exclusive lease; the backup that reads its parent
 * holds a shared lease from before the coordinator chose the parent until its own
 * cluster manifest is written, so no purge can run in between. A blob another node or
 * an older backup stored, but the parent does not name, is simply written again, with
 * the same bytes. Nothing is trusted across backups, so nothing can go stale: the
 * parent's manifest, read once per backup (from the agent's copy when that hashes to
 * the parent's recorded SHA-256), is the index.
 */
#ifndef CAIRN_KNOWN_H
#define CAIRN_KNOWN_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "repo/repo.h"

typedef struct known known;

/* Reads the node manifest at key, which must have the stored SHA-256 sha256, and
 * indexes the place of every blob it names. copy (may be NULL) names a local file that
 * may hold the same bytes (mancopy.h): it is read instead when it does, and
 * *from_copy says so. A manifest that cannot be read fails; the caller goes on
 * without (known_empty). */
int known_load(known **out, repo *r, const char *key, const char *sha256, const char *copy,
               bool *from_copy, cairn_err *e);

/* Adds the blobs that another manifest of a complete backup names (an increment since
 * the parent), read as known_load reads. On failure k may hold part of them, which is
 * still right; the caller goes on with it. */
int known_add(known *k, repo *r, const char *key, const char *sha256, const char *copy,
              bool *from_copy, cairn_err *e);

/* An index that knows nothing: every blob is new. */
int known_empty(known **out, cairn_err *e);

/* Whether the parent names blob id (64 hex); then ref (may be NULL) receives its
 * place, ref->blob being id and ref->pack pointing into k. Thread-safe. */
bool known_find(const known *k, const char *id, repo_ref *ref);

/* Blobs indexed. */
size_t known_count(const known *k);

void known_free(known *k);

#endif
