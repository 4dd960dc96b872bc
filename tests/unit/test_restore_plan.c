/* The restore planner: SSTables from manifests, and the blob check against a repository. */
#include "restore_plan_fixture.h"
#include "repo_fixture.h"

static void test_files_grouped_into_sstables(void **state)
{
    restore_plan p = {.filter = &all_tables};
    Cairn__Repo__FileEntry f[] = {
        file_entry("me-2-big-Data.db", BLOB_A, 100), file_entry("me-1-big-Index.db", BLOB_B, 5),
        file_entry("me-1-big-Data.db", BLOB_B, 50),  file_entry("me-2-big-TOC.txt", BLOB_A, 1),
        file_entry("me-10-big-Data.db", BLOB_A, 7),
    };
    assert_int_equal(add_table(&p, 0, "ks", "t", f, 5), 0);
    assert_int_equal(p.n_tables, 1);
    assert_int_equal(p.n_files, 5);
    assert_int_equal(p.n_sst, 3);
    assert_int_equal(p.bytes, 163);
    /* sorted by name: me-1-*, me-10-*, me-2-* */
    assert_string_equal(p.files[p.sst[0].first].name, "me-1-big-Data.db");
    assert_int_equal(p.sst[0].n, 2);
    assert_int_equal(p.sst[0].bytes, 55);
    assert_int_equal(p.sst[1].n, 1);
    assert_int_equal(p.sst[1].bytes, 7);
    assert_int_equal(p.sst[2].n, 2);
    assert_int_equal(p.sst[2].bytes, 101);
    for (size_t s = 0; s < p.n_sst; s++) {
        assert_int_equal(p.sst[s].target, -1);
        assert_int_equal(p.sst[s].table, 0);
    }
    /* the same table from another node joins it; another table is a new one */
    Cairn__Repo__FileEntry g[] = {file_entry("me-3-big-Data.db", BLOB_A, 9)};
    assert_int_equal(add_table(&p, 1, "ks", "t", g, 1), 0);
    assert_int_equal(add_table(&p, 1, "ks2", "u", g, 1), 0);
    assert_int_equal(p.n_tables, 2);
    assert_int_equal(p.n_sst, 5);
    assert_int_equal(p.sst[3].table, 0);
    assert_int_equal(p.sst[3].source, 1);
    assert_int_equal(p.sst[4].table, 1);
    restore_plan_free(&p);
    assert_int_equal(p.n_files, 0);
}

/* A chain names an SSTable twice when an increment recorded a link the backup before it
 * holds: the plan takes it once per node, and keeps what is new around it. */
static void test_sstable_named_twice_taken_once(void **state)
{
    restore_plan p = {.filter = &all_tables};
    Cairn__Repo__FileEntry base[] = {file_entry("me-1-big-Data.db", BLOB_A, 10),
                                     file_entry("me-1-big-TOC.txt", BLOB_B, 1)};
    Cairn__Repo__FileEntry incr[] = {
        file_entry("me-0-big-Data.db", BLOB_B, 4), file_entry("me-1-big-Data.db", BLOB_A, 10),
        file_entry("me-1-big-TOC.txt", BLOB_B, 1), file_entry("me-2-big-Data.db", BLOB_B, 3)};
    assert_int_equal(add_table(&p, 0, "ks", "t", base, 2), 0);
    assert_int_equal(add_table(&p, 0, "ks", "t", incr, 4), 0);
    assert_int_equal(p.n_sst, 3);
    assert_int_equal(p.n_files, 4);
    assert_int_equal(p.bytes, 18);
    assert_string_equal(p.files[p.sst[1].first].name, "me-0-big-Data.db");
    assert_string_equal(p.files[p.sst[2].first].name, "me-2-big-Data.db");
    assert_int_equal(p.sst[2].first, 3);
    /* The same name on another node, or in another table, is another SSTable. */
    assert_int_equal(add_table(&p, 1, "ks", "t", base, 2), 0);
    assert_int_equal(add_table(&p, 0, "ks", "u", base, 2), 0);
    assert_int_equal(p.n_sst, 5);
    /* Enough SSTables to grow the index a few times. */
    char names[3000][32];
    Cairn__Repo__FileEntry many[1];
    for (int i = 0; i < 3000; i++) {
        snprintf(names[i], sizeof(names[i]), "me-%d-big-Data.db", 100 + i);
        many[0] = file_entry(names[i], BLOB_A, 1);
        assert_int_equal(add_table(&p, 2, "ks", "t", many, 1), 0);
        assert_int_equal(add_table(&p, 2, "ks", "t", many, 1), 0);
    }
    assert_int_equal(p.n_sst, 3005);
    restore_plan_free(&p);
}

