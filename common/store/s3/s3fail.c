#include "store/s3/s3fail.h"

#include <string.h>

#include "base/debug.h"
#include "store/s3/s3xml.h"

static const char *const kind_names[S3_KINDS] = {
    [S3_PUT] = "put",
    [S3_PART] = "upload a part of",
    [S3_GET] = "get",
    [S3_HEAD] = "head",
    [S3_LIST] = "list",
    [S3_DELETE] = "delete",
    [S3_INITIATE] = "start a multipart upload of",
    [S3_COMPLETE] = "complete the upload of",
    [S3_ABORT] = "abort the upload of",
};

static bool retryable_curl(CURLcode cc)
{
    switch (cc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_WEIRD_SERVER_REPLY:
        return true;
    default:
        return false;
    }
}

static bool retryable_code(const char *code)
{
    static const char *const codes[] = {
        "SlowDown",   "InternalError",       "ServiceUnavailable",   "RequestTimeout",
        "Throttling", "ThrottlingException", "RequestLimitExceeded", NULL};
    for (const char *const *p = codes; *p; p++)
        if (strcmp(code, *p) == 0)
            return true;
    return false;
}

/* What to tell a person whose credentials were refused with this code. */
static const char *auth_hint(const char *code)
{
    if (strcmp(code, "InvalidAccessKeyId") == 0)
        return "the store does not know this access key id: check s3.access_key_id or "
               "AWS_ACCESS_KEY_ID";
    if (strcmp(code, "SignatureDoesNotMatch") == 0)
        return "the secret access key does not belong to this access key id: check "
               "s3.secret_access_key or AWS_SECRET_ACCESS_KEY";
    if (strcmp(code, "InvalidToken") == 0 || strcmp(code, "ExpiredToken") == 0 ||
        strcmp(code, "TokenRefreshRequired") == 0)
        return "the session token is invalid or expired: refresh s3.session_token or "
               "AWS_SESSION_TOKEN";
    if (strcmp(code, "RequestTimeTooSkewed") == 0)
        return "this machine's clock is more than 15 minutes off: fix it (NTP)";
    return "the credentials lack a permission this request needs: see the IAM policy in "
           "docs/storage.md";
}

static bool is_region_code(const char *code)
{
    return strcmp(code, "AuthorizationHeaderMalformed") == 0 ||
           strcmp(code, "PermanentRedirect") == 0 || strcmp(code, "TemporaryRedirect") == 0 ||
           strcmp(code, "IllegalLocationConstraintException") == 0;
}

static bool is_auth_code(const char *code)
{
    static const char *const codes[] = {"AccessDenied",          "InvalidAccessKeyId",
                                        "SignatureDoesNotMatch", "InvalidToken",
                                        "ExpiredToken",          "TokenRefreshRequired",
                                        "RequestTimeTooSkewed",  "AllAccessDisabled",
                                        "InvalidSecurity",       NULL};
    for (const char *const *p = codes; *p; p++)
        if (strcmp(code, *p) == 0)
            return true;
    return false;
}

/* A wrong region or endpoint for the bucket. */
static int region_failure(const s3_target *c, long status, const char *region, const char *detail,
                          cairn_err *e)
{
    if (region[0] && strcmp(region, c->region) != 0)
        return err_set(e, CAIRN_ECONFIG,
                       "bucket %s is in region %s, not %s: set region=%s in the repository "
                       "location (s3://%s/...?region=%s) or s3.region in the configuration",
                       c->bucket, region, c->region, region, c->bucket, region);
    return err_set(e, CAIRN_ECONFIG,
                   "bucket %s is not served by %s in region %s (HTTP %ld, %s): set the "
                   "bucket's region and endpoint in the repository location",
                   c->bucket, c->endpoint, c->region, status, detail);
}

