/*
 * catalog - `cairn list` and `cairn repo init`, and what `show`, `restore` and the
 * lifecycle commands share: the complete backups of a cluster and their points in time.
 *
 * A backup is listed only when its cluster manifest exists. Listing reads the
 * cluster's backups/ prefix once and never walks the blobs.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "base/buf.h"
#include "command/catalog.h"
#include "cli/cliopt.h"
#include "cli/cmdhelp.h"
#include "cmd.h"
#include "cli/human.h"
#include "repo/manifest.h"
#include "scylla/names.h"
#include "repo/repo.h"

#define MANIFEST_SUFFIX "/backup.manifest"

typedef struct catalog_entry {
    char *tag;
    Cairn__Repo__ClusterManifest *m;
} catalog_entry;

typedef struct catalog {
    repo *r;
    const char *cluster;
    catalog_entry *items; /* points into items_buf */
    size_t n;
    buf items_buf;
} catalog;

static int collect(void *ctx, const char *key, uint64_t size, cairn_err *e)
{
    catalog *c = ctx;
    size_t kl = strlen(key), sl = strlen(MANIFEST_SUFFIX);
    if (kl <= sl || strcmp(key + kl - sl, MANIFEST_SUFFIX) != 0)
        return 0;
    /* backups/<cluster>/<tag>/backup.manifest */
    const char *tag = key + strlen("backups/") + strlen(c->cluster) + 1;
    size_t tl = (size_t)(key + kl - sl - tag);
    if (tl == 0 || memchr(tag, '/', tl))
        return 0;
    Cairn__Repo__ClusterManifest *m = NULL;
    cairn_err me;
    if (manifest_cluster_read(c->r, key, &m, &me) != 0) {
        fprintf(stderr, "warning: skipping %s: %s\n", key, me.msg);
        return 0;
    }
    catalog_entry ce = {strndup(tag, tl), m};
    if (buf_append(&c->items_buf, &ce, sizeof(ce), e) != 0) {
        free(ce.tag);
        cairn__repo__cluster_manifest__free_unpacked(m, NULL);
        return CAIRN_ENOMEM;
    }
    c->items = (catalog_entry *)c->items_buf.data;
    c->n = c->items_buf.len / sizeof(ce);
    return 0;
}

static int newest_first(const void *a, const void *b)
{
    const catalog_entry *x = a, *y = b;
    if (x->m->start_ms != y->m->start_ms)
        return x->m->start_ms < y->m->start_ms ? 1 : -1;
    return strcmp(y->tag, x->tag);
}

static int catalog_load(catalog *c, cairn_err *e)
{
    char prefix[256];
    snprintf(prefix, sizeof(prefix), "backups/%s/", c->cluster);
    int rc = repo_manifest_list(c->r, prefix, collect, c, e);
    if (!rc && c->n)
        qsort(c->items, c->n, sizeof(*c->items), newest_first);
    return rc;
}

static void catalog_free(catalog *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->items[i].tag);
        cairn__repo__cluster_manifest__free_unpacked(c->items[i].m, NULL);
    }
    buf_free(&c->items_buf);
}

uint64_t catalog_point_ms(const Cairn__Repo__ClusterManifest *m)
{
    uint64_t p = 0;
    for (size_t i = 0; i < m->n_nodes; i++)
        if (m->nodes[i]->has_snapshot_time_ms && m->nodes[i]->snapshot_time_ms > p)
            p = m->nodes[i]->snapshot_time_ms;
    return p ? p : m->end_ms;
}

int catalog_latest(repo *r, const char *cluster, char *tag, size_t cap, cairn_err *e)
{
    catalog c = {.r = r, .cluster = cluster};
    int rc = catalog_load(&c, e);
    if (!rc && c.n == 0)
        rc =
            err_set(e, CAIRN_ENOENT, "no complete backup of cluster %s in the repository", cluster);
    if (!rc)
        snprintf(tag, cap, "%s", c.items[0].tag);
    catalog_free(&c);
    return rc;
}

