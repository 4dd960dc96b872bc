/*
 * pack - small blobs stored together, one object for many (repository format 2).
 *
 * A pack is the concatenation of its members' blob frames, each byte for byte what
 * blobs/<id> would hold, and is named by the SHA-256 of the whole: packs/<2>/<64>.
 * A member is found through the manifest entry that names it (pack, offset, length),
 * so a pack needs no header: `zstd -d` reads one whole, `sha256sum` checks it, and a
 * member is a byte range. Writing a table's small files this way costs one request
 * per pack instead of one per file, which is what object storage bills.
 */
#ifndef CAIRN_PACK_H
#define CAIRN_PACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "repo/repo.h"

/* Files up to this size go into packs; larger ones are blobs of their own. */
#define PACK_MEMBER_MAX (1u << 20)
/* A pack is committed once it holds about this much (less where the store names an
 * object at commit only up to a smaller size: S3 within one part). */
#define PACK_TARGET (16u << 20)

typedef struct pack_writer pack_writer;

/* Where a member went: pack is the index of the pack among those this writer made
 * (its id is pack_writer_id's once finished). */
typedef struct pack_member {
    size_t pack;
    uint64_t offset;
    uint64_t length;
} pack_member;

int pack_writer_new(repo *r, pack_writer **out, cairn_err *e);

/* Reads fd (at most PACK_MEMBER_MAX bytes) once, as repo_blob_put_new does, and
 * appends its blob to the open pack, committing that pack first when the member
 * would overflow it. *added is false when o->known says the repository has the blob
 * (nothing appended). Thread-safe; the first failure fails every later call. */
int pack_add_fd(pack_writer *p, int fd, bool crc32, const repo_put_opts *o, blob_sums *sums,
                pack_member *m, bool *added, cairn_err *e);

/* Commits the open pack, if it holds anything. Call once all adds returned. */
int pack_writer_finish(pack_writer *p, cairn_err *e);

/* The id (64 hex) of pack i, committed. */
const char *pack_writer_id(const pack_writer *p, size_t i);

/* Packs committed and their stored bytes so far. */
size_t pack_writer_count(const pack_writer *p);
uint64_t pack_writer_stored(const pack_writer *p);

/* Aborts a pack still open; frees p. */
void pack_writer_free(pack_writer *p);

/* What pack_read does with each member: begin gives the sink of member i's plain
 * bytes, end is told its size once they all went there and checked out (zstd
 * checksum, SHA-256 = its blob id). */
typedef struct pack_read_io {
    int (*begin)(void *ctx, size_t i, store_sink *sink, void **sink_ctx, cairn_err *e);
    int (*end)(void *ctx, size_t i, uint64_t size, cairn_err *e);
} pack_read_io;

/* Reads members refs[0..n) of one pack (all naming the same pack, in increasing
 * offset order, none overlapping) with one ranged GET from the first's start to the
 * last's end; the bytes between members are skipped. The first failure ends the
 * read; the caller cleans up the member it had begun. */
int pack_read(repo *r, const repo_ref *refs, size_t n, const pack_read_io *io, void *ctx,
              cairn_err *e);

#endif
