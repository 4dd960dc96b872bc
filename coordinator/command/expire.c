/*
 * expire - `cairn expire [--dry-run] [--json]` and the retention pass after a backup.
 *
 * The complete backups (cluster manifests) with their start times go through the pure
 * policy (retention.h); those it does not keep are removed by delete_backup, the same
 * path as `cairn delete`, newest first, so an increment goes before the backups it
 * needs. A backup a restore is reading (restore lease) is kept this time, with that
 * reason, and so is every backup it needs; the next run deletes them.
 */
#include "command/expire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cli/cliopt.h"
#include "cli/human.h"
#include "cmd.h"
#include "command/catalog.h"
#include "command/delete.h"
#include "command/retention.h"

typedef struct expire_item {
    retention_item it;
    char *tag;
    char *previous; /* an increment's previous backup, which it needs; NULL: none */
    bool deleted;
    char *error; /* why the deletion failed, or NULL */
} expire_item;

typedef struct expire_run {
    expire_item *items;
    size_t n, cap;
    size_t kept, deleted, failed;
} expire_run;

static int collect(void *ctx, const char *tag, const Cairn__Repo__ClusterManifest *m, cairn_err *e)
{
    expire_run *x = ctx;
    if (x->n == x->cap) {
        size_t cap = x->cap ? 2 * x->cap : 64;
        expire_item *p = realloc(x->items, cap * sizeof(*p));
        if (!p)
            return err_set(e, CAIRN_ENOMEM, "out of memory listing the backups");
        x->items = p;
        x->cap = cap;
    }
    expire_item *it = &x->items[x->n];
    memset(it, 0, sizeof(*it));
    if (!(it->tag = strdup(tag)) || (m->previous_tag && !(it->previous = strdup(m->previous_tag))))
        return err_set(e, CAIRN_ENOMEM, "out of memory listing the backups");
    it->it.time_ms = m->start_ms;
    it->it.needs = -1;
    x->n++;
    return 0;
}

static int by_retention_order(const void *a, const void *b)
{
    const expire_item *x = a, *y = b;
    if (x->it.time_ms != y->it.time_ms)
        return x->it.time_ms < y->it.time_ms ? 1 : -1;
    return strcmp(y->tag, x->tag);
}

static int by_tag(const void *a, const void *b, void *items)
{
    const expire_item *it = items;
    return strcmp(it[*(const size_t *)a].tag, it[*(const size_t *)b].tag);
}

/* An increment needs the backup before it (which needs its own, down to the base):
 * retention keeps a chain up to every point it keeps. */
