/*
 * catalog - `cairn list`, `cairn show` and `cairn repo init`: reading what the
 * repository holds.
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

static int open_repo(const coord_config *cfg, repo **r, cairn_err *e)
{
    int rc = coord_config_need_repository(cfg, e);
    if (rc)
        return rc;
    return repo_open(r, cfg->repository, cfg->store, false, e);
}

/* The options of list (files NULL) and show; returns 0, -1 after --help, or CMD_USAGE
 * after saying what is wrong. */
static int parse_args(const char *cmd, int argc, char **argv, bool *json, bool *files,
                      const char **tag)
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
    int rc = parse_args("list", argc, argv, &json, NULL, NULL);
    if (rc)
        return rc < 0 ? CMD_OK : rc;
    cairn_err e;
    err_clear(&e);
    catalog c = {.cluster = cfg->cluster};
    rc = open_repo(cfg, &c.r, &e);
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

/*
 * show. A node manifest can hold millions of files, so nothing holds a backup's file
 * list: the node manifests are streamed, one TableEntry at a time. The text form reads
 * them twice when --files is given: the first pass sums the tables and measures the
 * columns, so the header, the table summary and aligned columns come before the first
 * file line; the second prints. Order: nodes by their column, tables as the manifest
 * holds them (the agent writes them sorted), files sorted by name within their table,
 * which costs an index over one table's entries, already in memory as its TableEntry.
 * --json needs no widths: its list is built in the one pass, in the same order.
 */

/* Per-table totals over every node of a backup; tables are few next to files. */
typedef struct table_sum {
    char *keyspace, *name;
    uint64_t files, bytes;
    unsigned nodes;
} table_sum;

typedef struct show_ctx {
    table_sum *t;
    size_t n;
    bool files, json;
    bool listing;     /* this pass prints (or, for --json, collects) the files */
    const char *node; /* the file lines' node column, for the manifest streaming */
    const char *host_id;
    int w_node, w_table, w_file; /* column widths, measured by the first pass */
    json_object *jfiles;
} show_ctx;

#define SHOW_BLOB_SHORT 12

static int sum_table(show_ctx *s, const Cairn__Repo__TableEntry *te, cairn_err *e)
{
    table_sum *t = NULL;
    for (size_t i = 0; i < s->n && !t; i++)
        if (strcmp(s->t[i].keyspace, te->keyspace) == 0 && strcmp(s->t[i].name, te->name) == 0)
            t = &s->t[i];
    if (!t) {
        table_sum *nt = realloc(s->t, (s->n + 1) * sizeof(*nt));
        if (!nt)
            return err_set(e, CAIRN_ENOMEM, "out of memory");
        s->t = nt;
        t = &nt[s->n];
        memset(t, 0, sizeof(*t));
        t->keyspace = strdup(te->keyspace);
        t->name = strdup(te->name);
        if (!t->keyspace || !t->name) {
            free(t->keyspace);
            free(t->name);
            return err_set(e, CAIRN_ENOMEM, "out of memory");
        }
        s->n++;
    }
    t->nodes++;
    int wt = (int)(strlen(te->keyspace) + 1 + strlen(te->name));
    s->w_table = wt > s->w_table ? wt : s->w_table;
    for (size_t i = 0; i < te->n_files; i++) {
        t->files++;
        t->bytes += te->files[i]->size;
        int wf = (int)strlen(te->files[i]->name);
        s->w_file = wf > s->w_file ? wf : s->w_file;
    }
    return 0;
}

