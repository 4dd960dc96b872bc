/*
 * restore_lease - see restore_lease.h. The lease lives in this file's state rather
 * than in restore.c's run, so that restore.c needs only a call to take it and one to
 * drop it.
 */
#include "command/restore_lease.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "command/lease_keep.h"

#define RESTORE_LEASE_TTL_S 120
#define OWNER_PREFIX        "cairn restore "

static lease_keep *held;

int restore_lease_take(repo *r, const char *cluster, const char *tag, cairn_err *e)
{
    char owner[512], host[128] = "?";
    gethostname(host, sizeof(host));
    host[sizeof(host) - 1] = '\0';
    snprintf(owner, sizeof(owner), OWNER_PREFIX "%s/%s on %s pid %d", cluster, tag, host,
             (int)getpid());
    restore_lease_drop();
    int rc =
        lease_keep_start(&held, r, REPO_LEASE_SHARED, owner, RESTORE_LEASE_TTL_S, "restore", e);
    return rc ? err_prefix(e, "cannot protect backup %s from deletion while it is restored", tag)
              : 0;
}

void restore_lease_drop(void)
{
    lease_keep_stop(held);
    held = NULL;
}

struct find_ctx {
    const char *name; /* cluster/tag */
    char *owner;
    size_t cap;
};

static int find_cb(void *ctx, const repo_lease_view *l, cairn_err *e)
{
    struct find_ctx *f = ctx;
    size_t pl = strlen(OWNER_PREFIX), nl = strlen(f->name);
    if (l->exclusive || strncmp(l->owner, OWNER_PREFIX, pl) != 0)
        return 0;
    const char *name = l->owner + pl;
    if (strncmp(name, f->name, nl) != 0 || (name[nl] != ' ' && name[nl] != '\0'))
        return 0;
    snprintf(f->owner, f->cap, "%s", l->owner);
    return 1;
}

int restore_lease_find(repo *r, const char *cluster, const char *tag, bool *found, char *owner,
                       size_t cap, cairn_err *e)
{
    char name[512];
    snprintf(name, sizeof(name), "%s/%s", cluster, tag);
    struct find_ctx f = {name, owner, cap};
    int rc = repo_lease_each(r, find_cb, &f, e);
    *found = rc == 1;
    return rc < 0 ? rc : 0;
}