static int link_chains(const expire_run *x, retention_item *ri, cairn_err *e)
{
    size_t *order = malloc((x->n ? x->n : 1) * sizeof(*order));
    if (!order)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    for (size_t i = 0; i < x->n; i++)
        order[i] = i;
    qsort_r(order, x->n, sizeof(*order), by_tag, x->items);
    for (size_t i = 0; i < x->n; i++) {
        if (!x->items[i].previous)
            continue;
        size_t lo = 0, hi = x->n;
        while (lo < hi) { /* the first whose tag is not below previous */
            size_t mid = lo + (hi - lo) / 2;
            if (strcmp(x->items[order[mid]].tag, x->items[i].previous) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < x->n && strcmp(x->items[order[lo]].tag, x->items[i].previous) == 0)
            ri[i].needs = (long)order[lo];
    }
    free(order);
    return 0;
}

/* Item i stays (being restored, or its deletion failed): so does every backup it needs,
 * which come after it in the newest-first order, so that no increment outlives its base. */
static void keep_needed(const expire_run *x, retention_item *ri, size_t i)
{
    for (long j = ri[i].needs; j > (long)i && !ri[j].keep; j = ri[j].needs) {
        snprintf(ri[j].reasons, sizeof(ri[j].reasons), "needed by %s", x->items[i].tag);
        ri[j].keep = true;
    }
}

/* Lists, decides and (unless dry_run) deletes; x holds the outcome per backup. */
static int expire_apply(const coord_config *cfg, repo *r, bool dry_run, expire_run *x, cairn_err *e)
{
    int rc = catalog_each(r, cfg->cluster, collect, x, e);
    if (rc)
        return rc;
    /* Sorted here, with the tags, in the order retention_sort gives. */
    if (x->n > 1)
        qsort(x->items, x->n, sizeof(*x->items), by_retention_order);
    retention_item *ri = calloc(x->n ? x->n : 1, sizeof(*ri));
    if (!ri)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    for (size_t i = 0; i < x->n; i++) {
        ri[i] = x->items[i].it;
        ri[i].tag = x->items[i].tag;
    }
    if ((rc = link_chains(x, ri, e)) != 0) {
        free(ri);
        return rc;
    }
    retention_apply(&cfg->retention, ri, x->n);
    for (size_t i = 0; i < x->n; i++) {
        expire_item *it = &x->items[i];
        it->it = ri[i];
        if (it->it.keep || dry_run) {
            x->kept += it->it.keep;
            continue;
        }
        delete_result res;
        cairn_err de;
        err_clear(&de);
        int drc = delete_backup(r, cfg->cluster, it->tag, &res, &de);
        if (drc == 0) {
            it->deleted = true;
            x->deleted++;
        } else {
            it->error = strdup(de.msg); /* NULL on OOM: printed as unknown */
            if (drc == CAIRN_EBUSY) {   /* being restored: kept this time */
                snprintf(it->it.reasons, sizeof(it->it.reasons), "being restored");
                it->it.keep = true;
                x->kept++;
            } else {
                x->failed++;
            }
            keep_needed(x, ri, i);
        }
    }
    free(ri);
    return 0;
}

static void expire_free(expire_run *x)
{
    for (size_t i = 0; i < x->n; i++) {
        free(x->items[i].tag);
        free(x->items[i].previous);
        free(x->items[i].error);
    }
    free(x->items);
}

json_object *retention_policy_json(const retention_policy *p)
{
    if (!retention_policy_set(p))
        return NULL;
    json_object *o = json_object_new_object();
    const char *names[] = {"keep_last", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly"};
    const long vals[] = {p->keep_last, p->keep_daily, p->keep_weekly, p->keep_monthly,
                         p->keep_yearly};
    for (size_t i = 0; i < 5; i++) {
        if (vals[i] > 0)
            json_object_object_add(o, names[i], json_object_new_int64(vals[i]));
    }
    if (p->keep_within_ms > 0)
        json_object_object_add(o, "keep_within", json_object_new_string(p->keep_within));
    return o;
}

static void print_json(const coord_config *cfg, const expire_run *x, bool dry_run)
{
    json_object *root = json_object_new_object();
    json_object_object_add(root, "cluster", json_object_new_string(cfg->cluster));
    json_object_object_add(root, "dry_run", json_object_new_boolean(dry_run));
    json_object_object_add(root, "policy", retention_policy_json(&cfg->retention));
    json_object *arr = json_object_new_array();
    for (size_t i = 0; i < x->n; i++) {
        const expire_item *it = &x->items[i];
        json_object *o = json_object_new_object();
        json_object_object_add(o, "tag", json_object_new_string(it->tag));
        json_object_object_add(o, "start_ms", json_object_new_int64((int64_t)it->it.time_ms));
        json_object_object_add(o, "keep", json_object_new_boolean(it->it.keep));
        json_object *reasons = json_object_new_array();
        for (char *s = (char *)it->it.reasons, *end; *s; s = *end ? end + 2 : end) {
            end = strstr(s, ", ");
            if (!end)
                end = s + strlen(s);
            json_object_array_add(reasons, json_object_new_string_len(s, (int)(end - s)));
        }
        json_object_object_add(o, "reasons", reasons);
        json_object_object_add(o, "deleted", json_object_new_boolean(it->deleted));
        if (it->error)
            json_object_object_add(o, "error", json_object_new_string(it->error));
        json_object_array_add(arr, o);
    }
    json_object_object_add(root, "backups", arr);
    printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
                                                            JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(root);
}

static void print_text(FILE *f, const expire_run *x, bool dry_run)
{
    for (size_t i = 0; i < x->n; i++) {
        const expire_item *it = &x->items[i];
        char t[32];
        const char *action = it->it.keep   ? "keep"
                             : it->deleted ? "deleted"
                             : dry_run     ? "would delete"
                                           : "FAILED";
        fprintf(f, "%-32s  %-20s  %-12s  %s\n", it->tag, human_time(it->it.time_ms, t, sizeof(t)),
                action,
                it->it.keep ? it->it.reasons
                : it->error ? it->error
                            : "");
    }
    fprintf(f, "%zu kept, %zu %s%s\n", x->kept, dry_run ? x->n - x->kept : x->deleted,
            dry_run ? "would be deleted" : "deleted",
            x->failed ? " (some deletions failed, see above)" : "");
}

void retention_after_backup(const coord_config *cfg, repo *r)
{
    if (!retention_policy_set(&cfg->retention))
        return;
    expire_run x = {0};
    cairn_err e;
    err_clear(&e);
    int rc = expire_apply(cfg, r, false, &x, &e);
    if (rc)
        fprintf(stderr,
                "warning: the backup is complete, but retention was not applied: %s; "
                "run `cairn expire`\n",
                e.msg);
    else if (x.deleted || x.failed)
        print_text(stderr, &x, false);
    expire_free(&x);
}

typedef struct expire_opts {
    cliopt_common c;
    bool dry_run;
} expire_opts;

static int take_option(void *arg, int c, const char *val)
{
    (void)val;
    ((expire_opts *)arg)->dry_run = c == 'n';
    return 0;
}

int cmd_expire(const coord_config *cfg, int argc, char **argv)
{
    static const struct option opts[] = {{"dry-run", no_argument, NULL, 'n'}, {NULL, 0, NULL, 0}};
    expire_opts o;
    memset(&o, 0, sizeof(o));
    int rc = cliopt_parse("expire", opts, take_option, &o, &o.c, argc, argv);
    cliopt_common_free(&o.c);
    if (rc)
        return rc < 0 ? CMD_OK : rc;
    if (optind != argc) {
        fprintf(stderr, "cairn expire: unexpected argument '%s'\n", argv[optind]);
        return CMD_USAGE;
    }
    cairn_err ce;
    if (coord_config_need_repository(cfg, &ce)) {
        fprintf(stderr, "cairn expire: %s\n", ce.msg);
        return CMD_USAGE;
    }
    if (!retention_policy_set(&cfg->retention)) {
        fprintf(stderr, "cairn expire: no retention policy in the configuration: set "
                        "`retention:` with keep_last, keep_daily, ... or keep_within "
                        "(docs/configuration.md)\n");
        return CMD_USAGE;
    }
    cairn_err e;
    err_clear(&e);
    repo *r = NULL;
    expire_run x = {0};
    rc = repo_open(&r, cfg->repository, cfg->store, false, &e);
    if (!rc)
        rc = expire_apply(cfg, r, o.dry_run, &x, &e);
    if (rc)
        fprintf(stderr, "cairn expire: %s\n", e.msg);
    else if (o.c.json)
        print_json(cfg, &x, o.dry_run);
    else
        print_text(stdout, &x, o.dry_run);
    int status = rc || x.failed ? CMD_FAILED : CMD_OK;
    expire_free(&x);
    repo_close(r);
    return status;
}
