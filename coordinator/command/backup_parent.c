#include "command/backup_parent.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repo/manifest.h"

#define CLUSTER_MANIFEST_SUFFIX "/backup.manifest"

struct backup_parent {
    Cairn__Repo__ClusterManifest *m;
};

/* The listing is in key order, so a backup's damaged marker comes right after its
 * cluster manifest ("backup.manifest" < "damaged", and no key of the tag between):
 * a candidate is kept pending until the next key shows it is not damaged. */
typedef struct newest {
    char key[1024], pending[1024];
    int64_t mtime_ms, pending_ms;
    const char *taken_key; /* the new backup's cluster manifest */
    bool taken;
} newest;

/* Without timestamps (-1) the last key listed stands in: any complete backup is a
 * correct parent, the newest only the cheapest. */
static void settle(newest *n)
{
    if (n->pending[0] && (!n->key[0] || n->pending_ms >= n->mtime_ms)) {
        memcpy(n->key, n->pending, sizeof(n->key));
        n->mtime_ms = n->pending_ms;
    }
    n->pending[0] = '\0';
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
    size_t sl = strlen(suffix);
    return len > sl && strcmp(s + len - sl, suffix) == 0;
}

static int consider(void *ctx, const store_entry *ent, cairn_err *e)
{
    (void)e;
    newest *n = ctx;
    size_t len = strlen(ent->key);
    if (n->pending[0] && ends_with(ent->key, len, "/" REPO_DAMAGED_NAME)) {
        /* The tag's directory, with its '/'. */
        size_t dl = strlen(n->pending) - strlen(CLUSTER_MANIFEST_SUFFIX) + 1;
        if (len == dl + strlen(REPO_DAMAGED_NAME) && strncmp(ent->key, n->pending, dl) == 0) {
            n->pending[0] = '\0'; /* damaged: blobs it names may be gone */
            return 0;
        }
    }
    settle(n);
    if (strcmp(ent->key, n->taken_key) == 0)
        n->taken = true;
    if (len < sizeof(n->pending) && ends_with(ent->key, len, CLUSTER_MANIFEST_SUFFIX)) {
        memcpy(n->pending, ent->key, len + 1);
        n->pending_ms = ent->mtime_ms;
    }
    return 0;
}

int backup_parent_find(repo *r, const char *cluster, const char *tag, bool full,
                       backup_parent **out, bool *tag_taken, cairn_err *e)
{
    *out = NULL;
    char prefix[512], taken[1024];
    snprintf(prefix, sizeof(prefix), REPO_BACKUPS_PREFIX "%s/", cluster);
    repo_cluster_manifest_key(cluster, tag, taken, sizeof(taken));
    newest n = {.mtime_ms = -1, .taken_key = taken};
    int rc = repo_manifest_list_ex(r, prefix, consider, &n, e);
    settle(&n);
    *tag_taken = n.taken;
    if (rc || !n.key[0])
        return rc;
    backup_parent *p = calloc(1, sizeof(*p));
    if (!p)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    rc = manifest_cluster_read(r, n.key, &p->m, e);
    /* An increment's node manifests hold its new SSTables only: a full backup takes
     * its base instead, whose node manifests name every file of its snapshot. */
    if (!rc && full && p->m->base_tag) {
        repo_cluster_manifest_key(cluster, p->m->base_tag, n.key, sizeof(n.key));
        cairn__repo__cluster_manifest__free_unpacked(p->m, NULL);
        p->m = NULL;
        rc = manifest_cluster_read(r, n.key, &p->m, e);
    }
    if (rc) {
        backup_parent_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

const char *backup_parent_base(const backup_parent *p)
{
    return p->m->base_tag ? p->m->base_tag : p->m->tag;
}

const char *backup_parent_tag(const backup_parent *p)
{
    return p->m->tag;
}

const char *backup_parent_schema(const backup_parent *p)
{
    return p->m->schema_blob;
}

const Cairn__Repo__NodeRef *backup_parent_node(const backup_parent *p, const char *host_id)
{
    for (size_t i = 0; p && i < p->m->n_nodes; i++)
        if (strcmp(p->m->nodes[i]->host_id, host_id) == 0)
            return p->m->nodes[i];
    return NULL;
}

void backup_parent_free(backup_parent *p)
{
    if (!p)
        return;
    if (p->m)
        cairn__repo__cluster_manifest__free_unpacked(p->m, NULL);
    free(p);
}
