/*
 * s3sign - the parts of an AWS Signature V4 request that cairn builds itself.
 *
 * libcurl (CURLOPT_AWS_SIGV4) signs the path and query string exactly as they are
 * sent, so they must already be in canonical form: every byte outside A-Z a-z 0-9
 * - _ . ~ percent-encoded with uppercase hex (http_uri_encode; object paths keep
 * their '/'), and query parameters sorted, with "name=" for an empty value.
 * Private to the s3 driver and its tests.
 */
#ifndef CAIRN_S3SIGN_H
#define CAIRN_S3SIGN_H

#include <stddef.h>

typedef struct s3sign_param {
    const char *name;
    const char *value; /* NULL or "" for a parameter without value ("uploads") */
} s3sign_param;

/* The canonical query string of params: names and values encoded, pairs sorted by
 * encoded name then value, joined by '&'. A malloc'd string ("" for n == 0); NULL
 * without memory. */
char *s3sign_query(const s3sign_param *params, size_t n);

/* Lowercase hex of the SHA-256 of buf, as x-amz-content-sha256 carries it. */
void s3sign_sha256_hex(const void *buf, size_t len, char out[65]);

#endif
