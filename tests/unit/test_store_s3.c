/*
 * The s3:// driver: its settings, and round trips against moto_server, which checks
 * every SigV4 signature (s3_fixture.h). Faults are test_s3_faults.c's. The moto tests
 * are skipped, saying why, when moto is not installed.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <openssl/evp.h>

#include "agent_config.h"
#include "coord_config.h"
#include "store/s3/s3put.h"
#include "store/store.h"
#include "store/s3/store_s3.h"
#include "s3_fixture.h"
#include "testutil.h"

/* ---- tests ------------------------------------------------------------------ */

static void test_locations(void **state)
{
    (void)state;
    static const char *const refused[] = {
        "s3://AKIAXXXX:SeCrEt@bucket/x",
        "s3://bucket/x?secret_access_key=SeCrEt",
        "s3://bucket/x?endpoint=http://h:1&aws_access_key_id=AKIAXXXX",
        "s3://bucket/x?X-Amz-Credential=SeCrEt",
        "s3://bucket/x?session_token=SeCrEt",
    };
    store *s = NULL;
    cairn_err e;
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        assert_int_equal(store_open(&s, refused[i], env.opts, &e), CAIRN_ECONFIG);
        assert_non_null(strstr(e.msg, "credentials do not belong"));
        assert_null(strstr(e.msg, "SeCrEt"));
    }
    assert_int_equal(store_open(&s, "s3://bucket/x?colour=blue", env.opts, &e), CAIRN_EINVAL);
    assert_non_null(strstr(e.msg, "unknown parameter 'colour'"));
    assert_int_equal(store_open(&s, "s3://bucket/x?endpoint=ftp://h", env.opts, &e), CAIRN_EINVAL);
    assert_int_equal(store_open(&s, "s3://bucket/x?endpoint=http://h/some/path", env.opts, &e),
                     CAIRN_EINVAL);
    assert_int_equal(store_open(&s, "s3://bucket/x?region=Not:A:Region", env.opts, &e),
                     CAIRN_EINVAL);
    assert_int_equal(store_open(&s, "s3://bucket/x?path_style=maybe", env.opts, &e), CAIRN_EINVAL);
    assert_int_equal(store_open(&s, "s3://bu/x", env.opts, &e), CAIRN_EINVAL);
    assert_int_equal(store_open(&s, "s3://bucket!/x", env.opts, &e), CAIRN_EINVAL);
    assert_int_equal(store_open(&s, "s3://bucket/a/../b", env.opts, &e), CAIRN_EINVAL);
    assert_int_equal(store_open(&s, "s3://bucket/a//b", env.opts, &e), CAIRN_EINVAL);

    /* No credentials anywhere: said at open, naming both places to put them. */
    char *saved[2] = {getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")};
    for (int i = 0; i < 2; i++)
        saved[i] = saved[i] ? strdup(saved[i]) : NULL;
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    set_options(NULL);
    assert_int_equal(store_open(&s, "s3://bucket/x", env.opts, &e), CAIRN_ECONFIG);
    assert_non_null(strstr(e.msg, "no S3 credentials for bucket bucket"));
    assert_non_null(strstr(e.msg, "AWS_ACCESS_KEY_ID"));
    /* From the environment; the location's region and path style are its own
     * business, but not turning off TLS checks this machine makes. */
    setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
    assert_int_equal(store_open(&s,
                                "s3://my.bucket/some/prefix/?region=eu-west-1&path_style="
                                "false&verify_tls=false",
                                env.opts, &e),
                     CAIRN_ECONFIG);
    assert_non_null(strstr(e.msg, "verify_tls=false"));
    assert_int_equal(store_open(&s,
                                "s3://my.bucket/some/prefix/?region=eu-west-1&path_style="
                                "false&verify_tls=true",
                                env.opts, &e),
                     0);
    assert_string_equal(store_url(s),
                        "s3://my.bucket/some/prefix/?region=eu-west-1&path_style=false&verify_"
                        "tls=true");
    store_close(s);
    if (saved[0])
        setenv("AWS_ACCESS_KEY_ID", saved[0], 1);
    else
        unsetenv("AWS_ACCESS_KEY_ID");
    if (saved[1])
        setenv("AWS_SECRET_ACCESS_KEY", saved[1], 1);
    else
        unsetenv("AWS_SECRET_ACCESS_KEY");
    free(saved[0]);
    free(saved[1]);
}

