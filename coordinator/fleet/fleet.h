/*
 * fleet - the coordinator's connections to every agent of the cluster.
 *
 * Work fans out to all agents at once, bounded by `parallel` so that a 1,000-node
 * cluster does not open 1,000 handshakes in the same instant. A failure is kept per
 * agent; one broken node never hides the state of the others.
 */
#ifndef CAIRN_FLEET_H
#define CAIRN_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent.pb-c.h"
#include "coord_config.h"
#include "base/err.h"
#include "store/store.h"

typedef struct fleet_agent {
    const char *addr;           /* host:port as configured */
    Cairn__Rpc__NodeInfo *info; /* from the last describe, or NULL */
    cairn_err err;              /* why the agent is unusable, if it is */
    bool answered;              /* err came in the agent's answer to the last describe */
    long rtt_ms;                /* round trip of the describe request */
} fleet_agent;

typedef struct fleet fleet;

int fleet_open(fleet **out, const coord_config *cfg, cairn_err *e);
void fleet_close(fleet *f);

size_t fleet_size(const fleet *f);
fleet_agent *fleet_get(fleet *f, size_t i);

/* Connects to every agent and asks it to describe its node, all in parallel. */
void fleet_describe(fleet *f);

/* Runs fn(f, i, arg) for every i in idx (all agents when idx is NULL), at most
 * `parallel` at a time; returns when all are done. */
typedef void (*fleet_fn)(fleet *f, size_t i, void *arg);
void fleet_each(fleet *f, const size_t *idx, size_t n, unsigned parallel, fleet_fn fn, void *arg);

/* Sends rq to agent i and waits for the answer; *resp is freed by the caller with
 * cairn__rpc__response__free_unpacked. Errors name the agent. */
int fleet_call(fleet *f, size_t i, Cairn__Rpc__Request *rq, Cairn__Rpc__Response **resp,
               long timeout_ms, cairn_err *e);

/* fleet_call for a request whose answer says nothing but that it succeeded. */
int fleet_call_ok(fleet *f, size_t i, Cairn__Rpc__Request *rq, long timeout_ms, cairn_err *e);

long fleet_timeout_ms(const fleet *f);

/* How long a node whose job polls fail is retried before it is declared failed. */
long fleet_grace_ms(const fleet *f);

/* Adds the requests an agent reports (q may be NULL: an older agent) to t. */
void fleet_requests_add(store_counts *t, const Cairn__Rpc__StoreRequests *q);

#endif
