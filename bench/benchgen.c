/*
 * cairn-benchgen - the synthetic repository of figure 7 (bench/lifecycle.py), fast.
 *
 *     cairn-benchgen --repo DIR --blobs N --backups M --window W [--blob-bytes B]
 *
 * Writes a file:// repository in the real format: cairn.repo, N blobs and M complete
 * backups of 3 nodes each. Backup k references a window of W consecutive blob ids that
 * slides along the ids, as daily backups of a changing cluster do; the last 10% of the
 * blobs are referenced by nothing, so purge has garbage to find. Prints one JSON line
 * with what it wrote.
 *
 * Blob i is named by the SHA-256 of i (8 bytes, little-endian), so names are valid and
 * spread evenly over the shards. Neither verify without --read-data nor purge reads a
 * blob, so its bytes are a stand-in: B bytes (default 0), because an empty file costs an
 * inode and no data block, and 10 million 4 KiB blocks would fill the disk for nothing.
 * Blobs are written as plain files, without the store's fsync and rename: they are
 * most of the run and a bench fixture needs no durability.
 *
 * Manifests, on the other hand, go through the project's own writers
 * (manifest_node_begin/add_table/finish, manifest_cluster_write) with the repository
 * opened by repo_open, so they are byte for byte what a backup writes: the cluster
 * manifest records each node manifest's key and the SHA-256 its writer reported, the
 * way coordinator/command/backup.c does.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "base/hex.h"
#include "repo/blob.h"
#include "repo/manifest.h"
#include "repo/repo.h"
#include "repo.pb-c.h"

#define BENCHGEN_NODES       3
#define BENCHGEN_CLUSTER     "bench"
#define BENCHGEN_FILE_SIZE   100   /* what the manifests say each file holds */
#define BENCHGEN_TABLE_FILES 10000 /* files per TableEntry: many records, none large */
#define BENCHGEN_THREADS     2
#define BENCHGEN_DAY_MS      86400000ull
/* 2026-01-01T00:00:00Z: backup k is dated k days later, so tags sort as they were made. */
#define BENCHGEN_EPOCH_MS 1767225600000ull

typedef struct benchgen_opts {
    const char *repo;
    uint64_t blobs, backups, window, blob_bytes;
} benchgen_opts;

static void benchgen_blob_id(uint64_t i, char out[BLOB_ID_HEX + 1])
{
    unsigned char le[8], md[32];
    for (int k = 0; k < 8; k++)
        le[k] = (unsigned char)(i >> (8 * k));
    EVP_Digest(le, sizeof(le), md, NULL, EVP_sha256(), NULL);
    hex_encode(md, sizeof(md), out);
}

static double benchgen_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- blobs ---- */

struct benchgen_blobs {
    const benchgen_opts *o;
    const int *shard_fd; /* blobs/<2 hex>/, by shard */
    unsigned part, parts;
    cairn_err err;
    int rc;
};

static void *benchgen_blob_worker(void *arg)
{
    struct benchgen_blobs *w = arg;
    static const char standin[4096];
    uint64_t n = w->o->blob_bytes < sizeof(standin) ? w->o->blob_bytes : sizeof(standin);
    for (uint64_t i = w->part; i < w->o->blobs; i += w->parts) {
        char id[BLOB_ID_HEX + 1];
        benchgen_blob_id(i, id);
        int dfd = w->shard_fd[strtoul((char[3]){id[0], id[1], 0}, NULL, 16)];
        int fd = openat(dfd, id, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || (n && write(fd, standin, n) != (ssize_t)n)) {
            w->rc = err_set(&w->err, CAIRN_EIO, "blob %s: %s", id, strerror(errno));
            if (fd >= 0)
                close(fd);
            return NULL;
        }
        close(fd);
    }
    return NULL;
}

