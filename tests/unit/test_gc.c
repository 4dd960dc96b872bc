/* bloom (no false negatives, about the rate it was sized for, bounded size) and gc
 * (purge's mark and sweep on a scratch file repository, of blobs and of packs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "repo/blob.h"
#include "repo/bloom.h"
#include "repo/gc.h"
#include "repo/manifest.h"
#include "repo/scan.h"
#include "repo_fixture.h"
#include "testutil.h"

#define HOST_ID "11111111-2222-3333-4444-555555555555"

/* A pseudo-random id: SHA-256 of the counter, as real ids are. */
static void make_id(uint64_t i, char id[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_Digest(&i, sizeof(i), md, &n, EVP_sha256(), NULL);
    hex_encode(md, 32, id);
    id[64] = '\0';
}

static void test_bloom_no_false_negatives(void **state)
{
    (void)state;
    bloom *b;
    cairn_err e;
    assert_int_equal(bloom_new(&b, 20000, 1e-3, 0, &e), 0);
    char id[65];
    for (uint64_t i = 0; i < 20000; i++) {
        make_id(i, id);
        bloom_add(b, id);
    }
    for (uint64_t i = 0; i < 20000; i++) {
        make_id(i, id);
        assert_true(bloom_has(b, id));
    }
    /* The false-positive rate is near what was asked (1e-3): under 3e-3 here. */
    unsigned fp = 0;
    for (uint64_t i = 20000; i < 120000; i++) {
        make_id(i, id);
        fp += bloom_has(b, id);
    }
    assert_true(fp < 300);
    double rate = bloom_fp(b);
    assert_true(rate > 2e-4 && rate < 2e-3);
    /* Adding the same ids again sets no new bit: the rate stays. */
    for (uint64_t i = 0; i < 20000; i++) {
        make_id(i, id);
        bloom_add(b, id);
    }
    assert_true(bloom_fp(b) == rate);
    bloom_free(b);
}

static void test_bloom_bounded(void **state)
{
    (void)state;
    bloom *b;
    cairn_err e;
    /* A billion ids at 1e-6 would want 3.6 GB: the cap holds, the rate worsens. */
    assert_int_equal(bloom_new(&b, 1000000000ull, 1e-6, 1u << 20, &e), 0);
    assert_true(bloom_bytes(b) <= (1u << 20));
    assert_true(bloom_hashes(b) >= 1);
    char id[65];
    make_id(7, id);
    assert_false(bloom_has(b, id));
    bloom_add(b, id);
    assert_true(bloom_has(b, id));
    assert_true(bloom_fp(b) < 1e-6); /* one id in a megabyte */
    for (uint64_t i = 0; i < 8000000; i++) {
        make_id(i, id);
        bloom_add(b, id);
    }
    assert_true(bloom_fp(b) > 0.5); /* overfull: most probes hit a set bit */
    bloom_free(b);
    /* Zero ids still make a usable filter. */
    assert_int_equal(bloom_new(&b, 0, 0.01, 0, &e), 0);
    assert_false(bloom_has(b, id));
    bloom_free(b);
}

/* A complete (or, without the cluster manifest, incomplete) backup of one node
 * whose one file is f. */
static void write_backup_entry(repo *r, const char *tag, Cairn__Repo__FileEntry *f,
                               const char *schema, bool complete)
{
    Cairn__Repo__NodeManifest h = CAIRN__REPO__NODE_MANIFEST__INIT;
    h.cluster = "prod";
    h.tag = (char *)tag;
    h.host_id = HOST_ID;
    char nkey[256], sha[65], ckey[256];
    repo_node_manifest_key("prod", tag, HOST_ID, nkey, sizeof(nkey));
    manifest_writer *w = NULL;
    cairn_err e;
    assert_int_equal(manifest_node_begin(r, nkey, &h, &w, &e), 0);
    Cairn__Repo__FileEntry *fp[] = {f};
    Cairn__Repo__TableEntry te = CAIRN__REPO__TABLE_ENTRY__INIT;
    te.keyspace = "ks";
    te.name = "t";
    te.files = fp;
    te.n_files = 1;
    assert_int_equal(manifest_node_add_table(w, &te, &e), 0);
    assert_int_equal(manifest_node_finish(w, sha, NULL, &e), 0);
    if (!complete)
        return;
    Cairn__Repo__NodeRef ref = CAIRN__REPO__NODE_REF__INIT;
    ref.host_id = HOST_ID;
    ref.manifest_key = nkey;
    ref.manifest_sha256 = sha;
    ref.has_files = 1;
    ref.files = 1;
    Cairn__Repo__NodeRef *refs[] = {&ref};
    Cairn__Repo__ClusterManifest m = CAIRN__REPO__CLUSTER_MANIFEST__INIT;
    m.cluster = "prod";
    m.tag = (char *)tag;
    m.nodes = refs;
    m.n_nodes = 1;
    m.schema_blob = (char *)schema;
    repo_cluster_manifest_key("prod", tag, ckey, sizeof(ckey));
    assert_int_equal(manifest_cluster_write(r, ckey, &m, &e), 0);
}

/* A file entry of blob, stored in pack when that is not NULL. */
static Cairn__Repo__FileEntry entry(const char *blob, const char *pack)
{
    Cairn__Repo__FileEntry f = CAIRN__REPO__FILE_ENTRY__INIT;
    f.name = "me-1-big-Data.db";
    f.blob = (char *)blob;
    f.size = 10;
    f.pack = (char *)pack;
    f.has_pack_offset = f.has_pack_length = pack != NULL;
    f.pack_length = 20;
    return f;
}

static void write_backup(repo *r, const char *tag, const char *blob, const char *schema,
                         bool complete)
{
    Cairn__Repo__FileEntry f = entry(blob, NULL);
    write_backup_entry(r, tag, &f, schema, complete);
}

/* Sets a repository object's mtime to `ago` seconds in the past. */
static void age(repo_fixture *f, const char *key, int ago)
{
    char path[1400];
    snprintf(path, sizeof(path), "%s/repo/%s", f->dir, key);
    struct timespec t[2];
    clock_gettime(CLOCK_REALTIME, &t[0]);
    t[0].tv_sec -= ago;
    t[1] = t[0];
    assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);
}

