#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/config.h"

/* Shaped like the agent's file: nested maps two levels deep, a list, every type. */
typedef struct test_cfg {
    char *cluster;
    char *listen;
    bool insecure;
    long workers;
    long port;
    long retries;
    config_list agents;
    char *tls_ca;
    char *tls_cert;
    char *tls_key;
    char *s3_access_key;
    char *s3_secret_key;
    char *s3_endpoint;
} test_cfg;

static const config_field tls_fields[] = {
    {"ca", CONFIG_STRING, offsetof(test_cfg, tls_ca), NULL, true, 0, 0},
    {"cert", CONFIG_STRING, offsetof(test_cfg, tls_cert), NULL, false, 0, 0},
    {"key", CONFIG_STRING, offsetof(test_cfg, tls_key), NULL, false, 0, 0},
    {NULL, CONFIG_STRING, 0, NULL, false, 0, 0},
};

static const config_field s3_fields[] = {
    {"access_key", CONFIG_STRING, offsetof(test_cfg, s3_access_key), NULL, false, 0, 0},
    {"secret_key", CONFIG_STRING, offsetof(test_cfg, s3_secret_key), NULL, true, 0, 0},
    {"endpoint", CONFIG_STRING, offsetof(test_cfg, s3_endpoint), NULL, false, 0, 0},
    {NULL, CONFIG_STRING, 0, NULL, false, 0, 0},
};

static const config_field storage_fields[] = {
    {"s3", CONFIG_MAP, 0, s3_fields, false, 0, 0},
    {NULL, CONFIG_STRING, 0, NULL, false, 0, 0},
};

static const config_field fields[] = {
    {"cluster", CONFIG_STRING, offsetof(test_cfg, cluster), NULL, true, 0, 0},
    {"listen", CONFIG_STRING, offsetof(test_cfg, listen), NULL, false, 0, 0},
    {"insecure", CONFIG_BOOL, offsetof(test_cfg, insecure), NULL, false, 0, 0},
    {"workers", CONFIG_INT, offsetof(test_cfg, workers), NULL, false, 1, 64},
    {"port", CONFIG_INT, offsetof(test_cfg, port), NULL, false, 0, 0},
    {"retries", CONFIG_INT, offsetof(test_cfg, retries), NULL, false, 0, LONG_MAX},
    {"agents", CONFIG_LIST, offsetof(test_cfg, agents), NULL, false, 0, 0},
    {"tls", CONFIG_MAP, 0, tls_fields, true, 0, 0},
    {"storage", CONFIG_MAP, 0, storage_fields, false, 0, 0},
    {NULL, CONFIG_STRING, 0, NULL, false, 0, 0},
};

#define HEAD "cluster: prod\ntls:\n  ca: /etc/cairn/pki/ca.crt\n"

static int load(const char *yaml, test_cfg *c, cairn_err *e)
{
    memset(c, 0, sizeof(*c));
    err_clear(e);
    return config_load_string("t.yaml", yaml, fields, c, e);
}

/* Loads yaml, expects CAIRN_ECONFIG with exactly msg, and checks nothing is left. */
static void expect_error(const char *yaml, const char *msg)
{
    test_cfg c;
    cairn_err e;
    int rc = load(yaml, &c, &e);
    if (rc != CAIRN_ECONFIG || strcmp(e.msg, msg) != 0)
        fail_msg("for:\n%s\nexpected: %s\n     got: (%d) %s", yaml, msg, rc, e.msg);
    assert_int_equal(e.code, CAIRN_ECONFIG);
    assert_null(c.cluster);
    assert_null(c.tls_ca);
    assert_null(c.agents.items);
}

