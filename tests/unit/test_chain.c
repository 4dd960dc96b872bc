/* command/chain: the times `restore --at` takes, the backup a time picks, and the chain an
 * increment restores with (a missing link, a loop). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "command/catalog.h"
#include "command/chain.h"
#include "repo/manifest.h"
#include "repo_fixture.h"

#define NOW 1796666400000ULL /* 2026-12-07T18:00:00Z */

static void test_parse_time(void **state)
{
    (void)state;
    uint64_t t;
    cairn_err e;
    assert_int_equal(chain_parse_time("2026-12-07T18:00:00Z", NOW, &t, &e), 0);
    assert_true(t == NOW);
    assert_int_equal(chain_parse_time("2026-12-07 19:30:00.250+01:30", NOW, &t, &e), 0);
    assert_true(t == NOW + 250);
    assert_int_equal(chain_parse_time("2026-12-07T17:00:00-01:00", NOW, &t, &e), 0);
    assert_true(t == NOW);
    assert_int_equal(chain_parse_time("-15m", NOW, &t, &e), 0);
    assert_true(t == NOW - 15 * 60000);
    assert_int_equal(chain_parse_time("-1d", NOW, &t, &e), 0);
    assert_true(t == NOW - 86400000);
    assert_int_equal(chain_parse_time("-90s", NOW, &t, &e), 0);
    assert_true(t == NOW - 90000);
    static const char *const bad[] = {"2026-12-07T18:00:00",
                                      "2026-13-07T18:00:00Z",
                                      "2026-12-07T18:00:00Zx",
                                      "-15",
                                      "-15y",
                                      "15m",
                                      "",
                                      "yesterday",
                                      "2026-12-07T18:00:00+1",
                                      "-99999999999d"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (chain_parse_time(bad[i], NOW, &t, &e) != CAIRN_EINVAL)
            fail_msg("accepted '%s'", bad[i]);
        assert_non_null(strstr(e.msg, "RFC 3339"));
    }
}

/* A backup of cluster c, with one node whose snapshot time is point. */
static void put_backup(repo_fixture *f, const char *tag, const char *base, const char *prev,
                       uint64_t start, uint64_t point)
{
    Cairn__Repo__NodeRef ref = CAIRN__REPO__NODE_REF__INIT, *refs[] = {&ref};
    ref.host_id = "h1";
    ref.manifest_key = "backups/c/x/nodes/h1.manifest";
    ref.manifest_sha256 = "0000000000000000000000000000000000000000000000000000000000000000";
    ref.has_snapshot_time_ms = 1;
    ref.snapshot_time_ms = point;
    Cairn__Repo__ClusterManifest m = CAIRN__REPO__CLUSTER_MANIFEST__INIT;
    m.cluster = "c";
    m.tag = (char *)tag;
    m.start_ms = start;
    m.end_ms = start + 10;
    m.base_tag = (char *)base;
    m.previous_tag = (char *)prev;
    m.nodes = refs;
    m.n_nodes = 1;
    char key[256];
    repo_cluster_manifest_key("c", tag, key, sizeof(key));
    cairn_err e;
    assert_int_equal(manifest_cluster_write(f->r, key, &m, &e), 0);
}

static Cairn__Repo__ClusterManifest *read_backup(repo_fixture *f, const char *tag)
{
    char key[256];
    repo_cluster_manifest_key("c", tag, key, sizeof(key));
    Cairn__Repo__ClusterManifest *m = NULL;
    cairn_err e;
    assert_int_equal(manifest_cluster_read(f->r, key, &m, &e), 0);
    return m;
}

static void test_at_and_chain(void **state)
{
    repo_fixture *f = *state;
    put_backup(f, "full", NULL, NULL, 1000, 1500);
    put_backup(f, "i1", "full", "full", 2000, 2500);
    put_backup(f, "i2", "full", "i1", 3000, 3500);
    char tag[64];
    cairn_err e;
    assert_int_equal(chain_at(f->r, "c", 3499, tag, sizeof(tag), &e), 0);
    assert_string_equal(tag, "i1");
    assert_int_equal(chain_at(f->r, "c", 3500, tag, sizeof(tag), &e), 0);
    assert_string_equal(tag, "i2");
    assert_int_equal(chain_at(f->r, "c", 1500, tag, sizeof(tag), &e), 0);
    assert_string_equal(tag, "full");
    assert_int_equal(chain_at(f->r, "c", 1499, tag, sizeof(tag), &e), CAIRN_ENOENT);
    assert_non_null(strstr(e.msg, "oldest point"));

    Cairn__Repo__ClusterManifest *last = read_backup(f, "i2"), **chain = NULL;
    size_t n = 0;
    assert_int_equal(chain_load(f->r, "c", last, &chain, &n, &e), 0);
    assert_int_equal(n, 3);
    assert_string_equal(chain[0]->tag, "full");
    assert_string_equal(chain[1]->tag, "i1");
    assert_true(chain[2] == last);
    chain_free(chain, n);
    cairn__repo__cluster_manifest__free_unpacked(last, NULL);

    /* A full backup is a chain of one. */
    last = read_backup(f, "full");
    assert_int_equal(chain_load(f->r, "c", last, &chain, &n, &e), 0);
    assert_int_equal(n, 1);
    chain_free(chain, n);
    cairn__repo__cluster_manifest__free_unpacked(last, NULL);
}

static void test_broken_chains(void **state)
{
    repo_fixture *f = *state;
    cairn_err e;
    Cairn__Repo__ClusterManifest **chain = NULL, *last;
    size_t n = 0;
    /* A link deleted by hand. */
    put_backup(f, "orphan", "gone", "gone", 2000, 2500);
    last = read_backup(f, "orphan");
    assert_int_equal(chain_load(f->r, "c", last, &chain, &n, &e), CAIRN_ECORRUPT);
    assert_non_null(strstr(e.msg, "needs backup gone"));
    cairn__repo__cluster_manifest__free_unpacked(last, NULL);
    /* Two increments naming each other: stopped at the first step back in time that is
     * not one. */
    put_backup(f, "la", "b", "lb", 3000, 3500);
    put_backup(f, "lb", "b", "la", 4000, 4500);
    last = read_backup(f, "la");
    assert_int_equal(chain_load(f->r, "c", last, &chain, &n, &e), CAIRN_ECORRUPT);
    assert_non_null(strstr(e.msg, "not an earlier backup"));
    cairn__repo__cluster_manifest__free_unpacked(last, NULL);
    /* A link of another base. */
    put_backup(f, "b1", NULL, NULL, 100, 150);
    put_backup(f, "b2", NULL, NULL, 200, 250);
    put_backup(f, "x1", "b1", "b2", 300, 350);
    last = read_backup(f, "x1");
    assert_int_equal(chain_load(f->r, "c", last, &chain, &n, &e), CAIRN_ECORRUPT);
    cairn__repo__cluster_manifest__free_unpacked(last, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test_setup_teardown(test_at_and_chain, repo_fixture_setup,
                                        repo_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_broken_chains, repo_fixture_setup,
                                        repo_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