static void age_blob(repo_fixture *f, const char *id, int ago)
{
    char key[128];
    repo_blob_key(id, key, sizeof(key));
    age(f, key, ago);
}

static bool blob_there(repo *r, const char *id)
{
    bool ex = false;
    cairn_err e;
    assert_int_equal(repo_blob_exists(r, id, &ex, &e), 0);
    return ex;
}

/* Stores a pack named id whose content does not matter here: purge never reads one. */
static void put_pack(repo_fixture *f, const char *id, int ago)
{
    char key[128], path[1400];
    repo_pack_key(id, key, sizeof(key));
    snprintf(path, sizeof(path), "mkdir -p '%s/repo/packs/%.2s'", f->dir, id);
    assert_int_equal(system(path), 0);
    snprintf(path, sizeof(path), "%s/repo/%s", f->dir, key);
    FILE *p = fopen(path, "w");
    assert_non_null(p);
    fputs("the frames of a few small blobs", p);
    fclose(p);
    if (ago)
        age(f, key, ago);
}

static bool pack_there(repo_fixture *f, const char *id)
{
    char key[128], path[1400];
    repo_pack_key(id, key, sizeof(key));
    snprintf(path, sizeof(path), "%s/repo/%s", f->dir, key);
    struct stat st;
    return stat(path, &st) == 0;
}

