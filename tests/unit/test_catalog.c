/* The commands that read a repository (list, show, repo init), and the checks the
 * commands make before they touch a cluster. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmd.h"
#include "command/catalog.h"
#include "repo/manifest.h"
#include "repo_fixture.h"

#define HOST_ID "6f2e3d7a-0000-4000-8000-000000000001"

struct fixture {
    repo_fixture rf;
    char *agents[1];
    coord_config cfg;
    repo *r;
    char blob[65];
};

static struct fixture *fx;

/* Runs fn with stdout on a file and returns what it printed. */
static char *capture(int (*fn)(const coord_config *, int, char **), int argc, char **argv, int *rc)
{
    fflush(stdout);
    char path[128];
    snprintf(path, sizeof(path), "%s/out", fx->rf.dir);
    FILE *f = fopen(path, "w+");
    assert_non_null(f);
    int saved = dup(STDOUT_FILENO);
    dup2(fileno(f), STDOUT_FILENO);
    *rc = fn(&fx->cfg, argc, argv);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *out = calloc(1, (size_t)n + 1);
    assert_int_equal(fread(out, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return out;
}

static void put_blob(const char *data)
{
    assert_int_equal(repo_fixture_put(&fx->rf, data, fx->blob), 0);
}

#define PACK "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* A complete backup `tag` of one node started at start_ms, its one file in blob,
 * that in PACK at offset 4096 when packed. */
static void write_backup_packed(const char *tag, uint64_t start_ms, const char *blob, bool packed)
{
    static char *tokens[] = {"42"};
    Cairn__Repo__NodeManifest h = CAIRN__REPO__NODE_MANIFEST__INIT;
    h.cluster = "prod";
    h.tag = (char *)tag;
    h.host_id = HOST_ID;
    h.tokens = tokens;
    h.n_tokens = 1;
    char nkey[256], sha[65], ckey[256];
    repo_node_manifest_key("prod", tag, HOST_ID, nkey, sizeof(nkey));
    manifest_writer *w = NULL;
    cairn_err e;
    assert_int_equal(manifest_node_begin(fx->r, nkey, &h, &w, &e), 0);
    Cairn__Repo__FileEntry f = CAIRN__REPO__FILE_ENTRY__INIT;
    f.name = "me-1-big-Data.db";
    f.blob = (char *)blob;
    f.size = 2048;
    f.has_crc_mismatch = 1;
    f.crc_mismatch = 1;
    if (packed) {
        f.pack = PACK;
        f.has_pack_offset = f.has_pack_length = 1;
        f.pack_offset = 4096;
        f.pack_length = 777;
    }
    Cairn__Repo__FileEntry *fp[] = {&f};
    Cairn__Repo__TableEntry te = CAIRN__REPO__TABLE_ENTRY__INIT;
    te.keyspace = "sales";
    te.name = "orders";
    te.files = fp;
    te.n_files = 1;
    assert_int_equal(manifest_node_add_table(w, &te, &e), 0);
    assert_int_equal(manifest_node_finish(w, sha, NULL, &e), 0);

    Cairn__Repo__NodeRef ref = CAIRN__REPO__NODE_REF__INIT;
    ref.host_id = HOST_ID;
    ref.manifest_key = nkey;
    ref.manifest_sha256 = sha;
    ref.address = "10.0.0.1";
    ref.dc = "dc1";
    ref.rack = "r1";
    ref.has_bytes = ref.has_files = 1;
    ref.bytes = 2048;
    ref.files = 1;
    Cairn__Repo__NodeRef *refs[] = {&ref};
    Cairn__Repo__ClusterManifest m = CAIRN__REPO__CLUSTER_MANIFEST__INIT;
    m.cluster = "prod";
    m.tag = (char *)tag;
    m.start_ms = start_ms;
    m.end_ms = start_ms + 5000;
    m.has_bytes = m.has_files = 1;
    m.bytes = 2048;
    m.files = 1;
    m.nodes = refs;
    m.n_nodes = 1;
    m.schema_blob = (char *)blob;
    repo_cluster_manifest_key("prod", tag, ckey, sizeof(ckey));
    assert_int_equal(manifest_cluster_write(fx->r, ckey, &m, &e), 0);
}

static void write_backup(const char *tag, uint64_t start_ms, const char *blob)
{
    write_backup_packed(tag, start_ms, blob, false);
}

static int setup(void **state)
{
    fx = calloc(1, sizeof(*fx));
    assert_int_equal(repo_fixture_open(&fx->rf), 0);
    fx->r = fx->rf.r;
    fx->agents[0] = "127.0.0.1:1"; /* nothing listens there */
    fx->cfg.cluster = "prod";
    fx->cfg.repository = fx->rf.url;
    fx->cfg.insecure = true;
    fx->cfg.agents.items = fx->agents;
    fx->cfg.agents.n = 1;
    fx->cfg.parallel = 4;
    fx->cfg.timeout_s = 1;
    return 0;
}

static int teardown(void **state)
{
    assert_int_equal(repo_fixture_close(&fx->rf), 0);
    free(fx);
    return 0;
}

static void test_empty_repository(void **state)
{
    int rc;
    char *argv[] = {"list"};
    char *out = capture(cmd_list, 1, argv, &rc);
    assert_int_equal(rc, CMD_OK);
    assert_non_null(strstr(out, "no backups of cluster prod"));
    free(out);
    char tag[160];
    cairn_err e;
    err_clear(&e);
    assert_int_equal(catalog_latest(fx->r, "prod", tag, sizeof(tag), &e), CAIRN_ENOENT);
    assert_non_null(strstr(e.msg, "no complete backup of cluster prod"));
    char *show[] = {"show", "latest"};
    out = capture(cmd_show, 2, show, &rc);
    assert_int_equal(rc, CMD_FAILED);
    free(out);
}

static void test_latest_and_resolve(void **state)
{
    put_blob("schema");
    write_backup("older", 1000, fx->blob);
    write_backup("newer", 2000, fx->blob);
    char tag[160];
    cairn_err e;
    err_clear(&e);
    assert_int_equal(catalog_latest(fx->r, "prod", tag, sizeof(tag), &e), 0);
    assert_string_equal(tag, "newer");
    assert_int_equal(catalog_resolve(fx->r, "prod", "latest", tag, sizeof(tag), &e), 0);
    assert_string_equal(tag, "newer");
    assert_int_equal(catalog_resolve(fx->r, "prod", "older", tag, sizeof(tag), &e), 0);
    assert_string_equal(tag, "older");
    assert_int_equal(catalog_resolve(fx->r, "prod", "no/such", tag, sizeof(tag), &e), CAIRN_EINVAL);
    assert_string_equal(e.msg, "invalid tag 'no/such'");
    assert_int_equal(catalog_latest(fx->r, "other", tag, sizeof(tag), &e), CAIRN_ENOENT);
}

static void test_list(void **state)
{
    put_blob("schema");
    write_backup("older", 1000, fx->blob);
    write_backup("newer", 2000, fx->blob);
    int rc;
    char *argv[] = {"list"};
    char *out = capture(cmd_list, 1, argv, &rc);
    assert_int_equal(rc, CMD_OK);
    char *newer = strstr(out, "newer"), *older = strstr(out, "older");
    assert_non_null(newer);
    assert_non_null(older);
    assert_true(newer < older);
    assert_non_null(strstr(out, "1970-01-01 00:00:02Z"));
    assert_non_null(strstr(out, "2.00 KiB"));
    free(out);
    char *json[] = {"list", "--json"};
    out = capture(cmd_list, 2, json, &rc);
    assert_int_equal(rc, CMD_OK);
    assert_non_null(strstr(out, "\"tag\":\"newer\""));
    assert_non_null(strstr(out, "\"start_ms\":1000"));
    free(out);
}

static void test_show(void **state)
{
    put_blob("schema");
    write_backup("t1", 1000, fx->blob);
    int rc;
    char *text[] = {"show", "latest", "--files"};
    char *out = capture(cmd_show, 3, text, &rc);
    assert_int_equal(rc, CMD_OK);
    assert_non_null(strstr(out, "backup t1 of cluster prod"));
    assert_non_null(strstr(out, "sales.orders  2.00 KiB in 1 files on 1 nodes"));
    /* The header and the tables come first, then the file lines under their column
     * headings, the size human-readable and the blob id short. */
    char *files = strstr(out, "\nfiles:\n");
    assert_non_null(files);
    assert_true(strstr(out, "tables:") < files);
    char row[160];
    snprintf(row, sizeof(row),
             "  10.0.0.1  sales.orders  me-1-big-Data.db    2.00 KiB  %.12s  CORRUPT", fx->blob);
    assert_non_null(
        strstr(files, "  NODE      TABLE         FILE                    SIZE  BLOB\n"));
    assert_non_null(strstr(files, row));
    assert_null(strstr(files, fx->blob)); /* only its first 12 digits */
    free(out);
    char *json[] = {"show", "t1", "--json", "--files"};
    out = capture(cmd_show, 4, json, &rc);
    assert_int_equal(rc, CMD_OK);
    assert_non_null(strstr(out, "\"files_list\""));
    assert_non_null(strstr(out, "\"keyspace\":\"sales\""));
    assert_non_null(strstr(out, "\"host_id\":\"" HOST_ID "\""));
    free(out);
    char *plain[] = {"show", "t1", "--json"};
    out = capture(cmd_show, 3, plain, &rc);
    assert_int_equal(rc, CMD_OK);
    assert_null(strstr(out, "\"files_list\""));
    char want[128];
    snprintf(want, sizeof(want), "\"schema_blob\":\"%s\"", fx->blob);
    assert_non_null(strstr(out, want));
    free(out);
    char *missing[] = {"show", "t2"};
    out = capture(cmd_show, 2, missing, &rc);
    assert_int_equal(rc, CMD_FAILED);
    free(out);
    char *invalid[] = {"show", "../t1"};
    out = capture(cmd_show, 2, invalid, &rc);
    assert_int_equal(rc, CMD_FAILED);
    free(out);
}

/* A file whose blob is in a pack shows the pack (short) and its place in it. */
static void test_show_packed(void **state)
{
    put_blob("schema");
    write_backup_packed("t1", 1000, fx->blob, true);
    int rc;
    char *text[] = {"show", "t1", "--files"};
    char *out = capture(cmd_show, 3, text, &rc);
    assert_int_equal(rc, CMD_OK);
    char row[200];
    snprintf(row, sizeof(row),
             "  10.0.0.1  sales.orders  me-1-big-Data.db    2.00 KiB  %.12s  in pack 0123456789ab "
             "@4096+777  CORRUPT",
             fx->blob);
    assert_non_null(strstr(out, row));
    assert_null(strstr(out, PACK));
    free(out);
    char *json[] = {"show", "t1", "--json", "--files"};
    out = capture(cmd_show, 4, json, &rc);
    assert_int_equal(rc, CMD_OK);
    assert_non_null(strstr(out, "\"pack\":\"" PACK "\""));
    assert_non_null(strstr(out, "\"pack_offset\":4096"));
    assert_non_null(strstr(out, "\"pack_length\":777"));
    free(out);
    /* A file of its own has no pack keys. */
    write_backup("t2", 2000, fx->blob);
    char *plain[] = {"show", "t2", "--json", "--files"};
    out = capture(cmd_show, 4, plain, &rc);
    assert_int_equal(rc, CMD_OK);
    assert_non_null(strstr(out, "\"files_list\""));
    assert_null(strstr(out, "\"pack\""));
    free(out);
}

/* info counts packs, and their bytes in what the repository stores. */
static void test_info_counts_packs(void **state)
{
    put_blob("schema");
    struct stat st;
    char key[128], path[512], cmd[600];
    repo_blob_key(fx->blob, key, sizeof(key));
    snprintf(path, sizeof(path), "%s/%s", fx->rf.root, key);
    assert_int_equal(stat(path, &st), 0);
    repo_pack_key(PACK, key, sizeof(key));
    snprintf(cmd, sizeof(cmd), "mkdir -p '%s/packs/01' && printf 12345678 > '%s/%s'", fx->rf.root,
             fx->rf.root, key);
    assert_int_equal(system(cmd), 0);
    int rc;
    char *json[] = {"info", "--json"};
    char *out = capture(cmd_info, 2, json, &rc);
    assert_int_equal(rc, CMD_OK);
    char want[64];
    assert_non_null(strstr(out, "\"blobs\":1"));
    assert_non_null(strstr(out, "\"packs\":1"));
    assert_non_null(strstr(out, "\"pack_bytes\":8"));
    snprintf(want, sizeof(want), "\"stored_bytes\":%lld", (long long)st.st_size + 8);
    assert_non_null(strstr(out, want));
    free(out);
    char *text[] = {"info"};
    out = capture(cmd_info, 1, text, &rc);
    assert_int_equal(rc, CMD_OK);
    assert_non_null(strstr(out, "packs        1 (8 B)\n"));
    free(out);
}

static void test_repo_init(void **state)
{
    int rc;
    char *init[] = {"repo", "init"};
    char *out = capture(cmd_repo, 2, init, &rc);
    assert_int_equal(rc, CMD_OK);
    assert_non_null(strstr(out, "ready (id "));
    free(out);
    char *bad[] = {"repo", "destroy"};
    assert_int_equal(cmd_repo(&fx->cfg, 2, bad), CMD_USAGE);
    /* No repository in the configuration: a configuration error (docs/cli.md). */
    fx->cfg.repository = NULL;
    assert_int_equal(cmd_repo(&fx->cfg, 2, init), CMD_USAGE);
    char *list[] = {"list"};
    out = capture(cmd_list, 1, list, &rc);
    assert_int_equal(rc, CMD_USAGE);
    free(out);
    char *show[] = {"show", "latest"};
    out = capture(cmd_show, 2, show, &rc);
    assert_int_equal(rc, CMD_USAGE);
    free(out);
    fx->cfg.repository = fx->rf.url;
}

static void test_backup_usage(void **state)
{
    char *help[] = {"backup", "--help"};
    char *bad_tag[] = {"backup", "--tag", "a/b"};
    char *bad_rate[] = {"backup", "--rate-limit", "fast"};
    char *zero_rate[] = {"backup", "--rate-limit", "0"};
    char *extra[] = {"backup", "now"};
    char *bad_parallel[] = {"backup", "--parallel", "0"};
    int rc;
    free(capture(cmd_backup, 2, help, &rc));
    assert_int_equal(rc, CMD_OK);
    assert_int_equal(cmd_backup(&fx->cfg, 3, bad_tag), CMD_USAGE);
    assert_int_equal(cmd_backup(&fx->cfg, 3, bad_rate), CMD_USAGE);
    assert_int_equal(cmd_backup(&fx->cfg, 3, zero_rate), CMD_USAGE);
    assert_int_equal(cmd_backup(&fx->cfg, 2, extra), CMD_USAGE);
    assert_int_equal(cmd_backup(&fx->cfg, 3, bad_parallel), CMD_USAGE);
    char *ok[] = {"backup", "--tag", "t9", "--keep-snapshot", "--rate-limit", "1.5"};
    fx->cfg.repository = NULL;
    assert_int_equal(cmd_backup(&fx->cfg, 6, ok), CMD_USAGE);
    fx->cfg.repository = fx->rf.url;
    /* the one agent does not answer: the cluster is not ready */
    assert_int_equal(cmd_backup(&fx->cfg, 6, ok), CMD_FAILED);
}

static void test_restore_usage(void **state)
{
    char *help[] = {"restore", "--help"};
    char *none[] = {"restore"};
    char *two[] = {"restore", "a", "b"};
    char *method[] = {"restore", "t1", "--method", "copy"};
    char *cluster[] = {"restore", "t1", "--from-cluster", "bad name"};
    char *parallel[] = {"restore", "t1", "--parallel", "x"};
    int rc;
    free(capture(cmd_restore, 2, help, &rc));
    assert_int_equal(rc, CMD_OK);
    assert_int_equal(cmd_restore(&fx->cfg, 1, none), CMD_USAGE);
    assert_int_equal(cmd_restore(&fx->cfg, 3, two), CMD_USAGE);
    assert_int_equal(cmd_restore(&fx->cfg, 4, method), CMD_USAGE);
    assert_int_equal(cmd_restore(&fx->cfg, 4, cluster), CMD_USAGE);
    assert_int_equal(cmd_restore(&fx->cfg, 4, parallel), CMD_USAGE);
    char *methods[][3] = {{"--method", "auto", "--schema"},
                          {"--method", "refresh", "--no-data"},
                          {"--method", "load-and-stream", "--json"}};
    /* Accepted: the run gets as far as looking the tag up. */
    for (size_t i = 0; i < 3; i++) {
        char *argv[] = {"restore", "nothere", methods[i][0], methods[i][1], methods[i][2]};
        assert_int_equal(cmd_restore(&fx->cfg, 5, argv), CMD_FAILED);
    }
    /* No repository is a configuration error, like a usage error. */
    fx->cfg.repository = NULL;
    char *argv[] = {"restore", "t1"};
    assert_int_equal(cmd_restore(&fx->cfg, 2, argv), CMD_USAGE);
    fx->cfg.repository = fx->rf.url;
}

static void test_restore_stops_before_the_cluster(void **state)
{
    put_blob("schema");
    write_backup("complete", 1000, fx->blob);
    write_backup("broken", 2000,
                 "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc");
    char *missing_blob[] = {"restore", "broken"};
    char *no_backup[] = {"restore", "nothere"};
    char *no_table[] = {"restore", "complete", "--keyspace", "other"};
    char *other_cluster[] = {"restore", "latest", "--from-cluster", "staging"};
    char *not_ready[] = {"restore", "complete", "--json"};
    assert_int_equal(cmd_restore(&fx->cfg, 2, missing_blob), CMD_FAILED);
    assert_int_equal(cmd_restore(&fx->cfg, 2, no_backup), CMD_FAILED);
    assert_int_equal(cmd_restore(&fx->cfg, 4, no_table), CMD_FAILED);
    assert_int_equal(cmd_restore(&fx->cfg, 4, other_cluster), CMD_FAILED);
    /* everything is in the repository; the one agent does not answer */
    assert_int_equal(cmd_restore(&fx->cfg, 3, not_ready), CMD_FAILED);
}

static void test_status_unreachable(void **state)
{
    int rc;
    char *help[] = {"status", "--help"};
    char *bad[] = {"status", "--nope"};
    free(capture(cmd_status, 2, help, &rc));
    assert_int_equal(rc, CMD_OK);
    assert_int_equal(cmd_status(&fx->cfg, 2, bad), CMD_USAGE);
    char *text[] = {"status"};
    char *out = capture(cmd_status, 1, text, &rc);
    assert_int_equal(rc, CMD_FAILED);
    assert_non_null(strstr(out, "cluster prod: NOT READY"));
    assert_non_null(strstr(out, "agent down (127.0.0.1:1)"));
    free(out);
    char *json[] = {"status", "--json"};
    out = capture(cmd_status, 2, json, &rc);
    assert_int_equal(rc, CMD_FAILED);
    assert_non_null(strstr(out, "\"agent\":\"agent down\""));
    assert_non_null(strstr(out, "\"ready\":false"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_empty_repository, setup, teardown),
        cmocka_unit_test_setup_teardown(test_latest_and_resolve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_show, setup, teardown),
        cmocka_unit_test_setup_teardown(test_show_packed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_info_counts_packs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_repo_init, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backup_usage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_usage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_stops_before_the_cluster, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_unreachable, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
