/*
 * prune - removes from the tables' backups/ directories the links an increment's node
 * manifest records, once the increment is safe (its cluster manifest is written):
 * ScyllaDB never removes them, and the next increment would take them again.
 *
 * Only what the manifest names goes, and only while it is still the file that was
 * backed up: a regular file of the recorded size, right in backups/ of the table's
 * live directory in the data directory the manifest names, which must be this node's
 * directory at that index. Anything else is left alone with a warning; a file gone
 * already (an earlier prune) counts as missing.
 *
 * The manifest is read twice, never whole in memory: once to check its SHA-256, which
 * is known only at its end, then table by table to remove. Removing during the first
 * reading would act on bytes not yet known to be the manifest named.
 */
#include "handlers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup/mancopy.h"
#include "backup/tabledir.h"
#include "base/log.h"
#include "base/path.h"
#include "repo/manifest.h"
#include "scylla/names.h"

/* What a table's backups/ in one data directory is, before or instead of its fd. */
enum { BACKUPS_UNOPENED = -1, BACKUPS_GONE = -2, BACKUPS_REFUSED = -3 };

typedef struct prune_ctx {
    char **dirs; /* this node's data directories, as ScyllaDB names them */
    size_t ndirs;
    bool *same;             /* dirs[i] is the manifest's data_dirs[i] */
    int64_t held_before_ms; /* what backups/ holds from before this is the base's; 0: none */
    uint64_t files, bytes, missing;
} prune_ctx;

/* The key names a node by its host id: only this node's own links are its to remove. */
static int check_own(const char *key, const char *host, cairn_err *e)
{
    char sfx[128];
    snprintf(sfx, sizeof(sfx), "/nodes/%s.manifest", host);
    size_t kl = strlen(key), sl = strlen(sfx);
    if (kl < sl || strcmp(key + kl - sl, sfx) != 0)
        return err_set(e, CAIRN_EMISMATCH,
                       "%s is not the manifest of this node (host id %s): a prune removes only "
                       "the links its own node recorded; send it to that node's agent",
                       key, host);
    return 0;
}

/* The live directory of table t in keyspace directory ksdir: the one of its id, or
 * without an id the only one of its name. */
static int find_table_dir(const char *ksdir, const Cairn__Repo__TableEntry *t, char *out,
                          size_t cap)
{
    DIR *d = opendir(ksdir);
    if (!d)
        return BACKUPS_GONE;
    int found = 0, rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!tabledir_match(de->d_name, t->name, t->id))
            continue;
        if (found++ == 0 && path_fmt(out, cap, NULL, "%s/%s/backups", ksdir, de->d_name) != 0)
            rc = BACKUPS_REFUSED;
    }
    closedir(d);
    if (found > 1) {
        log_warn("prune: table %s.%s has %d directories in %s and the manifest names no table "
                 "id; its links there are left alone",
                 t->keyspace, t->name, found, ksdir);
        return BACKUPS_REFUSED;
    }
    return found ? rc : BACKUPS_GONE;
}

static int open_backups(const prune_ctx *p, const Cairn__Repo__TableEntry *t, uint32_t d)
{
    char ksdir[4096], path[4400];
    if (path_fmt(ksdir, sizeof(ksdir), NULL, "%s/%s", p->dirs[d], t->keyspace) != 0)
        return BACKUPS_REFUSED;
    int rc = find_table_dir(ksdir, t, path, sizeof(path));
    if (rc)
        return rc;
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0)
        return fd;
    if (errno == ENOENT)
        return BACKUPS_GONE;
    log_warn("prune: cannot open %s: %s; its links are left alone", path, strerror(errno));
    return BACKUPS_REFUSED;
}

/* Whether file f of table t may be looked for: a name, and a data directory that is
 * this node's. */
static bool file_acceptable(const prune_ctx *p, const Cairn__Repo__TableEntry *t,
                            const Cairn__Repo__FileEntry *f, uint32_t d)
{
    if (!name_valid(NAME_SSTABLE_FILE, f->name)) {
        char shown[300];
        name_sanitize(f->name, shown, sizeof(shown));
        log_warn("prune: table %s.%s: '%s' is not an SSTable file name; left alone", t->keyspace,
                 t->name, shown);
        return false;
    }
    if (d >= p->ndirs || !p->same[d]) {
        log_warn("prune: table %s.%s: %s is recorded in data directory %" PRIu32
                 ", which is not the same directory on this node now; left alone",
                 t->keyspace, t->name, f->name, d);
        return false;
    }
    return true;
}

