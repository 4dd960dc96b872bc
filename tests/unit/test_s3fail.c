/*
 * What a failed S3 request tells a person, without a store: every answer s3fail
 * maps, the retry decision, and that no secret reaches a message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "store/s3/s3fail.h"

static const s3_target target = {.endpoint = "https://s3.example:9000",
                                 .region = "us-east-1",
                                 .bucket = "bkt",
                                 .access_key_id = "AKIAFAIL",
                                 .secret_access_key = "SeCrEt",
                                 .session_token = "ToKeN",
                                 .cred_source = "the s3: section of the configuration",
                                 .attempts = 3};

static char body[1024];

/* An S3 <Error> document with code, message and (when not NULL) region. */
static const char *error_doc(const char *code, const char *message, const char *region)
{
    snprintf(body, sizeof(body),
             "<?xml version=\"1.0\"?><Error><Code>%s</Code><Message>%s</Message>%s%s%s</Error>",
             code, message, region ? "<Region>" : "", region ? region : "",
             region ? "</Region>" : "");
    return body;
}

/* Maps one answer; checks the code, the retry decision and a piece of the message. */
static void check_http(s3_kind kind, const char *key, long status, const char *doc,
                       const char *hdr_region, int want_rc, bool want_retry, const char *says)
{
    s3_request rq = {.kind = kind, .method = "GET", .key = key};
    cairn_err e;
    err_clear(&e);
    bool retry = !want_retry;
    int rc = s3fail_http(&target, &rq, status, doc, doc ? strlen(doc) : 0, hdr_region, &retry, &e);
    if (rc != want_rc || retry != want_retry || !strstr(e.msg, says))
        fail_msg("HTTP %ld: %d retry=%d: %s (wanted %d, '%s')", status, rc, retry, e.msg, want_rc,
                 says);
    assert_int_equal(e.code, rc);
    assert_null(strstr(e.msg, "SeCrEt"));
    assert_null(strstr(e.msg, "ToKeN"));
}

static void test_retried(void **state)
{
    (void)state;
    check_http(S3_PUT, "k", 500, NULL, "", CAIRN_EREMOTE, true,
               "S3 endpoint https://s3.example:9000 kept failing to put s3://bkt/k (HTTP 500, no "
               "detail)");
    check_http(S3_PART, "k", 503, error_doc("SlowDown", "Reduce your rate", NULL), "",
               CAIRN_EREMOTE, true, "upload a part of s3://bkt/k (HTTP 503, SlowDown: Reduce");
    check_http(S3_LIST, NULL, 429, NULL, "", CAIRN_EREMOTE, true, "to list s3://bkt/ (HTTP 429");
    /* Throttling is throttling whatever the status says. */
    check_http(S3_GET, "k", 400, error_doc("RequestLimitExceeded", "", NULL), "", CAIRN_EREMOTE,
               true, "try again later");
    check_http(S3_HEAD, "k", 400, error_doc("ThrottlingException", "slow", NULL), "", CAIRN_EREMOTE,
               true, "ThrottlingException: slow");
}

static void test_region(void **state)
{
    (void)state;
    check_http(S3_GET, "k", 400,
               error_doc("AuthorizationHeaderMalformed", "wrong region", "eu-west-1"), "",
               CAIRN_ECONFIG, false,
               "bucket bkt is in region eu-west-1, not us-east-1: set "
               "region=eu-west-1");
    /* The header says it when the body cannot (HEAD). */
    check_http(S3_HEAD, "k", 301, NULL, "ap-east-1", CAIRN_ECONFIG, false,
               "bucket bkt is in region ap-east-1");
    check_http(S3_HEAD, "k", 403, NULL, "ap-east-1", CAIRN_ECONFIG, false, "region ap-east-1");
    /* A redirect that names no region: the endpoint is wrong for the bucket. */
    check_http(S3_GET, "k", 307, NULL, "", CAIRN_ECONFIG, false,
               "bucket bkt is not served by https://s3.example:9000 in region us-east-1 (HTTP 307, "
               "no detail)");
    check_http(S3_GET, "k", 400, error_doc("PermanentRedirect", "", "us-east-1"), "", CAIRN_ECONFIG,
               false, "(HTTP 400, PermanentRedirect)");
    check_http(S3_GET, "k", 400, error_doc("IllegalLocationConstraintException", "", NULL), "",
               CAIRN_ECONFIG, false, "is not served by");
}

