/*
 * The s3:// driver's puts named at commit, for objects named after their content:
 * within one part a single PUT from memory, beyond it a PUT from a spool file, and
 * the limits of both. Against moto_server (s3_fixture.h); skipped, saying why, when
 * moto is not installed.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "store/s3/store_s3.h"
#include "store/store.h"
#include "s3_fixture.h"
#include "testutil.h"

/* A put named at commit: one PUT under the prefix, within one part and no more. */
static void test_unnamed_put(void **state)
{
    (void)state;
    need_env();
    configure(NULL, 0, 0);
    store *s = open_at(env.endpoint, "cairn-test/unnamed");
    cairn_err e;
    uint64_t max = store_unnamed_max(s);
    assert_int_equal(max, STORE_S3_MIN_PART);
    store_writer *w = NULL;
    assert_int_equal(store_put_begin_unnamed(s, "blobs", &w, &e), 0);
    assert_int_equal(store_writer_write(w, "named later", 11, &e), 0);
    assert_int_equal(store_writer_commit_as(w, "blobs/ab/named", &e), 0);
    buf m = {0};
    assert_int_equal(store_get(s, "blobs/ab/named", mem_sink, &m, &e), 0);
    assert_int_equal(m.len, 11);
    assert_memory_equal(m.data, "named later", 11);
    free(m.data);

    /* More than one part cannot be named later: refused, nothing sent. */
    char *big = calloc(1, (size_t)max + 1);
    assert_int_equal(store_put_begin_unnamed(s, "blobs", &w, &e), 0);
    assert_int_equal(store_writer_write(w, big, (size_t)max + 1, &e), CAIRN_EINVAL);
    assert_non_null(strstr(e.msg, "one part"));
    store_writer_abort(w);
    free(big);
    store_counts c;
    store_stats(s, &c);
    assert_int_equal(c.puts, 1);
    assert_int_equal(c.mpu_initiates, 0);
    assert_int_equal(store_delete(s, "blobs/ab/named", &e), 0);
    store_close(s);
}

/* Beyond one part, a put named at commit waits in a spool file and still goes out
 * as one PUT; the spool directory keeps nothing, and the spool's limit holds. */
static void test_unnamed_spool(void **state)
{
    (void)state;
    need_env();
    char dir[] = "/tmp/cairn-spool-XXXXXX";
    assert_non_null(mkdtemp(dir));
    configure_spool(dir, 12 * MiB);
    store *s = open_at(env.endpoint, "cairn-test/spool");
    assert_int_equal(store_unnamed_max(s), 12 * MiB);
    size_t n = 11 * MiB + 123;
    unsigned char *bytes = s3_pattern(n);
    cairn_err e;
    store_writer *w = NULL;
    assert_int_equal(store_put_begin_unnamed(s, "blobs", &w, &e), 0);
    for (size_t off = 0; off < n; off += 300000)
        assert_int_equal(
            store_writer_write(w, bytes + off, n - off < 300000 ? n - off : 300000, &e), 0);
    assert_int_equal(store_writer_commit_as(w, "blobs/cd/spooled", &e), 0);
    buf m = {0};
    assert_int_equal(store_get(s, "blobs/cd/spooled", mem_sink, &m, &e), 0);
    assert_int_equal(m.len, n);
    assert_memory_equal(m.data, bytes, n);
    free(m.data);
    store_counts c;
    store_stats(s, &c);
    assert_int_equal(c.puts, 1);
    assert_int_equal(c.mpu_initiates + c.part_puts, 0);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A %s)\"", dir);
    assert_int_equal(system(cmd), 0);

    /* Past the limit: refused on the way, nothing sent. */
    assert_int_equal(store_put_begin_unnamed(s, "blobs", &w, &e), 0);
    int rc = 0;
    for (size_t i = 0; i < 3 && !rc; i++)
        rc = store_writer_write(w, bytes, 5 * MiB, &e);
    assert_int_equal(rc, CAIRN_EINVAL);
    assert_non_null(strstr(e.msg, "s3.spool_file_mib"));
    store_writer_abort(w);
    /* A spool directory that is gone is named. */
    assert_int_equal(rmdir(dir), 0);
    assert_int_equal(store_put_begin_unnamed(s, "blobs", &w, &e), 0);
    rc = 0;
    for (size_t i = 0; i < 2 && !rc; i++)
        rc = store_writer_write(w, bytes, 5 * MiB + 1, &e);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(e.msg, dir));
    store_writer_abort(w);
    store_stats(s, &c);
    assert_int_equal(c.puts, 1);
    free(bytes);
    assert_int_equal(store_delete(s, "blobs/cd/spooled", &e), 0);
    store_close(s);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unnamed_put),
        cmocka_unit_test(test_unnamed_spool),
    };
    int rc = cmocka_run_group_tests(tests, start_env, stop_env);
    curl_global_cleanup();
    return rc;
}
