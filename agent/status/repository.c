/*
 * repository - the repository as this agent sees it. Every agent must see the same
 * repository as the coordinator (for file://, one shared file system mounted at the
 * same path everywhere); the coordinator compares the id in cairn.repo each agent
 * reports before a backup uploads anything, and in `cairn status`.
 */
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "repo/repo.h"
#include "repos/repos.h"

int agent_repository_info(agent *a, const Cairn__Rpc__RepositoryRequest *rq,
                          Cairn__Rpc__Response *resp, cairn_err *e)
{
    repo *r = NULL;
    int rc = repos_repo_open(&r, a->cfg, rq->repository, rq->repository_id, e);
    if (rc)
        return rc;
    Cairn__Rpc__RepositoryInfo *info = malloc(sizeof(*info));
    if (info) {
        cairn__rpc__repository_info__init(info);
        info->id = strdup(repo_id(r));
        info->has_format = 1;
        info->format = REPO_FORMAT_VERSION;
        info->requests = repos_requests(r);
    }
    repo_close(r);
    if (!info || !info->id) {
        free(info);
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    }
    resp->result_case = CAIRN__RPC__RESPONSE__RESULT_REPOSITORY;
    resp->repository = info;
    return 0;
}
