/*
 * Design notes
 *
 * A request is tried up to `attempts` times (s3_perform); one try (attempt) takes
 * a handle from the client's http_pool, so a warm connection is reused, sets it up
 * (headers, signing by libcurl, callbacks), performs it and gives the handle back.
 * What the answer means when it is not a 2xx is s3fail's.
 *
 * The transfer's state (s3xfer.h) lives across the tries of one request: a GET
 * that streams to a sink counts what it delivered, so a retry resumes with Range
 * and If-Match on the first ETag, and a server that ignores Range has the bytes
 * already delivered skipped; a resumed answer must carry the bytes asked for. A
 * ranged GET asks for its last byte from the first try on, and resumes up to it; a
 * server that ignores that Range has what comes before the range skipped and what
 * comes after cut off.
 * Bodies of other answers (XML) gather in a buf, bounded (s3xfer.c): a 2xx body
 * beyond BODY_MAX fails the transfer, an error body is read only for its first
 * ERR_BODY_MAX bytes.
 *
 * A try that moves no byte either way for stall_s seconds (a store that accepts
 * and then says nothing, or stops halfway) is ended by s3xfer_on_progress and
 * retried like a network error, so a store that stops answering costs at most
 * `attempts` stall times and the backoffs between them.
 *
 * Retries back off exponentially from backoff_ms up to BACKOFF_CAP, half of each
 * delay random, so agents that failed together do not come back together.
 */
#include "store/s3/s3req.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "base/buf.h"
#include "base/debug.h"
#include "base/log.h"
#include "net/http.h"
#include "store/s3/s3fail.h"
#include "store/s3/s3sign.h"
#include "store/s3/s3xfer.h"
#include "store/s3/s3xml.h"

#define POOL_MAX       64   /* idle connections kept */
#define BACKOFF_CAP    5000 /* ms */
#define CONNECT_S      10L  /* at most; a shorter stall time shortens it too */
#define STALL_S        30L  /* when the target names none */
#define EXPECT_WAIT_MS 300L

