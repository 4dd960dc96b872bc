/*
 * The s3:// driver under faults, injected by the proxy in front of moto_server
 * (s3_fixture.h): retried requests, aborted multipart uploads, stalled and lost
 * answers, resumed reads checked. Skipped, saying why, when moto is not installed.
 */
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "store/store.h"
#include "s3_fixture.h"
#include "testutil.h"

static uint64_t retries(store *s)
{
    store_counts c;
    store_stats(s, &c);
    return c.retries;
}

static void test_faults_retried(void **state)
{
    (void)state;
    need_env();
    configure(NULL, 5 * MiB, 2);
    store *s = open_at(env.proxy, "cairn-test/faults");
    cairn_err e;
    faults("[{\"method\":\"PUT\",\"match\":\"/small\",\"action\":\"status\",\"status\":500},"
           " {\"method\":\"PUT\",\"match\":\"/small\",\"action\":\"status\",\"status\":503,"
           "  \"code\":\"SlowDown\"},"
           " {\"method\":\"PUT\",\"match\":\"/small\",\"action\":\"drop\"},"
           " {\"method\":\"HEAD\",\"action\":\"status\",\"status\":503,\"count\":2},"
           " {\"method\":\"GET\",\"match\":\"list-type\",\"action\":\"drop\"},"
           " {\"method\":\"DELETE\",\"action\":\"status\",\"status\":429,\"code\":\"SlowDown\"}]");
    if (store_put_buf(s, "small", "0123456789", 10, &e) != 0)
        fail_msg("put: %s", e.msg);
    assert_int_equal(proxy_seen("PUT", "/small", "status", NULL), 2);
    assert_int_equal(proxy_seen("PUT", "/small", "drop", NULL), 1);
    /* libcurl itself resends once when a reused connection turns out dead, so a
     * dropped connection may cost no retry of ours. */
    assert_in_range(retries(s), 2, 3);
    uint64_t size = 0, before = retries(s);
    assert_int_equal(store_head(s, "small", &size, &e), 0);
    assert_int_equal(size, 10);
    assert_int_equal(retries(s) - before, 2);
    struct listing l = {0};
    assert_int_equal(store_list(s, "", list_cb, &l, &e), 0);
    assert_int_equal(l.n, 1);
    listing_free(&l);
    assert_int_equal(proxy_seen("GET", "list-type", "drop", NULL), 1);
    before = retries(s);
    assert_int_equal(store_delete(s, "small", &e), 0);
    assert_int_equal(retries(s) - before, 1);
    assert_int_equal(store_head(s, "small", NULL, &e), CAIRN_ENOENT);

    /* A GET cut short resumes where it stopped, with Range and If-Match. */
    char put_sha[65], got_sha[65];
    faults(NULL);
    put_stream(s, "cut", 3 * MiB, 7, put_sha);
    faults("[{\"method\":\"GET\",\"match\":\"/cut\",\"action\":\"truncate\",\"keep\":1048576}]");
    uint64_t got = 0;
    before = retries(s);
    get_hash(s, "cut", got_sha, &got);
    assert_int_equal(got, 3 * MiB);
    assert_string_equal(put_sha, got_sha);
    assert_int_equal(proxy_seen("GET", "/cut", "truncate", NULL), 1);
    assert_int_equal(proxy_seen("GET", "/cut", NULL, "bytes=1048576-"), 1);
    assert_int_equal(retries(s) - before, 1);

    /* Multipart: a dropped initiation, a failed part, a dropped part and a failed
     * completion are all retried. */
    faults("[{\"method\":\"PUT\",\"match\":\"partNumber=2\",\"action\":\"status\",\"status\":503,"
           "  \"code\":\"SlowDown\"},"
           " {\"method\":\"PUT\",\"match\":\"partNumber=3\",\"action\":\"drop\"},"
           " {\"method\":\"POST\",\"match\":\"uploadId\",\"action\":\"status\",\"status\":500},"
           " {\"method\":\"POST\",\"match\":\"uploads\",\"action\":\"drop\"}]");
    before = retries(s);
    put_stream(s, "multi", 12 * MiB, 9, put_sha);
    assert_in_range(retries(s) - before, 2, 4);
    assert_int_equal(proxy_seen("PUT", "partNumber=", "drop", NULL), 1);
    assert_int_equal(proxy_seen("POST", "uploads", "drop", NULL), 1);
    get_hash(s, "multi", got_sha, &got);
    assert_string_equal(put_sha, got_sha);
    assert_int_equal(store_delete(s, "multi", &e), 0);
    assert_int_equal(store_delete(s, "cut", &e), 0);
    store_counts c;
    store_stats(s, &c);
    assert_int_equal(c.mpu_initiates, 1);
    assert_int_equal(c.part_puts, 3);
    assert_int_equal(c.mpu_completes, 1);
    assert_int_equal(c.mpu_aborts, 0);
    faults(NULL);
    store_close(s);
}

