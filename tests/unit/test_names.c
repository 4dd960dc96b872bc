#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <string.h>

#include "scylla/names.h"

/* Names that must never pass as any kind, since each would escape or confuse a path. */
static const char *const hostile[] = {
    "",          ".",   "..",   "../x", "a/b",   "/etc",     "x/..",   "a\\b",
    " ",         "a b", "a\nb", "a\tb", "a\x7f", "\xc0\xae", "%2e%2e", "\xe2\x80\x8b",
    "..\\..\\x", "a:b", "a*",   "a?",   "~",     NULL,
};

static void assert_all(name_kind kind, const char *const *list, bool expected)
{
    for (; *list; list++) {
        if (name_valid(kind, *list) != expected)
            fail_msg("kind %d: '%s' should be %s", kind, *list, expected ? "valid" : "invalid");
    }
}

static char *repeat(char c, size_t n)
{
    static char buf[600];
    memset(buf, c, n);
    buf[n] = '\0';
    return buf;
}

static void test_hostile_names_refused_by_every_kind(void **state)
{
    for (int k = NAME_KEYSPACE; k <= NAME_SSTABLE_FILE; k++) {
        assert_all((name_kind)k, hostile, false);
        assert_false(name_valid((name_kind)k, NULL));
    }
}

static void test_keyspace_and_table(void **state)
{
    static const char *const good[] = {
        "ks",   "K1",  "_",  "system_schema", "my_table_2", "alternator_orders", "orders.2024-q1",
        "a..b", "...", NULL,
    };
    static const char *const bad[] = {"t:gsi", "t!:lsi", "ks;drop", "naïve", NULL};
    assert_all(NAME_KEYSPACE, good, true);
    assert_all(NAME_TABLE, good, true);
    assert_all(NAME_KEYSPACE, bad, false);
    assert_all(NAME_TABLE, bad, false);
    assert_true(name_valid(NAME_TABLE, repeat('a', 48)));
    assert_true(name_valid(NAME_TABLE, repeat('a', 192)));
    assert_true(name_valid(NAME_TABLE, repeat('a', 222)));
    assert_false(name_valid(NAME_TABLE, repeat('a', 223)));
}

static void test_tag(void **state)
{
    static const char *const good[] = {"sm_20240101", "cairn-2024-01-01T00.00", "a", "A.b-c_d",
                                       NULL};
    static const char *const bad[] = {".hidden", "-rf", "a b", "tag/x", NULL};
    assert_all(NAME_TAG, good, true);
    assert_all(NAME_TAG, bad, false);
    assert_true(name_valid(NAME_TAG, repeat('t', 128)));
    assert_false(name_valid(NAME_TAG, repeat('t', 129)));
}

static void test_cluster(void **state)
{
    static const char *const good[] = {"prod", "prod-eu.1", "9lives", "a_b", NULL};
    static const char *const bad[] = {"_x", ".x", "-x", "a b", "pröd", NULL};
    assert_all(NAME_CLUSTER, good, true);
    assert_all(NAME_CLUSTER, bad, false);
    assert_true(name_valid(NAME_CLUSTER, repeat('c', 64)));
    assert_false(name_valid(NAME_CLUSTER, repeat('c', 65)));
}

static void test_host_id(void **state)
{
    static const char *const good[] = {"6f1f0c4e-1d2b-4c3a-9e8f-0a1b2c3d4e5f",
                                       "00000000-0000-0000-0000-000000000000", NULL};
    static const char *const bad[] = {
        "6F1F0C4E-1D2B-4C3A-9E8F-0A1B2C3D4E5F",  /* uppercase: ScyllaDB prints lowercase */
        "6f1f0c4e1d2b4c3a9e8f0a1b2c3d4e5f",      /* no dashes */
        "6f1f0c4e-1d2b-4c3a-9e8f-0a1b2c3d4e5",   /* short */
        "6f1f0c4e-1d2b-4c3a-9e8f-0a1b2c3d4e5f0", /* long */
        "6f1f0c4e-1d2b-4c3a-9e8f_0a1b2c3d4e5f",  /* wrong separator */
        "6f1f0c4g-1d2b-4c3a-9e8f-0a1b2c3d4e5f",  /* not hex */
        "{6f1f0c4e-1d2b-4c3a-9e8f-0a1b2c3d4e5f}", "6f1f0c4e-1d2b-4c3a-9e8f-0a1b/../d4e5f", NULL,
    };
    assert_all(NAME_HOST_ID, good, true);
    assert_all(NAME_HOST_ID, bad, false);
}

