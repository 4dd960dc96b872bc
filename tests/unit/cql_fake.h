/*
 * cql_fake - an in-process CQL server for unit tests of the agent's CQL client and what
 * runs over it: it answers each request frame with scripted frames and records what it
 * received (one connection, at most 8 steps).
 */
#ifndef CAIRN_TEST_CQL_FAKE_H
#define CAIRN_TEST_CQL_FAKE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "node/cql.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loopback.h"

enum {
    OP_ERROR = 0x00,
    OP_STARTUP = 0x01,
    OP_READY = 0x02,
    OP_AUTHENTICATE = 0x03,
    OP_QUERY = 0x07,
    OP_RESULT = 0x08,
    OP_EVENT = 0x0C,
    OP_AUTH_CHALLENGE = 0x0E,
    OP_AUTH_RESPONSE = 0x0F,
    OP_AUTH_SUCCESS = 0x10
};

/* ---- byte buffers for building frames ---- */

typedef struct buf {
    uint8_t *p;
    size_t len;
} buf;

static inline void put(buf *b, const void *d, size_t n)
{
    b->p = realloc(b->p, b->len + n + 1);
    memcpy(b->p + b->len, d, n);
    b->len += n;
}

static inline void put_u8(buf *b, uint8_t v)
{
    put(b, &v, 1);
}

static inline void put_u16(buf *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    put(b, x, 2);
}

static inline void put_i32(buf *b, int32_t v)
{
    uint32_t u = (uint32_t)v;
    uint8_t x[4] = {(uint8_t)(u >> 24), (uint8_t)(u >> 16), (uint8_t)(u >> 8), (uint8_t)u};
    put(b, x, 4);
}

static inline void put_str(buf *b, const char *s)
{
    put_u16(b, (uint16_t)strlen(s));
    put(b, s, strlen(s));
}

/* [bytes]; NULL is a null value. */
static inline void put_bytes(buf *b, const char *s)
{
    if (!s) {
        put_i32(b, -1);
        return;
    }
    put_i32(b, (int32_t)strlen(s));
    put(b, s, strlen(s));
}

/* ---- the fake server ---- */

#define ECHO_STREAM 0x10000 /* answer on the stream of the request */

typedef struct out_frame {
    uint8_t version, flags, opcode;
    int stream;
    buf body;
    buf raw; /* sent as is instead, when set */
} out_frame;

typedef struct step {
    uint8_t expect;
    out_frame out[4];
    int nout;
    bool hang;  /* never answer */
    bool close; /* close the connection after answering */
} step;

typedef struct received {
    uint8_t version, flags, opcode;
    int16_t stream;
    buf body;
} received;

typedef struct fake {
    int lfd, port;
    pthread_t th;
    atomic_int stop;
    step steps[8];
    int nsteps;
    received got[8];
    int ngot;
    int unexpected; /* requests whose opcode differed from the script */
} fake;

static inline int read_all(fake *f, int fd, uint8_t *p, size_t n)
{
    while (n > 0 && !f->stop) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, 20) <= 0)
            continue;
        ssize_t k = recv(fd, p, n, 0);
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return n ? -1 : 0;
}

static inline void send_frame(int fd, const out_frame *o, int16_t req_stream)
{
    if (o->raw.len) {
        write_all(fd, o->raw.p, o->raw.len);
        return;
    }
    int stream = o->stream == ECHO_STREAM ? req_stream : o->stream;
    uint8_t h[9] = {o->version, o->flags, (uint8_t)((unsigned)stream >> 8), (uint8_t)stream,
                    o->opcode};
    uint32_t len = (uint32_t)o->body.len;
    h[5] = (uint8_t)(len >> 24);
    h[6] = (uint8_t)(len >> 16);
    h[7] = (uint8_t)(len >> 8);
    h[8] = (uint8_t)len;
    write_all(fd, h, 9);
    if (o->body.len)
        write_all(fd, o->body.p, o->body.len);
}

