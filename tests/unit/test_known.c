/* The agent's index of the parent backup (agent/backup/known.c): every blob its node
 * manifest names, with its place; a manifest that is not the one asked for. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "backup/known.h"
#include "backup/mancopy.h"
#include "repo/manifest.h"
#include "repo_fixture.h"

#define KEY  "backups/c/t1/nodes/6f2e3d7a-0000-4000-8000-000000000001.manifest"
#define KEY2 "backups/c/t2/nodes/6f2e3d7a-0000-4000-8000-000000000001.manifest"
#define NF   2000 /* enough to grow the table a few times */

static void id_of(unsigned i, char out[65])
{
    unsigned char v[32] = {0};
    memcpy(v, &i, sizeof(i));
    v[31] = 0x5a;
    hex_encode(v, sizeof(v), out);
}

enum variant { PLAIN, HALF_PLACE, OTHER_TAG, INCREMENT };

/* A manifest of one table: file i is packed (in one of 3 packs) when i is odd; with
 * HALF_PLACE the last file's place lacks its length, OTHER_TAG names another backup;
 * INCREMENT is backup t2's, at KEY2, with the ids of files NF to 2 NF - 1. */
static void write_manifest(repo_fixture *f, enum variant v, mancopy *copy, char sha[65])
{
    static char ids[NF][65], packs[3][65], names[NF][32];
    Cairn__Repo__FileEntry fe[NF], *ptrs[NF];
    for (unsigned i = 0; i < 3; i++)
        id_of(1000000 + i, packs[i]);
    for (unsigned i = 0; i < NF; i++) {
        cairn__repo__file_entry__init(&fe[i]);
        id_of(v == INCREMENT ? NF + i : i, ids[i]);
        snprintf(names[i], sizeof(names[i]), "me-%u-big-Index.db", i);
        fe[i].name = names[i];
        fe[i].size = i;
        fe[i].blob = ids[i];
        if (i % 2) {
            fe[i].pack = packs[i % 3];
            fe[i].has_pack_offset = 1;
            fe[i].pack_offset = i * 10;
            fe[i].has_pack_length = !(v == HALF_PLACE && i == NF - 1);
            fe[i].pack_length = 10;
        }
        ptrs[i] = &fe[i];
    }
    Cairn__Repo__NodeManifest h = CAIRN__REPO__NODE_MANIFEST__INIT;
    h.cluster = "c";
    h.tag = v == OTHER_TAG ? "t9" : v == INCREMENT ? "t2" : "t1";
    h.host_id = "6f2e3d7a-0000-4000-8000-000000000001";
    Cairn__Repo__TableEntry t = CAIRN__REPO__TABLE_ENTRY__INIT;
    t.keyspace = "ks";
    t.name = "t";
    t.files = ptrs;
    t.n_files = NF;
    manifest_writer *w = NULL;
    cairn_err e;
    assert_int_equal(manifest_node_begin_tee(f->r, v == INCREMENT ? KEY2 : KEY, &h,
                                             copy ? mancopy_write : NULL, copy, &w, &e),
                     0);
    assert_int_equal(manifest_node_add_table(w, &t, &e), 0);
    assert_int_equal(manifest_node_finish(w, sha, NULL, &e), 0);
}

static void test_known_places(void **state)
{
    repo_fixture *f = *state;
    char sha[65], id[65], pack[65];
    write_manifest(f, PLAIN, NULL, sha);
    known *k = NULL;
    cairn_err e;
    bool local = true;
    assert_int_equal(known_load(&k, f->r, KEY, sha, NULL, &local, &e), 0);
    assert_int_equal(known_count(k), NF);
    assert_false(local);
    for (unsigned i = 0; i < NF; i++) {
        repo_ref ref;
        id_of(i, id);
        assert_true(known_find(k, id, &ref));
        assert_string_equal(ref.blob, id);
        if (i % 2) {
            id_of(1000000 + i % 3, pack);
            assert_non_null(ref.pack);
            assert_string_equal(ref.pack, pack);
            assert_int_equal(ref.offset, i * 10);
            assert_int_equal(ref.length, 10);
        } else {
            assert_null(ref.pack);
        }
    }
    id_of(NF, id);
    assert_false(known_find(k, id, NULL));
    assert_false(known_find(k, "not an id", NULL));
    known_free(k);

    assert_int_equal(known_empty(&k, &e), 0);
    id_of(0, id);
    assert_false(known_find(k, id, NULL));
    assert_int_equal(known_count(k), 0);
    known_free(k);
}