static char *write_file(const char *text)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/cairn-s3conf-%ld.yaml", (long)getpid());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_config_files(void **state)
{
    (void)state;
    agent_config a;
    cairn_err e;
    char *path = write_file("cluster: c\nlisten: tcp://127.0.0.1:7400\ninsecure: true\n"
                            "s3:\n  access_key_id: AKIAAGENT\n  secret_access_key: \"s/ec+ret\"\n"
                            "  region: eu-west-1\n  endpoint: https://minio:9000/\n"
                            "  path_style: false\n  verify_tls: true\n  part_size_mib: 16\n"
                            "  parts_in_flight: 4\n  upload_memory_mib: 64\n"
                            "  stall_timeout: 7\n  allow_location_overrides: true\n");
    if (agent_config_load(path, &a, &e) != 0)
        fail_msg("%s", e.msg);
    store_s3_options o;
    assert_int_equal(store_s3_config_options(&a.s3, path, &o, &e), 0);
    assert_string_equal(o.access_key_id, "AKIAAGENT");
    assert_string_equal(o.secret_access_key, "s/ec+ret");
    assert_string_equal(o.region, "eu-west-1");
    assert_int_equal(o.path_style, 0);
    assert_int_equal(o.verify_tls, 1);
    assert_int_equal(o.part_size, 16 * MiB);
    assert_int_equal(o.parts_in_flight, 4);
    assert_int_equal(o.upload_memory, 64 * MiB);
    assert_int_equal(o.stall_timeout, 7);
    assert_int_equal(o.allow_location_overrides, 1);
    agent_config_free(&a);

    /* Mistakes are named by key, never by value. */
    static const char *const bad[][2] = {
        {"  access_key_id: AKIAONLY\n", "go together"},
        {"  access_key_id: A\n  secret_access_key: SeCrEt\n  path_style: sometimes\n",
         "s3.path_style must be true or false"},
        {"  verify_tls: SeCrEt\n", "s3.verify_tls must be true or false"},
        {"  endpoint: SeCrEt.example.com\n", "s3.endpoint must be"},
        {"  region: SeCrEt_Region\n", "s3.region must be"},
        {"  session_token: SeCrEt\n", "needs s3.access_key_id"},
        {"  stall_timeout: 0\n", "stall_timeout"},
        {"  stall_timeout: 3601\n", "stall_timeout"},
        {"  allow_location_overrides: SeCrEt\n", "s3.allow_location_overrides must be"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text), "cluster: c\ninsecure: true\nagents: [\"h:1\"]\ns3:\n%s",
                 bad[i][0]);
        coord_config c;
        assert_int_not_equal(coord_config_load(write_file(text), &c, &e), 0);
        assert_non_null(strstr(e.msg, bad[i][1]));
        assert_null(strstr(e.msg, "SeCrEt"));
    }
    /* Part settings are the agent's: the coordinator writes only small objects. */
    coord_config c;
    assert_int_equal(coord_config_load(write_file("cluster: c\ninsecure: true\nagents: "
                                                  "[\"h:1\"]\ns3:\n  part_size_mib: 8\n"),
                                       &c, &e),
                     CAIRN_ECONFIG);
    assert_non_null(strstr(e.msg, "part_size_mib"));
    unlink(path);
}

static void test_part_size(void **state)
{
    (void)state;
    assert_int_equal(s3put_part_size(0, 8 * MiB), 8 * MiB);
    assert_int_equal(s3put_part_size(1000, 1 * MiB), STORE_S3_MIN_PART);
    assert_int_equal(s3put_part_size(50ull << 30, 8 * MiB), 8 * MiB);
    /* 1 TiB needs parts above 100 MiB to fit in 10,000, with room for zstd. */
    size_t p = s3put_part_size(1ull << 40, 8 * MiB);
    assert_true((uint64_t)p * S3PUT_MAX_PARTS >= (1ull << 40) + (1ull << 40) / 64);
    assert_true(p % MiB == 0);
    assert_true(p < 120 * MiB);
}

