#include "base/crc.h"

#include <isa-l/crc.h>

uint32_t crc_update(uint32_t crc, const void *buf, size_t len)
{
    return len ? crc32_gzip_refl(crc, buf, (uint64_t)len) : crc;
}
