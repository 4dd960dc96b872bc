/* What the cluster manifest records of the backup's keyspaces (backup_keyspaces). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "command/backup_keyspaces.h"

static Cairn__Rpc__Table table(const char *ks, const char *name)
{
    Cairn__Rpc__Table t = CAIRN__RPC__TABLE__INIT;
    t.keyspace = (char *)ks;
    t.name = (char *)name;
    return t;
}

static Cairn__Repo__KeyspaceInfo info(const char *name, bool tablets)
{
    Cairn__Repo__KeyspaceInfo k = CAIRN__REPO__KEYSPACE_INFO__INIT;
    k.name = (char *)name;
    k.has_tablets = 1;
    k.tablets = tablets;
    return k;
}

/* The tables' keyspaces, once each, in table order, with what the agent said; one the
 * agent did not name is left out, and a keyspace without tables is not recorded. */
static void test_keyspaces_of_the_tables(void **state)
{
    (void)state;
    Cairn__Rpc__Table t[] = {table("vk", "a"), table("tk", "b"), table("vk", "c"),
                             table("new", "d")};
    Cairn__Rpc__Table *tp[] = {&t[0], &t[1], &t[2], &t[3]};
    Cairn__Repo__KeyspaceInfo k[] = {info("tk", true), info("unused", true), info("vk", false)};
    Cairn__Repo__KeyspaceInfo *kp[] = {&k[0], &k[1], &k[2]};
    Cairn__Rpc__SchemaResult res = CAIRN__RPC__SCHEMA_RESULT__INIT;
    res.keyspaces = kp;
    res.n_keyspaces = 3;
    Cairn__Repo__KeyspaceInfo **out;
    size_t n;
    cairn_err e;
    assert_int_equal(backup_keyspaces(&res, tp, 4, &out, &n, &e), 0);
    assert_int_equal(n, 2);
    assert_string_equal(out[0]->name, "vk");
    assert_false(out[0]->tablets);
    assert_string_equal(out[1]->name, "tk");
    assert_true(out[1]->has_tablets && out[1]->tablets);
    backup_keyspaces_free(out, n);
}

/* An agent that predates it says nothing: nothing is recorded, not "no tablets". */
static void test_nothing_reported(void **state)
{
    (void)state;
    Cairn__Rpc__Table t = table("tk", "b");
    Cairn__Rpc__Table *tp[] = {&t};
    Cairn__Rpc__SchemaResult res = CAIRN__RPC__SCHEMA_RESULT__INIT;
    Cairn__Repo__KeyspaceInfo **out;
    size_t n = 7;
    cairn_err e;
    assert_int_equal(backup_keyspaces(&res, tp, 1, &out, &n, &e), 0);
    assert_int_equal(n, 0);
    assert_null(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keyspaces_of_the_tables),
        cmocka_unit_test(test_nothing_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