static void test_full_config(void **state)
{
    static const char yaml[] = "# the agent's file\n"
                               "cluster: prod-eu\n"
                               "listen: \"tls+tcp://0.0.0.0:7400\"\n"
                               "insecure: no\n"
                               "workers: 8\n"
                               "port: -3\n"
                               "agents:\n"
                               "  - 10.0.0.1:7400\n"
                               "  - '10.0.0.2:7400'\n"
                               "tls:\n"
                               "  ca: /etc/cairn/pki/ca.crt\n"
                               "  cert: /etc/cairn/pki/10.0.0.1.crt\n"
                               "  key: /etc/cairn/pki/10.0.0.1.key\n"
                               "storage:\n"
                               "  s3:\n"
                               "    access_key: AKIAEXAMPLE\n"
                               "    secret_key: \"s3cr3t: with colon\"\n";
    test_cfg c;
    cairn_err e;
    assert_int_equal(load(yaml, &c, &e), 0);
    assert_string_equal(c.cluster, "prod-eu");
    assert_string_equal(c.listen, "tls+tcp://0.0.0.0:7400");
    assert_false(c.insecure);
    assert_int_equal(c.workers, 8);
    assert_int_equal(c.port, -3);
    assert_int_equal(c.agents.n, 2);
    assert_string_equal(c.agents.items[0], "10.0.0.1:7400");
    assert_string_equal(c.agents.items[1], "10.0.0.2:7400");
    assert_string_equal(c.tls_ca, "/etc/cairn/pki/ca.crt");
    assert_string_equal(c.tls_cert, "/etc/cairn/pki/10.0.0.1.crt");
    assert_string_equal(c.tls_key, "/etc/cairn/pki/10.0.0.1.key");
    assert_string_equal(c.s3_access_key, "AKIAEXAMPLE");
    assert_string_equal(c.s3_secret_key, "s3cr3t: with colon");
    assert_null(c.s3_endpoint);
    config_free(fields, &c);
    assert_null(c.cluster);
    assert_null(c.s3_secret_key);
    assert_null(c.agents.items);
    assert_int_equal(c.agents.n, 0);
}

static void test_defaults_kept_or_replaced(void **state)
{
    test_cfg c;
    cairn_err e;
    memset(&c, 0, sizeof(c));
    c.listen = strdup("tls+tcp://0.0.0.0:7400");
    c.cluster = strdup("default");
    c.workers = 4;
    c.insecure = true;
    assert_int_equal(config_load_string("t.yaml", HEAD "workers: 2\n", fields, &c, &e), 0);
    assert_string_equal(c.cluster, "prod"); /* the default was freed: ASan checks */
    assert_string_equal(c.listen, "tls+tcp://0.0.0.0:7400");
    assert_int_equal(c.workers, 2);
    assert_true(c.insecure);
    config_free(fields, &c);
}

static void test_lists(void **state)
{
    test_cfg c;
    cairn_err e;
    assert_int_equal(load(HEAD "agents: [a, 'b', \"c d\"]\n", &c, &e), 0);
    assert_int_equal(c.agents.n, 3);
    assert_string_equal(c.agents.items[2], "c d");
    config_free(fields, &c);

    assert_int_equal(load(HEAD "agents: []\n", &c, &e), 0);
    assert_int_equal(c.agents.n, 0);
    config_free(fields, &c);

    /* "agents:" with everything under it commented out is an empty list. */
    assert_int_equal(load(HEAD "agents:\n#  - a\n", &c, &e), 0);
    assert_int_equal(c.agents.n, 0);
    assert_null(c.agents.items);
    config_free(fields, &c);

    expect_error(HEAD "agents: a\n", "t.yaml:4:9: agents must be a list, not a string");
    expect_error(HEAD "agents:\n  - a\n  - {x: 1}\n",
                 "t.yaml:6:5: agents[1] must be a string, not a map");
    expect_error(HEAD "agents:\n  - a\n  -\n  - c\n",
                 "t.yaml:6:4: agents[1] must be a string, not empty");
}

static void test_bools(void **state)
{
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "ON"};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off"};
    char yaml[128];
    test_cfg c;
    cairn_err e;
    for (size_t i = 0; i < sizeof(yes) / sizeof(*yes); i++) {
        snprintf(yaml, sizeof(yaml), HEAD "insecure: %s\n", yes[i]);
        assert_int_equal(load(yaml, &c, &e), 0);
        assert_true(c.insecure);
        config_free(fields, &c);
        snprintf(yaml, sizeof(yaml), HEAD "insecure: %s\n", no[i]);
        c.insecure = true;
        assert_int_equal(config_load_string("t.yaml", yaml, fields, &c, &e), 0);
        assert_false(c.insecure);
        config_free(fields, &c);
    }
    expect_error(HEAD "insecure: maybe\n",
                 "t.yaml:4:11: insecure must be true or false, not a string");
    expect_error(HEAD "insecure: 1\n",
                 "t.yaml:4:11: insecure must be true or false, not an integer");
    expect_error(HEAD "insecure: \"true\"\n",
                 "t.yaml:4:11: insecure must be true or false, not a string");
    expect_error(HEAD "insecure: y\n", "t.yaml:4:11: insecure must be true or false, not a string");
    expect_error(HEAD "insecure:\n", "t.yaml:4:10: insecure must be true or false, not empty");
}

