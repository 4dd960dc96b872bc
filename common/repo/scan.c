#include "repo/scan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repo/blob.h"
#include "repo/repo_impl.h"
#include "store/store.h"

#define DELETE_BATCH 1000

struct backup_walk {
    const char *cluster;
    scan_backup_cb cb;
    void *ctx;
    /* backups/<cluster>/<tag>/ of the backup being walked, and whether its cluster
     * manifest was seen: "backup.manifest" sorts before "nodes/". */
    char current[STORE_KEY_MAX + 1];
    bool complete;
};

/* Splits backups/<c>/<t>/<rest> in place into its parts; false for other shapes. */
static bool split(char *k, char **c, char **t, char **rest)
{
    *c = k + strlen(REPO_BACKUPS_PREFIX);
    char *s1 = strchr(*c, '/');
    if (!s1)
        return false;
    *s1 = '\0';
    *t = s1 + 1;
    char *s2 = strchr(*t, '/');
    if (!s2)
        return false;
    *s2 = '\0';
    *rest = s2 + 1;
    return **c && **t;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int backup_one(void *arg, const store_entry *ent, cairn_err *e)
{
    struct backup_walk *w = arg;
    char k[STORE_KEY_MAX + 1];
    snprintf(k, sizeof(k), "%s", ent->key);
    char *c, *t, *rest;
    if (!split(k, &c, &t, &rest))
        return 0;
    size_t dirlen = (size_t)(rest - k);
    if (strncmp(ent->key, w->current, dirlen) != 0 || w->current[dirlen] != '\0') {
        memcpy(w->current, ent->key, dirlen);
        w->current[dirlen] = '\0';
        w->complete = false;
    }
    scan_backup b = {c, t, ent->key, false, ent->size, ent->mtime_ms};
    if (strcmp(rest, "backup.manifest") == 0) {
        w->complete = true;
        b.complete = true;
        return w->cb(w->ctx, &b, e);
    }
    if (!w->complete && strncmp(rest, "nodes/", 6) == 0 && !strchr(rest + 6, '/') &&
        ends_with(rest, ".manifest"))
        return w->cb(w->ctx, &b, e);
    return 0;
}

int scan_backups(repo *r, const char *cluster, scan_backup_cb cb, void *ctx, cairn_err *e)
{
    char prefix[STORE_KEY_MAX + 1];
    snprintf(prefix, sizeof(prefix), REPO_BACKUPS_PREFIX "%s%s", cluster ? cluster : "",
             cluster ? "/" : "");
    struct backup_walk w = {.cluster = cluster, .cb = cb, .ctx = ctx};
    return store_list_ex(repo_store(r), prefix, backup_one, &w, e);
}

struct blob_walk {
    scan_blob_cb cb;
    void *ctx;
};

static int blob_one(void *arg, const store_entry *ent, cairn_err *e)
{
    const struct blob_walk *w = arg;
    /* blobs/ab/ab... or packs/ab/ab...: 6 + 3 + 64 */
    const char *k = ent->key;
    if (strlen(k) != 6 + 3 + BLOB_ID_HEX || k[8] != '/' || !blob_id_valid(k + 9) ||
        strncmp(k + 6, k + 9, 2) != 0)
        return 0;
    return w->cb(w->ctx, k + 9, ent->size, ent->mtime_ms, e);
}

int scan_blobs(repo *r, scan_blob_cb cb, void *ctx, cairn_err *e)
{
    struct blob_walk w = {cb, ctx};
    return store_list_ex(repo_store(r), "blobs/", blob_one, &w, e);
}

int scan_packs(repo *r, scan_blob_cb cb, void *ctx, cairn_err *e)
{
    struct blob_walk w = {cb, ctx};
    return store_list_ex(repo_store(r), "packs/", blob_one, &w, e);
}

int scan_delete_add(scan_deleter *d, const char *key, cairn_err *e)
{
    if (!d->keys && !(d->keys = calloc(DELETE_BATCH, sizeof(*d->keys))))
        return err_set(e, CAIRN_ENOMEM, "out of memory deleting objects");
    if (!(d->keys[d->n] = strdup(key)))
        return err_set(e, CAIRN_ENOMEM, "out of memory deleting objects");
    d->n++;
    return d->n == DELETE_BATCH ? scan_delete_flush(d, e) : 0;
}

int scan_delete_flush(scan_deleter *d, cairn_err *e)
{
    if (d->n == 0)
        return 0;
    int rc = store_delete_many(repo_store(d->r), (const char *const *)d->keys, d->n, e);
    for (size_t i = 0; i < d->n; i++)
        free(d->keys[i]);
    d->n = 0;
    return rc;
}

void scan_delete_free(scan_deleter *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->keys[i]);
    free(d->keys);
    d->keys = NULL;
    d->n = 0;
}

int scan_stale(repo *r, int64_t cutoff_ms, bool remove, store_list_ex_cb cb, void *ctx,
               cairn_err *e)
{
    return store_sweep_stale(repo_store(r), cutoff_ms, remove, cb, ctx, e);
}