static void test_filter_skips_tables(void **state)
{
    select_filter f = {0};
    assert_int_equal(select_add(&f.exclude, &f.n_exclude, "ks.skip"), 0);
    restore_plan p = {.filter = &f};
    Cairn__Repo__FileEntry g[] = {file_entry("me-3-big-Data.db", BLOB_A, 9)};
    assert_int_equal(add_table(&p, 0, "ks", "skip", g, 1), 0);
    assert_int_equal(p.n_tables, 0);
    assert_int_equal(add_table(&p, 0, "ks", "keep", g, 1), 0);
    assert_int_equal(p.n_tables, 1);
    restore_plan_free(&p);
    free(f.exclude);
}

static void test_invalid_names_are_corrupt(void **state)
{
    restore_plan p = {.filter = &all_tables};
    Cairn__Repo__FileEntry bad_file[] = {file_entry("../etc/passwd", BLOB_A, 1)};
    assert_int_equal(add_table(&p, 0, "ks", "t", bad_file, 1), CAIRN_ECORRUPT);
    restore_plan_free(&p);
    restore_plan q = {.filter = &all_tables};
    Cairn__Repo__FileEntry bad_blob[] = {file_entry("me-1-big-Data.db", "xyz", 1)};
    assert_int_equal(add_table(&q, 0, "ks", "t", bad_blob, 1), CAIRN_ECORRUPT);
    restore_plan_free(&q);
}

/* A packed file's place goes into the plan with it, and must be whole. */
static void test_pack_place_copied(void **state)
{
    restore_plan p = {.filter = &all_tables};
    Cairn__Repo__FileEntry f[] = {file_entry("me-1-big-Data.db", BLOB_A, 100),
                                  file_entry("me-1-big-TOC.txt", BLOB_B, 5)};
    f[1].pack = PACK_C;
    f[1].has_pack_offset = f[1].has_pack_length = 1;
    f[1].pack_offset = 0; /* present though 0: the first member */
    f[1].pack_length = 14;
    assert_int_equal(add_table(&p, 0, "ks", "t", f, 2), 0);
    assert_null(p.files[0].pack);
    assert_false(p.files[0].has_pack_offset);
    assert_string_equal(p.files[1].pack, PACK_C);
    assert_true(p.files[1].pack != f[1].pack); /* a copy: the manifest's entry is freed */
    assert_true(p.files[1].has_pack_offset && p.files[1].has_pack_length);
    assert_int_equal(p.files[1].pack_offset, 0);
    assert_int_equal(p.files[1].pack_length, 14);
    restore_plan_free(&p);

    restore_plan q = {.filter = &all_tables};
    f[1].has_pack_length = 0;
    assert_int_equal(add_table(&q, 0, "ks", "t", f, 2), CAIRN_ECORRUPT);
    restore_plan_free(&q);
    restore_plan r = {.filter = &all_tables};
    f[1].has_pack_length = 1;
    f[1].pack = "not a pack";
    assert_int_equal(add_table(&r, 0, "ks", "t", f, 2), CAIRN_ECORRUPT);
    restore_plan_free(&r);
}

