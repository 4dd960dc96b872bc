/*
 * restore - `cairn restore`: plays a backup back onto the configured cluster.
 *
 * Reads the cluster manifest and the node manifests, checks that every blob needed is
 * in the repository before touching any node, applies the schema when asked, then
 * gives every target node its share: its own files back (refresh) when the cluster has
 * the same nodes and tokens, or an even share by bytes loaded with load-and-stream.
 *
 * What is restored is held as one small record per file; a backup of millions of files
 * would want the assignment streamed per table instead (see docs/restore.md).
 */
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "command/catalog.h"
#include "fleet/check.h"
#include "cli/cliopt.h"
#include "cmd.h"
#include "cli/human.h"
#include "fleet/jobrun.h"
#include "base/log.h"
#include "repo/manifest.h"
#include "scylla/names.h"
#include "repo/repo.h"
#include "cli/select.h"
#include "scylla/sstable.h"

typedef enum { METHOD_AUTO, METHOD_REFRESH, METHOD_LAS } restore_method;

typedef struct restore_opts {
    const char *tag;
    const char *from_cluster;
    select_filter filter;
    bool schema, no_data, json;
    restore_method method;
    unsigned parallel;
} restore_opts;

/* One SSTable of the backup: its files are files[first .. first + n). */
typedef struct rs_sstable {
    uint32_t table;
    uint32_t source; /* index of the source node */
    uint32_t first, n;
    uint64_t bytes;
    int32_t target; /* index into the fleet */
} rs_sstable;

typedef struct rs_table {
    char *keyspace, *name;
} rs_table;

typedef struct rs_source {
    char *host_id;
    char **tokens;
    size_t n_tokens;
} rs_source;

typedef struct restore_plan {
    rs_table *tables;
    size_t n_tables;
    rs_source *sources;
    size_t n_sources;
    rs_sstable *sst;
    size_t n_sst, cap_sst;
    Cairn__Repo__FileEntry *files;
    size_t n_files, cap_files;
    uint64_t bytes;
    const select_filter *filter;
    uint32_t cur_source;
} restore_plan;

static int parse_args(restore_opts *o, int argc, char **argv)
{
    static const struct option opts[] = {{"from-cluster", required_argument, NULL, 'f'},
                                         {"keyspace", required_argument, NULL, 'k'},
                                         {"exclude", required_argument, NULL, 'x'},
                                         {"schema", no_argument, NULL, 's'},
                                         {"no-data", no_argument, NULL, 'n'},
                                         {"method", required_argument, NULL, 'm'},
                                         {"parallel", required_argument, NULL, 'p'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    o->parallel = 16;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            o->from_cluster = optarg;
            break;
        case 'k':
        case 'x': {
            int rc = cliopt_filter(&o->filter, c == 'k', optarg);
            if (rc)
                return rc;
            break;
        }
        case 's':
            o->schema = true;
            break;
        case 'n':
            o->no_data = true;
            break;
        case 'j':
            o->json = true;
            break;
        case 'm':
            if (strcmp(optarg, "auto") == 0)
                o->method = METHOD_AUTO;
            else if (strcmp(optarg, "refresh") == 0)
                o->method = METHOD_REFRESH;
            else if (strcmp(optarg, "load-and-stream") == 0)
                o->method = METHOD_LAS;
            else {
                fprintf(stderr, "cairn restore: --method is auto, refresh or load-and-stream\n");
                return CMD_USAGE;
            }
            break;
        case 'p': {
            int rc = cliopt_parallel("restore", optarg, &o->parallel);
            if (rc)
                return rc;
            break;
        }
        case 'h':
            printf("usage: cairn restore TAG|latest [--from-cluster NAME] [--keyspace GLOB]... "
                   "[--exclude GLOB]... [--schema] [--no-data] "
                   "[--method auto|refresh|load-and-stream] [--parallel N] [--json]\n");
            return -1;
        default:
            return CMD_USAGE;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "cairn restore: name one backup: a tag or `latest`\n");
        return CMD_USAGE;
    }
    o->tag = argv[optind];
    if (o->from_cluster && !name_valid(NAME_CLUSTER, o->from_cluster)) {
        fprintf(stderr, "cairn restore: invalid cluster name '%s'\n", o->from_cluster);
        return CMD_USAGE;
    }
    return 0;
}

