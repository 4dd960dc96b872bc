/*
 * agent_config - the agent's configuration file (/etc/cairn/agent.yaml).
 *
 * Storage credentials live here and nowhere else: the coordinator sends only the
 * repository location, so secrets never cross the network or reach a manifest.
 */
#ifndef CAIRN_AGENT_CONFIG_H
#define CAIRN_AGENT_CONFIG_H

#include <stdbool.h>

#include "base/err.h"
#include "node/cql_tls.h"
#include "store/s3/store_s3.h"

#include "base/config.h"

/* One entry of `repositories:`: a location this agent serves. */
typedef struct agent_repository {
    char *location;
    store_s3_config s3;      /* its own s3: map; all empty: the agent's top-level s3 applies */
    store_options *store;    /* made of s3 by repos_open; NULL: the agent's store options */
    struct repos_seen *seen; /* what the agent read in cairn.repo there (repos.c) */
} agent_repository;

/* Most entries `repositories:` may hold. */
#define AGENT_REPOSITORIES_MAX 64

typedef struct agent_config {
    char *cluster;
    char *listen;
    char *tls_ca;
    char *tls_cert;
    char *tls_key;
    bool insecure;
    char *scylla_api;
    char *scylla_cql;
    char *scylla_username;
    char *scylla_password;
    cql_tls scylla_cql_tls;          /* scylla.cql_tls: off unless ca or enabled is set */
    long scylla_timeout_s;           /* every ordinary REST call */
    long scylla_flush_timeout_s;     /* 0: SCYLLA_DEFAULT_FLUSH_MS */
    long scylla_snapshot_timeout_s;  /* 0: SCYLLA_DEFAULT_SNAPSHOT_MS */
    long scylla_load_timeout_s;      /* 0: SCYLLA_DEFAULT_LOAD_MS */
    long scylla_agreement_timeout_s; /* 0: AGREEMENT_DEFAULT_TIMEOUT_MS */
    char *state_dir;
    char *log_file;
    char *log_level;
    long workers;
    long upload_parallel;
    long restore_parallel; /* files downloaded at once while a restore stages */
    store_s3_config s3;    /* credentials and settings for s3:// repositories */
    store_options *store;  /* made of s3 by main, not by the loader */
    /* agent_repository items: the only repositories requests may name (repos.h). None
     * listed: every repository is refused. */
    config_maps repositories;
} agent_config;

/* Loads and checks path; defaults fill what the file leaves out. */
int agent_config_load(const char *path, agent_config *c, cairn_err *e);

void agent_config_free(agent_config *c);

#endif
