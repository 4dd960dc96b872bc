/*
 * upload_blob - one open snapshot file into the repository in the fewest reads, with
 * the job's byte counters moving as it is read.
 *
 * A file the hash cache knows is read only when the repository lacks its blob. A new
 * one is read once where the store can name a blob after writing it
 * (repo_blob_one_pass); elsewhere it is hashed, its hash cached, and read again for the
 * upload only when the blob is missing, that read checked by the XXH3 of the first.
 */
#ifndef CAIRN_UPLOAD_BLOB_H
#define CAIRN_UPLOAD_BLOB_H

#include <stdbool.h>
#include <sys/stat.h>

#include "backup/hashcache.h"
#include "base/err.h"
#include "base/ratelimit.h"
#include "job/jobs.h"
#include "repo/blob.h"
#include "repo/repo.h"

typedef struct upload_blob_ctx {
    job *j; /* JOB_BYTES_{DONE,UPLOADED,SKIPPED,STORED}; its cancel stops a read */
    repo *repo;
    ratelimit *rl; /* may be NULL */
    hashcache *hashes;
    int level; /* zstd */
} upload_blob_ctx;

/* Stores fd (opened as st) as a blob unless the repository has it; sums receives the
 * blob id, the plain size and, with data (a Data.db), the CRC-32. */
int upload_blob_store(const upload_blob_ctx *c, int fd, const struct stat *st, bool data,
                      blob_sums *sums, cairn_err *e);

#endif
