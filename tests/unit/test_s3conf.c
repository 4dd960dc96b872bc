/*
 * What an s3:// store is opened with, without a store to talk to: location strings,
 * the process's settings and the environment settled into one target, the checks
 * of the s3: configuration section, and the shared budget of part buffers.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store/s3/s3budget.h"
#include "store/s3/s3conf.h"
#include "store/s3/store_s3.h"
#include "store/store.h"

#define MiB (1u << 20)

static const char *const aws_vars[] = {
    "AWS_ACCESS_KEY_ID",  "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
    "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL_S3",   "AWS_ENDPOINT_URL",
};

/* Every test starts from an environment without AWS_* settings. */
static int clear_env(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(aws_vars) / sizeof(aws_vars[0]); i++)
        unsetenv(aws_vars[i]);
    return 0;
}

/* ---- locations -------------------------------------------------------------- */

static void test_location_parts(void **state)
{
    (void)state;
    s3_location l;
    cairn_err e;
    assert_int_equal(s3conf_parse_location("s3://bucket", &l, &e), 0);
    assert_string_equal(l.bucket, "bucket");
    assert_string_equal(l.prefix, "");
    assert_null(l.endpoint);
    assert_null(l.region);
    assert_int_equal(l.path_style, -1);
    assert_int_equal(l.verify_tls, -1);
    s3conf_location_free(&l);

    /* Surrounding slashes go; the prefix is kept with one trailing '/'. */
    assert_int_equal(s3conf_parse_location("s3://my.bucket_1/a/b///", &l, &e), 0);
    assert_string_equal(l.bucket, "my.bucket_1");
    assert_string_equal(l.prefix, "a/b/");
    s3conf_location_free(&l);

    assert_int_equal(s3conf_parse_location("s3://bkt/p?endpoint=https://minio:9000/&region=eu-"
                                           "west-1&path_style=yes&verify_tls=off&&",
                                           &l, &e),
                     0);
    assert_string_equal(l.prefix, "p/");
    assert_string_equal(l.endpoint, "https://minio:9000");
    assert_string_equal(l.region, "eu-west-1");
    assert_int_equal(l.path_style, 1);
    assert_int_equal(l.verify_tls, 0);
    s3conf_location_free(&l);

    /* A parameter given twice: the last one counts. */
    assert_int_equal(s3conf_parse_location("s3://bkt?region=us-east-2&region=eu-north-1&endpoint="
                                           "http://a&endpoint=http://b:1",
                                           &l, &e),
                     0);
    assert_string_equal(l.region, "eu-north-1");
    assert_string_equal(l.endpoint, "http://b:1");
    assert_string_equal(l.prefix, "");
    s3conf_location_free(&l);
}

