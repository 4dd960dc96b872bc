#include "store/s3/s3req.h"

#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include <curl/curl.h>

#include "base/log.h"
#include "store/s3/s3sign.h"
#include "store/s3/s3xml.h"

#define POOL_MAX       64         /* idle connections kept */
#define BODY_MAX       (8u << 20) /* a listing page or a small XML answer */
#define ERR_BODY_MAX   (64u << 10)
#define BACKOFF_CAP    5000 /* ms */
#define CONNECT_S      10L
#define STALL_S        60L /* a transfer slower than 1 byte/s for this long is dropped */
#define EXPECT_WAIT_MS 300L

struct s3_client {
    char *endpoint, *region, *bucket, *key_id, *secret, *token, *cred_source;
    bool verify_tls;
    unsigned attempts, backoff_ms;
    bool path_style;
    char *base;  /* URL up to the object path: endpoint/bucket or scheme://bucket.host */
    char *sigv4; /* "aws:amz:<region>:s3" */
    pthread_mutex_t lock;
    CURL *idle[POOL_MAX];
    size_t n_idle;
    atomic_uint_fast64_t counts[S3_KINDS];
    atomic_uint_fast64_t retries;
};

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

static char *dup_or_null(const char *s, bool *ok)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *ok = false;
    return d;
}

int s3_client_new(const s3_target *t, s3_client **out, cairn_err *e)
{
    *out = NULL;
    s3_client *c = calloc(1, sizeof(*c));
    if (!c)
        return err_set(e, CAIRN_ENOMEM, "out of memory opening bucket %s", t->bucket);
    bool ok = true;
    c->endpoint = dup_or_null(t->endpoint, &ok);
    c->region = dup_or_null(t->region, &ok);
    c->bucket = dup_or_null(t->bucket, &ok);
    c->key_id = dup_or_null(t->access_key_id, &ok);
    c->secret = dup_or_null(t->secret_access_key, &ok);
    c->token = dup_or_null(t->session_token, &ok);
    c->cred_source = dup_or_null(t->cred_source ? t->cred_source : "the configuration", &ok);
    c->verify_tls = t->verify_tls;
    c->path_style = t->path_style;
    c->attempts = t->attempts ? t->attempts : 1;
    c->backoff_ms = t->backoff_ms;
    pthread_mutex_init(&c->lock, NULL);
    if (ok && t->path_style) {
        ok = asprintf(&c->base, "%s/%s", t->endpoint, t->bucket) >= 0;
    } else if (ok) {
        const char *host = strstr(t->endpoint, "://") + 3;
        ok = asprintf(&c->base, "%.*s%s.%s", (int)(host - t->endpoint), t->endpoint, t->bucket,
                      host) >= 0;
    }
    if (!ok)
        c->base = NULL;
    if (ok && asprintf(&c->sigv4, "aws:amz:%s:s3", t->region) < 0) {
        c->sigv4 = NULL;
        ok = false;
    }
    if (!ok) {
        s3_client_free(c);
        return err_set(e, CAIRN_ENOMEM, "out of memory opening bucket %s", t->bucket);
    }
    *out = c;
    return 0;
}

/* Overwrites a secret before its memory goes back to the allocator. */
static void free_secret(char *s)
{
    if (s) {
        memset(s, 0, strlen(s));
        free(s);
    }
}

void s3_client_free(s3_client *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_idle; i++)
        curl_easy_cleanup(c->idle[i]);
    pthread_mutex_destroy(&c->lock);
    free(c->endpoint);
    free(c->region);
    free(c->bucket);
    free(c->key_id);
    free_secret(c->secret);
    free_secret(c->token);
    free(c->cred_source);
    free(c->base);
    free(c->sigv4);
    free(c);
}

void s3_client_counts(const s3_client *c, uint64_t counts[S3_KINDS], uint64_t *retries)
{
    for (int k = 0; k < S3_KINDS; k++)
        counts[k] = atomic_load(&c->counts[k]);
    *retries = atomic_load(&c->retries);
}

const char *s3_client_bucket(const s3_client *c)
{
    return c->bucket;
}

const char *s3_client_endpoint(const s3_client *c)
{
    return c->endpoint;
}

/* Handles keep their connections across curl_easy_reset, so taking one from the
 * pool reuses a warm connection to the endpoint. Pooled handles carry no options. */
