#include "command/backup_parent.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "command/chain.h"
#include "repo/manifest.h"

#define CLUSTER_MANIFEST_SUFFIX "/backup.manifest"

/* One node's known_increments, built when its upload request is. */
typedef struct node_links {
    Cairn__Rpc__ManifestRef *refs, **ptrs;
    struct node_links *next;
} node_links;

struct backup_parent {
    Cairn__Repo__ClusterManifest *m; /* for a full backup after increments: their base */
    /* Then also chain_load's chain, base to newest (m is chain[0]), and newest itself. */
    Cairn__Repo__ClusterManifest **chain, *newest;
    size_t n_chain;
    char **damaged; /* tags the listing found marked damaged */
    size_t n_damaged;
    node_links *links;
};

/* The listing is in key order, so a backup's damaged marker comes right after its
 * cluster manifest ("backup.manifest" < "damaged", and no key of the tag between):
 * a candidate is kept pending until the next key shows it is not damaged. */
typedef struct newest {
    char key[1024], pending[1024];
    int64_t mtime_ms, pending_ms;
    const char *taken_key; /* the new backup's cluster manifest */
    bool taken;
    backup_parent *p; /* collects the damaged tags */
    const char *prefix;
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

/* backups/<cluster>/<tag>/damaged: no link of that tag is taken as known. */
static int note_damaged(newest *n, const char *key, size_t len, cairn_err *e)
{
    size_t pl = strlen(n->prefix), tl = len - pl - strlen("/" REPO_DAMAGED_NAME);
    if (len <= pl + strlen("/" REPO_DAMAGED_NAME) || memchr(key + pl, '/', tl))
        return 0;
    char **d = realloc(n->p->damaged, (n->p->n_damaged + 1) * sizeof(*d));
    if (!d)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    n->p->damaged = d;
    if (!(d[n->p->n_damaged] = strndup(key + pl, tl)))
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    n->p->n_damaged++;
    return 0;
}

static int consider(void *ctx, const store_entry *ent, cairn_err *e)
{
    newest *n = ctx;
    size_t len = strlen(ent->key);
    if (n->pending[0] && ends_with(ent->key, len, "/" REPO_DAMAGED_NAME)) {
        /* The tag's directory, with its '/'. */
        size_t dl = strlen(n->pending) - strlen(CLUSTER_MANIFEST_SUFFIX) + 1;
        if (len == dl + strlen(REPO_DAMAGED_NAME) && strncmp(ent->key, n->pending, dl) == 0)
            n->pending[0] = '\0'; /* damaged: blobs it names may be gone */
    }
    if (ends_with(ent->key, len, "/" REPO_DAMAGED_NAME))
        return note_damaged(n, ent->key, len, e);
    settle(n);
    if (strcmp(ent->key, n->taken_key) == 0)
        n->taken = true;
    if (len < sizeof(n->pending) && ends_with(ent->key, len, CLUSTER_MANIFEST_SUFFIX)) {
        memcpy(n->pending, ent->key, len + 1);
        n->pending_ms = ent->mtime_ms;
    }
    return 0;
}

/* A full backup after increments: the chain's base is the parent, and the increments'
 * node manifests name what they hold. A chain that cannot be read costs uploads only. */
static int take_chain(backup_parent *p, repo *r, const char *cluster, cairn_err *e)
{
    cairn_err ce;
    Cairn__Repo__ClusterManifest *last = p->m;
    if (chain_load(r, cluster, last, &p->chain, &p->n_chain, &ce) == 0) {
        p->newest = last;
        p->m = p->chain[0];
        return 0;
    }
    log_warn("%s: what its increments hold is uploaded again", ce.msg);
    char key[1024];
    repo_cluster_manifest_key(cluster, last->base_tag, key, sizeof(key));
    p->m = NULL;
    int rc = manifest_cluster_read(r, key, &p->m, e);
    cairn__repo__cluster_manifest__free_unpacked(last, NULL);
    return rc;
}

int backup_parent_find(repo *r, const char *cluster, const char *tag, bool full,
                       backup_parent **out, bool *tag_taken, cairn_err *e)
{
    *out = NULL;
    char prefix[512], taken[1024];
    snprintf(prefix, sizeof(prefix), REPO_BACKUPS_PREFIX "%s/", cluster);
    repo_cluster_manifest_key(cluster, tag, taken, sizeof(taken));
    backup_parent *p = calloc(1, sizeof(*p));
    if (!p)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    newest n = {.mtime_ms = -1, .taken_key = taken, .p = p, .prefix = prefix};
    int rc = repo_manifest_list_ex(r, prefix, consider, &n, e);
    settle(&n);
    *tag_taken = n.taken;
    if (!rc && n.key[0])
        rc = manifest_cluster_read(r, n.key, &p->m, e);
    /* An increment's node manifests hold its new SSTables only: a full backup takes
     * its base, whose node manifests name every file of its snapshot, and the chain. */
    if (!rc && p->m && full && p->m->base_tag)
        rc = take_chain(p, r, cluster, e);
    if (rc || !p->m) {
        backup_parent_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

static bool damaged(const backup_parent *p, const char *tag)
{
    for (size_t i = 0; i < p->n_damaged; i++)
        if (strcmp(p->damaged[i], tag) == 0)
            return true;
    return false;
}

int backup_parent_links(backup_parent *p, const char *host_id, Cairn__Rpc__ManifestRef ***out,
                        size_t *n, cairn_err *e)
{
    *out = NULL;
    *n = 0;
    if (!p || p->n_chain < 2)
        return 0;
    node_links *l = calloc(1, sizeof(*l));
    size_t cap =
        p->n_chain - 1 < BACKUP_PARENT_LINKS_MAX ? p->n_chain - 1 : BACKUP_PARENT_LINKS_MAX;
    if (!l || !(l->refs = calloc(cap, sizeof(*l->refs))) ||
        !(l->ptrs = calloc(cap, sizeof(*l->ptrs)))) {
        if (l)
            free(l->refs);
        free(l);
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    }
    l->next = p->links;
    p->links = l;
    for (size_t c = p->n_chain - 1; c >= 1 && *n < cap; c--) { /* newest first */
        const Cairn__Repo__ClusterManifest *m = p->chain[c];
        for (size_t i = 0; i < m->n_nodes && !damaged(p, m->tag); i++) {
            if (strcmp(m->nodes[i]->host_id, host_id) != 0)
                continue;
            cairn__rpc__manifest_ref__init(&l->refs[*n]);
            l->refs[*n].key = m->nodes[i]->manifest_key;
            l->refs[*n].sha256 = m->nodes[i]->manifest_sha256;
            l->ptrs[*n] = &l->refs[*n];
            ++*n;
            break;
        }
    }
    *out = l->ptrs;
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
    if (p->chain) { /* m is chain[0] */
        chain_free(p->chain, p->n_chain);
        cairn__repo__cluster_manifest__free_unpacked(p->newest, NULL);
    } else if (p->m) {
        cairn__repo__cluster_manifest__free_unpacked(p->m, NULL);
    }
    for (node_links *l = p->links, *next; l; l = next) {
        next = l->next;
        free(l->refs);
        free(l->ptrs);
        free(l);
    }
    for (size_t i = 0; i < p->n_damaged; i++)
        free(p->damaged[i]);
    free(p->damaged);
    free(p);
}
