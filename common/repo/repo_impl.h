/*
 * repo_impl - what the modules of common/repo share and nothing above them sees: the
 * repository object itself, the store under it, and small helpers. Code outside common/repo goes
 * through repo.h, so that the repository layout (which keys exist, how they are read) stays in this
 * folder.
 */
#ifndef CAIRN_REPO_IMPL_H
#define CAIRN_REPO_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "base/buf.h"
#include "repo/repo.h"
#include "store/store.h"

#define OWNER_MAX 256

struct repo {
    store *s;
    char *id;
    unsigned format;     /* cairn.repo's format_version */
    uint64_t created_ms; /* and its created_ms */
    uint64_t leases_removed;
    pthread_mutex_t lease_mu; /* guards held and the deadlines in it (renewal threads) */
    repo_lease *held;         /* the leases this process holds through r */
};

store *repo_store(repo *r);

/* CAIRN_EINVAL unless id is a blob id (64 lowercase hex digits). */
int repo_blob_id_check(const char *id, cairn_err *e);

/* Reads fd once from offset 0, hashing it into sums (the CRC-32 too when crc32) and
 * compressing it into sink as one blob frame, complete when this returns 0. A file
 * whose size or modification time changes meanwhile is CAIRN_ECORRUPT. */
int repo_encode_fd(int fd, bool crc32, const repo_put_opts *o, store_sink sink, void *ctx,
                   blob_sums *sums, cairn_err *e);

/* o->known's answer for id; false without one. */
bool repo_put_known(const repo_put_opts *o, const char *id);

/* Collects the small object key into b (freed by the caller), refusing more than max
 * bytes. */
int repo_read_small(store *s, const char *key, size_t max, buf *b, cairn_err *e);

/* The time on clock id, in ms. */
int64_t repo_clock_ms(clockid_t id);

/* Wall-clock time, ms since the epoch. */
int64_t repo_now_ms(void);

#endif