static CURL *pool_get(s3_client *c)
{
    CURL *h = NULL;
    pthread_mutex_lock(&c->lock);
    if (c->n_idle > 0)
        h = c->idle[--c->n_idle];
    pthread_mutex_unlock(&c->lock);
    return h ? h : curl_easy_init();
}

static void pool_put(s3_client *c, CURL *h)
{
    /* Drops every option, pointers into the caller's stack among them, and keeps the
     * connection. */
    curl_easy_reset(h);
    pthread_mutex_lock(&c->lock);
    if (c->n_idle < POOL_MAX) {
        c->idle[c->n_idle++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    if (h)
        curl_easy_cleanup(h);
}

/* One attempt's view of the answer. */
struct xfer {
    const s3_request *rq;
    long status;
    char etag[128];
    char region[64];
    uint64_t skip;         /* bytes to drop: a resumed GET that got the whole object again */
    uint64_t delivered;    /* bytes given to the sink, over all attempts */
    char resume_etag[128]; /* the ETag of the object the sink got its first bytes from */
    char *buf;
    size_t len, cap;
    bool sink_failed;
    int sink_rc;
    cairn_err sink_err;
};

static bool success(long status)
{
    return status >= 200 && status < 300;
}

static void header_value(const char *line, size_t n, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    if (n <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return;
    const char *v = line + nl + 1, *end = line + n;
    while (v < end && isspace((unsigned char)*v))
        v++;
    while (end > v && isspace((unsigned char)end[-1]))
        end--;
    snprintf(out, cap, "%.*s", (int)(end - v), v);
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *arg)
{
    struct xfer *x = arg;
    size_t n = size * nmemb;
    if (n > 5 && strncmp(line, "HTTP/", 5) == 0) {
        /* A new status line (after 100 Continue, say): what came before was not it. */
        const char *sp = memchr(line, ' ', n);
        x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        x->etag[0] = x->region[0] = '\0';
        /* A server that ignores Range sends the whole object again: drop what the
         * sink already has. */
        x->skip = x->rq->sink && x->status == 200 ? x->delivered : 0;
        return n;
    }
    header_value(line, n, "ETag", x->etag, sizeof(x->etag));
    if (x->rq->sink && success(x->status) && !x->resume_etag[0])
        snprintf(x->resume_etag, sizeof(x->resume_etag), "%s", x->etag);
    header_value(line, n, "x-amz-bucket-region", x->region, sizeof(x->region));
    return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct xfer *x = arg;
    size_t n = size * nmemb;
    if (success(x->status) && x->rq->sink) {
        size_t off = 0;
        if (x->skip > 0) {
            off = x->skip < n ? (size_t)x->skip : n;
            x->skip -= off;
        }
        if (off < n) {
            err_clear(&x->sink_err);
            x->sink_rc = x->rq->sink(x->rq->sink_ctx, data + off, n - off, &x->sink_err);
            if (x->sink_rc) {
                x->sink_failed = true;
                return 0; /* stops the transfer */
            }
            x->delivered += n - off;
        }
        return n;
    }
    size_t max = success(x->status) ? BODY_MAX : ERR_BODY_MAX;
    if (x->len + n > max)
        return success(x->status) ? 0 : n; /* an error body is only read for its code */
    if (x->len + n + 1 > x->cap) {
        size_t cap = x->cap ? x->cap : 16384;
        while (cap < x->len + n + 1)
            cap *= 2;
        char *grown = realloc(x->buf, cap);
        if (!grown)
            return 0;
        x->buf = grown;
        x->cap = cap;
    }
    memcpy(x->buf + x->len, data, n);
    x->len += n;
    x->buf[x->len] = '\0';
    return n;
}

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

/* Fills e for a non-2xx answer; *retry tells whether another attempt may help. */
static int http_failure(s3_client *c, const s3_request *rq, const struct xfer *x, bool *retry,
                        cairn_err *e)
{
    s3xml_error xe;
    if (!x->buf || !s3xml_error_parse(x->buf, x->len, &xe))
        memset(&xe, 0, sizeof(xe));
    const char *what = kind_names[rq->kind];
    const char *key = rq->key ? rq->key : "";
    const char *detail = xe.code[0] ? xe.code : "no detail";
    const char *region = xe.region[0] ? xe.region : x->region;
    *retry = false;
    if (x->status >= 500 || x->status == 429 || retryable_code(xe.code)) {
        *retry = true;
        return err_set(e, CAIRN_EREMOTE,
                       "S3 endpoint %s kept failing to %s s3://%s/%s (HTTP %ld, %s%s%s): try "
                       "again later",
                       c->endpoint, what, c->bucket, key, x->status, detail,
                       xe.message[0] ? ": " : "", xe.message);
    }
    if (is_region_code(xe.code) || x->status == 301 || x->status == 307 ||
        (region[0] && strcmp(region, c->region) != 0 && (x->status == 400 || x->status == 403))) {
        if (region[0] && strcmp(region, c->region) != 0)
            return err_set(e, CAIRN_ECONFIG,
                           "bucket %s is in region %s, not %s: set region=%s in the repository "
                           "location (s3://%s/...?region=%s) or s3.region in the configuration",
                           c->bucket, region, c->region, region, c->bucket, region);
        return err_set(e, CAIRN_ECONFIG,
                       "bucket %s is not served by %s in region %s (HTTP %ld, %s): set the "
                       "bucket's region and endpoint in the repository location",
                       c->bucket, c->endpoint, c->region, x->status, detail);
    }
    if (x->status == 403 || is_auth_code(xe.code))
        return err_set(e, CAIRN_EAUTH,
                       "S3 refused to %s s3://%s/%s for access key id %s (from %s): %s%s%s: %s",
                       what, c->bucket, key, c->key_id, c->cred_source,
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
    if (x->status == 404)
        return err_set(e, CAIRN_ENOENT, "s3://%s/%s does not exist", c->bucket, key);
    if (x->status == 412)
        return err_set(e, CAIRN_EIO, "s3://%s/%s changed while it was being read", c->bucket, key);
    if (strcmp(xe.code, "InvalidBucketName") == 0)
        return err_set(e, CAIRN_ECONFIG, "'%s' is not a valid bucket name: %s", c->bucket,
                       xe.message);
    return err_set(e, CAIRN_EREMOTE, "S3 endpoint %s refused to %s s3://%s/%s: HTTP %ld %s%s%s",
                   c->endpoint, what, c->bucket, key, x->status, detail, xe.message[0] ? ": " : "",
                   xe.message);
}

static int curl_failure(s3_client *c, const s3_request *rq, CURLcode cc, const char *errbuf,
                        cairn_err *e)
{
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

static char *request_url(const s3_client *c, const s3_request *rq)
{
    char *path = s3sign_uri_encode(rq->key ? rq->key : "", true);
    if (!path)
        return NULL;
    char *url = NULL;
    bool q = rq->query && rq->query[0];
    /* Path-style bucket requests go to "/bucket", virtual-hosted ones to "/". */
    const char *slash = rq->key || !c->path_style ? "/" : "";
    if (asprintf(&url, "%s%s%s%s%s", c->base, slash, path, q ? "?" : "", q ? rq->query : "") < 0)
        url = NULL;
    free(path);
    return url;
}

struct headers {
    struct curl_slist *list;
    bool ok;
};

static void add_header(struct headers *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void add_header(struct headers *h, const char *fmt, ...)
{
    char line[4096]; /* session tokens run to a few KiB */
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    struct curl_slist *l =
        n >= 0 && (size_t)n < sizeof(line) ? curl_slist_append(h->list, line) : NULL;
    if (l)
        h->list = l;
    else
        h->ok = false;
}

/* One try. Returns 0 on a 2xx answer; otherwise fills e and sets *retry when another
 * try may succeed. */
static int attempt(s3_client *c, const s3_request *rq, const char *url, const char *payload_sha,
                   struct xfer *x, s3_response *rs, bool *retry, cairn_err *e)
{
    *retry = false;
    CURL *h = pool_get(c);
    if (!h)
        return err_set(e, CAIRN_ENOMEM, "out of memory talking to S3 endpoint %s", c->endpoint);
    struct headers hd = {NULL, true};
    add_header(&hd, "x-amz-content-sha256: %s", payload_sha);
    if (c->token)
        add_header(&hd, "x-amz-security-token: %s", c->token);
    bool has_body = strcmp(rq->method, "PUT") == 0 || strcmp(rq->method, "POST") == 0;
    /* libcurl would call a body form data, which some stores then parse as a form. */
    if (rq->content_type || has_body)
        add_header(&hd, "Content-Type: %s",
                   rq->content_type ? rq->content_type : "application/octet-stream");
    if (rq->content_md5)
        add_header(&hd, "Content-MD5: %s", rq->content_md5);
    if (rq->sink && x->delivered > 0) {
        add_header(&hd, "Range: bytes=%" PRIu64 "-", x->delivered);
        if (x->resume_etag[0])
            add_header(&hd, "If-Match: %s", x->resume_etag);
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    x->status = 0;
    x->len = 0;
    x->etag[0] = x->region[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, c->sigv4);
    curl_easy_setopt(h, CURLOPT_USERNAME, c->key_id);
    curl_easy_setopt(h, CURLOPT_PASSWORD, c->secret);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd.list);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, CONNECT_S);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, STALL_S);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_EXPECT_100_TIMEOUT_MS, EXPECT_WAIT_MS);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "cairn/" CAIRN_VERSION);
    if (!c->verify_tls) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (strcmp(rq->method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (has_body) {
        /* POSTFIELDS sends the buffer as it is, again on a retry; the method name
         * is what makes it a PUT. */
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body ? (const char *)rq->body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
        if (strcmp(rq->method, "PUT") == 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
    } else if (strcmp(rq->method, "DELETE") == 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
    }
    int rc = 0;
    if (!hd.ok) {
        rc = err_set(e, CAIRN_ENOMEM, "out of memory talking to S3 endpoint %s", c->endpoint);
        goto out;
    }
    CURLcode cc = curl_easy_perform(h);
    if (x->sink_failed) {
        if (e)
            *e = x->sink_err;
        rc = x->sink_rc;
        goto out;
    }
    if (cc != CURLE_OK) {
        *retry = retryable_curl(cc);
        rc = curl_failure(c, rq, cc, errbuf, e);
        goto out;
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    x->status = status;
    rs->status = status;
    if (!success(status)) {
        rc = http_failure(c, rq, x, retry, e);
        goto out;
    }
    s3xml_error xe;
    if (rq->kind == S3_COMPLETE && x->buf && s3xml_error_parse(x->buf, x->len, &xe)) {
        /* CompleteMultipartUpload may fail after its 200 status went out. */
        x->status = 500;
        rc = http_failure(c, rq, x, retry, e);
        goto out;
    }
    if (x->etag[0] && !rs->etag[0])
        snprintf(rs->etag, sizeof(rs->etag), "%s", x->etag);
    curl_off_t clen = -1;
    curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &clen);
    rs->length = clen > 0 ? (uint64_t)clen : 0;
out:
    curl_slist_free_all(hd.list);
    pool_put(c, h);
    return rc;
}

static unsigned jitter(unsigned max_ms)
{
    unsigned r = 0;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
        r = (unsigned)time(NULL);
    return max_ms ? r % (max_ms + 1) : 0;
}

static void backoff(const s3_client *c, unsigned retry)
{
    uint64_t ms = (uint64_t)c->backoff_ms << (retry < 16 ? retry : 16);
    if (ms > BACKOFF_CAP)
        ms = BACKOFF_CAP;
    /* Half fixed, half random: spreads out agents that failed together. */
    ms = ms / 2 + jitter((unsigned)(ms / 2));
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

int s3_perform(s3_client *c, const s3_request *rq, s3_response *rs, cairn_err *e)
{
    memset(rs, 0, sizeof(*rs));
    char *url = request_url(c, rq);
    if (!url)
        return err_set(e, CAIRN_ENOMEM, "out of memory talking to S3 endpoint %s", c->endpoint);
    char sha[65];
    s3sign_sha256_hex(rq->body ? rq->body : "", rq->body_len, sha);
    struct xfer x = {.rq = rq};
    atomic_fetch_add(&c->counts[rq->kind], 1);
    int rc = 0;
    for (unsigned n = 1;; n++) {
        bool retry = false;
        rc = attempt(c, rq, url, sha, &x, rs, &retry, e);
        if (!rc || !retry || n >= c->attempts)
            break;
        atomic_fetch_add(&c->retries, 1);
        log_debug("S3 %s %s: retrying (%u of %u): %s", rq->method, rq->key ? rq->key : "/", n,
                  c->attempts - 1, e ? e->msg : "");
        backoff(c, n - 1);
    }
    if (rc && rc != CAIRN_ENOENT && e)
        log_debug("S3 %s %s failed: %s", rq->method, rq->key ? rq->key : "/", e->msg);
    free(url);
    if (!rc && !rq->sink && x.buf) {
        rs->body = x.buf;
        rs->body_len = x.len;
        x.buf = NULL;
    }
    free(x.buf);
    return rc;
}
