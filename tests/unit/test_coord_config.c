/* The coordinator's cluster.yaml: what it requires, its defaults and its errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "coord_config.h"

static char path[] = "/tmp/cairn-coord-XXXXXX";

static int load(const char *yaml, coord_config *c, cairn_err *e)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(yaml, f);
    fclose(f);
    err_clear(e);
    return coord_config_load(path, c, e);
}

/* Loads yaml, expects an error reading "<path><msg>...", and nothing left loaded. */
static void expect_error(const char *yaml, const char *msg)
{
    coord_config c;
    cairn_err e;
    int rc = load(yaml, &c, &e);
    char want[512];
    snprintf(want, sizeof(want), "%s%s", path, msg);
    if (rc == 0 || strncmp(e.msg, want, strlen(want)) != 0)
        fail_msg("for:\n%s\nexpected: %s\n     got: (%d) %s", yaml, want, rc, e.msg);
    assert_null(c.cluster);
    assert_null(c.agents.items);
}

static void test_minimal_defaults(void **state)
{
    coord_config c;
    cairn_err e;
    assert_int_equal(load("cluster: prod\ninsecure: true\nagents: [a:1, '[::1]:7400']\n", &c, &e),
                     0);
    assert_string_equal(c.cluster, "prod");
    assert_null(c.repository);
    assert_int_equal(c.agents.n, 2);
    assert_int_equal(c.parallel, 64);
    assert_int_equal(c.timeout_s, 60);
    assert_int_equal(c.compression_level, 1);
    char url[64];
    assert_int_equal(coord_config_agent_url(&c, 1, url, sizeof(url)), 0);
    assert_string_equal(url, "tcp://[::1]:7400");
    assert_int_equal(coord_config_agent_url(&c, 0, url, 8), CAIRN_EINVAL);
    coord_config_free(&c);
    assert_null(c.cluster);
}

static void test_full(void **state)
{
    coord_config c;
    cairn_err e;
    int rc = load("cluster: prod\nrepository: file:///backups\n"
                  "tls:\n  ca: /pki/ca.crt\n  cert: /pki/c.crt\n  key: /pki/c.key\n"
                  "agents:\n  - 10.0.0.1:7400\n  - 10.0.0.2:7400\n"
                  "parallel: 8\ntimeout: 5\ncompression_level: -3\n"
                  "s3:\n  region: eu-west-1\n  endpoint: http://127.0.0.1:9000\n"
                  "  path_style: 'true'\n  verify_tls: 'false'\n",
                  &c, &e);
    if (rc)
        fail_msg("%s", e.msg);
    assert_string_equal(c.repository, "file:///backups");
    assert_string_equal(c.tls_key, "/pki/c.key");
    assert_false(c.insecure);
    assert_int_equal(c.parallel, 8);
    assert_int_equal(c.timeout_s, 5);
    assert_int_equal(c.compression_level, -3);
    assert_string_equal(c.s3.region, "eu-west-1");
    char url[64];
    assert_int_equal(coord_config_agent_url(&c, 0, url, sizeof(url)), 0);
    assert_string_equal(url, "tls+tcp://10.0.0.1:7400");
    coord_config_free(&c);
}

static void test_errors(void **state)
{
    expect_error("cluster: 'bad name'\ninsecure: true\nagents: [a:1]\n", ": cluster");
    expect_error("cluster: prod\nagents: [a:1]\n", ": mutual TLS is required");
    expect_error("cluster: prod\ninsecure: true\nagents: []\n", ": `agents` lists no agent");
    expect_error("cluster: prod\ninsecure: true\nagents: [a]\n",
                 ": agents[0] 'a' is not host:port");
    expect_error("cluster: prod\ninsecure: true\nagents: [a:1, ':1']\n",
                 ": agents[1] ':1' is not host:port");
    expect_error("cluster: prod\ninsecure: true\nagents: ['a:']\n",
                 ": agents[0] 'a:' is not host:port");
    expect_error("cluster: prod\ninsecure: true\nagents: ['a/b:1']\n",
                 ": agents[0] 'a/b:1' is not host:port");
    expect_error("cluster: prod\ninsecure: true\nagents: [a:1, b:2, a:1]\n",
                 ": agent a:1 is listed twice");
    expect_error("cluster: prod\ninsecure: true\nagents: [a:1]\ns3:\n  path_style: maybe\n",
                 ": s3.path_style must be true or false");
    expect_error("cluster: prod\ninsecure: true\nagents: [a:1]\nparallel: 0\n",
                 ":4:11: parallel must be between 1 and 1024");
}