static void test_multipart_abort(void **state)
{
    (void)state;
    need_env();
    configure(NULL, 5 * MiB, 2);
    store *s = open_at(env.proxy, "cairn-test/abort");
    cairn_err e;
    /* A refused part fails the write and aborts the upload. */
    faults("[{\"method\":\"PUT\",\"match\":\"partNumber=2\",\"action\":\"status\",\"status\":403,"
           "  \"code\":\"AccessDenied\",\"count\":10}]");
    store_writer *w;
    assert_int_equal(store_put_begin_hint(s, "refused", 12 * MiB, &w, &e), 0);
    unsigned char *bytes = calloc(1, MiB);
    int rc = 0;
    for (int i = 0; i < 12 && !rc; i++)
        rc = store_writer_write(w, bytes, MiB, &e);
    if (!rc)
        rc = store_writer_commit(w, &e);
    else
        store_writer_abort(w);
    assert_int_equal(rc, CAIRN_EAUTH);
    assert_int_equal(proxy_seen("DELETE", "uploadId=", NULL, NULL), 1);
    assert_int_equal(store_head(s, "refused", NULL, &e), CAIRN_ENOENT);

    /* A writer abandoned half way aborts its upload too. */
    faults(NULL);
    assert_int_equal(store_put_begin_hint(s, "abandoned", 0, &w, &e), 0);
    for (int i = 0; i < 7; i++)
        assert_int_equal(store_writer_write(w, bytes, MiB, &e), 0);
    store_writer_abort(w);
    assert_int_equal(proxy_seen("PUT", "/abandoned?partNumber=1", NULL, NULL), 1);
    assert_int_equal(proxy_seen("DELETE", "/abandoned?uploadId=", NULL, NULL), 1);
    assert_int_equal(store_head(s, "abandoned", NULL, &e), CAIRN_ENOENT);
    store_counts c;
    store_stats(s, &c);
    assert_int_equal(c.mpu_aborts, 2);
    assert_int_equal(c.mpu_completes, 0);
    free(bytes);
    store_close(s);
}

/* A spooled PUT refused, then cut off halfway, is sent again from the spool file's
 * start: the object is whole, and signed for its bytes (moto checks the signature). */
static void test_spool_retried(void **state)
{
    (void)state;
    need_env();
    char dir[] = "/tmp/cairn-spool-XXXXXX";
    assert_non_null(mkdtemp(dir));
    configure_spool(dir, 16 * MiB);
    store *s = open_at(env.proxy, "cairn-test/spoolfaults");
    faults("[{\"method\":\"PUT\",\"match\":\"/spooled\",\"action\":\"status\",\"status\":500},"
           " {\"method\":\"PUT\",\"match\":\"/spooled\",\"action\":\"drop\"}]");
    size_t n = 9 * MiB + 7;
    unsigned char *bytes = s3_pattern(n);
    cairn_err e;
    store_writer *w = NULL;
    assert_int_equal(store_put_begin_unnamed(s, "b", &w, &e), 0);
    assert_int_equal(store_writer_write(w, bytes, n, &e), 0);
    if (store_writer_commit_as(w, "b/spooled", &e) != 0)
        fail_msg("commit: %s", e.msg);
    assert_int_equal(proxy_seen("PUT", "/spooled", "status", NULL), 1);
    assert_int_equal(proxy_seen("PUT", "/spooled", "drop", NULL), 1);
    faults(NULL);
    buf m = {0};
    assert_int_equal(store_get(s, "b/spooled", mem_sink, &m, &e), 0);
    assert_int_equal(m.len, n);
    assert_memory_equal(m.data, bytes, n);
    free(m.data);
    free(bytes);
    assert_int_equal(store_delete(s, "b/spooled", &e), 0);
    store_close(s);
    assert_int_equal(rmdir(dir), 0);
}

/* A store that accepts a request and then says nothing costs one stall time per
 * try, and the try is retried like any other failure. */
