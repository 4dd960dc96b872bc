#include "scylla/sstable.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool is_word(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* (la|m[cdest])-([^-]+)-(\w+)-(.*), as ScyllaDB matches it. */
int sstable_split(const char *file, size_t *prefix_len, const char **component)
{
    const char *p = file;
    if (strncmp(p, "la-", 3) == 0 || (p[0] == 'm' && strchr("cdest", p[1]) && p[1] && p[2] == '-'))
        p += 3;
    else
        return CAIRN_EINVAL;
    const char *gen = p;
    while (*p && *p != '-' && *p != '/')
        p++;
    if (p == gen || *p != '-')
        return CAIRN_EINVAL;
    const char *fmt = ++p;
    while (is_word(*p))
        p++;
    if (p == fmt || *p != '-' || !p[1])
        return CAIRN_EINVAL;
    if (strchr(p + 1, '/'))
        return CAIRN_EINVAL;
    *prefix_len = (size_t)(p - file);
    *component = p + 1;
    return 0;
}

bool sstable_is_data(const char *file)
{
    size_t plen;
    const char *comp;
    return sstable_split(file, &plen, &comp) == 0 && strcmp(comp, "Data.db") == 0;
}

int sstable_read_digest(int dirfd, const char *data_file, uint32_t *crc, cairn_err *e)
{
    size_t plen;
    const char *comp;
    if (sstable_split(data_file, &plen, &comp) != 0)
        return err_set(e, CAIRN_EINVAL, "'%s' is not an SSTable file name", data_file);
    char name[512];
    if (plen + sizeof("-Digest.crc32") > sizeof(name))
        return err_set(e, CAIRN_EINVAL, "SSTable name too long: %s", data_file);
    snprintf(name, sizeof(name), "%.*s-Digest.crc32", (int)plen, data_file);
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? err_set(e, CAIRN_ENOENT, "%s has no Digest.crc32", data_file)
                               : err_sys(e, errno, "cannot open %s", name);
    char buf[32];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return err_set(e, CAIRN_ECORRUPT, "%s is empty or unreadable", name);
    buf[n] = '\0';
    char *end;
    errno = 0;
    unsigned long long v = strtoull(buf, &end, 10);
    while (*end == '\n' || *end == '\r' || *end == ' ')
        end++;
    if (end == buf || *end || errno || v > 0xffffffffULL)
        return err_set(e, CAIRN_ECORRUPT, "%s does not hold a decimal CRC-32", name);
    *crc = (uint32_t)v;
    return 0;
}