static void test_gc_mark_and_sweep(void **state)
{
    (void)state;
    repo_fixture f;
    assert_int_equal(repo_fixture_open(&f), 0);
    char kept[65], schema[65], garbage[65], young[65], orphan[65];
    assert_int_equal(repo_fixture_put(&f, "referenced by a complete backup", kept), 0);
    assert_int_equal(repo_fixture_put(&f, "CREATE TABLE ks.t", schema), 0);
    assert_int_equal(repo_fixture_put(&f, "referenced by nothing", garbage), 0);
    assert_int_equal(repo_fixture_put(&f, "referenced by nothing, put just now", young), 0);
    assert_int_equal(repo_fixture_put(&f, "referenced by an incomplete backup", orphan), 0);
    write_backup(f.r, "done", kept, schema, true);
    write_backup(f.r, "crashed", orphan, NULL, false);
    const char *ids[] = {kept, schema, garbage, orphan};
    for (size_t i = 0; i < 4; i++)
        age_blob(&f, ids[i], 7200);
    char nkey[256];
    repo_node_manifest_key("prod", "crashed", HOST_ID, nkey, sizeof(nkey));
    age(&f, nkey, 7200);
    /* A writer's temporary, dead for two hours. */
    char tmp[256];
    snprintf(tmp, sizeof(tmp), "%s/repo/blobs/.tmp-1-2-3", f.dir);
    FILE *t = fopen(tmp, "w");
    fputs("half a blob", t);
    fclose(t);
    age(&f, "blobs/.tmp-1-2-3", 7200);

    gc_options o = {.grace_ms = 3600 * 1000, .store_now_ms = test_wall_ms(), .dry_run = true};
    gc_result res;
    cairn_err e;
    assert_int_equal(gc_purge(f.r, &o, &res, &e), 0);
    assert_int_equal(res.backups, 1);
    /* What the complete backup references: its one file and its schema blob. */
    assert_int_equal(res.referenced_entries, 2);
    assert_int_equal(res.blobs, 5);
    assert_int_equal(res.blobs_removed, 2); /* garbage and the orphan */
    assert_int_equal(res.blobs_young, 1);
    assert_int_equal(res.manifests_removed, 1);
    assert_int_equal(res.leftovers_removed, 1);
    assert_true(blob_there(f.r, garbage)); /* a dry run removes nothing */

    o.dry_run = false;
    assert_int_equal(gc_purge(f.r, &o, &res, &e), 0);
    assert_int_equal(res.blobs_removed, 2);
    assert_true(blob_there(f.r, kept));
    assert_true(blob_there(f.r, schema));
    assert_true(blob_there(f.r, young));
    assert_false(blob_there(f.r, garbage));
    assert_false(blob_there(f.r, orphan));
    uint64_t size;
    assert_int_equal(repo_manifest_stat(f.r, nkey, &size, &e), CAIRN_ENOENT);
    struct stat st;
    assert_int_not_equal(stat(tmp, &st), 0);

    /* Nothing left to do: a second purge removes nothing. */
    assert_int_equal(gc_purge(f.r, &o, &res, &e), 0);
    assert_int_equal(res.blobs_removed + res.manifests_removed + res.leftovers_removed, 0);
    /* Without store times nothing unreferenced is old enough. */
    o.store_now_ms = -1;
    o.grace_ms = 0;
    assert_int_equal(gc_purge(f.r, &o, &res, &e), 0);
    assert_true(blob_there(f.r, young));
    assert_int_equal(repo_fixture_close(&f), 0);
}

/* A pack goes like a blob: unmarked and past the grace period. One member referenced
 * keeps it whole, even from an entry whose place in it is damaged. */
static void test_gc_packs(void **state)
{
    (void)state;
    repo_fixture f;
    assert_int_equal(repo_fixture_open(&f), 0);
    char live[65], damaged[65], garbage[65], young[65], orphan[65], member[65], other[65];
    make_id(1, live);
    make_id(2, damaged);
    make_id(3, garbage);
    make_id(4, young);
    make_id(5, orphan);
    make_id(6, member);
    make_id(7, other);
    put_pack(&f, live, 7200);
    put_pack(&f, damaged, 7200);
    put_pack(&f, garbage, 7200);
    put_pack(&f, young, 0);
    put_pack(&f, orphan, 7200);
    Cairn__Repo__FileEntry in_live = entry(member, live), in_orphan = entry(other, orphan),
                           in_damaged = entry(other, damaged);
    write_backup_entry(f.r, "done", &in_live, NULL, true);
    write_backup_entry(f.r, "crashed", &in_orphan, NULL, false);
    /* It names the pack without a place: unreadable, but the pack still counts. */
    in_damaged.has_pack_offset = in_damaged.has_pack_length = 0;
    write_backup_entry(f.r, "odd", &in_damaged, NULL, true);

    gc_options o = {.grace_ms = 3600 * 1000, .store_now_ms = test_wall_ms(), .dry_run = true};
    gc_result res;
    cairn_err e;
    assert_int_equal(gc_purge(f.r, &o, &res, &e), 0);
    assert_int_equal(res.packs, 5);
    assert_int_equal(res.pack_bytes, 5 * strlen("the frames of a few small blobs"));
    assert_int_equal(res.packs_removed, 2); /* garbage and the orphan */
    assert_int_equal(res.pack_bytes_removed, 2 * strlen("the frames of a few small blobs"));
    assert_int_equal(res.packs_young, 1);
    assert_int_equal(res.blobs, 0);
    assert_true(pack_there(&f, garbage)); /* a dry run removes nothing */

    o.dry_run = false;
    assert_int_equal(gc_purge(f.r, &o, &res, &e), 0);
    assert_int_equal(res.packs_removed, 2);
    assert_true(pack_there(&f, live));
    assert_true(pack_there(&f, damaged));
    assert_true(pack_there(&f, young));
    assert_false(pack_there(&f, garbage));
    assert_false(pack_there(&f, orphan));

    /* Once its backup is deleted, the live pack is garbage too; without store times
     * nothing is old enough. */
    char ckey[256];
    repo_cluster_manifest_key("prod", "done", ckey, sizeof(ckey));
    assert_int_equal(repo_manifest_delete(f.r, ckey, &e), 0);
    o.store_now_ms = -1;
    assert_int_equal(gc_purge(f.r, &o, &res, &e), 0);
    assert_int_equal(res.packs_removed, 0);
    assert_true(pack_there(&f, live));
    o.store_now_ms = test_wall_ms();
    assert_int_equal(gc_purge(f.r, &o, &res, &e), 0);
    assert_int_equal(res.packs_removed, 1);
    assert_false(pack_there(&f, live));
    assert_true(pack_there(&f, young));
    assert_int_equal(repo_fixture_close(&f), 0);
}

