/* `cairn verify` on a scratch repository: the Data.db CRC-32 check of --read-data, the
 * exit codes of problems and of bad usage, and blobs stored in packs. */
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

#include "base/buf.h"
#include "cmd.h"
#include "repo/manifest.h"
#include "repo_fixture.h"

#define HOST_ID "6f2e3d7a-0000-4000-8000-000000000001"
#define DATA    "the bytes of a Data.db"

static repo_fixture rf;
static coord_config cfg;
static char *agents[] = {"127.0.0.1:1"};

/* Where write_backup's file is: in its own blob (pack NULL), or in a pack. */
typedef struct place {
    const char *pack;
    uint64_t offset, length;
} place;

/* A complete backup `tag` whose one Data.db is in blob, at at (NULL: its own blob),
 * with the CRC-32 crc. */
static void write_backup_at(const char *tag, const char *blob, const place *at, uint32_t crc)
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
    if (at) {
        f.pack = (char *)at->pack;
        f.has_pack_offset = f.has_pack_length = 1;
        f.pack_offset = at->offset;
        f.pack_length = at->length;
    }
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

static void write_backup(const char *tag, const char *blob, uint32_t crc)
{
    write_backup_at(tag, blob, NULL, crc);
}

/* The stored bytes of the repository object at key, appended to b. */
static void read_object(const char *key, buf *b)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", rf.root, key);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char chunk[4096];
    size_t n;
    cairn_err e;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        assert_int_equal(buf_append(b, chunk, n, &e), 0);
    fclose(f);
}

/* Stores the n bytes at data as a pack under their SHA-256, into id. */
static void put_pack(const void *data, size_t n, char id[65])
{
    unsigned char md[32];
    unsigned int len = 0;
    EVP_Digest(data, n, md, &len, EVP_sha256(), NULL);
    hex_encode(md, 32, id);
    char key[128], cmd[512];
    repo_pack_key(id, key, sizeof(key));
    snprintf(cmd, sizeof(cmd), "mkdir -p '%s/packs/%.2s'", rf.root, id);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof(cmd), "%s/%s", rf.root, key);
    FILE *f = fopen(cmd, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* Moves the blobs a and b into a new pack, a's frame then b's, as a writer of packs
 * would have stored them: b's place into at (pack id in pack), and nothing left under
 * blobs/. With corrupt, b's frame has its last byte (of its checksum) flipped. */
static void pack_two(const char *a, const char *b, bool corrupt, char pack[65], place *at)
{
    buf p = {0};
    char key[128];
    repo_blob_key(a, key, sizeof(key));
    read_object(key, &p);
    at->offset = p.len;
    repo_blob_key(b, key, sizeof(key));
    read_object(key, &p);
    at->length = p.len - at->offset;
    if (corrupt)
        ((unsigned char *)p.data)[p.len - 1] ^= 1;
    put_pack(p.data, p.len, pack);
    at->pack = pack;
    buf_free(&p);
}

static void remove_blob(const char *id)
{
    char key[128], path[512];
    repo_blob_key(id, key, sizeof(key));
    snprintf(path, sizeof(path), "%s/%s", rf.root, key);
    assert_int_equal(unlink(path), 0);
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

/* A packed blob is there when its pack is; --read-data reads its member; a missing or
 * corrupt pack is named with the file and the blob, and --repair leaves it alone. */
static void test_packs(void **state)
{
    (void)state;
    assert_int_equal(repo_fixture_open(&rf), 0);
    cfg = (coord_config){.cluster = "prod", .repository = rf.url, .insecure = true};
    cfg.agents.items = agents;
    cfg.agents.n = 1;
    char first[65], blob[65], good[65], bad[65], out[8192];
    place at_good, at_bad;
    assert_int_equal(repo_fixture_put(&rf, "a small file before it", first), 0);
    assert_int_equal(repo_fixture_put(&rf, DATA, blob), 0);
    pack_two(first, blob, false, good, &at_good);
    pack_two(first, blob, true, bad, &at_bad);
    remove_blob(first);
    remove_blob(blob);
    uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), (const Bytef *)DATA, strlen(DATA));
    write_backup_at("packed", blob, &at_good, crc);
    char *read[] = {"verify", "packed", "--read-data", "--json"};
    assert_int_equal(run(read, 4, out, sizeof(out)), CMD_OK);
    assert_non_null(strstr(out, "\"ok\":true"));
    assert_non_null(strstr(out, "\"blobs_listed\":0"));
    assert_non_null(strstr(out, "\"packs_listed\":2"));
    assert_non_null(strstr(out, "\"blobs_read\":1"));

    /* Its pack gone. */
    place lost = at_good;
    lost.pack = "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd";
    write_backup_at("lost", blob, &lost, crc);
    char *missing[] = {"verify", "lost"};
    assert_int_equal(run(missing, 2, out, sizeof(out)), CMD_FAILED);
    char want[512];
    snprintf(want, sizeof(want), "file me-1-big-Data.db: missing pack, blob %s, pack %s", blob,
             lost.pack);
    assert_non_null(strstr(out, want));

    /* The pack is there, the member's bytes are not right: only reading finds it. */
    write_backup_at("rotten", blob, &at_bad, crc);
    char *exists[] = {"verify", "rotten"};
    assert_int_equal(run(exists, 2, out, sizeof(out)), CMD_OK);
    char *rotten[] = {"verify", "rotten", "--read-data", "--repair"};
    assert_int_equal(run(rotten, 4, out, sizeof(out)), CMD_FAILED);
    snprintf(want, sizeof(want),
             "file me-1-big-Data.db: corrupt (its bytes in the pack do not match its SHA-256), "
             "blob %s, pack %s",
             blob, bad);
    assert_non_null(strstr(out, want));
    assert_non_null(strstr(out, "1 packs hold corrupt blobs"));
    /* --repair deletes no pack, and marks the backup damaged instead. */
    assert_non_null(strstr(out, "repaired: deleted 0 corrupt blobs and marked"));
    char key[128], path[512];
    repo_pack_key(bad, key, sizeof(key));
    snprintf(path, sizeof(path), "%s/%s", rf.root, key);
    assert_int_equal(access(path, F_OK), 0);
    char *json[] = {"verify", "rotten", "--read-data", "--json"};
    assert_int_equal(run(json, 4, out, sizeof(out)), CMD_FAILED);
    snprintf(want, sizeof(want), "\"corrupt_packs\":[\"%s\"]", bad);
    assert_non_null(strstr(out, want));
    snprintf(want, sizeof(want), "\"pack\":\"%s\"", bad);
    assert_non_null(strstr(out, want));
    assert_non_null(strstr(out, "\"corrupt_blobs\":[]"));

    /* Read once in the good pack, the same blob is still read in the bad one. */
    char *both[] = {"verify", "--read-data"};
    assert_int_equal(run(both, 2, out, sizeof(out)), CMD_FAILED);
    assert_non_null(strstr(out, "prod/packed: ok"));
    assert_non_null(strstr(out, "prod/rotten: DAMAGED"));
    assert_int_equal(repo_fixture_close(&rf), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_crc_checked),
                                       cmocka_unit_test(test_packs)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