static void test_round_trip(void **state)
{
    (void)state;
    need_env();
    configure(NULL, 0, 0);
    store *s = open_at(env.endpoint, "cairn-test/round/trip");
    cairn_err e;
    /* Keys with bytes SigV4 must encode, in the path and in list prefixes. */
    static const char *const keys[] = {"backups/Test Cluster/t1/backup.manifest",
                                       "a/b+c=d&e;f,g(h)i!j*k'l$m@n:o~p", "a/plain",
                                       "zz/%41 percent"};
    for (size_t i = 0; i < 4; i++) {
        if (store_put_buf(s, keys[i], keys[i], strlen(keys[i]), &e) != 0)
            fail_msg("put %s: %s", keys[i], e.msg);
    }
    for (size_t i = 0; i < 4; i++) {
        buf m = {0};
        uint64_t size = 0;
        assert_int_equal(store_get(s, keys[i], mem_sink, &m, &e), 0);
        assert_string_equal(m.data, keys[i]);
        free(m.data);
        assert_int_equal(store_head(s, keys[i], &size, &e), 0);
        assert_int_equal(size, strlen(keys[i]));
    }
    /* An empty object is one PUT of nothing. */
    assert_int_equal(store_put_buf(s, "empty", "", 0, &e), 0);
    uint64_t size = 99;
    assert_int_equal(store_head(s, "empty", &size, &e), 0);
    assert_int_equal(size, 0);

    struct listing l = {0};
    assert_int_equal(store_list(s, "", list_cb, &l, &e), 0);
    assert_int_equal(l.n, 5);
    assert_string_equal(l.keys[0], "a/b+c=d&e;f,g(h)i!j*k'l$m@n:o~p");
    assert_string_equal(l.keys[1], "a/plain");
    assert_string_equal(l.keys[2], "backups/Test Cluster/t1/backup.manifest");
    assert_string_equal(l.keys[3], "empty");
    assert_string_equal(l.keys[4], "zz/%41 percent");
    listing_free(&l);
    assert_int_equal(store_list(s, "backups/Test Cl", list_cb, &l, &e), 0);
    assert_int_equal(l.n, 1);
    listing_free(&l);
    assert_int_equal(store_list(s, "nothing/", list_cb, &l, &e), 0);
    assert_int_equal(l.n, 0);

    for (size_t i = 0; i < 4; i++)
        assert_int_equal(store_delete(s, keys[i], &e), 0);
    assert_int_equal(store_delete(s, "empty", &e), 0);
    assert_int_equal(store_delete(s, "never/was", &e), 0);
    assert_int_equal(store_get(s, keys[0], mem_sink, NULL, &e), CAIRN_ENOENT);
    assert_non_null(strstr(e.msg, "does not exist"));
    assert_int_equal(store_head(s, keys[1], NULL, &e), CAIRN_ENOENT);

    store_counts c;
    store_stats(s, &c);
    assert_int_equal(c.puts, 5);
    assert_int_equal(c.gets, 5);
    assert_int_equal(c.heads, 6);
    assert_int_equal(c.lists, 3);
    assert_int_equal(c.deletes, 6);
    assert_int_equal(c.part_puts + c.mpu_initiates + c.mpu_completes + c.retries, 0);
    store_close(s);
}

static int get_range(store *s, const char *key, uint64_t off, uint64_t len, buf *m, cairn_err *e)
{
    buf_free(m);
    *m = (buf){0};
    return store_get_range(s, key, off, len, mem_sink, m, e);
}

