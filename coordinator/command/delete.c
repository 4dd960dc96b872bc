/*
 * delete - `cairn delete TAG...` and the removal of one backup that expire shares.
 *
 * Order matters: the cluster manifest goes first, so a run killed halfway leaves at
 * most node manifests without a backup, which nothing lists or restores and which a
 * second `cairn delete TAG` finishes removing. A restore holds a lease naming its
 * tag (restore_lease.h), and so does a running backup: such a tag is refused (a
 * backup would write its cluster manifest after we removed its node manifests); a
 * restore that starts in the same
 * instant fails on the missing manifests rather than restoring half a backup.
 *
 * An increment restores with every backup before it in its chain, so `cairn delete`
 * removes a backup only together with the increments that need it, newest first: a
 * run stopped halfway leaves a shorter chain, never an increment without its base.
 * The same rule keeps the chain of an increment being restored: its lease refuses the
 * increment, and with it every backup that the increment needs.
 */
#include "command/delete.h"

#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli/cliopt.h"
#include "cli/cmdhelp.h"
#include "cmd.h"
#include "command/catalog.h"
#include "command/lease_who.h"
#include "scylla/names.h"

typedef struct key_list {
    char **keys;
    size_t n, cap;
} key_list;

static int collect_key(void *ctx, const char *key, uint64_t size, cairn_err *e)
{
    key_list *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        char **k = realloc(l->keys, cap * sizeof(*k));
        if (!k)
            return err_set(e, CAIRN_ENOMEM, "out of memory listing a backup");
        l->keys = k;
        l->cap = cap;
    }
    if (!(l->keys[l->n] = strdup(key)))
        return err_set(e, CAIRN_ENOMEM, "out of memory listing a backup");
    l->n++;
    return 0;
}

static void key_list_free(key_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->keys[i]);
    free(l->keys);
}

int delete_backup(repo *r, const char *cluster, const char *tag, delete_result *res, cairn_err *e)
{
    memset(res, 0, sizeof(*res));
    if (!name_valid(NAME_TAG, tag))
        return err_set(e, CAIRN_EINVAL, "invalid tag '%s'", tag);
    char owner[512], key[1024], prefix[512];
    bool busy = false;
    int rc = lease_who_restore(r, cluster, tag, &busy, owner, sizeof(owner), e);
    if (rc)
        return rc;
    if (busy)
        return err_set(e, CAIRN_EBUSY,
                       "backup %s is being restored ('%s'): wait until the restore finishes", tag,
                       owner);
    /* A running backup would write its cluster manifest over what we removed. */
    if ((rc = lease_who_backup(r, cluster, tag, &busy, owner, sizeof(owner), e)) != 0)
        return rc;
    if (busy)
        return err_set(e, CAIRN_EBUSY,
                       "backup %s is running ('%s'): wait until it finishes, then delete it", tag,
                       owner);
    repo_cluster_manifest_key(cluster, tag, key, sizeof(key));
    rc = repo_manifest_stat(r, key, NULL, e);
    if (rc && rc != CAIRN_ENOENT)
        return rc;
    err_clear(e);
    if (rc == 0) {
        if ((rc = repo_manifest_delete(r, key, e)) != 0)
            return err_prefix(e, "cannot delete the cluster manifest of backup %s", tag);
        res->complete = true;
    }
    /* The rest under the tag: one key per node, so holding them is bounded. */
    snprintf(prefix, sizeof(prefix), REPO_BACKUPS_PREFIX "%s/%s/", cluster, tag);
    key_list l = {0};
    rc = repo_manifest_list(r, prefix, collect_key, &l, e);
    for (size_t i = 0; !rc && i < l.n; i++) {
        if ((rc = repo_manifest_delete(r, l.keys[i], e)) != 0)
            err_prefix(e,
                       "backup %s: its cluster manifest is gone, but %s is left: run "
                       "`cairn delete %s` again",
                       tag, l.keys[i], tag);
        else
            res->objects++;
    }
    key_list_free(&l);
    if (!rc && !res->complete && res->objects == 0)
        rc = err_set(e, CAIRN_ENOENT, "no backup tagged %s of cluster %s (see `cairn list`)", tag,
                     cluster);
    return rc;
}

