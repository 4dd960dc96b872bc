/*
 * s3xml - the XML documents S3 exchanges, read and written with libxml2.
 *
 * Elements are matched by local name, so a response with or without the S3
 * namespace reads the same. Private to the s3 driver and its tests.
 */
#ifndef CAIRN_S3XML_H
#define CAIRN_S3XML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef struct s3xml_error {
    char code[64];     /* "NoSuchBucket", "SlowDown", ... */
    char message[256]; /* the store's own words */
    char region[64];   /* <Region>: where the bucket lives, on wrong-region errors */
} s3xml_error;

/* Fills out and returns true when buf is an <Error> document. */
bool s3xml_error_parse(const char *buf, size_t len, s3xml_error *out);

/* The <UploadId> of an InitiateMultipartUploadResult, malloc'd into *out. */
int s3xml_upload_id(const char *buf, size_t len, char **out, cairn_err *e);

/* Receives one listed object: its full key in the bucket, and its size. */
typedef int (*s3xml_object_cb)(void *ctx, const char *key, uint64_t size, cairn_err *e);

/* Reads one ListObjectsV2 page: calls cb for every <Contents> in document order
 * (a nonzero return stops and is returned), and sets *next to a malloc'd
 * NextContinuationToken when the listing is truncated, NULL at its end. */
int s3xml_list_page(const char *buf, size_t len, s3xml_object_cb cb, void *ctx, char **next,
                    cairn_err *e);

/* The same with each object's LastModified in ms since the epoch (-1 when absent
 * or unreadable). */
typedef int (*s3xml_object_ex_cb)(void *ctx, const char *key, uint64_t size, int64_t mtime_ms,
                                  cairn_err *e);
int s3xml_list_page_ex(const char *buf, size_t len, s3xml_object_ex_cb cb, void *ctx, char **next,
                       cairn_err *e);

/* An ISO 8601 UTC time as S3 writes it ("2026-12-01T21:00:00.000Z") in ms since
 * the epoch; -1 when it is not one. */
int64_t s3xml_time_ms(const char *s);

/* Reads one ListMultipartUploads page: cb gets each upload's full key, UploadId and
 * Initiated time (ms, -1 unknown); *next_key and *next_id receive the markers of
 * the next page (malloc'd), both NULL at the end. */
typedef int (*s3xml_upload_cb)(void *ctx, const char *key, const char *upload_id,
                               int64_t initiated_ms, cairn_err *e);
int s3xml_uploads_page(const char *buf, size_t len, s3xml_upload_cb cb, void *ctx, char **next_key,
                       char **next_id, cairn_err *e);

/* The CompleteMultipartUpload body naming parts 1..n with their ETags. */
int s3xml_complete_body(char *const *etags, size_t n, char **out, size_t *out_len, cairn_err *e);

/* A quiet DeleteObjects body for keys (full keys in the bucket, at most 1000). */
int s3xml_delete_body(const char *const *keys, size_t n, char **out, size_t *out_len, cairn_err *e);

/* Reads a DeleteObjects result: *failed counts its <Error> entries; the first one's
 * code and message go to first and its key to key (cap bytes). */
int s3xml_delete_result(const char *buf, size_t len, size_t *failed, s3xml_error *first, char *key,
                        size_t cap, cairn_err *e);

#endif
