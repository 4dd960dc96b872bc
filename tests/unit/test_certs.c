#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "certs/certs.h"
#include "cmd.h"

static char tmp[64];

static void path_of(char *buf, size_t cap, const char *sub)
{
    snprintf(buf, cap, "%s/%s", tmp, sub);
}

static bool exists(const char *sub)
{
    char p[256];
    struct stat st;
    path_of(p, sizeof(p), sub);
    return lstat(p, &st) == 0;
}

static mode_t mode_of(const char *sub)
{
    char p[256];
    struct stat st;
    path_of(p, sizeof(p), sub);
    assert_int_equal(stat(p, &st), 0);
    return st.st_mode & 07777;
}

static int setup(void **state)
{
    strcpy(tmp, "/tmp/cairn-test-certs-XXXXXX");
    return mkdtemp(tmp) ? 0 : -1;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    chmod(path, 0700);
    return remove(path);
}

static int teardown(void **state)
{
    chmod(tmp, 0700);
    return nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static bool have_openssl_cli(void)
{
    return system("openssl version >/dev/null 2>&1") == 0;
}

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int run(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    return system(cmd);
}

static void load_crt(mbedtls_x509_crt *crt, const char *sub)
{
    char p[256];
    path_of(p, sizeof(p), sub);
    mbedtls_x509_crt_init(crt);
    assert_int_equal(mbedtls_x509_crt_parse_file(crt, p), 0);
}

static void load_key(mbedtls_pk_context *pk, const char *sub)
{
    char p[256];
    path_of(p, sizeof(p), sub);
    mbedtls_pk_init(pk);
    assert_int_equal(mbedtls_pk_parse_keyfile(pk, p, NULL), 0);
}

static time_t to_time(const mbedtls_x509_time *t)
{
    struct tm tm = {.tm_year = t->year - 1900,
                    .tm_mon = t->mon - 1,
                    .tm_mday = t->day,
                    .tm_hour = t->hour,
                    .tm_min = t->min,
                    .tm_sec = t->sec};
    return timegm(&tm);
}

/* What both kinds of certificate share: P-256, SHA-256, v3, a 16-byte positive serial,
 * and a key file that belongs to the certificate. */
static void check_common(const mbedtls_x509_crt *crt, const mbedtls_pk_context *key)
{
    assert_int_equal(crt->version, 3);
    assert_int_equal(crt->sig_md, MBEDTLS_MD_SHA256);
    assert_int_equal(mbedtls_pk_get_type(&crt->pk), MBEDTLS_PK_ECKEY);
    assert_int_equal(mbedtls_pk_ec(crt->pk)->grp.id, MBEDTLS_ECP_DP_SECP256R1);
    assert_int_equal(crt->serial.len, 16);
    assert_int_equal(crt->serial.p[0] & 0x80, 0);
    if (key)
        assert_int_equal(mbedtls_pk_check_pair(&crt->pk, key), 0);
}

static void check_validity(const mbedtls_x509_crt *crt, long days)
{
    time_t now = time(NULL);
    time_t from = to_time(&crt->valid_from), to = to_time(&crt->valid_to);
    assert_true(from <= now - 3500 && from >= now - 3700);
    assert_true(to >= now + days * 86400 - 120 && to <= now + (days + 5) * 86400);
}

static void test_init_creates_private_ca(void **state)
{
    char dir[256];
    path_of(dir, sizeof(dir), "new/pki");
    mode_t old = umask(0); /* the modes must not depend on the caller's umask */
    cairn_err e;
    int rc = certs_init(dir, &e);
    umask(old);
    assert_int_equal(rc, 0);
    assert_int_equal(mode_of("new/pki"), 0700);
    assert_int_equal(mode_of("new/pki/ca.key"), 0600);
    assert_int_equal(mode_of("new/pki/ca.crt"), 0644);

    mbedtls_x509_crt ca;
    mbedtls_pk_context key;
    load_crt(&ca, "new/pki/ca.crt");
    load_key(&key, "new/pki/ca.key");
    check_common(&ca, &key);
    check_validity(&ca, 3650);
    assert_int_equal(ca.ca_istrue, 1);
    assert_int_equal(ca.max_pathlen, 1); /* mbedTLS stores pathlen + 1 */
    assert_int_equal(mbedtls_x509_crt_check_key_usage(&ca, MBEDTLS_X509_KU_KEY_CERT_SIGN), 0);
    assert_int_equal(mbedtls_x509_crt_check_key_usage(&ca, MBEDTLS_X509_KU_CRL_SIGN), 0);
    uint32_t flags = 0;
    assert_int_equal(mbedtls_x509_crt_verify(&ca, &ca, NULL, NULL, &flags, NULL, NULL), 0);
    char subject[256];
    assert_true(mbedtls_x509_dn_gets(subject, sizeof(subject), &ca.subject) > 0);
    assert_non_null(strstr(subject, "CN=cairn cluster CA "));
    mbedtls_x509_crt_free(&ca);
    mbedtls_pk_free(&key);
}

static void test_init_refuses_existing_ca(void **state)
{
    char dir[256], key_path[256];
    cairn_err e;
    path_of(dir, sizeof(dir), "pki");
    assert_int_equal(certs_init(dir, &e), 0);
    path_of(key_path, sizeof(key_path), "pki/ca.key");
    struct stat before, after;
    assert_int_equal(stat(key_path, &before), 0);

    assert_int_equal(certs_init(dir, &e), CAIRN_EEXIST);
    assert_int_equal(e.code, CAIRN_EEXIST);
    assert_non_null(strstr(e.msg, "ca.key already exists"));
    assert_int_equal(stat(key_path, &after), 0);
    assert_int_equal(before.st_ino, after.st_ino);
    assert_int_equal(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);

    /* A certificate left alone is refused too: it is somebody's CA. */
    assert_int_equal(unlink(key_path), 0);
    assert_int_equal(certs_init(dir, &e), CAIRN_EEXIST);
    assert_non_null(strstr(e.msg, "ca.crt already exists"));
    assert_false(exists("pki/ca.key"));
}

static void test_init_errors(void **state)
{
    char p[256];
    cairn_err e;
    path_of(p, sizeof(p), "file");
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_not_equal(certs_init(p, &e), 0);
    assert_non_null(strstr(e.msg, "is not a directory"));
    path_of(p, sizeof(p), "file/pki");
    assert_int_not_equal(certs_init(p, &e), 0);
    assert_non_null(strstr(e.msg, "cannot create"));
    assert_int_equal(certs_init("", &e), CAIRN_EINVAL);
}

/* Verifies leaf against the CA as mbedTLS (nng's TLS engine) does in a handshake. */
static uint32_t verify(const char *leaf, const char *expected_name)
{
    mbedtls_x509_crt ca, crt;
    load_crt(&ca, "pki/ca.crt");
    load_crt(&crt, leaf);
    uint32_t flags = 0;
    mbedtls_x509_crt_verify(&crt, &ca, NULL, expected_name, &flags, NULL, NULL);
    mbedtls_x509_crt_free(&crt);
    mbedtls_x509_crt_free(&ca);
    return flags;
}

static bool has_eku(const mbedtls_x509_crt *crt, const char *oid, size_t len)
{
    return mbedtls_x509_crt_check_extended_key_usage(crt, oid, len) == 0;
}

static void check_leaf(const char *name, bool agent)
{
    char crt_file[128], key_file[128];
    snprintf(crt_file, sizeof(crt_file), "pki/%s.crt", name);
    snprintf(key_file, sizeof(key_file), "pki/%s.key", name);
    assert_int_equal(mode_of(key_file), 0600);

    mbedtls_x509_crt crt;
    mbedtls_pk_context key;
    load_crt(&crt, crt_file);
    load_key(&key, key_file);
    check_common(&crt, &key);
    check_validity(&crt, 730);
    assert_int_equal(crt.ca_istrue, 0);
    assert_int_equal(mbedtls_x509_crt_check_key_usage(&crt, MBEDTLS_X509_KU_DIGITAL_SIGNATURE |
                                                                MBEDTLS_X509_KU_KEY_AGREEMENT),
                     0);
    assert_int_not_equal(mbedtls_x509_crt_check_key_usage(&crt, MBEDTLS_X509_KU_KEY_CERT_SIGN), 0);
    /* Agents serve, coordinators connect: never both in one certificate. */
    assert_int_equal(
        has_eku(&crt, MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)), !agent);
    assert_int_equal(
        has_eku(&crt, MBEDTLS_OID_SERVER_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)), agent);
    char subject[256], expected[160];
    assert_true(mbedtls_x509_dn_gets(subject, sizeof(subject), &crt.subject) > 0);
    snprintf(expected, sizeof(expected), "CN=%s", name);
    assert_non_null(strstr(subject, expected));
    mbedtls_x509_crt_free(&crt);
    mbedtls_pk_free(&key);

    assert_int_equal(verify(crt_file, NULL), 0);
    if (agent) {
        /* The coordinator checks the agent's name as it dials it. */
        assert_int_equal(verify(crt_file, name), 0);
        assert_int_equal(verify(crt_file, "10.9.9.9"), MBEDTLS_X509_BADCERT_CN_MISMATCH);
    }
}

