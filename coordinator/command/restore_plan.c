/*
 * Design notes.
 *
 * Records: one rs_sstable per SSTable and one file entry per file, in two arrays that
 * grow as the node manifests stream past (a manifest is never held whole). An SSTable
 * names its files by a range of the file array, its table and source node by index,
 * so the plan is a few flat arrays with no pointers between records; a backup of
 * millions of files would want the assignment streamed per table instead (see
 * docs/restore.md).
 *
 * Grouping: the files of one table entry are sorted by name, and the files that share
 * an SSTable prefix (everything before the component) make one SSTable.
 *
 * Blob check: distinct objects only, each asked for once, on a pool of threads: a
 * standalone blob by its id, a packed one (format 2) by its pack, whose members are
 * not read here; the first missing one stops the check and is named with the file
 * and table that need it, because the operator thinks in tables.
 *
 * Assignment: refresh maps each source node to the target with its host id and the
 * same tokens. Load-and-stream takes the SSTables largest first and gives each to the
 * target with the fewest bytes so far, so the nodes finish together. Tablet keyspaces'
 * tables take the load-and-stream way in a refresh too: ScyllaDB places their data by
 * tablets, and loads them only by load-and-stream (it would stream them anyway). Asked
 * for by name, refresh is refused for them rather than quietly not used.
 */
#include "command/restore_plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/debug.h"
#include "base/pool.h"
#include "repo/manifest.h"
#include "scylla/names.h"
#include "scylla/sstable.h"

#define BLOB_CHECK_THREADS 8

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
    nt[p->n_tables].tablets = false;
    for (size_t k = 0; k < p->n_keyspaces; k++)
        if (strcmp(p->keyspaces[k]->name, ks) == 0)
            nt[p->n_tables].tablets = p->keyspaces[k]->tablets;
    return (uint32_t)p->n_tables++;
}

static int push_file(restore_plan *p, const Cairn__Repo__FileEntry *c, cairn_err *e)
{
    int rc = buf_append(&p->files_buf, c, sizeof(*c), e);
    p->files = (Cairn__Repo__FileEntry *)p->files_buf.data;
    p->n_files = p->files_buf.len / sizeof(*c);
    return rc;
}

static int push_sstable(restore_plan *p, const rs_sstable *x, cairn_err *e)
{
    int rc = buf_append(&p->sst_buf, x, sizeof(*x), e);
    p->sst = (rs_sstable *)p->sst_buf.data;
    p->n_sst = p->sst_buf.len / sizeof(*x);
    return rc;
}

static int add_file(restore_plan *p, const Cairn__Repo__FileEntry *f, cairn_err *e)
{
    Cairn__Repo__FileEntry c;
    cairn__repo__file_entry__init(&c);
    c.name = strdup(f->name);
    c.blob = strdup(f->blob);
    c.size = f->size;
    c.has_data_crc32 = f->has_data_crc32;
    c.data_crc32 = f->data_crc32;
    c.has_crc_mismatch = f->has_crc_mismatch;
    c.crc_mismatch = f->crc_mismatch;
    c.pack = f->pack ? strdup(f->pack) : NULL;
    c.has_pack_offset = f->has_pack_offset;
    c.pack_offset = f->pack_offset;
    c.has_pack_length = f->has_pack_length;
    c.pack_length = f->pack_length;
    if (push_file(p, &c, e) != 0) {
        free(c.name);
        free(c.blob);
        free(c.pack);
        return CAIRN_ENOMEM;
    }
    if (!c.name || !c.blob || (f->pack && !c.pack))
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    if (!name_valid(NAME_SSTABLE_FILE, f->name) || !name_valid(NAME_BLOB_ID, f->blob))
        return err_set(e, CAIRN_ECORRUPT, "the manifest names an invalid file or blob");
    repo_ref ref;
    return manifest_file_ref(f, &ref, e);
}

