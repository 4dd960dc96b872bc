/*
 * blob - the content codec of the repository.
 *
 * A blob is a file's bytes as exactly one zstd frame with the content checksum,
 * stored under the SHA-256 of the original bytes, so that
 * `zstd -d < blob | sha256sum` prints the blob's own name. Encoding and decoding
 * stream with bounded memory whatever the size.
 */
#ifndef CAIRN_BLOB_H
#define CAIRN_BLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "store/store.h"

#define BLOB_ID_HEX        64
#define BLOB_DEFAULT_LEVEL 1

/* True when id is 64 lowercase hex digits. */
bool blob_id_valid(const char *id);

/*
 * The sums of one stream of plain bytes, taken in the same pass, each when asked: the
 * SHA-256 that names the blob, the zlib CRC-32 ScyllaDB keeps in Digest.crc32, and an
 * XXH3-64, which costs little and lets a second read of the same file be checked
 * against the first without a second SHA-256 (a one-pass upload has no second read,
 * and skips it).
 */
typedef struct blob_sum blob_sum;
typedef struct blob_sums {
    char id[BLOB_ID_HEX + 1];
    uint32_t crc32; /* 0 unless asked for */
    uint64_t xxh3;  /* 0 unless asked for */
    uint64_t size;
} blob_sums;
#define BLOB_SUM_SHA256 1u /* id; without it id is "" */
#define BLOB_SUM_CRC32  2u
#define BLOB_SUM_XXH3   4u
int blob_sum_new(blob_sum **out, unsigned what, cairn_err *e);
void blob_sum_update(blob_sum *s, const void *buf, size_t len);
void blob_sum_final(blob_sum *s, blob_sums *out);
void blob_sum_free(blob_sum *s);

/* Hashes fd from offset 0 in one pass: SHA-256 into id and, when asked, the zlib
 * CRC-32 of the same bytes; blob_hash_fd_sums also the XXH3-64, for a second read. */
int blob_hash_fd(int fd, char id[BLOB_ID_HEX + 1], uint32_t *crc32_or_null, uint64_t *size,
                 cairn_err *e);
int blob_hash_fd_sums(int fd, bool crc32, blob_sums *out, cairn_err *e);

/* Plain bytes in, compressed bytes out to a sink; pledges nothing about size. */
typedef struct blob_enc blob_enc;
int blob_enc_new(blob_enc **out, int level, cairn_err *e);
/* Hands the compression of b's frame to zstd's own worker threads (at most
 * BLOB_ENC_WORKERS_MAX), so that one large file uses more than one core while the
 * caller's thread reads and hashes; call before the first write. Returns the number
 * of workers set: 0 when libzstd has no threads (the caller's thread compresses). */
#define BLOB_ENC_WORKERS_MAX 4
unsigned blob_enc_workers(blob_enc *b, unsigned workers);
int blob_enc_write(blob_enc *b, const void *buf, size_t len, store_sink sink, void *ctx,
                   cairn_err *e);
int blob_enc_finish(blob_enc *b, store_sink sink, void *ctx, cairn_err *e);
void blob_enc_free(blob_enc *b);

/* The one reader of files: fd from offset 0 to its end, in chunks, each into sum and,
 * when enc is not NULL, into enc (whose output goes to sink). stop (may be NULL) is
 * asked before every chunk with the bytes read so far; true ends the read with
 * CAIRN_EBUSY. */
typedef bool (*blob_stop_fn)(void *arg, uint64_t done);
int blob_read_fd(int fd, blob_sum *sum, blob_enc *enc, store_sink sink, void *ctx,
                 blob_stop_fn stop, void *stop_arg, cairn_err *e);

/* Compressed bytes in, plain bytes out to a sink. finish verifies that exactly one
 * complete frame came in, its zstd checksum, and that the SHA-256 of the output is
 * expected_id. expected_id NULL skips the SHA-256 check (manifests, which are not
 * named by their content). Bytes reach the sink before verification completes:
 * on an error the consumer discards what it received. */
typedef struct blob_dec blob_dec;
int blob_dec_new(blob_dec **out, const char *expected_id, cairn_err *e);
int blob_dec_write(blob_dec *b, const void *buf, size_t len, store_sink sink, void *ctx,
                   cairn_err *e);
/* CAIRN_ECORRUPT on a truncated frame, trailing bytes, checksum or SHA-256 mismatch. */
int blob_dec_finish(blob_dec *b, uint64_t *size, cairn_err *e);
void blob_dec_free(blob_dec *b);

#endif
