/*
 * bloom - a Bloom filter of blob ids in a fixed amount of memory.
 *
 * Blob ids are SHA-256 digests, already uniform: the filter takes its hashes from
 * the id's own bytes (double hashing of two 64-bit words) instead of hashing again.
 * A filter never forgets an id it was given (no false negatives); it may claim an id
 * it was not given with about the rate it was sized for. Purge relies on the first
 * property: it deletes only what the filter of referenced blobs has never seen.
 */
#ifndef CAIRN_BLOOM_H
#define CAIRN_BLOOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef struct bloom bloom;

/* A filter for about n ids with false-positive rate fp (0 < fp < 1), using at most
 * max_bytes (0: no limit): when the limit is smaller than the size asked, the
 * filter is that large and its rate worse. */
int bloom_new(bloom **out, uint64_t n, double fp, size_t max_bytes, cairn_err *e);
void bloom_free(bloom *b);

/* id: 64 hex digits (blob_id_valid). */
void bloom_add(bloom *b, const char *id);
bool bloom_has(const bloom *b, const char *id);

size_t bloom_bytes(const bloom *b);
unsigned bloom_hashes(const bloom *b);
/* The false-positive rate of the filter as it stands: the fraction of its bits set, to
 * the k-th power. Measured rather than predicted from a count of ids added, because
 * purge adds the same id once per backup that references it. */
double bloom_fp(const bloom *b);

#endif