static uint32_t table_index(restore_plan *p, const char *ks, const char *name, cairn_err *e)
{
    for (size_t i = 0; i < p->n_tables; i++)
        if (strcmp(p->tables[i].keyspace, ks) == 0 && strcmp(p->tables[i].name, name) == 0)
            return (uint32_t)i;
    rs_table *nt = realloc(p->tables, (p->n_tables + 1) * sizeof(*nt));
    if (!nt) {
        err_set(e, CAIRN_ENOMEM, "out of memory");
        return UINT32_MAX;
    }
    p->tables = nt;
    nt[p->n_tables].keyspace = strdup(ks);
    nt[p->n_tables].name = strdup(name);
    return (uint32_t)p->n_tables++;
}

static int add_file(restore_plan *p, const Cairn__Repo__FileEntry *f, cairn_err *e)
{
    if (p->n_files == p->cap_files) {
        size_t nc = p->cap_files ? p->cap_files * 2 : 256;
        Cairn__Repo__FileEntry *nf = realloc(p->files, nc * sizeof(*nf));
        if (!nf)
            return err_set(e, CAIRN_ENOMEM, "out of memory");
        p->files = nf;
        p->cap_files = nc;
    }
    Cairn__Repo__FileEntry *c = &p->files[p->n_files++];
    cairn__repo__file_entry__init(c);
    c->name = strdup(f->name);
    c->blob = strdup(f->blob);
    c->size = f->size;
    c->has_data_crc32 = f->has_data_crc32;
    c->data_crc32 = f->data_crc32;
    c->has_crc_mismatch = f->has_crc_mismatch;
    c->crc_mismatch = f->crc_mismatch;
    if (!c->name || !c->blob)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    if (!name_valid(NAME_SSTABLE_FILE, f->name) || !name_valid(NAME_BLOB_ID, f->blob))
        return err_set(e, CAIRN_ECORRUPT, "the manifest names an invalid file or blob");
    return 0;
}

static int file_prefix_cmp(const void *a, const void *b)
{
    return strcmp(((const Cairn__Repo__FileEntry *)a)->name,
                  ((const Cairn__Repo__FileEntry *)b)->name);
}

/* Groups one table entry's files into SSTables (files sharing a name prefix). */
static int collect_table(void *ctx, const Cairn__Repo__TableEntry *te, cairn_err *e)
{
    restore_plan *p = ctx;
    if (!select_match(p->filter, te->keyspace, te->name))
        return 0;
    uint32_t t = table_index(p, te->keyspace, te->name, e);
    if (t == UINT32_MAX)
        return CAIRN_ENOMEM;
    size_t start = p->n_files;
    for (size_t i = 0; i < te->n_files; i++) {
        int rc = add_file(p, te->files[i], e);
        if (rc)
            return rc;
    }
    qsort(p->files + start, p->n_files - start, sizeof(*p->files), file_prefix_cmp);
    for (size_t i = start; i < p->n_files;) {
        size_t plen, plen2;
        const char *comp;
        if (sstable_split(p->files[i].name, &plen, &comp) != 0)
            return err_set(e, CAIRN_ECORRUPT, "'%s' is not an SSTable file", p->files[i].name);
        size_t k = i;
        uint64_t bytes = 0;
        while (k < p->n_files && sstable_split(p->files[k].name, &plen2, &comp) == 0 &&
               plen2 == plen && strncmp(p->files[k].name, p->files[i].name, plen) == 0)
            bytes += p->files[k++].size;
        if (p->n_sst == p->cap_sst) {
            size_t nc = p->cap_sst ? p->cap_sst * 2 : 256;
            rs_sstable *ns = realloc(p->sst, nc * sizeof(*ns));
            if (!ns)
                return err_set(e, CAIRN_ENOMEM, "out of memory");
            p->sst = ns;
            p->cap_sst = nc;
        }
        p->sst[p->n_sst++] =
            (rs_sstable){t, p->cur_source, (uint32_t)i, (uint32_t)(k - i), bytes, -1};
        p->bytes += bytes;
        i = k;
    }
    return 0;
}

