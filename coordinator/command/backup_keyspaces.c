/*
 * backup_keyspaces - the cluster manifest's keyspaces, from the schema dump's answer.
 */
#include "command/backup_keyspaces.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const Cairn__Repo__KeyspaceInfo *reported(const Cairn__Rpc__SchemaResult *res,
                                                 const char *name)
{
    for (size_t i = 0; i < res->n_keyspaces; i++)
        if (strcmp(res->keyspaces[i]->name, name) == 0)
            return res->keyspaces[i];
    return NULL;
}

static bool have(Cairn__Repo__KeyspaceInfo *const *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i]->name, name) == 0)
            return true;
    return false;
}

int backup_keyspaces(const Cairn__Rpc__SchemaResult *res, Cairn__Rpc__Table *const *tables,
                     size_t n, Cairn__Repo__KeyspaceInfo ***out, size_t *n_out, cairn_err *e)
{
    *out = NULL;
    *n_out = 0;
    if (!res->n_keyspaces || !n)
        return 0;
    Cairn__Repo__KeyspaceInfo **v = calloc(n, sizeof(*v));
    if (!v)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    size_t k = 0;
    for (size_t t = 0; t < n; t++) {
        const Cairn__Repo__KeyspaceInfo *r = reported(res, tables[t]->keyspace);
        if (!r || have(v, k, r->name))
            continue;
        Cairn__Repo__KeyspaceInfo *x = malloc(sizeof(*x));
        if (x) {
            cairn__repo__keyspace_info__init(x);
            x->has_tablets = 1;
            x->tablets = r->has_tablets && r->tablets;
            x->name = strdup(r->name);
        }
        if (!x || !x->name) {
            free(x);
            backup_keyspaces_free(v, k);
            return err_set(e, CAIRN_ENOMEM, "out of memory");
        }
        v[k++] = x;
    }
    *out = v;
    *n_out = k;
    return 0;
}

void backup_keyspaces_free(Cairn__Repo__KeyspaceInfo **v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i]->name);
        free(v[i]);
    }
    free(v);
}