static int by_file_name(const void *a, const void *b)
{
    const Cairn__Repo__FileEntry *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

static void list_file(show_ctx *s, const Cairn__Repo__TableEntry *te,
                      const Cairn__Repo__FileEntry *f)
{
    if (s->json) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "host_id", json_object_new_string(s->host_id));
        json_object_object_add(o, "keyspace", json_object_new_string(te->keyspace));
        json_object_object_add(o, "table", json_object_new_string(te->name));
        json_object_object_add(o, "name", json_object_new_string(f->name));
        json_object_object_add(o, "size", json_object_new_int64((int64_t)f->size));
        json_object_object_add(o, "blob", json_object_new_string(f->blob));
        if (f->pack) {
            json_object_object_add(o, "pack", json_object_new_string(f->pack));
            json_object_object_add(o, "pack_offset",
                                   json_object_new_int64((int64_t)f->pack_offset));
            json_object_object_add(o, "pack_length",
                                   json_object_new_int64((int64_t)f->pack_length));
        }
        json_object_array_add(s->jfiles, o);
        return;
    }
    char table[256], size[32], place[128] = "";
    snprintf(table, sizeof(table), "%s.%s", te->keyspace, te->name);
    /* @offset+length: where in the pack the blob's frame is (format 2). */
    if (f->pack)
        snprintf(place, sizeof(place), "  in pack %.*s @%llu+%llu", SHOW_BLOB_SHORT, f->pack,
                 (unsigned long long)f->pack_offset, (unsigned long long)f->pack_length);
    printf("  %-*s  %-*s  %-*s  %10s  %.*s%s%s\n", s->w_node, s->node, s->w_table, table, s->w_file,
           f->name, human_bytes(f->size, size, sizeof(size)), SHOW_BLOB_SHORT, f->blob, place,
           f->crc_mismatch ? "  CORRUPT (Data.db does not match its digest)" : "");
}

/* manifest_table_cb: sums in the first pass, lists (sorted by name) in the listing one. */
static int show_table(void *ctx, const Cairn__Repo__TableEntry *te, cairn_err *e)
{
    show_ctx *s = ctx;
    if (!s->listing || s->json) {
        int rc = sum_table(s, te, e);
        if (rc || !s->listing)
            return rc;
    }
    const Cairn__Repo__FileEntry **sorted =
        malloc((te->n_files ? te->n_files : 1) * sizeof(*sorted));
    if (!sorted)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    for (size_t i = 0; i < te->n_files; i++)
        sorted[i] = te->files[i];
    qsort(sorted, te->n_files, sizeof(*sorted), by_file_name);
    for (size_t i = 0; i < te->n_files; i++)
        list_file(s, te, sorted[i]);
    free(sorted);
    return 0;
}

static void table_sums_free(show_ctx *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->t[i].keyspace);
        free(s->t[i].name);
    }
    free(s->t);
}

static const char *node_column(const Cairn__Repo__NodeRef *n)
{
    return n->address && *n->address ? n->address : n->host_id;
}

static int by_node_column(const void *a, const void *b)
{
    const Cairn__Repo__NodeRef *const *x = a, *const *y = b;
    int c = strcmp(node_column(*x), node_column(*y));
    return c ? c : strcmp((*x)->host_id, (*y)->host_id);
}

/* One pass over every node manifest of m, in the order of the node column. */
static int show_pass(catalog *c, const Cairn__Repo__ClusterManifest *m, show_ctx *s, cairn_err *e)
{
    const Cairn__Repo__NodeRef **nodes = malloc((m->n_nodes ? m->n_nodes : 1) * sizeof(*nodes));
    if (!nodes)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    for (size_t i = 0; i < m->n_nodes; i++)
        nodes[i] = m->nodes[i];
    qsort(nodes, m->n_nodes, sizeof(*nodes), by_node_column);
    int rc = 0;
    for (size_t i = 0; !rc && i < m->n_nodes; i++) {
        Cairn__Repo__NodeManifest *h = NULL;
        s->host_id = nodes[i]->host_id;
        s->node = node_column(nodes[i]);
        int wn = (int)strlen(s->node);
        s->w_node = wn > s->w_node ? wn : s->w_node;
        rc = manifest_node_read(c->r, nodes[i]->manifest_key, nodes[i]->manifest_sha256, &h,
                                show_table, s, e);
        if (h)
            cairn__repo__node_manifest__free_unpacked(h, NULL);
    }
    free(nodes);
    return rc;
}