static void test_issue_and_verify_with_mbedtls(void **state)
{
    char dir[256];
    cairn_err e;
    path_of(dir, sizeof(dir), "pki");
    assert_int_equal(certs_init(dir, &e), 0);
    assert_int_equal(certs_issue(dir, "10.0.0.1", true, &e), 0);
    assert_int_equal(certs_issue(dir, "fd00::1", true, &e), 0);
    assert_int_equal(certs_issue(dir, "node-1.db.example.com", true, &e), 0);
    assert_int_equal(certs_issue(dir, "ops", false, &e), 0);
    check_leaf("10.0.0.1", true);
    check_leaf("fd00::1", true);
    check_leaf("node-1.db.example.com", true);
    check_leaf("ops", false);

    /* A certificate from another CA is refused. */
    char other[256];
    path_of(other, sizeof(other), "other");
    assert_int_equal(certs_init(other, &e), 0);
    assert_int_equal(certs_issue(other, "10.0.0.1", true, &e), 0);
    assert_int_equal(verify("other/10.0.0.1.crt", NULL) & MBEDTLS_X509_BADCERT_NOT_TRUSTED,
                     MBEDTLS_X509_BADCERT_NOT_TRUSTED);
}

static void test_openssl_cli_agrees(void **state)
{
    if (!have_openssl_cli())
        skip();
    char dir[256];
    cairn_err e;
    path_of(dir, sizeof(dir), "pki");
    assert_int_equal(certs_init(dir, &e), 0);
    assert_int_equal(certs_issue(dir, "10.0.0.2", true, &e), 0);
    assert_int_equal(certs_issue(dir, "agent.example", true, &e), 0);
    assert_int_equal(certs_issue(dir, "ops", false, &e), 0);
    const char *q = ">/dev/null 2>&1";
    assert_int_equal(run("openssl verify -x509_strict -CAfile %s/ca.crt -purpose sslserver "
                         "-verify_ip 10.0.0.2 %s/10.0.0.2.crt %s",
                         dir, dir, q),
                     0);
    /* An agent's certificate cannot act as a client of the other agents. */
    assert_int_not_equal(run("openssl verify -x509_strict -CAfile %s/ca.crt -purpose sslclient "
                             "%s/10.0.0.2.crt %s",
                             dir, dir, q),
                         0);
    assert_int_equal(run("openssl verify -x509_strict -CAfile %s/ca.crt -purpose sslserver "
                         "-verify_hostname agent.example %s/agent.example.crt %s",
                         dir, dir, q),
                     0);
    assert_int_equal(run("openssl verify -x509_strict -CAfile %s/ca.crt -purpose sslclient "
                         "%s/ops.crt %s",
                         dir, dir, q),
                     0);
    /* The coordinator's certificate cannot serve TLS. */
    assert_int_not_equal(
        run("openssl verify -CAfile %s/ca.crt -purpose sslserver %s/ops.crt %s", dir, dir, q), 0);
    assert_int_equal(run("openssl x509 -in %s/ca.crt -noout -text | grep -A1 'Basic "
                         "Constraints: critical' | grep -q 'CA:TRUE'",
                         dir),
                     0);
    assert_int_equal(
        run("openssl x509 -in %s/ops.crt -noout -text | grep -q 'Authority Key Identifier'", dir),
        0);
}