static void test_keyspaces_distinct(void **state)
{
    restore_plan p = {.filter = &all_tables};
    Cairn__Repo__FileEntry g[] = {file_entry("me-3-big-Data.db", BLOB_A, 9)};
    assert_int_equal(add_table(&p, 0, "a", "t1", g, 1), 0);
    assert_int_equal(add_table(&p, 0, "b", "t1", g, 1), 0);
    assert_int_equal(add_table(&p, 0, "a", "t2", g, 1), 0);
    char *ks[3];
    assert_int_equal(restore_plan_keyspaces(&p, ks), 2);
    assert_string_equal(ks[0], "a");
    assert_string_equal(ks[1], "b");
    restore_plan_free(&p);
}

/* Source node i with the given tokens (copied: the plan owns them). */

/* A file repository holding one blob and a backup of two nodes. */
struct fixture {
    repo_fixture rf;
    repo *r;
    char blob[65]; /* the blob that is there */
    Cairn__Repo__ClusterManifest *m;
};

static void write_node(struct fixture *fx, Cairn__Repo__NodeRef *ref, const char *host_id,
                       const char *blob)
{
    static char *tokens[] = {"-5", "7"};
    Cairn__Repo__NodeManifest h = CAIRN__REPO__NODE_MANIFEST__INIT;
    h.cluster = "prod";
    h.tag = "t1";
    h.host_id = (char *)host_id;
    h.tokens = tokens;
    h.n_tokens = 2;
    char key[256];
    repo_node_manifest_key("prod", "t1", host_id, key, sizeof(key));
    manifest_writer *w = NULL;
    cairn_err e;
    assert_int_equal(manifest_node_begin(fx->r, key, &h, &w, &e), 0);
    Cairn__Repo__FileEntry f = file_entry("me-1-big-Data.db", (char *)blob, 13);
    Cairn__Repo__FileEntry *fp[] = {&f};
    Cairn__Repo__TableEntry te = CAIRN__REPO__TABLE_ENTRY__INIT;
    te.keyspace = "ks";
    te.name = "t";
    te.files = fp;
    te.n_files = 1;
    assert_int_equal(manifest_node_add_table(w, &te, &e), 0);
    ref->host_id = (char *)host_id;
    ref->manifest_key = strdup(key);
    ref->manifest_sha256 = malloc(65);
    assert_int_equal(manifest_node_finish(w, ref->manifest_sha256, NULL, &e), 0);
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    assert_int_equal(repo_fixture_open(&fx->rf), 0);
    fx->r = fx->rf.r;
    assert_int_equal(repo_fixture_put(&fx->rf, "sstable bytes", fx->blob), 0);
    fx->m = calloc(1, sizeof(*fx->m));
    cairn__repo__cluster_manifest__init(fx->m);
    fx->m->nodes = calloc(2, sizeof(*fx->m->nodes));
    fx->m->n_nodes = 2;
    for (size_t i = 0; i < 2; i++) {
        fx->m->nodes[i] = calloc(1, sizeof(**fx->m->nodes));
        cairn__repo__node_ref__init(fx->m->nodes[i]);
    }
    write_node(fx, fx->m->nodes[0], "host-a", fx->blob);
    write_node(fx, fx->m->nodes[1], "host-b", BLOB_B);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    for (size_t i = 0; i < fx->m->n_nodes; i++) {
        free(fx->m->nodes[i]->manifest_key);
        free(fx->m->nodes[i]->manifest_sha256);
        free(fx->m->nodes[i]);
    }
    free(fx->m->nodes);
    free(fx->m);
    assert_int_equal(repo_fixture_close(&fx->rf), 0);
    free(fx);
    return 0;
}

