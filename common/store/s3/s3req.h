/*
 * s3req - signed requests to one S3 bucket: pooled connections, SigV4 signing by
 * libcurl, retries with backoff and jitter, and errors a person can act on.
 *
 * Every request cairn sends to S3 is idempotent (bodies are buffered or read from
 * a file that does not change, so a retry sends the same bytes), so every one is retried on 5xx,
 * 429, SlowDown and network errors. Private to the s3 driver.
 */
#ifndef CAIRN_S3REQ_H
#define CAIRN_S3REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "store/store.h"

/* Request kinds, counted apart so a backup can report what it cost. */
typedef enum {
    S3_PUT,  /* a whole object */
    S3_PART, /* one part of a multipart upload */
    S3_GET,
    S3_HEAD,
    S3_LIST,     /* one ListObjectsV2 page */
    S3_DELETE,   /* DeleteObject, or one DeleteObjects batch */
    S3_INITIATE, /* CreateMultipartUpload */
    S3_COMPLETE, /* CompleteMultipartUpload */
    S3_ABORT,    /* AbortMultipartUpload */
    S3_KINDS
} s3_kind;

typedef struct s3_target {
    const char *endpoint; /* scheme://host[:port] */
    const char *region;
    const char *bucket;
    bool path_style; /* endpoint/bucket/key rather than bucket.endpoint/key */
    bool verify_tls;
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token; /* NULL without one */
    const char *cred_source;   /* where the credentials came from, named in auth errors */
    unsigned attempts;         /* tries per request, at least 1 */
    unsigned backoff_ms;       /* first retry delay; doubles per retry, with jitter */
    unsigned stall_s;          /* a try that goes this long without a byte fails, and is retried */
} s3_target;

typedef struct s3_client s3_client;

/* Copies t. */
int s3_client_new(const s3_target *t, s3_client **out, cairn_err *e);
void s3_client_free(s3_client *c);

/* Requests sent by kind (first tries only) and retries of any kind. */
void s3_client_counts(const s3_client *c, uint64_t counts[S3_KINDS], uint64_t *retries);

typedef struct s3_file_body {
    int fd;
    const char *sha256;
} s3_file_body;

typedef struct s3_request {
    s3_kind kind;
    const char *method; /* GET, HEAD, PUT, POST or DELETE */
    const char *key;    /* full key in the bucket; NULL addresses the bucket */
    const char *query;  /* canonical query string (s3sign_query), or NULL */
    const void *body;
    size_t body_len;
    /* PUT: the body_len bytes of this file from its start instead of body, signed
     * with this hex SHA-256 of them (computed as they were written). */
    const struct s3_file_body *file;
    const char *content_type; /* NULL: application/octet-stream for a body */
    const char *content_md5;  /* base64, or NULL */
    /* GET: a 2xx body streams here. A retry after partial delivery resumes with a
     * Range request (If-Match the first ETag), so no byte reaches sink twice. */
    store_sink sink;
    void *sink_ctx;
    /* GET with sink: only bytes [range_first, range_first + range_len) of the
     * object, range_len > 0; a resume continues within them. An object that ends
     * before them, or an answer that brings fewer, is CAIRN_ECORRUPT. */
    bool has_range;
    uint64_t range_first, range_len;
} s3_request;

typedef struct s3_response {
    long status;
    uint64_t length; /* Content-Length of the answer (HEAD) */
    char etag[128];
    char *body; /* the 2xx body of a request without sink (XML), malloc'd; caller frees */
    size_t body_len;
} s3_response;

/* Sends rq until it succeeds (2xx), fails for good, or runs out of attempts. A
 * missing object is CAIRN_ENOENT, a missing bucket CAIRN_ECONFIG; refused
 * credentials CAIRN_EAUTH; a wrong region CAIRN_ECONFIG naming the right one. */
int s3_perform(s3_client *c, const s3_request *rq, s3_response *rs, cairn_err *e);

/* The bucket's name, for messages. */
const char *s3_client_bucket(const s3_client *c);

#endif
