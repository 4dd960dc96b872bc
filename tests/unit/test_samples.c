/* The sample configurations the packages install in /etc/cairn (packaging/etc) load
 * with the real loaders and say what their comments say. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent_config.h"
#include "coord_config.h"

static void sample_path(char *buf, size_t cap, const char *name)
{
    const char *src = getenv("CAIRN_SOURCE_DIR");
    assert_non_null(src); /* set by ctest (tests/CMakeLists.txt) */
    int n = snprintf(buf, cap, "%s/packaging/etc/%s", src, name);
    assert_true(n > 0 && (size_t)n < cap);
}

static void test_agent_sample_loads(void **state)
{
    (void)state;
    char path[4096];
    sample_path(path, sizeof(path), "agent.yaml");
    agent_config c;
    cairn_err e;
    err_clear(&e);
    if (agent_config_load(path, &c, &e) != 0)
        fail_msg("%s", e.msg);
    assert_string_equal(c.cluster, "prod");
    assert_string_equal(c.listen, "tls+tcp://0.0.0.0:7400");
    assert_false(c.insecure);
    assert_string_equal(c.tls_ca, "/etc/cairn/pki/ca.crt");
    /* The unit's StateDirectory=cairn makes exactly this directory. */
    assert_string_equal(c.state_dir, "/var/lib/cairn");
    assert_null(c.log_file); /* the journal, through standard error */
    assert_int_equal(c.repositories.n, 1);
    const agent_repository *r = c.repositories.items;
    assert_string_equal(r[0].location, "file:///backup/cairn");
    agent_config_free(&c);
}

static void test_cluster_sample_loads(void **state)
{
    (void)state;
    char path[4096];
    sample_path(path, sizeof(path), "cluster.yaml");
    coord_config c;
    cairn_err e;
    err_clear(&e);
    if (coord_config_load(path, &c, &e) != 0)
        fail_msg("%s", e.msg);
    assert_string_equal(c.cluster, "prod");
    assert_string_equal(c.repository, "file:///backup/cairn");
    assert_false(c.insecure);
    assert_string_equal(c.tls_cert, "/etc/cairn/pki/ops.crt");
    assert_int_equal(c.agents.n, 3);
    assert_string_equal(c.agents.items[0], "10.0.0.1:7400");
    /* The daily timer's backups expire by this policy. */
    assert_int_equal(c.retention.keep_daily, 7);
    assert_int_equal(c.retention.keep_weekly, 4);
    assert_int_equal(c.retention.keep_monthly, 12);
    coord_config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agent_sample_loads),
        cmocka_unit_test(test_cluster_sample_loads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