static int benchgen_write_blobs(const benchgen_opts *o, cairn_err *e)
{
    char path[PATH_MAX];
    int shard_fd[256];
    int rc = 0;
    snprintf(path, sizeof(path), "%s/blobs", o->repo);
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return err_set(e, CAIRN_EIO, "%s: %s", path, strerror(errno));
    for (int s = 0; s < 256; s++) {
        snprintf(path, sizeof(path), "%s/blobs/%02x", o->repo, s);
        shard_fd[s] = -1;
        if (!rc && mkdir(path, 0755) != 0 && errno != EEXIST)
            rc = err_set(e, CAIRN_EIO, "%s: %s", path, strerror(errno));
        if (!rc && (shard_fd[s] = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
            rc = err_set(e, CAIRN_EIO, "%s: %s", path, strerror(errno));
    }
    struct benchgen_blobs w[BENCHGEN_THREADS];
    pthread_t t[BENCHGEN_THREADS];
    unsigned started = 0;
    for (unsigned p = 0; !rc && p < BENCHGEN_THREADS; p++) {
        w[p] = (struct benchgen_blobs){
            .o = o, .shard_fd = shard_fd, .part = p, .parts = BENCHGEN_THREADS};
        if (pthread_create(&t[p], NULL, benchgen_blob_worker, &w[p]) != 0) {
            rc = err_set(e, CAIRN_ENOMEM, "cannot start a thread");
            break;
        }
        started++;
    }
    for (unsigned p = 0; p < started; p++) {
        pthread_join(t[p], NULL);
        if (!rc && w[p].rc) {
            *e = w[p].err;
            rc = w[p].rc;
        }
    }
    for (int s = 0; s < 256; s++)
        if (shard_fd[s] >= 0)
            close(shard_fd[s]);
    return rc;
}

/* ---- backups ---- */

/* One node's share of a backup: blob ids [first, first + n), in tables of
 * BENCHGEN_TABLE_FILES files. ids/names/entries are scratch of that many. */
struct benchgen_node {
    char (*ids)[BLOB_ID_HEX + 1];
    char (*names)[48];
    Cairn__Repo__FileEntry *entries;
    Cairn__Repo__FileEntry **ptrs;
};

static int benchgen_write_node(repo *r, struct benchgen_node *s, const char *tag, const char *host,
                               uint64_t snapshot_ms, uint64_t first, uint64_t n,
                               Cairn__Repo__NodeRef *ref, char *key, size_t key_cap, char sha[65],
                               cairn_err *e)
{
    repo_node_manifest_key(BENCHGEN_CLUSTER, tag, host, key, key_cap);
    Cairn__Repo__NodeManifest h = CAIRN__REPO__NODE_MANIFEST__INIT;
    h.cluster = BENCHGEN_CLUSTER;
    h.tag = (char *)tag;
    h.host_id = (char *)host;
    h.address = "127.0.0.1";
    h.has_snapshot_time_ms = h.has_created_ms = 1;
    h.snapshot_time_ms = h.created_ms = snapshot_ms;
    h.tool_version = CAIRN_VERSION;
    manifest_writer *w = NULL;
    int rc = manifest_node_begin(r, key, &h, &w, e);
    uint64_t tables = 0;
    for (uint64_t done = 0; !rc && done < n; done += BENCHGEN_TABLE_FILES) {
        uint64_t m = n - done < BENCHGEN_TABLE_FILES ? n - done : BENCHGEN_TABLE_FILES;
        for (uint64_t j = 0; j < m; j++) {
            Cairn__Repo__FileEntry *f = &s->entries[j];
            cairn__repo__file_entry__init(f);
            benchgen_blob_id(first + done + j, s->ids[j]);
            snprintf(s->names[j], sizeof(s->names[j]), "me-%" PRIu64 "-big-Data.db",
                     first + done + j);
            f->name = s->names[j];
            f->size = BENCHGEN_FILE_SIZE;
            f->blob = s->ids[j];
            s->ptrs[j] = f;
        }
        char name[32];
        snprintf(name, sizeof(name), "t%" PRIu64, tables++);
        Cairn__Repo__TableEntry t = CAIRN__REPO__TABLE_ENTRY__INIT;
        t.keyspace = "ks";
        t.name = name;
        t.files = s->ptrs;
        t.n_files = m;
        rc = manifest_node_add_table(w, &t, e);
    }
    if (rc) {
        manifest_node_abort(w);
        return rc;
    }
    rc = manifest_node_finish(w, sha, NULL, e);
    if (rc)
        return rc;
    cairn__repo__node_ref__init(ref);
    ref->host_id = (char *)host;
    ref->manifest_key = key;
    ref->manifest_sha256 = sha;
    ref->address = "127.0.0.1";
    ref->has_snapshot_time_ms = ref->has_files = ref->has_bytes = ref->has_tables = 1;
    ref->snapshot_time_ms = snapshot_ms;
    ref->files = n;
    ref->bytes = n * BENCHGEN_FILE_SIZE;
    ref->tables = tables;
    return 0;
}

static void benchgen_tag(uint64_t k, char *out, size_t cap)
{
    time_t t = (time_t)((BENCHGEN_EPOCH_MS + k * BENCHGEN_DAY_MS) / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "cairn_%Y%m%d%H%M%S.000Z", &tm);
}

static int benchgen_write_backups(repo *r, const benchgen_opts *o, uint64_t live, uint64_t step,
                                  uint64_t *entries, cairn_err *e)
{
    static const char *const hosts[BENCHGEN_NODES] = {"00000000-0000-0000-0000-000000000001",
                                                      "00000000-0000-0000-0000-000000000002",
                                                      "00000000-0000-0000-0000-000000000003"};
    uint64_t per = (o->window + BENCHGEN_NODES - 1) / BENCHGEN_NODES;
    uint64_t cap = per < BENCHGEN_TABLE_FILES ? per : BENCHGEN_TABLE_FILES;
    struct benchgen_node s = {calloc(cap, sizeof(*s.ids)), calloc(cap, sizeof(*s.names)),
                              calloc(cap, sizeof(*s.entries)), calloc(cap, sizeof(*s.ptrs))};
    int rc = 0;
    if (!s.ids || !s.names || !s.entries || !s.ptrs)
        rc = err_set(e, CAIRN_ENOMEM, "out of memory");
    for (uint64_t k = 0; !rc && k < o->backups; k++) {
        char tag[64], keys[BENCHGEN_NODES][512], shas[BENCHGEN_NODES][65];
        Cairn__Repo__NodeRef refs[BENCHGEN_NODES], *ptrs[BENCHGEN_NODES];
        benchgen_tag(k, tag, sizeof(tag));
        uint64_t start_ms = BENCHGEN_EPOCH_MS + k * BENCHGEN_DAY_MS;
        uint64_t first = k * step < live - o->window ? k * step : live - o->window;
        Cairn__Repo__ClusterManifest m = CAIRN__REPO__CLUSTER_MANIFEST__INIT;
        for (unsigned h = 0; !rc && h < BENCHGEN_NODES; h++) {
            uint64_t lo = h * per < o->window ? h * per : o->window;
            uint64_t hi = (h + 1) * per < o->window ? (h + 1) * per : o->window;
            rc = benchgen_write_node(r, &s, tag, hosts[h], start_ms, first + lo, hi - lo, &refs[h],
                                     keys[h], sizeof(keys[h]), shas[h], e);
            ptrs[h] = &refs[h];
            m.files += hi - lo;
            m.bytes += (hi - lo) * BENCHGEN_FILE_SIZE;
            m.tables += refs[h].tables;
        }
        if (rc)
            break;
        m.cluster = BENCHGEN_CLUSTER;
        m.tag = tag;
        m.start_ms = start_ms;
        m.end_ms = start_ms + 60000;
        m.tool_version = CAIRN_VERSION;
        m.has_skew_ms = m.has_files = m.has_bytes = m.has_tables = 1;
        m.nodes = ptrs;
        m.n_nodes = BENCHGEN_NODES;
        char key[512];
        repo_cluster_manifest_key(BENCHGEN_CLUSTER, tag, key, sizeof(key));
        rc = manifest_cluster_write(r, key, &m, e);
        *entries += m.files;
    }
    free(s.ids);
    free(s.names);
    free(s.entries);
    free(s.ptrs);
    return rc;
}

static int benchgen_parse_u64(const char *name, const char *text, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || !*text || *end || text[0] == '-') {
        fprintf(stderr, "cairn-benchgen: %s takes a number, not '%s'\n", name, text);
        return CAIRN_EINVAL;
    }
    *out = v;
    return 0;
}

static int benchgen_args(benchgen_opts *o, int argc, char **argv)
{
    static const struct option opts[] = {
        {"repo", required_argument, NULL, 'r'},       {"blobs", required_argument, NULL, 'n'},
        {"backups", required_argument, NULL, 'm'},    {"window", required_argument, NULL, 'w'},
        {"blob-bytes", required_argument, NULL, 'b'}, {NULL, 0, NULL, 0}};
    *o = (benchgen_opts){.blobs = 200000, .backups = 1000};
    int c, rc = 0;
    while (!rc && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'r')
            o->repo = optarg;
        else if (c == 'n')
            rc = benchgen_parse_u64("--blobs", optarg, &o->blobs);
        else if (c == 'm')
            rc = benchgen_parse_u64("--backups", optarg, &o->backups);
        else if (c == 'w')
            rc = benchgen_parse_u64("--window", optarg, &o->window);
        else if (c == 'b')
            rc = benchgen_parse_u64("--blob-bytes", optarg, &o->blob_bytes);
        else
            rc = CAIRN_EINVAL;
    }
    if (!o->window)
        o->window = o->blobs / 100 > BENCHGEN_NODES ? o->blobs / 100 : BENCHGEN_NODES;
    if (!rc && (!o->repo || o->repo[0] != '/' || optind < argc)) {
        fprintf(stderr, "usage: cairn-benchgen --repo /ABS/DIR --blobs N --backups M --window W "
                        "[--blob-bytes B]\n");
        rc = CAIRN_EINVAL;
    }
    /* The window must fit in the referenced 90%: the last 10% stay garbage. */
    if (!rc && (o->backups == 0 || o->window > o->blobs - o->blobs / 10)) {
        fprintf(stderr, "cairn-benchgen: need at least one backup and a window of at most 90%% "
                        "of the blobs\n");
        rc = CAIRN_EINVAL;
    }
    return rc;
}

