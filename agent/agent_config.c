#include "agent_config.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"
#include "repos/repos.h"
#include "scylla/names.h"

#define F(key, type, member)                                                                       \
    {                                                                                              \
        key, type, offsetof(agent_config, member), NULL, false, 0, 0                               \
    }

static const config_field tls_fields[] = {
    {"ca", CONFIG_STRING, offsetof(agent_config, tls_ca), NULL, true, 0, 0},
    {"cert", CONFIG_STRING, offsetof(agent_config, tls_cert), NULL, true, 0, 0},
    {"key", CONFIG_STRING, offsetof(agent_config, tls_key), NULL, true, 0, 0},
    {NULL, 0, 0, NULL, false, 0, 0},
};

static const config_field cql_tls_fields[] = {
    F("enabled", CONFIG_BOOL, scylla_cql_tls.enabled),
    F("ca", CONFIG_STRING, scylla_cql_tls.ca),
    F("cert", CONFIG_STRING, scylla_cql_tls.cert),
    F("key", CONFIG_STRING, scylla_cql_tls.key),
    F("server_name", CONFIG_STRING, scylla_cql_tls.server_name),
    F("insecure_skip_verify", CONFIG_BOOL, scylla_cql_tls.skip_verify),
    {NULL, 0, 0, NULL, false, 0, 0},
};

static const config_field scylla_fields[] = {
    F("api", CONFIG_STRING, scylla_api),
    F("cql", CONFIG_STRING, scylla_cql),
    F("username", CONFIG_STRING, scylla_username),
    F("password", CONFIG_STRING, scylla_password),
    {"cql_tls", CONFIG_MAP, 0, cql_tls_fields, false, 0, 0},
    /* Time limits of REST calls, in seconds (docs/configuration.md). */
    {"timeout", CONFIG_INT, offsetof(agent_config, scylla_timeout_s), NULL, false, 1, 86400},
    {"flush_timeout", CONFIG_INT, offsetof(agent_config, scylla_flush_timeout_s), NULL, false, 1,
     604800},
    {"snapshot_timeout", CONFIG_INT, offsetof(agent_config, scylla_snapshot_timeout_s), NULL, false,
     1, 604800},
    {"load_timeout", CONFIG_INT, offsetof(agent_config, scylla_load_timeout_s), NULL, false, 1,
     604800},
    {"schema_agreement_timeout", CONFIG_INT, offsetof(agent_config, scylla_agreement_timeout_s),
     NULL, false, 1, 86400},
    {NULL, 0, 0, NULL, false, 0, 0},
};

static const config_field s3_fields[] = {
    F("access_key_id", CONFIG_STRING, s3.access_key_id),
    F("secret_access_key", CONFIG_STRING, s3.secret_access_key),
    F("session_token", CONFIG_STRING, s3.session_token),
    F("region", CONFIG_STRING, s3.region),
    F("endpoint", CONFIG_STRING, s3.endpoint),
    F("path_style", CONFIG_STRING, s3.path_style),
    F("verify_tls", CONFIG_STRING, s3.verify_tls),
    {"part_size_mib", CONFIG_INT, offsetof(agent_config, s3.part_size_mib), NULL, false, 5, 5120},
    {"parts_in_flight", CONFIG_INT, offsetof(agent_config, s3.parts_in_flight), NULL, false, 1, 64},
    {"upload_memory_mib", CONFIG_INT, offsetof(agent_config, s3.upload_memory_mib), NULL, false, 5,
     65536},
    {"spool_file_mib", CONFIG_INT, offsetof(agent_config, s3.spool_file_mib), NULL, false, 5, 5120},
    {"stall_timeout", CONFIG_INT, offsetof(agent_config, s3.stall_timeout), NULL, false, 1, 3600},
    F("allow_location_overrides", CONFIG_STRING, s3.allow_location_overrides),
    {NULL, 0, 0, NULL, false, 0, 0},
};

#define R(key, type, member)                                                                       \
    {                                                                                              \
        key, type, offsetof(agent_repository, member), NULL, false, 0, 0                           \
    }

static const config_field repo_s3_fields[] = {
    R("access_key_id", CONFIG_STRING, s3.access_key_id),
    R("secret_access_key", CONFIG_STRING, s3.secret_access_key),
    R("session_token", CONFIG_STRING, s3.session_token),
    R("region", CONFIG_STRING, s3.region),
    R("endpoint", CONFIG_STRING, s3.endpoint),
    R("path_style", CONFIG_STRING, s3.path_style),
    R("verify_tls", CONFIG_STRING, s3.verify_tls),
    {"part_size_mib", CONFIG_INT, offsetof(agent_repository, s3.part_size_mib), NULL, false, 5,
     5120},
    {"parts_in_flight", CONFIG_INT, offsetof(agent_repository, s3.parts_in_flight), NULL, false, 1,
     64},
    {"upload_memory_mib", CONFIG_INT, offsetof(agent_repository, s3.upload_memory_mib), NULL, false,
     5, 65536},
    {"spool_file_mib", CONFIG_INT, offsetof(agent_repository, s3.spool_file_mib), NULL, false, 5,
     5120},
    {NULL, 0, 0, NULL, false, 0, 0},
};

static const config_field repo_fields[] = {
    {"location", CONFIG_STRING, offsetof(agent_repository, location), NULL, true, 0, 0},
    {"s3", CONFIG_MAP, 0, repo_s3_fields, false, 0, 0},
    {NULL, 0, 0, NULL, false, 0, 0},
};

