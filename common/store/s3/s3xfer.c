#include "store/s3/s3xfer.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define BODY_MAX     (8u << 20) /* a listing page or a small XML answer */
#define ERR_BODY_MAX (64u << 10)

bool s3xfer_success(long status)
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

uint64_t s3xfer_next_byte(const s3xfer *x)
{
    return (x->rq->has_range ? x->rq->range_first : 0) + x->delivered;
}

/* At the end of a 2xx GET answer's headers: the object's size, from the first
 * answer that gives it; for one to a Range request, whether it holds the bytes asked
 * for, of an object of the same size (a server that ignores Range and sends the whole
 * object is skipped through, as the status line set up). */
static bool answer_fits(s3xfer *x)
{
    const s3_request *rq = x->rq;
    char *end = NULL;
    uint64_t len = strtoull(x->clen, &end, 10);
    bool has_len = x->clen[0] && end && !*end;
    if (x->delivered == 0 && !rq->has_range) {
        x->total = len;
        x->total_known = x->status == 200 && has_len;
        return true;
    }
    if (x->status == 200) {
        if (x->total_known && has_len && len != x->total)
            return false;
        if (!x->total_known && has_len) {
            x->total = len;
            x->total_known = true;
        }
        return true;
    }
    unsigned long long first, last, total;
    int used = 0;
    if (x->status != 206 ||
        sscanf(x->crange, "bytes %llu-%llu/%llu%n", &first, &last, &total, &used) != 3 ||
        x->crange[used])
        return false;
    if (first != s3xfer_next_byte(x) || last < first || (x->total_known && total != x->total))
        return false;
    /* Never more than asked: the sink takes no byte past the range. */
    if (rq->has_range && last > rq->range_first + rq->range_len - 1)
        return false;
    x->total = total;
    x->total_known = true;
    return true;
}

size_t s3xfer_on_header(char *line, size_t size, size_t nmemb, void *arg)
{
    s3xfer *x = arg;
    size_t n = size * nmemb;
    if ((n == 2 && line[0] == '\r') || (n == 1 && line[0] == '\n')) {
        /* Returning less than n stops the transfer before a byte reaches the sink. */
        if (!x->rq->sink || !s3xfer_success(x->status))
            return n;
        if (!answer_fits(x)) {
            x->bad_resume = true;
            return 0;
        }
        /* Said before a byte reaches the sink. */
        const s3_request *rq = x->rq;
        if (rq->has_range && x->total_known &&
            (x->total < rq->range_first || x->total - rq->range_first < rq->range_len)) {
            x->short_object = true;
            return 0;
        }
        return n;
    }
    if (n > 5 && strncmp(line, "HTTP/", 5) == 0) {
        /* A new status line (after 100 Continue, say): what came before was not it. */
        const char *sp = memchr(line, ' ', n);
        x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        x->etag[0] = x->region[0] = x->clen[0] = x->crange[0] = '\0';
        /* A server that ignores Range sends the whole object (again): drop what
         * comes before the range and what the sink already has. */
        x->skip = x->rq->sink && x->status == 200 ? s3xfer_next_byte(x) : 0;
        return n;
    }
    header_value(line, n, "ETag", x->etag, sizeof(x->etag));
    if (x->rq->sink && s3xfer_success(x->status) && !x->resume_etag[0])
        snprintf(x->resume_etag, sizeof(x->resume_etag), "%s", x->etag);
    header_value(line, n, "x-amz-bucket-region", x->region, sizeof(x->region));
    header_value(line, n, "Content-Length", x->clen, sizeof(x->clen));
    header_value(line, n, "Content-Range", x->crange, sizeof(x->crange));
    return n;
}

/* Passes a 2xx GET body to the sink, past the bytes it already has and no further
 * than the range. */
static size_t to_sink(s3xfer *x, const char *data, size_t n)
{
    size_t off = 0, end = n;
    if (x->skip > 0) {
        off = x->skip < n ? (size_t)x->skip : n;
        x->skip -= off;
    }
    if (x->rq->has_range && end - off > x->rq->range_len - x->delivered)
        end = off + (size_t)(x->rq->range_len - x->delivered);
    if (off < end) {
        err_clear(&x->sink_err);
        x->sink_rc = x->rq->sink(x->rq->sink_ctx, data + off, end - off, &x->sink_err);
        if (x->sink_rc) {
            x->sink_failed = true;
            return 0; /* stops the transfer */
        }
        x->delivered += end - off;
    }
    if (end < n) {
        /* A whole object where Range was ignored: the rest is not worth fetching. */
        x->range_done = true;
        return 0;
    }
    return n;
}

size_t s3xfer_on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    s3xfer *x = arg;
    size_t n = size * nmemb;
    if (s3xfer_success(x->status) && x->rq->sink)
        return to_sink(x, data, n);
    size_t max = s3xfer_success(x->status) ? BODY_MAX : ERR_BODY_MAX;
    if (x->body.len + n > max)
        return s3xfer_success(x->status) ? 0 : n; /* an error body is only read for its code */
    return buf_append(&x->body, data, n, NULL) == 0 ? n : 0;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Called by libcurl as bytes move, and about once a second when none do: ends a
 * try that went stall_s without a byte either way, from the request's start on
 * (libcurl's own low-speed check averages over seconds gone, so a store that stops
 * right after an upload would be given several more). */
int s3xfer_on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal;
    (void)ultotal;
    s3xfer *x = arg;
    uint64_t t = now_ms();
    if (dlnow != x->moved_down || ulnow != x->moved_up) {
        x->moved_down = dlnow;
        x->moved_up = ulnow;
        x->moved_at_ms = t;
        return 0;
    }
    if (t - x->moved_at_ms < (uint64_t)x->stall_s * 1000)
        return 0;
    x->stalled = true;
    return 1; /* CURLE_ABORTED_BY_CALLBACK */
}

void s3xfer_begin_try(s3xfer *x)
{
    x->status = 0;
    buf_reset(&x->body);
    x->etag[0] = x->region[0] = '\0';
    x->moved_down = x->moved_up = 0;
    x->moved_at_ms = now_ms();
    x->sent = 0;
    x->stalled = false;
}
