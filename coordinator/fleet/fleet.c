/*
 * Design notes.
 *
 * Connections: one nng client per agent, opened on first use and kept until
 * fleet_close; the member's mutex makes two threads that want the same agent at once
 * share one handshake. The agent's TLS certificate is verified against the host part
 * of its configured address, never against what it says about itself.
 *
 * Fan-out: fleet_each hands the agents to pool_run, at most `parallel` at a time. Its
 * function records each agent's outcome in that agent's own slot and returns 0, so
 * one failing node never stops the others from being asked.
 *
 * Ids: every request carries an id unique for this coordinator run (the start time
 * shifted left, then a counter), and an answer is accepted only with the id it was
 * asked with, so a late answer to an earlier request is never taken for this one.
 *
 * Timeouts: each call names its own. The configured `timeout` (fleet_timeout_ms) is
 * the unit: a describe or a snapshot takes one, a schema apply five, a flush ten; job
 * polls (jobrun.c) and snapshot clearing use short fixed ones, so that a node that
 * has gone quiet is noticed soon.
 */
#include "fleet/fleet.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/debug.h"
#include "base/pool.h"
#include "net/transport.h"
#include "net/wire.h"

typedef struct member {
    fleet_agent pub;
    transport_client *client;
    pthread_mutex_t lock; /* connect once, even when two threads ask together */
} member;

struct fleet {
    const coord_config *cfg;
    member *m;
    size_t n;
    atomic_uint_fast64_t next_id;
};

int fleet_open(fleet **out, const coord_config *cfg, cairn_err *e)
{
    fleet *f = calloc(1, sizeof(*f));
    if (!f || !(f->m = calloc(cfg->agents.n, sizeof(*f->m)))) {
        free(f);
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    }
    f->cfg = cfg;
    f->n = cfg->agents.n;
    atomic_init(&f->next_id, (uint64_t)time(NULL) << 20);
    for (size_t i = 0; i < f->n; i++) {
        f->m[i].pub.addr = cfg->agents.items[i];
        pthread_mutex_init(&f->m[i].lock, NULL);
    }
    *out = f;
    return 0;
}

void fleet_close(fleet *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++) {
        transport_client_close(f->m[i].client);
        if (f->m[i].pub.info)
            cairn__rpc__node_info__free_unpacked(f->m[i].pub.info, NULL);
        pthread_mutex_destroy(&f->m[i].lock);
    }
    free(f->m);
    free(f);
}

size_t fleet_size(const fleet *f)
{
    return f->n;
}

fleet_agent *fleet_get(fleet *f, size_t i)
{
    CAIRN_ASSERT(i < f->n);
    return &f->m[i].pub;
}

long fleet_timeout_ms(const fleet *f)
{
    return f->cfg->timeout_s * 1000;
}

long fleet_grace_ms(const fleet *f)
{
    return f->cfg->grace_s * 1000;
}