/* The backup's cluster manifest, and its tables summed over the node manifests. */
static int show_load(const coord_config *cfg, catalog *c, const char *tag, show_ctx *s,
                     Cairn__Repo__ClusterManifest **out, cairn_err *e)
{
    char resolved[160];
    int rc = catalog_resolve(c->r, cfg->cluster, tag, resolved, sizeof(resolved), e);
    char key[1024];
    if (!rc) {
        repo_cluster_manifest_key(cfg->cluster, resolved, key, sizeof(key));
        rc = manifest_cluster_read(c->r, key, out, e);
        if (rc == CAIRN_ENOENT)
            err_set(e, rc, "no complete backup tagged %s for cluster %s (see `cairn list`)",
                    resolved, cfg->cluster);
    }
    if (rc)
        return rc;
    if (s->files && s->json) {
        s->jfiles = json_object_new_array();
        s->listing = true;
    }
    return show_pass(c, *out, s, e);
}

/* The text form's file list: a second pass, now that the widths are known. */
static int show_files_text(catalog *c, const Cairn__Repo__ClusterManifest *m, show_ctx *s,
                           cairn_err *e)
{
    const char *hn = "NODE", *ht = "TABLE", *hf = "FILE";
    s->w_node = s->w_node > (int)strlen(hn) ? s->w_node : (int)strlen(hn);
    s->w_table = s->w_table > (int)strlen(ht) ? s->w_table : (int)strlen(ht);
    s->w_file = s->w_file > (int)strlen(hf) ? s->w_file : (int)strlen(hf);
    printf("\nfiles:\n  %-*s  %-*s  %-*s  %10s  %s\n", s->w_node, hn, s->w_table, ht, s->w_file, hf,
           "SIZE", "BLOB");
    s->listing = true;
    return show_pass(c, m, s, e);
}

static json_object *jint(uint64_t v)
{
    return json_object_new_int64((int64_t)v);
}

static void show_json(const Cairn__Repo__ClusterManifest *m, show_ctx *s)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "tag", json_object_new_string(m->tag));
    json_object_object_add(o, "cluster", json_object_new_string(m->cluster));
    json_object_object_add(o, "start_ms", jint(m->start_ms));
    json_object_object_add(o, "end_ms", jint(m->end_ms));
    json_object_object_add(o, "skew_ms", jint(m->skew_ms));
    json_object_object_add(o, "point_ms", jint(catalog_point_ms(m)));
    if (m->base_tag) { /* an increment: what it holds came since previous_tag */
        json_object_object_add(o, "base_tag", json_object_new_string(m->base_tag));
        json_object_object_add(o, "previous_tag",
                               json_object_new_string(m->previous_tag ? m->previous_tag : ""));
    }
    json_object_object_add(o, "bytes", jint(m->bytes));
    json_object_object_add(o, "files", jint(m->files));
    json_object_object_add(o, "schema_blob",
                           m->schema_blob ? json_object_new_string(m->schema_blob) : NULL);
    json_object_object_add(o, "schema_size", jint(m->schema_size));
    json_object *nodes = json_object_new_array();
    for (size_t i = 0; i < m->n_nodes; i++) {
        json_object *n = json_object_new_object();
        json_object_object_add(n, "host_id", json_object_new_string(m->nodes[i]->host_id));
        json_object_object_add(n, "address", json_object_new_string(m->nodes[i]->address));
        json_object_object_add(n, "dc", json_object_new_string(m->nodes[i]->dc));
        json_object_object_add(n, "rack", json_object_new_string(m->nodes[i]->rack));
        json_object_object_add(n, "bytes", jint(m->nodes[i]->bytes));
        json_object_object_add(n, "files", jint(m->nodes[i]->files));
        json_object_array_add(nodes, n);
    }
    json_object_object_add(o, "nodes", nodes);
    json_object *tables = json_object_new_array();
    for (size_t i = 0; i < s->n; i++) {
        json_object *t = json_object_new_object();
        json_object_object_add(t, "keyspace", json_object_new_string(s->t[i].keyspace));
        json_object_object_add(t, "table", json_object_new_string(s->t[i].name));
        json_object_object_add(t, "files", jint(s->t[i].files));
        json_object_object_add(t, "bytes", jint(s->t[i].bytes));
        json_object_array_add(tables, t);
    }
    json_object_object_add(o, "tables", tables);
    if (s->jfiles)
        json_object_object_add(o, "files_list", s->jfiles);
    s->jfiles = NULL; /* owned by o now */
    printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
    json_object_put(o);
}

