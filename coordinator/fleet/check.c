#include "fleet/check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/debug.h"
#include "fleet/repocheck.h"
#include "repo/repo.h"

static int add_problem(check_result *r, const char *fmt, ...)
{
    char buf[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    char **np = realloc(r->problems, (r->n_problems + 1) * sizeof(char *));
    if (!np)
        return CAIRN_ENOMEM;
    r->problems = np;
    if (!(np[r->n_problems] = strdup(buf)))
        return CAIRN_ENOMEM;
    r->n_problems++;
    return 0;
}

static check_node *find_node(check_result *r, const char *host_id)
{
    for (size_t i = 0; i < r->n_nodes; i++)
        if (r->nodes[i].host_id && strcmp(r->nodes[i].host_id, host_id) == 0)
            return &r->nodes[i];
    return NULL;
}

static check_node *add_node(check_result *r, size_t cap)
{
    /* cap counts every agent and every ring member reported: a node is one of them */
    CAIRN_ASSERT(r->n_nodes < cap);
    check_node *n = &r->nodes[r->n_nodes++];
    memset(n, 0, sizeof(*n));
    n->up = true;
    return n;
}

const char *check_fault_label(check_fault f)
{
    switch (f) {
    case CHECK_FAULT_NONE:
        return "ok";
    case CHECK_FAULT_DOWN:
        return "agent down";
    case CHECK_FAULT_SILENT:
        return "not answering";
    case CHECK_FAULT_TLS:
        return "TLS refused";
    case CHECK_FAULT_CLUSTER:
        return "cluster mismatch";
    case CHECK_FAULT_SCYLLA:
        return "ScyllaDB not answering";
    default:
        return "unreachable";
    }
}

/* An error in the agent's answer is about its node; one before it, about the agent or
 * the way to it. */
static check_fault classify(const fleet_agent *a)
{
    int code = a->err.code;
    if (a->answered && code == CAIRN_EMISMATCH)
        return CHECK_FAULT_CLUSTER;
    if (a->answered)
        return code == CAIRN_ECONN || code == CAIRN_ETIMEDOUT ? CHECK_FAULT_SCYLLA
                                                              : CHECK_FAULT_OTHER;
    if (code == CAIRN_ETIMEDOUT)
        return CHECK_FAULT_SILENT;
    if (code == CAIRN_EAUTH)
        return CHECK_FAULT_TLS;
    return code == CAIRN_ECONN ? CHECK_FAULT_DOWN : CHECK_FAULT_OTHER;
}

/* The host part of a host:port agent address, without IPv6 brackets. */
static void agent_host(const char *addr, char *out, size_t cap)
{
    const char *colon = strrchr(addr, ':');
    size_t len = colon ? (size_t)(colon - addr) : strlen(addr);
    if (addr[0] == '[' && len >= 2)
        addr++, len -= 2;
    snprintf(out, cap, "%.*s", (int)len, addr);
}

/* One problem per unreachable agent: what is wrong, and the one fix that applies. */
static int add_fault_problem(check_result *r, const fleet_agent *a, check_fault f)
{
    char host[256];
    agent_host(a->addr, host, sizeof(host));
    switch (f) {
    case CHECK_FAULT_DOWN:
        return add_problem(r, "agent %s is down (%s): start cairn-agent on %s", a->addr, a->err.msg,
                           host);
    case CHECK_FAULT_SILENT:
        return add_problem(r,
                           "agent %s is not answering (%s): see whether cairn-agent on %s is "
                           "stopped or overloaded, or the network to it cut",
                           a->addr, a->err.msg, host);
    case CHECK_FAULT_TLS:
        return add_problem(r,
                           "agent %s refused the TLS handshake (%s): its certificate is not "
                           "signed by this cluster's CA or does not name %s: issue one with "
                           "`cairn certs issue --agent %s` and restart the agent",
                           a->addr, a->err.msg, host, host);
    case CHECK_FAULT_CLUSTER:
        return add_problem(r,
                           "agent %s serves another cluster (%s): set its agent.yaml's `cluster` "
                           "to this configuration's name, or list it in its own cluster's "
                           "configuration",
                           a->addr, a->err.msg);
    case CHECK_FAULT_SCYLLA:
        return add_problem(r,
                           "ScyllaDB on %s does not answer its agent (%s): start scylla-server "
                           "on %s",
                           host, a->err.msg, host);
    default:
        return add_problem(r, "%s", a->err.msg);
    }
}

/* The nodes that have an agent: one per reachable agent, each host id once. */
static int add_agents(fleet *f, check_result *r, size_t cap)
{
    int rc = 0;
    const char *scylla_cluster = NULL;
    for (size_t i = 0; !rc && i < fleet_size(f); i++) {
        fleet_agent *a = fleet_get(f, i);
        if (!a->info) {
            check_node *n = add_node(r, cap);
            n->agent = CHECK_AGENT_UNREACHABLE;
            n->agent_addr = a->addr;
            n->agent_index = i;
            n->up = false;
            n->fault = classify(a);
            rc = add_fault_problem(r, a, n->fault);
            continue;
        }
        check_node *dup = find_node(r, a->info->host_id);
        if (dup) {
            rc = add_problem(r,
                             "agents %s and %s both serve host id %s: each node needs its own "
                             "agent, pointed at its own ScyllaDB",
                             dup->agent_addr, a->addr, a->info->host_id);
            continue;
        }
        if (!scylla_cluster) {
            scylla_cluster = a->info->scylla_cluster;
        } else if (strcmp(scylla_cluster, a->info->scylla_cluster) != 0) {
            rc = add_problem(r,
                             "agent %s reports ScyllaDB cluster '%s', others '%s': is it "
                             "listed in the right cluster configuration?",
                             a->addr, a->info->scylla_cluster, scylla_cluster);
        }
        check_node *n = add_node(r, cap);
        n->host_id = a->info->host_id;
        n->address = a->info->address;
        n->dc = a->info->dc;
        n->rack = a->info->rack;
        n->version = a->info->scylla_version;
        n->agent = CHECK_AGENT_OK;
        n->agent_addr = a->addr;
        n->agent_index = i;
        n->rtt_ms = a->rtt_ms;
    }
    return rc;
}

/* The unreachable agent configured on the host of ring member address, if any: it is
 * the member's agent, just not answering. */
static check_node *unreachable_on(check_result *r, const char *address)
{
    size_t al = strlen(address);
    for (size_t i = 0; i < r->n_nodes; i++) {
        check_node *n = &r->nodes[i];
        if (n->agent != CHECK_AGENT_UNREACHABLE || n->host_id || !n->agent_addr)
            continue;
        const char *h = n->agent_addr;
        const char *colon = strrchr(h, ':');
        if (h[0] == '[')
            h++, colon = colon && colon > h ? colon - 1 : colon;
        if (colon && (size_t)(colon - h) == al && strncmp(h, address, al) == 0)
            return n;
    }
    return NULL;
}

static bool any_unreachable(const check_result *r)
{
    for (size_t i = 0; i < r->n_nodes; i++)
        if (r->nodes[i].agent == CHECK_AGENT_UNREACHABLE)
            return true;
    return false;
}

/* The ring members the agents report: one without an agent, or down, is a problem. */
static int add_ring(fleet *f, check_result *r, size_t cap)
{
    int rc = 0;
    for (size_t i = 0; !rc && i < fleet_size(f); i++) {
        fleet_agent *a = fleet_get(f, i);
        if (!a->info)
            continue;
        for (size_t k = 0; !rc && k < a->info->n_ring; k++) {
            const Cairn__Rpc__RingMember *m = a->info->ring[k];
            check_node *n = find_node(r, m->host_id);
            if (!n && (n = unreachable_on(r, m->address)) != NULL) {
                /* Its agent was reported above; the node itself is known now. */
                n->host_id = m->host_id;
                n->address = m->address;
            } else if (!n && any_unreachable(r)) {
                /* Perhaps served by an agent that did not answer: its problem says what to
                 * fix, and advice to add an agent could be false. */
                n = add_node(r, cap);
                n->host_id = m->host_id;
                n->address = m->address;
                n->agent = CHECK_AGENT_MISSING;
                rc = add_problem(r,
                                 "node %s (%s) is in the ring and no answering agent serves it: "
                                 "it may be served by an agent above that is unreachable",
                                 m->host_id, m->address);
            } else if (!n) {
                n = add_node(r, cap);
                n->host_id = m->host_id;
                n->address = m->address;
                n->agent = CHECK_AGENT_MISSING;
                rc = add_problem(r,
                                 "node %s (%s) is in the ring but no agent in the "
                                 "configuration serves it: add its agent to `agents`",
                                 m->host_id, m->address);
            }
            if (!m->up && n->up) {
                n->up = false;
                rc = add_problem(r,
                                 "node %s (%s) is down, as seen by %s: bring it back or "
                                 "remove it from the ring before a backup",
                                 m->host_id, m->address, a->info->address);
            }
        }
    }
    return rc;
}

int check_cluster(fleet *f, check_result *r, cairn_err *e)
{
    memset(r, 0, sizeof(*r));
    fleet_describe(f);
    size_t na = fleet_size(f), cap = na;
    for (size_t i = 0; i < na; i++)
        if (fleet_get(f, i)->info)
            cap += fleet_get(f, i)->info->n_ring;
    r->nodes = calloc(cap ? cap : 1, sizeof(*r->nodes));
    if (!r->nodes)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    /* First the nodes that have an agent, then the ring members the agents report. */
    int rc = add_agents(f, r, cap);
    if (!rc)
        rc = add_ring(f, r, cap);
    if (rc) {
        check_result_free(r);
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    }
    r->ready = r->n_problems == 0;
    return 0;
}

typedef struct repo_problems {
    check_result *r;
    int rc;
} repo_problems;

static void add_repo_problem(void *ctx, const char *msg)
{
    repo_problems *rp = ctx;
    if (add_problem(rp->r, "%s", msg) != 0)
        rp->rc = CAIRN_ENOMEM;
}

int check_repository(fleet *f, const char *url, const struct store_options *o, unsigned parallel,
                     check_result *r, cairn_err *e)
{
    repo *rp = NULL;
    cairn_err oe;
    int rc = repo_open(&rp, url, o, false, &oe);
    if (rc == CAIRN_ENOENT)
        return 0;
    repo_problems p = {.r = r};
    if (rc)
        p.rc = add_problem(r, "the coordinator cannot open repository %s: %s", url, oe.msg);
    else
        repocheck_agents(f, url, repo_id(rp), false, parallel, add_repo_problem, &p, NULL);
    repo_close(rp);
    if (p.rc)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    r->ready = r->n_problems == 0;
    return 0;
}

void check_result_free(check_result *r)
{
    for (size_t i = 0; i < r->n_problems; i++)
        free(r->problems[i]);
    free(r->problems);
    free(r->nodes);
    memset(r, 0, sizeof(*r));
}

void check_print_problems(const check_result *r)
{
    for (size_t i = 0; i < r->n_problems; i++)
        fprintf(stderr, "problem: %s\n", r->problems[i]);
}