static void test_read_and_check_blobs(void **state)
{
    struct fixture *fx = *state;
    restore_plan p = {.filter = &all_tables};
    cairn_err e;
    err_clear(&e);
    assert_int_equal(restore_plan_read(fx->r, fx->m, &p, &e), 0);
    assert_int_equal(p.n_sources, 2);
    assert_string_equal(p.sources[1].host_id, "host-b");
    assert_int_equal(p.sources[1].n_tokens, 2);
    assert_int_equal(p.n_tables, 1);
    assert_int_equal(p.n_sst, 2);
    assert_int_equal(p.sst[1].source, 1);
    assert_int_equal(p.bytes, 26);
    /* host-b's blob was never stored: named with its file and table */
    assert_int_equal(restore_plan_check_blobs(fx->r, &p, &e), CAIRN_ENOENT);
    assert_non_null(strstr(e.msg, "blob " BLOB_B " is missing"));
    assert_non_null(strstr(e.msg, "(me-1-big-Data.db), needed by table ks.t"));
    restore_plan_free(&p);

    /* host-a alone has every blob */
    fx->m->n_nodes = 1;
    restore_plan q = {.filter = &all_tables};
    assert_int_equal(restore_plan_read(fx->r, fx->m, &q, &e), 0);
    assert_int_equal(restore_plan_check_blobs(fx->r, &q, &e), 0);
    restore_plan_free(&q);
    fx->m->n_nodes = 2;
}

/* Stores an object at packs/<id>; the check never reads it. */
static void put_pack(struct fixture *fx, const char *id)
{
    char key[128], path[512];
    repo_pack_key(id, key, sizeof(key));
    snprintf(path, sizeof(path), "mkdir -p '%s/packs/%.2s'", fx->rf.root, id);
    assert_int_equal(system(path), 0);
    snprintf(path, sizeof(path), "%s/%s", fx->rf.root, key);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("frames", f);
    fclose(f);
}

/* A packed blob is there when its pack is (no blobs/ object of its own is needed). */
static void test_check_packed_blobs(void **state)
{
    struct fixture *fx = *state;
    put_pack(fx, PACK_C);
    restore_plan p = {.filter = &all_tables};
    Cairn__Repo__FileEntry f[] = {file_entry("me-1-big-Data.db", fx->blob, 13),
                                  file_entry("me-1-big-TOC.txt", BLOB_A, 5),
                                  file_entry("me-1-big-Index.db", BLOB_B, 5)};
    for (size_t i = 1; i < 3; i++) {
        f[i].pack = PACK_C;
        f[i].has_pack_offset = f[i].has_pack_length = 1;
        f[i].pack_offset = 20 * i;
        f[i].pack_length = 20;
    }
    assert_int_equal(add_table(&p, 0, "ks", "t", f, 3), 0);
    cairn_err e;
    err_clear(&e);
    assert_int_equal(restore_plan_check_blobs(fx->r, &p, &e), 0);
    restore_plan_free(&p);

    restore_plan q = {.filter = &all_tables};
    f[2].pack = PACK_D;
    assert_int_equal(add_table(&q, 0, "ks", "t", f, 3), 0);
    assert_int_equal(restore_plan_check_blobs(fx->r, &q, &e), CAIRN_ENOENT);
    assert_non_null(strstr(e.msg, "pack " PACK_D ", which holds blob " BLOB_B ", is missing"));
    assert_non_null(strstr(e.msg, "(me-1-big-Index.db), needed by table ks.t"));
    restore_plan_free(&q);
}

static void test_read_bad_manifest(void **state)
{
    struct fixture *fx = *state;
    char *saved = fx->m->nodes[1]->manifest_sha256;
    fx->m->nodes[1]->manifest_sha256 = BLOB_A; /* not the hash of the stored object */
    restore_plan p = {.filter = &all_tables};
    cairn_err e;
    err_clear(&e);
    assert_int_not_equal(restore_plan_read(fx->r, fx->m, &p, &e), 0);
    assert_non_null(strstr(e.msg, "node manifest of host-b"));
    restore_plan_free(&p);
    fx->m->nodes[1]->manifest_sha256 = saved;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_files_grouped_into_sstables),
        cmocka_unit_test(test_sstable_named_twice_taken_once),
        cmocka_unit_test(test_filter_skips_tables),
        cmocka_unit_test(test_invalid_names_are_corrupt),
        cmocka_unit_test(test_pack_place_copied),
        cmocka_unit_test(test_keyspaces_distinct),
        cmocka_unit_test_setup_teardown(test_read_and_check_blobs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_packed_blobs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_bad_manifest, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
