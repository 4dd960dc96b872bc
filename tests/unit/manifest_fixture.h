/*
 * A file:// repository for the manifest tests (test_manifest.c, test_manifest_wire.c),
 * and the node manifests they write, read back and damage.
 */
#ifndef CAIRN_TEST_MANIFEST_FIXTURE_H
#define CAIRN_TEST_MANIFEST_FIXTURE_H

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

static inline int setup(void **state)
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

static inline int teardown(void **state)
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

static inline void fill_header(Cairn__Repo__NodeManifest *h)
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

static inline void make_table(struct table_buf *b, int i)
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

static inline void check_table(const Cairn__Repo__TableEntry *t, int i)
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

static inline void write_node(struct fixture *f, const char *key, int ntables, char sha[65],
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

static inline int table_cb(void *ctx, const Cairn__Repo__TableEntry *t, cairn_err *e)
{
    struct seen *s = ctx;
    if (s->fail_at && s->n == s->fail_at)
        return err_set(e, CAIRN_EIO, "callback stop");
    check_table(t, s->n);
    s->n++;
    return 0;
}

static inline void check_header(const Cairn__Repo__NodeManifest *h)
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
static inline void load_object(struct fixture *f, const char *key, buf *raw, buf *plain)
{
    cairn_err e;
    assert_int_equal(store_get(f->s, key, mem_sink, raw, &e), 0);
    blob_dec *d;
    assert_int_equal(blob_dec_new(&d, NULL, &e), 0);
    assert_int_equal(blob_dec_write(d, raw->data, raw->len, mem_sink, plain, &e), 0);
    assert_int_equal(blob_dec_finish(d, NULL, &e), 0);
    blob_dec_free(d);
}

/* Stores plain bytes as a manifest object (one zstd frame). */
static inline void put_raw(struct fixture *f, const char *key, const void *plain, size_t len)
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
static inline size_t table_record(int i, uint8_t *out)
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

#endif
