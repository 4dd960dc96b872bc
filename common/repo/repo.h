/*
 * repo - the repository layout on top of a store: the cairn.repo identity object,
 * content-addressed blobs, manifest keys and the leases that keep purge away from
 * running backups. docs/repository-format.md is the specification.
 */
#ifndef CAIRN_REPO_H
#define CAIRN_REPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/ratelimit.h"
#include "repo/blob.h"
#include "store/store.h"

#define REPO_FORMAT_VERSION 2
#define REPO_INFO_KEY       "cairn.repo"
#define REPO_LOCKS_PREFIX   "locks/"
#define REPO_BACKUPS_PREFIX "backups/"
/* backups/<cluster>/<tag>/damaged: verify --repair found the backup damaged. */
#define REPO_DAMAGED_NAME "damaged"

typedef struct repo repo;

/* Opens the store at url with o (store_open) and reads cairn.repo; with create,
 * writes it first when absent. Without create, a missing repository is
 * CAIRN_ENOENT; a newer format version is CAIRN_EPROTO. */
int repo_open(repo **out, const char *url, const store_options *o, bool create, cairn_err *e);
void repo_close(repo *r);
const char *repo_id(const repo *r);

/* What cairn.repo says of a repository, as repo_open read it. */
typedef struct repo_identity {
    char id[64]; /* the repository id, a UUID */
    unsigned format;
    uint64_t created_ms;
} repo_identity;
void repo_identity_of(const repo *r, repo_identity *out);

/* Opens the store at url as repo_open does, taking cairn.repo's content from id
 * instead of reading it: for a long-lived process that read it before and has just
 * been told, by whoever read it for the command at hand, that the id still holds. */
int repo_open_as(repo **out, const char *url, const store_options *o, const repo_identity *id,
                 cairn_err *e);
const char *repo_url(const repo *r);

/* Key builders. Arguments are not validated here; store calls reject bad keys. */
void repo_blob_key(const char *id, char *out, size_t cap); /* blobs/ab/abcdef... */
void repo_pack_key(const char *id, char *out, size_t cap); /* packs/ab/abcdef... */
void repo_node_manifest_key(const char *cluster, const char *tag, const char *host_id, char *out,
                            size_t cap); /* backups/<cluster>/<tag>/nodes/<host-id>.manifest */
void repo_cluster_manifest_key(const char *cluster, const char *tag, char *out,
                               size_t cap); /* backups/<cluster>/<tag>/backup.manifest */

/* The requests sent to the repository's store since repo_open, by kind. */
void repo_stats(const repo *r, store_counts *out);

/* Manifests live under backups/; prefix and key start with it. repo_manifest_list calls
 * cb for every key under prefix, in byte order; repo_manifest_stat gives the size of
 * the manifest at key (size may be NULL), CAIRN_ENOENT when there is none. */
int repo_manifest_list(repo *r, const char *prefix, store_list_cb cb, void *ctx, cairn_err *e);
/* repo_manifest_list with the store's timestamps (store_list_ex). */
int repo_manifest_list_ex(repo *r, const char *prefix, store_list_ex_cb cb, void *ctx,
                          cairn_err *e);
int repo_manifest_stat(repo *r, const char *key, uint64_t *size, cairn_err *e);
/* Puts a small text object under backups/ (a marker beside a backup's manifests). */
int repo_manifest_put_note(repo *r, const char *key, const char *text, cairn_err *e);

int repo_blob_exists(repo *r, const char *id, bool *exists, cairn_err *e);

/* How a blob is written: zstd level, pacing of the stored bytes (rl, may be NULL),
 * and cancelled, asked before every chunk with the plain bytes done so far, so that
 * it can report progress within a file too (may be NULL): a true answer stops the
 * put with CAIRN_EBUSY and nothing stored. */
typedef blob_stop_fn repo_cancel_fn;
typedef struct repo_put_opts {
    int level;
    unsigned workers; /* zstd worker threads for this blob (blob_enc_workers); 0: none */
    ratelimit *rl;
    repo_cancel_fn cancelled;
    void *cancel_arg;
    /* Asked with a new blob's id once it is known (may be NULL): true when the
     * repository is known to hold that blob, which is then not stored again. */
    bool (*known)(void *arg, const char *id);
    void *known_arg;
} repo_put_opts;

/* Compresses fd (from offset 0) into blob id. The SHA-256 is recomputed on the
 * way: if the bytes no longer match id (the file changed under us) nothing is
 * stored and the result is CAIRN_ECORRUPT. stored_bytes (may be NULL) receives the
 * compressed size. */
int repo_blob_put_fd(repo *r, const char *id, int fd, int level, ratelimit *rl,
                     uint64_t *stored_bytes, cairn_err *e);

/* repo_blob_put_fd with options; with sums (may be NULL: the SHA-256 is recomputed)
 * the bytes are checked against the XXH3-64 and size an earlier hashing pass of the
 * same file found (blob_hash_fd_sums), which costs a fraction of a second SHA-256. */
int repo_blob_put_known(repo *r, const char *id, const blob_sums *sums, int fd,
                        const repo_put_opts *o, uint64_t *stored_bytes, cairn_err *e);

/* Whether repo_blob_put_new takes a file of size bytes here: always on file://; on
 * S3 when its blob fits in one part (an upload is named when it starts). */
bool repo_blob_one_pass(const repo *r, uint64_t size);

/* Reads fd once, from offset 0 to its end, and on the way hashes (sums, with the
 * CRC-32 when crc32), compresses and writes the blob; once the name is known it is
 * stored under it, unless o->known says the repository has that blob (*stored false:
 * nothing stored). A file whose size or times change while it is read is
 * CAIRN_ECORRUPT, nothing stored. stored_bytes (may be NULL) receives the
 * compressed size written. */