int s3fail_http(const s3_target *c, const s3_request *rq, long status, const char *body, size_t len,
                const char *hdr_region, bool *retry, cairn_err *e)
{
    CAIRN_ASSERT(rq->kind < S3_KINDS && (status < 200 || status >= 300));
    s3xml_error xe;
    if (!body || !s3xml_error_parse(body, len, &xe))
        memset(&xe, 0, sizeof(xe));
    const char *what = kind_names[rq->kind];
    const char *key = rq->key ? rq->key : "";
    const char *detail = xe.code[0] ? xe.code : "no detail";
    const char *region = xe.region[0] ? xe.region : hdr_region;
    *retry = false;
    if (status >= 500 || status == 429 || retryable_code(xe.code)) {
        *retry = true;
        return err_set(e, CAIRN_EREMOTE,
                       "S3 endpoint %s kept failing to %s s3://%s/%s (HTTP %ld, %s%s%s): try "
                       "again later",
                       c->endpoint, what, c->bucket, key, status, detail, xe.message[0] ? ": " : "",
                       xe.message);
    }
    if (is_region_code(xe.code) || status == 301 || status == 307 ||
        (region[0] && strcmp(region, c->region) != 0 && (status == 400 || status == 403)))
        return region_failure(c, status, region, detail, e);
    if (status == 403 || is_auth_code(xe.code))
        return err_set(e, CAIRN_EAUTH,
                       "S3 refused to %s s3://%s/%s for access key id %s (from %s): %s%s%s: %s",
                       what, c->bucket, key, c->access_key_id, c->cred_source,
                       xe.code[0] ? xe.code : "HTTP 403", xe.message[0] ? ": " : "", xe.message,
                       auth_hint(xe.code));
    /* Not CAIRN_ENOENT: callers read that as "no such object", and would offer to
     * create a repository where no object can be written. */
    if (strcmp(xe.code, "NoSuchBucket") == 0)
        return err_set(e, CAIRN_ECONFIG,
                       "bucket %s does not exist at %s: create it, or correct the repository "
                       "location",
                       c->bucket, c->endpoint);
    if (strcmp(xe.code, "NoSuchUpload") == 0)
        return err_set(e, CAIRN_EIO,
                       "the multipart upload of s3://%s/%s is gone (aborted by someone else or "
                       "a lifecycle rule): write the object again",
                       c->bucket, key);
    if (status == 404)
        return err_set(e, CAIRN_ENOENT, "s3://%s/%s does not exist", c->bucket, key);
    if (status == 412)
        return err_set(e, CAIRN_EIO, "s3://%s/%s changed while it was being read", c->bucket, key);
    if (strcmp(xe.code, "InvalidBucketName") == 0)
        return err_set(e, CAIRN_ECONFIG, "'%s' is not a valid bucket name: %s", c->bucket,
                       xe.message);
    return err_set(e, CAIRN_EREMOTE, "S3 endpoint %s refused to %s s3://%s/%s: HTTP %ld %s%s%s",
                   c->endpoint, what, c->bucket, key, status, detail, xe.message[0] ? ": " : "",
                   xe.message);
}

int s3fail_curl(const s3_target *c, const s3_request *rq, CURLcode cc, const char *errbuf,
                bool *retry, cairn_err *e)
{
    *retry = retryable_curl(cc);
    const char *why = errbuf[0] ? errbuf : curl_easy_strerror(cc);
    const char *key = rq->key ? rq->key : "";
    if (cc == CURLE_PEER_FAILED_VERIFICATION)
        return err_set(e, CAIRN_ECONFIG,
                       "the TLS certificate of S3 endpoint %s is not trusted (%s): install its CA "
                       "in the system store, or set verify_tls=false for a test store",
                       c->endpoint, why);
    if (cc == CURLE_OPERATION_TIMEDOUT)
        return err_set(e, CAIRN_ETIMEDOUT, "S3 endpoint %s timed out during %s s3://%s/%s: %s",
                       c->endpoint, kind_names[rq->kind], c->bucket, key, why);
    if (retryable_curl(cc))
        return err_set(e, CAIRN_ECONN, "cannot reach S3 endpoint %s to %s s3://%s/%s: %s",
                       c->endpoint, kind_names[rq->kind], c->bucket, key, why);
    if (cc == CURLE_OUT_OF_MEMORY)
        return err_set(e, CAIRN_ENOMEM, "out of memory talking to S3 endpoint %s", c->endpoint);
    return err_set(e, CAIRN_EIO, "request to S3 endpoint %s failed: %s", c->endpoint, why);
}
