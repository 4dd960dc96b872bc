#include "request.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repo/blob.h"
#include "repo/repo.h"
#include "scylla/names.h"

/* As many increments as BACKUP_PARENT_LINKS_MAX lets the coordinator name. */
#define UPLOAD_KNOWN_MAX 4096

static int check_table(const Cairn__Rpc__Table *t, cairn_err *e)
{
    int rc = name_check_table(t->keyspace, t->name, e);
    if (!rc && t->id && *t->id)
        rc = name_check(NAME_TABLE_ID, t->id, e);
    return rc;
}

typedef struct keyed {
    const char *keyspace, *name;
    size_t index;
} keyed;

static int keyed_cmp(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    int c = strcmp(x->keyspace, y->keyspace);
    if (!c)
        c = strcmp(x->name, y->name);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* Sorts (keyspace, name, index) of n tables, so repeats sit next to each other with
 * the first one first. */
static keyed *sorted_keys(size_t n, const char *(*ks)(const void *, size_t),
                          const char *(*nm)(const void *, size_t), const void *tables)
{
    keyed *k = malloc((n ? n : 1) * sizeof(*k));
    if (!k)
        return NULL;
    for (size_t i = 0; i < n; i++)
        k[i] = (keyed){ks(tables, i), nm(tables, i), i};
    qsort(k, n, sizeof(*k), keyed_cmp);
    return k;
}

static const char *table_ks(const void *t, size_t i)
{
    return ((Cairn__Rpc__Table *const *)t)[i]->keyspace;
}

static const char *table_nm(const void *t, size_t i)
{
    return ((Cairn__Rpc__Table *const *)t)[i]->name;
}

static const char *id_of(const Cairn__Rpc__Table *t)
{
    return t->id && *t->id ? t->id : NULL;
}

/* Checks the tables and drops every repeat of one named before, keeping the order. */
static int tables_dedupe(Cairn__Rpc__Table **t, size_t *n, cairn_err *e)
{
    if (*n > REQUEST_MAX_TABLES)
        return err_set(e, CAIRN_EINVAL, "request names %zu tables, at most %u are allowed", *n,
                       REQUEST_MAX_TABLES);
    for (size_t i = 0; i < *n; i++) {
        int rc = check_table(t[i], e);
        if (rc)
            return rc;
    }
    keyed *k = sorted_keys(*n, table_ks, table_nm, t);
    bool *drop = calloc(*n ? *n : 1, sizeof(bool));
    if (!k || !drop) {
        free(k);
        free(drop);
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    }
    int rc = 0;
    size_t first = 0;
    const char *gid = *n ? id_of(t[k[0].index]) : NULL; /* the id the group names, if any */
    for (size_t i = 1; !rc && i < *n; i++) {
        if (strcmp(k[i].keyspace, k[first].keyspace) || strcmp(k[i].name, k[first].name)) {
            first = i;
            gid = id_of(t[k[i].index]);
            continue;
        }
        const char *b = id_of(t[k[i].index]);
        if (b && !gid)
            gid = b;
        if (b && strcmp(gid, b) != 0) {
            rc = err_set(e, CAIRN_EINVAL, "table %s.%s is named twice with different table ids",
                         k[i].keyspace, k[i].name);
            break;
        }
        drop[k[i].index] = true;
    }
    free(k);
    if (!rc) { /* freed only now: gid may point into a repeat */
        size_t m = 0;
        for (size_t i = 0; i < *n; i++) {
            if (drop[i])
                cairn__rpc__table__free_unpacked(t[i], NULL);
            else
                t[m++] = t[i];
        }
        *n = m;
    }
    free(drop);
    return rc;
}

static const char *restore_ks(const void *t, size_t i)
{
    return ((Cairn__Rpc__RestoreTable *const *)t)[i]->keyspace;
}

static const char *restore_nm(const void *t, size_t i)
{
    return ((Cairn__Rpc__RestoreTable *const *)t)[i]->name;
}

static int check_restore(const Cairn__Rpc__RestoreRequest *rq, cairn_err *e)
{
    if (rq->n_tables > REQUEST_MAX_TABLES)
        return err_set(e, CAIRN_EINVAL, "request names %zu tables, at most %u are allowed",
                       rq->n_tables, REQUEST_MAX_TABLES);
    size_t files = 0;
    for (size_t i = 0; i < rq->n_tables; i++) {
        const Cairn__Rpc__RestoreTable *t = rq->tables[i];
        /* File names and blob ids are checked by the restore job before each use. */
        int rc = name_check_table(t->keyspace, t->name, e);
        if (rc)
            return rc;
        files += t->n_files;
    }
    if (files > REQUEST_MAX_FILES)
        return err_set(e, CAIRN_EINVAL, "request names %zu files, at most %u are allowed", files,
                       REQUEST_MAX_FILES);
    keyed *k = sorted_keys(rq->n_tables, restore_ks, restore_nm, rq->tables);
    if (!k)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    int rc = 0;
    for (size_t i = 1; !rc && i < rq->n_tables; i++)
        if (!strcmp(k[i].keyspace, k[i - 1].keyspace) && !strcmp(k[i].name, k[i - 1].name))
            rc = err_set(e, CAIRN_EINVAL,
                         "restore request names table %s.%s twice: one entry per table",
                         k[i].keyspace, k[i].name);
    free(k);
    return rc;
}

/* Whether the part of key up to end is a valid name of kind. */
static bool key_part_valid(name_kind kind, const char *key, const char *end)
{
    char part[256]; /* longer than any name */
    size_t len = (size_t)(end - key);
    if (len >= sizeof(part))
        return false;
    memcpy(part, key, len);
    part[len] = '\0';
    return name_valid(kind, part);
}

/* A manifest the network names is read, and for a prune acted on: it must be a node
 * manifest of the request's cluster, backups/<cluster>/<tag>/nodes/<host id>.manifest,
 * with the SHA-256 it is checked by. */
static bool node_manifest_ref(const char *cluster, const char *key, const char *sha)
{
    static const char nodes[] = "/nodes/", sfx[] = ".manifest";
    char prefix[512];
    snprintf(prefix, sizeof(prefix), REPO_BACKUPS_PREFIX "%s/", cluster);
    if (!key || !sha || !blob_id_valid(sha) || strncmp(key, prefix, strlen(prefix)) != 0)
        return false;
    const char *tag = key + strlen(prefix), *n = strstr(tag, nodes);
    if (!n || !key_part_valid(NAME_TAG, tag, n))
        return false;
    const char *host = n + strlen(nodes);
    size_t hl = strlen(host), sl = strlen(sfx);
    return hl > sl && strcmp(host + hl - sl, sfx) == 0 &&
           key_part_valid(NAME_HOST_ID, host, host + hl - sl);
}

static int check_upload(const char *cluster, Cairn__Rpc__UploadRequest *rq, cairn_err *e)
{
    const char *key = rq->parent_manifest_key, *sha = rq->parent_manifest_sha256;
    if ((key || sha) && !node_manifest_ref(cluster, key, sha))
        return err_set(e, CAIRN_EINVAL,
                       "the parent manifest of the upload request is not a node manifest of "
                       "cluster %s with its SHA-256",
                       cluster);
    if (rq->n_known_increments > UPLOAD_KNOWN_MAX || (rq->n_known_increments && !key))
        return err_set(e, CAIRN_EINVAL,
                       "the upload request names %zu increments' manifests without a parent or "
                       "beyond %d",
                       rq->n_known_increments, UPLOAD_KNOWN_MAX);
    for (size_t i = 0; i < rq->n_known_increments; i++)
        if (!node_manifest_ref(cluster, rq->known_increments[i]->key,
                               rq->known_increments[i]->sha256))
            return err_set(e, CAIRN_EINVAL,
                           "known increment %zu of the upload request is not a node manifest of "
                           "cluster %s with its SHA-256",
                           i, cluster);
    return tables_dedupe(rq->tables, &rq->n_tables, e);
}

static int check_prune(const char *cluster, Cairn__Rpc__PruneBackupsRequest *rq, cairn_err *e)
{
    if (!node_manifest_ref(cluster, rq->manifest_key, rq->manifest_sha256))
        return err_set(e, CAIRN_EINVAL,
                       "the manifest of the prune request is not a node manifest of cluster %s "
                       "with its SHA-256",
                       cluster);
    return tables_dedupe(rq->views, &rq->n_views, e);
}

int request_check(Cairn__Rpc__Request *rq, cairn_err *e)
{
    switch (rq->op_case) {
    case CAIRN__RPC__REQUEST__OP_FLUSH:
        return tables_dedupe(rq->flush->tables, &rq->flush->n_tables, e);
    case CAIRN__RPC__REQUEST__OP_SNAPSHOT:
        return tables_dedupe(rq->snapshot->tables, &rq->snapshot->n_tables, e);
    case CAIRN__RPC__REQUEST__OP_UPLOAD:
        return check_upload(rq->cluster, rq->upload, e);
    case CAIRN__RPC__REQUEST__OP_PRUNE_BACKUPS:
        return check_prune(rq->cluster, rq->prune_backups, e);
    case CAIRN__RPC__REQUEST__OP_RESTORE:
        return check_restore(rq->restore, e);
    case CAIRN__RPC__REQUEST__OP_APPLY_SCHEMA:
        for (size_t i = 0; i < rq->apply_schema->n_keyspaces; i++) {
            int rc = name_check(NAME_KEYSPACE, rq->apply_schema->keyspaces[i], e);
            if (rc)
                return rc;
        }
        return 0;
    default:
        return 0;
    }
}
