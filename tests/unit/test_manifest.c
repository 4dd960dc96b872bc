#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "repo/blob.h"
#include "repo/manifest.h"
#include "repo/repo.h"
#include "store/store.h"
#include "manifest_fixture.h"
#include "testutil.h"

static void test_node_round_trip(void **state)
{
    struct fixture *f = *state;
    char key[256], sha[65];
    repo_node_manifest_key("Test Cluster", "cairn-20250101", "6f2e3d7a-0000-4000-8000-000000000001",
                           key, sizeof(key));
    write_node(f, key, NTABLES, sha, NULL);

    Cairn__Repo__NodeManifest *h = NULL;
    struct seen s = {0};
    cairn_err e;
    assert_int_equal(manifest_node_read(f->r, key, sha, &h, table_cb, &s, &e), 0);
    assert_int_equal(s.n, NTABLES);
    check_header(h);
    assert_int_equal(h->n_tables, 0);
    cairn__repo__node_manifest__free_unpacked(h, NULL);

    /* The sha returned is that of the stored object. */
    buf raw = {0}, plain = {0};
    load_object(f, key, &raw, &plain);
    char path[] = "/tmp/cairn-manifest-raw-XXXXXX";
    int fd = mkstemp(path);
    assert_int_equal(write(fd, raw.data, raw.len), (ssize_t)raw.len);
    char got[65];
    assert_int_equal(blob_hash_fd(fd, got, NULL, NULL, &e), 0);
    close(fd);
    unlink(path);
    assert_string_equal(got, sha);

    /* The streamed bytes are one ordinary NodeManifest: what protoc --decode reads. */
    Cairn__Repo__NodeManifest *whole =
        cairn__repo__node_manifest__unpack(NULL, plain.len, plain.data);
    assert_non_null(whole);
    check_header(whole);
    assert_int_equal(whole->n_tables, NTABLES);
    for (int i = 0; i < NTABLES; i += 997)
        check_table(whole->tables[i], i);
    cairn__repo__node_manifest__free_unpacked(whole, NULL);
    free(raw.data);
    free(plain.data);

    /* Reading without a callback or expected hash still yields the header. */
    assert_int_equal(manifest_node_read(f->r, key, NULL, &h, NULL, NULL, &e), 0);
    check_header(h);
    cairn__repo__node_manifest__free_unpacked(h, NULL);
}

static void test_protoc_decodes(void **state)
{
    struct fixture *f = *state;
    const char *src = getenv("CAIRN_SOURCE_DIR");
    if (!src || system("command -v protoc >/dev/null 2>&1 && command -v zstd >/dev/null 2>&1")) {
        print_message("protoc, zstd or CAIRN_SOURCE_DIR missing: skipping\n");
        return;
    }
    char sha[65];
    write_node(f, "backups/c/t/nodes/h.manifest", 3, sha, NULL);
    char cmd[1024], out[4096];
    snprintf(cmd, sizeof(cmd),
             "zstd -dc < '%s/repo/backups/c/t/nodes/h.manifest' | "
             "protoc --decode=cairn.repo.NodeManifest -I '%s/proto' '%s/proto/repo.proto'",
             f->dir, src, src);
    FILE *p = popen(cmd, "r");
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    assert_int_equal(pclose(p), 0);
    assert_non_null(strstr(out, "host_id: \"6f2e3d7a-0000-4000-8000-000000000001\""));
    assert_non_null(strstr(out, "tables {"));
    assert_non_null(strstr(out, "name: \"table2\""));
}

static void test_node_sha_mismatch(void **state)
{
    struct fixture *f = *state;
    char sha[65];
    write_node(f, "backups/c/t/nodes/a.manifest", 10, sha, NULL);
    char wrong[65];
    memcpy(wrong, sha, sizeof(wrong));
    wrong[0] = wrong[0] == '0' ? '1' : '0';
    Cairn__Repo__NodeManifest *h = (Cairn__Repo__NodeManifest *)1;
    struct seen s = {0};
    cairn_err e;
    assert_int_equal(
        manifest_node_read(f->r, "backups/c/t/nodes/a.manifest", wrong, &h, table_cb, &s, &e),
        CAIRN_ECORRUPT);
    assert_null(h);
    assert_non_null(strstr(e.msg, "backups/c/t/nodes/a.manifest"));
    assert_non_null(strstr(e.msg, wrong));

    assert_int_equal(
        manifest_node_read(f->r, "backups/c/t/nodes/none.manifest", NULL, &h, table_cb, &s, &e),
        CAIRN_ENOENT);
    assert_non_null(strstr(e.msg, "none.manifest"));

    /* A callback's error stops the read and comes back. */
    struct seen stop = {.fail_at = 4};
    assert_int_equal(
        manifest_node_read(f->r, "backups/c/t/nodes/a.manifest", sha, &h, table_cb, &stop, &e),
        CAIRN_EIO);
    assert_string_equal(e.msg, "callback stop");
}

/* What the writer reports is what was stored: the coordinator checks a node manifest
 * by its listed size, and readers by its SHA-256. */
