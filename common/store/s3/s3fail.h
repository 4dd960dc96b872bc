/*
 * s3fail - what a failed S3 request means: whether another try may help, which
 * CAIRN_E* code it is, and a message a person can act on (the bucket, the endpoint,
 * the store's own words and what to change). Secrets never appear: an access key
 * id is named, a secret or token never. Private to s3req.
 */
#ifndef CAIRN_S3FAIL_H
#define CAIRN_S3FAIL_H

#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>

#include "base/err.h"
#include "store/s3/s3req.h"

/* A non-2xx answer: status, its body (an S3 <Error> document, or anything), and
 * the x-amz-bucket-region header ("" without one). Sets *retry when another try
 * may succeed (5xx, 429, throttling codes). */
int s3fail_http(const s3_target *t, const s3_request *rq, long status, const char *body, size_t len,
                const char *hdr_region, bool *retry, cairn_err *e);

/* A transfer that failed in libcurl (errbuf: its words, or ""). Sets *retry for
 * network errors. */
int s3fail_curl(const s3_target *t, const s3_request *rq, CURLcode cc, const char *errbuf,
                bool *retry, cairn_err *e);

#endif