static void test_ints(void **state)
{
    test_cfg c;
    cairn_err e;
    assert_int_equal(load(HEAD "workers: 1\nport: +7400\nretries: 0\n", &c, &e), 0);
    assert_int_equal(c.workers, 1);
    assert_int_equal(c.port, 7400);
    config_free(fields, &c);
    assert_int_equal(load(HEAD "workers: 64\nport: -9223372036854775808\n", &c, &e), 0);
    assert_int_equal(c.workers, 64);
    assert_int_equal(c.port, LONG_MIN);
    config_free(fields, &c);

    expect_error(HEAD "workers: 0\n", "t.yaml:4:10: workers must be between 1 and 64");
    expect_error(HEAD "workers: 65\n", "t.yaml:4:10: workers must be between 1 and 64");
    expect_error(HEAD "workers: -1\n", "t.yaml:4:10: workers must be between 1 and 64");
    expect_error(HEAD "workers: 99999999999999999999\n",
                 "t.yaml:4:10: workers must be between 1 and 64");
    expect_error(HEAD "retries: -1\n", "t.yaml:4:10: retries must be at least 0");
    expect_error(HEAD "port: 99999999999999999999\n", "t.yaml:4:7: port is too large a number");
    expect_error(HEAD "workers: 1.5\n",
                 "t.yaml:4:10: workers must be an integer, not a decimal number");
    expect_error(HEAD "workers: \"8\"\n", "t.yaml:4:10: workers must be an integer, not a string");
    expect_error(HEAD "workers: 0x10\n", "t.yaml:4:10: workers must be an integer, not a string");
    expect_error(HEAD "workers: [1]\n", "t.yaml:4:10: workers must be an integer, not a list");
    expect_error(HEAD "workers: true\n", "t.yaml:4:10: workers must be an integer, not a boolean");
}

static void test_strings_and_maps(void **state)
{
    expect_error("cluster: prod\ntls:\n  ca: [a, b]\n",
                 "t.yaml:3:7: tls.ca must be a string, not a list");
    expect_error("cluster: prod\ntls:\n  ca: {a: b}\n",
                 "t.yaml:3:7: tls.ca must be a string, not a map");
    expect_error("cluster: prod\ntls:\n  ca: ~\n",
                 "t.yaml:3:7: tls.ca must be a string, not empty");
    expect_error("cluster: prod\ntls: yes\n", "t.yaml:2:6: tls must be a map, not a boolean");
    expect_error("cluster: prod\ntls: [a]\n", "t.yaml:2:6: tls must be a map, not a list");
    expect_error(HEAD "listen: \"a\\0b\"\n", "t.yaml:4:9: listen contains a NUL character");

    /* Scalars that look like other types are still strings where a string is wanted. */
    test_cfg c;
    cairn_err e;
    assert_int_equal(load("cluster: 123\ntls:\n  ca: yes\n  cert: ''\n", &c, &e), 0);
    assert_string_equal(c.cluster, "123");
    assert_string_equal(c.tls_ca, "yes");
    assert_string_equal(c.tls_cert, "");
    config_free(fields, &c);
}