static int file_prefix_cmp(const void *a, const void *b)
{
    return strcmp(((const Cairn__Repo__FileEntry *)a)->name,
                  ((const Cairn__Repo__FileEntry *)b)->name);
}

static uint64_t sst_hash(uint32_t table, uint32_t source, const char *name, size_t plen)
{
    uint64_t h = 1469598103934665603ULL ^ ((uint64_t)table << 32 | source);
    for (size_t i = 0; i < plen; i++)
        h = (h ^ (unsigned char)name[i]) * 1099511628211ULL;
    return h;
}

static bool sst_same(const restore_plan *p, uint32_t a, uint32_t table, uint32_t source,
                     const char *name, size_t plen)
{
    const rs_sstable *x = &p->sst[a];
    return x->table == table && x->source == source &&
           strncmp(p->files[x->first].name, name, plen) == 0 &&
           p->files[x->first].name[plen] == '-';
}

static int seen_grow(restore_plan *p, cairn_err *e);

/* Whether the plan holds the SSTable of table and source named by the prefix (plen
 * bytes of name) already; when not, index (its place in p->sst) is remembered. A chain
 * names an SSTable twice when an increment recorded a link its base or an earlier
 * increment holds (a link whose removal did not happen): it is loaded once. */
static int sst_seen(restore_plan *p, uint32_t table, uint32_t source, const char *name, size_t plen,
                    uint32_t index, bool *seen, cairn_err *e)
{
    if ((p->seen_n + 1) * 2 > p->seen_cap && seen_grow(p, e) != 0)
        return CAIRN_ENOMEM;
    size_t mask = p->seen_cap - 1;
    for (size_t i = sst_hash(table, source, name, plen) & mask;; i = (i + 1) & mask) {
        if (!p->seen[i]) {
            p->seen[i] = index + 1;
            p->seen_n++;
            *seen = false;
            return 0;
        }
        if (sst_same(p, p->seen[i] - 1, table, source, name, plen)) {
            *seen = true;
            return 0;
        }
    }
}

static int seen_grow(restore_plan *p, cairn_err *e)
{
    size_t cap = p->seen_cap ? p->seen_cap * 2 : 1024;
    uint32_t *old = p->seen;
    size_t old_cap = p->seen_cap;
    if (!(p->seen = calloc(cap, sizeof(*p->seen)))) {
        p->seen = old;
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    }
    p->seen_cap = cap;
    for (size_t i = 0; i < old_cap; i++) {
        if (!old[i])
            continue;
        const rs_sstable *x = &p->sst[old[i] - 1];
        size_t plen;
        const char *comp;
        sstable_split(p->files[x->first].name, &plen, &comp);
        size_t j = sst_hash(x->table, x->source, p->files[x->first].name, plen) & (cap - 1);
        while (p->seen[j])
            j = (j + 1) & (cap - 1);
        p->seen[j] = old[i];
    }
    free(old);
    return 0;
}

static void drop_files(restore_plan *p, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        free(p->files[i].name);
        free(p->files[i].blob);
        free(p->files[i].pack);
    }
}

/* The files from `start` on, sorted by name, as SSTables of table t; an SSTable the
 * plan holds already is dropped, its files with it. */