static void test_written_as_reported(void **state)
{
    struct fixture *f = *state;
    const char *key = "backups/c/t/nodes/v.manifest";
    char sha[65];
    uint64_t written = 0, size = 0;
    write_node(f, key, 3, sha, &written);
    cairn_err e;
    assert_int_equal(repo_manifest_stat(f->r, key, &size, &e), 0);
    assert_true(written > 0);
    assert_int_equal(written, size);
    Cairn__Repo__NodeManifest *h = NULL;
    struct seen all = {0};
    assert_int_equal(manifest_node_read(f->r, key, sha, &h, table_cb, &all, &e), 0);
    cairn__repo__node_manifest__free_unpacked(h, NULL);
}

static void test_writer_rules(void **state)
{
    struct fixture *f = *state;
    Cairn__Repo__NodeManifest h;
    fill_header(&h);
    manifest_writer *w = (manifest_writer *)1;
    cairn_err e;
    struct table_buf b;
    make_table(&b, 0);
    Cairn__Repo__TableEntry *tp = &b.t;
    h.n_tables = 1;
    h.tables = &tp;
    assert_int_equal(manifest_node_begin(f->r, "m/x", &h, &w, &e), CAIRN_EINVAL);
    assert_null(w);
    fill_header(&h);
    h.host_id = NULL;
    assert_int_equal(manifest_node_begin(f->r, "m/x", &h, &w, &e), CAIRN_EINVAL);
    fill_header(&h);
    assert_int_equal(manifest_node_begin(f->r, "bad//key", &h, &w, &e), CAIRN_EINVAL);

    /* An aborted manifest never appears. */
    assert_int_equal(manifest_node_begin(f->r, "m/x", &h, &w, &e), 0);
    assert_int_equal(manifest_node_add_table(w, &b.t, &e), 0);
    manifest_node_abort(w);
    assert_int_equal(store_head(f->s, "m/x", NULL, &e), CAIRN_ENOENT);
    manifest_node_abort(NULL);

    /* Zero tables is a valid manifest. */
    char sha[65];
    write_node(f, "m/empty", 0, sha, NULL);
    Cairn__Repo__NodeManifest *out;
    struct seen s = {0};
    assert_int_equal(manifest_node_read(f->r, "m/empty", sha, &out, table_cb, &s, &e), 0);
    assert_int_equal(s.n, 0);
    check_header(out);
    cairn__repo__node_manifest__free_unpacked(out, NULL);
}

static void test_cluster(void **state)
{
    struct fixture *f = *state;
    Cairn__Repo__NodeRef refs[3], *rp[3];
    char hosts[3][40], keys[3][128];
    for (int i = 0; i < 3; i++) {
        cairn__repo__node_ref__init(&refs[i]);
        snprintf(hosts[i], sizeof(hosts[i]), "host-%d", i);
        snprintf(keys[i], sizeof(keys[i]), "backups/c/t/nodes/host-%d.manifest", i);
        refs[i].host_id = hosts[i];
        refs[i].manifest_key = keys[i];
        refs[i].manifest_sha256 = "00";
        refs[i].has_bytes = 1;
        refs[i].bytes = 100u * (unsigned)i;
        rp[i] = &refs[i];
    }
    Cairn__Repo__ClusterManifest m = CAIRN__REPO__CLUSTER_MANIFEST__INIT;
    m.cluster = "c";
    m.tag = "t";
    m.start_ms = 1;
    m.end_ms = 2;
    m.n_nodes = 3;
    m.nodes = rp;
    m.schema_blob = "ab";
    char key[256];
    repo_cluster_manifest_key("c", "t", key, sizeof(key));
    cairn_err e;
    assert_int_equal(manifest_cluster_write(f->r, key, &m, &e), 0);
    Cairn__Repo__ClusterManifest *out;
    assert_int_equal(manifest_cluster_read(f->r, key, &out, &e), 0);
    assert_int_equal(out->format_version, MANIFEST_FORMAT_VERSION);
    assert_string_equal(out->cluster, "c");
    assert_int_equal(out->end_ms, 2);
    assert_int_equal(out->n_nodes, 3);
    assert_string_equal(out->nodes[2]->manifest_key, keys[2]);
    assert_int_equal(out->nodes[2]->bytes, 200);
    assert_string_equal(out->schema_blob, "ab");
    cairn__repo__cluster_manifest__free_unpacked(out, NULL);

    assert_int_equal(manifest_cluster_read(f->r, "backups/c/none/backup.manifest", &out, &e),
                     CAIRN_ENOENT);
    assert_non_null(strstr(e.msg, "backups/c/none/backup.manifest"));

    uint8_t wire[1024];
    m.format_version = MANIFEST_FORMAT_VERSION + 1;
    size_t n = cairn__repo__cluster_manifest__pack(&m, wire);
    put_raw(f, "m/newer-cluster", wire, n);
    assert_int_equal(manifest_cluster_read(f->r, "m/newer-cluster", &out, &e), CAIRN_EPROTO);
    put_raw(f, "m/junk-cluster", "\xff\xff", 2);
    assert_int_equal(manifest_cluster_read(f->r, "m/junk-cluster", &out, &e), CAIRN_ECORRUPT);
    m.tag = NULL;
    assert_int_equal(manifest_cluster_write(f->r, "m/x", &m, &e), CAIRN_EINVAL);
}

/* Header fields of every wire type are kept as they came; malformed fields are
 * refused with what is wrong. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_node_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_protoc_decodes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_sha_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cluster, setup, teardown),
        cmocka_unit_test_setup_teardown(test_written_as_reported, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