static void test_unknown_keys(void **state)
{
    expect_error("cluster: a\ntls:\n  ca: x\nclustr: b\n",
                 "t.yaml:4:1: unknown key 'clustr' (did you mean 'cluster'?)");
    expect_error("clsuter: b\n", "t.yaml:1:1: unknown key 'clsuter' (did you mean 'cluster'?)");
    expect_error("cluster: a\ntls:\n  cq: x\n",
                 "t.yaml:3:3: unknown key 'tls.cq' (did you mean 'tls.ca'?)");
    expect_error("cluster: a\nstorage:\n  s3:\n    secret_kye: x\n",
                 "t.yaml:4:5: unknown key 'storage.s3.secret_kye' (did you mean "
                 "'storage.s3.secret_key'?)");
    expect_error("cluster: a\nzzzzzz: 1\n", "t.yaml:2:1: unknown key 'zzzzzz'");
    /* Two letters off a two-letter key is no suggestion. */
    expect_error("cluster: a\ntls:\n  xy: 1\n", "t.yaml:3:3: unknown key 'tls.xy'");
    expect_error("cluster: a\n\"bad\\tkey\": 1\n", "t.yaml:2:1: unknown key 'bad\\x09key'");
    expect_error("cluster: a\n\"tls\\0x\": 1\n", "t.yaml:2:1: a key contains a NUL character");
    expect_error("cluster: a\n? [x]\n: 1\n", "t.yaml:2:3: a key must be a word, not a list");
    expect_error("cluster: a\ntls:\n  ? {x: 1}\n  : 1\n",
                 "t.yaml:3:5: a key in tls must be a word, not a map");
}

static void test_duplicates(void **state)
{
    expect_error("cluster: a\ncluster: b\n",
                 "t.yaml:2:1: duplicate key 'cluster' (first set on line 1)");
    expect_error("cluster: a\ntls:\n  ca: x\n  key: k\n  ca: y\n",
                 "t.yaml:5:3: duplicate key 'tls.ca' (first set on line 3)");
}

static void test_missing_required(void **state)
{
    expect_error("listen: x\n", "t.yaml: missing required key 'cluster'");
    expect_error("cluster: a\n", "t.yaml: missing required key 'tls.ca'");
    expect_error("cluster: a\ntls:\n  cert: c\n", "t.yaml: missing required key 'tls.ca'");
    expect_error("cluster: a\ntls:\n", "t.yaml: missing required key 'tls.ca'");
    /* A required key inside an optional map that is absent does not count... */
    test_cfg c;
    cairn_err e;
    assert_int_equal(load(HEAD, &c, &e), 0);
    config_free(fields, &c);
    /* ...but once the map is there, its required keys are. */
    expect_error(HEAD "storage:\n  s3:\n    access_key: a\n",
                 "t.yaml: missing required key 'storage.s3.secret_key'");
}

static void test_syntax_errors(void **state)
{
    expect_error("cluster: a\n  b: c\n",
                 "t.yaml:2:4: mapping values are not allowed in this context");
    expect_error(
        "cluster: \"abc\n",
        "t.yaml:2:1: found unexpected end of stream (while scanning a quoted scalar at 1:10)");
    expect_error("cluster: a\n\tb: c\n", "t.yaml:2:1: found a tab character that violates "
                                         "indentation (while scanning a plain scalar at 1:10)");
    expect_error("tls:\n  ca: a\n b: c\n",
                 "t.yaml:3:2: did not find expected key (while parsing a block mapping at 1:1)");
    expect_error("cluster: *nope\n", "t.yaml:1:10: found undefined alias");
    expect_error("cluster: a\x01\n", "t.yaml:1:11: control characters are not allowed");
    expect_error("cluster: a\xff\n", "t.yaml:1:11: invalid leading UTF-8 octet");
}

static void test_document_shape(void **state)
{
    expect_error("", "t.yaml: the file is empty; expected a map of settings");
    expect_error("# nothing here\n\n", "t.yaml: the file is empty; expected a map of settings");
    expect_error("---\n", "t.yaml: the file is empty; expected a map of settings");
    expect_error("- a\n- b\n", "t.yaml:1:1: the top level must be a map of settings, not a list");
    expect_error("just words\n",
                 "t.yaml:1:1: the top level must be a map of settings, not a string");
    expect_error(HEAD "---\ncluster: b\n",
                 "t.yaml:4:1: a second YAML document starts here; keep all settings in one");
}