/* A CA that ends sooner than two years: leaves end with it, not after it. */
static void test_leaf_never_outlives_ca(void **state)
{
    if (!have_openssl_cli())
        skip();
    char dir[256];
    cairn_err e;
    path_of(dir, sizeof(dir), "pki");
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
                         "-keyout %s/ca.key -out %s/ca.crt -subj /CN=short -days 30 "
                         "-addext basicConstraints=critical,CA:TRUE "
                         "-addext keyUsage=critical,keyCertSign >/dev/null 2>&1",
                         dir, dir),
                     0);
    assert_int_equal(certs_issue(dir, "10.0.0.3", true, &e), 0);
    mbedtls_x509_crt ca, leaf;
    load_crt(&ca, "pki/ca.crt");
    load_crt(&leaf, "pki/10.0.0.3.crt");
    assert_int_equal(to_time(&leaf.valid_to), to_time(&ca.valid_to));
    mbedtls_x509_crt_free(&ca);
    mbedtls_x509_crt_free(&leaf);
    assert_int_equal(verify("pki/10.0.0.3.crt", "10.0.0.3"), 0);
}

static void test_issue_errors(void **state)
{
    char dir[256];
    cairn_err e;
    path_of(dir, sizeof(dir), "pki");

    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(certs_issue(dir, "10.0.0.1", true, &e), CAIRN_ENOENT);
    assert_non_null(strstr(e.msg, "cairn certs init --dir"));
    assert_false(exists("pki/10.0.0.1.key"));
    assert_int_equal(rmdir(dir), 0);

    assert_int_equal(certs_init(dir, &e), 0);
    static const char *const bad_hosts[] = {
        "",           "../x",       "a/b",       "/etc/passwd", "..",    ".",          "ca",
        "-x.example", "x-.example", "host_name", "a..b",        "1.2.3", "10.0.0.256", "a b",
        "x\n",        "*.example",  "[fd00::1]", "a,DNS:evil",  NULL,
    };
    for (const char *const *h = bad_hosts; *h; h++) {
        if (certs_issue(dir, *h, true, &e) != CAIRN_EINVAL)
            fail_msg("agent host '%s' was accepted", *h);
    }
    static const char *const bad_names[] = {"", "../x", "a/b", ".x", "a b", "ca", NULL};
    for (const char *const *n = bad_names; *n; n++) {
        if (certs_issue(dir, *n, false, &e) != CAIRN_EINVAL)
            fail_msg("coordinator name '%s' was accepted", *n);
    }
    assert_non_null(strstr(e.msg, "CA's own file name"));
    assert_int_equal(certs_issue(dir, "a b", true, &e), CAIRN_EINVAL);
    assert_string_equal(e.msg, "invalid agent host 'a b': give the IP address or the DNS name "
                               "that the coordinator uses to reach the agent");

    /* Re-issuing means moving the old pair away: nothing is overwritten. */
    assert_int_equal(certs_issue(dir, "10.0.0.1", true, &e), 0);
    assert_int_equal(certs_issue(dir, "10.0.0.1", true, &e), CAIRN_EEXIST);
    assert_non_null(strstr(e.msg, "10.0.0.1.key already exists; to issue it again, move "
                                  "10.0.0.1.crt and 10.0.0.1.key away first"));

    /* A CA key that does not match its certificate is refused. */
    char other[256], from[256], to[256];
    path_of(other, sizeof(other), "other");
    assert_int_equal(certs_init(other, &e), 0);
    path_of(from, sizeof(from), "other/ca.key");
    path_of(to, sizeof(to), "pki/ca.key");
    assert_int_equal(rename(from, to), 0);
    assert_int_equal(certs_issue(dir, "10.0.0.5", true, &e), CAIRN_EINVAL);
    assert_non_null(strstr(e.msg, "does not belong to"));
    assert_false(exists("pki/10.0.0.5.key"));
}

