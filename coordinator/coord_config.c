#include "coord_config.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "scylla/names.h"

static const config_field tls_fields[] = {
    {"ca", CONFIG_STRING, offsetof(coord_config, tls_ca), NULL, true, 0, 0},
    {"cert", CONFIG_STRING, offsetof(coord_config, tls_cert), NULL, true, 0, 0},
    {"key", CONFIG_STRING, offsetof(coord_config, tls_key), NULL, true, 0, 0},
    {NULL, 0, 0, NULL, false, 0, 0},
};

/* The coordinator writes only small objects (manifests, leases): no part settings. */
static const config_field s3_fields[] = {
    {"access_key_id", CONFIG_STRING, offsetof(coord_config, s3.access_key_id), NULL, false, 0, 0},
    {"secret_access_key", CONFIG_STRING, offsetof(coord_config, s3.secret_access_key), NULL, false,
     0, 0},
    {"session_token", CONFIG_STRING, offsetof(coord_config, s3.session_token), NULL, false, 0, 0},
    {"region", CONFIG_STRING, offsetof(coord_config, s3.region), NULL, false, 0, 0},
    {"endpoint", CONFIG_STRING, offsetof(coord_config, s3.endpoint), NULL, false, 0, 0},
    {"path_style", CONFIG_STRING, offsetof(coord_config, s3.path_style), NULL, false, 0, 0},
    {"verify_tls", CONFIG_STRING, offsetof(coord_config, s3.verify_tls), NULL, false, 0, 0},
    {"stall_timeout", CONFIG_INT, offsetof(coord_config, s3.stall_timeout), NULL, false, 1, 3600},
    {"allow_location_overrides", CONFIG_STRING, offsetof(coord_config, s3.allow_location_overrides),
     NULL, false, 0, 0},
    {NULL, 0, 0, NULL, false, 0, 0},
};

#define KEEP_MAX 1000000
static const config_field retention_fields[] = {
    {"keep_last", CONFIG_INT, offsetof(coord_config, retention.keep_last), NULL, false, 0,
     KEEP_MAX},
    {"keep_daily", CONFIG_INT, offsetof(coord_config, retention.keep_daily), NULL, false, 0,
     KEEP_MAX},
    {"keep_weekly", CONFIG_INT, offsetof(coord_config, retention.keep_weekly), NULL, false, 0,
     KEEP_MAX},
    {"keep_monthly", CONFIG_INT, offsetof(coord_config, retention.keep_monthly), NULL, false, 0,
     KEEP_MAX},
    {"keep_yearly", CONFIG_INT, offsetof(coord_config, retention.keep_yearly), NULL, false, 0,
     KEEP_MAX},
    {"keep_within", CONFIG_STRING, offsetof(coord_config, retention_within), NULL, false, 0, 0},
    {NULL, 0, 0, NULL, false, 0, 0},
};

static const config_field coord_fields[] = {
    {"cluster", CONFIG_STRING, offsetof(coord_config, cluster), NULL, true, 0, 0},
    {"repository", CONFIG_STRING, offsetof(coord_config, repository), NULL, false, 0, 0},
    {"tls", CONFIG_MAP, 0, tls_fields, false, 0, 0},
    {"insecure", CONFIG_BOOL, offsetof(coord_config, insecure), NULL, false, 0, 0},
    {"agents", CONFIG_LIST, offsetof(coord_config, agents), NULL, true, 0, 0},
    {"parallel", CONFIG_INT, offsetof(coord_config, parallel), NULL, false, 1, 1024},
    {"timeout", CONFIG_INT, offsetof(coord_config, timeout_s), NULL, false, 1, 86400},
    {"grace", CONFIG_INT, offsetof(coord_config, grace_s), NULL, false, 1, 86400},
    {"compression_level", CONFIG_INT, offsetof(coord_config, compression_level), NULL, false, -7,
     19},
    {"s3", CONFIG_MAP, 0, s3_fields, false, 0, 0},
    {"retention", CONFIG_MAP, 0, retention_fields, false, 0, 0},
    {NULL, 0, 0, NULL, false, 0, 0},
};

/* retention.keep_within: a duration such as 30d; kept as written for the reasons. */
static int retention_within(coord_config *c, const char *path, cairn_err *e)
{
    const char *w = c->retention_within;
    if (!w)
        return 0;
    if (strlen(w) >= sizeof(c->retention.keep_within) ||
        !retention_parse_duration(w, &c->retention.keep_within_ms))
        return err_set(e, CAIRN_ECONFIG,
                       "%s: retention.keep_within is not a duration: write whole weeks, days "
                       "and hours, e.g. 30d, 2w or 1d12h",
                       path);
    snprintf(c->retention.keep_within, sizeof(c->retention.keep_within), "%s", w);
    return 0;
}