static void test_gc_refuses_on_a_damaged_manifest(void **state)
{
    (void)state;
    repo_fixture f;
    assert_int_equal(repo_fixture_open(&f), 0);
    char kept[65], garbage[65];
    assert_int_equal(repo_fixture_put(&f, "needed", kept), 0);
    assert_int_equal(repo_fixture_put(&f, "not needed", garbage), 0);
    write_backup(f.r, "done", kept, NULL, true);
    age_blob(&f, kept, 7200);
    age_blob(&f, garbage, 7200);
    /* Truncate the node manifest: what it references is unknown now. */
    char nkey[256], path[1400];
    repo_node_manifest_key("prod", "done", HOST_ID, nkey, sizeof(nkey));
    snprintf(path, sizeof(path), "%s/repo/%s", f.dir, nkey);
    assert_int_equal(truncate(path, 5), 0);
    gc_options o = {.grace_ms = 0, .store_now_ms = INT64_MAX / 2};
    gc_result res;
    cairn_err e;
    assert_int_not_equal(gc_purge(f.r, &o, &res, &e), 0);
    assert_non_null(strstr(e.msg, "nothing was deleted"));
    assert_true(blob_there(f.r, kept));
    assert_true(blob_there(f.r, garbage));
    assert_int_equal(repo_fixture_close(&f), 0);
}

/* A backup whose lease ran out (others may have purged meanwhile) cannot complete. */
static void test_lost_lease_blocks_the_cluster_manifest(void **state)
{
    (void)state;
    repo_fixture f;
    assert_int_equal(repo_fixture_open(&f), 0);
    cairn_err e;
    repo_lease *l;
    assert_int_equal(repo_lease_acquire(f.r, REPO_LEASE_SHARED, "backup", 1, &l, &e), 0);
    assert_true(repo_lease_store_ms(l) > 0);
    assert_int_equal(repo_leases_check(f.r, &e), 0);
    struct timespec ts = {1, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
    assert_int_equal(repo_leases_check(f.r, &e), CAIRN_ETIMEDOUT);
    Cairn__Repo__ClusterManifest m = CAIRN__REPO__CLUSTER_MANIFEST__INIT;
    m.cluster = "prod";
    m.tag = "late";
    char ckey[256];
    repo_cluster_manifest_key("prod", "late", ckey, sizeof(ckey));
    assert_int_equal(manifest_cluster_write(f.r, ckey, &m, &e), CAIRN_ETIMEDOUT);
    assert_non_null(strstr(e.msg, "not renewed"));
    assert_int_equal(repo_manifest_stat(f.r, ckey, NULL, &e), CAIRN_ENOENT);
    repo_lease_release(l);
    /* Released, it no longer counts. */
    assert_int_equal(manifest_cluster_write(f.r, ckey, &m, &e), 0);
    assert_int_equal(repo_fixture_close(&f), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bloom_no_false_negatives),
        cmocka_unit_test(test_bloom_bounded),
        cmocka_unit_test(test_gc_mark_and_sweep),
        cmocka_unit_test(test_gc_packs),
        cmocka_unit_test(test_gc_refuses_on_a_damaged_manifest),
        cmocka_unit_test(test_lost_lease_blocks_the_cluster_manifest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
