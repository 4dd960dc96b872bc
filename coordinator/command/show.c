/*
 * show - `cairn show`: one backup, its nodes and tables, and with --files every file.
 *
 * A node manifest can hold millions of files, so nothing holds a backup's file
 * list: the node manifests are streamed, one TableEntry at a time. The text form reads
 * them twice when --files is given: the first pass sums the tables and measures the
 * columns, so the header, the table summary and aligned columns come before the first
 * file line; the second prints. Order: nodes by their column, tables as the manifest
 * holds them (the agent writes them sorted), files sorted by name within their table,
 * which costs an index over one table's entries, already in memory as its TableEntry.
 * --json needs no widths: its list is built in the one pass, in the same order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cli/human.h"
#include "cmd.h"
#include "command/catalog.h"
#include "repo/manifest.h"
#include "repo/repo.h"

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
static int show_pass(repo *r, const Cairn__Repo__ClusterManifest *m, show_ctx *s, cairn_err *e)
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
        rc = manifest_node_read(r, nodes[i]->manifest_key, nodes[i]->manifest_sha256, &h,
                                show_table, s, e);
        if (h)
            cairn__repo__node_manifest__free_unpacked(h, NULL);
    }
    free(nodes);
    return rc;
}

/* The backup's cluster manifest, and its tables summed over the node manifests. */
static int show_load(const coord_config *cfg, repo *r, const char *tag, show_ctx *s,
                     Cairn__Repo__ClusterManifest **out, cairn_err *e)
{
    char resolved[160];
    int rc = catalog_resolve(r, cfg->cluster, tag, resolved, sizeof(resolved), e);
    char key[1024];
    if (!rc) {
        repo_cluster_manifest_key(cfg->cluster, resolved, key, sizeof(key));
        rc = manifest_cluster_read(r, key, out, e);
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
    return show_pass(r, *out, s, e);
}

/* The text form's file list: a second pass, now that the widths are known. */
static int show_files_text(repo *r, const Cairn__Repo__ClusterManifest *m, show_ctx *s,
                           cairn_err *e)
{
    const char *hn = "NODE", *ht = "TABLE", *hf = "FILE";
    s->w_node = s->w_node > (int)strlen(hn) ? s->w_node : (int)strlen(hn);
    s->w_table = s->w_table > (int)strlen(ht) ? s->w_table : (int)strlen(ht);
    s->w_file = s->w_file > (int)strlen(hf) ? s->w_file : (int)strlen(hf);
    printf("\nfiles:\n  %-*s  %-*s  %-*s  %10s  %s\n", s->w_node, hn, s->w_table, ht, s->w_file, hf,
           "SIZE", "BLOB");
    s->listing = true;
    return show_pass(r, m, s, e);
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
    json_object *views = json_object_new_array();
    for (size_t i = 0; i < m->n_views; i++) {
        const Cairn__Repo__ViewEntry *v = m->views[i];
        json_object *j = json_object_new_object();
        json_object_object_add(j, "keyspace", json_object_new_string(v->keyspace));
        json_object_object_add(j, "name", json_object_new_string(v->name));
        json_object_object_add(j, "kind", json_object_new_string(v->index ? "index" : "view"));
        json_object_object_add(j, "base", json_object_new_string(v->base_table));
        if (v->index)
            json_object_object_add(j, "index", json_object_new_string(v->index));
        json_object_array_add(views, j);
    }
    json_object_object_add(o, "views", views);
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
    if (m->n_views)
        printf("\nviews and indexes (built by ScyllaDB from their base tables, no data here):\n");
    for (size_t i = 0; i < m->n_views; i++) {
        const Cairn__Repo__ViewEntry *v = m->views[i];
        if (v->index)
            printf("  %s.%s  index %s on %s\n", v->keyspace, v->name, v->index, v->base_table);
        else
            printf("  %s.%s  view of %s\n", v->keyspace, v->name, v->base_table);
    }
}

int cmd_show(const coord_config *cfg, int argc, char **argv)
{
    bool files = false;
    const char *tag = NULL;
    bool json = false;
    int rc = catalog_args("show", argc, argv, &json, &files, &tag);
    if (rc)
        return rc < 0 ? CMD_OK : rc;
    cairn_err e;
    err_clear(&e);
    repo *r = NULL;
    show_ctx s = {.files = files, .json = json};
    Cairn__Repo__ClusterManifest *m = NULL;
    rc = catalog_open_repo(cfg, &r, &e);
    if (!rc)
        rc = show_load(cfg, r, tag, &s, &m, &e);
    if (!rc && json)
        show_json(m, &s);
    else if (!rc)
        show_text(m, &s);
    if (!rc && files && !json) {
        fflush(stdout);
        rc = show_files_text(r, m, &s, &e);
    }
    if (rc)
        fprintf(stderr, "cairn show: %s\n", e.msg);
    if (s.jfiles)
        json_object_put(s.jfiles);
    table_sums_free(&s);
    if (m)
        cairn__repo__cluster_manifest__free_unpacked(m, NULL);
    repo_close(r);
    return rc == CAIRN_ECONFIG ? CMD_USAGE : rc ? CMD_FAILED : CMD_OK;
}
