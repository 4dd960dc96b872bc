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
#include "testutil.h"

#define NTABLES 5000
#define NFILES  3

struct fixture {
    char dir[64];
    char url[128];
    repo *r;
    store *s; /* the same repository, underneath: for damaging and inspecting objects */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/cairn-manifest-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->url, sizeof(f->url), "file://%s/repo", f->dir);
    cairn_err e;
    assert_int_equal(repo_open(&f->r, f->url, NULL, true, &e), 0);
    assert_int_equal(store_open(&f->s, f->url, NULL, &e), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(f->s);
    repo_close(f->r);
    assert_int_equal(scratch_remove(f->dir), 0);
    free(f);
    return 0;
}

static char *tokens[] = {"-9223372036854775808", "0", "42"};
static char *dirs[] = {"/var/lib/scylla/data", "/mnt/disk2/data"};

static void fill_header(Cairn__Repo__NodeManifest *h)
{
    cairn__repo__node_manifest__init(h);
    h->cluster = "Test Cluster";
    h->tag = "cairn-20250101";
    h->host_id = "6f2e3d7a-0000-4000-8000-000000000001";
    h->address = "10.0.0.1";
    h->dc = "dc1";
    h->rack = "r1";
    h->n_tokens = 3;
    h->tokens = tokens;
    h->has_shard_count = 1;
    h->shard_count = 8;
    h->has_snapshot_time_ms = 1;
    h->snapshot_time_ms = 1735689600000ull;
    h->n_data_dirs = 2;
    h->data_dirs = dirs;
}

/* Table i, built in caller storage. */
struct table_buf {
    Cairn__Repo__TableEntry t;
    Cairn__Repo__FileEntry files[NFILES];
    Cairn__Repo__FileEntry *fp[NFILES];
    char ks[32], name[32], fname[NFILES][64], blob[NFILES][65];
};

static void make_table(struct table_buf *b, int i)
{
    cairn__repo__table_entry__init(&b->t);
    snprintf(b->ks, sizeof(b->ks), "ks%d", i % 17);
    snprintf(b->name, sizeof(b->name), "table%d", i);
    b->t.keyspace = b->ks;
    b->t.name = b->name;
    b->t.n_files = NFILES;
    b->t.files = b->fp;
    for (int j = 0; j < NFILES; j++) {
        cairn__repo__file_entry__init(&b->files[j]);
        snprintf(b->fname[j], sizeof(b->fname[j]), "me-%d-big-%s.db", i, j ? "Index" : "Data");
        snprintf(b->blob[j], sizeof(b->blob[j]), "%064x", i * NFILES + j);
        b->files[j].name = b->fname[j];
        b->files[j].size = (uint64_t)i * 1000 + (uint64_t)j;
        b->files[j].blob = b->blob[j];
        if (j == 0) {
            b->files[j].has_data_crc32 = 1;
            b->files[j].data_crc32 = (uint32_t)i * 2654435761u;
        }
        b->fp[j] = &b->files[j];
    }
}

static void check_table(const Cairn__Repo__TableEntry *t, int i)
{
    struct table_buf b;
    make_table(&b, i);
    assert_string_equal(t->keyspace, b.ks);
    assert_string_equal(t->name, b.name);
    assert_int_equal(t->n_files, NFILES);
    for (int j = 0; j < NFILES; j++) {
        assert_string_equal(t->files[j]->name, b.fname[j]);
        assert_string_equal(t->files[j]->blob, b.blob[j]);
        assert_int_equal(t->files[j]->size, b.files[j].size);
        assert_int_equal(t->files[j]->has_data_crc32, j == 0);
        assert_int_equal(t->files[j]->data_crc32, b.files[j].data_crc32);
    }
}

static void write_node(struct fixture *f, const char *key, int ntables, char sha[65],
                       uint64_t *size)
{
    Cairn__Repo__NodeManifest h;
    fill_header(&h);
    manifest_writer *w;
    cairn_err e;
    assert_int_equal(manifest_node_begin(f->r, key, &h, &w, &e), 0);
    for (int i = 0; i < ntables; i++) {
        struct table_buf b;
        make_table(&b, i);
        assert_int_equal(manifest_node_add_table(w, &b.t, &e), 0);
    }
    assert_int_equal(manifest_node_finish(w, sha, size, &e), 0);
}

struct seen {
    int n;
    int fail_at;
};