static void test_stall(void **state)
{
    (void)state;
    need_env();
    store_s3_options o = {.access_key_id = env.key_id,
                          .secret_access_key = env.secret,
                          .path_style = -1,
                          .verify_tls = -1,
                          .stall_timeout = 2};
    set_options(&o);
    store *s = open_at(env.proxy, "cairn-test/stall");
    cairn_err e;
    faults("[{\"method\":\"PUT\",\"match\":\"/stalled\",\"action\":\"hang\",\"seconds\":20}]");
    double t0 = test_now_s();
    if (store_put_buf(s, "stalled", "0123456789", 10, &e) != 0)
        fail_msg("put: %s", e.msg);
    double put_s = test_now_s() - t0;
    assert_int_equal(proxy_seen("PUT", "/stalled", "hang", NULL), 1);
    faults("[{\"method\":\"GET\",\"match\":\"/stalled\",\"action\":\"hang\",\"seconds\":20}]");
    buf m = {0};
    t0 = test_now_s();
    if (store_get(s, "stalled", mem_sink, &m, &e) != 0)
        fail_msg("get: %s", e.msg);
    double get_s = test_now_s() - t0;
    assert_int_equal(m.len, 10);
    assert_memory_equal(m.data, "0123456789", 10);
    free(m.data);
    print_message("stall_timeout 2 s: a hung put retried and done in %.1f s, a hung get in %.1f "
                  "s\n",
                  put_s, get_s);
    assert_true(put_s >= 1.5 && put_s < 8);
    assert_true(get_s >= 1.5 && get_s < 8);

    /* A store that never answers: every try costs one stall time, and then it fails. */
    faults("[{\"method\":\"HEAD\",\"match\":\"/stalled\",\"action\":\"hang\",\"seconds\":20,"
           "  \"count\":100}]");
    t0 = test_now_s();
    assert_int_equal(store_head(s, "stalled", NULL, &e), CAIRN_ETIMEDOUT);
    double head_s = test_now_s() - t0;
    int tries = proxy_seen("HEAD", "/stalled", "hang", NULL);
    print_message("a store that never answers: %d tries, given up after %.1f s\n", tries, head_s);
    assert_non_null(strstr(e.msg, "timed out"));
    assert_in_range(tries, 2, 8);
    /* At most 8 stall times and the backoff between them (under 12 s). */
    assert_true(head_s >= 2.0 * tries - 1 && head_s < 8 * 2 + 12 + 4);
    faults(NULL);
    assert_int_equal(store_delete(s, "stalled", &e), 0);
    store_close(s);
}

/* A completion the store did, whose answer was lost: the retry finds the upload
 * gone, but the object is there, whole, so the put succeeded. */
static void test_lost_complete(void **state)
{
    (void)state;
    need_env();
    configure(NULL, 5 * MiB, 2);
    store *s = open_at(env.proxy, "cairn-test/lost");
    cairn_err e;
    /* The retry told NoSuchUpload (as a store says once the upload is done), or
     * every answer lost. */
    static const char *const rules[] = {
        "[{\"method\":\"POST\",\"match\":\"/lost?uploadId=\",\"action\":\"lose\"},"
        " {\"method\":\"POST\",\"match\":\"/lost?uploadId=\",\"action\":\"respond\","
        "  \"status\":404,\"body\":\"<Error><Code>NoSuchUpload</Code></Error>\"}]",
        "[{\"method\":\"POST\",\"match\":\"/lost?uploadId=\",\"action\":\"lose\","
        "  \"count\":100}]",
    };
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        faults(rules[i]);
        char put_sha[65], got_sha[65];
        uint64_t got = 0;
        put_stream(s, "lost", 12 * MiB, 11 + i, put_sha);
        assert_true(proxy_seen("POST", "/lost?uploadId=", "lose", NULL) >= 1);
        assert_true(proxy_seen("POST", "/lost?uploadId=", NULL, NULL) >= 2);
        get_hash(s, "lost", got_sha, &got);
        assert_int_equal(got, 12 * MiB);
        assert_string_equal(put_sha, got_sha);
    }
    store_counts c;
    store_stats(s, &c);
    assert_int_equal(c.mpu_aborts, 0);

    /* Gone for real (no object): still a failure, and the upload is aborted. */
    faults("[{\"method\":\"POST\",\"match\":\"/gone?uploadId=\",\"action\":\"respond\","
           "  \"status\":404,\"body\":\"<Error><Code>NoSuchUpload</Code></Error>\"}]");
    store_writer *w;
    assert_int_equal(store_put_begin_hint(s, "gone", 12 * MiB, &w, &e), 0);
    unsigned char *zeros = calloc(1, MiB);
    for (int i = 0; i < 12; i++)
        assert_int_equal(store_writer_write(w, zeros, MiB, &e), 0);
    free(zeros);
    assert_int_equal(store_writer_commit(w, &e), CAIRN_EIO);
    assert_non_null(strstr(e.msg, "is gone"));
    assert_int_equal(store_head(s, "gone", NULL, &e), CAIRN_ENOENT);
    assert_int_equal(store_delete(s, "lost", &e), 0);
    faults(NULL);
    store_close(s);
}