static int group_sstables(restore_plan *p, uint32_t t, size_t start, cairn_err *e)
{
    size_t w = start; /* where the next kept file goes */
    size_t end = p->n_files, i = start;
    int rc = 0;
    while (!rc && i < end) {
        size_t plen, plen2;
        const char *comp;
        if (sstable_split(p->files[i].name, &plen, &comp) != 0) {
            rc = err_set(e, CAIRN_ECORRUPT, "'%s' is not an SSTable file", p->files[i].name);
            break;
        }
        size_t k = i;
        uint64_t bytes = 0;
        while (k < end && sstable_split(p->files[k].name, &plen2, &comp) == 0 && plen2 == plen &&
               strncmp(p->files[k].name, p->files[i].name, plen) == 0)
            bytes += p->files[k++].size;
        CAIRN_ASSERT(k > i); /* file i itself belongs to its SSTable */
        bool seen = false;
        if ((rc = sst_seen(p, t, p->cur_source, p->files[i].name, plen, (uint32_t)p->n_sst, &seen,
                           e)) != 0)
            break;
        if (seen) {
            drop_files(p, i, k);
        } else {
            rs_sstable x = {t, p->cur_source, (uint32_t)w, (uint32_t)(k - i), bytes, -1};
            if ((rc = push_sstable(p, &x, e)) != 0)
                break;
            if (w != i)
                memmove(&p->files[w], &p->files[i], (k - i) * sizeof(*p->files));
            p->bytes += bytes;
            w += k - i;
        }
        i = k;
    }
    if (rc)
        drop_files(p, i, end); /* not yet kept or dropped */
    p->files_buf.len = w * sizeof(*p->files);
    p->n_files = w;
    return rc;
}

int restore_plan_add_table(restore_plan *p, const Cairn__Repo__TableEntry *te, cairn_err *e)
{
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
    if (p->n_files > start) /* a table without files may have no array to sort yet */
        qsort(p->files + start, p->n_files - start, sizeof(*p->files), file_prefix_cmp);
    return group_sstables(p, t, start, e);
}

static int collect_table(void *ctx, const Cairn__Repo__TableEntry *te, cairn_err *e)
{
    return restore_plan_add_table(ctx, te, e);
}

/* The source of host_id, added when new (its tokens come with its manifest). */
static int source_of(restore_plan *p, const char *host_id, uint32_t *out, bool *is_new,
                     cairn_err *e)
{
    *is_new = false;
    for (size_t i = 0; i < p->n_sources; i++) {
        if (strcmp(p->sources[i].host_id, host_id) == 0) {
            *out = (uint32_t)i;
            return 0;
        }
    }
    rs_source *ns = realloc(p->sources, (p->n_sources + 1) * sizeof(*ns));
    if (!ns)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    p->sources = ns;
    ns[p->n_sources] = (rs_source){.host_id = strdup(host_id)};
    if (!ns[p->n_sources].host_id)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    *is_new = true;
    *out = (uint32_t)p->n_sources++;
    return 0;
}

static int read_node(repo *r, const Cairn__Repo__NodeRef *ref, restore_plan *p, cairn_err *e)
{
    bool is_new;
    int rc = source_of(p, ref->host_id, &p->cur_source, &is_new, e);
    if (rc)
        return rc;
    Cairn__Repo__NodeManifest *h = NULL;
    rc = manifest_node_read(r, ref->manifest_key, ref->manifest_sha256, &h, collect_table, p, e);
    if (!rc && is_new) { /* kept past the header: the node's tokens when first named */
        rs_source *s = &p->sources[p->cur_source];
        s->tokens = h->tokens;
        s->n_tokens = h->n_tokens;
        h->tokens = NULL;
        h->n_tokens = 0;
    }
    if (h)
        cairn__repo__node_manifest__free_unpacked(h, NULL);
    return rc ? err_prefix(e, "node manifest of %s", ref->host_id) : 0;
}

int restore_plan_read_chain(repo *r, Cairn__Repo__ClusterManifest *const *chain, size_t n,
                            restore_plan *p, cairn_err *e)
{
    for (size_t c = 0; c < n; c++) {
        for (size_t i = 0; i < chain[c]->n_nodes; i++) {
            int rc = read_node(r, chain[c]->nodes[i], p, e);
            if (rc)
                return n > 1 ? err_prefix(e, "backup %s", chain[c]->tag) : rc;
        }
    }
    return 0;
}

int restore_plan_read(repo *r, const Cairn__Repo__ClusterManifest *m, restore_plan *p, cairn_err *e)
{
    Cairn__Repo__ClusterManifest *one = (Cairn__Repo__ClusterManifest *)m;
    return restore_plan_read_chain(r, &one, 1, p, e);
}

