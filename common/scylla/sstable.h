/*
 * sstable - SSTable file names and the Digest.crc32 a Data.db is checked against.
 *
 * A name is <version>-<generation>-<format>-<component>; every component of one
 * SSTable shares the part before the component, which is how siblings are found.
 */
#ifndef CAIRN_SSTABLE_H
#define CAIRN_SSTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* Splits file into the shared prefix (its length, without the last '-') and the
 * component. CAIRN_EINVAL when the name is not an SSTable component's. */
int sstable_split(const char *file, size_t *prefix_len, const char **component);

/* True when file names a Data.db component. */
bool sstable_is_data(const char *file);

/* Reads the CRC-32 that "<prefix>-Digest.crc32" beside data_file (in directory dirfd)
 * records; CAIRN_ENOENT when there is none. */
int sstable_read_digest(int dirfd, const char *data_file, uint32_t *crc, cairn_err *e);

#endif
