/* `cairn verify` on a scratch repository: the Data.db CRC-32 check of --read-data, and
 * the exit codes of problems and of bad usage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "cmd.h"
#include "repo/manifest.h"
#include "repo_fixture.h"

#define HOST_ID "6f2e3d7a-0000-4000-8000-000000000001"
#define DATA    "the bytes of a Data.db"

static repo_fixture rf;
static coord_config cfg;
static char *agents[] = {"127.0.0.1:1"};

/* A complete backup `tag` whose one Data.db is in blob, with the CRC-32 crc. */
static void write_backup(const char *tag, const char *blob, uint32_t crc)
{
    Cairn__Repo__NodeManifest h = CAIRN__REPO__NODE_MANIFEST__INIT;
    h.cluster = "prod";
    h.tag = (char *)tag;
    h.host_id = HOST_ID;
    char nkey[256], sha[65], ckey[256];
    repo_node_manifest_key("prod", tag, HOST_ID, nkey, sizeof(nkey));
    manifest_writer *w = NULL;
    cairn_err e;
    assert_int_equal(manifest_node_begin(rf.r, nkey, &h, &w, &e), 0);
    Cairn__Repo__FileEntry f = CAIRN__REPO__FILE_ENTRY__INIT;
    f.name = "me-1-big-Data.db";
    f.blob = (char *)blob;
    f.size = strlen(DATA);
    f.has_data_crc32 = 1;
    f.data_crc32 = crc;
    Cairn__Repo__FileEntry *fp[] = {&f};
    Cairn__Repo__TableEntry te = CAIRN__REPO__TABLE_ENTRY__INIT;
    te.keyspace = "ks";
    te.name = "t";
    te.files = fp;
    te.n_files = 1;
    assert_int_equal(manifest_node_add_table(w, &te, &e), 0);
    assert_int_equal(manifest_node_finish(w, sha, NULL, &e), 0);
    Cairn__Repo__NodeRef ref = CAIRN__REPO__NODE_REF__INIT;
    ref.host_id = HOST_ID;
    ref.manifest_key = nkey;
    ref.manifest_sha256 = sha;
    Cairn__Repo__NodeRef *refs[] = {&ref};
    Cairn__Repo__ClusterManifest m = CAIRN__REPO__CLUSTER_MANIFEST__INIT;
    m.cluster = "prod";
    m.tag = (char *)tag;
    m.nodes = refs;
    m.n_nodes = 1;
    repo_cluster_manifest_key("prod", tag, ckey, sizeof(ckey));
    assert_int_equal(manifest_cluster_write(rf.r, ckey, &m, &e), 0);
}

/* Runs `verify argv...` with stdout on a file; the exit status, and what it printed. */
static int run(char **argv, int argc, char *out, size_t cap)
{
    fflush(stdout);
    char path[128];
    snprintf(path, sizeof(path), "%s/out", rf.dir);
    FILE *f = fopen(path, "w+");
    int saved = dup(STDOUT_FILENO);
    dup2(fileno(f), STDOUT_FILENO);
    int rc = cmd_verify(&cfg, argc, argv);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    rewind(f);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    fclose(f);
    return rc;
}

static void test_crc_checked(void **state)
{
    (void)state;
    assert_int_equal(repo_fixture_open(&rf), 0);
    cfg = (coord_config){.cluster = "prod", .repository = rf.url, .insecure = true};
    cfg.agents.items = agents;
    cfg.agents.n = 1;
    char blob[65], out[8192];
    assert_int_equal(repo_fixture_put(&rf, DATA, blob), 0);
    uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), (const Bytef *)DATA, strlen(DATA));
    write_backup("good", blob, crc);
    char *read[] = {"verify", "good", "--read-data"};
    assert_int_equal(run(read, 3, out, sizeof(out)), CMD_OK);
    assert_non_null(strstr(out, "all is well"));
    /* The same bytes with another recorded Digest: reading them finds it. */
    write_backup("bad", blob, crc ^ 1);
    char *bad[] = {"verify", "bad", "--read-data"};
    assert_int_equal(run(bad, 3, out, sizeof(out)), CMD_FAILED);
    assert_non_null(strstr(out, "CRC-32 does not match its Digest"));
    assert_non_null(strstr(out, "ks.t"));
    /* Without reading, only existence is checked: both are whole. */
    char *all[] = {"verify", "--json"};
    assert_int_equal(run(all, 2, out, sizeof(out)), CMD_OK);
    assert_non_null(strstr(out, "\"ok\":true"));
    char *usage[] = {"verify", "--read-data=101"};
    assert_int_equal(run(usage, 2, out, sizeof(out)), CMD_USAGE);
    assert_int_equal(repo_fixture_close(&rf), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_crc_checked)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
