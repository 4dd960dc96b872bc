/*
 * coord_config - the coordinator's cluster configuration (cluster.yaml): which
 * agents make up the cluster, where the repository is, and the client certificate.
 */
#ifndef CAIRN_COORD_CONFIG_H
#define CAIRN_COORD_CONFIG_H

#include <stdbool.h>

#include "base/config.h"
#include "base/err.h"
#include "command/retention.h"
#include "store/s3/store_s3.h"

typedef struct coord_config {
    const char *path; /* the file, as coord_config_load was given it (not a copy) */
    char *cluster;
    char *repository;
    char *tls_ca;
    char *tls_cert;
    char *tls_key;
    bool insecure;
    config_list agents; /* host:port of every agent */
    long parallel;      /* agents contacted at once */
    long timeout_s;     /* per request, and for connecting with the TLS handshake */
    long grace_s;       /* how long a node whose job polls fail is retried */
    long compression_level;
    store_s3_config s3;         /* this machine's credentials for s3:// repositories */
    store_options *store;       /* made of s3 by main, not by the loader */
    retention_policy retention; /* the `retention:` map; no rule set: nothing expires */
    char *retention_within;     /* retention.keep_within as written, parsed into retention */
} coord_config;

int coord_config_load(const char *path, coord_config *c, cairn_err *e);
void coord_config_free(coord_config *c);

/* 0 when c names a repository; otherwise CAIRN_ECONFIG saying what to add. The commands
 * that read or write the repository ask first. */
int coord_config_need_repository(const coord_config *c, cairn_err *e);

/* The nng URL of agent i ("tls+tcp://host:port", or tcp:// when insecure). */
int coord_config_agent_url(const coord_config *c, size_t i, char *buf, size_t cap);

#endif
