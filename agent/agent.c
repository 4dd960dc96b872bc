#include "handlers.h"

#include <malloc.h>
#include <stdlib.h>

#include "base/log.h"
#include "job/start.h"
#include "net/wire.h"
#include "request.h"

/* Requests at least this large are followed by malloc_trim. */
#define AGENT_TRIM_AFTER (1u << 20)

int agent_new(agent **out, const agent_config *cfg, cairn_err *e)
{
    agent *a = calloc(1, sizeof(*a));
    if (!a)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    a->cfg = cfg;
    /* The REST API answers locally; anything slower than this is a stuck node. */
    long timeout_ms = cfg->scylla_timeout_s > 0 ? cfg->scylla_timeout_s * 1000 : 120000;
    int rc = scylla_open(&a->rest, cfg->scylla_api, timeout_ms, e);
    if (!rc) /* a limit left unset (0) keeps the client's default */
        scylla_set_limits(a->rest, cfg->scylla_flush_timeout_s * 1000,
                          cfg->scylla_snapshot_timeout_s * 1000, cfg->scylla_load_timeout_s * 1000);
    if (!rc)
        rc = hashcache_open(&a->hashes, cfg->state_dir, e);
    if (!rc)
        rc = jobs_new(&a->jobs, e);
    /* A backup may keep upload_parallel cores busy, not more: the node's are ScyllaDB's. */
    if (!rc)
        rc = cores_new(&a->cores, (unsigned)cfg->upload_parallel, e);
    if (rc) {
        agent_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

void agent_free(agent *a)
{
    if (!a)
        return;
    jobs_free(a->jobs);
    cores_free(a->cores);
    if (a->hashes) {
        cairn_err e;
        if (hashcache_close(a->hashes, &e) != 0)
            log_warn("%s", e.msg);
    }
    scylla_close(a->rest);
    free(a);
}

static const char *op_name(Cairn__Rpc__Request__OpCase op)
{
    switch (op) {
    case CAIRN__RPC__REQUEST__OP_DESCRIBE:
        return "describe";
    case CAIRN__RPC__REQUEST__OP_FLUSH:
        return "flush";
    case CAIRN__RPC__REQUEST__OP_SNAPSHOT:
        return "snapshot";
    case CAIRN__RPC__REQUEST__OP_CLEAR_SNAPSHOT:
        return "clear-snapshot";
    case CAIRN__RPC__REQUEST__OP_SCHEMA:
        return "schema";
    case CAIRN__RPC__REQUEST__OP_UPLOAD:
        return "upload";
    case CAIRN__RPC__REQUEST__OP_JOB:
        return "job";
    case CAIRN__RPC__REQUEST__OP_RESTORE:
        return "restore";
    case CAIRN__RPC__REQUEST__OP_APPLY_SCHEMA:
        return "apply-schema";
    case CAIRN__RPC__REQUEST__OP_FORGET_RESTORE:
        return "forget-restore";
    case CAIRN__RPC__REQUEST__OP_CANCEL:
        return "cancel";
    case CAIRN__RPC__REQUEST__OP_REPOSITORY:
        return "repository";
    case CAIRN__RPC__REQUEST__OP_LIST_SNAPSHOTS:
        return "list-snapshots";
    case CAIRN__RPC__REQUEST__OP_PRUNE_BACKUPS:
        return "prune-backups";
    case CAIRN__RPC__REQUEST__OP_INCREMENTAL_BACKUPS:
        return "incremental-backups";
    default:
        return "unknown";
    }
}

static int dispatch(agent *a, const Cairn__Rpc__Request *rq, Cairn__Rpc__Response *resp,
                    cairn_err *e)
{
    switch (rq->op_case) {
    case CAIRN__RPC__REQUEST__OP_DESCRIBE:
        return agent_describe(a, resp, e);
    case CAIRN__RPC__REQUEST__OP_FLUSH:
        return agent_flush(a, rq->flush, e);
    case CAIRN__RPC__REQUEST__OP_SNAPSHOT:
        return agent_snapshot(a, rq->snapshot, resp, e);
    case CAIRN__RPC__REQUEST__OP_CLEAR_SNAPSHOT:
        return agent_clear_snapshot(a, rq->clear_snapshot, e);
    case CAIRN__RPC__REQUEST__OP_SCHEMA:
        return agent_schema(a, rq->schema, resp, e);
    case CAIRN__RPC__REQUEST__OP_UPLOAD:
        return agent_upload(a, rq->upload, resp, e);
    case CAIRN__RPC__REQUEST__OP_JOB:
        if (rq->job->has_wait_ms)
            jobs_wait(a->jobs, rq->job->job_id, rq->job->wait_ms);
        return job_reply(a->jobs, rq->job->job_id, resp, e);
    case CAIRN__RPC__REQUEST__OP_RESTORE:
        return agent_restore(a, rq->restore, resp, e);
    case CAIRN__RPC__REQUEST__OP_APPLY_SCHEMA:
        return agent_apply_schema(a, rq->apply_schema, resp, e);
    case CAIRN__RPC__REQUEST__OP_FORGET_RESTORE:
        return agent_forget_restore(a, rq->forget_restore, e);
    case CAIRN__RPC__REQUEST__OP_CANCEL:
        return job_cancel_reply(a->jobs, rq->cancel->job_id, resp, e);
    case CAIRN__RPC__REQUEST__OP_REPOSITORY:
        return agent_repository_info(a, rq->repository, resp, e);
    case CAIRN__RPC__REQUEST__OP_LIST_SNAPSHOTS:
        return agent_list_snapshots(a, resp, e);
    case CAIRN__RPC__REQUEST__OP_PRUNE_BACKUPS:
        return agent_prune_backups(a, rq->prune_backups, resp, e);
    case CAIRN__RPC__REQUEST__OP_INCREMENTAL_BACKUPS:
        return agent_incremental_backups(a, rq->incremental_backups, e);
    default:
        return err_set(e, CAIRN_EPROTO,
                       "unknown request: the coordinator is newer than this agent; upgrade it");
    }
}

/* Frees whatever a handler allocated into resp's result. */
static void response_clear(Cairn__Rpc__Response *resp)
{
    switch (resp->result_case) {
    case CAIRN__RPC__RESPONSE__RESULT_NODE:
        /* Built with the unpack-compatible allocator: see describe.c. */
        cairn__rpc__node_info__free_unpacked(resp->node, NULL);
        break;
    case CAIRN__RPC__RESPONSE__RESULT_SNAPSHOT:
        free(resp->snapshot);
        break;
    case CAIRN__RPC__RESPONSE__RESULT_SCHEMA:
        free(resp->schema->blob);
        free(resp->schema);
        break;
    case CAIRN__RPC__RESPONSE__RESULT_JOB:
        jobs_info_clear(resp->job);
        free(resp->job);
        break;
    case CAIRN__RPC__RESPONSE__RESULT_APPLY_SCHEMA:
        cairn__rpc__apply_schema_result__free_unpacked(resp->apply_schema, NULL);
        break;
    case CAIRN__RPC__RESPONSE__RESULT_REPOSITORY:
        cairn__rpc__repository_info__free_unpacked(resp->repository, NULL);
        break;
    case CAIRN__RPC__RESPONSE__RESULT_SNAPSHOTS: /* malloc'd throughout: snapshots.c */
        cairn__rpc__snapshot_list__free_unpacked(resp->snapshots, NULL);
        break;
    case CAIRN__RPC__RESPONSE__RESULT_PRUNED:
        free(resp->pruned);
        break;
    default:
        break;
    }
    resp->result_case = CAIRN__RPC__RESPONSE__RESULT__NOT_SET;
}

int agent_handle(void *ctx, const uint8_t *req, size_t len, uint8_t **out, size_t *out_len)
{
    agent *a = ctx;
    Cairn__Rpc__Request *rq = NULL;
    Cairn__Rpc__Response resp = CAIRN__RPC__RESPONSE__INIT;
    cairn_err e;
    err_clear(&e);
    int rc = wire_unpack_request(req, len, a->cfg->cluster, &rq, &e);
    if (rc) {
        log_warn("refused a request: %s", e.msg);
    } else {
        log_debug("request %llu: %s", (unsigned long long)rq->request_id, op_name(rq->op_case));
        rc = request_check(rq, &e);
        if (!rc)
            rc = dispatch(a, rq, &resp, &e);
        if (rc && rq->op_case != CAIRN__RPC__REQUEST__OP_JOB)
            log_warn("%s failed: %s", op_name(rq->op_case), e.msg);
        /* The return code decides: a handler may leave notes in e and still succeed. */
        if (!rc)
            err_clear(&e);
        else if (!e.code)
            err_set(&e, rc, "%s", err_name(rc));
    }
    cairn_err pack_err;
    rc = wire_pack_response(&resp, a->cfg->cluster, rq ? rq->request_id : 0, &e, out, out_len,
                            &pack_err);
    if (rc)
        log_error("%s", pack_err.msg);
    response_clear(&resp);
    if (rq)
        cairn__rpc__request__free_unpacked(rq, NULL);
    /* A large request was decoded into many small blocks in this worker's arena;
     * give them back now rather than keep them as the agent's size. */
    if (len >= AGENT_TRIM_AFTER)
        malloc_trim(0);
    return rc;
}