static void test_bad_repository(void **state)
{
    expect_error("cluster: prod\ninsecure: true\nagents: [a:1]\nrepository: file://backups\n",
                 ": repository 'file://backups' is not an absolute path: write file:///");
    expect_error("cluster: prod\ninsecure: true\nagents: [a:1]\nrepository: ftp://h/x\n",
                 ": repository 'ftp://h/x' is neither file:///path nor s3://bucket/prefix");
    expect_error("cluster: prod\ninsecure: true\nagents: [a:1]\nrepository: s3://b\n",
                 ": repository: repository location 's3://b' needs a bucket name");
    coord_config c;
    cairn_err e;
    assert_int_equal(
        load("cluster: prod\ninsecure: true\nagents: [a:1]\nrepository: s3://bucket/x\n", &c, &e),
        0);
    coord_config_free(&c);
    assert_int_equal(
        load("cluster: prod\ninsecure: true\nagents: [a:1]\nrepository: s3://b\n", &c, &e),
        CAIRN_ECONFIG);
}

/* Writes dir/conf/cluster.yaml naming tls files relative to it and one absolute. */
static void write_relative(const char *dir, char *file, size_t cap)
{
    char conf[256];
    snprintf(conf, sizeof(conf), "%s/conf", dir);
    assert_int_equal(mkdir(conf, 0700), 0);
    snprintf(file, cap, "%s/cluster.yaml", conf);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fputs("cluster: prod\nagents: [a:1]\n"
          "tls:\n  ca: certs/ca.crt\n  cert: ../c.crt\n  key: /pki/c.key\n",
          f);
    fclose(f);
}

static void test_relative_paths(void **state)
{
    char dir[] = "/tmp/cairn-rel-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char file[300], want[300], cwd[4096];
    write_relative(dir, file, sizeof(file));
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    coord_config c;
    cairn_err e;
    err_clear(&e);

    /* From another working directory, by its absolute name. */
    assert_int_equal(chdir("/"), 0);
    assert_int_equal(coord_config_load(file, &c, &e), 0);
    snprintf(want, sizeof(want), "%s/conf/certs/ca.crt", dir);
    assert_string_equal(c.tls_ca, want);
    snprintf(want, sizeof(want), "%s/conf/../c.crt", dir);
    assert_string_equal(c.tls_cert, want);
    assert_string_equal(c.tls_key, "/pki/c.key");
    coord_config_free(&c);

    /* By a relative name: still the file's directory, not the working one. */
    assert_int_equal(chdir(dir), 0);
    assert_int_equal(coord_config_load("conf/cluster.yaml", &c, &e), 0);
    assert_string_equal(c.tls_ca, "conf/certs/ca.crt");
    coord_config_free(&c);

    /* In the working directory itself: nothing to change. */
    assert_int_equal(chdir("conf"), 0);
    assert_int_equal(coord_config_load("cluster.yaml", &c, &e), 0);
    assert_string_equal(c.tls_ca, "certs/ca.crt");
    coord_config_free(&c);

    assert_int_equal(chdir(cwd), 0);
    unlink(file);
    snprintf(want, sizeof(want), "%s/conf", dir);
    rmdir(want);
    rmdir(dir);
}

static void test_missing_file(void **state)
{
    coord_config c;
    cairn_err e;
    err_clear(&e);
    assert_int_not_equal(coord_config_load("/nonexistent/cluster.yaml", &c, &e), 0);
    assert_non_null(strstr(e.msg, "/nonexistent/cluster.yaml"));
}

static int setup(void **state)
{
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    return 0;
}

static int teardown(void **state)
{
    unlink(path);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_defaults), cmocka_unit_test(test_full),
        cmocka_unit_test(test_errors),           cmocka_unit_test(test_bad_repository),
        cmocka_unit_test(test_relative_paths),   cmocka_unit_test(test_missing_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