static void test_aliases_refused(void **state)
{
    expect_error("cluster: a\ntls:\n  ca: &p /x\n  cert: *p\n",
                 "t.yaml:3:7: this value is reused through an alias (*name); aliases are not "
                 "supported, write the value out again");
    /* A map that contains itself would otherwise never end; the position is the anchor's. */
    expect_error("cluster: a\ntls: &t\n  ca: x\n  cert: *t\n",
                 "t.yaml:2:6: this value is reused through an alias (*name); aliases are not "
                 "supported, write the value out again");
}

/* Values may be passwords: no message, whatever the error, quotes one. */
static void test_values_never_echoed(void **state)
{
    static const char *const docs[] = {
        HEAD "storage:\n  s3:\n    secret_key: [hunter2]\n",
        HEAD "workers: hunter2\n",
        HEAD "insecure: hunter2\n",
        HEAD "workers: 123456789\n",
        HEAD "storage:\n  s3:\n    secret_key: \"hunter2\n",
        HEAD "storage:\n  s3:\n    secret_key: 'hunter2'\n    secret_key: 'hunter2'\n",
        HEAD "storage: hunter2\n",
    };
    for (size_t i = 0; i < sizeof(docs) / sizeof(*docs); i++) {
        test_cfg c;
        cairn_err e;
        assert_int_equal(load(docs[i], &c, &e), CAIRN_ECONFIG);
        if (strstr(e.msg, "hunter2") || strstr(e.msg, "123456789"))
            fail_msg("value echoed: %s", e.msg);
    }
}

static char tmpdir[64];

static int make_tmpdir(void **state)
{
    strcpy(tmpdir, "/tmp/cairn-test-config-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/agent.yaml", tmpdir);
    unlink(path);
    return rmdir(tmpdir);
}

static void test_files(void **state)
{
    char path[128], missing[128], msg[256];
    snprintf(path, sizeof(path), "%s/agent.yaml", tmpdir);
    snprintf(missing, sizeof(missing), "%s/none.yaml", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(HEAD "bogus: 1\n", f);
    fclose(f);

    test_cfg c;
    cairn_err e;
    memset(&c, 0, sizeof(c));
    assert_int_equal(config_load_file(path, fields, &c, &e), CAIRN_ECONFIG);
    snprintf(msg, sizeof(msg), "%s:4:1: unknown key 'bogus'", path);
    assert_string_equal(e.msg, msg);
    assert_null(c.cluster);

    f = fopen(path, "w");
    fputs(HEAD "workers: 3\n", f);
    fclose(f);
    assert_int_equal(config_load_file(path, fields, &c, &e), 0);
    assert_string_equal(c.cluster, "prod");
    assert_int_equal(c.workers, 3);
    config_free(fields, &c);

    assert_int_equal(config_load_file(missing, fields, &c, &e), CAIRN_ECONFIG);
    snprintf(msg, sizeof(msg), "cannot read %s: No such file or directory", missing);
    assert_string_equal(e.msg, msg);

    assert_int_equal(config_load_file(tmpdir, fields, &c, &e), CAIRN_ECONFIG);
    snprintf(msg, sizeof(msg), "cannot read %s: Is a directory", tmpdir);
    assert_string_equal(e.msg, msg);

    if (geteuid() != 0) {
        chmod(path, 0);
        assert_int_equal(config_load_file(path, fields, &c, &e), CAIRN_ECONFIG);
        snprintf(msg, sizeof(msg), "cannot read %s: Permission denied", path);
        assert_string_equal(e.msg, msg);
        chmod(path, 0600);
    }

    /* Bigger than any configuration: refused before it is parsed. */
    f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 120000; i++)
        fputs("# padding\n", f);
    fclose(f);
    assert_int_equal(config_load_file(path, fields, &c, &e), CAIRN_ECONFIG);
    assert_non_null(strstr(e.msg, "is larger than 1024 KiB"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_config),
        cmocka_unit_test(test_defaults_kept_or_replaced),
        cmocka_unit_test(test_lists),
        cmocka_unit_test(test_bools),
        cmocka_unit_test(test_ints),
        cmocka_unit_test(test_strings_and_maps),
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_missing_required),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_document_shape),
        cmocka_unit_test(test_aliases_refused),
        cmocka_unit_test(test_values_never_echoed),
        cmocka_unit_test_setup_teardown(test_files, make_tmpdir, remove_tmpdir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