static void show_text(const Cairn__Repo__ClusterManifest *m, const show_ctx *s)
{
    char t1[32], t2[32], b1[32], b2[32];
    printf("backup %s of cluster %s\n", m->tag, m->cluster);
    if (m->base_tag)
        printf("  increment of base %s, after %s: the SSTables flushed since; it restores "
               "with its chain\n",
               m->base_tag, m->previous_tag ? m->previous_tag : "?");
    printf("  started   %s\n  finished  %s\n", human_time(m->start_ms, t1, sizeof(t1)),
           human_time(m->end_ms, t2, sizeof(t2)));
    printf("  size      %s in %llu files\n  skew      %llu ms\n  schema    %s (blob %s)\n",
           human_bytes(m->bytes, b1, sizeof(b1)), (unsigned long long)m->files,
           (unsigned long long)m->skew_ms, human_bytes(m->schema_size, b2, sizeof(b2)),
           m->schema_blob ? m->schema_blob : "-");
    printf("\nnodes:\n");
    for (size_t i = 0; i < m->n_nodes; i++)
        printf("  %s  %-15s  %-8s %-8s  %10s  %llu files\n", m->nodes[i]->host_id,
               m->nodes[i]->address, m->nodes[i]->dc, m->nodes[i]->rack,
               human_bytes(m->nodes[i]->bytes, b1, sizeof(b1)),
               (unsigned long long)m->nodes[i]->files);
    printf("\ntables:\n");
    for (size_t i = 0; i < s->n; i++)
        printf("  %s.%s  %s in %llu files on %u nodes\n", s->t[i].keyspace, s->t[i].name,
               human_bytes(s->t[i].bytes, b1, sizeof(b1)), (unsigned long long)s->t[i].files,
               s->t[i].nodes);
}

int cmd_show(const coord_config *cfg, int argc, char **argv)
{
    bool files = false;
    const char *tag = NULL;
    bool json = false;
    int rc = parse_args("show", argc, argv, &json, &files, &tag);
    if (rc)
        return rc < 0 ? CMD_OK : rc;
    cairn_err e;
    err_clear(&e);
    catalog c = {.cluster = cfg->cluster};
    show_ctx s = {.files = files, .json = json};
    Cairn__Repo__ClusterManifest *m = NULL;
    rc = open_repo(cfg, &c.r, &e);
    if (!rc)
        rc = show_load(cfg, &c, tag, &s, &m, &e);
    if (!rc && json)
        show_json(m, &s);
    else if (!rc)
        show_text(m, &s);
    if (!rc && files && !json) {
        fflush(stdout);
        rc = show_files_text(&c, m, &s, &e);
    }
    if (rc)
        fprintf(stderr, "cairn show: %s\n", e.msg);
    if (s.jfiles)
        json_object_put(s.jfiles);
    table_sums_free(&s);
    if (m)
        cairn__repo__cluster_manifest__free_unpacked(m, NULL);
    catalog_free(&c);
    repo_close(c.r);
    return rc == CAIRN_ECONFIG ? CMD_USAGE : rc ? CMD_FAILED : CMD_OK;
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