struct s3_client {
    s3_target t; /* the settings; its strings are the copies below */
    char *endpoint, *region, *bucket, *key_id, *secret, *token, *cred_source;
    char *base;  /* URL up to the object path: endpoint/bucket or scheme://bucket.host */
    char *sigv4; /* "aws:amz:<region>:s3" */
    http_pool *pool;
    atomic_uint_fast64_t counts[S3_KINDS];
    atomic_uint_fast64_t retries;
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

/* Copies t's strings into c and points c->t at them. */
static bool copy_target(s3_client *c, const s3_target *t)
{
    bool ok = true;
    c->endpoint = dup_or_null(t->endpoint, &ok);
    c->region = dup_or_null(t->region, &ok);
    c->bucket = dup_or_null(t->bucket, &ok);
    c->key_id = dup_or_null(t->access_key_id, &ok);
    c->secret = dup_or_null(t->secret_access_key, &ok);
    c->token = dup_or_null(t->session_token, &ok);
    c->cred_source = dup_or_null(t->cred_source ? t->cred_source : "the configuration", &ok);
    c->t = (s3_target){.endpoint = c->endpoint,
                       .region = c->region,
                       .bucket = c->bucket,
                       .path_style = t->path_style,
                       .verify_tls = t->verify_tls,
                       .access_key_id = c->key_id,
                       .secret_access_key = c->secret,
                       .session_token = c->token,
                       .cred_source = c->cred_source,
                       .attempts = t->attempts ? t->attempts : 1,
                       .backoff_ms = t->backoff_ms,
                       .stall_s = t->stall_s ? t->stall_s : STALL_S};
    return ok;
}

int s3_client_new(const s3_target *t, s3_client **out, cairn_err *e)
{
    *out = NULL;
    s3_client *c = calloc(1, sizeof(*c));
    if (!c)
        return err_set(e, CAIRN_ENOMEM, "out of memory opening bucket %s", t->bucket);
    bool ok = copy_target(c, t);
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
    int rc = ok ? http_pool_new(&c->pool, POOL_MAX, e)
                : err_set(e, CAIRN_ENOMEM, "out of memory opening bucket %s", t->bucket);
    if (rc) {
        s3_client_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* Overwrites a secret before its memory goes back to the allocator; explicit_bzero,
 * since a memset just before free may be optimized away. */
static void free_secret(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

void s3_client_free(s3_client *c)
{
    if (!c)
        return;
    http_pool_free(c->pool);
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

static char *request_url(const s3_client *c, const s3_request *rq)
{
    char *path = http_uri_encode(rq->key ? rq->key : "", "/");
    if (!path)
        return NULL;
    char *url = NULL;
    bool q = rq->query && rq->query[0];
    /* Path-style bucket requests go to "/bucket", virtual-hosted ones to "/". */
    const char *slash = rq->key || !c->t.path_style ? "/" : "";
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
    explicit_bzero(line, sizeof(line)); /* it may hold the session token */
    if (l)
        h->list = l;
    else
        h->ok = false;
}

static bool has_body(const s3_request *rq)
{
    return strcmp(rq->method, "PUT") == 0 || strcmp(rq->method, "POST") == 0;
}

/* The headers of one try; hd->ok is cleared when one did not fit or memory ran out. */
static void build_headers(const s3_client *c, const s3_request *rq, const s3xfer *x,
                          const char *payload_sha, struct headers *hd)
{
    add_header(hd, "x-amz-content-sha256: %s", payload_sha);
    if (c->token)
        add_header(hd, "x-amz-security-token: %s", c->token);
    /* libcurl would call a body form data, which some stores then parse as a form. */
    if (rq->content_type || has_body(rq))
        add_header(hd, "Content-Type: %s",
                   rq->content_type ? rq->content_type : "application/octet-stream");
    if (rq->content_md5)
        add_header(hd, "Content-MD5: %s", rq->content_md5);
    if (rq->sink && rq->has_range)
        add_header(hd, "Range: bytes=%" PRIu64 "-%" PRIu64, s3xfer_next_byte(x),
                   rq->range_first + rq->range_len - 1);
    else if (rq->sink && x->delivered > 0)
        add_header(hd, "Range: bytes=%" PRIu64 "-", x->delivered);
    if (rq->sink && x->delivered > 0 && x->resume_etag[0])
        add_header(hd, "If-Match: %s", x->resume_etag);
}

/* CURLOPT_READFUNCTION of a file body: the next bytes of this try. */
static size_t read_file_body(char *out, size_t size, size_t nmemb, void *arg)
{
    s3xfer *x = arg;
    const s3_request *rq = x->rq;
    size_t want = size * nmemb;
    if (want > rq->body_len - x->sent)
        want = (size_t)(rq->body_len - x->sent);
    ssize_t n;
    do
        n = pread(rq->file->fd, out, want, (off_t)x->sent);
    while (n < 0 && errno == EINTR);
    /* A spool file that ends early was cut under us: the try fails, and so do its
     * retries, since the length is signed. */
    if (n < 0 || (n == 0 && want > 0))
        return CURL_READFUNC_ABORT;
    x->sent += (uint64_t)n;
    return (size_t)n;
}

/* CURLOPT_SEEKFUNCTION of a file body: libcurl rewinds to send it again. */
static int seek_file_body(void *arg, curl_off_t offset, int origin)
{
    s3xfer *x = arg;
    if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > x->rq->body_len)
        return CURL_SEEKFUNC_CANTSEEK;
    x->sent = (uint64_t)offset;
    return CURL_SEEKFUNC_OK;
}

static void set_method(CURL *h, const s3_request *rq, s3xfer *x)
{
    if (rq->file) {
        CAIRN_ASSERT(strcmp(rq->method, "PUT") == 0);
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, read_file_body);
        curl_easy_setopt(h, CURLOPT_READDATA, x);
        curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, seek_file_body);
        curl_easy_setopt(h, CURLOPT_SEEKDATA, x);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)rq->body_len);
    } else if (strcmp(rq->method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (has_body(rq)) {
        /* POSTFIELDS sends the buffer as it is, again on a retry; the method name
         * is what makes it a PUT. */
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body ? (const char *)rq->body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
        if (strcmp(rq->method, "PUT") == 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
    } else if (strcmp(rq->method, "DELETE") == 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
    }
}

static void set_options(CURL *h, const s3_client *c, const s3_request *rq, const char *url,
                        struct curl_slist *headers, s3xfer *x, char *errbuf)
{
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, c->sigv4);
    curl_easy_setopt(h, CURLOPT_USERNAME, c->key_id);
    curl_easy_setopt(h, CURLOPT_PASSWORD, c->secret);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, s3xfer_on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, s3xfer_on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    /* A store that accepts and then says nothing, or stops halfway, costs one
     * stall time per try (s3xfer_on_progress), then a retry like a network error. */
    long stall = (long)c->t.stall_s;
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, stall < CONNECT_S ? stall : CONNECT_S);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, s3xfer_on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_EXPECT_100_TIMEOUT_MS, EXPECT_WAIT_MS);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "cairn/" CAIRN_VERSION);
    if (!c->t.verify_tls) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    set_method(h, rq, x);
}

