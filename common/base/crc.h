/*
 * crc - the CRC-32 ScyllaDB keeps in Digest.crc32 (zlib's: IEEE 802.3, reflected),
 * over bytes that come in pieces.
 *
 * Computed by ISA-L with carry-less multiplication, about five times zlib's speed on
 * this machine: every Data.db is checked against its digest on the way into the
 * repository and on the way back, so this runs over most bytes cairn moves.
 */
#ifndef CAIRN_CRC_H
#define CAIRN_CRC_H

#include <stddef.h>
#include <stdint.h>

/* The CRC of the bytes so far (0 before the first) extended by len bytes of buf. */
uint32_t crc_update(uint32_t crc, const void *buf, size_t len);

#endif