int catalog_resolve(repo *r, const char *cluster, const char *tag, char *out, size_t cap,
                    cairn_err *e)
{
    if (strcmp(tag, "latest") == 0)
        return catalog_latest(r, cluster, out, cap, e);
    if (!name_valid(NAME_TAG, tag))
        return err_set(e, CAIRN_EINVAL, "invalid tag '%s'", tag);
    snprintf(out, cap, "%s", tag);
    return 0;
}

int catalog_open_repo(const coord_config *cfg, repo **r, cairn_err *e)
{
    int rc = coord_config_need_repository(cfg, e);
    if (rc)
        return rc;
    return repo_open(r, cfg->repository, cfg->store, false, e);
}

int catalog_args(const char *cmd, int argc, char **argv, bool *json, bool *files, const char **tag)
{
    static const struct option list_opts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    static const struct option show_opts[] = {{"json", no_argument, NULL, 'j'},
                                              {"files", no_argument, NULL, 'f'},
                                              {"help", no_argument, NULL, 'h'},
                                              {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = cliopt_getopt(argc, argv, files ? show_opts : list_opts)) != -1) {
        if (c == 'j')
            *json = true;
        else if (c == 'f')
            *files = true;
        else if (c == 'h')
            return cliopt_help(cmd);
        else
            return cliopt_bad(cmd, c, argv);
    }
    int want = tag ? 1 : 0;
    if (argc - optind == want) {
        if (tag)
            *tag = argv[optind];
        return 0;
    }
    if (argc - optind > want)
        fprintf(stderr, "cairn %s: unexpected argument '%s'\n", cmd, argv[optind + want]);
    else
        fprintf(stderr, "cairn %s: name the backup: a TAG, or latest\n", cmd);
    cmdhelp_print_name(stderr, cmd);
    return CMD_USAGE;
}

/* ADDED is what a backup's agents wrote to blobs/ (compressed), "-" for backups made
 * before manifests recorded it; the total sums the column, so list reads manifests
 * only (`cairn info` walks blobs/ for the repository's real size). */
static void list_text(const catalog *c)
{
    printf("%-32s  %-4s  %-20s  %-20s  %5s  %10s  %10s  %8s\n", "TAG", "KIND", "STARTED",
           "FINISHED", "NODES", "SIZE", "ADDED", "FILES");
    uint64_t added = 0;
    size_t unknown = 0;
    for (size_t i = 0; i < c->n; i++) {
        const Cairn__Repo__ClusterManifest *m = c->items[i].m;
        char t1[32], t2[32], b1[32], b2[32] = "-";
        if (m->has_stored_bytes)
            human_bytes(m->stored_bytes, b2, sizeof(b2));
        added += m->stored_bytes;
        unknown += !m->has_stored_bytes;
        printf("%-32s  %-4s  %-20s  %-20s  %5zu  %10s  %10s  %8llu\n", c->items[i].tag,
               m->base_tag ? "incr" : "full", human_time(m->start_ms, t1, sizeof(t1)),
               human_time(m->end_ms, t2, sizeof(t2)), m->n_nodes,
               human_bytes(m->bytes, b1, sizeof(b1)), b2, (unsigned long long)m->files);
    }
    char b[32];
    printf("%zu backup%s, %s added to the repository", c->n, c->n == 1 ? "" : "s",
           human_bytes(added, b, sizeof(b)));
    if (unknown)
        printf(" (%zu older backup%s not counted)", unknown, unknown == 1 ? "" : "s");
    printf("; `cairn info` measures the repository\n");
    uint64_t lo = UINT64_MAX, hi = 0;
    for (size_t i = 0; i < c->n; i++) {
        uint64_t p = catalog_point_ms(c->items[i].m);
        lo = p < lo ? p : lo;
        hi = p > hi ? p : hi;
    }
    char t1[32], t2[32];
    printf("restorable points (restore --at): %s to %s; an increment (incr) restores with its "
           "chain\n",
           human_time(lo, t1, sizeof(t1)), human_time(hi, t2, sizeof(t2)));
}

