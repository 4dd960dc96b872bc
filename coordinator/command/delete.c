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
 */
#include "command/delete.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli/cliopt.h"
#include "cli/cmdhelp.h"
#include "cmd.h"
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
    for (int i = optind; i < argc; i++) {
        delete_result res;
        err_clear(&e);
        rc = delete_backup(r, cfg->cluster, argv[i], &res, &e);
        if (rc) {
            status = CMD_FAILED;
            fprintf(stderr, "cairn delete: %s\n", e.msg);
        } else if (!o.c.json) {
            printf("deleted %s%s (%zu more objects)\n", argv[i],
                   res.complete ? "" : " (leftovers of an incomplete backup)", res.objects);
        }
        if (arr)
            json_object_array_add(arr, result_json(argv[i], &res, rc, &e));
    }
    if (arr) {
        printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY));
        json_object_put(arr);
    }
    if (status == CMD_OK && !o.c.json)
        printf("blobs stay until `cairn purge` removes those no backup references\n");
    repo_close(r);
    return status;
}
