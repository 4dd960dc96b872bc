#include "command/backup_views.h"

#include <stdbool.h>
#include <string.h>

static bool is_view(const Cairn__Rpc__SchemaResult *res, const Cairn__Rpc__Table *t)
{
    for (size_t i = 0; i < res->n_views; i++)
        if (strcmp(res->views[i]->keyspace, t->keyspace) == 0 &&
            strcmp(res->views[i]->name, t->name) == 0)
            return true;
    return false;
}

size_t backup_views_leave_out(const Cairn__Rpc__SchemaResult *res, Cairn__Rpc__Table **tables,
                              size_t *n)
{
    size_t kept = 0, had = *n;
    for (size_t i = 0; i < had; i++)
        if (!is_view(res, tables[i]))
            tables[kept++] = tables[i];
    *n = kept;
    return had - kept;
}