/* A tag of the command line and the backups of the repository that need it. */
typedef struct delete_req {
    const char *tag;
    size_t pos;       /* in the catalog, newest first; SIZE_MAX: not a complete backup */
    char **needed_by; /* increments whose previous backup this is */
    size_t n_needed;
    bool deleted;
} delete_req;

struct plan_ctx {
    delete_req *reqs;
    size_t n, pos;
};

static delete_req *plan_find(delete_req *reqs, size_t n, const char *tag)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(reqs[i].tag, tag) == 0)
            return &reqs[i];
    return NULL;
}

static int plan_collect(void *ctx, const char *tag, const Cairn__Repo__ClusterManifest *m,
                        cairn_err *e)
{
    struct plan_ctx *p = ctx;
    delete_req *q = plan_find(p->reqs, p->n, tag);
    if (q)
        q->pos = p->pos;
    p->pos++;
    if (!m->previous_tag || !(q = plan_find(p->reqs, p->n, m->previous_tag)))
        return 0;
    char **nb = realloc(q->needed_by, (q->n_needed + 1) * sizeof(*nb));
    if (!nb || !(nb[q->n_needed] = strdup(tag))) {
        if (nb)
            q->needed_by = nb;
        return err_set(e, CAIRN_ENOMEM, "out of memory listing the backups");
    }
    q->needed_by = nb;
    q->n_needed++;
    return 0;
}

static int by_catalog_order(const void *a, const void *b)
{
    const delete_req *x = a, *y = b;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static void delete_plan_free(delete_req *reqs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < reqs[i].n_needed; j++)
            free(reqs[i].needed_by[j]);
        free(reqs[i].needed_by);
    }
    free(reqs);
}

/* The distinct tags, newest first (an increment before the backup it needs), each with
 * the increments that need it; tags that are no complete backup come last. */
static int delete_plan(repo *r, const char *cluster, char **tags, size_t ntags, delete_req **out,
                       size_t *n, cairn_err *e)
{
    *out = NULL;
    *n = 0;
    delete_req *reqs = calloc(ntags ? ntags : 1, sizeof(*reqs));
    if (!reqs)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    struct plan_ctx p = {reqs, 0, 0};
    for (size_t i = 0; i < ntags; i++)
        if (!plan_find(reqs, p.n, tags[i]))
            reqs[p.n++] = (delete_req){.tag = tags[i], .pos = SIZE_MAX};
    int rc = catalog_each(r, cluster, plan_collect, &p, e);
    if (rc) {
        delete_plan_free(reqs, p.n);
        return err_prefix(e, "cannot list the backups to see which increments need what is "
                             "deleted");
    }
    qsort(reqs, p.n, sizeof(*reqs), by_catalog_order);
    *out = reqs;
    *n = p.n;
    return 0;
}

/* 0 when every increment that needs q is deleted already; else why q must stay. */
static int delete_needed(delete_req *reqs, size_t n, const delete_req *q, cairn_err *e)
{
    for (size_t i = 0; i < q->n_needed; i++) {
        const char *d = q->needed_by[i];
        const delete_req *dq = plan_find(reqs, n, d);
        if (!dq)
            return err_set(e, CAIRN_EBUSY,
                           "backup %s is needed by increment %s (an increment restores with "
                           "every backup before it in its chain): delete %s as well (`cairn "
                           "delete %s %s`), or keep %s",
                           q->tag, d, d, d, q->tag, q->tag);
        if (!dq->deleted)
            return err_set(e, CAIRN_EBUSY,
                           "backup %s is not deleted: increment %s, which needs it, was not "
                           "deleted",
                           q->tag, d);
    }
    return 0;
}

typedef struct delete_opts {
    cliopt_common c;
    bool yes;
} delete_opts;

static int take_option(void *arg, int c, const char *val)
{
    (void)val;
    ((delete_opts *)arg)->yes = c == 'y';
    return 0;
}