/* A resumed GET takes only an answer that carries the rest of the same object. */
static void test_resume_checked(void **state)
{
    (void)state;
    need_env();
    configure(NULL, 0, 0);
    store *s = open_at(env.proxy, "cairn-test/resume");
    cairn_err e;
    char put_sha[65];
    put_stream(s, "obj", 3 * MiB, 13, put_sha);
    static const struct {
        int status;
        const char *headers;
    } wrong[] = {
        {206, "\"Content-Range\":\"bytes 0-3145727/3145728\""},       /* from the start again */
        {206, "\"Content-Range\":\"bytes 1048576-4194303/4194304\""}, /* another object's size */
        {206, "\"Content-Range\":\"bytes 1048577-3145727/3145728\""}, /* a byte too far */
        {206, "\"X-None\":\"no Content-Range\""},
        {200, "\"X-None\":\"a whole object, but not of this size\""},
        {204, "\"X-None\":\"no content\""},
    };
    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
        char rules[512];
        snprintf(rules, sizeof(rules),
                 "[{\"method\":\"GET\",\"match\":\"/obj\",\"action\":\"truncate\","
                 "  \"keep\":1048576},"
                 " {\"method\":\"GET\",\"match\":\"/obj\",\"action\":\"respond\",\"status\":%d,"
                 "  \"headers\":{%s},\"body\":\"not the rest of the object\"}]",
                 wrong[i].status, wrong[i].headers);
        faults(rules);
        buf m = {0};
        assert_int_equal(store_get(s, "obj", mem_sink, &m, &e), CAIRN_EPROTO);
        assert_non_null(strstr(e.msg, "s3://cairn-test/resume/obj"));
        assert_non_null(strstr(e.msg, "from byte 1048576"));
        assert_int_equal(m.len, MiB); /* nothing of the wrong answer reached the sink */
        free(m.data);
    }
    /* The right answer is still taken, and so is the whole object again from a
     * store that ignores Range (skipped through to where the first answer stopped). */
    faults("[{\"method\":\"GET\",\"match\":\"/obj\",\"action\":\"truncate\",\"keep\":1048576}]");
    char got_sha[65];
    uint64_t got = 0;
    get_hash(s, "obj", got_sha, &got);
    assert_string_equal(put_sha, got_sha);
    faults("[{\"method\":\"GET\",\"match\":\"/obj\",\"action\":\"truncate\",\"keep\":1048576},"
           " {\"method\":\"GET\",\"match\":\"/obj\",\"action\":\"norange\"}]");
    got = 0;
    get_hash(s, "obj", got_sha, &got);
    assert_int_equal(got, 3 * MiB);
    assert_string_equal(put_sha, got_sha);
    assert_int_equal(proxy_seen("GET", "/obj", "norange", "bytes=1048576-"), 1);
    faults(NULL);
    assert_int_equal(store_delete(s, "obj", &e), 0);
    store_close(s);
}

/* A ranged GET cut short resumes within its range: Range from where it stopped to the
 * same last byte, If-Match the first ETag, and every byte asked reaches the sink once.
 * A store that ignores Range, or answers with other bytes, is handled as for a whole
 * object. */