static int member_connect(fleet *f, member *m, cairn_err *e)
{
    pthread_mutex_lock(&m->lock);
    int rc = 0;
    if (!m->client) {
        char url[512], host[256];
        coord_config_agent_url(f->cfg, (size_t)(m - f->m), url, sizeof(url));
        /* The agent's certificate names its host: verify exactly that. */
        const char *colon = strrchr(m->pub.addr, ':');
        size_t hl = (size_t)(colon - m->pub.addr);
        if (hl >= sizeof(host))
            hl = sizeof(host) - 1;
        memcpy(host, m->pub.addr, hl);
        host[hl] = '\0';
        if (host[0] == '[' && hl > 2) {
            memmove(host, host + 1, hl - 2);
            host[hl - 2] = '\0';
        }
        transport_tls tls = {f->cfg->tls_ca, f->cfg->tls_cert, f->cfg->tls_key};
        rc = transport_client_open(&m->client, url, host, f->cfg->insecure ? NULL : &tls,
                                   fleet_timeout_ms(f), e);
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

/* fleet_call; *answered (may be NULL) says whether the agent's answer arrived, so an
 * error it reports is told from one of the connection. */
static int call_member(fleet *f, size_t i, Cairn__Rpc__Request *rq, Cairn__Rpc__Response **resp,
                       long timeout_ms, bool *answered, cairn_err *e)
{
    CAIRN_ASSERT(i < f->n);
    member *m = &f->m[i];
    uint8_t *buf = NULL, *rbuf = NULL;
    size_t len = 0, rlen = 0;
    uint64_t id = atomic_fetch_add(&f->next_id, 1);
    int rc = member_connect(f, m, e);
    if (!rc)
        rc = wire_pack_request(rq, f->cfg->cluster, id, &buf, &len, e);
    if (!rc)
        rc = transport_call(m->client, buf, len, &rbuf, &rlen, timeout_ms, e);
    if (!rc && answered)
        *answered = true;
    if (!rc)
        rc = wire_unpack_response(rbuf, rlen, f->cfg->cluster, id, resp, e);
    free(buf);
    free(rbuf);
    if (rc)
        err_prefix(e, "agent %s", m->pub.addr);
    return rc;
}

int fleet_call(fleet *f, size_t i, Cairn__Rpc__Request *rq, Cairn__Rpc__Response **resp,
               long timeout_ms, cairn_err *e)
{
    return call_member(f, i, rq, resp, timeout_ms, NULL, e);
}

int fleet_call_ok(fleet *f, size_t i, Cairn__Rpc__Request *rq, long timeout_ms, cairn_err *e)
{
    Cairn__Rpc__Response *resp = NULL;
    int rc = fleet_call(f, i, rq, &resp, timeout_ms, e);
    if (!rc)
        cairn__rpc__response__free_unpacked(resp, NULL);
    return rc;
}

typedef struct each_state {
    fleet *f;
    const size_t *idx;
    fleet_fn fn;
    void *arg;
} each_state;

/* The agent's outcome is its own: fn records it, and the fan-out goes on. */
static int each_item(void *p, size_t k, cairn_err *e)
{
    each_state *s = p;
    size_t i = s->idx ? s->idx[k] : k;
    CAIRN_ASSERT(i < s->f->n);
    s->fn(s->f, i, s->arg);
    return 0;
}

void fleet_each(fleet *f, const size_t *idx, size_t n, unsigned parallel, fleet_fn fn, void *arg)
{
    each_state s = {.f = f, .idx = idx, .fn = fn, .arg = arg};
    pool_run(idx ? n : f->n, parallel, each_item, &s, NULL);
}

static long elapsed_ms(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

static void describe_one(fleet *f, size_t i, void *arg)
{
    fleet_agent *a = &f->m[i].pub;
    Cairn__Rpc__Request rq = CAIRN__RPC__REQUEST__INIT;
    Cairn__Rpc__DescribeRequest d = CAIRN__RPC__DESCRIBE_REQUEST__INIT;
    rq.op_case = CAIRN__RPC__REQUEST__OP_DESCRIBE;
    rq.describe = &d;
    Cairn__Rpc__Response *resp = NULL;
    err_clear(&a->err);
    a->answered = false;
    /* A describe that fails leaves no answer from an earlier one (status --watch). */
    if (a->info)
        cairn__rpc__node_info__free_unpacked(a->info, NULL);
    a->info = NULL;
    /* Connect first, so the round trip measures the request and not the handshake. */
    if (member_connect(f, &f->m[i], &a->err) != 0) {
        err_prefix(&a->err, "agent %s", a->addr);
        return;
    }
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (call_member(f, i, &rq, &resp, fleet_timeout_ms(f), &a->answered, &a->err) != 0)
        return;
    a->rtt_ms = elapsed_ms(&t0);
    if (resp->result_case != CAIRN__RPC__RESPONSE__RESULT_NODE) {
        err_set(&a->err, CAIRN_EPROTO, "agent %s answered describe without a node", a->addr);
    } else {
        a->info = resp->node;
        resp->node = NULL; /* keep it past the response */
        resp->result_case = CAIRN__RPC__RESPONSE__RESULT__NOT_SET;
    }
    cairn__rpc__response__free_unpacked(resp, NULL);
}

void fleet_describe(fleet *f)
{
    fleet_each(f, NULL, f->n, (unsigned)f->cfg->parallel, describe_one, NULL);
}

void fleet_requests_add(store_counts *t, const Cairn__Rpc__StoreRequests *q)
{
    if (!q)
        return;
    t->puts += q->puts;
    t->part_puts += q->part_puts;
    t->gets += q->gets;
    t->heads += q->heads;
    t->lists += q->lists;
    t->deletes += q->deletes;
    t->mpu_initiates += q->multipart;
    t->retries += q->retries;
}
