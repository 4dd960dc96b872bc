/*
 * s3xfer - one request's view of the answers to its tries: libcurl's header, body
 * and progress callbacks, with what they keep across tries (what a GET delivered,
 * the ETag and size of the object it reads) and what a try found wrong. Private
 * to s3req.
 */
#ifndef CAIRN_S3XFER_H
#define CAIRN_S3XFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "base/buf.h"
#include "base/err.h"
#include "store/s3/s3req.h"

/* One request's view of the answer, kept across its tries. */
typedef struct s3xfer {
    const s3_request *rq;
    long status;
    char etag[128];
    char region[64];
    uint64_t skip;              /* bytes to drop: a resumed GET that got the whole object again */
    uint64_t delivered;         /* bytes given to the sink, over all attempts */
    char resume_etag[128];      /* the ETag of the object the sink got its first bytes from */
    char clen[32], crange[128]; /* Content-Length and Content-Range of this answer */
    uint64_t total;             /* the object's size, from the first answer that gives it */
    bool total_known;
    bool bad_resume;   /* a resumed GET answered with other bytes than those asked for */
    bool short_object; /* the object (total bytes) ends before the range asked for */
    bool range_done;   /* the range is delivered; the rest of a whole-object answer was cut */
    /* Progress of the try under way: the bytes moved so far each way, and when the
     * last one moved (CLOCK_MONOTONIC, ms). */
    curl_off_t moved_down, moved_up;
    uint64_t moved_at_ms;
    uint64_t sent; /* bytes of a file body read for this try */
    unsigned stall_s;
    bool stalled; /* stall_s went by without a byte either way */
    buf body;     /* the answer of a request without sink, or an error body */
    bool sink_failed;
    int sink_rc;
    cairn_err sink_err;
} s3xfer;

bool s3xfer_success(long status);

/* The first byte of the object the next answer should start at: where the range
 * starts, past what the sink has. */
uint64_t s3xfer_next_byte(const s3xfer *x);

/* Readies x for another try: what the last answer said is forgotten, what the sink
 * has is kept. */
void s3xfer_begin_try(s3xfer *x);

/* CURLOPT_HEADERFUNCTION, CURLOPT_WRITEFUNCTION and CURLOPT_XFERINFOFUNCTION, with
 * an s3xfer as their data. */
size_t s3xfer_on_header(char *line, size_t size, size_t nmemb, void *arg);
size_t s3xfer_on_body(char *data, size_t size, size_t nmemb, void *arg);
int s3xfer_on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow);

#endif