int main(int argc, char **argv)
{
    benchgen_opts o;
    if (benchgen_args(&o, argc, argv))
        return 2;
    cairn_err e;
    err_clear(&e);
    double t0 = benchgen_now_s();
    if (mkdir(o.repo, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "cairn-benchgen: %s: %s\n", o.repo, strerror(errno));
        return 1;
    }
    char url[PATH_MAX + 16];
    snprintf(url, sizeof(url), "file://%s", o.repo);
    repo *r = NULL;
    int rc = repo_open(&r, url, NULL, true, &e);
    if (!rc)
        rc = benchgen_write_blobs(&o, &e);
    double t_blobs = benchgen_now_s() - t0;
    uint64_t live = o.blobs - o.blobs / 10;
    uint64_t step = (live - o.window) / (o.backups > 1 ? o.backups - 1 : 1);
    if (step == 0)
        step = 1;
    uint64_t entries = 0;
    if (!rc)
        rc = benchgen_write_backups(r, &o, live, step, &entries, &e);
    repo_close(r);
    if (rc) {
        fprintf(stderr, "cairn-benchgen: %s\n", e.msg);
        return 1;
    }
    /* Blobs [0, last window's end) are referenced: the windows overlap or touch, since
     * step is at most what fits between the first and the last window. */
    uint64_t last =
        (o.backups - 1) * step < live - o.window ? (o.backups - 1) * step : live - o.window;
    uint64_t referenced = last + o.window;
    if (step > o.window)
        referenced = o.backups * o.window;
    printf("{\"blobs\": %" PRIu64 ", \"backups\": %" PRIu64 ", \"nodes\": %d, \"window\": %" PRIu64
           ", \"referenced_entries\": %" PRIu64 ", \"unreferenced_blobs\": %" PRIu64
           ", \"blob_bytes\": %" PRIu64 ", \"blobs_s\": %.1f, \"seconds\": %.1f}\n",
           o.blobs, o.backups, BENCHGEN_NODES, o.window, entries, o.blobs - referenced,
           o.blob_bytes, t_blobs, benchgen_now_s() - t0);
    return 0;
}
