/* The options backup and restore share, and how a bad one is reported. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/cliopt.h"
#include "cli/cmdhelp.h"
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
    return cliopt_parse("backup", extra, take, o, c, argc, argv);
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

/* What cliopt_parse writes to stderr for argv, in buf. */
static int parse_stderr(char **argv, int argc, char *buf, size_t cap)
{
    char path[] = "/tmp/cairn-cliopt-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    cliopt_common c;
    own o;
    int rc = parse(&c, &o, argc, argv);
    cliopt_common_free(&c);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    ssize_t n = pread(fd, buf, cap - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
    return rc;
}

static void test_bad_option_messages(void **state)
{
    char buf[8192];
    char *unknown[] = {"backup", "--json", "--frob=1"};
    assert_int_equal(parse_stderr(unknown, 3, buf, sizeof(buf)), CMD_USAGE);
    assert_non_null(strstr(buf, "cairn backup: unknown option '--frob'\n"));
    assert_non_null(strstr(buf, "usage: cairn backup"));
    assert_non_null(strstr(buf, "--rate-limit MiB/s"));
    assert_null(strstr(buf, "unrecognized"));
    char *missing[] = {"backup", "--tag"};
    assert_int_equal(parse_stderr(missing, 2, buf, sizeof(buf)), CMD_USAGE);
    assert_non_null(strstr(buf, "cairn backup: option '--tag' needs a value\n"));
    char *valued[] = {"backup", "--json=yes"};
    assert_int_equal(parse_stderr(valued, 2, buf, sizeof(buf)), CMD_USAGE);
    assert_non_null(strstr(buf, "cairn backup: option '--json' takes no value\n"));
    char *short_opt[] = {"backup", "-z"};
    assert_int_equal(parse_stderr(short_opt, 2, buf, sizeof(buf)), CMD_USAGE);
    assert_non_null(strstr(buf, "cairn backup: unknown option '-z'\n"));
}

static void test_help_lookup(void **state)
{
    char *sub[] = {"certs", "issue", "--dir", "d"};
    const cmdhelp *h = cmdhelp_of(4, sub);
    assert_ptr_equal(h, cmdhelp_find("certs issue"));
    char *not_sub[] = {"restore", "latest"};
    assert_ptr_equal(cmdhelp_of(2, not_sub), cmdhelp_find("restore"));
    char *none[] = {"frobnicate"};
    assert_null(cmdhelp_of(1, none));
    char *late[] = {"backup", "--tag", "x", "--help"};
    assert_true(cmdhelp_wanted(4, late));
    char *after_dashes[] = {"delete", "--", "-h"};
    assert_false(cmdhelp_wanted(3, after_dashes));
    char *plain[] = {"list", "--json"};
    assert_false(cmdhelp_wanted(2, plain));
}

/* The getopt table main checks options with, read from the help text. */
static void test_help_option_table(void **state)
{
    struct option opts[32];
    char names[512];
    size_t n = cmdhelp_getopt_table(cmdhelp_find("verify"), opts, 32, names, sizeof(names));
    assert_true(n > 0);
    static const struct {
        const char *name;
        int has_arg;
    } want[] = {{"read-data", optional_argument},
                {"metrics-file", required_argument},
                {"json", no_argument},
                {"help", no_argument}};
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
            if (strcmp(opts[i].name, want[k].name) != 0)
                continue;
            assert_int_equal(opts[i].has_arg, want[k].has_arg);
            seen |= 1 << k;
        }
    }
    assert_int_equal(seen, 15);
    assert_null(opts[n].name);
    /* Too small a buffer is refused, not cut short. */
    assert_int_equal(cmdhelp_getopt_table(cmdhelp_find("verify"), opts, 32, names, 8), 0);
    assert_int_equal(cmdhelp_getopt_table(cmdhelp_find("verify"), opts, 3, names, 512), 0);
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
        cmocka_unit_test(test_bad_option_messages),
        cmocka_unit_test(test_help_lookup),
        cmocka_unit_test(test_help_option_table),
        cmocka_unit_test(test_parallel_bounds),
        cmocka_unit_test(test_filter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
