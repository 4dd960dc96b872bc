/*
 * restore_lease - see restore_lease.h. The lease lives in this file's state rather
 * than in restore.c's run, so that restore.c needs only a call to take it and one to
 * drop it.
 */
#include "command/restore_lease.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "command/lease_keep.h"
#include "command/lease_who.h"

#define RESTORE_LEASE_TTL_S 120

static lease_keep *held;

int restore_lease_take(repo *r, const char *cluster, const char *tag, cairn_err *e)
{
    char owner[512], host[128] = "?";
    gethostname(host, sizeof(host));
    host[sizeof(host) - 1] = '\0';
    snprintf(owner, sizeof(owner), LEASE_WHO_RESTORE "%s/%s on %s pid %d", cluster, tag, host,
             (int)getpid());
    restore_lease_drop();
    int rc =
        lease_keep_start(&held, r, REPO_LEASE_SHARED, owner, RESTORE_LEASE_TTL_S, "restore", e);
    if (rc == CAIRN_EAUTH) {
        /* Read-only credentials must still be able to restore (disaster recovery often
         * uses them); the backup is then unprotected, which at worst fails the restore
         * if someone deletes it meanwhile, and the operator is told. */
        log_warn("cannot take a restore lease (%s): backup %s is not protected from `cairn "
                 "delete` and purge while it is restored",
                 e->msg, tag);
        err_clear(e);
        return 0;
    }
    return rc ? err_prefix(e, "cannot protect backup %s from deletion while it is restored", tag)
              : 0;
}

void restore_lease_drop(void)
{
    lease_keep_stop(held);
    held = NULL;
}
