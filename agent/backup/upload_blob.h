/*
 * upload_blob - one open snapshot file into the repository in the fewest reads and
 * requests, with the job's byte counters moving as it is read.
 *
 * A file whose blob the parent backup names (known) is neither read nor asked about.
 * A small file goes into the table's pack, read once. A large new one is read once
 * where the store can name a blob after writing it (repo_blob_one_pass); elsewhere it
 * is hashed, its hash cached, and read again for the upload, that read checked by the
 * XXH3 of the first. Only a large file the hash cache knows but the parent does not
 * name costs a HEAD, which is cheaper than uploading it again. A large file is
 * compressed on zstd's worker threads when cores are idle (cores.h), so that one
 * large SSTable does not wait on one core while the others have nothing to do.
 */
#ifndef CAIRN_UPLOAD_BLOB_H
#define CAIRN_UPLOAD_BLOB_H

#include <stdbool.h>
#include <sys/stat.h>

#include "backup/hashcache.h"
#include "backup/known.h"
#include "base/cores.h"
#include "base/err.h"
#include "base/ratelimit.h"
#include "job/jobs.h"
#include "repo/blob.h"
#include "repo/pack.h"
#include "repo/repo.h"

typedef struct upload_blob_ctx {
    job *j; /* JOB_BYTES_{DONE,UPLOADED,SKIPPED,STORED}; its cancel stops a read */
    repo *repo;
    ratelimit *rl; /* may be NULL */
    hashcache *hashes;
    const known *known;
    pack_writer *pack; /* the table's */
    cores *cores;      /* a large file's compression may borrow idle ones */
    int level;         /* zstd */
} upload_blob_ctx;

/* Where a file's blob ended up. */
typedef struct upload_place {
    enum { UPLOAD_BLOB, UPLOAD_KNOWN, UPLOAD_PACKED } kind;
    repo_ref ref;       /* UPLOAD_KNOWN: its place, as the parent names it */
    pack_member member; /* UPLOAD_PACKED: its place in the table's pack */
} upload_place;

/* Stores fd (opened as st) unless the repository has its blob; sums receives the
 * blob id, the plain size and, with data (a Data.db), the CRC-32. */
int upload_blob_store(const upload_blob_ctx *c, int fd, const struct stat *st, bool data,
                      blob_sums *sums, upload_place *place, cairn_err *e);

#endif
