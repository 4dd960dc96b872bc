#include "fleet/fleet.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    return &f->m[i].pub;
}

long fleet_timeout_ms(const fleet *f)
{
    return f->cfg->timeout_s * 1000;
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
        rc = transport_client_open(&m->client, url, host, f->cfg->insecure ? NULL : &tls, e);
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

int fleet_call(fleet *f, size_t i, Cairn__Rpc__Request *rq, Cairn__Rpc__Response **resp,
               long timeout_ms, cairn_err *e)
{
    member *m = &f->m[i];
    uint8_t *buf = NULL, *rbuf = NULL;
    size_t len = 0, rlen = 0;
    uint64_t id = atomic_fetch_add(&f->next_id, 1);
    int rc = member_connect(f, m, e);
    if (!rc)
        rc = wire_pack_request(rq, f->cfg->cluster, id, &buf, &len, e);
    if (!rc)
        rc = transport_call(m->client, buf, len, &rbuf, &rlen, timeout_ms, e);
    if (!rc)
        rc = wire_unpack_response(rbuf, rlen, f->cfg->cluster, id, resp, e);
    free(buf);
    free(rbuf);
    if (rc)
        err_prefix(e, "agent %s", m->pub.addr);
    return rc;
}

typedef struct each_state {
    fleet *f;
    const size_t *idx;
    size_t n;
    atomic_size_t next;
    fleet_fn fn;
    void *arg;
} each_state;

static void *each_worker(void *p)
{
    each_state *s = p;
    for (;;) {
        size_t k = atomic_fetch_add(&s->next, 1);
        if (k >= s->n)
            return NULL;
        s->fn(s->f, s->idx ? s->idx[k] : k, s->arg);
    }
}

void fleet_each(fleet *f, const size_t *idx, size_t n, unsigned parallel, fleet_fn fn, void *arg)
{
    each_state s = {.f = f, .idx = idx, .n = idx ? n : f->n, .fn = fn, .arg = arg};
    atomic_init(&s.next, 0);
    unsigned nt = parallel ? parallel : 1;
    if (nt > s.n)
        nt = (unsigned)s.n;
    pthread_t *t = calloc(nt ? nt : 1, sizeof(*t));
    unsigned started = 0;
    for (; t && started < nt; started++)
        if (pthread_create(&t[started], NULL, each_worker, &s) != 0)
            break;
    if (started == 0)
        each_worker(&s); /* no thread to be had: do the work here, in order */
    for (unsigned k = 0; k < started; k++)
        pthread_join(t[k], NULL);
    free(t);
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
    /* Connect first, so the round trip measures the request and not the handshake. */
    if (member_connect(f, &f->m[i], &a->err) != 0) {
        err_prefix(&a->err, "agent %s", a->addr);
        return;
    }
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (fleet_call(f, i, &rq, &resp, fleet_timeout_ms(f), &a->err) != 0)
        return;
    a->rtt_ms = elapsed_ms(&t0);
    if (resp->result_case != CAIRN__RPC__RESPONSE__RESULT_NODE) {
        err_set(&a->err, CAIRN_EPROTO, "agent %s answered describe without a node", a->addr);
    } else {
        if (a->info)
            cairn__rpc__node_info__free_unpacked(a->info, NULL);
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
