#include "restore/restore_state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/path.h"

int rstate_mkdir(const char *dir, cairn_err *e)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return err_sys(e, errno, "cannot create %s", dir);
    return 0;
}

int rstate_base(const char *state_dir, const char *cluster, const char *tag, bool create, char *out,
                size_t cap, cairn_err *e)
{
    int rc = path_fmt(out, cap, e, "%s/restore", state_dir);
    if (!rc && create)
        rc = rstate_mkdir(out, e);
    if (!rc)
        rc = path_fmt(out, cap, e, "%s/restore/%s", state_dir, cluster);
    if (!rc && create)
        rc = rstate_mkdir(out, e);
    if (!rc)
        rc = path_fmt(out, cap, e, "%s/restore/%s/%s", state_dir, cluster, tag);
    if (!rc && create)
        rc = rstate_mkdir(out, e);
    return rc;
}

bool rstate_done(const char *base, const char *ks, const char *table)
{
    char path[RSTATE_PATH_MAX];
    if (path_fmt(path, sizeof(path), NULL, "%s/done", base) != 0)
        return false;
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[256], want[256];
    snprintf(want, sizeof(want), "%s.%s\n", ks, table);
    bool found = false;
    while (!found && fgets(line, sizeof(line), f))
        found = strcmp(line, want) == 0;
    fclose(f);
    return found;
}

int rstate_fsync_dir(const char *dir, cairn_err *e)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return err_sys(e, errno, "cannot open %s", dir);
    int rc = fsync(fd) != 0 ? err_sys(e, errno, "cannot sync %s", dir) : 0;
    close(fd);
    return rc;
}

int rstate_record_done(const char *base, const char *ks, const char *table, cairn_err *e)
{
    char path[RSTATE_PATH_MAX];
    int rc = path_fmt(path, sizeof(path), e, "%s/done", base);
    if (rc)
        return rc;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_sys(e, errno, "cannot record progress in %s", path);
    char line[256];
    int n = snprintf(line, sizeof(line), "%s.%s\n", ks, table);
    rc = (n < 0 || (size_t)n >= sizeof(line) || write(fd, line, (size_t)n) != n || fsync(fd) != 0)
             ? err_sys(e, errno, "cannot record progress in %s", path)
             : 0;
    close(fd);
    /* The file may be new: its directory entry must survive a crash too. */
    return rc ? rc : rstate_fsync_dir(base, e);
}

int rstate_stage_dir(const char *base, const char *ks, const char *table, bool create, char *out,
                     size_t cap, cairn_err *e)
{
    int rc = path_fmt(out, cap, e, "%s/stage", base);
    if (!rc && create)
        rc = rstate_mkdir(out, e);
    if (!rc)
        rc = path_fmt(out, cap, e, "%s/stage/%s.%s", base, ks, table);
    if (!rc && create)
        rc = rstate_mkdir(out, e);
    return rc;
}

int rstate_pending_path(const char *base, const char *ks, const char *table, char *out, size_t cap,
                        cairn_err *e)
{
    return path_fmt(out, cap, e, "%s/pending.%s.%s", base, ks, table);
}

static int gc_path(const char *base, const char *ks, const char *table, char *out, cairn_err *e)
{
    return path_fmt(out, RSTATE_PATH_MAX, e, "%s/gc/%s+%s", base, ks, table);
}

bool rstate_gc_recorded(const char *base, const char *ks, const char *table)
{
    char path[RSTATE_PATH_MAX];
    return gc_path(base, ks, table, path, NULL) == 0 && access(path, F_OK) == 0;
}

int rstate_gc_record(const char *base, const char *ks, const char *table, bool was_on, cairn_err *e)
{
    char dir[RSTATE_PATH_MAX], path[RSTATE_PATH_MAX];
    int rc = path_fmt(dir, sizeof(dir), e, "%s/gc", base);
    if (!rc)
        rc = rstate_mkdir(dir, e);
    if (!rc)
        rc = gc_path(base, ks, table, path, e);
    if (rc)
        return rc;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_sys(e, errno, "cannot record tombstone GC in %s", path);
    const char *text = was_on ? "on\n" : "off\n";
    ssize_t len = (ssize_t)strlen(text);
    rc = write(fd, text, (size_t)len) != len || fsync(fd) != 0
             ? err_sys(e, errno, "cannot record tombstone GC in %s", path)
             : 0;
    close(fd);
    return rc ? rc : rstate_fsync_dir(dir, e);
}

void rstate_gc_each(const char *base, rstate_gc_fn fn, void *ctx)
{
    char dir[RSTATE_PATH_MAX];
    if (path_fmt(dir, sizeof(dir), NULL, "%s/gc", base) != 0)
        return;
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char *plus = strchr(de->d_name, '+'), path[RSTATE_PATH_MAX], text[8] = "";
        if (de->d_name[0] == '.' || !plus)
            continue;
        FILE *f = path_fmt(path, sizeof(path), NULL, "%s/%s", dir, de->d_name) == 0
                      ? fopen(path, "r")
                      : NULL;
        bool ok = f && fgets(text, sizeof(text), f) &&
                  (strcmp(text, "on\n") == 0 || strcmp(text, "off\n") == 0);
        if (f)
            fclose(f);
        if (!ok) {
            log_warn("restore: cannot read the tombstone GC record %s/%s", dir, de->d_name);
            continue;
        }
        char ks[256];
        snprintf(ks, sizeof(ks), "%.*s", (int)(plus - de->d_name), de->d_name);
        fn(ctx, ks, plus + 1, text[1] == 'n');
    }
    closedir(d);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) != 0 && errno != ENOENT ? -1 : 0;
}

int rstate_remove_tree(const char *path, cairn_err *e)
{
    if (access(path, F_OK) != 0)
        return 0;
    if (nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
        return err_sys(e, errno, "cannot remove %s", path);
    return 0;
}

int rstate_remove(const char *base, bool staged_only, cairn_err *e)
{
    char path[RSTATE_PATH_MAX];
    int rc = staged_only ? path_fmt(path, sizeof(path), e, "%s/stage", base)
                         : path_fmt(path, sizeof(path), e, "%s", base);
    return rc ? rc : rstate_remove_tree(path, e);
}
