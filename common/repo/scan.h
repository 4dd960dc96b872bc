/*
 * scan - streaming walks over a whole repository, for purge and verify: the complete
 * backups of every cluster, the incomplete ones' node manifests, every blob and every
 * pack, each from one listing (1 request per 1,000 keys on S3), holding one key at a
 * time.
 */
#ifndef CAIRN_SCAN_H
#define CAIRN_SCAN_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "repo/repo.h"

/* One backup under backups/<cluster>/<tag>/. complete: its cluster manifest exists
 * (key is that manifest's). Otherwise key is one of its node manifests, with the
 * store's time of its put (-1 unknown) and its size: a backup that never finished,
 * or one still running. */
typedef struct scan_backup {
    const char *cluster;
    const char *tag;
    const char *key;
    bool complete;
    uint64_t size;
    int64_t mtime_ms;
} scan_backup;

typedef int (*scan_backup_cb)(void *ctx, const scan_backup *b, cairn_err *e);

/* Every backup of cluster (NULL: of every cluster), in key order. Other objects
 * under backups/ are not reported. */
int scan_backups(repo *r, const char *cluster, scan_backup_cb cb, void *ctx, cairn_err *e);

/* One blob or pack: its id, stored size and the store's time of its put (-1 unknown). */
typedef int (*scan_blob_cb)(void *ctx, const char *id, uint64_t size, int64_t mtime_ms,
                            cairn_err *e);

/* Every blob, in id order, from one listing of blobs/. Objects there that are not
 * blobs (wrong shard, not an id) are left out, and so never deleted. */
int scan_blobs(repo *r, scan_blob_cb cb, void *ctx, cairn_err *e);
/* Every pack, the same way, from one listing of packs/. */
int scan_packs(repo *r, scan_blob_cb cb, void *ctx, cairn_err *e);

/* Batches keys for store_delete_many (1,000 a request on S3). */
typedef struct scan_deleter {
    repo *r;
    char **keys;
    size_t n;
} scan_deleter;

/* Queues key (copied); sends a batch when 1,000 are queued. */
int scan_delete_add(scan_deleter *d, const char *key, cairn_err *e);
/* Sends what is queued. */
int scan_delete_flush(scan_deleter *d, cairn_err *e);
/* Frees what is queued, sending nothing. */
void scan_delete_free(scan_deleter *d);

/* The store's leftovers of dead writers (store_sweep_stale) older than cutoff_ms. */
int scan_stale(repo *r, int64_t cutoff_ms, bool remove, store_list_ex_cb cb, void *ctx,
               cairn_err *e);

#endif
