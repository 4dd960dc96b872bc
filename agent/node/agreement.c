#include "node/agreement.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define FIRST_SLEEP_MS 100
#define MAX_SLEEP_MS   1000
/* Nodes named in a timeout message; more are counted, not named. */
#define NAMED_MAX 64
/* Far above the largest clusters (a thousand nodes): a bound on what a peer table
 * can make the agent hold. */
#define MEMBERS_MAX 16384

typedef struct member {
    char address[INET6_ADDRSTRLEN];
    char version[37];
} member;

typedef struct poll_ctx {
    member *m;
    size_t n, cap;
} poll_ctx;

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static void uuid_text(const uint8_t b[16], char out[37])
{
    static const char digits[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = digits[b[i] >> 4];
        out[o++] = digits[b[i] & 15];
    }
    out[o] = '\0';
}

static int add(poll_ctx *p, const char *address, const cql_value *version, cairn_err *e)
{
    if (version->len < 0)
        return 0;
    if (version->len != 16)
        return err_set(e, CAIRN_EPROTO, "ScyllaDB returned a schema_version that is not a uuid");
    if (p->n == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 64;
        member *nm = nc <= MEMBERS_MAX ? realloc(p->m, nc * sizeof(*nm)) : NULL;
        if (nc > MEMBERS_MAX)
            return err_set(e, CAIRN_EPROTO, "system.peers lists more than %d nodes",
                           MEMBERS_MAX - 1);
        if (!nm)
            return err_set(e, CAIRN_ENOMEM, "out of memory");
        p->m = nm;
        p->cap = nc;
    }
    member *m = &p->m[p->n++];
    snprintf(m->address, sizeof(m->address), "%s", address);
    uuid_text(version->data, m->version);
    return 0;
}

static int local_row(void *ctx, size_t ncols, const cql_value *cols, cairn_err *e)
{
    if (ncols != 1)
        return err_set(e, CAIRN_EPROTO, "system.local returned %zu columns, not 1", ncols);
    return add(ctx, "local", &cols[0], e);
}

static int peer_row(void *ctx, size_t ncols, const cql_value *cols, cairn_err *e)
{
    char address[INET6_ADDRSTRLEN];
    if (ncols != 2)
        return err_set(e, CAIRN_EPROTO, "system.peers returned %zu columns, not 2", ncols);
    int family = cols[0].len == 4 ? AF_INET : cols[0].len == 16 ? AF_INET6 : 0;
    if (!family || !inet_ntop(family, cols[0].data, address, sizeof(address)))
        return err_set(e, CAIRN_EPROTO, "system.peers returned a peer that is not an address");
    return add(ctx, address, &cols[1], e);
}

static int read_versions(cql_conn *c, poll_ctx *p, cairn_err *e)
{
    p->n = 0;
    int rc = cql_query(c, "SELECT schema_version FROM system.local", local_row, p, e);
    if (!rc && p->n != 1)
        rc = err_set(e, CAIRN_EPROTO, "system.local gave no schema version");
    if (!rc)
        rc = cql_query(c, "SELECT peer, schema_version FROM system.peers", peer_row, p, e);
    return rc;
}

static bool agreed(const poll_ctx *p)
{
    for (size_t i = 1; i < p->n; i++)
        if (strcmp(p->m[i].version, p->m[0].version) != 0)
            return false;
    return true;
}

/* "version V: a, b; version W: c" into e, each version once, in the order first seen. */
static int disagreement(const poll_ctx *p, long timeout_ms, cairn_err *e)
{
    char list[700];
    size_t o = 0;
    list[0] = '\0';
    for (size_t i = 0; i < p->n && i < NAMED_MAX; i++) {
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(p->m[j].version, p->m[i].version) == 0;
        if (seen)
            continue;
        o += (size_t)snprintf(list + o, o < sizeof(list) ? sizeof(list) - o : 0,
                              "%sversion %s:", o ? "; " : "", p->m[i].version);
        for (size_t j = i; j < p->n && o < sizeof(list); j++)
            if (strcmp(p->m[j].version, p->m[i].version) == 0)
                o += (size_t)snprintf(list + o, sizeof(list) - o, " %s", p->m[j].address);
        if (o >= sizeof(list))
            break;
    }
    return err_set(e, CAIRN_ETIMEDOUT,
                   "the nodes did not agree on one schema version within %ld s (%s%s); check "
                   "that every node is up and sees the others (nodetool describecluster lists "
                   "each node's version), then run the command again: what exists is kept",
                   timeout_ms / 1000, list, o >= sizeof(list) ? "..." : "");
}

int agreement_wait(cql_conn *c, long timeout_ms, agreement *out, cairn_err *e)
{
    poll_ctx p = {NULL, 0, 0};
    uint64_t t0 = mono_ms();
    long pause = FIRST_SLEEP_MS;
    int rc;
    for (;;) {
        if ((rc = read_versions(c, &p, e)) != 0) {
            rc = err_prefix(e, "reading the nodes' schema versions");
            break;
        }
        uint64_t spent = mono_ms() - t0;
        if (agreed(&p)) {
            snprintf(out->version, sizeof(out->version), "%s", p.m[0].version);
            out->nodes = p.n;
            out->ms = spent;
            break;
        }
        if (spent >= (uint64_t)timeout_ms) {
            rc = disagreement(&p, timeout_ms, e);
            break;
        }
        long left = timeout_ms - (long)spent;
        sleep_ms(pause < left ? pause : left);
        pause = pause * 2 < MAX_SLEEP_MS ? pause * 2 : MAX_SLEEP_MS;
    }
    free(p.m);
    return rc;
}