int repo_blob_put_new(repo *r, int fd, bool crc32, const repo_put_opts *o, blob_sums *sums,
                      bool *stored, uint64_t *stored_bytes, cairn_err *e);

/* Streams blob id, decompressed, to sink and verifies it (see blob_dec). size (may
 * be NULL) receives the plain size. A missing blob is CAIRN_ENOENT. */
int repo_blob_get(repo *r, const char *id, store_sink sink, void *ctx, uint64_t *size,
                  cairn_err *e);

/* Where the bytes of a file are: a blob object of its own (pack NULL), or the blob's
 * frame inside a pack, at [offset, offset + length) (format 2). */
typedef struct repo_ref {
    const char *blob; /* 64 hex: the SHA-256 of the plain bytes */
    const char *pack; /* NULL, or 64 hex: the SHA-256 of the stored pack */
    uint64_t offset;
    uint64_t length;
} repo_ref;

/* The largest pack, and so the largest member's frame, a reader accepts. */
#define REPO_PACK_MAX (64u << 20)

/* Whether ref names a place: valid ids, a member within REPO_PACK_MAX. */
int repo_ref_check(const repo_ref *ref, cairn_err *e);

/* Whether the object holding ref's bytes is there: its blob, or its pack (one HEAD;
 * the member itself is not read). */
int repo_ref_exists(repo *r, const repo_ref *ref, bool *exists, cairn_err *e);

/* repo_blob_get for either place: a member is read with one ranged GET and checked
 * the same way. A missing blob or pack is CAIRN_ENOENT. */
int repo_ref_get(repo *r, const repo_ref *ref, store_sink sink, void *ctx, uint64_t *size,
                 cairn_err *e);

/*
 * Leases under locks/: backups take a shared lease, purge an exclusive one. A lease
 * is an object naming its owner, kind and expiry (wall clock); expired leases are
 * ignored, so a dead coordinator cannot hold the repository forever. A holder
 * renews well within ttl. Shared acquire fails with CAIRN_EBUSY while an unexpired
 * exclusive lease exists; exclusive acquire fails while any other unexpired lease
 * exists. Both write their lease and then check again, so two racing acquirers
 * never both succeed (both may fail; retry later).
 */
typedef struct repo_lease repo_lease;
typedef enum { REPO_LEASE_SHARED, REPO_LEASE_EXCLUSIVE } repo_lease_kind;

int repo_lease_acquire(repo *r, repo_lease_kind kind, const char *owner, unsigned ttl_s,
                       repo_lease **out, cairn_err *e);
/* Extends the expiry by ttl from now; CAIRN_ETIMEDOUT if the lease already expired
 * (others may have acted on that: stop and start over). */
int repo_lease_renew(repo_lease *l, cairn_err *e);
/* Deletes the lease object and frees l. */
void repo_lease_release(repo_lease *l);

/* A live (unexpired) lease, as repo_lease_each shows it. */
typedef struct repo_lease_view {
    const char *key; /* the lease object, for repo_lease_break */
    bool exclusive;
    const char *owner;
    int64_t expires_ms; /* wall clock */
} repo_lease_view;

/* Calls cb for every live lease, in key order; cb returns nonzero to stop (that value
 * is returned). Leases that look expired by the wall clock and unreadable ones are
 * skipped, not removed (acquirers remove expired leases, judged by the store's clock). Lets
 * commands see who is at work: `cairn
 * delete` refuses a tag a restore lease names, `cairn snapshots --clear` one a backup lease names.
 */
typedef int (*repo_lease_cb)(void *ctx, const repo_lease_view *l, cairn_err *e);
int repo_lease_each(repo *r, repo_lease_cb cb, void *ctx, cairn_err *e);

/* repo_lease_acquire of a shared lease that also shows others (may be NULL) every live
 * shared lease of another holder its check reads, in key order, with no request of its
 * own. others returns 0 to go on, or refuses the lease with a negative CAIRN_E* code
 * and a message in e: the lease is then deleted and that code returned. */
int repo_lease_acquire_seeing(repo *r, repo_lease_kind kind, const char *owner, unsigned ttl_s,
                              repo_lease_cb others, void *ctx, repo_lease **out, cairn_err *e);

/* Deletes another holder's lease object key (one of repo_lease_each's): for a holder
 * known to be gone, e.g. a killed attempt of the same backup. */
int repo_lease_break(repo *r, const char *key, cairn_err *e);

/* Deletes the manifest at key (under backups/); a missing one is not an error. */
int repo_manifest_delete(repo *r, const char *key, cairn_err *e);

/* cairn.repo's format version and creation time. */
unsigned repo_format_version(const repo *r);
uint64_t repo_created_ms(const repo *r);

/* The number of blobs and their stored bytes, and the same of packs: one streamed
 * listing each of blobs/ and packs/. */
int repo_blob_totals(repo *r, uint64_t *count, uint64_t *bytes, uint64_t *packs,
                     uint64_t *pack_bytes, cairn_err *e);

/* The store's own time (ms since the epoch, by the store's clock) of the put that
 * acquired l, -1 when the store has no times: the "now" against which purge's grace
 * period is measured, so that no two machines' clocks are ever compared. */
int64_t repo_lease_store_ms(const repo_lease *l);

/* CAIRN_ETIMEDOUT when a lease held through r has gone a ttl without a renewal (on
 * this machine's clock), so that others may judge it expired: what it protected
 * cannot be relied on. 0 when every held lease is live, or none is held. */
int repo_leases_check(repo *r, cairn_err *e);

/* Expired leases of dead writers this process removed while acquiring leases. */
uint64_t repo_leases_removed(const repo *r);

#endif
