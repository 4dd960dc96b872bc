/* agent/node/cql_split: a CQL script cut into statements at top-level ';' only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "node/cql_split.h"

#define MAX_STMTS 8

typedef struct got {
    char *s[MAX_STMTS];
    size_t n;
    size_t stop_after; /* 0: never stop */
} got;

static int collect(void *ctx, const char *stmt, cairn_err *e)
{
    got *g = ctx;
    assert_true(g->n < MAX_STMTS);
    g->s[g->n++] = strdup(stmt);
    if (g->stop_after && g->n == g->stop_after)
        return err_set(e, CAIRN_EIO, "stopped by the callback");
    return 0;
}

static void got_free(got *g)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->s[i]);
    memset(g, 0, sizeof(*g));
}

/* Splits text and checks the statements against want (NULL-terminated). */
static void expect(const char *text, const char *const *want)
{
    got g = {0};
    cairn_err e;
    err_clear(&e);
    assert_int_equal(cql_split(text, collect, &g, &e), 0);
    size_t n = 0;
    while (want[n])
        n++;
    assert_int_equal(g.n, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(g.s[i], want[i]);
    got_free(&g);
}

static void one_statement(void **state)
{
    (void)state;
    expect("CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy'}",
           (const char *[]){"CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy'}",
                            NULL});
    expect("  CREATE TABLE ks.t (k int PRIMARY KEY);  \n",
           (const char *[]){"CREATE TABLE ks.t (k int PRIMARY KEY)", NULL});
    expect("", (const char *[]){NULL});
    expect(" ;\n ; ", (const char *[]){NULL});
}

/* What DESCRIBE SCHEMA WITH INTERNALS gives for a table whose column was dropped. */
static void dropped_column_definition(void **state)
{
    (void)state;
    expect("CREATE TABLE ks.t (\n    k int PRIMARY KEY,\n    c int\n) WITH ID = "
           "4a0c9b10-0d2f-11ef-9a35-5d2b1f7a1e01 AND comment = 'a; b';\n"
           "ALTER TABLE ks.t DROP c USING TIMESTAMP 1700000000000000;\n"
           "ALTER TABLE ks.t ADD c int;\n",
           (const char *[]){"CREATE TABLE ks.t (\n    k int PRIMARY KEY,\n    c int\n) WITH ID = "
                            "4a0c9b10-0d2f-11ef-9a35-5d2b1f7a1e01 AND comment = 'a; b'",
                            "ALTER TABLE ks.t DROP c USING TIMESTAMP 1700000000000000",
                            "ALTER TABLE ks.t ADD c int", NULL});
}

static void semicolons_in_strings(void **state)
{
    (void)state;
    /* '' is a quote inside a string, not its end followed by another string */
    expect("CREATE TABLE ks.t (k int PRIMARY KEY) WITH comment = 'it''s; here';X",
           (const char *[]){"CREATE TABLE ks.t (k int PRIMARY KEY) WITH comment = 'it''s; here'",
                            "X", NULL});
    expect("SELECT ';' FROM t; SELECT '''' FROM u",
           (const char *[]){"SELECT ';' FROM t", "SELECT '''' FROM u", NULL});
}

static void semicolons_in_identifiers(void **state)
{
    (void)state;
    expect("CREATE TABLE ks.\"we;ird\"\"name\" (\"a;b\" int PRIMARY KEY); DROP TABLE x",
           (const char *[]){"CREATE TABLE ks.\"we;ird\"\"name\" (\"a;b\" int PRIMARY KEY)",
                            "DROP TABLE x", NULL});
    /* a quote of the other kind inside does not end either */
    expect("SELECT \"it's;\" FROM t; SELECT 'say \"hi;\"' FROM u",
           (const char *[]){"SELECT \"it's;\" FROM t", "SELECT 'say \"hi;\"' FROM u", NULL});
}

static void semicolons_in_dollar_bodies(void **state)
{
    (void)state;
    expect("CREATE FUNCTION ks.f(a int) RETURNS NULL ON NULL INPUT RETURNS int LANGUAGE lua AS "
           "$$ local x = a; return x; $$;\nCREATE TABLE ks.t (k int PRIMARY KEY)",
           (const char *[]){"CREATE FUNCTION ks.f(a int) RETURNS NULL ON NULL INPUT RETURNS int "
                            "LANGUAGE lua AS $$ local x = a; return x; $$",
                            "CREATE TABLE ks.t (k int PRIMARY KEY)", NULL});
    /* quotes inside a body do not open anything */
    expect("AS $$ return 'x; $$; B", (const char *[]){"AS $$ return 'x; $$", "B", NULL});
}

static void semicolons_in_comments(void **state)
{
    (void)state;
    expect("-- one; two\nCREATE TABLE a (k int PRIMARY KEY); // three; four\nDROP TABLE b",
           (const char *[]){"-- one; two\nCREATE TABLE a (k int PRIMARY KEY)",
                            "// three; four\nDROP TABLE b", NULL});
    expect("CREATE /* x; 'y; */ TABLE a (k int PRIMARY KEY);B",
           (const char *[]){"CREATE /* x; 'y; */ TABLE a (k int PRIMARY KEY)", "B", NULL});
    /* a piece of comments alone is no statement */
    expect("A; -- nothing; here\n /* nor; here */ ; B -- tail",
           (const char *[]){"A", "B -- tail", NULL});
}

static void unterminated(void **state)
{
    (void)state;
    const char *bad[] = {"A; SELECT 'open; B", "A; SELECT \"open; B", "A; AS $$ body; B",
                         "A; /* comment; B"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        got g = {0};
        cairn_err e;
        err_clear(&e);
        assert_int_equal(cql_split(bad[i], collect, &g, &e), CAIRN_EINVAL);
        assert_non_null(strstr(e.msg, "ends inside"));
        assert_int_equal(g.n, 1); /* "A" was given, the broken piece never is */
        got_free(&g);
    }
}

static void callback_stops(void **state)
{
    (void)state;
    got g = {.stop_after = 2};
    cairn_err e;
    err_clear(&e);
    assert_int_equal(cql_split("A;B;C", collect, &g, &e), CAIRN_EIO);
    assert_int_equal(g.n, 2);
    assert_string_equal(e.msg, "stopped by the callback");
    got_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_statement),
        cmocka_unit_test(dropped_column_definition),
        cmocka_unit_test(semicolons_in_strings),
        cmocka_unit_test(semicolons_in_identifiers),
        cmocka_unit_test(semicolons_in_dollar_bodies),
        cmocka_unit_test(semicolons_in_comments),
        cmocka_unit_test(unterminated),
        cmocka_unit_test(callback_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
