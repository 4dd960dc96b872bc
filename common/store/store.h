/*
 * store - object-store shaped storage under a repository URL.
 *
 * Every driver offers only what S3 offers: put an object whole (streamed), get,
 * head, list by prefix and delete. There is no rename and no append, so code above
 * this layer never relies on a primitive that object storage lacks. A put becomes
 * visible atomically at commit, or not at all.
 *
 * Keys are relative, '/'-separated, printable ASCII (space included), at most
 * STORE_KEY_MAX bytes, with no empty component and no component starting with '.'
 * (hidden names are reserved for drivers' temporaries). A store is thread-safe:
 * many threads may put and get through one store at the same time.
 */
#ifndef CAIRN_STORE_H
#define CAIRN_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define STORE_KEY_MAX 1024

typedef struct store store;
typedef struct store_writer store_writer;
typedef struct store_options store_options;
struct store_s3_options;

/* Receives a stream of bytes; a nonzero return (a negative CAIRN_E* code, with e
 * filled) stops the stream and is returned by the caller. */
typedef int (*store_sink)(void *ctx, const void *buf, size_t len, cairn_err *e);

/* Receives one listed key; a nonzero return stops the listing and is returned. */
typedef int (*store_list_cb)(void *ctx, const char *key, uint64_t size, cairn_err *e);

/*
 * What every store a process opens shares, built once from its configuration: the
 * S3 settings and credentials of store_s3.h (copied; NULL: none, the AWS_*
 * variables then) and the memory budget of S3 uploads. Secrets are wiped when it
 * is freed; it must outlive every store opened with it.
 */
int store_options_new(store_options **out, const struct store_s3_options *s3, cairn_err *e);
void store_options_free(store_options *o);

/* Opens "file:///abs/path" or "s3://bucket/prefix[?params]" (see store_s3.h and
 * docs/storage.md) with o (NULL: defaults, and an S3 upload budget of the store's
 * own). Other schemes fail with CAIRN_EINVAL. Opening creates nothing: the
 * directory appears with the first put. */
int store_open(store **out, const char *url, const store_options *o, cairn_err *e);
void store_close(store *s);
const char *store_url(const store *s);

/* Checks a key against the rules above; CAIRN_EINVAL with the reason otherwise. */
int store_key_check(const char *key, cairn_err *e);

int store_put_begin(store *s, const char *key, store_writer **out, cairn_err *e);
/* The same, saying about how large the object will be (0: unknown), so a driver
 * can size its parts: S3 takes at most 10,000 parts per object. */
int store_put_begin_hint(store *s, const char *key, uint64_t size_hint, store_writer **out,
                         cairn_err *e);
int store_writer_write(store_writer *w, const void *buf, size_t len, cairn_err *e);
/* Makes the object durable and visible in one step, replacing any older one;
 * frees w, also on failure (when nothing becomes visible). */
int store_writer_commit(store_writer *w, cairn_err *e);
/* Frees w; nothing becomes visible. */
void store_writer_abort(store_writer *w);

int store_put_buf(store *s, const char *key, const void *buf, size_t len, cairn_err *e);

/*
 * A put named only when its last byte is in, for content named after its own hash:
 * the bytes are read once, hashed and written on the way, and the writer committed
 * under the name the hash gives (or aborted when the store has that object already).
 * The object may grow to store_unnamed_max bytes (file://: no limit; s3://: one
 * part, since a multipart upload is named when it starts); a write beyond that fails
 * with CAIRN_EINVAL and the caller names its objects first instead. dir is a key
 * prefix the driver may keep its temporary under (file://: that directory).
 * store_unnamed_max is 0 when the driver offers no unnamed puts, and begin then fails.
 */
uint64_t store_unnamed_max(const store *s);
int store_put_begin_unnamed(store *s, const char *dir, store_writer **out, cairn_err *e);
/* Commits an unnamed writer under key, as store_writer_commit does; frees w. */
int store_writer_commit_as(store_writer *w, const char *key, cairn_err *e);

/* Streams the object to sink; CAIRN_ENOENT when absent. */
int store_get(store *s, const char *key, store_sink sink, void *ctx, cairn_err *e);
/* Streams bytes [offset, offset + length) of the object at key into sink: exactly
 * length bytes, or an error. A missing object is CAIRN_ENOENT (as store_get); an
 * object that ends before offset + length is CAIRN_ECORRUPT, naming the key and both
 * sizes. length 0 sends no request and succeeds. Counted as a GET. */
int store_get_range(store *s, const char *key, uint64_t offset, uint64_t length, store_sink sink,
                    void *ctx, cairn_err *e);
/* CAIRN_ENOENT when absent. */
int store_head(store *s, const char *key, uint64_t *size, cairn_err *e);
/* Calls cb for every key starting with prefix ("" for all), in lexicographic
 * (byte) order, streaming: only one directory level's names are held at a time. */
int store_list(store *s, const char *prefix, store_list_cb cb, void *ctx, cairn_err *e);
/* One listed object with what the store knows about it. mtime_ms is the store's own
 * time of the object's last put (file: the file's mtime, S3: LastModified), in ms
 * since the epoch by the store's clock, or -1 when the driver cannot tell. */
typedef struct store_entry {
    const char *key;
    uint64_t size;
    int64_t mtime_ms;
} store_entry;
typedef int (*store_list_ex_cb)(void *ctx, const store_entry *ent, cairn_err *e);

/* store_list with modification times; same order, same streaming. */
int store_list_ex(store *s, const char *prefix, store_list_ex_cb cb, void *ctx, cairn_err *e);

/* Leftovers of writers that died mid-put, which no listing shows: file://
 * temporaries, S3 multipart uploads never completed. Calls cb for each one last
 * written before cutoff_ms (the store's clock, as in store_entry) with the key it
 * was for (file://: the temporary's own path) and, with remove, then removes it.
 * A driver without leftovers calls nothing. */
int store_sweep_stale(store *s, int64_t cutoff_ms, bool remove, store_list_ex_cb cb, void *ctx,
                      cairn_err *e);

/* Removing an absent key succeeds. */
int store_delete(store *s, const char *key, cairn_err *e);
/* Deletes every key, in batches where the store has them (1,000 per S3 request);
 * stops at the first failure. */
int store_delete_many(store *s, const char *const *keys, size_t n, cairn_err *e);

/* Requests sent to the store by kind, since it was opened: what a backup cost.
 * Drivers without requests of their own (file://) count calls instead. */
typedef struct store_counts {
    uint64_t puts;      /* whole objects put in one request */
    uint64_t part_puts; /* parts of multipart uploads */
    uint64_t gets;
    uint64_t heads;
    uint64_t lists; /* listing pages */
    uint64_t deletes;
    uint64_t mpu_initiates; /* multipart uploads started, completed, aborted */
    uint64_t mpu_completes;
    uint64_t mpu_aborts;
    uint64_t retries; /* requests sent again after a retryable failure */
} store_counts;

void store_stats(const store *s, store_counts *out);
/* Adds every count of add to t. */
void store_counts_add(store_counts *t, const store_counts *add);

#endif
