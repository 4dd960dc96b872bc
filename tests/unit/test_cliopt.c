/* The options backup and restore share, and how a bad one is reported. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/cliopt.h"
#include "cmd.h"

typedef struct own {
    int seen_t, seen_s;
    const char *tag;
} own;

static int take(void *arg, int c, const char *val)
{
    own *o = arg;
    if (c == 't') {
        if (strcmp(val, "bad") == 0)
            return CMD_USAGE;
        o->seen_t++;
        o->tag = val;
    } else {
        o->seen_s++;
    }
    return 0;
}

static const struct option extra[] = {
    {"tag", required_argument, NULL, 't'}, {"schema", no_argument, NULL, 's'}, {NULL, 0, NULL, 0}};

static int parse(cliopt_common *c, own *o, int argc, char **argv)
{
    memset(c, 0, sizeof(*c));
    memset(o, 0, sizeof(*o));
    return cliopt_parse("test", "usage: cairn test", extra, take, o, c, argc, argv);
}

static void test_common_and_own(void **state)
{
    char *argv[] = {"test",     "--keyspace", "sales*",     "--exclude", "sales.tmp_*",
                    "--tag",    "t1",         "--parallel", "7",         "--json",
                    "--schema", "--keyspace", "audit",      "rest"};
    int argc = (int)(sizeof(argv) / sizeof(argv[0]));
    cliopt_common c;
    own o;
    assert_int_equal(parse(&c, &o, argc, argv), 0);
    assert_int_equal(c.parallel, 7);
    assert_true(c.json);
    assert_int_equal(c.filter.n_include, 2);
    assert_string_equal(c.filter.include[0], "sales*");
    assert_string_equal(c.filter.include[1], "audit");
    assert_int_equal(c.filter.n_exclude, 1);
    assert_string_equal(c.filter.exclude[0], "sales.tmp_*");
    assert_int_equal(o.seen_t, 1);
    assert_string_equal(o.tag, "t1");
    assert_int_equal(o.seen_s, 1);
    assert_int_equal(optind, argc - 1);
    assert_string_equal(argv[optind], "rest");
    cliopt_common_free(&c);
    assert_null(c.filter.include);
    assert_int_equal(c.filter.n_include, 0);
}

static void test_defaults(void **state)
{
    char *argv[] = {"test"};
    cliopt_common c;
    own o;
    assert_int_equal(parse(&c, &o, 1, argv), 0);
    assert_int_equal(c.parallel, CLIOPT_PARALLEL_DEFAULT);
    assert_false(c.json);
    assert_int_equal(c.filter.n_include + c.filter.n_exclude, 0);
    assert_int_equal(optind, 1);
    cliopt_common_free(&c);
}

static void test_help(void **state)
{
    char *argv[] = {"test", "--json", "-h", "--parallel", "0"};
    cliopt_common c;
    own o;
    assert_int_equal(parse(&c, &o, 5, argv), -1);
    cliopt_common_free(&c);
}

static void test_errors(void **state)
{
    char *bad_parallel[][3] = {{"test", "--parallel", "0"},
                               {"test", "--parallel", "1025"},
                               {"test", "--parallel", "2x"},
                               {"test", "--parallel", ""},
                               {"test", "--parallel", "-1"}};
    cliopt_common c;
    own o;
    for (size_t i = 0; i < sizeof(bad_parallel) / sizeof(bad_parallel[0]); i++) {
        assert_int_equal(parse(&c, &o, 3, bad_parallel[i]), CMD_USAGE);
        cliopt_common_free(&c);
    }
    char *unknown[] = {"test", "--nope"};
    assert_int_equal(parse(&c, &o, 2, unknown), CMD_USAGE);
    char *missing[] = {"test", "--tag"};
    assert_int_equal(parse(&c, &o, 2, missing), CMD_USAGE);
    char *own_error[] = {"test", "--tag", "bad"};
    assert_int_equal(parse(&c, &o, 3, own_error), CMD_USAGE);
    cliopt_common_free(&c);
}

static void test_parallel_bounds(void **state)
{
    unsigned v = 0;
    assert_int_equal(cliopt_parallel("test", "1", &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(cliopt_parallel("test", "1024", &v), 0);
    assert_int_equal(v, 1024);
    assert_int_equal(cliopt_parallel("test", "1025", &v), CMD_USAGE);
    assert_int_equal(v, 1024);
}

static void test_filter(void **state)
{
    select_filter f = {0};
    assert_int_equal(cliopt_filter(&f, true, "ks"), 0);
    assert_int_equal(cliopt_filter(&f, false, "ks.t"), 0);
    assert_false(select_match(&f, "ks", "t"));
    assert_true(select_match(&f, "ks", "u"));
    assert_false(select_match(&f, "other", "u"));
    free(f.include);
    free(f.exclude);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_common_and_own),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_parallel_bounds),
        cmocka_unit_test(test_filter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