static int table_cb(void *ctx, const Cairn__Repo__TableEntry *t, cairn_err *e)
{
    struct seen *s = ctx;
    if (s->fail_at && s->n == s->fail_at)
        return err_set(e, CAIRN_EIO, "callback stop");
    check_table(t, s->n);
    s->n++;
    return 0;
}

static void check_header(const Cairn__Repo__NodeManifest *h)
{
    assert_int_equal(h->format_version, MANIFEST_FORMAT_VERSION);
    assert_string_equal(h->cluster, "Test Cluster");
    assert_string_equal(h->tag, "cairn-20250101");
    assert_string_equal(h->host_id, "6f2e3d7a-0000-4000-8000-000000000001");
    assert_string_equal(h->dc, "dc1");
    assert_int_equal(h->n_tokens, 3);
    assert_string_equal(h->tokens[0], tokens[0]);
    assert_string_equal(h->tokens[2], "42");
    assert_int_equal(h->shard_count, 8);
    assert_int_equal(h->snapshot_time_ms, 1735689600000ull);
    assert_int_equal(h->n_data_dirs, 2);
    assert_string_equal(h->data_dirs[1], dirs[1]);
}

/* The stored object's raw bytes and its decompressed content. */
static void load_object(struct fixture *f, const char *key, buf *raw, buf *plain)
{
    cairn_err e;
    assert_int_equal(store_get(f->s, key, mem_sink, raw, &e), 0);
    blob_dec *d;
    assert_int_equal(blob_dec_new(&d, NULL, &e), 0);
    assert_int_equal(blob_dec_write(d, raw->data, raw->len, mem_sink, plain, &e), 0);
    assert_int_equal(blob_dec_finish(d, NULL, &e), 0);
    blob_dec_free(d);
}

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

/* repo_manifest_verify: the object as its writer reported it, or a named failure. */
static void test_verify(void **state)
{
    struct fixture *f = *state;
    const char *key = "backups/c/t/nodes/v.manifest";
    char sha[65];
    uint64_t written = 0, size = 0;
    write_node(f, key, 3, sha, &written);
    cairn_err e;
    assert_int_equal(repo_manifest_stat(f->r, key, &size, &e), 0);
    assert_true(written > 0);
    assert_int_equal(written, size); /* what the writer reports is what was stored */
    assert_int_equal(repo_manifest_verify(f->r, key, size, sha, &e), 0);
    assert_int_equal(repo_manifest_verify(f->r, key, MANIFEST_SIZE_ANY, sha, &e), 0);

    assert_int_equal(repo_manifest_verify(f->r, key, size + 1, sha, &e), CAIRN_ECORRUPT);
    assert_non_null(strstr(e.msg, key));
    char wrong[65];
    memcpy(wrong, sha, sizeof(wrong));
    wrong[0] = wrong[0] == '0' ? '1' : '0';
    assert_int_equal(repo_manifest_verify(f->r, key, size, wrong, &e), CAIRN_ECORRUPT);
    assert_non_null(strstr(e.msg, wrong));

    /* Written elsewhere (another repository): missing here, by name. */
    assert_int_equal(
        repo_manifest_verify(f->r, "backups/c/t/nodes/gone.manifest", MANIFEST_SIZE_ANY, sha, &e),
        CAIRN_ENOENT);
    assert_non_null(strstr(e.msg, "gone.manifest"));
    assert_non_null(strstr(e.msg, "missing"));
}

/* Stores plain bytes as a manifest object (one zstd frame). */
static void put_raw(struct fixture *f, const char *key, const void *plain, size_t len)
{
    buf z = {0};
    blob_enc *enc;
    cairn_err e;
    assert_int_equal(blob_enc_new(&enc, 1, &e), 0);
    assert_int_equal(blob_enc_write(enc, plain, len, mem_sink, &z, &e), 0);
    assert_int_equal(blob_enc_finish(enc, mem_sink, &z, &e), 0);
    blob_enc_free(enc);
    assert_int_equal(store_put_buf(f->s, key, z.data, z.len, &e), 0);
    free(z.data);
}

/* A table record: field 15, length, TableEntry bytes. */
static size_t table_record(int i, uint8_t *out)
{
    struct table_buf b;
    make_table(&b, i);
    size_t len = cairn__repo__table_entry__get_packed_size(&b.t);
    assert_true(len < 16384);
    out[0] = (15 << 3) | 2;
    out[1] = (uint8_t)(len | 0x80);
    out[2] = (uint8_t)(len >> 7);
    cairn__repo__table_entry__pack(&b.t, out + 3);
    return len + 3;
}

