#include "restore/view_builds.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int view_builds_add(Cairn__Rpc__ApplySchemaResult *res, const char *keyspace, const char *type,
                    const char *name)
{
    Cairn__Rpc__ViewBuild **nb = realloc(res->view_builds, (res->n_view_builds + 1) * sizeof(*nb));
    if (!nb)
        return CAIRN_ENOMEM;
    res->view_builds = nb;
    Cairn__Rpc__ViewBuild *b = calloc(1, sizeof(*b));
    if (!b)
        return CAIRN_ENOMEM;
    cairn__rpc__view_build__init(b);
    nb[res->n_view_builds++] = b;
    b->keyspace = strdup(keyspace);
    bool index = strcmp(type, "index") == 0;
    if (index && asprintf(&b->name, "%s_index", name) < 0)
        b->name = NULL;
    else if (!index)
        b->name = strdup(name);
    return b->keyspace && b->name ? 0 : CAIRN_ENOMEM;
}

int view_builds_watch(scylla *rest, Cairn__Rpc__ApplySchemaResult *res, cairn_err *e)
{
    for (int waited = 0;; waited += VIEW_BUILDS_POLL_MS) {
        bool all = true;
        for (size_t i = 0; i < res->n_view_builds; i++) {
            Cairn__Rpc__ViewBuild *b = res->view_builds[i];
            size_t nodes, built;
            int rc = scylla_view_build(rest, b->keyspace, b->name, &nodes, &built, e);
            if (rc)
                return err_prefix(e, "the build of view %s.%s", b->keyspace, b->name);
            b->nodes = (uint32_t)nodes;
            b->built = (uint32_t)built;
            all = all && nodes > 0 && built == nodes;
        }
        if (all || waited >= VIEW_BUILDS_WAIT_MS)
            return 0;
        usleep(VIEW_BUILDS_POLL_MS * 1000);
    }
}