static void test_unwritable_dir_leaves_nothing(void **state)
{
    if (geteuid() == 0)
        skip(); /* root writes anyway */
    char dir[256];
    cairn_err e;
    path_of(dir, sizeof(dir), "pki");
    assert_int_equal(certs_init(dir, &e), 0);
    assert_int_equal(chmod(dir, 0500), 0);
    assert_int_equal(certs_issue(dir, "10.0.0.1", true, &e), CAIRN_EAUTH);
    assert_non_null(strstr(e.msg, "Permission denied"));
    assert_int_equal(chmod(dir, 0700), 0);
    assert_false(exists("pki/10.0.0.1.key"));
    assert_false(exists("pki/10.0.0.1.crt"));
}

/* `cairn certs`: what it takes, and how it reports a problem. */
static void test_certs_command(void **state)
{
    char dir[256];
    path_of(dir, sizeof(dir), "pki");
    char *none[] = {"certs"};
    char *help[] = {"certs", "init", "--help"};
    char *bad[] = {"certs", "init", "--nope"};
    char *no_dir[] = {"certs", "init"};
    char *positional[] = {"certs", "init", "--dir", dir, "extra"};
    char *init[] = {"certs", "init", "--dir", dir};
    char *other[] = {"certs", "renew", "--dir", dir};
    char *nobody[] = {"certs", "issue", "--dir", dir};
    char *issue[] = {"certs", "issue", "--agent", "10.0.0.1", "--coordinator", "ops", "--dir", dir};
    char *bad_name[] = {"certs", "issue", "--dir", dir, "--agent", "../x"};
    assert_int_equal(cmd_certs(1, none), CMD_USAGE);
    assert_int_equal(cmd_certs(3, help), CMD_OK);
    assert_int_equal(cmd_certs(3, bad), CMD_USAGE);
    assert_int_equal(cmd_certs(2, no_dir), CMD_USAGE);
    assert_int_equal(cmd_certs(5, positional), CMD_USAGE);
    assert_false(exists("pki/ca.crt"));
    assert_int_equal(cmd_certs(4, init), CMD_OK);
    assert_true(exists("pki/ca.crt"));
    assert_int_equal(cmd_certs(4, init), CMD_FAILED);
    assert_int_equal(cmd_certs(4, other), CMD_USAGE);
    assert_int_equal(cmd_certs(4, nobody), CMD_USAGE);
    assert_int_equal(cmd_certs(8, issue), CMD_OK);
    assert_true(exists("pki/10.0.0.1.crt"));
    assert_true(exists("pki/ops.key"));
    assert_int_equal(cmd_certs(6, bad_name), CMD_FAILED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_init_creates_private_ca, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_refuses_existing_ca, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_issue_and_verify_with_mbedtls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_openssl_cli_agrees, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leaf_never_outlives_ca, setup, teardown),
        cmocka_unit_test_setup_teardown(test_issue_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unwritable_dir_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_certs_command, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