static int read_plan(repo *r, const Cairn__Repo__ClusterManifest *m, restore_plan *p, cairn_err *e)
{
    p->sources = calloc(m->n_nodes ? m->n_nodes : 1, sizeof(*p->sources));
    if (!p->sources)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    for (size_t i = 0; i < m->n_nodes; i++) {
        Cairn__Repo__NodeManifest *h = NULL;
        p->cur_source = (uint32_t)i;
        int rc = manifest_node_read(r, m->nodes[i]->manifest_key, m->nodes[i]->manifest_sha256, &h,
                                    collect_table, p, e);
        if (rc) {
            if (h)
                cairn__repo__node_manifest__free_unpacked(h, NULL);
            return err_prefix(e, "node manifest of %s", m->nodes[i]->host_id);
        }
        rs_source *s = &p->sources[p->n_sources++];
        s->host_id = strdup(h->host_id);
        s->tokens = h->tokens;
        s->n_tokens = h->n_tokens;
        h->tokens = NULL; /* kept past the header */
        h->n_tokens = 0;
        cairn__repo__node_manifest__free_unpacked(h, NULL);
    }
    return 0;
}

static void plan_free(restore_plan *p)
{
    for (size_t i = 0; i < p->n_tables; i++) {
        free(p->tables[i].keyspace);
        free(p->tables[i].name);
    }
    free(p->tables);
    for (size_t i = 0; i < p->n_sources; i++) {
        free(p->sources[i].host_id);
        for (size_t k = 0; k < p->sources[i].n_tokens; k++)
            free(p->sources[i].tokens[k]);
        free(p->sources[i].tokens);
    }
    free(p->sources);
    for (size_t i = 0; i < p->n_files; i++) {
        free(p->files[i].name);
        free(p->files[i].blob);
    }
    free(p->files);
    free(p->sst);
}

/* Every blob the restore needs must be there before any node is touched. */
typedef struct blob_check {
    repo *r;
    restore_plan *p;
    const char **blobs; /* distinct blob ids: each is asked for once */
    size_t n;
    atomic_size_t next;
    pthread_mutex_t lock;
    int rc;
    cairn_err err;
} blob_check;

