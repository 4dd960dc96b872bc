#include "node/scylla.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/scylla_http.h"

static int shape_error(const char *path, const char *expected, json_object *o, cairn_err *e)
{
    return err_set(e, CAIRN_EPROTO, "ScyllaDB answered GET %s with %s where %s was expected", path,
                   o ? json_type_to_name(json_object_get_type(o)) : "an empty body", expected);
}

static int dup_string(json_object *o, char **out, cairn_err *e)
{
    if (!(*out = strdup(json_object_get_string(o))))
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    return 0;
}

static int get_string(scylla *s, const char *path, char **out, cairn_err *e)
{
    *out = NULL;
    json_object *o;
    int rc = scylla_call(s, "GET", path, SCYLLA_CALL_QUICK, &o, e);
    if (rc < 0)
        return rc;
    if (!o || !json_object_is_type(o, json_type_string))
        rc = shape_error(path, "a string", o, e);
    else
        rc = dup_string(o, out, e);
    json_object_put(o);
    return rc;
}

void scylla_strv_free(char **items, size_t n)
{
    if (!items)
        return;
    for (size_t i = 0; i < n; i++)
        free(items[i]);
    free(items);
}

static int strv_from_json(const char *path, json_object *o, char ***items, size_t *n, cairn_err *e)
{
    if (!o || !json_object_is_type(o, json_type_array))
        return shape_error(path, "a list of strings", o, e);
    size_t len = json_object_array_length(o);
    char **v = calloc(len ? len : 1, sizeof(*v));
    if (!v)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    for (size_t i = 0; i < len; i++) {
        json_object *it = json_object_array_get_idx(o, i);
        int rc = 0;
        if (!json_object_is_type(it, json_type_string))
            rc = shape_error(path, "a list of strings", it, e);
        else
            rc = dup_string(it, &v[i], e);
        if (rc < 0) {
            scylla_strv_free(v, i);
            return rc;
        }
    }
    *items = v;
    *n = len;
    return 0;
}

static int get_strv(scylla *s, const char *path, char ***items, size_t *n, cairn_err *e)
{
    *items = NULL;
    *n = 0;
    json_object *o;
    int rc = scylla_call(s, "GET", path, SCYLLA_CALL_QUICK, &o, e);
    if (rc < 0)
        return rc;
    rc = strv_from_json(path, o, items, n, e);
    json_object_put(o);
    return rc;
}

int scylla_host_id(scylla *s, char **out, cairn_err *e)
{
    static const char path[] = "/storage_service/hostid/local";
    *out = NULL;
    scylla_reply r;
    int rc = scylla_perform(s, "GET", path, SCYLLA_CALL_QUICK, &r, e);
    if (rc < 0)
        return rc;
    if (r.status == 404) {
        char msg[512];
        scylla_error_message(&r, msg, sizeof(msg));
        buf_free(&r.body);
        return err_set(e, CAIRN_ENOENT,
                       "ScyllaDB has no host id yet (%s); wait until the node has joined the "
                       "cluster and try again",
                       msg);
    }
    json_object *o = NULL;
    rc = scylla_finish("GET", path, &r, &o, e);
    if (rc < 0)
        return rc;
    if (!o || !json_object_is_type(o, json_type_string) || json_object_get_string_len(o) == 0)
        rc = shape_error(path, "a host id", o, e);
    else
        rc = dup_string(o, out, e);
    json_object_put(o);
    return rc;
}

int scylla_datacenter(scylla *s, char **out, cairn_err *e)
{
    return get_string(s, "/snitch/datacenter", out, e);
}

int scylla_rack(scylla *s, char **out, cairn_err *e)
{
    return get_string(s, "/snitch/rack", out, e);
}

int scylla_release_version(scylla *s, char **out, cairn_err *e)
{
    return get_string(s, "/storage_service/scylla_release_version", out, e);
}

int scylla_cluster_name(scylla *s, char **out, cairn_err *e)
{
    return get_string(s, "/storage_service/cluster_name", out, e);
}

int scylla_data_dirs(scylla *s, char ***items, size_t *n, cairn_err *e)
{
    return get_strv(s, "/storage_service/data_file/locations", items, n, e);
}

