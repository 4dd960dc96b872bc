/* Table selection by --keyspace and --exclude globs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "cli/select.h"

static void everything_by_default(void **state)
{
    select_filter f = {0};
    assert_true(select_match(&f, "ks", "t"));
}

static void include_and_exclude(void **state)
{
    select_filter f = {0};
    assert_int_equal(select_add(&f.include, &f.n_include, "sales*"), 0);
    assert_int_equal(select_add(&f.include, &f.n_include, "audit.events"), 0);
    assert_int_equal(select_add(&f.exclude, &f.n_exclude, "sales_eu.tmp_*"), 0);
    assert_true(select_match(&f, "sales", "orders"));
    assert_true(select_match(&f, "sales_eu", "orders"));
    assert_false(select_match(&f, "sales_eu", "tmp_1"));
    assert_true(select_match(&f, "audit", "events"));
    assert_false(select_match(&f, "audit", "logins"));
    assert_false(select_match(&f, "other", "t"));
    free(f.include);
    free(f.exclude);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(everything_by_default),
        cmocka_unit_test(include_and_exclude),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