/* On a terminal, asks; elsewhere refuses, since nobody can answer. */
static int confirm(const coord_config *cfg, int n, char **tags)
{
    if (!isatty(STDIN_FILENO)) {
        fprintf(stderr, "cairn delete: not asking for confirmation without a terminal: pass "
                        "--yes to delete\n");
        return CMD_USAGE;
    }
    fprintf(stderr, "delete %d backup%s of cluster %s from %s:", n, n == 1 ? "" : "s", cfg->cluster,
            cfg->repository);
    for (int i = 0; i < n; i++)
        fprintf(stderr, " %s", tags[i]);
    fprintf(stderr, "\ntype 'yes' to delete: ");
    char line[16];
    if (!fgets(line, sizeof(line), stdin) || strcmp(line, "yes\n") != 0) {
        fprintf(stderr, "cairn delete: nothing deleted\n");
        return CMD_FAILED;
    }
    return 0;
}

static json_object *result_json(const char *tag, const delete_result *res, int rc,
                                const cairn_err *e)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "tag", json_object_new_string(tag));
    json_object_object_add(o, "deleted", json_object_new_boolean(rc == 0));
    json_object_object_add(o, "complete", json_object_new_boolean(res->complete));
    json_object_object_add(o, "objects", json_object_new_int64((int64_t)res->objects));
    if (rc)
        json_object_object_add(o, "error", json_object_new_string(e->msg));
    if (rc == CAIRN_ENOENT)
        json_object_object_add(o, "missing", json_object_new_boolean(1));
    return o;
}

int cmd_delete(const coord_config *cfg, int argc, char **argv)
{
    static const struct option opts[] = {{"yes", no_argument, NULL, 'y'}, {NULL, 0, NULL, 0}};
    delete_opts o;
    memset(&o, 0, sizeof(o));
    int rc = cliopt_parse("delete", opts, take_option, &o, &o.c, argc, argv);
    cliopt_common_free(&o.c);
    if (rc)
        return rc < 0 ? CMD_OK : rc;
    if (optind >= argc) {
        fprintf(stderr, "cairn delete: name the TAG of at least one backup\n");
        cmdhelp_print_name(stderr, "delete");
        return CMD_USAGE;
    }
    cairn_err ce;
    if (coord_config_need_repository(cfg, &ce)) {
        fprintf(stderr, "cairn delete: %s\n", ce.msg);
        return CMD_USAGE;
    }
    if (!o.yes && (rc = confirm(cfg, argc - optind, argv + optind)) != 0)
        return rc;
    cairn_err e;
    err_clear(&e);
    repo *r = NULL;
    if (repo_open(&r, cfg->repository, cfg->store, false, &e) != 0) {
        fprintf(stderr, "cairn delete: %s\n", e.msg);
        return CMD_FAILED;
    }
    json_object *arr = o.c.json ? json_object_new_array() : NULL;
    int status = CMD_OK;
    delete_req *reqs = NULL;
    size_t n = 0;
    if (delete_plan(r, cfg->cluster, argv + optind, (size_t)(argc - optind), &reqs, &n, &e) != 0) {
        fprintf(stderr, "cairn delete: %s\n", e.msg);
        status = CMD_FAILED;
    }
    for (size_t i = 0; i < n; i++) {
        delete_result res;
        memset(&res, 0, sizeof(res));
        err_clear(&e);
        rc = delete_needed(reqs, n, &reqs[i], &e);
        if (!rc)
            rc = delete_backup(r, cfg->cluster, reqs[i].tag, &res, &e);
        reqs[i].deleted = rc == 0;
        if (rc) {
            status = CMD_FAILED;
            fprintf(stderr, "cairn delete: %s\n", e.msg);
        } else if (!o.c.json) {
            printf("deleted %s%s (%zu more objects)\n", reqs[i].tag,
                   res.complete ? "" : " (leftovers of an incomplete backup)", res.objects);
        }
        if (arr)
            json_object_array_add(arr, result_json(reqs[i].tag, &res, rc, &e));
    }
    delete_plan_free(reqs, n);
    if (arr) {
        printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY));
        json_object_put(arr);
    }
    if (status == CMD_OK && !o.c.json)
        printf("blobs stay until `cairn purge` removes those no backup references\n");
    repo_close(r);
    return status;
}