/* Another manifest than the one the coordinator saw, or a damaged one: no index. */
static void test_known_refuses(void **state)
{
    repo_fixture *f = *state;
    char sha[65];
    write_manifest(f, PLAIN, NULL, sha);
    known *k = NULL;
    cairn_err e;
    bool local;
    char wrong[65];
    memcpy(wrong, sha, sizeof(wrong));
    wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
    assert_int_equal(known_load(&k, f->r, KEY, wrong, NULL, &local, &e), CAIRN_ECORRUPT);
    assert_null(k);
    assert_non_null(strstr(e.msg, KEY));
    write_manifest(f, HALF_PLACE, NULL, sha);
    assert_int_equal(known_load(&k, f->r, KEY, sha, NULL, &local, &e), CAIRN_ECORRUPT);
    assert_non_null(strstr(e.msg, "place"));
    assert_int_equal(known_load(&k, f->r, "backups/c/t2/nodes/x.manifest", sha, NULL, &local, &e),
                     CAIRN_ENOENT);
}

/* A full backup after increments: the increments' manifests join the parent's. */
static void test_known_add(void **state)
{
    repo_fixture *f = *state;
    char sha[65], sha2[65], id[65], wrong[65];
    write_manifest(f, PLAIN, NULL, sha);
    write_manifest(f, INCREMENT, NULL, sha2);
    known *k = NULL;
    cairn_err e;
    bool local = true;
    assert_int_equal(known_load(&k, f->r, KEY, sha, NULL, &local, &e), 0);
    id_of(NF + 7, id);
    assert_false(known_find(k, id, NULL));
    memcpy(wrong, sha2, sizeof(wrong));
    wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
    assert_int_equal(known_add(k, f->r, KEY2, wrong, NULL, &local, &e), CAIRN_ECORRUPT);
    assert_non_null(strstr(e.msg, KEY2));
    assert_int_equal(known_count(k), NF); /* nothing of a manifest that is not the one */
    assert_int_equal(known_add(k, f->r, KEY2, sha2, NULL, &local, &e), 0);
    assert_false(local);
    assert_int_equal(known_count(k), 2 * NF);
    repo_ref ref;
    assert_true(known_find(k, id, &ref));
    id_of(1000000 + (7 % 3), wrong);
    assert_string_equal(ref.pack, wrong);
    id_of(7, id);
    assert_true(known_find(k, id, NULL)); /* the parent's stay */
    known_free(k);
}

static uint64_t gets(repo_fixture *f)
{
    store_counts c;
    repo_stats(f->r, &c);
    return c.gets;
}

/* Files in f's directory whose name holds part. */
static int files_named(repo_fixture *f, const char *part)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "exit $(ls %s | grep -c -- '%s')", f->dir, part);
    return WEXITSTATUS(system(cmd));
}

/* The agent's copy of the manifest it wrote (mancopy) stands in for the GET, and only
 * while it is the parent byte for byte. */
static void test_known_copy(void **state)
{
    repo_fixture *f = *state;
    char sha[65], old_sha[65], path[4096];
    cairn_err e;
    mancopy *mc = NULL;
    assert_int_equal(mancopy_path(f->dir, "rid", path, sizeof(path), &e), 0);
    assert_int_equal(mancopy_begin(&mc, f->dir, "rid", &e), 0);
    write_manifest(f, PLAIN, mc, sha);
    assert_int_equal(mancopy_commit(mc, &e), 0);
    assert_int_equal(files_named(f, "manifest-rid"), 1); /* no temporary beside it */

    known *k = NULL;
    bool local = false;
    uint64_t g0 = gets(f);
    assert_int_equal(known_load(&k, f->r, KEY, sha, path, &local, &e), 0);
    assert_true(local);
    assert_int_equal(gets(f), g0); /* no request */
    assert_int_equal(known_count(k), NF);
    known_free(k);

    /* The parent is another manifest than the copy: the repository is read. */
    memcpy(old_sha, sha, sizeof(sha));
    write_manifest(f, OTHER_TAG, NULL, sha);
    assert_string_not_equal(sha, old_sha);
    assert_int_equal(known_load(&k, f->r, KEY, sha, path, &local, &e), 0);
    assert_false(local);
    assert_int_equal(gets(f), g0 + 1);
    known_free(k);

    /* A damaged copy, or none: the same. */
    assert_int_equal(truncate(path, 100), 0);
    assert_int_equal(known_load(&k, f->r, KEY, old_sha, path, &local, &e), CAIRN_ECORRUPT);
    assert_false(local);
    unlink(path);
    assert_int_equal(known_load(&k, f->r, KEY, sha, path, &local, &e), 0);
    assert_false(local);
    known_free(k);

    /* A copy whose manifest was not written leaves nothing. */
    assert_int_equal(mancopy_begin(&mc, f->dir, "rid", &e), 0);
    assert_int_equal(mancopy_write(mc, "abc", 3, &e), 0);
    mancopy_abort(mc);
    assert_int_equal(files_named(f, "manifest-rid"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_known_places, repo_fixture_setup,
                                        repo_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_known_add, repo_fixture_setup, repo_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_known_refuses, repo_fixture_setup,
                                        repo_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_known_copy, repo_fixture_setup, repo_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
