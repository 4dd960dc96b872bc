/*
 * s3conf - everything an s3:// store is opened with, apart from the driver: the
 * checks of the s3: configuration section, the process's settings (the s3 part of
 * store_options), the location string and its parameters, and the rule that
 * settles them into one s3_target. Private to the s3 driver and its tests.
 */
#ifndef CAIRN_S3CONF_H
#define CAIRN_S3CONF_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "store/s3/s3budget.h"
#include "store/s3/s3req.h"
#include "store/s3/store_s3.h"

#define S3CONF_BUCKET_MAX 255

/* store_s3_options copied and settled; the secrets are wiped when it is freed. */
typedef struct s3conf {
    char *access_key_id, *secret_access_key, *session_token; /* NULL: from the environment */
    char *region, *endpoint;                                 /* NULL: unset */
    int path_style, verify_tls;                              /* -1: unset */
    bool allow_overrides; /* a location may name another endpoint, or turn verify_tls off */
    unsigned stall_s;     /* seconds a transfer may go without a byte */
    size_t part_size;     /* at least STORE_S3_MIN_PART */
    unsigned buffers;     /* part buffers per object */
    s3budget *budget;     /* shared by every store */
    char *spool_dir;      /* NULL: objects named at commit must fit in one part */
    uint64_t spool_max;   /* the largest of them that may wait in a spool file */
} s3conf;

/* Copies o (NULL: nothing configured) and makes its budget. */
int s3conf_new(s3conf **out, const store_s3_options *o, cairn_err *e);
void s3conf_free(s3conf *c);

/* What a location string says; NULL or -1 where it is silent. */
typedef struct s3_location {
    char bucket[S3CONF_BUCKET_MAX + 1];
    char *prefix; /* "" or "a/b/" */
    char *endpoint, *region;
    int path_style, verify_tls;
} s3_location;

/* Reads "s3://bucket[/prefix][?params]"; refuses anything that looks like a
 * credential, without quoting it. */
int s3conf_parse_location(const char *url, s3_location *l, cairn_err *e);
void s3conf_location_free(s3_location *l);

/* Settles every setting, the location's first, then c's (NULL: none), then the
 * environment's, into t; but a location may name an endpoint other than the one
 * this process has (c's or the environment's), or turn verify_tls off where c
 * leaves it on, only when c allows overrides: a location comes from the network.
 * t's strings point into l, c, the environment and *ep, the
 * endpoint, malloc'd or NULL: free it once t is used, whatever the outcome. */
int s3conf_target(const char *url, const s3_location *l, const s3conf *c, s3_target *t, char **ep,
                  cairn_err *e);

#endif