/* A ranged GET of an object that ends before the range does; size is the object's,
 * NULL when the store did not say. */
static int short_object(const s3_client *c, const s3_request *rq, const uint64_t *size,
                        cairn_err *e)
{
    char was[48];
    if (size)
        snprintf(was, sizeof(was), "is %" PRIu64 " bytes", *size);
    else
        snprintf(was, sizeof(was), "ends before byte %" PRIu64, rq->range_first);
    return err_set(e, CAIRN_ECORRUPT,
                   "s3://%s/%s %s, shorter than the %" PRIu64 " bytes asked (%" PRIu64
                   " from byte %" PRIu64 ")",
                   c->bucket, rq->key, was, rq->range_first + rq->range_len, rq->range_len,
                   rq->range_first);
}

/* The object's size in a 416 answer: its Content-Range ("bytes *\/size"), or S3's
 * <ActualObjectSize> in the error document. */
static bool unsatisfied_size(const s3xfer *x, uint64_t *size)
{
    unsigned long long n;
    int used = 0;
    if (sscanf(x->crange, "bytes */%llu%n", &n, &used) == 1 && !x->crange[used]) {
        *size = n;
        return true;
    }
    static const char tag[] = "<ActualObjectSize>";
    const char *body = (const char *)x->body.data;
    const char *p = body ? memmem(body, x->body.len, tag, sizeof(tag) - 1) : NULL;
    if (!p)
        return false;
    p += sizeof(tag) - 1;
    char digits[24];
    size_t k = 0;
    while (p < body + x->body.len && *p >= '0' && *p <= '9' && k < sizeof(digits) - 1)
        digits[k++] = *p++;
    digits[k] = '\0';
    if (k == 0 || p >= body + x->body.len || *p != '<')
        return false;
    *size = strtoull(digits, NULL, 10);
    return true;
}

/* What a performed transfer came to; 0 for a 2xx answer. */
static int outcome(CURL *h, const s3_client *c, const s3_request *rq, CURLcode cc,
                   const char *errbuf, s3xfer *x, s3_response *rs, bool *retry, cairn_err *e)
{
    if (x->sink_failed) {
        if (e)
            *e = x->sink_err;
        return x->sink_rc;
    }
    if (x->bad_resume)
        return err_set(e, CAIRN_EPROTO,
                       "S3 endpoint %s answered the %s read of s3://%s/%s from byte %" PRIu64
                       " with other bytes (HTTP %ld, Content-Range '%s'): nothing more was "
                       "taken; try again, and check the store (or a proxy in front of it) if "
                       "this persists",
                       c->endpoint, x->delivered > 0 ? "resumed" : "ranged", c->bucket,
                       rq->key ? rq->key : "", s3xfer_next_byte(x), x->status, x->crange);
    if (x->short_object)
        return short_object(c, rq, &x->total, e);
    /* Cut on purpose once the range was in (to_sink). */
    if (x->range_done && cc == CURLE_WRITE_ERROR)
        cc = CURLE_OK;
    if (x->stalled) {
        char why[96];
        snprintf(why, sizeof(why), "nothing sent or received for %u s (s3.stall_timeout)",
                 c->t.stall_s);
        return s3fail_curl(&c->t, rq, CURLE_OPERATION_TIMEDOUT, why, retry, e);
    }
    if (cc != CURLE_OK)
        return s3fail_curl(&c->t, rq, cc, errbuf, retry, e);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    x->status = status;
    rs->status = status;
    const char *body = (const char *)x->body.data;
    uint64_t size;
    if (status == 416 && rq->has_range)
        return short_object(c, rq, unsatisfied_size(x, &size) ? &size : NULL, e);
    if (!s3xfer_success(status))
        return s3fail_http(&c->t, rq, status, body, x->body.len, x->region, retry, e);
    s3xml_error xe;
    /* CompleteMultipartUpload may fail after its 200 status went out. */
    if (rq->kind == S3_COMPLETE && body && s3xml_error_parse(body, x->body.len, &xe))
        return s3fail_http(&c->t, rq, 500, body, x->body.len, x->region, retry, e);
    if (x->etag[0] && !rs->etag[0])
        snprintf(rs->etag, sizeof(rs->etag), "%s", x->etag);
    curl_off_t clen = -1;
    curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &clen);
    rs->length = clen > 0 ? (uint64_t)clen : 0;
    return 0;
}

