/* snapshot - flush, snapshot, snapshot removal and the incremental backups setting on
 * the local node. */
#include "handlers.h"

#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "scylla/names.h"

static uint64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

static int check_tables(Cairn__Rpc__Table *const *t, size_t n, cairn_err *e)
{
    for (size_t i = 0; i < n; i++) {
        int rc = name_check_table(t[i]->keyspace, t[i]->name, e);
        if (rc)
            return rc;
    }
    return 0;
}

/* Calls fn once per keyspace with that keyspace's tables; requests arrive grouped by
 * keyspace, but nothing depends on it. */
typedef int (*per_keyspace_fn)(agent *a, const char *ks, const char *const *tables, size_t n,
                               void *arg, cairn_err *e);

static int for_each_keyspace(agent *a, Cairn__Rpc__Table *const *t, size_t n, per_keyspace_fn fn,
                             void *arg, cairn_err *e)
{
    const char **names = calloc(n ? n : 1, sizeof(*names));
    bool *done = calloc(n ? n : 1, sizeof(*done));
    int rc = (names && done) ? 0 : err_set(e, CAIRN_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < n; i++) {
        if (done[i])
            continue;
        size_t k = 0;
        for (size_t j = i; j < n; j++) {
            if (!done[j] && strcmp(t[j]->keyspace, t[i]->keyspace) == 0) {
                names[k++] = t[j]->name;
                done[j] = true;
            }
        }
        rc = fn(a, t[i]->keyspace, names, k, arg, e);
    }
    free(names);
    free(done);
    return rc;
}

static int flush_one(agent *a, const char *ks, const char *const *tables, size_t n, void *arg,
                     cairn_err *e)
{
    return scylla_flush(a->rest, ks, tables, n, e);
}

int agent_flush(agent *a, const Cairn__Rpc__FlushRequest *rq, cairn_err *e)
{
    int rc = check_tables(rq->tables, rq->n_tables, e);
    return rc ? rc : for_each_keyspace(a, rq->tables, rq->n_tables, flush_one, NULL, e);
}

static int snapshot_one(agent *a, const char *ks, const char *const *tables, size_t n, void *arg,
                        cairn_err *e)
{
    const Cairn__Rpc__SnapshotRequest *rq = arg;
    return scylla_snapshot(a->rest, rq->tag, ks, tables, n, rq->skip_flush, e);
}

int agent_snapshot(agent *a, const Cairn__Rpc__SnapshotRequest *rq, Cairn__Rpc__Response *resp,
                   cairn_err *e)
{
    int rc = name_check(NAME_TAG, rq->tag, e);
    if (!rc)
        rc = check_tables(rq->tables, rq->n_tables, e);
    if (!rc)
        rc = for_each_keyspace(a, rq->tables, rq->n_tables, snapshot_one, (void *)rq, e);
    if (rc)
        return rc;
    Cairn__Rpc__SnapshotResult *r = malloc(sizeof(*r));
    if (!r)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    cairn__rpc__snapshot_result__init(r);
    r->time_ms = now_ms();
    resp->result_case = CAIRN__RPC__RESPONSE__RESULT_SNAPSHOT;
    resp->snapshot = r;
    return 0;
}

int agent_clear_snapshot(agent *a, const Cairn__Rpc__ClearSnapshotRequest *rq, cairn_err *e)
{
    int rc = name_check(NAME_TAG, rq->tag, e);
    return rc ? rc : scylla_snapshot_delete(a->rest, rq->tag, NULL, NULL, e);
}

int agent_incremental_backups(agent *a, const Cairn__Rpc__IncrementalBackupsRequest *rq,
                              cairn_err *e)
{
    return scylla_incremental_backups_set(a->rest, rq->enable, e);
}
