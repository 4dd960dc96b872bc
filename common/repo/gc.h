/*
 * gc - purge's mark and sweep, in bounded memory.
 *
 * Mark: every blob referenced by a complete backup (one whose cluster manifest
 * exists) of any cluster: the schema blob of the cluster manifest and every
 * FileEntry.blob of the node manifests it names, and for an entry whose blob is a
 * member of a pack (format 2) that pack too. A first pass over the cluster manifests
 * counts the entries (NodeRef.files) to size a Bloom filter, for up to two ids each;
 * a second streams the node manifests into it. A manifest that cannot be read stops
 * the purge before anything is deleted: what it references is unknown.
 *
 * Sweep: one listing of blobs/ deletes (in batches) the blobs the filter has never
 * seen and whose last put is older than the grace period by the store's clock; one
 * listing of packs/ does the same for packs. A pack is kept whole while any member is
 * referenced: packs are never rewritten, so the garbage inside a live pack stays
 * until its last member goes. A false positive keeps a little garbage; there are no
 * false negatives, so a referenced blob or pack is never deleted. Then the node
 * manifests of backups that never completed and the store's leftovers of dead
 * writers, each past the grace period. Every deletion is of an object no complete
 * backup needs, so a purge killed at any point leaves every complete backup
 * restorable.
 */
#ifndef CAIRN_GC_H
#define CAIRN_GC_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "repo/repo.h"

#define GC_GRACE_DEFAULT_S (24 * 3600)
#define GC_BLOOM_FP        1e-4
#define GC_BLOOM_MAX_BYTES (32u << 20)

typedef enum { GC_BLOB, GC_PACK, GC_MANIFEST, GC_LEFTOVER, GC_KINDS } gc_kind;

/* Told of every object removed (or, in a dry run, that would be). */
typedef void (*gc_removed_cb)(void *ctx, gc_kind kind, const char *key, uint64_t size);

typedef struct gc_options {
    int64_t grace_ms;
    int64_t store_now_ms; /* the store's clock now (repo_lease_store_ms); < 0: remove nothing */
    bool dry_run;
    repo_lease *lease; /* renewed every renew_ms while the purge runs; may be NULL */
    int64_t renew_ms;
    gc_removed_cb on_removed; /* may be NULL */
    void *ctx;
} gc_options;

typedef struct gc_result {
    uint64_t backups;            /* complete backups marked */
    uint64_t node_manifests;     /* of those, read */
    uint64_t referenced_entries; /* file entries and schema blobs, with repeats */
    uint64_t blobs, blob_bytes;  /* listed */
    uint64_t blobs_young;        /* unreferenced but inside the grace period: kept */
    uint64_t blobs_removed, blob_bytes_removed;
    uint64_t packs, pack_bytes; /* listed */
    uint64_t packs_young;       /* no member referenced, inside the grace period: kept */
    uint64_t packs_removed, pack_bytes_removed;
    uint64_t manifests_removed, manifest_bytes_removed; /* of incomplete backups */
    uint64_t incomplete_young;                          /* ... kept: inside the grace period */
    uint64_t leftovers_removed, leftover_bytes_removed; /* temporaries, multipart uploads */
    uint64_t bloom_bytes;
    double bloom_fp; /* of the filter once marked (bloom_fp) */
} gc_result;

int gc_purge(repo *r, const gc_options *o, gc_result *res, cairn_err *e);

#endif