static const config_field agent_fields[] = {
    {"cluster", CONFIG_STRING, offsetof(agent_config, cluster), NULL, true, 0, 0},
    F("listen", CONFIG_STRING, listen),
    {"tls", CONFIG_MAP, 0, tls_fields, false, 0, 0},
    F("insecure", CONFIG_BOOL, insecure),
    {"scylla", CONFIG_MAP, 0, scylla_fields, false, 0, 0},
    F("state_dir", CONFIG_STRING, state_dir),
    F("log_file", CONFIG_STRING, log_file),
    F("log_level", CONFIG_STRING, log_level),
    {"workers", CONFIG_INT, offsetof(agent_config, workers), NULL, false, 2, 64},
    {"upload_parallel", CONFIG_INT, offsetof(agent_config, upload_parallel), NULL, false, 1, 64},
    {"restore_parallel", CONFIG_INT, offsetof(agent_config, restore_parallel), NULL, false, 1, 64},
    {"s3", CONFIG_MAP, 0, s3_fields, false, 0, 0},
    CONFIG_MAPS_FIELD("repositories", agent_config, repositories, agent_repository, repo_fields,
                      AGENT_REPOSITORIES_MAX),
    {NULL, 0, 0, NULL, false, 0, 0},
};

/* Every listed location is canonical and its own s3: map, if any, is valid. */
static int check_repositories(const agent_config *c, const char *path, cairn_err *e)
{
    const agent_repository *r = c->repositories.items;
    for (size_t i = 0; i < c->repositories.n; i++) {
        int rc = repos_location_check(r[i].location, e);
        store_s3_options s3;
        if (!rc)
            rc = store_s3_config_options(&r[i].s3, path, &s3, e);
        if (rc)
            return err_prefix(e, "%s: repositories[%zu]", path, i);
    }
    return 0;
}

static int set_default(char **field, const char *value, cairn_err *e)
{
    if (*field)
        return 0;
    *field = strdup(value);
    return *field ? 0 : err_set(e, CAIRN_ENOMEM, "out of memory");
}

/* Paths in the file are read relative to its directory (config_resolve_path). */
static int resolve_paths(agent_config *c, const char *path, cairn_err *e)
{
    char **paths[] = {&c->tls_ca,
                      &c->tls_cert,
                      &c->tls_key,
                      &c->scylla_cql_tls.ca,
                      &c->scylla_cql_tls.cert,
                      &c->scylla_cql_tls.key,
                      &c->state_dir,
                      &c->log_file};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        int rc = config_resolve_path(path, paths[i], e);
        if (rc)
            return rc;
    }
    return 0;
}

int agent_config_load(const char *path, agent_config *c, cairn_err *e)
{
    memset(c, 0, sizeof(*c));
    int rc = config_load_file(path, agent_fields, c, e);
    if (rc)
        return rc;
    if ((rc = name_check(NAME_CLUSTER, c->cluster, e)) != 0) {
        err_prefix(e, "%s: cluster", path);
        goto fail;
    }
    if ((rc = set_default(&c->listen, c->insecure ? "tcp://0.0.0.0:7400" : "tls+tcp://0.0.0.0:7400",
                          e)) ||
        (rc = set_default(&c->scylla_api, "http://127.0.0.1:10000", e)) ||
        (rc = set_default(&c->scylla_cql, "127.0.0.1:9042", e)) ||
        (rc = set_default(&c->state_dir, "/var/lib/cairn", e)) ||
        (rc = set_default(&c->log_level, "info", e)))
        goto fail;
    if (!c->workers)
        c->workers = 4;
    if (!c->scylla_timeout_s)
        c->scylla_timeout_s = 120; /* the REST API answers locally: slower is a stuck node */
    if (!c->upload_parallel)
        c->upload_parallel = 4;
    if (!c->restore_parallel) { /* a node being restored lends its cores: up to 8 */
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c->restore_parallel = n < 1 ? 1 : n > 8 ? 8 : n;
    }
    bool tls_url = strncmp(c->listen, "tls+tcp://", 10) == 0;
    if (!c->insecure && (!c->tls_ca || !tls_url)) {
        rc = err_set(e, CAIRN_ECONFIG,
                     "%s: mutual TLS is required: set tls.ca, tls.cert and tls.key and listen on "
                     "a tls+tcp:// address (or set `insecure: true` to accept plain tcp://)",
                     path);
        goto fail;
    }
    if (c->insecure && tls_url) {
        rc = err_set(e, CAIRN_ECONFIG, "%s: `insecure: true` needs a tcp:// listen address", path);
        goto fail;
    }
    if ((c->scylla_username == NULL) != (c->scylla_password == NULL)) {
        rc = err_set(e, CAIRN_ECONFIG,
                     "%s: scylla.username and scylla.password go together: set both or neither",
                     path);
        goto fail;
    }
    if ((rc = cql_tls_validate(&c->scylla_cql_tls, e)) != 0) {
        err_prefix(e, "%s", path);
        goto fail;
    }
    store_s3_options s3;
    if ((rc = store_s3_config_options(&c->s3, path, &s3, e)) != 0)
        goto fail;
    if ((rc = check_repositories(c, path, e)) != 0 || (rc = resolve_paths(c, path, e)) != 0)
        goto fail;
    return 0;
fail:
    agent_config_free(c);
    return rc;
}

void agent_config_free(agent_config *c)
{
    if (c->scylla_password)
        explicit_bzero(c->scylla_password, strlen(c->scylla_password));
    store_s3_config_wipe(&c->s3);
    agent_repository *r = c->repositories.items;
    for (size_t i = 0; i < c->repositories.n; i++)
        store_s3_config_wipe(&r[i].s3);
    config_free(agent_fields, c);
    memset(c, 0, sizeof(*c));
}
