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

#include <cmocka.h>

#include "backup/known.h"
#include "repo/manifest.h"
#include "repo_fixture.h"

#define KEY "backups/c/t1/nodes/6f2e3d7a-0000-4000-8000-000000000001.manifest"
#define NF  2000 /* enough to grow the table a few times */

static void id_of(unsigned i, char out[65])
{
    unsigned char v[32] = {0};
    memcpy(v, &i, sizeof(i));
    v[31] = 0x5a;
    hex_encode(v, sizeof(v), out);
}

/* A manifest of one table: file i is packed (in one of 3 packs) when i is odd. */
static void write_manifest(repo_fixture *f, bool half_place, char sha[65])
{
    static char ids[NF][65], packs[3][65], names[NF][32];
    Cairn__Repo__FileEntry fe[NF], *ptrs[NF];
    for (unsigned i = 0; i < 3; i++)
        id_of(1000000 + i, packs[i]);
    for (unsigned i = 0; i < NF; i++) {
        cairn__repo__file_entry__init(&fe[i]);
        id_of(i, ids[i]);
        snprintf(names[i], sizeof(names[i]), "me-%u-big-Index.db", i);
        fe[i].name = names[i];
        fe[i].size = i;
        fe[i].blob = ids[i];
        if (i % 2) {
            fe[i].pack = packs[i % 3];
            fe[i].has_pack_offset = 1;
            fe[i].pack_offset = i * 10;
            fe[i].has_pack_length = !(half_place && i == NF - 1);
            fe[i].pack_length = 10;
        }
        ptrs[i] = &fe[i];
    }
    Cairn__Repo__NodeManifest h = CAIRN__REPO__NODE_MANIFEST__INIT;
    h.cluster = "c";
    h.tag = "t1";
    h.host_id = "6f2e3d7a-0000-4000-8000-000000000001";
    Cairn__Repo__TableEntry t = CAIRN__REPO__TABLE_ENTRY__INIT;
    t.keyspace = "ks";
    t.name = "t";
    t.files = ptrs;
    t.n_files = NF;
    manifest_writer *w = NULL;
    cairn_err e;
    assert_int_equal(manifest_node_begin(f->r, KEY, &h, &w, &e), 0);
    assert_int_equal(manifest_node_add_table(w, &t, &e), 0);
    assert_int_equal(manifest_node_finish(w, sha, NULL, &e), 0);
}

static void test_known_places(void **state)
{
    repo_fixture *f = *state;
    char sha[65], id[65], pack[65];
    write_manifest(f, false, sha);
    known *k = NULL;
    cairn_err e;
    assert_int_equal(known_load(&k, f->r, KEY, sha, &e), 0);
    assert_int_equal(known_count(k), NF);
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
    write_manifest(f, false, sha);
    known *k = NULL;
    cairn_err e;
    char wrong[65];
    memcpy(wrong, sha, sizeof(wrong));
    wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
    assert_int_equal(known_load(&k, f->r, KEY, wrong, &e), CAIRN_ECORRUPT);
    assert_null(k);
    assert_non_null(strstr(e.msg, KEY));
    write_manifest(f, true, sha);
    assert_int_equal(known_load(&k, f->r, KEY, sha, &e), CAIRN_ECORRUPT);
    assert_non_null(strstr(e.msg, "place"));
    assert_int_equal(known_load(&k, f->r, "backups/c/t2/nodes/x.manifest", sha, &e), CAIRN_ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_known_places, repo_fixture_setup,
                                        repo_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_known_refuses, repo_fixture_setup,
                                        repo_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
