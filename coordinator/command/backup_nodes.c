#include "command/backup_nodes.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/log.h"

#define CLEAR_TIMEOUT_MS 10000

static void call_all(const backup_nodes *s, fleet_fn fn)
{
    size_t *idx = malloc(s->n * sizeof(size_t));
    if (!idx)
        return;
    for (size_t i = 0; i < s->n; i++) {
        idx[i] = i;
        s->nodes[i].failed = false;
    }
    fleet_each(s->f, idx, s->n, (unsigned)s->n, fn, (void *)s);
    free(idx);
}

static void flush_one(fleet *f, size_t i, void *arg)
{
    const backup_nodes *s = arg;
    backup_node *nr = &s->nodes[i];
    Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;
    Cairn__Rpc__FlushRequest fr = CAIRN__RPC__FLUSH_REQUEST__INIT;
    fr.tables = s->tables;
    fr.n_tables = s->n_tables;
    rq.op_case = CAIRN__RPC__REQUEST__OP_FLUSH;
    rq.flush = &fr;
    if (fleet_call_ok(f, nr->agent, &rq, fleet_timeout_ms(f) * 10, &nr->err) != 0)
        nr->failed = true;
}

static void snapshot_one(fleet *f, size_t i, void *arg)
{
    const backup_nodes *s = arg;
    backup_node *nr = &s->nodes[i];
    Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;
    Cairn__Rpc__SnapshotRequest sr = CAIRN__RPC__SNAPSHOT_REQUEST__INIT;
    sr.tag = (char *)s->tag;
    sr.tables = s->tables;
    sr.n_tables = s->n_tables;
    sr.has_skip_flush = 1;
    sr.skip_flush = 1;
    rq.op_case = CAIRN__RPC__REQUEST__OP_SNAPSHOT;
    rq.snapshot = &sr;
    Cairn__Rpc__Response *resp = NULL;
    if (fleet_call(f, nr->agent, &rq, &resp, fleet_timeout_ms(f), &nr->err) != 0) {
        nr->failed = true;
        return;
    }
    if (resp->result_case == CAIRN__RPC__RESPONSE__RESULT_SNAPSHOT)
        nr->snapshot_ms = resp->snapshot->time_ms;
    cairn__rpc__response__free_unpacked(resp, NULL);
}

static void clear_one(fleet *f, size_t i, void *arg)
{
    const backup_nodes *s = arg;
    Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;
    Cairn__Rpc__ClearSnapshotRequest cr = CAIRN__RPC__CLEAR_SNAPSHOT_REQUEST__INIT;
    cr.tag = (char *)s->tag;
    rq.op_case = CAIRN__RPC__REQUEST__OP_CLEAR_SNAPSHOT;
    rq.clear_snapshot = &cr;
    cairn_err e;
    /* A node that does not answer soon keeps its snapshot, and the warning says which. */
    long ms = fleet_timeout_ms(f) < CLEAR_TIMEOUT_MS ? fleet_timeout_ms(f) : CLEAR_TIMEOUT_MS;
    if (fleet_call_ok(f, s->nodes[i].agent, &rq, ms, &e) != 0)
        log_warn("could not clear snapshot %s (remove it with nodetool clearsnapshot -t %s): %s",
                 s->tag, s->tag, e.msg);
}

static int gather_failures(const backup_nodes *s, const char *step, size_t *failed, cairn_err *e)
{
    int rc = 0;
    for (size_t i = 0; i < s->n; i++) {
        const backup_node *nr = &s->nodes[i];
        if (!nr->failed)
            continue;
        (*failed)++;
        const fleet_agent *a = fleet_get(s->f, nr->agent);
        fprintf(stderr, "cairn backup: %s failed on node %s: %s\n", step,
                a->info ? a->info->host_id : a->addr, nr->err.msg);
        if (!rc)
            rc = err_set(e, nr->err.code ? nr->err.code : CAIRN_EREMOTE,
                         "%s failed on node %s (%s): %s", step, a->info ? a->info->host_id : "?",
                         a->addr, nr->err.msg);
    }
    return rc;
}

int backup_nodes_flush(const backup_nodes *s, size_t *failed, cairn_err *e)
{
    call_all(s, flush_one);
    return gather_failures(s, "flush", failed, e);
}

int backup_nodes_snapshot(const backup_nodes *s, size_t *failed, cairn_err *e)
{
    call_all(s, snapshot_one);
    return gather_failures(s, "snapshot", failed, e);
}

void backup_nodes_clear(const backup_nodes *s)
{
    call_all(s, clear_one);
}

uint64_t backup_nodes_spread(const backup_nodes *s)
{
    uint64_t lo = UINT64_MAX, hi = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->nodes[i].snapshot_ms < lo)
            lo = s->nodes[i].snapshot_ms;
        if (s->nodes[i].snapshot_ms > hi)
            hi = s->nodes[i].snapshot_ms;
    }
    return s->n ? hi - lo : 0;
}
