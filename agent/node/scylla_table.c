/* scylla_table - the per-table calls of the REST API a restore needs beside the load:
 * the tombstone GC switch and the state of a view's build. */
#include "node/scylla.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/scylla_http.h"

/* "<prefix>/<keyspace>:<table>", both escaped as path segments; NULL on OOM. */
static char *table_path(const char *prefix, const char *keyspace, const char *table,
                        const char *sep)
{
    char *ks = scylla_escape_segment(keyspace), *cf = scylla_escape_segment(table), *path = NULL;
    if (ks && cf && asprintf(&path, "%s/%s%s%s", prefix, ks, sep, cf) < 0)
        path = NULL;
    free(ks);
    free(cf);
    return path;
}

int scylla_tombstone_gc_get(scylla *s, const char *keyspace, const char *table, bool *on,
                            cairn_err *e)
{
    char *path = table_path("/column_family/tombstone_gc", keyspace, table, ":");
    if (!path)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    scylla_reply r;
    int rc = scylla_perform(s, "GET", path, SCYLLA_CALL_QUICK, &r, e);
    if (rc == 0 && r.status == 404) {
        buf_free(&r.body);
        rc = err_set(e, CAIRN_ENOENT, "this ScyllaDB has no tombstone GC switch (GET %s: 404)",
                     path);
    } else if (rc == 0) {
        json_object *o = NULL;
        rc = scylla_finish("GET", path, &r, &o, e);
        if (rc == 0 && !json_object_is_type(o, json_type_boolean))
            rc = err_set(e, CAIRN_EPROTO,
                         "ScyllaDB answered GET %s with something else than a "
                         "boolean",
                         path);
        else if (rc == 0)
            *on = json_object_get_boolean(o);
        json_object_put(o);
    }
    free(path);
    return rc;
}

int scylla_tombstone_gc_set(scylla *s, const char *keyspace, const char *table, bool on,
                            cairn_err *e)
{
    char *path = table_path("/column_family/tombstone_gc", keyspace, table, ":");
    if (!path)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    int rc = scylla_call(s, on ? "POST" : "DELETE", path, SCYLLA_CALL_QUICK, NULL, e);
    free(path);
    return rc;
}

int scylla_view_build(scylla *s, const char *keyspace, const char *view, size_t *nodes,
                      size_t *built, cairn_err *e)
{
    *nodes = *built = 0;
    char *path = table_path("/storage_service/view_build_statuses", keyspace, view, "/");
    if (!path)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    json_object *o = NULL;
    int rc = scylla_call(s, "GET", path, SCYLLA_CALL_QUICK, &o, e);
    size_t len =
        rc == 0 && json_object_is_type(o, json_type_array) ? json_object_array_length(o) : 0;
    if (rc == 0 && !json_object_is_type(o, json_type_array))
        rc = err_set(e, CAIRN_EPROTO, "ScyllaDB answered GET %s with something else than a list",
                     path);
    for (size_t i = 0; rc == 0 && i < len; i++) {
        json_object *it = json_object_array_get_idx(o, i), *v = NULL;
        if (!json_object_object_get_ex(it, "value", &v) ||
            !json_object_is_type(v, json_type_string))
            rc = err_set(e, CAIRN_EPROTO, "ScyllaDB answered GET %s with an entry without a state",
                         path);
        else if (strcmp(json_object_get_string(v), "SUCCESS") == 0)
            (*built)++;
    }
    if (rc == 0)
        *nodes = len;
    json_object_put(o);
    free(path);
    return rc;
}