static void *check_worker(void *arg)
{
    blob_check *c = arg;
    for (;;) {
        size_t i = atomic_fetch_add(&c->next, 1);
        if (i >= c->n || c->rc)
            return NULL;
        bool exists = false;
        cairn_err e;
        int rc = repo_blob_exists(c->r, c->blobs[i], &exists, &e);
        if (!rc && !exists)
            rc = err_set(&e, CAIRN_ENOENT, "blob %s is missing from the repository", c->blobs[i]);
        if (rc) {
            pthread_mutex_lock(&c->lock);
            if (!c->rc) {
                c->rc = rc;
                c->err = e;
            }
            pthread_mutex_unlock(&c->lock);
        }
    }
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int check_blobs(repo *r, restore_plan *p, cairn_err *e)
{
    blob_check c = {.r = r, .p = p};
    c.blobs = malloc((p->n_files ? p->n_files : 1) * sizeof(char *));
    if (!c.blobs)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    for (size_t i = 0; i < p->n_files; i++)
        c.blobs[i] = p->files[i].blob;
    qsort(c.blobs, p->n_files, sizeof(char *), str_cmp);
    for (size_t i = 0; i < p->n_files; i++)
        if (c.n == 0 || strcmp(c.blobs[c.n - 1], c.blobs[i]) != 0)
            c.blobs[c.n++] = c.blobs[i];
    atomic_init(&c.next, 0);
    pthread_mutex_init(&c.lock, NULL);
    pthread_t t[8];
    int started = 0;
    for (; started < 8; started++)
        if (pthread_create(&t[started], NULL, check_worker, &c) != 0)
            break;
    if (!started)
        check_worker(&c);
    for (int i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    pthread_mutex_destroy(&c.lock);
    free(c.blobs);
    if (c.rc) {
        /* Name the table too: it is what the operator thinks in. */
        for (size_t s = 0; s < p->n_sst; s++) {
            const rs_sstable *x = &p->sst[s];
            for (uint32_t k = 0; k < x->n; k++)
                if (strstr(c.err.msg, p->files[x->first + k].blob))
                    return err_set(e, c.rc, "%s (%s), needed by table %s.%s; nothing was restored",
                                   c.err.msg, p->files[x->first + k].name,
                                   p->tables[x->table].keyspace, p->tables[x->table].name);
        }
        *e = c.err;
    }
    return c.rc;
}

static int token_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The fleet index serving host_id, when its tokens are the source's; else -1. */
static int same_node(fleet *f, const rs_source *s)
{
    for (size_t i = 0; i < fleet_size(f); i++) {
        Cairn__Rpc__NodeInfo *info = fleet_get(f, i)->info;
        if (!info || strcmp(info->host_id, s->host_id) != 0)
            continue;
        if (info->n_tokens != s->n_tokens)
            return -1;
        qsort(info->tokens, info->n_tokens, sizeof(char *), token_cmp);
        qsort(s->tokens, s->n_tokens, sizeof(char *), token_cmp);
        for (size_t k = 0; k < s->n_tokens; k++)
            if (strcmp(info->tokens[k], s->tokens[k]) != 0)
                return -1;
        return (int)i;
    }
    return -1;
}

static int sst_bytes_desc(const void *a, const void *b)
{
    const rs_sstable *x = a, *y = b;
    return x->bytes < y->bytes ? 1 : x->bytes > y->bytes ? -1 : 0;
}

/* Refresh: every SSTable to the node it came from. Load-and-stream: largest first to
 * the node with the fewest bytes so far, so the nodes finish together. */
static int assign(fleet *f, restore_plan *p, restore_method *method, cairn_err *e)
{
    bool same = true;
    int *map = calloc(p->n_sources ? p->n_sources : 1, sizeof(int));
    if (!map)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    for (size_t i = 0; i < p->n_sources; i++) {
        map[i] = same_node(f, &p->sources[i]);
        same = same && map[i] >= 0;
    }
    if (*method == METHOD_REFRESH && !same) {
        free(map);
        return err_set(e, CAIRN_EINVAL,
                       "--method refresh needs every source node (same host id and tokens) in "
                       "the target cluster; use --method load-and-stream or auto");
    }
    if (*method == METHOD_AUTO)
        *method = same ? METHOD_REFRESH : METHOD_LAS;
    if (*method == METHOD_REFRESH) {
        for (size_t s = 0; s < p->n_sst; s++)
            p->sst[s].target = map[p->sst[s].source];
        free(map);
        return 0;
    }
    free(map);
    size_t n = fleet_size(f);
    uint64_t *load = calloc(n, sizeof(*load));
    if (!load)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    qsort(p->sst, p->n_sst, sizeof(*p->sst), sst_bytes_desc);
    for (size_t s = 0; s < p->n_sst; s++) {
        size_t best = 0;
        for (size_t i = 1; i < n; i++)
            if (load[i] < load[best])
                best = i;
        p->sst[s].target = (int32_t)best;
        load[best] += p->sst[s].bytes;
    }
    free(load);
    return 0;
}

typedef struct restore_run {
    const coord_config *cfg;
    const restore_opts *o;
    const char *tag;
    restore_plan *p;
    restore_method method;
    jobrun_node *jobs;
    Cairn__Rpc__RestoreRequest *reqs;
    Cairn__Rpc__RestoreTable **tables; /* per node, n_tables each */
    Cairn__Rpc__RestoreTable ***table_ptrs;
    Cairn__Repo__FileEntry ***file_ptrs; /* per node, the files of its share */
} restore_run;

/* Builds node i's request from the plan: its tables, each with its files. */
static int build_request(restore_run *r, size_t i, cairn_err *e)
{
    restore_plan *p = r->p;
    size_t nf = 0;
    for (size_t s = 0; s < p->n_sst; s++)
        if (p->sst[s].target == (int32_t)r->jobs[i].agent)
            nf += p->sst[s].n;
    r->tables[i] = calloc(p->n_tables ? p->n_tables : 1, sizeof(**r->tables));
    r->table_ptrs[i] = calloc(p->n_tables ? p->n_tables : 1, sizeof(**r->table_ptrs));
    r->file_ptrs[i] = calloc(nf ? nf : 1, sizeof(**r->file_ptrs));
    if (!r->tables[i] || !r->table_ptrs[i] || !r->file_ptrs[i])
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    Cairn__Rpc__RestoreRequest *rq = &r->reqs[i];
    cairn__rpc__restore_request__init(rq);
    rq->tag = (char *)r->tag;
    rq->repository = r->cfg->repository;
    rq->load_and_stream = r->method == METHOD_LAS;
    rq->tables = r->table_ptrs[i];
    size_t used = 0;
    for (size_t t = 0; t < p->n_tables; t++) {
        Cairn__Rpc__RestoreTable *rt = &r->tables[i][t];
        cairn__rpc__restore_table__init(rt);
        rt->keyspace = p->tables[t].keyspace;
        rt->name = p->tables[t].name;
        rt->files = r->file_ptrs[i] + used;
        for (size_t s = 0; s < p->n_sst; s++) {
            const rs_sstable *x = &p->sst[s];
            if (x->table != t || x->target != (int32_t)r->jobs[i].agent)
                continue;
            for (uint32_t k = 0; k < x->n; k++)
                rt->files[rt->n_files++] = &p->files[x->first + k];
        }
        used += rt->n_files;
        if (rt->n_files)
            rq->tables[rq->n_tables++] = rt;
    }
    return 0;
}

static void restore_request(void *arg, size_t i, Cairn__Rpc__Request *rq)
{
    restore_run *r = arg;
    rq->op_case = CAIRN__RPC__REQUEST__OP_RESTORE;
    rq->restore = &r->reqs[i];
}

static int apply_schema(fleet *f, size_t agent, const coord_config *cfg,
                        const Cairn__Repo__ClusterManifest *m, const restore_plan *p,
                        bool check_only, bool json, cairn_err *e)
{
    Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;
    Cairn__Rpc__ApplySchemaRequest ar = CAIRN__RPC__APPLY_SCHEMA_REQUEST__INIT;
    ar.repository = cfg->repository;
    ar.blob = m->schema_blob;
    ar.has_check_only = 1;
    ar.check_only = check_only;
    char **ks = calloc(p->n_tables ? p->n_tables : 1, sizeof(char *));
    if (!ks)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    for (size_t t = 0; t < p->n_tables; t++) {
        bool seen = false;
        for (size_t k = 0; k < ar.n_keyspaces && !seen; k++)
            seen = strcmp(ks[k], p->tables[t].keyspace) == 0;
        if (!seen)
            ks[ar.n_keyspaces++] = p->tables[t].keyspace;
    }
    ar.keyspaces = ks;
    rq.op_case = CAIRN__RPC__REQUEST__OP_APPLY_SCHEMA;
    rq.apply_schema = &ar;
    Cairn__Rpc__Response *resp = NULL;
    int rc = fleet_call(f, agent, &rq, &resp, fleet_timeout_ms(f) * 5, e);
    free(ks);
    if (rc)
        return err_prefix(e, "schema");
    if (resp->result_case != CAIRN__RPC__RESPONSE__RESULT_APPLY_SCHEMA) {
        cairn__rpc__response__free_unpacked(resp, NULL);
        return err_set(e, CAIRN_EPROTO, "the agent answered the schema request without a result");
    }
    const Cairn__Rpc__ApplySchemaResult *res = resp->apply_schema;
    for (size_t i = 0; i < res->n_conflicts; i++)
        fprintf(stderr, "schema conflict: %s exists on the target with another definition\n",
                res->conflicts[i]);
    if (res->n_conflicts)
        rc = err_set(e, CAIRN_EEXIST,
                     "%zu schema objects exist on the target with another definition; nothing "
                     "was changed (drop them, or restore without --schema)",
                     res->n_conflicts);
    else if (!check_only && !json)
        fprintf(stderr, "schema: %zu objects created, %zu already there\n", res->n_created,
                res->n_existing);
    cairn__rpc__response__free_unpacked(resp, NULL);
    return rc;
}

static void forget_one(fleet *f, size_t i, void *arg)
{
    Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;
    Cairn__Rpc__ForgetRestoreRequest fr = CAIRN__RPC__FORGET_RESTORE_REQUEST__INIT;
    fr.tag = (char *)arg;
    rq.op_case = CAIRN__RPC__REQUEST__OP_FORGET_RESTORE;
    rq.forget_restore = &fr;
    Cairn__Rpc__Response *resp = NULL;
    cairn_err e;
    if (fleet_call(f, i, &rq, &resp, fleet_timeout_ms(f), &e) != 0)
        log_warn("%s", e.msg);
    else
        cairn__rpc__response__free_unpacked(resp, NULL);
}

static void print_summary(const restore_opts *o, const char *tag, restore_method method,
                          size_t nodes, const restore_plan *p, uint64_t duration)
{
    const char *mname = o->no_data ? "none" : method == METHOD_LAS ? "load-and-stream" : "refresh";
    if (o->json) {
        json_object *j = json_object_new_object();
        json_object_object_add(j, "tag", json_object_new_string(tag));
        json_object_object_add(j, "method", json_object_new_string(mname));
        json_object_object_add(j, "nodes", json_object_new_int64((int64_t)nodes));
        json_object_object_add(j, "tables", json_object_new_int64((int64_t)p->n_tables));
        json_object_object_add(j, "files", json_object_new_int64((int64_t)p->n_files));
        json_object_object_add(j, "bytes", json_object_new_int64((int64_t)p->bytes));
        json_object_object_add(j, "duration_ms", json_object_new_int64((int64_t)duration));
        printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
        json_object_put(j);
        return;
    }
    char b1[32], b2[32];
    printf("restore of %s complete\n  method    %s\n  nodes     %zu\n  tables    %zu\n"
           "  files     %zu\n  bytes     %s\n  duration  %s\n",
           tag, mname, nodes, p->n_tables, p->n_files, human_bytes(p->bytes, b1, sizeof(b1)),
           human_duration(duration, b2, sizeof(b2)));
}

static int run_restore(const coord_config *cfg, const restore_opts *o, cairn_err *e)
{
    uint64_t t0 = human_mono_ms();
    const char *source = o->from_cluster ? o->from_cluster : cfg->cluster;
    repo *r = NULL;
    fleet *f = NULL;
    check_result chk = {0};
    Cairn__Repo__ClusterManifest *m = NULL;
    restore_plan p = {.filter = &o->filter};
    restore_run run = {.cfg = cfg, .o = o, .p = &p, .method = o->method};
    char tag[160];
    size_t n = 0;
    if (!cfg->repository)
        return err_set(e, CAIRN_ECONFIG, "no `repository` in the configuration");
    int rc = repo_open(&r, cfg->repository, cfg->store, false, e);
    if (!rc && strcmp(o->tag, "latest") == 0)
        rc = catalog_latest(r, source, tag, sizeof(tag), e);
    else if (!rc && !name_valid(NAME_TAG, o->tag))
        rc = err_set(e, CAIRN_EINVAL, "invalid tag '%s'", o->tag);
    else if (!rc)
        snprintf(tag, sizeof(tag), "%s", o->tag);
    run.tag = tag;
    char key[1024];
    if (!rc) {
        repo_cluster_manifest_key(source, tag, key, sizeof(key));
        rc = manifest_cluster_read(r, key, &m, e);
        if (rc == CAIRN_ENOENT)
            err_set(e, rc, "no complete backup tagged %s of cluster %s (see `cairn list`)", tag,
                    source);
    }
    if (!rc)
        rc = read_plan(r, m, &p, e);
    if (!rc && p.n_tables == 0)
        rc = err_set(e, CAIRN_ENOENT, "no table of backup %s matches --keyspace/--exclude", tag);
    if (!rc)
        rc = check_blobs(r, &p, e);
    if (!rc)
        rc = fleet_open(&f, cfg, e);
    if (!rc)
        rc = check_cluster(f, &chk, e);
    if (!rc && !chk.ready) {
        check_print_problems(&chk);
        rc = err_set(e, CAIRN_EREMOTE, "the target cluster is not ready (see above)");
    }
    if (!rc && o->schema) {
        if (!m->schema_blob)
            rc = err_set(e, CAIRN_ENOENT, "backup %s holds no schema", tag);
        if (!rc)
            rc = apply_schema(f, 0, cfg, m, &p, true, o->json, e);
        if (!rc)
            rc = apply_schema(f, 0, cfg, m, &p, false, o->json, e);
    }
    if (!rc && !o->no_data)
        rc = assign(f, &p, &run.method, e);
    n = f ? fleet_size(f) : 0;
    if (!rc && !o->no_data) {
        run.jobs = calloc(n, sizeof(*run.jobs));
        run.reqs = calloc(n, sizeof(*run.reqs));
        run.tables = calloc(n, sizeof(*run.tables));
        run.table_ptrs = calloc(n, sizeof(*run.table_ptrs));
        run.file_ptrs = calloc(n, sizeof(*run.file_ptrs));
        if (!run.jobs || !run.reqs || !run.tables || !run.table_ptrs || !run.file_ptrs)
            rc = err_set(e, CAIRN_ENOMEM, "out of memory");
        for (size_t i = 0; !rc && i < n; i++) {
            run.jobs[i].agent = i;
            rc = build_request(&run, i, e);
        }
        if (!rc && !o->json)
            fprintf(stderr, "restoring %s (%zu tables) onto %zu nodes with %s\n", tag, p.n_tables,
                    n, run.method == METHOD_LAS ? "load-and-stream" : "refresh");
        if (!rc)
            rc = jobrun_all(f, run.jobs, n, o->parallel, "restore", o->json, restore_request, &run,
                            e);
        if (!rc)
            fleet_each(f, NULL, n, o->parallel, forget_one, tag);
    }
    if (!rc)
        print_summary(o, tag, run.method, n, &p, human_mono_ms() - t0);
    for (size_t i = 0; run.tables && i < n; i++) {
        free(run.tables[i]);
        free(run.table_ptrs[i]);
        free(run.file_ptrs[i]);
    }
    free(run.tables);
    free(run.table_ptrs);
    free(run.file_ptrs);
    free(run.reqs);
    jobrun_free(run.jobs, n);
    plan_free(&p);
    if (m)
        cairn__repo__cluster_manifest__free_unpacked(m, NULL);
    check_result_free(&chk);
    fleet_close(f);
    repo_close(r);
    return rc;
}

int cmd_restore(const coord_config *cfg, int argc, char **argv)
{
    restore_opts o;
    memset(&o, 0, sizeof(o));
    int rc = parse_args(&o, argc, argv);
    if (!rc) {
        cairn_err e;
        err_clear(&e);
        if ((rc = run_restore(cfg, &o, &e)) != 0) {
            fprintf(stderr, "cairn restore: %s\n", e.msg);
            rc = CMD_FAILED;
        }
    }
    free(o.filter.include);
    free(o.filter.exclude);
    return rc < 0 ? CMD_OK : rc;
}
