/*
 * schema_keyspaces - which keyspaces use tablets.
 *
 * The node is asked (REST keyspaces?replication=tablets, then =vnodes) rather than the
 * dump's CREATE KEYSPACE statements read, or system_schema.scylla_keyspaces queried:
 * the node answers the question itself in two small GETs, where the statements would
 * need CQL parsing of options that differ between versions (and whose default, with
 * no option, changed when tablets became the default), and the table has columns
 * older versions lack. A version that predates the filter ignores it and names every
 * keyspace in both answers: a keyspace named in both is taken as not using tablets,
 * which on such a version none can.
 */
#include "backup/schema_keyspaces.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static bool listed(char *const *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], name) == 0)
            return true;
    return false;
}

static int add(Cairn__Repo__KeyspaceInfo **out, size_t *n, const char *name, bool tablets,
               cairn_err *e)
{
    Cairn__Repo__KeyspaceInfo *k = malloc(sizeof(*k));
    if (!k)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    cairn__repo__keyspace_info__init(k);
    if (!(k->name = strdup(name))) {
        free(k);
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    }
    k->has_tablets = 1;
    k->tablets = tablets;
    out[(*n)++] = k;
    return 0;
}

int schema_keyspaces(scylla *rest, Cairn__Repo__KeyspaceInfo ***out, size_t *n, cairn_err *e)
{
    *out = NULL;
    *n = 0;
    char **tab = NULL, **vn = NULL;
    size_t ntab = 0, nvn = 0;
    int rc = scylla_keyspaces_replicated(rest, "tablets", &tab, &ntab, e);
    if (!rc)
        rc = scylla_keyspaces_replicated(rest, "vnodes", &vn, &nvn, e);
    Cairn__Repo__KeyspaceInfo **v = NULL;
    if (!rc && !(v = calloc(ntab + nvn ? ntab + nvn : 1, sizeof(*v))))
        rc = err_set(e, CAIRN_ENOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; !rc && i < nvn; i++)
        rc = add(v, &k, vn[i], false, e);
    for (size_t i = 0; !rc && i < ntab; i++)
        if (!listed(vn, nvn, tab[i]))
            rc = add(v, &k, tab[i], true, e);
    scylla_strv_free(tab, ntab);
    scylla_strv_free(vn, nvn);
    if (rc) {
        for (size_t i = 0; i < k; i++)
            cairn__repo__keyspace_info__free_unpacked(v[i], NULL);
        free(v);
        return err_prefix(e, "which keyspaces use tablets");
    }
    *out = v;
    *n = k;
    return 0;
}