int cmd_list(const coord_config *cfg, int argc, char **argv)
{
    bool json = false;
    int rc = catalog_args("list", argc, argv, &json, NULL, NULL);
    if (rc)
        return rc < 0 ? CMD_OK : rc;
    cairn_err e;
    err_clear(&e);
    catalog c = {.cluster = cfg->cluster};
    rc = catalog_open_repo(cfg, &c.r, &e);
    if (!rc)
        rc = catalog_load(&c, &e);
    if (rc) {
        fprintf(stderr, "cairn list: %s\n", e.msg);
        repo_close(c.r);
        return rc == CAIRN_ECONFIG ? CMD_USAGE : CMD_FAILED;
    }
    if (json) {
        json_object *arr = json_object_new_array();
        for (size_t i = 0; i < c.n; i++) {
            const Cairn__Repo__ClusterManifest *m = c.items[i].m;
            json_object *o = json_object_new_object();
            json_object_object_add(o, "tag", json_object_new_string(c.items[i].tag));
            json_object_object_add(o, "cluster", json_object_new_string(m->cluster));
            json_object_object_add(o, "start_ms", json_object_new_int64((int64_t)m->start_ms));
            json_object_object_add(o, "end_ms", json_object_new_int64((int64_t)m->end_ms));
            json_object_object_add(o, "nodes", json_object_new_int64((int64_t)m->n_nodes));
            json_object_object_add(o, "bytes", json_object_new_int64((int64_t)m->bytes));
            json_object_object_add(o, "files", json_object_new_int64((int64_t)m->files));
            json_object_object_add(o, "point_ms",
                                   json_object_new_int64((int64_t)catalog_point_ms(m)));
            json_object_object_add(o, "kind",
                                   json_object_new_string(m->base_tag ? "incremental" : "full"));
            if (m->base_tag) {
                json_object_object_add(o, "base_tag", json_object_new_string(m->base_tag));
                json_object_object_add(
                    o, "previous_tag",
                    json_object_new_string(m->previous_tag ? m->previous_tag : ""));
            }
            json_object_object_add(
                o, "stored_bytes",
                m->has_stored_bytes ? json_object_new_int64((int64_t)m->stored_bytes) : NULL);
            json_object_array_add(arr, o);
        }
        printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY));
        json_object_put(arr);
    } else if (c.n == 0) {
        printf("no backups of cluster %s in %s\n", cfg->cluster, cfg->repository);
    } else {
        list_text(&c);
    }
    catalog_free(&c);
    repo_close(c.r);
    return CMD_OK;
}

int cmd_repo(const coord_config *cfg, int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "init") != 0) {
        if (argc >= 2)
            fprintf(stderr, "cairn repo: unknown subcommand '%s'\n", argv[1]);
        cmdhelp_print_name(stderr, "repo");
        return CMD_USAGE;
    }
    /* Parsed as `init ...`: glibc's getopt keeps state that a start past 1 confuses. */
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = cliopt_getopt(argc - 1, argv + 1, opts)) != -1) {
        if (c != 'h')
            return cliopt_bad("repo init", c, argv + 1);
        cliopt_help("repo init");
        return CMD_OK;
    }
    if (optind != argc - 1) {
        fprintf(stderr, "cairn repo init: unexpected argument '%s'\n", argv[optind + 1]);
        cmdhelp_print_name(stderr, "repo init");
        return CMD_USAGE;
    }
    cairn_err e;
    err_clear(&e);
    repo *r = NULL;
    if (coord_config_need_repository(cfg, &e) ||
        repo_open(&r, cfg->repository, cfg->store, true, &e) != 0) {
        fprintf(stderr, "cairn repo init: %s\n", e.msg);
        return cfg->repository ? CMD_FAILED : CMD_USAGE;
    }
    printf("repository %s ready (id %s)\n", cfg->repository, repo_id(r));
    repo_close(r);
    return CMD_OK;
}

int catalog_each(repo *r, const char *cluster, catalog_cb cb, void *ctx, cairn_err *e)
{
    catalog c = {.r = r, .cluster = cluster};
    int rc = catalog_load(&c, e);
    for (size_t i = 0; !rc && i < c.n; i++)
        rc = cb(ctx, c.items[i].tag, c.items[i].m, e);
    catalog_free(&c);
    return rc;
}