/* Removes f from backups/ (open as fd) when it is still the file that was backed up. */
static int remove_link(prune_ctx *p, const Cairn__Repo__TableEntry *t, int fd,
                       const Cairn__Repo__FileEntry *f, uint32_t d, cairn_err *e)
{
    struct stat st;
    int rc = fstatat(fd, f->name, &st, AT_SYMLINK_NOFOLLOW);
    if (rc == 0 && (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != f->size)) {
        log_warn("prune: table %s.%s: backups/%s is not the file backed up (%" PRIu64
                 " bytes recorded); left alone",
                 t->keyspace, t->name, f->name, f->size);
        return 0;
    }
    if (rc == 0)
        rc = unlinkat(fd, f->name, 0);
    if (rc != 0 && errno == ENOENT) {
        p->missing++;
        return 0;
    }
    if (rc != 0)
        return err_sys(e, errno, "cannot remove backups/%s of table %s.%s in %s", f->name,
                       t->keyspace, t->name, p->dirs[d]);
    p->files++;
    p->bytes += f->size;
    return 0;
}

/* One recorded link, looked for where the manifest says it was. */
static int prune_file(prune_ctx *p, const Cairn__Repo__TableEntry *t, int *fds,
                      const Cairn__Repo__FileEntry *f, cairn_err *e)
{
    uint32_t d = f->has_data_dir ? f->data_dir : 0;
    if (!file_acceptable(p, t, f, d))
        return 0;
    if (fds[d] == BACKUPS_UNOPENED)
        fds[d] = open_backups(p, t, d);
    if (fds[d] == BACKUPS_GONE)
        p->missing++;
    if (fds[d] < 0)
        return 0;
    return remove_link(p, t, fds[d], f, d, e);
}

/* What tabledir_complete_sstables hands a prune: a held SSTable's file goes. */
typedef struct held_ctx {
    prune_ctx *p;
    const Cairn__Repo__TableEntry *t;
    int fd;
    uint32_t d;
} held_ctx;

static int remove_held(void *ctx, const char *name, uint64_t size, bool held, cairn_err *e)
{
    held_ctx *h = ctx;
    if (!held)
        return 0;
    Cairn__Repo__FileEntry f = CAIRN__REPO__FILE_ENTRY__INIT;
    f.name = (char *)name;
    f.size = size;
    return remove_link(h->p, h->t, h->fd, &f, h->d, e);
}

/* The SSTables of the table's backups/ that the base holds (tabledir.h), in every data
 * directory that is still this node's: an increment neither uploads nor records them. */
static int prune_held(prune_ctx *p, const Cairn__Repo__TableEntry *t, int *fds, cairn_err *e)
{
    int rc = 0;
    for (uint32_t d = 0; !rc && d < p->ndirs; d++) {
        if (!p->same[d])
            continue;
        if (fds[d] == BACKUPS_UNOPENED)
            fds[d] = open_backups(p, t, d);
        if (fds[d] < 0)
            continue;
        held_ctx h = {p, t, fds[d], d};
        char where[4200];
        snprintf(where, sizeof(where), "backups/ of %s.%s in %s", t->keyspace, t->name, p->dirs[d]);
        rc = tabledir_complete_sstables_at(fds[d], where, p->held_before_ms, remove_held, &h, e);
    }
    return rc;
}

/* manifest_table_cb of the second reading. */
static int prune_table(void *ctx, const Cairn__Repo__TableEntry *t, cairn_err *e)
{
    prune_ctx *p = ctx;
    cairn_err ne;
    if ((!t->n_files && !p->held_before_ms) || !p->ndirs)
        return 0;
    if (name_check_table(t->keyspace, t->name, &ne) != 0 ||
        (t->id && name_check(NAME_TABLE_ID, t->id, &ne) != 0)) {
        log_warn("prune: %s; the table's %zu links are left alone", ne.msg, t->n_files);
        return 0;
    }
    int *fds = malloc(p->ndirs * sizeof(*fds));
    if (!fds)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    for (size_t d = 0; d < p->ndirs; d++)
        fds[d] = BACKUPS_UNOPENED;
    int rc = 0;
    for (size_t i = 0; !rc && i < t->n_files; i++)
        rc = prune_file(p, t, fds, t->files[i], e);
    if (!rc && p->held_before_ms)
        rc = prune_held(p, t, fds, e);
    for (size_t d = 0; d < p->ndirs; d++)
        if (fds[d] >= 0)
            close(fds[d]);
    free(fds);
    return rc;
}

/* The manifest must be this node's of this cluster, and says which of its data
 * directories are still where they were. */
static int check_header(prune_ctx *p, const Cairn__Repo__NodeManifest *h, const char *cluster,
                        const char *host, const char *key, cairn_err *e)
{
    if (strcmp(h->cluster, cluster) != 0 || strcmp(h->host_id, host) != 0)
        return err_set(e, CAIRN_EMISMATCH,
                       "node manifest %s is of cluster %s, node %s, not of this node (%s, %s); "
                       "nothing was removed",
                       key, h->cluster, h->host_id, cluster, host);
    if (!(p->same = calloc(p->ndirs ? p->ndirs : 1, sizeof(*p->same))))
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    for (size_t i = 0; i < p->ndirs; i++)
        p->same[i] = i < h->n_data_dirs && strcmp(h->data_dirs[i], p->dirs[i]) == 0;
    return 0;
}

