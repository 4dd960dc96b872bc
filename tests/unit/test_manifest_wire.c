/*
 * Node manifests as bytes on the wire: fields in another order, unknown and wrong wire
 * types, oversized and truncated messages and frames, each read or refused by name.
 */
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
        cmocka_unit_test_setup_teardown(test_field_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_manifests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wire_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_frame, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
