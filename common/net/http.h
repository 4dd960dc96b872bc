/*
 * http - what both HTTP clients (ScyllaDB's REST API, S3) share: libcurl set up once
 * per process, a pool of easy handles that keeps connections alive between calls, and
 * RFC 3986 percent-encoding.
 */
#ifndef CAIRN_HTTP_H
#define CAIRN_HTTP_H

#include <curl/curl.h>

#include "base/err.h"

typedef struct http_pool http_pool;

/* A pool that keeps up to `keep` idle handles; initialises libcurl on first use. */
int http_pool_new(http_pool **out, size_t keep, cairn_err *e);

/* An idle handle (its connection kept, its options reset) or a new one; NULL when out of
 * memory. Give it back with http_pool_put. */
CURL *http_pool_get(http_pool *p);

/* Takes h back, or cleans it up when the pool is full. */
void http_pool_put(http_pool *p, CURL *h);

/* Cleans up every idle handle and p; handles still out must have come back. */
void http_pool_free(http_pool *p);

/* s with every byte but RFC 3986's unreserved ones (and those in keep, which may be
 * NULL) written as %XX (uppercase, as SigV4 requires); malloc'd, NULL when out of
 * memory or s is NULL. */
char *http_uri_encode(const char *s, const char *keep);

#endif
