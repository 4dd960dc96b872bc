#include "backup/schema_views.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scylla/names.h"

static bool user_keyspace(const char *ks)
{
    return ks && *ks && strncmp(ks, "system", 6) != 0;
}

int schema_views_note_index(schema_views *v, const char *keyspace_or_null, const char *name,
                            cairn_err *e)
{
    if (!user_keyspace(keyspace_or_null) || !name || !*name)
        return 0;
    if (v->n_index_views >= SCHEMA_VIEWS_MAX)
        return err_set(e, CAIRN_EINVAL, "more than %u indexes in the schema", SCHEMA_VIEWS_MAX);
    char **nv = realloc(v->index_views, (v->n_index_views + 1) * sizeof(*nv));
    if (!nv)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    v->index_views = nv;
    if (asprintf(&nv[v->n_index_views], "%s.%s_index", keyspace_or_null, name) < 0)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    v->n_index_views++;
    return 0;
}

/* The index whose view is ks.view, as a malloc'd name; NULL when it is a plain view. */
static char *index_of(const schema_views *v, const char *ks, const char *view)
{
    size_t kl = strlen(ks);
    for (size_t i = 0; i < v->n_index_views; i++) {
        const char *iv = v->index_views[i];
        if (strncmp(iv, ks, kl) == 0 && iv[kl] == '.' && strcmp(iv + kl + 1, view) == 0)
            return strndup(view, strlen(view) - strlen("_index"));
    }
    return NULL;
}

static char *value_dup(const cql_value *x)
{
    return x->len < 0 ? NULL : strndup((const char *)x->data, (size_t)x->len);
}

/* A row of system_schema.views: keyspace_name, view_name, base_table_name. */
static int view_row(void *ctx, size_t ncols, const cql_value *cols, cairn_err *e)
{
    schema_views *v = ctx;
    if (ncols != 3)
        return err_set(e, CAIRN_EPROTO, "system_schema.views answered %zu columns, not 3", ncols);
    char *ks = value_dup(&cols[0]), *name = value_dup(&cols[1]), *base = value_dup(&cols[2]);
    /* ScyllaDB's own, a row without a name, or a name no table of a backup can have
     * (Alternator's index views): not a table the backup could leave out. */
    bool skip = !ks || !name || !base || !user_keyspace(ks) || !name_valid(NAME_KEYSPACE, ks) ||
                !name_valid(NAME_TABLE, name) || !name_valid(NAME_TABLE, base);
    int rc = 0;
    Cairn__Repo__ViewEntry *ve = NULL, **nv = NULL;
    if (!skip && v->n_views >= SCHEMA_VIEWS_MAX)
        rc = err_set(e, CAIRN_EINVAL, "more than %u views in the schema", SCHEMA_VIEWS_MAX);
    else if (!skip && (!(nv = realloc(v->views, (v->n_views + 1) * sizeof(*nv))) ||
                       !(ve = malloc(sizeof(*ve)))))
        rc = err_set(e, CAIRN_ENOMEM, "out of memory");
    if (nv)
        v->views = nv;
    if (skip || rc) {
        free(ks);
        free(name);
        free(base);
        return rc;
    }
    cairn__repo__view_entry__init(ve);
    ve->keyspace = ks;
    ve->name = name;
    ve->base_table = base;
    ve->index = index_of(v, ks, name);
    v->views[v->n_views++] = ve;
    return 0;
}

int schema_views_query(schema_views *v, cql_conn *c, cairn_err *e)
{
    return cql_query(c, "SELECT keyspace_name, view_name, base_table_name FROM system_schema.views",
                     view_row, v, e);
}

void schema_views_free(schema_views *v)
{
    for (size_t i = 0; i < v->n_index_views; i++)
        free(v->index_views[i]);
    free(v->index_views);
    for (size_t i = 0; i < v->n_views; i++)
        cairn__repo__view_entry__free_unpacked(v->views[i], NULL);
    free(v->views);
    memset(v, 0, sizeof(*v));
}