static void test_location_errors(void **state)
{
    (void)state;
    static const struct {
        const char *url;
        int rc;
        const char *says;
    } bad[] = {
        {"s3://key:SeCrEt@bucket/x", CAIRN_ECONFIG, "credentials do not belong"},
        {"s3://bucket/x?Password=SeCrEt", CAIRN_ECONFIG, "credentials do not belong"},
        {"s3://bucket/x?SIGNATURE", CAIRN_ECONFIG, "credentials do not belong"},
        {"s3://ab/x", CAIRN_EINVAL, "bucket name of 3 to 255 characters"},
        {"s3:///x", CAIRN_EINVAL, "bucket name of 3 to 255 characters"},
        {"s3://bu cket/x", CAIRN_EINVAL, "is not a bucket name"},
        {"s3://bucket/.hidden/x", CAIRN_EINVAL, "prefix of repository location"},
        {"s3://bucket//x", CAIRN_EINVAL, "prefix of repository location"},
        {"s3://bucket/x?endpoint", CAIRN_EINVAL, "endpoint= in the repository location must be"},
        {"s3://bucket/x?endpoint=http://u@h", CAIRN_EINVAL, "must be http://host[:port]"},
        {"s3://bucket/x?endpoint=https://", CAIRN_EINVAL, "must be http://host[:port]"},
        {"s3://bucket/x?region=", CAIRN_EINVAL, "is not a region name"},
        {"s3://bucket/x?region=a-very-long-region-name-of-more-than-32", CAIRN_EINVAL,
         "is not a region name"},
        {"s3://bucket/x?verify_tls=perhaps", CAIRN_EINVAL, "not 'perhaps'"},
        {"s3://bucket/x?path_style", CAIRN_EINVAL, "path_style in the repository location must"},
        {"s3://bucket/x?colour=5", CAIRN_EINVAL, "unknown parameter 'colour'"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        s3_location l;
        cairn_err e;
        err_clear(&e);
        int rc = s3conf_parse_location(bad[i].url, &l, &e);
        if (rc != bad[i].rc || !strstr(e.msg, bad[i].says))
            fail_msg("%s: %d %s", bad[i].url, rc, e.msg);
        assert_null(strstr(e.msg, "SeCrEt"));
    }
    /* A bucket name of the longest length S3 allows is taken. */
    char url[300] = "s3://";
    memset(url + 5, 'b', S3CONF_BUCKET_MAX);
    s3_location l;
    cairn_err e;
    assert_int_equal(s3conf_parse_location(url, &l, &e), 0);
    assert_int_equal(strlen(l.bucket), S3CONF_BUCKET_MAX);
    s3conf_location_free(&l);
    strcat(url, "b");
    assert_int_equal(s3conf_parse_location(url, &l, &e), CAIRN_EINVAL);
}

/* ---- settling ----------------------------------------------------------------- */

static s3_location settled; /* what target_of's t points into, until its next call */

static void target_of(const char *url, const s3conf *c, s3_target *t, char **ep)
{
    s3conf_location_free(&settled);
    cairn_err e;
    assert_int_equal(s3conf_parse_location(url, &settled, &e), 0);
    if (s3conf_target(url, &settled, c, t, ep, &e) != 0)
        fail_msg("%s: %s", url, e.msg);
}

static void test_settle_sources(void **state)
{
    (void)state;
    setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
    s3_target t;
    char *ep = NULL;
    /* Nothing set: AWS itself, virtual-hosted, TLS verified, us-east-1. */
    target_of("s3://bkt/p", NULL, &t, &ep);
    assert_string_equal(t.endpoint, "https://s3.us-east-1.amazonaws.com");
    assert_string_equal(t.region, "us-east-1");
    assert_string_equal(t.bucket, "bkt");
    assert_false(t.path_style);
    assert_true(t.verify_tls);
    assert_string_equal(t.access_key_id, "AKIAENV");
    assert_string_equal(t.cred_source, "AWS_ACCESS_KEY_ID");
    assert_null(t.session_token);
    assert_true(t.attempts > 1);
    free(ep);

    /* The environment's region and endpoint; an endpoint means path style. */
    setenv("AWS_DEFAULT_REGION", "eu-west-3", 1);
    setenv("AWS_ENDPOINT_URL", "http://generic:1/", 1);
    setenv("AWS_SESSION_TOKEN", "envtoken", 1);
    target_of("s3://bkt/p", NULL, &t, &ep);
    assert_string_equal(t.region, "eu-west-3");
    assert_string_equal(t.endpoint, "http://generic:1");
    assert_true(t.path_style);
    assert_string_equal(t.session_token, "envtoken");
    free(ep);
    setenv("AWS_REGION", "ap-south-1", 1);
    setenv("AWS_ENDPOINT_URL_S3", "http://s3only:2", 1);
    target_of("s3://bkt/p", NULL, &t, &ep);
    assert_string_equal(t.region, "ap-south-1");
    assert_string_equal(t.endpoint, "http://s3only:2");
    free(ep);

    /* The configuration wins over the environment, the location over both where
     * the configuration lets it. */
    store_s3_options o = {.access_key_id = "AKIACONF",
                          .secret_access_key = "confsecret",
                          .region = "sa-east-1",
                          .endpoint = "https://conf:3",
                          .path_style = 0,
                          .verify_tls = 0,
                          .allow_location_overrides = 1};
    s3conf *c;
    cairn_err e;
    assert_int_equal(s3conf_new(&c, &o, &e), 0);
    target_of("s3://bkt/p", c, &t, &ep);
    assert_string_equal(t.region, "sa-east-1");
    assert_string_equal(t.endpoint, "https://conf:3");
    assert_false(t.path_style);
    assert_false(t.verify_tls);
    assert_string_equal(t.access_key_id, "AKIACONF");
    assert_string_equal(t.secret_access_key, "confsecret");
    assert_null(t.session_token);
    assert_string_equal(t.cred_source, "the s3: section of the configuration");
    free(ep);
    target_of("s3://bkt/p?region=us-west-2&endpoint=http://loc:4&path_style=true&verify_tls=true",
              c, &t, &ep);
    assert_string_equal(t.region, "us-west-2");
    assert_string_equal(t.endpoint, "http://loc:4");
    assert_true(t.path_style);
    assert_true(t.verify_tls);
    free(ep);
    s3conf_free(c);
    s3conf_location_free(&settled);
    memset(&settled, 0, sizeof(settled));
    clear_env(NULL);
}

/* What a location may not change on this machine: the endpoint, once the machine
 * has one, and TLS checks that the machine makes. */
static void test_settle_rule(void **state)
{
    (void)state;
    setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
    store_s3_options o = {.endpoint = "https://conf:3/", .path_style = -1, .verify_tls = -1};
    s3conf *c;
    cairn_err e;
    assert_int_equal(s3conf_new(&c, &o, &e), 0);
    static const struct {
        const char *url;
        const char *says; /* NULL: taken */
    } cases[] = {
        {"s3://bkt/p?endpoint=https://conf:3", NULL},
        {"s3://bkt/p?endpoint=https://CONF:3/", NULL},
        {"s3://bkt/p?region=eu-west-1&path_style=false&verify_tls=true", NULL},
        {"s3://bkt/p?endpoint=https://elsewhere:3",
         "names S3 endpoint https://elsewhere:3, but this machine's is https://conf:3"},
        {"s3://bkt/p?endpoint=http://conf:3", "s3.allow_location_overrides"},
        {"s3://bkt/p?endpoint=https://conf:30", "(s3.endpoint)"},
        {"s3://bkt/p?verify_tls=false", "sets verify_tls=false, but this machine verifies"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        s3_location l;
        s3_target t;
        char *ep = NULL;
        err_clear(&e);
        assert_int_equal(s3conf_parse_location(cases[i].url, &l, &e), 0);
        int rc = s3conf_target(cases[i].url, &l, c, &t, &ep, &e);
        if (cases[i].says ? rc != CAIRN_ECONFIG || !strstr(e.msg, cases[i].says) : rc != 0)
            fail_msg("%s: %d %s", cases[i].url, rc, e.msg);
        if (!rc) {
            assert_string_equal(t.endpoint, "https://conf:3");
            assert_true(t.verify_tls);
        } else {
            assert_null(ep);
        }
        free(ep);
        s3conf_location_free(&l);
    }
    s3conf_free(c);

    /* The environment's endpoint is this machine's too. */
    setenv("AWS_ENDPOINT_URL", "http://envhost:1", 1);
    s3_location l;
    s3_target t;
    char *ep = NULL;
    assert_int_equal(s3conf_parse_location("s3://bkt/p?endpoint=http://other:1", &l, &e), 0);
    assert_int_equal(s3conf_target("s3://bkt/p", &l, NULL, &t, &ep, &e), CAIRN_ECONFIG);
    assert_non_null(strstr(e.msg, "(AWS_ENDPOINT_URL)"));
    s3conf_location_free(&l);
    unsetenv("AWS_ENDPOINT_URL");

    /* No endpoint of its own (AWS): a location may name one, as it always could. */
    target_of("s3://bkt/p?endpoint=http://minio:9000", NULL, &t, &ep);
    assert_string_equal(t.endpoint, "http://minio:9000");
    free(ep);

    /* A machine that does not verify lets a location say so; one that allows
     * overrides lets it say anything. */
    o = (store_s3_options){.path_style = -1, .verify_tls = 0};
    assert_int_equal(s3conf_new(&c, &o, &e), 0);
    target_of("s3://bkt/p?verify_tls=false", c, &t, &ep);
    assert_false(t.verify_tls);
    free(ep);
    target_of("s3://bkt/p?verify_tls=true", c, &t, &ep);
    assert_true(t.verify_tls);
    free(ep);
    s3conf_free(c);
    o = (store_s3_options){.endpoint = "https://conf:3",
                           .path_style = -1,
                           .verify_tls = -1,
                           .allow_location_overrides = 1};
    assert_int_equal(s3conf_new(&c, &o, &e), 0);
    target_of("s3://bkt/p?endpoint=http://loc:4&verify_tls=false", c, &t, &ep);
    assert_string_equal(t.endpoint, "http://loc:4");
    assert_false(t.verify_tls);
    free(ep);
    s3conf_free(c);
    s3conf_location_free(&settled);
    memset(&settled, 0, sizeof(settled));
    clear_env(NULL);
}

static void test_settle_errors(void **state)
{
    (void)state;
    s3_location l;
    s3_target t;
    char *ep = NULL;
    cairn_err e;
    assert_int_equal(s3conf_parse_location("s3://bkt/p", &l, &e), 0);
    assert_int_equal(s3conf_target("s3://bkt/p", &l, NULL, &t, &ep, &e), CAIRN_ECONFIG);
    assert_non_null(strstr(e.msg, "no S3 credentials for bucket bkt"));
    free(ep);
    ep = NULL;
    /* Only one half of a key pair is none. */
    setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
    assert_int_equal(s3conf_target("s3://bkt/p", &l, NULL, &t, &ep, &e), CAIRN_ECONFIG);
    free(ep);
    ep = NULL;
    setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
    setenv("AWS_ENDPOINT_URL_S3", "ftp://nope", 1);
    assert_int_equal(s3conf_target("s3://bkt/p", &l, NULL, &t, &ep, &e), CAIRN_ECONFIG);
    assert_non_null(strstr(e.msg, "AWS_ENDPOINT_URL_S3 must be"));
    assert_null(ep);
    unsetenv("AWS_ENDPOINT_URL_S3");
    setenv("AWS_ENDPOINT_URL", "http://h/path", 1);
    assert_int_equal(s3conf_target("s3://bkt/p", &l, NULL, &t, &ep, &e), CAIRN_ECONFIG);
    assert_non_null(strstr(e.msg, "AWS_ENDPOINT_URL must be"));
    unsetenv("AWS_ENDPOINT_URL");
    setenv("AWS_REGION", "Bad:Region", 1);
    assert_int_equal(s3conf_target("s3://bkt/p", &l, NULL, &t, &ep, &e), CAIRN_ECONFIG);
    assert_non_null(strstr(e.msg, "is not a region name"));
    assert_null(ep);
    s3conf_location_free(&l);
    clear_env(NULL);
}

/* ---- the process's settings ------------------------------------------------------ */

static void test_conf_defaults(void **state)
{
    (void)state;
    s3conf *c;
    cairn_err e;
    assert_int_equal(s3conf_new(&c, NULL, &e), 0);
    assert_null(c->access_key_id);
    assert_null(c->region);
    assert_int_equal(c->path_style, -1);
    assert_int_equal(c->verify_tls, -1);
    assert_int_equal(c->part_size, STORE_S3_DEFAULT_PART);
    assert_int_equal(c->buffers, STORE_S3_DEFAULT_BUFFERS);
    assert_int_equal(c->stall_s, STORE_S3_DEFAULT_STALL);
    assert_false(c->allow_overrides);
    /* The default budget: STORE_S3_DEFAULT_MEMORY beyond the first buffers. */
    size_t n = 0;
    while (s3budget_charge(c->budget, MiB, false))
        n++;
    assert_int_equal(n, STORE_S3_DEFAULT_MEMORY / MiB);
    s3budget_release(c->budget, n * MiB);
    s3conf_free(c);

    /* Empty strings are unset; a part size below S3's least is raised to it. */
    store_s3_options o = {.access_key_id = "",
                          .region = "",
                          .path_style = 1,
                          .verify_tls = 0,
                          .part_size = 1,
                          .parts_in_flight = 7,
                          .upload_memory = 2 * MiB,
                          .stall_timeout = 9};
    assert_int_equal(s3conf_new(&c, &o, &e), 0);
    assert_null(c->access_key_id);
    assert_null(c->region);
    assert_int_equal(c->part_size, STORE_S3_MIN_PART);
    assert_int_equal(c->buffers, 7);
    assert_int_equal(c->stall_s, 9);
    assert_true(s3budget_charge(c->budget, 2 * MiB, false));
    assert_false(s3budget_charge(c->budget, 1, false));
    s3budget_release(c->budget, 2 * MiB);
    s3conf_free(c);

    /* The public face: options made and freed, a store opened with them. */
    store_options *so;
    store_s3_options creds = {.access_key_id = "AKIAOPT",
                              .secret_access_key = "optsecret",
                              .path_style = -1,
                              .verify_tls = -1};
    assert_int_equal(store_options_new(&so, &creds, &e), 0);
    store *s;
    assert_int_equal(store_open(&s, "s3://bkt/p?endpoint=http://127.0.0.1:9", so, &e), 0);
    assert_string_equal(store_url(s), "s3://bkt/p?endpoint=http://127.0.0.1:9");
    store_close(s);
    store_options_free(so);
    store_options_free(NULL);
}

static void test_config_section(void **state)
{
    (void)state;
    store_s3_config c = {0};
    store_s3_options o;
    cairn_err e;
    assert_int_equal(store_s3_config_options(&c, "f.yaml", &o, &e), 0);
    assert_null(o.access_key_id);
    assert_int_equal(o.path_style, -1);
    assert_int_equal(o.verify_tls, -1);
    assert_int_equal(o.part_size, 0);
    assert_int_equal(o.stall_timeout, 0);
    assert_int_equal(o.allow_location_overrides, -1);

    char key[] = "AKIA", secret[] = "SeCrEt", token[] = "ToKeN";
    c.access_key_id = key;
    c.secret_access_key = secret;
    c.session_token = token;
    c.path_style = "ON";
    c.verify_tls = "no";
    c.part_size_mib = 8;
    c.parts_in_flight = 2;
    c.upload_memory_mib = 40;
    c.stall_timeout = 5;
    c.allow_location_overrides = "true";
    assert_int_equal(store_s3_config_options(&c, "f.yaml", &o, &e), 0);
    assert_int_equal(o.stall_timeout, 5);
    assert_int_equal(o.allow_location_overrides, 1);
    c.allow_location_overrides = "SeCrEt";
    assert_int_equal(store_s3_config_options(&c, "f.yaml", &o, &e), CAIRN_ECONFIG);
    assert_non_null(strstr(e.msg, "f.yaml: s3.allow_location_overrides must be true or false"));
    assert_null(strstr(e.msg, "SeCrEt"));
    c.allow_location_overrides = NULL;
    c.stall_timeout = 3601;
    assert_int_equal(store_s3_config_options(&c, "f.yaml", &o, &e), CAIRN_ECONFIG);
    assert_non_null(strstr(e.msg, "s3.stall_timeout must be 1 to 3600 seconds"));
    c.stall_timeout = 5;
    assert_int_equal(store_s3_config_options(&c, "f.yaml", &o, &e), 0);
    assert_string_equal(o.session_token, "ToKeN");
    assert_int_equal(o.path_style, 1);
    assert_int_equal(o.verify_tls, 0);
    assert_int_equal(o.part_size, 8 * MiB);
    assert_int_equal(o.parts_in_flight, 2);
    assert_int_equal(o.upload_memory, 40 * MiB);
    c.verify_tls = "SeCrEt";
    assert_int_equal(store_s3_config_options(&c, "f.yaml", &o, &e), CAIRN_ECONFIG);
    assert_non_null(strstr(e.msg, "f.yaml: s3.verify_tls"));
    assert_null(strstr(e.msg, "SeCrEt"));
    c.verify_tls = NULL;

    /* Wiping overwrites the secrets in place, and only them. */
    store_s3_config_wipe(&c);
    assert_string_equal(key, "AKIA");
    assert_int_equal(secret[0], 0);
    assert_int_equal(token[0], 0);
    c = (store_s3_config){0};
    store_s3_config_wipe(&c);
}

/* ---- the budget ------------------------------------------------------------------ */

static void test_budget(void **state)
{
    (void)state;
    s3budget *b;
    cairn_err e;
    assert_int_equal(s3budget_new(&b, 10, &e), 0);
    assert_true(s3budget_charge(b, 6, false));
    assert_true(s3budget_charge(b, 4, false));
    assert_false(s3budget_charge(b, 1, false));
    assert_int_equal(s3budget_used(b), 10);
    /* An object's first buffer is taken even beyond the budget... */
    assert_true(s3budget_charge(b, 5, true));
    assert_int_equal(s3budget_used(b), 15);
    /* ...and then nothing fits until enough is back. */
    assert_false(s3budget_charge(b, 0, false));
    s3budget_release(b, 5);
    assert_true(s3budget_charge(b, 0, false));
    s3budget_release(b, 6);
    assert_true(s3budget_charge(b, 6, false));
    s3budget_release(b, 10);
    assert_int_equal(s3budget_used(b), 0);
    s3budget_free(b);
    s3budget_free(NULL);
}

struct churn {
    s3budget *b;
    int taken;
};

static void *churn(void *arg)
{
    struct churn *c = arg;
    for (int i = 0; i < 20000; i++) {
        bool ok = s3budget_charge(c->b, 3, i % 7 == 0);
        if (ok) {
            c->taken++;
            s3budget_release(c->b, 3);
        }
    }
    return NULL;
}

/* Threads charging and releasing at once leave nothing behind. */
static void test_budget_threads(void **state)
{
    (void)state;
    s3budget *b;
    cairn_err e;
    assert_int_equal(s3budget_new(&b, 9, &e), 0);
    enum { N = 4 };
    pthread_t th[N];
    struct churn c[N];
    for (int i = 0; i < N; i++) {
        c[i] = (struct churn){b, 0};
        assert_int_equal(pthread_create(&th[i], NULL, churn, &c[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_true(c[i].taken > 0);
    }
    assert_int_equal(s3budget_used(b), 0);
    s3budget_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_location_parts, clear_env),
        cmocka_unit_test_setup(test_location_errors, clear_env),
        cmocka_unit_test_setup(test_settle_sources, clear_env),
        cmocka_unit_test_setup(test_settle_rule, clear_env),
        cmocka_unit_test_setup(test_settle_errors, clear_env),
        cmocka_unit_test_setup(test_conf_defaults, clear_env),
        cmocka_unit_test_setup(test_config_section, clear_env),
        cmocka_unit_test(test_budget),
        cmocka_unit_test(test_budget_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