/* One try. Returns 0 on a 2xx answer; otherwise fills e and sets *retry when another
 * try may succeed. */
static int attempt(s3_client *c, const s3_request *rq, const char *url, const char *payload_sha,
                   s3xfer *x, s3_response *rs, bool *retry, cairn_err *e)
{
    *retry = false;
    CURL *h = http_pool_get(c->pool);
    if (!h)
        return err_set(e, CAIRN_ENOMEM, "out of memory talking to S3 endpoint %s", c->endpoint);
    struct headers hd = {NULL, true};
    build_headers(c, rq, x, payload_sha, &hd);
    char errbuf[CURL_ERROR_SIZE] = "";
    s3xfer_begin_try(x);
    set_options(h, c, rq, url, hd.list, x, errbuf);
    int rc;
    if (!hd.ok)
        rc = err_set(e, CAIRN_ENOMEM, "out of memory talking to S3 endpoint %s", c->endpoint);
    else
        rc = outcome(h, c, rq, curl_easy_perform(h), errbuf, x, rs, retry, e);
    /* The list holds the session token, if any: not left in freed memory. */
    for (struct curl_slist *l = hd.list; l; l = l->next)
        explicit_bzero(l->data, strlen(l->data));
    curl_slist_free_all(hd.list);
    /* Drops every option, pointers into this stack frame among them. */
    http_pool_put(c->pool, h);
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
    uint64_t ms = (uint64_t)c->t.backoff_ms << (retry < 16 ? retry : 16);
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
    CAIRN_ASSERT(rq->kind < S3_KINDS);
    memset(rs, 0, sizeof(*rs));
    char *url = request_url(c, rq);
    if (!url)
        return err_set(e, CAIRN_ENOMEM, "out of memory talking to S3 endpoint %s", c->endpoint);
    char sha[65];
    if (rq->file)
        snprintf(sha, sizeof(sha), "%s", rq->file->sha256);
    else
        s3sign_sha256_hex(rq->body ? rq->body : "", rq->body_len, sha);
    s3xfer x = {.rq = rq, .body = BUF_INIT, .stall_s = c->t.stall_s};
    atomic_fetch_add(&c->counts[rq->kind], 1);
    int rc = 0;
    for (unsigned n = 1;; n++) {
        bool retry = false;
        rc = attempt(c, rq, url, sha, &x, rs, &retry, e);
        if (!rc || !retry || n >= c->t.attempts)
            break;
        atomic_fetch_add(&c->retries, 1);
        log_debug("S3 %s %s: retrying (%u of %u): %s", rq->method, rq->key ? rq->key : "/", n,
                  c->t.attempts - 1, e ? e->msg : "");
        backoff(c, n - 1);
    }
    /* A well-formed answer that stopped short of the range: sending the same
     * request again would get the same. */
    if (!rc && rq->has_range && x.delivered < rq->range_len)
        rc = err_set(e, CAIRN_ECORRUPT,
                     "S3 endpoint %s ended the read of s3://%s/%s from byte %" PRIu64
                     " after %" PRIu64 " of the %" PRIu64 " bytes asked",
                     c->endpoint, c->bucket, rq->key, rq->range_first, x.delivered, rq->range_len);
    if (rc && rc != CAIRN_ENOENT && e)
        log_debug("S3 %s %s failed: %s", rq->method, rq->key ? rq->key : "/", e->msg);
    free(url);
    if (!rc && !rq->sink && x.body.data)
        rs->body = (char *)buf_steal(&x.body, &rs->body_len);
    buf_free(&x.body);
    return rc;
}
