/* s3xml's listing with LastModified, S3's time stamps and ListMultipartUploads pages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store/s3/s3xml.h"

static void test_time(void **state)
{
    (void)state;
    assert_int_equal(s3xml_time_ms("1970-01-01T00:00:00.000Z"), 0);
    assert_int_equal(s3xml_time_ms("2026-12-01T21:00:00.250Z"), 1796158800250LL);
    assert_int_equal(s3xml_time_ms("2000-02-29T12:00:01Z"), 951825601000LL);
    assert_int_equal(s3xml_time_ms("2026-12-01 21:00:00Z"), -1);
    assert_int_equal(s3xml_time_ms("yesterday"), -1);
    assert_int_equal(s3xml_time_ms(""), -1);
}

struct seen {
    int n;
    int64_t t[4];
};

static int on_obj(void *ctx, const char *key, uint64_t size, int64_t mtime_ms, cairn_err *e)
{
    (void)key, (void)size, (void)e;
    struct seen *s = ctx;
    s->t[s->n++] = mtime_ms;
    return 0;
}

static void test_list_times(void **state)
{
    (void)state;
    static const char page[] =
        "<ListBucketResult><IsTruncated>false</IsTruncated>"
        "<Contents><Key>a</Key><Size>1</Size><LastModified>1970-01-01T00:00:01.000Z</LastModified>"
        "</Contents><Contents><Key>b</Key><Size>2</Size></Contents></ListBucketResult>";
    struct seen s = {0};
    char *next;
    cairn_err e;
    assert_int_equal(s3xml_list_page_ex(page, sizeof(page) - 1, on_obj, &s, &next, &e), 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.t[0], 1000);
    assert_int_equal(s.t[1], -1);
    assert_null(next);
}

static int on_upload(void *ctx, const char *key, const char *id, int64_t t, cairn_err *e)
{
    (void)e;
    struct seen *s = ctx;
    assert_true(strcmp(key, "p/blobs/ab/x") == 0 || strcmp(key, "p/y") == 0);
    assert_true(strcmp(id, "U1") == 0 || strcmp(id, "U2") == 0);
    s->t[s->n++] = t;
    return 0;
}

static void test_uploads_page(void **state)
{
    (void)state;
    static const char page[] =
        "<ListMultipartUploadsResult><IsTruncated>true</IsTruncated>"
        "<NextKeyMarker>p/y</NextKeyMarker><NextUploadIdMarker>U2</NextUploadIdMarker>"
        "<Upload><Key>p/blobs/ab/x</Key><UploadId>U1</UploadId>"
        "<Initiated>1970-01-01T00:00:02.000Z</Initiated></Upload>"
        "<Upload><Key>p/y</Key><UploadId>U2</UploadId></Upload>"
        "</ListMultipartUploadsResult>";
    struct seen s = {0};
    char *k, *id;
    cairn_err e;
    assert_int_equal(s3xml_uploads_page(page, sizeof(page) - 1, on_upload, &s, &k, &id, &e), 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.t[0], 2000);
    assert_int_equal(s.t[1], -1);
    assert_string_equal(k, "p/y");
    assert_string_equal(id, "U2");
    free(k);
    free(id);
    static const char bad[] = "<ListMultipartUploadsResult><IsTruncated>true</IsTruncated>"
                              "</ListMultipartUploadsResult>";
    assert_int_equal(s3xml_uploads_page(bad, sizeof(bad) - 1, on_upload, &s, &k, &id, &e),
                     CAIRN_EPROTO);
    assert_null(k);
    assert_int_not_equal(s3xml_uploads_page("<x/>", 4, on_upload, &s, &k, &id, &e), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_list_times),
        cmocka_unit_test(test_uploads_page),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