static void test_table_and_blob_ids(void **state)
{
    assert_true(name_valid(NAME_TABLE_ID, "5a1c395e4e2b3b7aa8a7c5e7c2b3a1d0"));
    assert_false(name_valid(NAME_TABLE_ID, "5A1C395E4E2B3B7AA8A7C5E7C2B3A1D0"));
    assert_false(name_valid(NAME_TABLE_ID, "5a1c395e-4e2b-3b7a-a8a7-c5e7c2b3a1d0"));
    assert_false(name_valid(NAME_TABLE_ID, repeat('a', 31)));
    assert_false(name_valid(NAME_TABLE_ID, repeat('a', 33)));
    assert_true(name_valid(NAME_BLOB_ID, repeat('f', 64)));
    assert_true(name_valid(NAME_BLOB_ID,
                           "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    assert_false(name_valid(NAME_BLOB_ID, repeat('f', 63)));
    assert_false(name_valid(NAME_BLOB_ID, repeat('f', 65)));
    assert_false(name_valid(NAME_BLOB_ID, repeat('g', 64)));
    assert_false(name_valid(NAME_BLOB_ID, repeat('F', 64)));
}

static void test_sstable_file(void **state)
{
    static const char *const good[] = {
        "mc-1-big-Data.db",
        "me-3gsm_0lob_1zdg02we44my8dy25w-big-Data.db",
        "md-42-big-CompressionInfo.db",
        "ms-7-big-Partitions.db",
        "mt-7-big-Rows.db",
        "la-1-big-TOC.txt",
        "me-1-big-TOC.txt.tmp",
        "me-1-big-Digest.crc32",
        "me-1-big-Scylla.db",
        NULL,
    };
    static const char *const bad[] = {
        "ma-1-big-Data.db", /* unknown version */
        "mf-1-big-Data.db", /* unknown version */
        "ka-1-big-Data.db", /* older than la */
        "me--big-Data.db",  /* empty generation */
        "me-1--Data.db",    /* empty format */
        "me-1-big-",        /* empty component */
        "me-1-big-.",       /* component "." */
        "me-1-big-..",      /* component ".." */
        "me-1-big-../../etc/passwd",
        "me-1-big-Data.db/x",
        "me-1/x-big-Data.db",
        "me-1-big-Data db",
        "me-1-b-g-Data.db", /* a dash in the format shifts the component */
        "manifest.json",
        "schema.cql",
        "me-1-big",
        NULL,
    };
    assert_all(NAME_SSTABLE_FILE, good, true);
    assert_all(NAME_SSTABLE_FILE, bad, false);

    char name[300] = "me-1-big-";
    size_t prefix = strlen(name);
    memset(name + prefix, 'x', 255 - prefix);
    name[255] = '\0';
    assert_true(name_valid(NAME_SSTABLE_FILE, name));
    name[255] = 'x';
    name[256] = '\0';
    assert_false(name_valid(NAME_SSTABLE_FILE, name));
}

/* A NUL ends the C string: what follows it is never seen, so it cannot reach a path
 * either. The checked prefix is what callers use. */
static void test_nul_ends_the_name(void **state)
{
    static const char trick[] = "ks\0/../../etc";
    assert_true(name_valid(NAME_KEYSPACE, trick));
    assert_int_equal(strlen(trick), 2);
    static const char nul_first[] = "\0ks";
    assert_false(name_valid(NAME_KEYSPACE, nul_first));
}

static void test_check_messages(void **state)
{
    cairn_err e;
    err_clear(&e);
    assert_int_equal(name_check(NAME_KEYSPACE, "ks1", &e), 0);
    assert_int_equal(e.code, 0);

    assert_int_equal(name_check(NAME_KEYSPACE, "../x", &e), CAIRN_EINVAL);
    assert_int_equal(e.code, CAIRN_EINVAL);
    assert_string_equal(e.msg, "invalid keyspace name '../x': use 1 to 222 letters, digits, "
                               "underscores, dots or dashes");

    assert_int_equal(name_check(NAME_TAG, "a\nb'\x01", &e), CAIRN_EINVAL);
    assert_non_null(strstr(e.msg, "invalid tag 'a\\x0ab\\x27\\x01'"));

    assert_int_equal(name_check(NAME_HOST_ID, NULL, &e), CAIRN_EINVAL);
    assert_non_null(strstr(e.msg, "missing host id"));

    assert_int_equal(name_check(NAME_BLOB_ID, "", &e), CAIRN_EINVAL);
    assert_non_null(strstr(e.msg, "invalid blob id '': expected 64 lowercase hex digits"));

    /* Overlong input is cut in the message, so a hostile peer cannot flood the log. */
    assert_int_equal(name_check(NAME_SSTABLE_FILE, repeat('z', 500), &e), CAIRN_EINVAL);
    char expected[100] = "invalid SSTable file name '";
    strcat(expected, repeat('z', 64));
    strcat(expected, "...'");
    assert_non_null(strstr(e.msg, expected));
    assert_true(strlen(e.msg) < 200);

    assert_int_equal(name_check(NAME_CLUSTER, "-x", NULL), CAIRN_EINVAL);

    /* Every kind names itself and its rule. */
    static const struct {
        name_kind kind;
        const char *what;
    } kinds[] = {
        {NAME_KEYSPACE, "keyspace name"},
        {NAME_TABLE, "table name"},
        {NAME_TAG, "tag"},
        {NAME_CLUSTER, "cluster name"},
        {NAME_HOST_ID, "host id"},
        {NAME_TABLE_ID, "table id"},
        {NAME_BLOB_ID, "blob id"},
        {NAME_SSTABLE_FILE, "SSTable file name"},
    };
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        assert_int_equal(name_check(kinds[i].kind, "/", &e), CAIRN_EINVAL);
        char head[64];
        snprintf(head, sizeof(head), "invalid %s '/': ", kinds[i].what);
        assert_non_null(strstr(e.msg, head));
    }
    /* A kind this build does not know accepts nothing. */
    assert_false(name_valid((name_kind)99, "x"));
    assert_int_equal(name_check((name_kind)99, "x", &e), CAIRN_EINVAL);
    assert_non_null(strstr(e.msg, "unknown kind of name"));
}

static void test_sanitize(void **state)
{
    char buf[16];
    name_sanitize("abc", buf, sizeof(buf));
    assert_string_equal(buf, "abc");
    name_sanitize("a\\b\"c", buf, sizeof(buf));
    assert_string_equal(buf, "a\\x5cb\\x22c");
    /* A small buffer truncates at a whole piece, never in the middle of an escape. */
    name_sanitize("\x01\x02\x03\x04", buf, 10);
    assert_string_equal(buf, "\\x01\\x02");
    name_sanitize(NULL, buf, sizeof(buf));
    assert_string_equal(buf, "");
    /* Cut after 64 characters, with "..." when it fits. */
    char wide[80];
    name_sanitize(repeat('y', 65), wide, sizeof(wide));
    assert_int_equal(strlen(wide), 67);
    assert_string_equal(wide + 64, "...");
    name_sanitize(repeat('y', 64), wide, sizeof(wide));
    assert_int_equal(strlen(wide), 64);
    name_sanitize(repeat('y', 65), wide, 66);
    assert_int_equal(strlen(wide), 64); /* no room for the mark */
    buf[0] = 'x';
    name_sanitize("abc", buf, 0); /* writes nothing */
    assert_int_equal(buf[0], 'x');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostile_names_refused_by_every_kind),
        cmocka_unit_test(test_keyspace_and_table),
        cmocka_unit_test(test_tag),
        cmocka_unit_test(test_cluster),
        cmocka_unit_test(test_host_id),
        cmocka_unit_test(test_table_and_blob_ids),
        cmocka_unit_test(test_sstable_file),
        cmocka_unit_test(test_nul_ends_the_name),
        cmocka_unit_test(test_check_messages),
        cmocka_unit_test(test_sanitize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