/* A bad location is a mistake in this file, found before any command uses it. A relative
 * file:// path is refused rather than resolved: every node opens the same string, and
 * each would resolve it against another directory. */
static int check_repository(const char *repo, const char *path, cairn_err *e)
{
    if (!repo)
        return 0;
    if (strncmp(repo, "file://", 7) == 0) {
        if (repo[7] == '/')
            return 0;
        return err_set(e, CAIRN_ECONFIG,
                       "%s: repository '%s' is not an absolute path: write file:///absolute/path "
                       "(three slashes), the same on every node",
                       path, repo);
    }
    if (strncmp(repo, "s3://", 5) == 0) {
        if (store_s3_location_check(repo, e) == 0)
            return 0;
        err_prefix(e, "%s: repository", path);
        e->code = CAIRN_ECONFIG;
        return CAIRN_ECONFIG;
    }
    return err_set(e, CAIRN_ECONFIG,
                   "%s: repository '%s' is neither file:///path nor s3://bucket/prefix", path,
                   repo);
}

/* tls.* are read relative to this file's directory (config_resolve_path). */
static int resolve_paths(coord_config *c, const char *path, cairn_err *e)
{
    int rc = config_resolve_path(path, &c->tls_ca, e);
    if (!rc)
        rc = config_resolve_path(path, &c->tls_cert, e);
    if (!rc)
        rc = config_resolve_path(path, &c->tls_key, e);
    return rc;
}

int coord_config_load(const char *path, coord_config *c, cairn_err *e)
{
    memset(c, 0, sizeof(*c));
    c->compression_level = 1;
    int rc = config_load_file(path, coord_fields, c, e);
    if (rc)
        return rc;
    c->path = path;
    if ((rc = name_check(NAME_CLUSTER, c->cluster, e)) != 0) {
        err_prefix(e, "%s: cluster", path);
        goto fail;
    }
    if (!c->insecure && !c->tls_ca) {
        rc = err_set(e, CAIRN_ECONFIG,
                     "%s: mutual TLS is required: set tls.ca, tls.cert and tls.key (or "
                     "`insecure: true` for plain tcp)",
                     path);
        goto fail;
    }
    if (c->agents.n == 0) {
        rc = err_set(e, CAIRN_ECONFIG, "%s: `agents` lists no agent", path);
        goto fail;
    }
    for (size_t i = 0; i < c->agents.n; i++) {
        const char *a = c->agents.items[i];
        const char *colon = strrchr(a, ':');
        if (!colon || colon == a || !colon[1] || strchr(a, '/')) {
            rc = err_set(e, CAIRN_ECONFIG, "%s: agents[%zu] '%s' is not host:port", path, i, a);
            goto fail;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(a, c->agents.items[j]) == 0) {
                rc = err_set(e, CAIRN_ECONFIG, "%s: agent %s is listed twice", path, a);
                goto fail;
            }
        }
    }
    if ((rc = retention_within(c, path, e)) != 0 ||
        (rc = check_repository(c->repository, path, e)) != 0 ||
        (rc = resolve_paths(c, path, e)) != 0)
        goto fail;
    if (!c->parallel)
        c->parallel = 64;
    if (!c->timeout_s)
        c->timeout_s = 60;
    if (!c->grace_s)
        c->grace_s = 180;
    store_s3_options s3;
    if ((rc = store_s3_config_options(&c->s3, path, &s3, e)) != 0)
        goto fail;
    return 0;
fail:
    coord_config_free(c);
    return rc;
}

void coord_config_free(coord_config *c)
{
    store_s3_config_wipe(&c->s3);
    config_free(coord_fields, c);
    memset(c, 0, sizeof(*c));
}

int coord_config_need_repository(const coord_config *c, cairn_err *e)
{
    if (c->repository)
        return 0;
    return err_set(e, CAIRN_ECONFIG,
                   "%s names no `repository`: add `repository: file:///shared/dir` or "
                   "`repository: s3://bucket/prefix` (docs/configuration.md)",
                   c->path ? c->path : "the configuration");
}

int coord_config_agent_url(const coord_config *c, size_t i, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s%s", c->insecure ? "tcp://" : "tls+tcp://", c->agents.items[i]);
    return (n < 0 || (size_t)n >= cap) ? CAIRN_EINVAL : 0;
}
