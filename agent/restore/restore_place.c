#include "restore/restore_place.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/debug.h"
#include "base/path.h"
#include "restore/restore_state.h"
#include "scylla/names.h"
#include "scylla/sstable.h"

#define PLACED_MARK "#placed"
#define NAME_CAP    300

/* The names the table's files get in upload/: every SSTable its own prefix, the one it
 * had unless another SSTable of the batch (from another source node) or a file already
 * in upload/ took it, else the same version and format under a fresh generation. */
typedef struct namer {
    char (*to)[128];
    size_t n, cap;
    unsigned long next_gen;
    const char *dir;
} namer;

static bool prefix_taken(const namer *m, const char *prefix)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->to[i], prefix) == 0)
            return true;
    char probe[RSTATE_PATH_MAX + 200];
    return path_fmt(probe, sizeof(probe), NULL, "%s/%s-TOC.txt", m->dir, prefix) != 0 ||
           access(probe, F_OK) == 0;
}

static int namer_add(namer *m, const char *prefix, cairn_err *e)
{
    if (m->n == m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 32;
        void *nt = realloc(m->to, nc * sizeof(*m->to));
        if (!nt)
            return err_set(e, CAIRN_ENOMEM, "out of memory");
        m->to = nt;
        m->cap = nc;
    }
    CAIRN_ASSERT(m->n < m->cap);
    /* <version>-<generation>-<format>: keep version and format. */
    const char *d1 = strchr(prefix, '-');
    const char *d2 = d1 ? strchr(d1 + 1, '-') : NULL;
    if (!d2)
        return err_set(e, CAIRN_EINVAL, "unexpected SSTable name %s", prefix);
    snprintf(m->to[m->n], sizeof(m->to[0]), "%s", prefix);
    while (prefix_taken(m, m->to[m->n]))
        snprintf(m->to[m->n], sizeof(m->to[0]), "%.*s-%lu%s", (int)(d1 - prefix), prefix,
                 m->next_gen++, d2);
    m->n++;
    return 0;
}

/* Whether file i starts another SSTable than file i-1: another prefix, or a component
 * the current SSTable already has (two sources' SSTables of the same name). */
static bool starts_sstable(const Cairn__Rpc__RestoreTable *t, size_t first, size_t i)
{
    if (i == first)
        return true;
    size_t pl, ql;
    const char *pc, *qc;
    if (sstable_split(t->files[i]->name, &pl, &pc) != 0 ||
        sstable_split(t->files[i - 1]->name, &ql, &qc) != 0 || pl != ql ||
        strncmp(t->files[i]->name, t->files[i - 1]->name, pl) != 0)
        return true;
    for (size_t k = first; k < i; k++)
        if (strcmp(t->files[k]->name, t->files[i]->name) == 0)
            return true;
    return false;
}

/* Every file's name in upload/, into names (n_files entries of NAME_CAP). */
static int name_files(const Cairn__Rpc__RestoreTable *t, const char *dir, char (*names)[NAME_CAP],
                      cairn_err *e)
{
    namer m = {.next_gen = (unsigned long)time(NULL) * 1000, .dir = dir};
    size_t first = 0;
    int rc = 0;
    for (size_t i = 0; !rc && i < t->n_files; i++) {
        const char *name = t->files[i]->name;
        size_t plen;
        const char *comp;
        if (!name_valid(NAME_SSTABLE_FILE, name) || sstable_split(name, &plen, &comp) != 0) {
            rc = err_set(e, CAIRN_EINVAL, "refusing file name '%.100s' of %s.%s", name, t->keyspace,
                         t->name);
            break;
        }
        if (starts_sstable(t, first, i)) {
            char prefix[128];
            snprintf(prefix, sizeof(prefix), "%.*s", (int)plen, name);
            first = i;
            if ((rc = namer_add(&m, prefix, e)) != 0)
                break;
        }
        rc = path_fmt(names[i], NAME_CAP, e, "%s-%s", m.to[m.n - 1], comp);
    }
    free(m.to);
    return rc;
}

static int write_lines(const char *path, char (*names)[NAME_CAP], size_t n, bool append,
                       cairn_err *e)
{
    FILE *f = fopen(path, append ? "a" : "w");
    if (!f)
        return err_sys(e, errno, "cannot record progress in %s", path);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s\n", names ? names[i] : PLACED_MARK);
    int rc = (fflush(f) != 0 || fsync(fileno(f)) != 0)
                 ? err_sys(e, errno, "cannot record progress in %s", path)
                 : 0;
    if (fclose(f) != 0 && !rc)
        rc = err_sys(e, errno, "cannot record progress in %s", path);
    return rc;
}

