#include "command/lease_who.h"

#include <stdio.h>
#include <string.h>

#include "command/backup_guard.h"

struct find_ctx {
    const char *prefix; /* LEASE_WHO_RESTORE */
    const char *name;   /* cluster/tag */
    char *owner;
    size_t cap;
};

/* Stops (1) at a shared lease whose owner is prefix, name and then a space or the end. */
static int find_cb(void *ctx, const repo_lease_view *l, cairn_err *e)
{
    (void)e;
    struct find_ctx *f = ctx;
    size_t pl = strlen(f->prefix), nl = strlen(f->name);
    if (l->exclusive || strncmp(l->owner, f->prefix, pl) != 0)
        return 0;
    const char *name = l->owner + pl;
    if (strncmp(name, f->name, nl) != 0 || (name[nl] != ' ' && name[nl] != '\0'))
        return 0;
    if (f->owner)
        snprintf(f->owner, f->cap, "%s", l->owner);
    return 1;
}

static int find(repo *r, const char *prefix, const char *name, bool *found, char *owner, size_t cap,
                cairn_err *e)
{
    struct find_ctx f = {prefix, name, owner, cap};
    int rc = repo_lease_each(r, find_cb, &f, e);
    *found = rc == 1;
    return rc < 0 ? rc : 0;
}

int lease_who_restore(repo *r, const char *cluster, const char *tag, bool *found, char *owner,
                      size_t cap, cairn_err *e)
{
    char name[512];
    snprintf(name, sizeof(name), "%s/%s", cluster, tag);
    return find(r, LEASE_WHO_RESTORE, name, found, owner, cap, e);
}

struct backup_find {
    const char *cluster, *tag;
    char *owner;
    size_t cap;
};

/* Stops (1) at a live backup lease of cluster and tag. */
static int backup_cb(void *ctx, const repo_lease_view *l, cairn_err *e)
{
    (void)e;
    struct backup_find *f = ctx;
    backup_owner o;
    if (l->exclusive || backup_owner_parse(l->owner, &o) != 0 ||
        strcmp(o.cluster, f->cluster) != 0 || strcmp(o.tag, f->tag) != 0)
        return 0;
    if (f->owner)
        snprintf(f->owner, f->cap, "%s", l->owner);
    return 1;
}

int lease_who_backup(repo *r, const char *cluster, const char *tag, bool *found, char *owner,
                     size_t cap, cairn_err *e)
{
    struct backup_find f = {cluster, tag, owner, cap};
    int rc = repo_lease_each(r, backup_cb, &f, e);
    *found = rc == 1;
    return rc < 0 ? rc : 0;
}