void restore_plan_free(restore_plan *p)
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
    free(p->seen);
    p->seen = NULL;
    p->seen_cap = p->seen_n = 0;
    for (size_t i = 0; i < p->n_files; i++) {
        free(p->files[i].name);
        free(p->files[i].blob);
        free(p->files[i].pack);
    }
    buf_free(&p->files_buf);
    buf_free(&p->sst_buf);
    p->files = NULL;
    p->sst = NULL;
    p->n_files = p->n_sst = 0;
}

typedef struct blob_check {
    repo *r;
    repo_ref *refs; /* distinct objects: each is asked for once */
} blob_check;

static int check_one(void *arg, size_t i, cairn_err *e)
{
    blob_check *c = arg;
    const repo_ref *ref = &c->refs[i];
    bool exists = false;
    int rc = repo_ref_exists(c->r, ref, &exists, e);
    if (rc || exists)
        return rc;
    if (ref->pack)
        return err_set(e, CAIRN_ENOENT,
                       "pack %s, which holds blob %s, is missing from the repository", ref->pack,
                       ref->blob);
    return err_set(e, CAIRN_ENOENT, "blob %s is missing from the repository", ref->blob);
}

/* The object a ref needs: its pack, or its blob. */
static const char *ref_object(const repo_ref *ref)
{
    return ref->pack ? ref->pack : ref->blob;
}

static int ref_cmp(const void *a, const void *b)
{
    const repo_ref *x = a, *y = b;
    if ((x->pack != NULL) != (y->pack != NULL))
        return x->pack ? 1 : -1;
    return strcmp(ref_object(x), ref_object(y));
}

/* Names the table too: it is what the operator thinks in. */
static int name_missing(const restore_plan *p, int rc, const cairn_err *ce, cairn_err *e)
{
    for (size_t s = 0; s < p->n_sst; s++) {
        const rs_sstable *x = &p->sst[s];
        CAIRN_ASSERT(x->table < p->n_tables && x->first + x->n <= p->n_files);
        for (uint32_t k = 0; k < x->n; k++)
            if (strstr(ce->msg, p->files[x->first + k].blob))
                return err_set(e, rc, "%s (%s), needed by table %s.%s; nothing was restored",
                               ce->msg, p->files[x->first + k].name, p->tables[x->table].keyspace,
                               p->tables[x->table].name);
    }
    *e = *ce;
    return rc;
}

int restore_plan_check_blobs(repo *r, restore_plan *p, cairn_err *e)
{
    blob_check c = {.r = r};
    c.refs = malloc((p->n_files ? p->n_files : 1) * sizeof(*c.refs));
    if (!c.refs)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    for (size_t i = 0; i < p->n_files; i++) {
        int rc = manifest_file_ref(&p->files[i], &c.refs[i], e);
        if (rc) {
            free(c.refs);
            return rc;
        }
    }
    qsort(c.refs, p->n_files, sizeof(*c.refs), ref_cmp);
    size_t n = 0;
    for (size_t i = 0; i < p->n_files; i++)
        if (n == 0 || ref_cmp(&c.refs[n - 1], &c.refs[i]) != 0)
            c.refs[n++] = c.refs[i];
    cairn_err ce;
    err_clear(&ce);
    int rc = pool_run(n, BLOB_CHECK_THREADS, check_one, &c, &ce);
    free(c.refs);
    return rc ? name_missing(p, rc, &ce, e) : 0;
}

