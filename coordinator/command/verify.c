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

#include <json-c/json.h>

#include "base/crc.h"
#include "base/hex.h"
#include "base/log.h"
#include "cli/human.h"
#include "cli/cliopt.h"
#include "cli/cmdhelp.h"
#include "cli/metrics.h"
#include "cmd.h"
#include "command/catalog.h"
#include "command/lifecycle.h"
#include "command/verify_run.h"
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
#define CORRUPT_MAX      100000
#define MEMBER_NAME_MAX  (2 * BLOB_ID_HEX + 2) /* "<pack>/<blob>" */
#define VERIFY_LEASE_TTL 120

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
    uint32_t crc;
};

static int crc_sink(void *ctx, const void *buf, size_t len, cairn_err *e)
{
    (void)e;
    struct crc_sink *c = ctx;
    c->crc = crc_update(c->crc, buf, len);
    return 0;
}

/* Downloads and checks the blob of f, at ref: 0 intact, 1 corrupt or missing
 * (reported), or an error that stops the run. */
static int read_blob(verify_run *v, const char *table, const Cairn__Repo__FileEntry *f,
                     const repo_ref *ref, cairn_err *e)
{
    struct crc_sink c = {0};
    uint64_t size = 0;
    cairn_err be;
    int rc = repo_ref_get(v->r, ref, crc_sink, &c, &size, &be);
    v->blobs_read++;
    v->bytes_read += size;
    if (rc == CAIRN_ECORRUPT) {
        note_corrupt(v, ref);
        v->bad++;
        verify_problem(v, table, f->name, f->blob, ref->pack,
                       ref->pack ? "corrupt (its bytes in the pack do not match its SHA-256)"
                                 : "corrupt (its bytes do not match its SHA-256)");
        return 1;
    }
    if (rc == CAIRN_ENOENT) {
        v->missing++;
        verify_problem(v, table, f->name, f->blob, ref->pack,
                       ref->pack ? "missing pack" : "missing");
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
        verify_problem(v, table, f->name, f->blob, ref->pack,
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
        verify_problem(v, table, f->name, NULL, NULL, "no valid blob id in the manifest");
        return 0;
    }
    repo_ref ref;
    cairn_err re;
    if (manifest_file_ref(f, &ref, &re) != 0) {
        v->bad++;
        verify_problem(v, table, f->name, f->blob, NULL, re.msg);
        return 0;
    }
    if (is_corrupt(v, &ref)) {
        v->bad++;
        verify_problem(v, table, f->name, f->blob, ref.pack, "corrupt (found before)");
        return 0;
    }
    if (!bloom_has(v->present, ref.pack ? ref.pack : ref.blob)) {
        v->missing++;
        verify_problem(v, table, f->name, f->blob, ref.pack, ref.pack ? "missing pack" : "missing");
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
        verify_problem(v, NULL, NULL, NULL, NULL, me.msg);
        return 0;
    }
    if (rc)
        *e = me;
    return rc;
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
        verify_problem(v, NULL, NULL, NULL, NULL, me.msg);
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
        verify_backup_done(v, v->missing == 0 && v->bad == 0);
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
            verify_metrics(&(verify_run){.o = &o, .cfg = cfg}, false, false, human_mono_ms() - t0);
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
            verify_json_close(&v, d);
        }
    } else {
        bool ok = v.damaged == 0;
        verify_summary(&v, ok);
        rc = ok ? 0 : CAIRN_ECORRUPT;
    }
    if (o.metrics_file)
        verify_metrics(&v, complete, rc == 0, human_mono_ms() - t0);
    run_free(&v);
    repo_close(r);
    return rc ? CMD_FAILED : CMD_OK;
}