/* Another file system: copy under a temporary name, make it durable, rename. */
static int copy_file(const char *from, const char *to, const char *tmp, cairn_err *e)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return err_sys(e, errno, "cannot open staged file %s", from);
    int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (out < 0) {
        int rc = err_sys(e, errno, "cannot create %s", tmp);
        close(in);
        return rc;
    }
    char buf[1 << 16];
    ssize_t n;
    int rc = 0;
    while (!rc && (n = read(in, buf, sizeof(buf))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || write(out, buf, (size_t)n) != n)
            rc = err_sys(e, errno, "cannot copy %s to %s", from, tmp);
    }
    if (!rc && fsync(out) != 0)
        rc = err_sys(e, errno, "cannot sync %s", tmp);
    if (close(out) != 0 && !rc)
        rc = err_sys(e, errno, "cannot write %s", tmp);
    close(in);
    if (!rc && rename(tmp, to) != 0)
        rc = err_sys(e, errno, "cannot rename %s", tmp);
    if (rc)
        unlink(tmp);
    return rc;
}

static int place_file(const char *stage_dir, const char *blob, const char *upload_dir,
                      const char *name, cairn_err *e)
{
    char from[RSTATE_PATH_MAX + 200], to[RSTATE_PATH_MAX + 400], tmp[RSTATE_PATH_MAX + 400];
    int rc = path_fmt(from, sizeof(from), e, "%s/%s", stage_dir, blob);
    if (!rc)
        rc = path_fmt(to, sizeof(to), e, "%s/%s", upload_dir, name);
    if (!rc)
        rc = path_fmt(tmp, sizeof(tmp), e, "%s/.cairn-%s", upload_dir, name);
    if (rc)
        return rc;
    /* The staged file stays until the table is loaded, so placing again is possible. */
    if (link(from, to) == 0)
        return 0;
    if (errno == EXDEV || errno == EPERM || errno == EMLINK)
        return copy_file(from, to, tmp, e);
    return err_sys(e, errno, "cannot place %s as %s", from, to);
}

int restore_place_table(const Cairn__Rpc__RestoreTable *t, const char *stage_dir,
                        const char *upload_dir, const char *pending, cairn_err *e)
{
    char(*names)[NAME_CAP] = calloc(t->n_files ? t->n_files : 1, NAME_CAP);
    if (!names)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    int rc = name_files(t, upload_dir, names, e);
    if (!rc)
        rc = write_lines(pending, names, t->n_files, false, e);
    for (size_t i = 0; !rc && i < t->n_files; i++)
        rc = place_file(stage_dir, t->files[i]->blob, upload_dir, names[i], e);
    if (!rc)
        rc = rstate_fsync_dir(upload_dir, e);
    if (!rc)
        rc = write_lines(pending, NULL, 1, true, e);
    free(names);
    if (rc)
        err_prefix(e, "table %s.%s", t->keyspace, t->name);
    return rc;
}

/* Walks pending's names: counts those left in upload_dir and, with discard, removes
 * them and their temporaries. Returns whether the record is marked placed. */
static bool pending_walk(const char *pending, const char *upload_dir, bool discard, size_t *left,
                         size_t *total)
{
    *left = *total = 0;
    FILE *f = fopen(pending, "r");
    if (!f)
        return false;
    bool placed = false;
    char name[512];
    while (fgets(name, sizeof(name), f)) {
        name[strcspn(name, "\n")] = '\0';
        if (strcmp(name, PLACED_MARK) == 0) {
            placed = true;
            continue;
        }
        char full[RSTATE_PATH_MAX + 600], tmp[RSTATE_PATH_MAX + 600];
        if (!name_valid(NAME_SSTABLE_FILE, name) ||
            path_fmt(full, sizeof(full), NULL, "%s/%s", upload_dir, name) != 0 ||
            path_fmt(tmp, sizeof(tmp), NULL, "%s/.cairn-%s", upload_dir, name) != 0)
            continue;
        (*total)++;
        if (access(full, F_OK) == 0)
            (*left)++;
        if (discard) {
            unlink(full);
            unlink(tmp);
        }
    }
    fclose(f);
    return placed;
}

bool restore_pending_placed(const char *pending)
{
    FILE *f = fopen(pending, "r");
    if (!f)
        return false;
    bool placed = false;
    char line[512];
    while (!placed && fgets(line, sizeof(line), f))
        placed = strcmp(line, PLACED_MARK "\n") == 0;
    fclose(f);
    return placed;
}

pending_state restore_pending_recover(const char *pending, const char *upload_dir)
{
    if (access(pending, F_OK) != 0)
        return PENDING_NONE;
    size_t left, total;
    bool placed = pending_walk(pending, upload_dir, false, &left, &total);
    if (placed && total > 0)
        return left == 0 ? PENDING_LOADED : PENDING_PLACED;
    restore_pending_discard(pending, upload_dir);
    return PENDING_NONE;
}

void restore_pending_discard(const char *pending, const char *upload_dir)
{
    size_t left, total;
    pending_walk(pending, upload_dir, true, &left, &total);
    unlink(pending);
    rstate_fsync_dir(upload_dir, NULL);
}
