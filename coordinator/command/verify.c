/*
 * verify - `cairn verify`: are the backups whole and intact?
 *
 * Three checks, cheapest first. Every node manifest must match the SHA-256 its
 * cluster manifest records (a truncated or altered manifest fails). Every blob a
 * backup references must exist: one listing of blobs/ and one of packs/ (1 request
 * per 1,000 keys) fill a Bloom filter of the blobs and packs present, in a fixed
 * 32 MiB whatever the size of the repository; a blob stored in a pack (format 2) is
 * there when its pack is. A referenced id the filter lacks is certainly missing, and
 * a missing one escapes with the filter's false-positive rate (about 1e-6 at 10
 * million objects), which --read-data closes. With --read-data blobs are downloaded
 * (all, or a random PERCENT chosen per blob; a packed one by a ranged read of its
 * member) and each one's SHA-256 and, for Data.db, the CRC-32 recorded from its
 * Digest at backup are checked; a blob read once from one place is not read again
 * from there for another backup. --repair, under the exclusive lease, deletes the
 * corrupt blobs and marks every damaged backup (backups/<cluster>/<tag>/damaged), so
 * that the next backup does not take a damaged one as its parent: what the parent
 * names is taken as present without asking, so only then does the next backup upload
 * the missing and corrupt files again from the nodes that still have them. It leaves
 * packs alone: a pack holding a corrupt member also holds intact ones, maybe the only
 * copy of files no node has any more.
 * --json prints each backup's result as soon as it is checked, inside the one
 * document, so memory does not grow with the number of backups.
 */
#include <getopt.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include <json-c/json.h>

#include "base/hex.h"
#include "base/log.h"
#include "cli/human.h"
#include "cli/cliopt.h"
#include "cli/cmdhelp.h"
#include "cli/metrics.h"
#include "cmd.h"
#include "command/catalog.h"
#include "command/lifecycle.h"
#include "repo/blob.h"
#include "repo/bloom.h"
#include "repo/manifest.h"
#include "repo/scan.h"
#include "scylla/sstable.h"

#define PRESENT_N        10000000u /* blobs and packs the existence filter is sized for */
#define PRESENT_FP       1e-6
#define PRESENT_MAX      (32u << 20)
#define READ_N           1000000u /* places the "already read" filter is sized for */
#define READ_MAX         (8u << 20)
#define PROBLEMS_SHOWN   100 /* per backup; the rest are counted */
#define CORRUPT_MAX      100000
#define MEMBER_NAME_MAX  (2 * BLOB_ID_HEX + 2) /* "<pack>/<blob>" */
#define VERIFY_LEASE_TTL 120

typedef struct verify_opts {
    const char *tag; /* NULL: every backup of the configured cluster */
    bool all;        /* every backup of every cluster */
    unsigned read_pct;
    bool repair, json;
    const char *metrics_file;
    char tag_buf[256]; /* the tag resolved ("latest") */
} verify_opts;

/* Sorted strings: every file entry of every backup is looked up in one. */
typedef struct verify_set {
    char **v;
    size_t n;
} verify_set;

typedef struct verify_run {
    const verify_opts *o;
    const coord_config *cfg;
    repo *r;
    bloom *present, *read;
    uint32_t seed;
    uint64_t blobs_listed, packs_listed, blobs_read, bytes_read, backups, damaged;
    uint64_t missing_total, corrupt_total; /* file entries, over every backup */
    /* Found corrupt, for later references: blob ids (and --repair's list), and packed
     * members as "<pack>/<blob>", sorted by pack so that a pack's are together. */
    verify_set corrupt, corrupt_members;
    /* --json: each backup's object is printed as soon as it is checked, so that memory
     * does not grow with the number of backups; the document is opened by the first. */
    bool json_open;
    uint64_t json_backups;
    json_object *jdamaged;
    /* the backup being checked */
    const char *cluster, *tag, *node;
    uint64_t missing, bad, shown;
    json_object *jproblems;
} verify_run;

