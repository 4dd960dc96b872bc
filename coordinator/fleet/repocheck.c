#include "fleet/repocheck.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/debug.h"

#define SHARED_HINT                                                                                \
    "every node must see the same repository as the coordinator: for file://, one shared "         \
    "file system (NFS or similar) mounted at the same path on every node and on the "              \
    "operator's machine (docs/storage.md)"

typedef struct repocheck_run {
    const char *url;
    const char *want_id;
    bool remembered;    /* an agent may answer from what it read before */
    char **msgs;        /* per agent: the problem, or NULL */
    store_counts *cost; /* per agent: the requests its check cost */
} repocheck_run;

static char *describe_problem(const fleet_agent *a, const char *what)
{
    char buf[2400];
    snprintf(buf, sizeof(buf), "node %s (agent %s): %s; " SHARED_HINT, a->info->host_id, a->addr,
             what);
    return strdup(buf);
}

static void ask_one(fleet *f, size_t i, void *arg)
{
    repocheck_run *run = arg;
    const fleet_agent *a = fleet_get(f, i);
    Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;
    Cairn__Rpc__RepositoryRequest rr = CAIRN__RPC__REPOSITORY_REQUEST__INIT;
    rr.repository = (char *)run->url;
    if (run->remembered)
        rr.repository_id = (char *)run->want_id;
    rq.op_case = CAIRN__RPC__REQUEST__OP_REPOSITORY;
    rq.repository = &rr;
    Cairn__Rpc__Response *resp = NULL;
    cairn_err e;
    err_clear(&e);
    char what[1400];
    if (fleet_call(f, i, &rq, &resp, fleet_timeout_ms(f), &e) != 0) {
        snprintf(what, sizeof(what), "cannot open repository %s: %s", run->url, e.msg);
        run->msgs[i] = describe_problem(a, what);
        return;
    }
    if (resp->result_case != CAIRN__RPC__RESPONSE__RESULT_REPOSITORY) {
        run->msgs[i] = describe_problem(a, "answered the repository request without an id: is "
                                           "the agent older than the coordinator?");
    } else if (fleet_requests_add(&run->cost[i], resp->repository->requests),
               strcmp(resp->repository->id, run->want_id) != 0) {
        snprintf(what, sizeof(what),
                 "sees another repository at %s (id %s, the coordinator's "
                 "is %s)",
                 run->url, resp->repository->id, run->want_id);
        run->msgs[i] = describe_problem(a, what);
    }
    cairn__rpc__response__free_unpacked(resp, NULL);
}

size_t repocheck_agents(fleet *f, const char *url, const char *want_id, bool remembered,
                        unsigned parallel, repocheck_problem_fn problem, void *ctx,
                        store_counts *cost)
{
    size_t n = fleet_size(f), k = 0, bad = 0;
    size_t *idx = calloc(n ? n : 1, sizeof(*idx));
    repocheck_run run = {.url = url,
                         .want_id = want_id,
                         .remembered = remembered,
                         .msgs = calloc(n ? n : 1, sizeof(char *)),
                         .cost = calloc(n ? n : 1, sizeof(store_counts))};
    if (!idx || !run.msgs || !run.cost) {
        free(idx);
        free(run.msgs);
        free(run.cost);
        problem(ctx, "out of memory checking the agents' repository");
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        if (fleet_get(f, i)->info)
            idx[k++] = i;
    fleet_each(f, idx, k, parallel, ask_one, &run);
    for (size_t i = 0; i < n; i++) {
        if (cost)
            store_counts_add(cost, &run.cost[i]);
        if (!run.msgs[i])
            continue;
        problem(ctx, run.msgs[i]);
        free(run.msgs[i]);
        bad++;
    }
    free(idx);
    free(run.msgs);
    free(run.cost);
    return bad;
}
