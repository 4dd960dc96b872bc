/*
 * store_s3 - settings of the s3:// repository driver.
 *
 * A repository location names the bucket, prefix and any non-secret settings
 * (s3://bucket/prefix?endpoint=...&region=...&path_style=...&verify_tls=...), so
 * the one string the coordinator sends every agent is enough to find the store.
 * Credentials never travel with it: each process has its own, from its
 * configuration file (through store_options_new, store.h) or the standard AWS_*
 * variables, and they never reach a message, a log or a manifest.
 */
#ifndef CAIRN_STORE_S3_H
#define CAIRN_STORE_S3_H

#include <stddef.h>

#include "base/err.h"
#include "store/store.h"

#define STORE_S3_MIN_PART     (5u << 20) /* S3's smallest part but the last */
#define STORE_S3_DEFAULT_PART STORE_S3_MIN_PART
/* Part buffers per object, and for all objects of a process together: an agent
 * writing four large files at once holds four buffers, one writing one large file
 * sends up to three parts at a time. */
#define STORE_S3_DEFAULT_BUFFERS 3
#define STORE_S3_DEFAULT_MEMORY  (20u << 20)
/* An object named after its content waits for its name in a spool file up to this
 * size, and goes out as one PUT; S3 takes at most 5 GiB in one. */
#define STORE_S3_DEFAULT_SPOOL (1024ull << 20)
#define STORE_S3_MAX_SPOOL     (5120ull << 20)
/* Seconds a transfer may go without a byte before it is dropped and retried. */
#define STORE_S3_DEFAULT_STALL 30
#define STORE_S3_MAX_STALL     3600

/* What store_options_new takes (copying the strings). A location's region and
 * path_style win over these; its endpoint and verify_tls only as far as
 * allow_location_overrides lets them (docs/storage.md, "Who decides what"). */
typedef struct store_s3_options {
    const char *access_key_id; /* with secret_access_key; NULL: AWS_ACCESS_KEY_ID */
    const char *secret_access_key;
    const char *session_token;    /* temporary credentials only */
    const char *region;           /* NULL: AWS_REGION, AWS_DEFAULT_REGION, us-east-1 */
    const char *endpoint;         /* NULL: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, AWS itself */
    int path_style;               /* -1: path style exactly when an endpoint is set */
    int verify_tls;               /* -1: verify */
    size_t part_size;             /* 0: STORE_S3_DEFAULT_PART; at least STORE_S3_MIN_PART */
    unsigned parts_in_flight;     /* part buffers per object; 0: STORE_S3_DEFAULT_BUFFERS */
    size_t upload_memory;         /* part buffers of the process beyond one per object being
                                     written; 0: STORE_S3_DEFAULT_MEMORY */
    unsigned stall_timeout;       /* seconds without a byte; 0: STORE_S3_DEFAULT_STALL */
    int allow_location_overrides; /* 1: a location may name another endpoint and turn
                                     verify_tls off; 0 or -1: it may not */
    const char *spool_dir;        /* where objects named at commit wait beyond one part;
                                     NULL: nowhere, they must fit in one */
    uint64_t spool_file_max;      /* the largest such object; 0: STORE_S3_DEFAULT_SPOOL */
} store_s3_options;

/* The s3: map of agent.yaml and cluster.yaml, as the configuration loader fills it. */
typedef struct store_s3_config {
    char *access_key_id;
    char *secret_access_key;
    char *session_token;
    char *region;
    char *endpoint;
    char *path_style; /* "true" or "false"; NULL when absent */
    char *verify_tls;
    long part_size_mib; /* 0 when absent */
    long parts_in_flight;
    long upload_memory_mib;
    long spool_file_mib;            /* 0 when absent */
    long stall_timeout;             /* seconds; 0 when absent */
    char *allow_location_overrides; /* "true" or "false"; NULL when absent */
} store_s3_config;

/* Checks c and points o at its values (o lives as long as c). file names the
 * configuration in messages; values are never quoted. */
int store_s3_config_options(const store_s3_config *c, const char *file, store_s3_options *o,
                            cairn_err *e);

/* Checks that url reads as s3://bucket[/prefix][?params], as a store would open it,
 * without opening anything: a configuration names a bad location before it is used. */
int store_s3_location_check(const char *url, cairn_err *e);

/* Overwrites the secrets in c before the loader frees it. */
void store_s3_config_wipe(store_s3_config *c);

#endif