static int token_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The index of the node serving s's host id, when its tokens are the source's; else -1. */
static int same_node(Cairn__Rpc__NodeInfo *const *nodes, size_t n, const rs_source *s)
{
    for (size_t i = 0; i < n; i++) {
        Cairn__Rpc__NodeInfo *info = nodes[i];
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

/* Largest first to the node with the fewest bytes so far; an SSTable with a target
 * already (refresh's) keeps it. */
static int balance(restore_plan *p, size_t n, cairn_err *e)
{
    uint64_t *load = calloc(n ? n : 1, sizeof(*load));
    if (!load)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    qsort(p->sst, p->n_sst, sizeof(*p->sst), sst_bytes_desc);
    for (size_t s = 0; s < p->n_sst; s++) {
        if (p->sst[s].target >= 0)
            continue;
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

/* --method refresh with tablet keyspaces: refused, naming them (as many as fit). */
static int refuse_refresh(const restore_plan *p, cairn_err *e)
{
    char list[512] = "";
    size_t len = 0;
    for (size_t t = 0; t < p->n_tables && len < sizeof(list); t++) {
        bool named = !p->tables[t].tablets;
        for (size_t k = 0; k < t && !named; k++)
            named =
                p->tables[k].tablets && strcmp(p->tables[k].keyspace, p->tables[t].keyspace) == 0;
        if (!named)
            len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", len ? ", " : "",
                                    p->tables[t].keyspace);
    }
    return err_set(e, CAIRN_EINVAL,
                   "--method refresh cannot load keyspaces that use tablets (%s): ScyllaDB "
                   "loads them only by load-and-stream; use --method auto (refresh for the "
                   "others, load-and-stream for these) or leave them out with --exclude",
                   list);
}

bool restore_plan_has_tablets(const restore_plan *p)
{
    for (size_t t = 0; t < p->n_tables; t++)
        if (p->tables[t].tablets)
            return true;
    return false;
}

int restore_plan_assign(restore_plan *p, Cairn__Rpc__NodeInfo *const *nodes, size_t n,
                        restore_method *method, cairn_err *e)
{
    CAIRN_ASSERT(n > 0);
    if (*method == METHOD_REFRESH && restore_plan_has_tablets(p))
        return refuse_refresh(p, e);
    for (size_t s = 0; s < p->n_sst; s++)
        p->sst[s].target = -1;
    bool same = true;
    int *map = calloc(p->n_sources ? p->n_sources : 1, sizeof(int));
    if (!map)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    for (size_t i = 0; i < p->n_sources; i++) {
        map[i] = same_node(nodes, n, &p->sources[i]);
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
    for (size_t s = 0; *method == METHOD_REFRESH && s < p->n_sst; s++) {
        CAIRN_ASSERT(p->sst[s].source < p->n_sources);
        if (!p->tables[p->sst[s].table].tablets)
            p->sst[s].target = map[p->sst[s].source];
    }
    free(map);
    return balance(p, n, e);
}

size_t restore_plan_keyspaces(const restore_plan *p, char **ks)
{
    size_t n = 0;
    for (size_t t = 0; t < p->n_tables; t++) {
        bool seen = false;
        for (size_t k = 0; k < n && !seen; k++)
            seen = strcmp(ks[k], p->tables[t].keyspace) == 0;
        if (!seen)
            ks[n++] = p->tables[t].keyspace;
    }
    return n;
}

/* A table's bytes on one node, as its describe answer gives them. */
static uint64_t node_table_bytes(const Cairn__Rpc__NodeInfo *node, const rs_table *t)
{
    for (size_t k = 0; k < node->n_tables; k++) {
        const Cairn__Rpc__Table *x = node->tables[k];
        if (x->has_live_bytes && strcmp(x->keyspace, t->keyspace) == 0 &&
            strcmp(x->name, t->name) == 0)
            return x->live_bytes;
    }
    return 0;
}

size_t restore_plan_nonempty(const restore_plan *p, Cairn__Rpc__NodeInfo *const *nodes, size_t n,
                             restore_plan_table_cb cb, void *ctx)
{
    size_t count = 0;
    for (size_t t = 0; t < p->n_tables; t++) {
        uint64_t bytes = 0;
        for (size_t i = 0; i < n; i++)
            if (nodes[i])
                bytes += node_table_bytes(nodes[i], &p->tables[t]);
        if (bytes == 0)
            continue;
        count++;
        if (cb)
            cb(ctx, &p->tables[t], bytes);
    }
    return count;
}
