/*
 * hashcache - remembers the blob id of every file the agent hashed, so a file is
 * hashed once in its life.
 *
 * Snapshot files are hard links to immutable SSTables: the same inode shows up in
 * every snapshot, so (device, inode, size, mtime in ns) identifies the content.
 * The cache lives in <state_dir>/hashcache as append-only fixed-size records, each
 * with its own checksum; a record torn by a crash is dropped at the next open. It
 * is an optimisation only: losing it costs re-hashing, never a wrong backup, since
 * uploads recompute the hash. Thread-safe.
 */
#ifndef CAIRN_HASHCACHE_H
#define CAIRN_HASHCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "base/err.h"

#define HASHCACHE_FILE "hashcache"

typedef struct hashcache hashcache;

/* Loads <state_dir>/hashcache (creating state_dir and the file when absent). */
int hashcache_open(hashcache **out, const char *state_dir, cairn_err *e);

/* True on a hit: id receives the 64-hex blob id, *has_crc whether a Data.db CRC-32
 * was stored with it (then in *crc). crc and has_crc may be NULL. */
bool hashcache_lookup(hashcache *h, const struct stat *st, char id[65], uint32_t *crc,
                      bool *has_crc);

/* Records id (64 hex) and optionally a CRC-32 for the file st describes. */
int hashcache_store(hashcache *h, const struct stat *st, const char *id,
                    const uint32_t *crc_or_null, cairn_err *e);

/* Forgets every entry neither looked up nor stored since open (files that no
 * longer exist); the file is rewritten compactly at close. Returns how many went. */
size_t hashcache_prune(hashcache *h);

/* Number of entries in memory. */
size_t hashcache_count(hashcache *h);

/* Rewrites the file compactly when it is mostly stale, closes and frees h (also
 * on failure). */
int hashcache_close(hashcache *h, cairn_err *e);

#endif
