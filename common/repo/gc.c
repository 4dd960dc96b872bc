#include "repo/gc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "repo/blob.h"
#include "repo/bloom.h"
#include "repo/manifest.h"
#include "repo/scan.h"

struct gc {
    repo *r;
    const gc_options *o;
    gc_result *res;
    bloom *marks;
    int64_t cutoff_ms; /* objects last put before this, by the store's clock, may go */
    int64_t next_renew;
    scan_deleter del;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Renews the lease when due: a purge that lost its lease must stop, since a backup
 * may have started meanwhile. */
static int keepalive(struct gc *g, cairn_err *e)
{
    if (!g->o->lease || mono_ms() < g->next_renew)
        return 0;
    int rc = repo_lease_renew(g->o->lease, e);
    if (rc)
        return err_prefix(e, "purge stopped");
    g->next_renew = mono_ms() + g->o->renew_ms;
    return 0;
}

static int count_backup(void *ctx, const scan_backup *b, cairn_err *e)
{
    struct gc *g = ctx;
    if (!b->complete)
        return 0;
    Cairn__Repo__ClusterManifest *m;
    int rc = manifest_cluster_read(g->r, b->key, &m, e);
    if (rc == CAIRN_ENOENT) { /* deleted since the listing: it references nothing now */
        err_clear(e);
        return 0;
    }
    if (rc)
        return err_prefix(e,
                          "cannot read %s, so the blobs it references are unknown; nothing "
                          "was deleted (run `cairn verify`)",
                          b->key);
    g->res->referenced_entries++; /* the schema blob */
    for (size_t i = 0; i < m->n_nodes; i++)
        g->res->referenced_entries += m->nodes[i]->files;
    cairn__repo__cluster_manifest__free_unpacked(m, NULL);
    return keepalive(g, e);
}

static int mark_table(void *ctx, const Cairn__Repo__TableEntry *t, cairn_err *e)
{
    struct gc *g = ctx;
    for (size_t i = 0; i < t->n_files; i++) {
        const Cairn__Repo__FileEntry *f = t->files[i];
        if (f->blob && blob_id_valid(f->blob)) {
            bloom_add(g->marks, f->blob);
            g->res->referenced_entries++;
        }
        /* The pack is marked whatever its place says: an entry too damaged to read
         * from must still not lose the pack that may be the only copy of its bytes. */
        if (f->pack && blob_id_valid(f->pack))
            bloom_add(g->marks, f->pack);
    }
    return keepalive(g, e);
}

/* True only when the cluster manifest at key is certainly absent now. */
static bool gone(struct gc *g, const char *key)
{
    cairn_err he;
    return repo_manifest_stat(g->r, key, NULL, &he) == CAIRN_ENOENT;
}

static int mark_backup(void *ctx, const scan_backup *b, cairn_err *e)
{
    struct gc *g = ctx;
    if (!b->complete)
        return 0;
    Cairn__Repo__ClusterManifest *m;
    int rc = manifest_cluster_read(g->r, b->key, &m, e);
    if (rc == CAIRN_ENOENT) {
        err_clear(e);
        return 0;
    }
    if (rc)
        return err_prefix(e, "cannot read %s; nothing was deleted", b->key);
    if (m->schema_blob && blob_id_valid(m->schema_blob)) {
        bloom_add(g->marks, m->schema_blob);
        g->res->referenced_entries++;
    }
    for (size_t i = 0; !rc && i < m->n_nodes; i++) {
        const Cairn__Repo__NodeRef *n = m->nodes[i];
        Cairn__Repo__NodeManifest *h = NULL;
        rc = manifest_node_read(g->r, n->manifest_key, n->manifest_sha256, &h, mark_table, g, e);
        if (rc == CAIRN_ENOENT && gone(g, b->key)) {
            err_clear(e); /* the whole backup was deleted meanwhile */
            rc = 0;
            if (h)
                cairn__repo__node_manifest__free_unpacked(h, NULL);
            break;
        }
        if (rc)
            err_prefix(e,
                       "backup %s/%s: cannot read node manifest %s, so the blobs it references "
                       "are unknown; nothing was deleted (run `cairn verify`, then delete the "
                       "damaged backup)",
                       b->cluster, b->tag, n->manifest_key);
        if (h)
            cairn__repo__node_manifest__free_unpacked(h, NULL);
        g->res->node_manifests++;
    }
    g->res->backups++;
    cairn__repo__cluster_manifest__free_unpacked(m, NULL);
    return rc;
}

static int removed(struct gc *g, gc_kind kind, const char *key, uint64_t size, cairn_err *e)
{
    if (g->o->on_removed)
        g->o->on_removed(g->o->ctx, kind, key, size);
    if (g->o->dry_run)
        return 0;
    int rc = scan_delete_add(&g->del, key, e);
    return rc ? rc : keepalive(g, e);
}

/* Unknown times (-1) are never old enough: when in doubt, keep. */
static bool past_grace(const struct gc *g, int64_t mtime_ms)
{
    return mtime_ms >= 0 && mtime_ms < g->cutoff_ms;
}

/* A listed blob or pack (id, at key): kept when marked or inside the grace period,
 * counted in *young then, else removed and counted in *gone and *gone_bytes. */
static int sweep_object(struct gc *g, gc_kind kind, const char *id, const char *key, uint64_t size,
                        int64_t mtime_ms, uint64_t *young, uint64_t *gone, uint64_t *gone_bytes,
                        cairn_err *e)
{
    if (bloom_has(g->marks, id))
        return 0;
    if (!past_grace(g, mtime_ms)) {
        (*young)++;
        return 0;
    }
    (*gone)++;
    *gone_bytes += size;
    return removed(g, kind, key, size, e);
}

static int sweep_blob(void *ctx, const char *id, uint64_t size, int64_t mtime_ms, cairn_err *e)
{
    struct gc *g = ctx;
    gc_result *res = g->res;
    res->blobs++;
    res->blob_bytes += size;
    char key[128];
    repo_blob_key(id, key, sizeof(key));
    return sweep_object(g, GC_BLOB, id, key, size, mtime_ms, &res->blobs_young, &res->blobs_removed,
                        &res->blob_bytes_removed, e);
}

/* A pack is marked when any member is referenced, and then kept whole: packs are not
 * repacked, so its unreferenced members stay until the last referenced one goes. */
static int sweep_pack(void *ctx, const char *id, uint64_t size, int64_t mtime_ms, cairn_err *e)
{
    struct gc *g = ctx;
    gc_result *res = g->res;
    res->packs++;
    res->pack_bytes += size;
    char key[128];
    repo_pack_key(id, key, sizeof(key));
    return sweep_object(g, GC_PACK, id, key, size, mtime_ms, &res->packs_young, &res->packs_removed,
                        &res->pack_bytes_removed, e);
}

static int sweep_incomplete(void *ctx, const scan_backup *b, cairn_err *e)
{
    struct gc *g = ctx;
    if (b->complete)
        return 0;
    if (!past_grace(g, b->mtime_ms)) {
        g->res->incomplete_young++;
        return 0;
    }
    g->res->manifests_removed++;
    g->res->manifest_bytes_removed += b->size;
    return removed(g, GC_MANIFEST, b->key, b->size, e);
}

static int sweep_leftover(void *ctx, const store_entry *ent, cairn_err *e)
{
    struct gc *g = ctx;
    g->res->leftovers_removed++;
    g->res->leftover_bytes_removed += ent->size;
    if (g->o->on_removed)
        g->o->on_removed(g->o->ctx, GC_LEFTOVER, ent->key, ent->size);
    return keepalive(g, e);
}

static int mark(struct gc *g, cairn_err *e)
{
    int rc = scan_backups(g->r, NULL, count_backup, g, e);
    if (rc)
        return rc;
    /* An entry may add its pack besides its blob, and a pack has at least one member,
     * so twice the entries bounds the distinct ids (format 1 fills half of that). */
    rc = bloom_new(&g->marks, 2 * g->res->referenced_entries, GC_BLOOM_FP, GC_BLOOM_MAX_BYTES, e);
    if (rc)
        return rc;
    g->res->bloom_bytes = bloom_bytes(g->marks);
    /* The first pass's count sized the filter; what is reported is what the second
     * actually put in it (a node manifest whose entries were read, a backup deleted
     * in between); the false-positive rate is measured on the filter. */
    g->res->referenced_entries = 0;
    rc = scan_backups(g->r, NULL, mark_backup, g, e);
    g->res->bloom_fp = bloom_fp(g->marks);
    return rc;
}

int gc_purge(repo *r, const gc_options *o, gc_result *res, cairn_err *e)
{
    memset(res, 0, sizeof(*res));
    struct gc g = {.r = r, .o = o, .res = res, .del = {.r = r}};
    g.cutoff_ms = o->store_now_ms < 0 ? -1 : o->store_now_ms - o->grace_ms;
    g.next_renew = mono_ms() + o->renew_ms;
    int rc = mark(&g, e);
    /* Blobs and packs first: an incomplete backup's manifests go after, so a purge
     * killed in between leaves nothing that references a missing blob and is listed. */
    if (!rc)
        rc = scan_blobs(r, sweep_blob, &g, e);
    if (!rc)
        rc = scan_packs(r, sweep_pack, &g, e);
    if (!rc)
        rc = scan_delete_flush(&g.del, e);
    if (!rc)
        rc = scan_backups(r, NULL, sweep_incomplete, &g, e);
    if (!rc)
        rc = scan_delete_flush(&g.del, e);
    if (!rc && g.cutoff_ms >= 0)
        rc = scan_stale(r, g.cutoff_ms, !o->dry_run, sweep_leftover, &g, e);
    scan_delete_free(&g.del);
    bloom_free(g.marks);
    return rc;
}