/* Ranged GETs, signed with their Range header (moto checks), one request each. */
static void test_get_range(void **state)
{
    (void)state;
    need_env();
    configure(NULL, 0, 0);
    store *s = open_at(env.endpoint, "cairn-test/range");
    cairn_err e;
    enum { SIZE = 300000 };
    unsigned char *obj = malloc(SIZE);
    uint64_t seed = 5;
    fill(obj, SIZE, &seed);
    const char *key = "r/a b+c";
    assert_int_equal(store_put_buf(s, key, obj, SIZE, &e), 0);
    static const struct {
        uint64_t off, len;
    } ok[] = {
        {1000, 200000},      /* the middle */
        {0, 10},             /* the start */
        {SIZE - 5000, 5000}, /* up to the last byte */
        {0, SIZE},           /* all of it */
        {SIZE - 1, 1},       /* the last byte alone */
    };
    buf m = {0};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (get_range(s, key, ok[i].off, ok[i].len, &m, &e) != 0)
            fail_msg("range %zu: %s", i, e.msg);
        assert_int_equal(m.len, ok[i].len);
        assert_memory_equal(m.data, obj + ok[i].off, ok[i].len);
    }
    /* Past the end by a byte (the store answers 206 with less), from beyond the end
     * (416), of an empty object (416): nothing reaches the sink. */
    assert_int_equal(get_range(s, key, SIZE - 10, 11, &m, &e), CAIRN_ECORRUPT);
    assert_non_null(strstr(e.msg, "s3://cairn-test/range/r/a b+c is 300000 bytes"));
    assert_non_null(strstr(e.msg, "300001 bytes asked"));
    assert_int_equal(m.len, 0);
    assert_int_equal(get_range(s, key, SIZE + 5, 1, &m, &e), CAIRN_ECORRUPT);
    assert_non_null(strstr(e.msg, "s3://cairn-test/range/r/a b+c is 300000 bytes"));
    assert_non_null(strstr(e.msg, "300006 bytes asked"));
    assert_int_equal(m.len, 0);
    assert_int_equal(store_put_buf(s, "r/empty", "", 0, &e), 0);
    assert_int_equal(get_range(s, "r/empty", 0, 1, &m, &e), CAIRN_ECORRUPT);
    assert_non_null(strstr(e.msg, "r/empty"));
    assert_int_equal(m.len, 0);

    assert_int_equal(get_range(s, "r/missing", 10, 5, &m, &e), CAIRN_ENOENT);
    assert_non_null(strstr(e.msg, "r/missing does not exist"));
    store_counts c;
    store_stats(s, &c);
    assert_int_equal(c.gets, 9);
    /* Nothing asked: no request. */
    assert_int_equal(get_range(s, key, 7, 0, &m, &e), 0);
    assert_int_equal(get_range(s, "r/missing", 0, 0, &m, &e), 0);
    assert_int_equal(m.len, 0);
    store_stats(s, &c);
    assert_int_equal(c.gets, 9);
    assert_int_equal(c.retries, 0);
    buf_free(&m);
    free(obj);
    assert_int_equal(store_delete(s, key, &e), 0);
    assert_int_equal(store_delete(s, "r/empty", &e), 0);
    store_close(s);
}

/* Virtual-hosted addressing: bucket.endpoint/key (libcurl resolves *.localhost itself). */
static void test_virtual_hosted(void **state)
{
    (void)state;
    need_env();
    configure(NULL, 0, 0);
    char endpoint[160], url[256];
    snprintf(endpoint, sizeof(endpoint), "http://localhost:%s", strrchr(env.endpoint, ':') + 1);
    snprintf(url, sizeof(url), "s3://cairn-test/virtual?endpoint=%s&path_style=false", endpoint);
    store *s = NULL;
    cairn_err e;
    if (store_open(&s, url, env.opts, &e) != 0)
        fail_msg("%s", e.msg);
    assert_int_equal(store_put_buf(s, "a b/c", "abc", 3, &e), 0);
    buf m = {0};
    assert_int_equal(store_get(s, "a b/c", mem_sink, &m, &e), 0);
    assert_string_equal(m.data, "abc");
    free(m.data);
    struct listing l = {0};
    assert_int_equal(store_list(s, "a ", list_cb, &l, &e), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.keys[0], "a b/c");
    listing_free(&l);
    assert_int_equal(store_delete(s, "a b/c", &e), 0);
    store_close(s);
}