static void test_auth(void **state)
{
    (void)state;
    static const struct {
        const char *code;
        const char *hint;
    } codes[] = {
        {"InvalidAccessKeyId", "check s3.access_key_id or AWS_ACCESS_KEY_ID"},
        {"SignatureDoesNotMatch", "check s3.secret_access_key"},
        {"InvalidToken", "refresh s3.session_token"},
        {"ExpiredToken", "refresh s3.session_token"},
        {"TokenRefreshRequired", "refresh s3.session_token"},
        {"RequestTimeTooSkewed", "clock is more than 15 minutes off"},
        {"AccessDenied", "see the IAM policy"},
        {"AllAccessDisabled", "see the IAM policy"},
        {"InvalidSecurity", "see the IAM policy"},
    };
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        char says[256];
        snprintf(says, sizeof(says),
                 "for access key id AKIAFAIL (from the s3: section of the "
                 "configuration): %s: denied: ",
                 codes[i].code);
        check_http(S3_DELETE, "k", 400, error_doc(codes[i].code, "denied", NULL), "", CAIRN_EAUTH,
                   false, says);
        check_http(S3_DELETE, "k", 400, error_doc(codes[i].code, "denied", NULL), "", CAIRN_EAUTH,
                   false, codes[i].hint);
    }
    check_http(S3_INITIATE, "big", 403, NULL, "", CAIRN_EAUTH, false,
               "S3 refused to start a multipart upload of s3://bkt/big for access key id AKIAFAIL "
               "(from the s3: section of the configuration): HTTP 403: the credentials lack");
}

static void test_other_answers(void **state)
{
    (void)state;
    check_http(S3_GET, "k", 404, error_doc("NoSuchBucket", "", NULL), "", CAIRN_ECONFIG, false,
               "bucket bkt does not exist at https://s3.example:9000");
    check_http(S3_COMPLETE, "big", 404, error_doc("NoSuchUpload", "", NULL), "", CAIRN_EIO, false,
               "the multipart upload of s3://bkt/big is gone");
    check_http(S3_GET, "k", 404, error_doc("NoSuchKey", "", NULL), "", CAIRN_ENOENT, false,
               "s3://bkt/k does not exist");
    check_http(S3_HEAD, "k", 404, NULL, "", CAIRN_ENOENT, false, "s3://bkt/k does not exist");
    check_http(S3_GET, "k", 412, NULL, "", CAIRN_EIO, false, "changed while it was being read");
    check_http(S3_LIST, NULL, 400, error_doc("InvalidBucketName", "no such name", NULL), "",
               CAIRN_ECONFIG, false, "'bkt' is not a valid bucket name: no such name");
    check_http(S3_ABORT, "big", 400, error_doc("InvalidArgument", "bad upload id", NULL), "",
               CAIRN_EREMOTE, false,
               "refused to abort the upload of s3://bkt/big: HTTP 400 InvalidArgument: bad upload");
    /* A body that is not XML is no detail. */
    check_http(S3_GET, "k", 400, "<html>nope", "", CAIRN_EREMOTE, false, "HTTP 400 no detail");
    /* Completion that failed after its 200. */
    check_http(S3_COMPLETE, "big", 500, error_doc("InternalError", "try again", NULL), "",
               CAIRN_EREMOTE, true, "kept failing to complete the upload of s3://bkt/big");
}

static void check_curl(CURLcode cc, const char *errbuf, int want_rc, bool want_retry,
                       const char *says)
{
    s3_request rq = {.kind = S3_GET, .method = "GET", .key = "k"};
    cairn_err e;
    err_clear(&e);
    bool retry = !want_retry;
    int rc = s3fail_curl(&target, &rq, cc, errbuf, &retry, &e);
    if (rc != want_rc || retry != want_retry || !strstr(e.msg, says))
        fail_msg("curl %d: %d retry=%d: %s", (int)cc, rc, retry, e.msg);
}

static void test_transfer_failures(void **state)
{
    (void)state;
    check_curl(CURLE_PEER_FAILED_VERIFICATION, "self-signed", CAIRN_ECONFIG, false,
               "the TLS certificate of S3 endpoint https://s3.example:9000 is not trusted "
               "(self-signed)");
    check_curl(CURLE_OPERATION_TIMEDOUT, "", CAIRN_ETIMEDOUT, true,
               "timed out during get s3://bkt/k");
    check_curl(CURLE_COULDNT_CONNECT, "refused", CAIRN_ECONN, true,
               "cannot reach S3 endpoint https://s3.example:9000 to get s3://bkt/k: refused");
    static const CURLcode network[] = {
        CURLE_COULDNT_RESOLVE_HOST, CURLE_SEND_ERROR,        CURLE_RECV_ERROR, CURLE_GOT_NOTHING,
        CURLE_PARTIAL_FILE,         CURLE_SSL_CONNECT_ERROR, CURLE_HTTP2,      CURLE_HTTP2_STREAM,
        CURLE_WEIRD_SERVER_REPLY,
    };
    for (size_t i = 0; i < sizeof(network) / sizeof(network[0]); i++)
        check_curl(network[i], "", CAIRN_ECONN, true, "cannot reach");
    check_curl(CURLE_OUT_OF_MEMORY, "", CAIRN_ENOMEM, false, "out of memory");
    /* Without libcurl's own words, its description of the code. */
    check_curl(CURLE_WRITE_ERROR, "", CAIRN_EIO, false,
               "request to S3 endpoint https://s3.example:9000 failed: ");
    check_curl(CURLE_UNSUPPORTED_PROTOCOL, "no gopher", CAIRN_EIO, false, "failed: no gopher");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retried),
        cmocka_unit_test(test_region),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_other_answers),
        cmocka_unit_test(test_transfer_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