void scylla_ring_free(scylla_endpoint *eps, size_t n)
{
    if (!eps)
        return;
    for (size_t i = 0; i < n; i++) {
        free(eps[i].address);
        free(eps[i].host_id);
    }
    free(eps);
}

static bool strv_has(char **v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

static int ring_from_json(json_object *map, char **live, size_t nlive, char **down, size_t ndown,
                          scylla_endpoint **eps, size_t *n, cairn_err *e)
{
    static const char path[] = "/storage_service/host_id";
    if (!map || !json_object_is_type(map, json_type_array))
        return shape_error(path, "a list of {key, value}", map, e);
    size_t len = json_object_array_length(map);
    scylla_endpoint *v = calloc(len ? len : 1, sizeof(*v));
    if (!v)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    for (size_t i = 0; i < len; i++) {
        json_object *it = json_object_array_get_idx(map, i), *k = NULL, *val = NULL;
        if (!json_object_is_type(it, json_type_object) ||
            !json_object_object_get_ex(it, "key", &k) ||
            !json_object_object_get_ex(it, "value", &val) ||
            !json_object_is_type(k, json_type_string) ||
            !json_object_is_type(val, json_type_string)) {
            scylla_ring_free(v, len);
            return shape_error(path, "a {key, value} pair of strings", it, e);
        }
        int rc = dup_string(k, &v[i].address, e);
        if (rc == 0)
            rc = dup_string(val, &v[i].host_id, e);
        if (rc < 0) {
            scylla_ring_free(v, len);
            return rc;
        }
        v[i].up = strv_has(live, nlive, v[i].address) && !strv_has(down, ndown, v[i].address);
    }
    *eps = v;
    *n = len;
    return 0;
}

int scylla_ring(scylla *s, scylla_endpoint **eps, size_t *n, cairn_err *e)
{
    *eps = NULL;
    *n = 0;
    json_object *map = NULL;
    char **live = NULL, **down = NULL;
    size_t nlive = 0, ndown = 0;
    int rc = scylla_call(s, "GET", "/storage_service/host_id", SCYLLA_CALL_QUICK, &map, e);
    if (rc == 0)
        rc = get_strv(s, "/gossiper/endpoint/live/", &live, &nlive, e);
    if (rc == 0)
        rc = get_strv(s, "/gossiper/endpoint/down/", &down, &ndown, e);
    if (rc == 0)
        rc = ring_from_json(map, live, nlive, down, ndown, eps, n, e);
    json_object_put(map);
    scylla_strv_free(live, nlive);
    scylla_strv_free(down, ndown);
    return rc;
}

int scylla_tokens(scylla *s, const char *endpoint_or_null, char ***items, size_t *n, cairn_err *e)
{
    if (!endpoint_or_null)
        return get_strv(s, "/storage_service/tokens", items, n, e);
    *items = NULL;
    *n = 0;
    if (!*endpoint_or_null)
        return err_set(e, CAIRN_EINVAL, "empty endpoint address");
    char *ep = scylla_escape_segment(endpoint_or_null), *path = NULL;
    if (!ep || asprintf(&path, "/storage_service/tokens/%s", ep) < 0) {
        free(ep);
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    }
    int rc = get_strv(s, path, items, n, e);
    free(ep);
    free(path);
    return rc;
}

int scylla_keyspaces(scylla *s, const char *type, char ***items, size_t *n, cairn_err *e)
{
    if (!type)
        return get_strv(s, "/storage_service/keyspaces", items, n, e);
    *items = NULL;
    *n = 0;
    if (strcmp(type, "user") != 0 && strcmp(type, "all") != 0 &&
        strcmp(type, "non_local_strategy") != 0)
        return err_set(e, CAIRN_EINVAL,
                       "unknown keyspace type '%s' (use user, all or non_local_strategy)", type);
    char path[64];
    snprintf(path, sizeof(path), "/storage_service/keyspaces?type=%s", type);
    return get_strv(s, path, items, n, e);
}

int scylla_keyspaces_replicated(scylla *s, const char *replication, char ***items, size_t *n,
                                cairn_err *e)
{
    *items = NULL;
    *n = 0;
    if (strcmp(replication, "tablets") != 0 && strcmp(replication, "vnodes") != 0)
        return err_set(e, CAIRN_EINVAL, "unknown replication '%s' (use tablets or vnodes)",
                       replication);
    char path[80];
    snprintf(path, sizeof(path), "/storage_service/keyspaces?type=user&replication=%s",
             replication);
    return get_strv(s, path, items, n, e);
}

int scylla_tables(scylla *s, char ***items, size_t *n, cairn_err *e)
{
    return get_strv(s, "/column_family/name", items, n, e);
}

static int check_name(const char *what, const char *name, cairn_err *e)
{
    if (!name || !*name)
        return err_set(e, CAIRN_EINVAL, "empty %s name", what);
    return 0;
}

/* Escaped, comma-joined names: ScyllaDB splits cf= on literal commas. */
static char *join_escaped(const char *const *names, size_t n)
{
    size_t cap = 1;
    for (size_t i = 0; i < n; i++)
        cap += strlen(names[i]) * 3 + 1;
    char *out = malloc(cap), *o = out;
    if (!out)
        return NULL;
    *o = '\0';
    for (size_t i = 0; i < n; i++) {
        char *x = scylla_escape(names[i]);
        if (!x) {
            free(out);
            return NULL;
        }
        o += sprintf(o, "%s%s", i ? "," : "", x);
        free(x);
    }
    return out;
}

/* The calls that make ScyllaDB work; a NULL path means building it ran out of memory. */
static int post_or_delete(scylla *s, const char *method, const char *path, scylla_call_kind kind,
                          cairn_err *e)
{
    if (!path)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    return scylla_call(s, method, path, kind, NULL, e);
}

static int check_tables(const char *const *tables, size_t ntables, cairn_err *e)
{
    for (size_t i = 0; i < ntables; i++) {
        int rc = check_name("table", tables ? tables[i] : NULL, e);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int scylla_flush(scylla *s, const char *keyspace, const char *const *tables, size_t ntables,
                 cairn_err *e)
{
    int rc = check_name("keyspace", keyspace, e);
    if (rc == 0)
        rc = check_tables(tables, ntables, e);
    if (rc < 0)
        return rc;
    char *ks = scylla_escape_segment(keyspace), *cf = join_escaped(tables, ntables), *path = NULL;
    if (ks && cf &&
        asprintf(&path, "/storage_service/keyspace_flush/%s%s%s", ks, ntables ? "?cf=" : "", cf) <
            0)
        path = NULL;
    rc = post_or_delete(s, "POST", path, SCYLLA_CALL_FLUSH, e);
    free(ks);
    free(cf);
    free(path);
    return rc;
}

/* /storage_service/snapshots?tag=..[&kn=..][&cf=..]<tail>, where cf is escaped already
 * ("" for none); NULL when out of memory. */
static char *snapshot_path(const char *tag, const char *keyspace_or_null, const char *cf,
                           const char *tail)
{
    char *t = scylla_escape(tag);
    char *ks = keyspace_or_null ? scylla_escape(keyspace_or_null) : strdup(""), *path = NULL;
    if (t && ks && cf &&
        asprintf(&path, "/storage_service/snapshots?tag=%s%s%s%s%s%s", t,
                 keyspace_or_null ? "&kn=" : "", ks, *cf ? "&cf=" : "", cf, tail) < 0)
        path = NULL;
    free(t);
    free(ks);
    return path;
}

int scylla_snapshot(scylla *s, const char *tag, const char *keyspace, const char *const *tables,
                    size_t ntables, bool skip_flush, cairn_err *e)
{
    int rc = check_name("snapshot tag", tag, e);
    if (rc == 0 && keyspace)
        rc = check_name("keyspace", keyspace, e);
    if (rc == 0 && !keyspace && ntables)
        rc = err_set(e, CAIRN_EINVAL, "a snapshot of chosen tables needs their keyspace");
    if (rc == 0)
        rc = check_tables(tables, ntables, e);
    if (rc < 0)
        return rc;
    char *cf = join_escaped(tables, ntables);
    char *path = snapshot_path(tag, keyspace, cf, skip_flush ? "&sf=true" : "");
    rc = post_or_delete(s, "POST", path, SCYLLA_CALL_SNAPSHOT, e);
    free(cf);
    free(path);
    return rc;
}

int scylla_snapshot_delete(scylla *s, const char *tag, const char *keyspace_or_null,
                           const char *table_or_null, cairn_err *e)
{
    int rc = check_name("snapshot tag", tag, e);
    if (rc == 0 && keyspace_or_null)
        rc = check_name("keyspace", keyspace_or_null, e);
    if (rc == 0 && table_or_null && !keyspace_or_null)
        rc = err_set(e, CAIRN_EINVAL, "deleting the snapshot of one table needs its keyspace");
    if (rc == 0 && table_or_null)
        rc = check_name("table", table_or_null, e);
    if (rc < 0)
        return rc;
    char *cf = table_or_null ? scylla_escape(table_or_null) : strdup("");
    char *path = snapshot_path(tag, keyspace_or_null, cf, "");
    rc = post_or_delete(s, "DELETE", path, SCYLLA_CALL_SNAPSHOT, e);
    free(cf);
    free(path);
    return rc;
}

int scylla_load_sstables(scylla *s, const char *keyspace, const char *table, bool load_and_stream,
                         bool primary_replica_only, cairn_err *e)
{
    int rc = check_name("keyspace", keyspace, e);
    if (rc == 0)
        rc = check_name("table", table, e);
    if (rc < 0)
        return rc;
    char *ks = scylla_escape_segment(keyspace), *cf = scylla_escape(table), *path = NULL;
    if (ks && cf &&
        asprintf(&path, "/storage_service/sstables/%s?cf=%s%s%s", ks, cf,
                 load_and_stream ? "&load_and_stream=true" : "",
                 primary_replica_only ? "&primary_replica_only=true" : "") < 0)
        path = NULL;
    free(ks);
    free(cf);
    if (!path)
        return err_set(e, CAIRN_ENOMEM, "out of memory");

    scylla_reply r;
    rc = scylla_perform(s, "POST", path, SCYLLA_CALL_LOAD, &r, e);
    if (rc == 0 && r.status >= 400 && r.body.len > 0 &&
        strstr((const char *)r.body.data, "Already loading SSTables")) {
        buf_free(&r.body);
        rc = err_set(
            e, CAIRN_EBUSY,
            "ScyllaDB is already loading SSTables, so loading %s.%s must wait; try again later",
            keyspace, table);
    } else if (rc == 0) {
        rc = scylla_finish("POST", path, &r, NULL, e);
    }
    free(path);
    return rc;
}

int scylla_snapshot_details(scylla *s, json_object **out, cairn_err *e)
{
    const char *path = "/storage_service/snapshots";
    *out = NULL;
    json_object *o = NULL;
    int rc = scylla_request(s, "GET", path, &o, e);
    if (rc)
        return rc;
    if (!json_object_is_type(o, json_type_array)) {
        rc = shape_error(path, "an array of snapshots", o, e);
        json_object_put(o);
        return rc;
    }
    *out = o;
    return 0;
}

int scylla_incremental_backups_get(scylla *s, bool *out, cairn_err *e)
{
    static const char path[] = "/storage_service/incremental_backups";
    json_object *o;
    int rc = scylla_call(s, "GET", path, SCYLLA_CALL_QUICK, &o, e);
    if (rc < 0)
        return rc;
    if (!o || !json_object_is_type(o, json_type_boolean))
        rc = shape_error(path, "a boolean", o, e);
    else
        *out = json_object_get_boolean(o);
    json_object_put(o);
    return rc;
}

int scylla_incremental_backups_set(scylla *s, bool enable, cairn_err *e)
{
    return post_or_delete(s, "POST",
                          enable ? "/storage_service/incremental_backups?value=true"
                                 : "/storage_service/incremental_backups?value=false",
                          SCYLLA_CALL_QUICK, e);
}