static void test_field_order(void **state)
{
    struct fixture *f = *state;
    uint8_t wire[4096];
    size_t n = table_record(0, wire);
    Cairn__Repo__NodeManifest h;
    fill_header(&h);
    h.format_version = MANIFEST_FORMAT_VERSION;
    n += cairn__repo__node_manifest__pack(&h, wire + n);
    n += table_record(1, wire + n);
    put_raw(f, "m/reordered", wire, n);

    Cairn__Repo__NodeManifest *out;
    struct seen s = {0};
    cairn_err e;
    assert_int_equal(manifest_node_read(f->r, "m/reordered", NULL, &out, table_cb, &s, &e), 0);
    assert_int_equal(s.n, 2);
    check_header(out);
    cairn__repo__node_manifest__free_unpacked(out, NULL);
}

static void test_bad_manifests(void **state)
{
    struct fixture *f = *state;
    Cairn__Repo__NodeManifest h, *out;
    cairn_err e;
    struct seen s = {0};
    uint8_t wire[4096];

    /* A newer format is refused before any table is handed out. */
    fill_header(&h);
    h.format_version = MANIFEST_FORMAT_VERSION + 1;
    size_t n = cairn__repo__node_manifest__pack(&h, wire);
    n += table_record(0, wire + n);
    put_raw(f, "m/newer", wire, n);
    assert_int_equal(manifest_node_read(f->r, "m/newer", NULL, &out, table_cb, &s, &e),
                     CAIRN_EPROTO);
    assert_int_equal(s.n, 0);
    assert_non_null(strstr(e.msg, "upgrade cairn"));

    /* A record claiming more than 64 MiB is refused without reading it. */
    fill_header(&h);
    n = cairn__repo__node_manifest__pack(&h, wire);
    size_t good = n;
    wire[n++] = (15 << 3) | 2;
    uint64_t big = (64u << 20) + 1;
    while (big >= 0x80) {
        wire[n++] = (uint8_t)(big | 0x80);
        big >>= 7;
    }
    wire[n++] = (uint8_t)big;
    put_raw(f, "m/huge", wire, n);
    assert_int_equal(manifest_node_read(f->r, "m/huge", NULL, &out, table_cb, &s, &e),
                     CAIRN_ECORRUPT);
    assert_non_null(strstr(e.msg, "64 MiB"));
    assert_non_null(strstr(e.msg, "m/huge"));

    /* Ends inside a record. */
    n = good;
    n += table_record(0, wire + n);
    put_raw(f, "m/cut", wire, n - 3);
    s.n = 0;
    assert_int_equal(manifest_node_read(f->r, "m/cut", NULL, &out, table_cb, &s, &e),
                     CAIRN_ECORRUPT);
    assert_non_null(strstr(e.msg, "middle"));

    /* A table record that is not a TableEntry. */
    n = good;
    memcpy(wire + n, "\x7a\x03\xff\xff\xff", 5);
    put_raw(f, "m/badtable", wire, n + 5);
    assert_int_equal(manifest_node_read(f->r, "m/badtable", NULL, &out, table_cb, &s, &e),
                     CAIRN_ECORRUPT);

    /* The header lacks required fields. */
    put_raw(f, "m/nohead", "\x08\x01", 2);
    assert_int_equal(manifest_node_read(f->r, "m/nohead", NULL, &out, NULL, NULL, &e),
                     CAIRN_ECORRUPT);

    /* Not zstd at all. */
    assert_int_equal(store_put_buf(f->s, "m/plain", wire, good, &e), 0);
    assert_int_equal(manifest_node_read(f->r, "m/plain", NULL, &out, NULL, NULL, &e),
                     CAIRN_ECORRUPT);
    assert_non_null(strstr(e.msg, "m/plain"));
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
static void test_wire_types(void **state)
{
    struct fixture *f = *state;
    Cairn__Repo__NodeManifest h, *out;
    cairn_err e;
    uint8_t wire[4096];
    fill_header(&h);
    size_t good = cairn__repo__node_manifest__pack(&h, wire);

    /* Unknown fields (fixed64 field 100, fixed32 field 101) pass through the reader. */
    size_t n = good;
    memcpy(wire + n,
           "\xa1\x06"
           "12345678"
           "\xad\x06"
           "1234",
           16);
    n += 16;
    n += table_record(0, wire + n);
    put_raw(f, "m/fixed", wire, n);
    struct seen s = {0};
    assert_int_equal(manifest_node_read(f->r, "m/fixed", NULL, &out, table_cb, &s, &e), 0);
    assert_int_equal(s.n, 1);
    assert_string_equal(out->cluster, h.cluster);
    cairn__repo__node_manifest__free_unpacked(out, NULL);

    static const struct {
        const char *key, *bytes, *why;
        size_t len;
    } bad[] = {
        {"m/longvarint", "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80", "too long", 11},
        {"m/field0", "\x00\x01", "field number", 2},
        {"m/tablewt", "\x78\x01", "wrong wire type", 2},
        {"m/group", "\xa3\x06", "unsupported wire type", 2},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        n = good;
        memcpy(wire + n, bad[i].bytes, bad[i].len);
        put_raw(f, bad[i].key, wire, n + bad[i].len);
        assert_int_equal(manifest_node_read(f->r, bad[i].key, NULL, &out, NULL, NULL, &e),
                         CAIRN_ECORRUPT);
        assert_non_null(strstr(e.msg, bad[i].why));
        assert_non_null(strstr(e.msg, bad[i].key));
        assert_null(out);
    }

    /* An empty table record is an empty TableEntry, which lacks its required fields. */
    n = good;
    memcpy(wire + n, "\x7a\x00", 2);
    put_raw(f, "m/emptytable", wire, n + 2);
    assert_int_equal(manifest_node_read(f->r, "m/emptytable", NULL, &out, NULL, NULL, &e),
                     CAIRN_ECORRUPT);

    /* A newer header with no tables is refused at the end. */
    fill_header(&h);
    h.format_version = MANIFEST_FORMAT_VERSION + 1;
    n = cairn__repo__node_manifest__pack(&h, wire);
    put_raw(f, "m/newer-empty", wire, n);
    assert_int_equal(manifest_node_read(f->r, "m/newer-empty", NULL, &out, NULL, NULL, &e),
                     CAIRN_EPROTO);
    assert_null(out);
}

/* The 64 MiB bound holds for the bytes that come in, not only for what records claim. */
static void test_oversized(void **state)
{
    struct fixture *f = *state;
    Cairn__Repo__NodeManifest h, *out;
    cairn_err e;
    size_t big = (64u << 20) + 16;
    uint8_t *wire = calloc(1, big + 4096);
    assert_non_null(wire);
    fill_header(&h);
    size_t n = cairn__repo__node_manifest__pack(&h, wire);
    /* An unknown bytes field (100) of just under 64 MiB: the header passes the limit. */
    size_t len = (64u << 20) - 1;
    wire[n++] = 0xa2; /* field 100, length-delimited */
    wire[n++] = 0x06;
    size_t v = len;
    for (; v >= 0x80; v >>= 7)
        wire[n++] = (uint8_t)(v | 0x80);
    wire[n++] = (uint8_t)v;
    put_raw(f, "m/bighead", wire, n + len);
    assert_int_equal(manifest_node_read(f->r, "m/bighead", NULL, &out, NULL, NULL, &e),
                     CAIRN_ECORRUPT);
    assert_non_null(strstr(e.msg, "header is over 64 MiB"));

    /* A cluster manifest is read whole, and refused past 64 MiB. */
    put_raw(f, "m/bigcluster", wire, big);
    Cairn__Repo__ClusterManifest *m;
    assert_int_equal(manifest_cluster_read(f->r, "m/bigcluster", &m, &e), CAIRN_ECORRUPT);
    assert_non_null(strstr(e.msg, "over 64 MiB"));
    free(wire);
}

/* A zstd frame cut short is corrupt, and the message names the object. */
static void test_truncated_frame(void **state)
{
    struct fixture *f = *state;
    Cairn__Repo__ClusterManifest m = CAIRN__REPO__CLUSTER_MANIFEST__INIT, *out;
    m.cluster = "c";
    m.tag = "t";
    cairn_err e;
    assert_int_equal(manifest_cluster_write(f->r, "m/whole", &m, &e), 0);
    buf raw = {0}, plain = {0};
    load_object(f, "m/whole", &raw, &plain);
    assert_int_equal(store_put_buf(f->s, "m/cut", raw.data, raw.len - 2, &e), 0);
    free(raw.data);
    free(plain.data);
    assert_int_equal(manifest_cluster_read(f->r, "m/cut", &out, &e), CAIRN_ECORRUPT);
    assert_non_null(strstr(e.msg, "cluster manifest m/cut"));
    /* A key the store refuses: nothing is written. */
    assert_int_equal(manifest_cluster_write(f->r, "bad//key", &m, &e), CAIRN_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_node_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_protoc_decodes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_sha_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_field_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_manifests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cluster, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wire_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_frame, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