static inline void *serve(void *arg)
{
    fake *f = arg;
    int fd = -1;
    while (!f->stop && fd < 0) {
        struct pollfd pf = {.fd = f->lfd, .events = POLLIN};
        if (poll(&pf, 1, 20) > 0)
            fd = accept(f->lfd, NULL, NULL);
    }
    for (int i = 0; fd >= 0 && i < f->nsteps; i++) {
        uint8_t h[9];
        if (read_all(f, fd, h, 9) < 0)
            break;
        received *r = &f->got[f->ngot++];
        r->version = h[0];
        r->flags = h[1];
        r->stream = (int16_t)(h[2] << 8 | h[3]);
        r->opcode = h[4];
        size_t len = (size_t)h[5] << 24 | (size_t)h[6] << 16 | (size_t)h[7] << 8 | h[8];
        r->body.p = malloc(len + 1);
        r->body.len = len;
        if (read_all(f, fd, r->body.p, len) < 0)
            break;
        step *s = &f->steps[i];
        if (r->opcode != s->expect)
            f->unexpected++;
        if (s->hang) {
            while (!f->stop)
                usleep(10000);
            break;
        }
        for (int j = 0; j < s->nout; j++)
            send_frame(fd, &s->out[j], r->stream);
        if (s->close) {
            close(fd);
            fd = -1;
        }
    }
    /* Wait for the client to hang up so that it never sees a spurious EOF. */
    uint8_t sink[256];
    while (fd >= 0 && !f->stop) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, 20) > 0 && recv(fd, sink, sizeof(sink), 0) <= 0)
            break;
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

static inline fake *fake_new(void)
{
    fake *f = calloc(1, sizeof(*f));
    f->lfd = listen_loopback(&f->port);
    return f;
}

static inline void fake_start(fake *f)
{
    pthread_create(&f->th, NULL, serve, f);
}

/* Stops serving; what the server received stays readable until fake_free(). */
static inline void fake_stop(fake *f)
{
    f->stop = 1;
    pthread_join(f->th, NULL);
    close(f->lfd);
}

static inline void fake_free(fake *f)
{
    for (int i = 0; i < f->nsteps; i++)
        for (int j = 0; j < f->steps[i].nout; j++) {
            free(f->steps[i].out[j].body.p);
            free(f->steps[i].out[j].raw.p);
        }
    for (int i = 0; i < f->ngot; i++)
        free(f->got[i].body.p);
    free(f);
}

static inline void fake_done(fake *f)
{
    fake_stop(f);
    fake_free(f);
}

static inline step *add_step(fake *f, uint8_t expect)
{
    step *s = &f->steps[f->nsteps++];
    s->expect = expect;
    return s;
}

/* Adds an answer frame (version 0x84, echoing the stream) and returns its body. */
static inline buf *answer(step *s, uint8_t opcode)
{
    out_frame *o = &s->out[s->nout++];
    o->version = 0x84;
    o->opcode = opcode;
    o->stream = ECHO_STREAM;
    return &o->body;
}

static inline void script_ready(fake *f)
{
    answer(add_step(f, OP_STARTUP), OP_READY);
}

static inline void error_body(buf *b, int32_t code, const char *msg)
{
    put_i32(b, code);
    put_str(b, msg);
}

/* Rows metadata with a global table spec and varchar columns. */
static inline void rows_header(buf *b, int32_t flags, int ncols, const char *paging)
{
    put_i32(b, 2);
    put_i32(b, flags | 0x0001);
    put_i32(b, ncols);
    if (paging)
        put_bytes(b, paging);
    put_str(b, "ks");
    put_str(b, "t");
    for (int i = 0; i < ncols; i++) {
        char name[16];
        snprintf(name, sizeof(name), "c%d", i);
        put_str(b, name);
        put_u16(b, 0x000D);
    }
}

static inline cql_conn *connect_ok(fake *f)
{
    cql_conn *c = NULL;
    cairn_err e;
    int rc = cql_connect(&c, "127.0.0.1", f->port, NULL, NULL, NULL, 30000, &e);
    if (rc != 0)
        fail_msg("connect: %s", e.msg);
    return c;
}

/* ---- collecting rows: a cql_row_cb that keeps the first 16 rows' 4 cells ---- */

typedef struct rows_seen {
    int nrows;
    size_t ncols;
    char cells[16][4][32]; /* "<null>" for nulls */
    int fail_at;           /* return an error at this row (1-based), 0 = never */
} rows_seen;

static inline int collect(void *ctx, size_t ncols, const cql_value *cols, cairn_err *e)
{
    rows_seen *r = ctx;
    r->ncols = ncols;
    if (r->fail_at && r->nrows + 1 == r->fail_at)
        return err_set(e, CAIRN_EIO, "stop here");
    for (size_t i = 0; i < ncols && i < 4 && r->nrows < 16; i++) {
        if (cols[i].len < 0)
            strcpy(r->cells[r->nrows][i], "<null>");
        else
            snprintf(r->cells[r->nrows][i], 32, "%.*s", (int)cols[i].len,
                     (const char *)cols[i].data);
    }
    r->nrows++;
    return 0;
}

#endif