static void test_multipart_200mb(void **state)
{
    (void)state;
    need_env();
    configure(NULL, 5 * MiB, 3);
    store *s = open_at(env.endpoint, "cairn-test/big");
    const uint64_t size = 200ull * 1000 * 1000;
    char put_sha[65], got_sha[65];
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    double t0 = test_now_s();
    put_stream(s, "blob", size, 42, put_sha);
    double t1 = test_now_s();
    uint64_t got = 0, head = 0;
    cairn_err e;
    assert_int_equal(store_head(s, "blob", &head, &e), 0);
    assert_int_equal(head, size);
    get_hash(s, "blob", got_sha, &got);
    double t2 = test_now_s();
    getrusage(RUSAGE_SELF, &ru1);
    assert_int_equal(got, size);
    assert_string_equal(put_sha, got_sha);
    store_counts c;
    store_stats(s, &c);
    assert_int_equal(c.puts, 0);
    assert_int_equal(c.mpu_initiates, 1);
    assert_int_equal(c.part_puts, (size + 5 * MiB - 1) / (5 * MiB));
    assert_int_equal(c.mpu_completes, 1);
    assert_int_equal(c.mpu_aborts, 0);
    print_message("200 MB: put %.1f s (%.0f MB/s, %llu parts), get %.1f s; peak RSS %ld MiB\n",
                  t1 - t0, size / 1e6 / (t1 - t0), (unsigned long long)c.part_puts, t2 - t1,
                  ru1.ru_maxrss / 1024);
#ifndef __SANITIZE_ADDRESS__
    /* Three 5 MiB part buffers and a read buffer: far from the object's size. */
    assert_true(ru1.ru_maxrss < 64 * 1024);
#endif
    assert_int_equal(store_delete(s, "blob", &e), 0);
    store_close(s);
    (void)ru0;
}

struct filler {
    store *s;
    int from, to;
};

static void *fill_keys(void *arg)
{
    struct filler *f = arg;
    cairn_err e;
    for (int i = f->from; i < f->to; i++) {
        char key[64];
        snprintf(key, sizeof(key), "many/%05d", i);
        if (store_put_buf(f->s, key, key, strlen(key), &e) != 0)
            return strdup(e.msg);
    }
    return NULL;
}

static void test_list_pages(void **state)
{
    (void)state;
    need_env();
    configure(NULL, 0, 0);
    store *s = open_at(env.endpoint, "cairn-test/pages");
    enum { N = 1100, THREADS = 8 };
    pthread_t th[THREADS];
    struct filler f[THREADS];
    for (int t = 0; t < THREADS; t++) {
        f[t] = (struct filler){s, t * N / THREADS, (t + 1) * N / THREADS};
        pthread_create(&th[t], NULL, fill_keys, &f[t]);
    }
    for (int t = 0; t < THREADS; t++) {
        char *err = NULL;
        pthread_join(th[t], (void **)&err);
        if (err)
            fail_msg("put: %s", err);
    }
    struct listing l = {0};
    cairn_err e;
    assert_int_equal(store_list(s, "many/", list_cb, &l, &e), 0);
    assert_int_equal(l.n, N);
    for (size_t i = 0; i < l.n; i++) {
        char want[64];
        snprintf(want, sizeof(want), "many/%05zu", i);
        assert_string_equal(l.keys[i], want);
    }
    store_counts c;
    store_stats(s, &c);
    assert_int_equal(c.lists, 2); /* 1,000 keys a page */
    /* DeleteObjects in batches of 1,000. */
    if (store_delete_many(s, (const char *const *)l.keys, l.n, &e) != 0)
        fail_msg("delete_many: %s", e.msg);
    store_stats(s, &c);
    assert_int_equal(c.deletes, 2);
    listing_free(&l);
    assert_int_equal(store_list(s, "many/", list_cb, &l, &e), 0);
    assert_int_equal(l.n, 0);
    store_close(s);
}

