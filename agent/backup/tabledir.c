#include "backup/tabledir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/path.h"
#include "scylla/names.h"
#include "scylla/sstable.h"

/* A TOC.txt names about a dozen components; a larger file is not one. */
#define TOC_MAX 4096

bool tabledir_match(const char *entry, const char *table, const char *id_or_null)
{
    size_t tl = strlen(table);
    if (strncmp(entry, table, tl) != 0 || entry[tl] != '-')
        return false;
    if (id_or_null && *id_or_null)
        return strcmp(entry + tl + 1, id_or_null) == 0;
    return name_valid(NAME_TABLE_ID, entry + tl + 1);
}

/* backups/ itself is never followed through a link: what it points at is not the
 * table's. */
static DIR *open_dir_nofollow(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d && fd >= 0) {
        int saved = errno;
        close(fd);
        errno = saved;
    }
    return d;
}

typedef struct sst_file {
    char *name;
    size_t plen; /* the length of its SSTable's prefix */
    uint64_t size;
    int64_t mtime_ms;
} sst_file;

typedef struct sst_list {
    sst_file *v;
    size_t n, cap;
} sst_list;

static void list_free(sst_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].name);
    free(l->v);
}

static int list_add(sst_list *l, const char *name, size_t plen, const struct stat *st, cairn_err *e)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        sst_file *v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return err_set(e, CAIRN_ENOMEM, "out of memory");
        l->v = v;
        l->cap = cap;
    }
    sst_file *f = &l->v[l->n];
    *f = (sst_file){.plen = plen,
                    .size = (uint64_t)st->st_size,
                    .mtime_ms = (int64_t)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000};
    if (!(f->name = strdup(name)))
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    l->n++;
    return 0;
}

/* The regular files of d with SSTable names. */
static int list_files(DIR *d, const char *dir, sst_list *l, cairn_err *e)
{
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t plen;
        const char *comp;
        struct stat st;
        if (de->d_name[0] == '.')
            continue;
        if (!name_valid(NAME_SSTABLE_FILE, de->d_name) ||
            sstable_split(de->d_name, &plen, &comp) != 0) {
            log_debug("%s: skipping '%s', which is not an SSTable file", dir, de->d_name);
            continue;
        }
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
            continue;
        int rc = list_add(l, de->d_name, plen, &st, e);
        if (rc)
            return rc;
    }
    return 0;
}

static bool same_sstable(const sst_file *x, const sst_file *y)
{
    return x->plen == y->plen && memcmp(x->name, y->name, x->plen) == 0;
}

/* By SSTable, then component, so that the files of one SSTable are neighbours. */
static int by_sstable(const void *a, const void *b)
{
    const sst_file *x = a, *y = b;
    int c = memcmp(x->name, y->name, x->plen < y->plen ? x->plen : y->plen);
    if (!c && x->plen != y->plen)
        c = x->plen < y->plen ? -1 : 1;
    return c ? c : strcmp(x->name + x->plen, y->name + y->plen);
}

static const sst_file *find_component(const sst_file *g, size_t n, const char *comp)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(g[i].name + g[i].plen + 1, comp) == 0)
            return &g[i];
    return NULL;
}

/* Whether the n files at g, one SSTable's, are all of it: ScyllaDB links the
 * components one by one, so a set may lack some of what its TOC.txt names. */
static bool sstable_complete(int dfd, const sst_file *g, size_t n)
{
    const sst_file *toc = find_component(g, n, "TOC.txt");
    if (!toc || find_component(g, n, "TOC.txt.tmp"))
        return false;
    int fd = openat(dfd, toc->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return false;
    char buf[TOC_MAX + 1];
    ssize_t len = read(fd, buf, sizeof(buf));
    close(fd);
    if (len <= 0 || len > TOC_MAX)
        return false;
    buf[len] = '\0';
    char *save = NULL;
    for (char *c = strtok_r(buf, "\n", &save); c; c = strtok_r(NULL, "\n", &save))
        if (!find_component(g, n, c))
            return false;
    return true;
}

int64_t tabledir_held_before(uint64_t base_time_ms)
{
    return base_time_ms > TABLEDIR_HELD_MARGIN_MS ? (int64_t)base_time_ms - TABLEDIR_HELD_MARGIN_MS
                                                  : 0;
}

/* Whether every one of the n files at g was written before ms. */
static bool written_before(const sst_file *g, size_t n, int64_t ms)
{
    for (size_t i = 0; i < n; i++)
        if (g[i].mtime_ms >= ms)
            return false;
    return ms > 0;
}

int tabledir_complete_sstables(const char *dir, int64_t held_before_ms, tabledir_file_fn fn,
                               void *ctx, cairn_err *e)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : err_sys(e, errno, "cannot list %s", dir);
    int rc = tabledir_complete_sstables_at(fd, dir, held_before_ms, fn, ctx, e);
    close(fd);
    return rc;
}

int tabledir_complete_sstables_at(int dfd, const char *dir, int64_t held_before_ms,
                                  tabledir_file_fn fn, void *ctx, cairn_err *e)
{
    int fd = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        int rc = err_sys(e, errno, "cannot list %s", dir);
        if (fd >= 0)
            close(fd);
        return rc;
    }
    rewinddir(d);
    sst_list l = {0};
    int rc = list_files(d, dir, &l, e);
    if (!rc && l.n)
        qsort(l.v, l.n, sizeof(*l.v), by_sstable);
    for (size_t i = 0, j; !rc && i < l.n; i = j) {
        for (j = i + 1; j < l.n && same_sstable(&l.v[i], &l.v[j]); j++)
            ;
        if (!sstable_complete(dirfd(d), &l.v[i], j - i)) {
            log_debug("%s: SSTable %.*s is not complete yet; the next increment takes it", dir,
                      (int)l.v[i].plen, l.v[i].name);
            continue;
        }
        bool held = written_before(&l.v[i], j - i, held_before_ms);
        for (size_t k = i; !rc && k < j; k++)
            rc = fn(ctx, l.v[k].name, l.v[k].size, held, e);
    }
    closedir(d);
    list_free(&l);
    return rc;
}

/* Counts (and with remove, unlinks) the regular files of <table_dir>/backups; removal
 * takes only SSTable files, whatever else someone put there stays. */
static void backups_walk(const char *table_dir, bool remove, uint64_t *files, uint64_t *bytes)
{
    char path[4400];
    if (path_fmt(path, sizeof(path), NULL, "%s/backups", table_dir) != 0)
        return;
    DIR *d = open_dir_nofollow(path);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (remove &&
            (!name_valid(NAME_SSTABLE_FILE, de->d_name) || unlinkat(dirfd(d), de->d_name, 0) != 0))
            continue;
        (*files)++;
        *bytes += (uint64_t)st.st_size;
    }
    closedir(d);
}

void tabledir_backups_count(const char *table_dir, uint64_t *files, uint64_t *bytes)
{
    backups_walk(table_dir, false, files, bytes);
}

void tabledir_backups_clear(const char *table_dir, uint64_t *files, uint64_t *bytes)
{
    backups_walk(table_dir, true, files, bytes);
}