/* The first reading: the agent's copy when it is this manifest (mancopy.h), else the
 * repository's. *fd is left at the source that checked out, -1 for the repository. */
static int verify(repo *r, const Cairn__Rpc__PruneBackupsRequest *rq, int *fd, const char *copy,
                  Cairn__Repo__NodeManifest **h, cairn_err *e)
{
    if (*fd >= 0) {
        cairn_err ce; /* another manifest's copy: the repository has this one */
        if (manifest_node_read_copy(r, rq->manifest_key, *fd, copy, rq->manifest_sha256, h, NULL,
                                    NULL, &ce) == 0)
            return 0;
        log_debug("prune: %s", ce.msg);
        close(*fd);
        *fd = -1;
    }
    return manifest_node_read_copy(r, rq->manifest_key, -1, NULL, rq->manifest_sha256, h, NULL,
                                   NULL, e);
}

static int prune_run(prune_ctx *p, agent *a, repo *r, const Cairn__Rpc__PruneBackupsRequest *rq,
                     const char *host, cairn_err *e)
{
    char copy[PATH_MAX];
    int fd = -1;
    if (mancopy_path(a->cfg->state_dir, repo_id(r), copy, sizeof(copy), NULL) == 0)
        fd = open(copy, O_RDONLY | O_CLOEXEC);
    Cairn__Repo__NodeManifest *h = NULL, *h2 = NULL;
    int rc = verify(r, rq, &fd, copy, &h, e);
    if (!rc)
        rc = check_header(p, h, a->cfg->cluster, host, rq->manifest_key, e);
    if (!rc)
        rc = manifest_node_read_copy(r, rq->manifest_key, fd, copy, rq->manifest_sha256, &h2,
                                     prune_table, p, e);
    if (fd >= 0)
        close(fd);
    if (h)
        cairn__repo__node_manifest__free_unpacked(h, NULL);
    if (h2)
        cairn__repo__node_manifest__free_unpacked(h2, NULL);
    return rc;
}

/* Empties backups/ of every directory of each view and index (any incarnation: none is
 * ever backed up); request_check validated the names. */
static void prune_views(prune_ctx *p, const Cairn__Rpc__PruneBackupsRequest *rq)
{
    for (size_t v = 0; v < rq->n_views; v++) {
        const Cairn__Rpc__Table *t = rq->views[v];
        for (size_t d = 0; d < p->ndirs; d++) {
            char ksdir[4096], tdir[4400];
            if (path_fmt(ksdir, sizeof(ksdir), NULL, "%s/%s", p->dirs[d], t->keyspace) != 0)
                continue;
            DIR *dir = opendir(ksdir);
            struct dirent *de;
            while (dir && (de = readdir(dir)) != NULL)
                if (tabledir_match(de->d_name, t->name, NULL) &&
                    path_fmt(tdir, sizeof(tdir), NULL, "%s/%s", ksdir, de->d_name) == 0)
                    tabledir_backups_clear(tdir, &p->files, &p->bytes);
            if (dir)
                closedir(dir);
        }
    }
}

static int answer(const prune_ctx *p, Cairn__Rpc__Response *resp, cairn_err *e)
{
    Cairn__Rpc__PruneResult *res = malloc(sizeof(*res));
    if (!res)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    cairn__rpc__prune_result__init(res);
    res->files = p->files;
    res->bytes = p->bytes;
    res->has_missing = 1;
    res->missing = p->missing;
    resp->result_case = CAIRN__RPC__RESPONSE__RESULT_PRUNED;
    resp->pruned = res;
    return 0;
}

int agent_prune_backups(agent *a, const Cairn__Rpc__PruneBackupsRequest *rq,
                        Cairn__Rpc__Response *resp, cairn_err *e)
{
    prune_ctx p = {0};
    p.held_before_ms = tabledir_held_before(rq->base_time_ms);
    char *host = NULL;
    repo *r = NULL;
    int rc = scylla_host_id(a->rest, &host, e);
    if (!rc)
        rc = check_own(rq->manifest_key, host, e);
    if (!rc)
        rc = scylla_data_dirs(a->rest, &p.dirs, &p.ndirs, e);
    if (!rc)
        rc = repos_repo_open(&r, a->cfg, rq->repository, rq->repository_id, e);
    if (!rc)
        rc = prune_run(&p, a, r, rq, host, e);
    if (!rc)
        prune_views(&p, rq);
    if (!rc) {
        log_info("prune %s: %" PRIu64 " links removed (%" PRIu64 " bytes), %" PRIu64
                 " gone already",
                 rq->manifest_key, p.files, p.bytes, p.missing);
        rc = answer(&p, resp, e);
    }
    repo_close(r);
    scylla_strv_free(p.dirs, p.ndirs);
    free(p.same);
    free(host);
    return rc;
}