static int parse_args(verify_opts *o, int argc, char **argv)
{
    static const struct option opts[] = {{"all", no_argument, NULL, 'a'},
                                         {"read-data", optional_argument, NULL, 'd'},
                                         {"repair", no_argument, NULL, 'r'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"metrics-file", required_argument, NULL, 'M'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    *o = (verify_opts){0};
    int c;
    optind = 1;
    while ((c = cliopt_getopt(argc, argv, opts)) != -1) {
        char *end;
        if (c == 'a') {
            o->all = true;
        } else if (c == 'r') {
            o->repair = true;
        } else if (c == 'j') {
            o->json = true;
        } else if (c == 'M') {
            o->metrics_file = optarg;
        } else if (c == 'd' && !optarg) {
            o->read_pct = 100;
        } else if (c == 'd') {
            unsigned long v = strtoul(optarg, &end, 10);
            if (*end == '%')
                end++;
            if (*end || !*optarg || v < 1 || v > 100) {
                fprintf(stderr, "cairn verify: --read-data=PERCENT takes 1 to 100, not '%s'\n",
                        optarg);
                return CMD_USAGE;
            }
            o->read_pct = (unsigned)v;
        } else if (c == 'h') {
            return cliopt_help("verify");
        } else {
            return cliopt_bad("verify", c, argv);
        }
    }
    if (optind < argc)
        o->tag = argv[optind++];
    if (optind < argc || (o->tag && o->all)) {
        fprintf(stderr, "cairn verify: give one TAG or --all\n");
        cmdhelp_print_name(stderr, "verify");
        return CMD_USAGE;
    }
    return 0;
}

static size_t set_pos(const verify_set *s, const char *id, bool *found)
{
    size_t lo = 0, hi = s->n;
    *found = false;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s->v[mid], id);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void set_add(verify_set *s, const char *id)
{
    bool found;
    size_t at = set_pos(s, id, &found);
    if (found || s->n >= CORRUPT_MAX)
        return;
    char **grown = realloc(s->v, (s->n + 1) * sizeof(*grown));
    char *copy = grown ? strdup(id) : NULL;
    if (grown)
        s->v = grown;
    if (!copy)
        return;
    memmove(s->v + at + 1, s->v + at, (s->n - at) * sizeof(*grown));
    s->v[at] = copy;
    s->n++;
}

static void set_free(verify_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
}

/* A packed member's name in corrupt_members. */
static void member_name(const repo_ref *ref, char out[MEMBER_NAME_MAX])
{
    snprintf(out, MEMBER_NAME_MAX, "%s/%s", ref->pack, ref->blob);
}

/* Where a blob was found corrupt is what is corrupt: the same bytes elsewhere (a blob
 * of their own, another pack) may be whole. */
static bool is_corrupt(const verify_run *v, const repo_ref *ref)
{
    bool found;
    char m[MEMBER_NAME_MAX];
    if (!ref->pack) {
        set_pos(&v->corrupt, ref->blob, &found);
        return found;
    }
    member_name(ref, m);
    set_pos(&v->corrupt_members, m, &found);
    return found;
}

static void note_corrupt(verify_run *v, const repo_ref *ref)
{
    char m[MEMBER_NAME_MAX];
    if (!ref->pack) {
        set_add(&v->corrupt, ref->blob);
        return;
    }
    member_name(ref, m);
    set_add(&v->corrupt_members, m);
}

/* The distinct packs of corrupt_members, to cb (may be NULL) in order; how many. */
static size_t corrupt_packs(const verify_run *v, void (*cb)(void *ctx, const char *pack), void *ctx)
{
    size_t n = 0;
    for (size_t i = 0; i < v->corrupt_members.n; i++) {
        const char *m = v->corrupt_members.v[i];
        if (i > 0 && strncmp(v->corrupt_members.v[i - 1], m, BLOB_ID_HEX) == 0)
            continue;
        n++;
        if (cb) {
            char pack[BLOB_ID_HEX + 1];
            snprintf(pack, sizeof(pack), "%.*s", BLOB_ID_HEX, m);
            cb(ctx, pack);
        }
    }
    return n;
}

/* One problem of the current backup; table, file, blob and pack may be NULL. */
static void problem(verify_run *v, const char *table, const char *file, const char *blob,
                    const char *pack, const char *what)
{
    if (v->shown++ >= PROBLEMS_SHOWN)
        return;
    if (!v->o->json) {
        printf("  %s/%s: node %s%s%s%s%s: %s%s%s%s%s\n", v->cluster, v->tag,
               v->node ? v->node : "-", table ? ", table " : "", table ? table : "",
               file ? ", file " : "", file ? file : "", what, blob ? ", blob " : "",
               blob ? blob : "", pack ? ", pack " : "", pack ? pack : "");
        return;
    }
    json_object *p = json_object_new_object();
    json_object_object_add(p, "node", v->node ? json_object_new_string(v->node) : NULL);
    json_object_object_add(p, "table", table ? json_object_new_string(table) : NULL);
    json_object_object_add(p, "file", file ? json_object_new_string(file) : NULL);
    json_object_object_add(p, "blob", blob ? json_object_new_string(blob) : NULL);
    json_object_object_add(p, "pack", pack ? json_object_new_string(pack) : NULL);
    json_object_object_add(p, "problem", json_object_new_string(what));
    json_object_array_add(v->jproblems, p);
}

static int list_blob(void *ctx, const char *id, uint64_t size, int64_t mtime_ms, cairn_err *e)
{
    (void)size, (void)mtime_ms, (void)e;
    verify_run *v = ctx;
    bloom_add(v->present, id);
    v->blobs_listed++;
    return 0;
}

static int list_pack(void *ctx, const char *id, uint64_t size, int64_t mtime_ms, cairn_err *e)
{
    (void)size, (void)mtime_ms, (void)e;
    verify_run *v = ctx;
    bloom_add(v->present, id);
    v->packs_listed++;
    return 0;
}

/* What the "already read" filter knows a place by: a blob's own id, a member's the
 * blob's and the pack's xor-ed (as uniform as either), so that the same bytes in
 * another place are read there too. */
static void read_key(const repo_ref *ref, char out[BLOB_ID_HEX + 1])
{
    unsigned char b[BLOB_ID_HEX / 2], p[BLOB_ID_HEX / 2];
    hex_decode(ref->blob, b, sizeof(b));
    if (ref->pack) {
        hex_decode(ref->pack, p, sizeof(p));
        for (size_t i = 0; i < sizeof(b); i++)
            b[i] ^= p[i];
    }
    hex_encode(b, sizeof(b), out);
}

/* PERCENT of the blobs, chosen by id and a per-run seed: every reference to a blob
 * gets the same answer. */
static bool sampled(const verify_run *v, const char *id)
{
    if (v->o->read_pct >= 100)
        return true;
    uint32_t h = (uint32_t)strtoul(
        (char[9]){id[0], id[1], id[2], id[3], id[4], id[5], id[6], id[7], 0}, NULL, 16);
    return ((h ^ v->seed) % 100u) < v->o->read_pct;
}

struct crc_sink {
    uLong crc;
};

static int crc_sink(void *ctx, const void *buf, size_t len, cairn_err *e)
{
    (void)e;
    struct crc_sink *c = ctx;
    c->crc = crc32(c->crc, buf, (uInt)len);
    return 0;
}

/* Downloads and checks the blob of f, at ref: 0 intact, 1 corrupt or missing
 * (reported), or an error that stops the run. */
static int read_blob(verify_run *v, const char *table, const Cairn__Repo__FileEntry *f,
                     const repo_ref *ref, cairn_err *e)
{
    struct crc_sink c = {crc32(0L, Z_NULL, 0)};
    uint64_t size = 0;
    cairn_err be;
    int rc = repo_ref_get(v->r, ref, crc_sink, &c, &size, &be);
    v->blobs_read++;
    v->bytes_read += size;
    if (rc == CAIRN_ECORRUPT) {
        note_corrupt(v, ref);
        v->bad++;
        problem(v, table, f->name, f->blob, ref->pack,
                ref->pack ? "corrupt (its bytes in the pack do not match its SHA-256)"
                          : "corrupt (its bytes do not match its SHA-256)");
        return 1;
    }
    if (rc == CAIRN_ENOENT) {
        v->missing++;
        problem(v, table, f->name, f->blob, ref->pack, ref->pack ? "missing pack" : "missing");
        return 1;
    }
    if (rc) {
        *e = be;
        return rc;
    }
    bool data = sstable_is_data(f->name) && f->has_data_crc32 && !f->crc_mismatch;
    if (data && (uint32_t)c.crc != f->data_crc32) {
        note_corrupt(v, ref);
        v->bad++;
        problem(v, table, f->name, f->blob, ref->pack,
                "corrupt (its CRC-32 does not match its Digest)");
        return 1;
    }
    char key[BLOB_ID_HEX + 1];
    read_key(ref, key);
    bloom_add(v->read, key);
    return 0;
}

static int check_file(verify_run *v, const char *table, const Cairn__Repo__FileEntry *f,
                      cairn_err *e)
{
    if (!f->blob || !blob_id_valid(f->blob)) {
        v->bad++;
        problem(v, table, f->name, NULL, NULL, "no valid blob id in the manifest");
        return 0;
    }
    repo_ref ref;
    cairn_err re;
    if (manifest_file_ref(f, &ref, &re) != 0) {
        v->bad++;
        problem(v, table, f->name, f->blob, NULL, re.msg);
        return 0;
    }
    if (is_corrupt(v, &ref)) {
        v->bad++;
        problem(v, table, f->name, f->blob, ref.pack, "corrupt (found before)");
        return 0;
    }
    if (!bloom_has(v->present, ref.pack ? ref.pack : ref.blob)) {
        v->missing++;
        problem(v, table, f->name, f->blob, ref.pack, ref.pack ? "missing pack" : "missing");
        return 0;
    }
    char key[BLOB_ID_HEX + 1];
    read_key(&ref, key);
    if (!v->o->read_pct || !sampled(v, f->blob) || bloom_has(v->read, key))
        return 0;
    int rc = read_blob(v, table, f, &ref, e);
    return rc > 0 ? 0 : rc;
}

static int check_table(void *ctx, const Cairn__Repo__TableEntry *t, cairn_err *e)
{
    verify_run *v = ctx;
    char table[512];
    snprintf(table, sizeof(table), "%s.%s", t->keyspace, t->name);
    for (size_t i = 0; i < t->n_files; i++) {
        int rc = check_file(v, table, t->files[i], e);
        if (rc)
            return rc;
    }
    return 0;
}

static int check_node(verify_run *v, const Cairn__Repo__NodeRef *n, cairn_err *e)
{
    v->node = n->host_id;
    Cairn__Repo__NodeManifest *h = NULL;
    cairn_err me;
    err_clear(&me);
    int rc = manifest_node_read(v->r, n->manifest_key, n->manifest_sha256, &h, check_table, v, &me);
    if (h)
        cairn__repo__node_manifest__free_unpacked(h, NULL);
    if (rc == CAIRN_ECORRUPT || rc == CAIRN_ENOENT || rc == CAIRN_EPROTO) {
        v->bad++;
        problem(v, NULL, NULL, NULL, NULL, me.msg);
        return 0;
    }
    if (rc)
        *e = me;
    return rc;
}

/* Starts the --json document: {"backups":[ and then the backups, as they are checked. */
static void json_open(verify_run *v)
{
    if (v->json_open)
        return;
    printf("{\"backups\":[");
    v->json_open = true;
}

/* Ends the document the backups went into with the members of rest (an object, freed):
 * one JSON document on one line, whatever the number of backups. */
static void json_close(verify_run *v, json_object *rest)
{
    json_open(v);
    const char *text = lifecycle_json_text(rest);
    /* rest is never empty, so its text is "{...}": its members follow the array. */
    printf("],%s\n", text + 1);
    json_object_put(rest);
}

static void backup_done(verify_run *v, bool ok)
{
    v->backups++;
    v->missing_total += v->missing;
    v->corrupt_total += v->bad;
    if (!ok) {
        v->damaged++;
        char name[512];
        snprintf(name, sizeof(name), "%s/%s", v->cluster, v->tag);
        json_object_array_add(v->jdamaged, json_object_new_string(name));
    }
    if (!v->o->json) {
        if (v->shown > PROBLEMS_SHOWN)
            printf("  ... and %llu more problems\n",
                   (unsigned long long)(v->shown - PROBLEMS_SHOWN));
        printf("%s/%s: %s", v->cluster, v->tag, ok ? "ok" : "DAMAGED");
        if (!ok)
            printf(" (%llu missing, %llu corrupt)", (unsigned long long)v->missing,
                   (unsigned long long)v->bad);
        printf("\n");
        return;
    }
    json_object *b = json_object_new_object();
    json_object_object_add(b, "cluster", json_object_new_string(v->cluster));
    json_object_object_add(b, "tag", json_object_new_string(v->tag));
    json_object_object_add(b, "ok", json_object_new_boolean(ok));
    json_object_object_add(b, "missing", json_object_new_int64((int64_t)v->missing));
    json_object_object_add(b, "corrupt", json_object_new_int64((int64_t)v->bad));
    json_object_object_add(b, "problems", v->jproblems);
    v->jproblems = NULL;
    json_open(v);
    printf("%s%s", v->json_backups++ ? "," : "", lifecycle_json_text(b));
    json_object_put(b);
}

static int check_backup(void *ctx, const scan_backup *b, cairn_err *e)
{
    verify_run *v = ctx;
    if (!b->complete || (v->o->tag && strcmp(b->tag, v->o->tag) != 0))
        return 0;
    v->cluster = b->cluster;
    v->tag = b->tag;
    v->node = NULL;
    v->missing = v->bad = v->shown = 0;
    v->jproblems = json_object_new_array();
    Cairn__Repo__ClusterManifest *m = NULL;
    cairn_err me;
    int rc = manifest_cluster_read(v->r, b->key, &m, &me);
    if (rc == CAIRN_ECORRUPT || rc == CAIRN_EPROTO) {
        v->bad++;
        problem(v, NULL, NULL, NULL, NULL, me.msg);
        rc = 0;
    } else if (rc) {
        *e = me;
    }
    if (m && m->schema_blob) {
        /* The schema blob is checked as a file of its own. */
        Cairn__Repo__FileEntry fe = CAIRN__REPO__FILE_ENTRY__INIT;
        fe.name = "schema";
        fe.blob = m->schema_blob;
        rc = check_file(v, NULL, &fe, e);
    }
    for (size_t i = 0; m && !rc && i < m->n_nodes; i++)
        rc = check_node(v, m->nodes[i], e);
    if (m)
        cairn__repo__cluster_manifest__free_unpacked(m, NULL);
    if (!rc)
        backup_done(v, v->missing == 0 && v->bad == 0);
    json_object_put(v->jproblems);
    v->jproblems = NULL;
    return rc;
}

/* Marks each damaged backup, so that no backup takes it as its parent. */
static int mark_damaged(verify_run *v, cairn_err *e)
{
    int rc = 0;
    for (size_t i = 0; !rc && i < json_object_array_length(v->jdamaged); i++) {
        const char *name = json_object_get_string(json_object_array_get_idx(v->jdamaged, i));
        char key[1024];
        snprintf(key, sizeof(key), REPO_BACKUPS_PREFIX "%s/" REPO_DAMAGED_NAME, name);
        rc = repo_manifest_put_note(v->r, key, "damaged: found by cairn verify --repair\n", e);
    }
    return rc;
}

/* Deletes the corrupt blobs and marks the damaged backups; the next backup uploads
 * the missing and corrupt files again. Packs stay (see the top of the file). */
static int repair(verify_run *v, cairn_err *e)
{
    char owner[512], host[128] = "?";
    gethostname(host, sizeof(host));
    snprintf(owner, sizeof(owner), "cairn verify --repair on %s pid %d", host, (int)getpid());
    repo_lease *l = NULL;
    int rc = repo_lease_acquire(v->r, REPO_LEASE_EXCLUSIVE, owner, VERIFY_LEASE_TTL, &l, e);
    if (rc)
        return err_prefix(e, "cannot repair");
    scan_deleter d = {.r = v->r};
    for (size_t i = 0; !rc && i < v->corrupt.n; i++) {
        char key[128];
        repo_blob_key(v->corrupt.v[i], key, sizeof(key));
        rc = scan_delete_add(&d, key, e);
    }
    if (!rc)
        rc = scan_delete_flush(&d, e);
    scan_delete_free(&d);
    if (!rc)
        rc = mark_damaged(v, e);
    repo_lease_release(l);
    return rc;
}

static int verify_all(verify_run *v, cairn_err *e)
{
    int rc = bloom_new(&v->present, PRESENT_N, PRESENT_FP, PRESENT_MAX, e);
    if (!rc)
        rc = bloom_new(&v->read, READ_N, PRESENT_FP, READ_MAX, e);
    if (!rc)
        rc = scan_blobs(v->r, list_blob, v, e);
    if (!rc)
        rc = scan_packs(v->r, list_pack, v, e);
    if (!rc)
        rc = scan_backups(v->r, v->o->all ? NULL : v->cfg->cluster, check_backup, v, e);
    if (!rc && v->o->tag && v->backups == 0)
        rc = err_set(e, CAIRN_ENOENT, "no complete backup %s of cluster %s in the repository",
                     v->o->tag, v->cfg->cluster);
    if (!rc && v->o->repair && v->damaged)
        rc = repair(v, e);
    return rc;
}

static void add_string(void *ctx, const char *s)
{
    json_object_array_add(ctx, json_object_new_string(s));
}

static void print_summary(verify_run *v, bool ok)
{
    char b[32], q[256];
    if (!v->o->json) {
        size_t packs = corrupt_packs(v, NULL, NULL);
        printf("%llu backups checked, %llu damaged; %llu blobs and %llu packs listed",
               (unsigned long long)v->backups, (unsigned long long)v->damaged,
               (unsigned long long)v->blobs_listed, (unsigned long long)v->packs_listed);
        if (v->o->read_pct)
            printf(", %llu blobs read (%s, --read-data=%u%%)", (unsigned long long)v->blobs_read,
                   human_bytes(v->bytes_read, b, sizeof(b)), v->o->read_pct);
        printf("\n");
        if (v->o->repair && v->damaged)
            printf("repaired: deleted %zu corrupt blobs and marked the damaged backups; the next "
                   "backup uploads what they miss again from the nodes that still have the "
                   "files. Until then these backups stay damaged:\n",
                   v->corrupt.n);
        else if (v->damaged)
            printf("`cairn verify --repair` deletes the %zu corrupt blobs and marks the damaged "
                   "backups so that the next backup uploads what they miss again\n",
                   v->corrupt.n);
        if (packs)
            printf("%zu packs hold corrupt blobs; --repair does not delete packs, whose other "
                   "blobs may be intact\n",
                   packs);
        if (v->o->repair && v->damaged)
            for (size_t i = 0; i < json_object_array_length(v->jdamaged); i++)
                printf("  %s\n", json_object_get_string(json_object_array_get_idx(v->jdamaged, i)));
        printf("requests: %s\n%s\n", lifecycle_requests_text(v->r, q, sizeof(q)),
               ok ? "all is well" : "PROBLEMS FOUND");
        return;
    }
    json_object *d = json_object_new_object();
    json_object_object_add(d, "ok", json_object_new_boolean(ok));
    json_object_object_add(d, "damaged", v->jdamaged);
    v->jdamaged = NULL;
    json_object_object_add(d, "blobs_listed", json_object_new_int64((int64_t)v->blobs_listed));
    json_object_object_add(d, "packs_listed", json_object_new_int64((int64_t)v->packs_listed));
    json_object_object_add(d, "read_percent", json_object_new_int64(v->o->read_pct));
    json_object_object_add(d, "blobs_read", json_object_new_int64((int64_t)v->blobs_read));
    json_object_object_add(d, "bytes_read", json_object_new_int64((int64_t)v->bytes_read));
    json_object *c = json_object_new_array();
    for (size_t i = 0; i < v->corrupt.n; i++)
        add_string(c, v->corrupt.v[i]);
    json_object_object_add(d, "corrupt_blobs", c);
    json_object *cp = json_object_new_array();
    corrupt_packs(v, add_string, cp);
    json_object_object_add(d, "corrupt_packs", cp);
    json_object_object_add(d, "repaired", json_object_new_boolean(v->o->repair && v->damaged));
    json_object_object_add(d, "requests", lifecycle_requests_json(v->r));
    json_close(v, d);
}

/* --metrics-file: what the run found, when it got to the end (complete), and whether
 * all was well. */
static void write_metrics(const verify_run *v, bool complete, bool ok, uint64_t duration_ms)
{
    metrics *mx = NULL;
    cairn_err e;
    if (metrics_new(&mx, v->cfg->cluster, &e) != 0) {
        fprintf(stderr, "cairn verify: warning: the metrics file was not written: %s\n", e.msg);
        return;
    }
    if (complete) {
        metrics_add(mx, "cairn_verify_backups", "Backups the last verify checked",
                    (double)v->backups, NULL);
        metrics_add(mx, "cairn_verify_damaged_backups", "Backups the last verify found damaged",
                    (double)v->damaged, NULL);
        metrics_add(mx, "cairn_verify_problems",
                    "Files the last verify found missing or corrupt, over every backup checked",
                    (double)(v->missing_total + v->corrupt_total), NULL);
        metrics_add(mx, "cairn_verify_corrupt_blobs",
                    "Blobs of their own the last verify found corrupt", (double)v->corrupt.n, NULL);
        metrics_add(mx, "cairn_verify_corrupt_packs",
                    "Packs the last verify found holding a corrupt blob",
                    (double)corrupt_packs(v, NULL, NULL), NULL);
        metrics_add(mx, "cairn_verify_blobs_listed", "Blobs the last verify listed",
                    (double)v->blobs_listed, NULL);
        metrics_add(mx, "cairn_verify_packs_listed", "Packs the last verify listed",
                    (double)v->packs_listed, NULL);
        metrics_add(mx, "cairn_verify_blobs_read", "Blobs the last verify read (--read-data)",
                    (double)v->blobs_read, NULL);
        metrics_add(mx, "cairn_verify_read_bytes", "Bytes the last verify read (--read-data)",
                    (double)v->bytes_read, NULL);
    }
    if (v->r) {
        store_counts q;
        repo_stats(v->r, &q);
        metrics_requests(mx, "verify", &q);
    }
    metrics_outcome(mx, "verify", v->o->metrics_file, ok, duration_ms);
    metrics_write_or_warn(mx, "verify", v->o->metrics_file);
    metrics_free(mx);
}

static void run_free(verify_run *v)
{
    bloom_free(v->present);
    bloom_free(v->read);
    set_free(&v->corrupt);
    set_free(&v->corrupt_members);
    json_object_put(v->jdamaged);
}

int cmd_verify(const coord_config *cfg, int argc, char **argv)
{
    verify_opts o;
    int rc = parse_args(&o, argc, argv);
    if (rc)
        return rc < 0 ? CMD_OK : rc;
    cairn_err e;
    err_clear(&e);
    uint64_t t0 = human_mono_ms();
    repo *r = NULL;
    rc = lifecycle_open(cfg, &r, &e);
    if (rc) {
        fprintf(stderr, "cairn verify: %s\n", e.msg);
        if (o.metrics_file && rc != CAIRN_ECONFIG)
            write_metrics(&(verify_run){.o = &o, .cfg = cfg}, false, false, human_mono_ms() - t0);
        return rc == CAIRN_ECONFIG ? CMD_USAGE : CMD_FAILED;
    }
    if (o.tag) {
        rc = catalog_resolve(r, cfg->cluster, o.tag, o.tag_buf, sizeof(o.tag_buf), &e);
        o.tag = o.tag_buf;
    }
    verify_run v = {.o = &o, .cfg = cfg, .r = r, .jdamaged = json_object_new_array()};
    if (RAND_bytes((unsigned char *)&v.seed, sizeof(v.seed)) != 1)
        v.seed = (uint32_t)getpid();
    if (!rc)
        rc = verify_all(&v, &e);
    bool complete = rc == 0;
    if (rc) {
        fprintf(stderr, "cairn verify: %s\n", e.msg);
        /* Backups already printed: end the document, so that it still parses, and say
         * that the run did not get to the end. */
        if (v.json_open) {
            json_object *d = json_object_new_object();
            json_object_object_add(d, "ok", json_object_new_boolean(false));
            json_object_object_add(d, "error", json_object_new_string(e.msg));
            json_close(&v, d);
        }
    } else {
        bool ok = v.damaged == 0;
        print_summary(&v, ok);
        rc = ok ? 0 : CAIRN_ECORRUPT;
    }
    if (o.metrics_file)
        write_metrics(&v, complete, rc == 0, human_mono_ms() - t0);
    run_free(&v);
    repo_close(r);
    return rc ? CMD_FAILED : CMD_OK;
}