static void test_range_resumed(void **state)
{
    (void)state;
    need_env();
    configure(NULL, 0, 0);
    store *s = open_at(env.proxy, "cairn-test/rangeresume");
    cairn_err e;
    char put_sha[65];
    put_stream(s, "obj", 3 * MiB, 17, put_sha);
    unsigned char *obj = malloc(3 * MiB);
    uint64_t seed = 17;
    fill(obj, 3 * MiB, &seed);
    faults("[{\"method\":\"GET\",\"match\":\"/obj\",\"action\":\"truncate\","
           "  \"keep\":1048576}]");
    store_counts c0, c1;
    store_stats(s, &c0);
    buf m = {0};
    const uint64_t off = 500000, len = 2 * MiB;
    if (store_get_range(s, "obj", off, len, mem_sink, &m, &e) != 0)
        fail_msg("get_range: %s", e.msg);
    assert_int_equal(m.len, len);
    assert_memory_equal(m.data, obj + off, len);
    free(m.data);
    store_stats(s, &c1);
    assert_int_equal(c1.gets - c0.gets, 1);
    assert_int_equal(c1.retries - c0.retries, 1);
    assert_int_equal(proxy_seen("GET", "/obj", "truncate", "bytes=500000-2597151"), 1);
    assert_int_equal(proxy_seen("GET", "/obj", NULL, "bytes=1548576-2597151"), 1);
    assert_int_equal(proxy_seen("GET", "/obj", NULL, NULL), 2);

    /* A resume answered from the start of the range again is refused. */
    faults("[{\"method\":\"GET\",\"match\":\"/obj\",\"action\":\"truncate\","
           "  \"keep\":1048576},"
           " {\"method\":\"GET\",\"match\":\"/obj\",\"action\":\"norange\"}]");
    m = (buf){0};
    assert_int_equal(store_get_range(s, "obj", off, len, mem_sink, &m, &e), CAIRN_EPROTO);
    assert_non_null(strstr(e.msg, "resumed read of s3://cairn-test/rangeresume/obj from byte "
                                  "1548576"));
    assert_int_equal(m.len, MiB);
    free(m.data);
    faults(NULL);
    store_delete(s, "obj", &e);

    /* A small object, answered by the proxy itself. */
    static const struct {
        const char *rule;
        int rc;
        const char *want; /* the bytes got, or words of the error */
        size_t got;       /* bytes the sink had when it failed */
    } cases[] = {
        /* Range ignored: the whole object, skipped to the range and cut after it. */
        {"\"status\":200,\"body\":\"0123456789\"", 0, "234", 0},
        /* Range ignored, and the object too short for it. */
        {"\"status\":200,\"body\":\"0123\"", CAIRN_ECORRUPT, "is 4 bytes, shorter than the 5", 0},
        /* Other bytes than asked for. */
        {"\"status\":206,\"headers\":{\"Content-Range\":\"bytes 0-2/10\"},\"body\":\"012\"",
         CAIRN_EPROTO, "ranged read of s3://cairn-test/rangeresume/small from byte 2", 0},
        {"\"status\":206,\"headers\":{\"Content-Range\":\"bytes 2-5/10\"},\"body\":\"2345\"",
         CAIRN_EPROTO, "from byte 2 with other bytes", 0},
        /* Fewer bytes than asked, of an object said to be long enough. */
        {"\"status\":206,\"headers\":{\"Content-Range\":\"bytes 2-3/10\"},\"body\":\"23\"",
         CAIRN_ECORRUPT, "after 2 of the 3 bytes asked", 2},
        /* Not satisfiable, with the size or without. */
        {"\"status\":416,\"headers\":{\"Content-Range\":\"bytes */1\"}", CAIRN_ECORRUPT,
         "small is 1 bytes, shorter than the 5 bytes asked (3 from byte 2)", 0},
        {"\"status\":416", CAIRN_ECORRUPT, "small ends before byte 2, shorter than the 5", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char rules[512];
        snprintf(rules, sizeof(rules),
                 "[{\"method\":\"GET\",\"match\":\"/small\",\"action\":\"respond\",%s}]",
                 cases[i].rule);
        faults(rules);
        m = (buf){0};
        err_clear(&e);
        int rc = store_get_range(s, "small", 2, 3, mem_sink, &m, &e);
        if (rc != cases[i].rc)
            fail_msg("case %zu: %d (%s)", i, rc, e.msg);
        if (rc) {
            if (!strstr(e.msg, cases[i].want))
                fail_msg("case %zu: %s", i, e.msg);
            assert_int_equal(m.len, cases[i].got);
        } else {
            assert_int_equal(m.len, strlen(cases[i].want));
            assert_memory_equal(m.data, cases[i].want, m.len);
        }
        free(m.data);
        assert_int_equal(proxy_seen("GET", "/small", NULL, "bytes=2-4"), 1);
    }
    faults(NULL);
    free(obj);
    store_close(s);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_faults_retried), cmocka_unit_test(test_multipart_abort),
        cmocka_unit_test(test_spool_retried),  cmocka_unit_test(test_stall),
        cmocka_unit_test(test_lost_complete),  cmocka_unit_test(test_resume_checked),
        cmocka_unit_test(test_range_resumed),
    };
    int rc = cmocka_run_group_tests(tests, start_env, stop_env);
    curl_global_cleanup();
    return rc;
}