static void test_wrong_secret(void **state)
{
    (void)state;
    need_env();
    configure("this-is-not-the-secret", 0, 0);
    store *s = open_at(env.endpoint, "cairn-test/auth");
    cairn_err e;
    assert_int_equal(store_put_buf(s, "x", "x", 1, &e), CAIRN_EAUTH);
    assert_non_null(strstr(e.msg, "cairn-test"));
    assert_non_null(strstr(e.msg, env.key_id));
    assert_non_null(strstr(e.msg, "SignatureDoesNotMatch"));
    assert_non_null(strstr(e.msg, "secret access key"));
    assert_null(strstr(e.msg, "this-is-not-the-secret"));
    assert_null(strstr(e.msg, env.secret));
    struct listing l = {0};
    assert_int_equal(store_list(s, "", list_cb, &l, &e), CAIRN_EAUTH);
    /* Refusals are final: no retry. */
    store_counts c;
    store_stats(s, &c);
    assert_int_equal(c.retries, 0);
    store_close(s);

    /* An access key id the store does not know. */
    store_s3_options o = {.access_key_id = "AKIANOSUCHKEY0000000",
                          .secret_access_key = "x",
                          .path_style = -1,
                          .verify_tls = -1};
    set_options(&o);
    s = open_at(env.endpoint, "cairn-test/auth");
    assert_int_equal(store_get(s, "x", mem_sink, NULL, &e), CAIRN_EAUTH);
    assert_non_null(strstr(e.msg, "AKIANOSUCHKEY0000000"));
    assert_non_null(strstr(e.msg, "InvalidAccessKeyId"));
    store_close(s);
}

static void test_missing_bucket(void **state)
{
    (void)state;
    need_env();
    configure(NULL, 0, 0);
    store *s = open_at(env.endpoint, "cairn-missing/x");
    cairn_err e;
    /* Not "no such object": nothing could be written there either. */
    assert_int_equal(store_get(s, "cairn.repo", mem_sink, NULL, &e), CAIRN_ECONFIG);
    assert_non_null(strstr(e.msg, "bucket cairn-missing does not exist"));
    assert_int_equal(store_put_buf(s, "cairn.repo", "x", 1, &e), CAIRN_ECONFIG);
    assert_non_null(strstr(e.msg, "bucket cairn-missing does not exist"));
    struct listing l = {0};
    assert_int_equal(store_list(s, "", list_cb, &l, &e), CAIRN_ECONFIG);
    store_close(s);
}

static void test_region_errors(void **state)
{
    (void)state;
    need_env();
    configure(NULL, 0, 0);
    store *s = open_at(env.proxy, "cairn-test/region");
    cairn_err e;
    faults("[{\"action\":\"respond\",\"status\":400,\"body\":\"<Error><Code>"
           "AuthorizationHeaderMalformed</Code><Message>the region 'us-east-1' is wrong; "
           "expecting 'eu-west-1'</Message><Region>eu-west-1</Region></Error>\"}]");
    assert_int_equal(store_get(s, "x", mem_sink, NULL, &e), CAIRN_ECONFIG);
    assert_non_null(strstr(e.msg, "bucket cairn-test is in region eu-west-1, not us-east-1"));
    assert_non_null(strstr(e.msg, "region=eu-west-1"));
    faults("[{\"method\":\"HEAD\",\"action\":\"respond\",\"status\":301,"
           "  \"headers\":{\"x-amz-bucket-region\":\"eu-central-1\"}}]");
    assert_int_equal(store_head(s, "x", NULL, &e), CAIRN_ECONFIG);
    assert_non_null(strstr(e.msg, "region eu-central-1"));
    /* Endless 503s give up after a bounded number of tries, with the store's words. */
    faults("[{\"method\":\"GET\",\"action\":\"status\",\"status\":503,\"code\":\"SlowDown\","
           "  \"count\":100}]");
    assert_int_equal(store_get(s, "x", mem_sink, NULL, &e), CAIRN_EREMOTE);
    assert_non_null(strstr(e.msg, "SlowDown"));
    faults(NULL);
    store_close(s);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_locations),      cmocka_unit_test(test_config_files),
        cmocka_unit_test(test_part_size),      cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_virtual_hosted), cmocka_unit_test(test_multipart_200mb),
        cmocka_unit_test(test_list_pages),     cmocka_unit_test(test_wrong_secret),
        cmocka_unit_test(test_missing_bucket), cmocka_unit_test(test_region_errors),

        cmocka_unit_test(test_get_range),
    };
    int rc = cmocka_run_group_tests(tests, start_env, stop_env);
    curl_global_cleanup();
    return rc;
}
