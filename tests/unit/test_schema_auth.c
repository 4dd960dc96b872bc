#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <string.h>

#include "backup/schema_dump.h"
#include "restore/schema_auth.h"

/* Names of roles may hold anything: the header escapes what would break its fields. */
static void test_dump_header_round_trip(void **state)
{
    const char *names[] = {"alice",  "john doe", "a\nb", "100%", "x\n-- cairn-object: keyspace",
                           "Ünïcode"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char enc[SCHEMA_DUMP_FIELD_MAX], line[2 * SCHEMA_DUMP_FIELD_MAX];
        assert_int_equal(schema_dump_encode(names[i], enc, sizeof(enc)), 0);
        assert_null(strpbrk(enc, " \n"));
        snprintf(line, sizeof(line), "role - %s 42", enc);
        schema_dump_header h;
        assert_int_equal(schema_dump_parse_header(line, &h), 0);
        assert_string_equal(h.type, "role");
        assert_string_equal(h.keyspace, "-");
        assert_string_equal(h.name, names[i]);
        assert_true(h.has_length);
        assert_int_equal(h.length, 42);
    }
    char small[4];
    assert_int_equal(schema_dump_encode("a b", small, sizeof(small)), -1);
}

/* Dumps of older cairn versions have three fields and no length. */
static void test_dump_header_old_and_malformed(void **state)
{
    schema_dump_header h;
    assert_int_equal(schema_dump_parse_header("table ks t", &h), 0);
    assert_false(h.has_length);
    assert_string_equal(h.name, "t");
    assert_int_equal(schema_dump_parse_header("table ks", &h), -1);
    assert_int_equal(schema_dump_parse_header("table ks t x", &h), -1);
    assert_int_equal(schema_dump_parse_header("table ks t 1 2", &h), -1);
    assert_int_equal(schema_dump_parse_header("role - a%0 1", &h), -1);
    assert_int_equal(schema_dump_parse_header("role - a%00 1", &h), -1);
}

static void test_dump_has_auth(void **state)
{
    assert_true(schema_dump_has_auth(SCHEMA_DUMP_AUTH_LINE "\n\n-- cairn-object: ..."));
    assert_false(schema_dump_has_auth(SCHEMA_DUMP_PLAIN_LINE "\n\n-- cairn-object: ..."));
    assert_false(schema_dump_has_auth(SCHEMA_DUMP_AUTH_LINE "X\n"));
    assert_false(schema_dump_has_auth(""));
}

static void test_rank(void **state)
{
    assert_int_equal(schema_auth_rank("role"), 0);
    assert_true(schema_auth_rank("service_level") < schema_auth_rank("grant_permission"));
    assert_true(schema_auth_rank("grant_role") < schema_auth_rank("service_level_attachment"));
    assert_true(schema_auth_rank("grant_permission") <
                schema_auth_rank("service_level_attachment"));
    assert_int_equal(schema_auth_rank("table"), -1);
    for (size_t r = 0; r < schema_auth_kinds(); r++)
        assert_int_equal(schema_auth_rank(schema_auth_kind(r)), (int)r);
    assert_null(schema_auth_kind(schema_auth_kinds()));
}

static void assert_key(const char *type, const char *name, const char *stmt, const char *want)
{
    const char *key;
    size_t len;
    schema_auth_key(type, name, stmt, &key, &len);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(key, want, len);
}

static void test_key(void **state)
{
    assert_key("role", "alice", "CREATE ROLE alice WITH SALTED_HASH = 'h';", "alice");
    /* An attachment is named by its service level; its role is what it defines. */
    assert_key("service_level_attachment", "sl", "ATTACH SERVICE LEVEL sl TO \"Bob\";", "\"Bob\"");
    assert_key("grant_permission", "alice", "GRANT SELECT ON ks.t TO alice; ",
               "GRANT SELECT ON ks.t TO alice");
}

/* A label never holds a role's statement, and so never its hash. */
static void test_label(void **state)
{
    char l[256];
    schema_auth_label("role", "alice", "CREATE ROLE alice WITH SALTED_HASH = 'secret';", l,
                      sizeof(l));
    assert_string_equal(l, "role alice");
    schema_auth_label("service_level", "a\nb", "CREATE SERVICE LEVEL \"a\nb\";", l, sizeof(l));
    assert_null(strchr(l, '\n'));
    assert_non_null(strstr(l, "service level a"));
    schema_auth_label("grant_permission", "alice", "GRANT SELECT ON ks.t TO alice;", l, sizeof(l));
    assert_string_equal(l, "GRANT SELECT ON ks.t TO alice");
}

static void test_grant_keyspace(void **state)
{
    struct {
        const char *stmt, *ks;
    } cases[] = {
        {"GRANT SELECT ON ks.t TO r;", "ks"},
        {"GRANT MODIFY ON KEYSPACE ks1 TO r;", "ks1"},
        {"GRANT SELECT ON \"My\"\"Ks\".t TO r;", "My\"Ks"},
        {"GRANT EXECUTE ON ALL FUNCTIONS IN KEYSPACE fks TO r;", "fks"},
        {"GRANT EXECUTE ON FUNCTION fks.f(int) TO r;", "fks"},
        {"GRANT SELECT ON ALL KEYSPACES TO r;", NULL},
        {"GRANT ALTER ON ROLE other TO r;", NULL},
        {"GRANT ALTER ON ALL ROLES TO r;", NULL},
        {"GRANT EXECUTE ON ALL FUNCTIONS TO r;", NULL},
        {"GRANT other TO r;", NULL},
        {"GRANT SELECT ON \"open TO r;", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char ks[64] = "";
        bool got = schema_auth_grant_keyspace(cases[i].stmt, ks, sizeof(ks));
        if (got != (cases[i].ks != NULL))
            fail_msg("%s: %s", cases[i].stmt, got ? ks : "no keyspace");
        if (got)
            assert_string_equal(ks, cases[i].ks);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dump_header_round_trip),
        cmocka_unit_test(test_dump_header_old_and_malformed),
        cmocka_unit_test(test_dump_has_auth),
        cmocka_unit_test(test_rank),
        cmocka_unit_test(test_key),
        cmocka_unit_test(test_label),
        cmocka_unit_test(test_grant_keyspace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
