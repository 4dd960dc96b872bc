/*
 * scylla_fake - an in-process fake of ScyllaDB's REST port for the tests of agent/node:
 * it records every request line and answers from a script (a status and a body per
 * request, or a hang, or an endless body). Header-only: each test program includes it
 * once, and the env fixture (setup/teardown) opens a scylla client on it.
 */
#ifndef CAIRN_TEST_SCYLLA_FAKE_H
#define CAIRN_TEST_SCYLLA_FAKE_H

#include "node/scylla.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "loopback.h"

#define MAX_STEPS 16
#define MAX_LINES 256
#define MAX_CONNS 32

typedef enum { REPLY_NORMAL, REPLY_HANG, REPLY_HUGE_LENGTH, REPLY_HUGE_CHUNKED } reply_kind;

typedef struct step {
    reply_kind kind;
    int status;
    const char *body;
} step;

typedef struct fake {
    int lfd;
    int port;
    pthread_t acceptor;
    pthread_t conns[MAX_CONNS];
    int nconns;
    atomic_int stop;
    pthread_mutex_t lock;
    step steps[MAX_STEPS];
    int nsteps, next;
    step fallback; /* answers once the script is used up */
    char lines[MAX_LINES][512];
    int nlines;
} fake;

typedef struct conn_arg {
    fake *f;
    int fd;
} conn_arg;

/* Reads one request head; returns its length (up to the blank line) or -1 at EOF/stop. */
static inline int read_head(fake *f, int fd, char *buf, size_t cap)
{
    size_t len = 0;
    while (!f->stop) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 20) <= 0)
            continue;
        ssize_t k = recv(fd, buf + len, cap - 1 - len, 0);
        if (k <= 0)
            return -1;
        len += (size_t)k;
        buf[len] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end)
            return (int)(end - buf) + 4;
        if (len == cap - 1)
            return -1;
    }
    return -1;
}

static inline void sleep_until_stop(fake *f)
{
    while (!f->stop)
        usleep(10000);
}

static inline void *serve_conn(void *arg)
{
    conn_arg *ca = arg;
    fake *f = ca->f;
    int fd = ca->fd;
    free(ca);
    char buf[8192];
    for (;;) {
        int n = read_head(f, fd, buf, sizeof(buf));
        if (n < 0)
            break;
        /* The client sends POST and DELETE with empty bodies; nothing follows the head. */
        step st;
        pthread_mutex_lock(&f->lock);
        char *eol = strstr(buf, "\r\n");
        if (f->nlines < MAX_LINES)
            snprintf(f->lines[f->nlines++], sizeof(f->lines[0]), "%.*s", (int)(eol - buf), buf);
        st = f->next < f->nsteps ? f->steps[f->next++] : f->fallback;
        pthread_mutex_unlock(&f->lock);

        char head[512];
        if (st.kind == REPLY_HANG) {
            sleep_until_stop(f);
            break;
        } else if (st.kind == REPLY_HUGE_LENGTH) {
            snprintf(head, sizeof(head),
                     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     "Content-Length: %u\r\n\r\n[",
                     SCYLLA_MAX_BODY + 10);
            write_all(fd, head, strlen(head));
            break;
        } else if (st.kind == REPLY_HUGE_CHUNKED) {
            snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
            write_all(fd, head, strlen(head));
            static char chunk[1 << 20];
            memset(chunk, ' ', sizeof(chunk));
            for (int i = 0; i < 80 && !f->stop; i++) {
                snprintf(head, sizeof(head), "%x\r\n", (unsigned)sizeof(chunk));
                if (write_all(fd, head, strlen(head)) || write_all(fd, chunk, sizeof(chunk)) ||
                    write_all(fd, "\r\n", 2))
                    break;
            }
            break;
        }
        const char *body = st.body ? st.body : "";
        snprintf(head, sizeof(head),
                 "HTTP/1.1 %d Whatever\r\nContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\n\r\n",
                 st.status, strlen(body));
        if (write_all(fd, head, strlen(head)) || write_all(fd, body, strlen(body)))
            break;
    }
    close(fd);
    return NULL;
}

static inline void *accept_loop(void *arg)
{
    fake *f = arg;
    while (!f->stop) {
        struct pollfd p = {.fd = f->lfd, .events = POLLIN};
        if (poll(&p, 1, 20) <= 0)
            continue;
        int fd = accept(f->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        conn_arg *ca = malloc(sizeof(*ca));
        ca->f = f;
        ca->fd = fd;
        pthread_mutex_lock(&f->lock);
        int slot = f->nconns < MAX_CONNS ? f->nconns++ : -1;
        pthread_mutex_unlock(&f->lock);
        if (slot < 0) {
            close(fd);
            free(ca);
            continue;
        }
        pthread_create(&f->conns[slot], NULL, serve_conn, ca);
    }
    return NULL;
}

static inline fake *fake_start(void)
{
    fake *f = calloc(1, sizeof(*f));
    pthread_mutex_init(&f->lock, NULL);
    f->fallback = (step){REPLY_NORMAL, 500, "{\"message\": \"no scripted answer\", \"code\": 500}"};
    f->lfd = listen_loopback(&f->port);
    pthread_create(&f->acceptor, NULL, accept_loop, f);
    return f;
}

static inline void fake_push(fake *f, int status, const char *body)
{
    pthread_mutex_lock(&f->lock);
    f->steps[f->nsteps++] = (step){REPLY_NORMAL, status, body};
    pthread_mutex_unlock(&f->lock);
}

static inline void fake_push_kind(fake *f, reply_kind kind)
{
    pthread_mutex_lock(&f->lock);
    f->steps[f->nsteps++] = (step){kind, 0, NULL};
    pthread_mutex_unlock(&f->lock);
}

static inline void fake_stop(fake *f)
{
    f->stop = 1;
    pthread_join(f->acceptor, NULL);
    for (int i = 0; i < f->nconns; i++)
        pthread_join(f->conns[i], NULL);
    close(f->lfd);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

static inline int nconns(fake *f)
{
    pthread_mutex_lock(&f->lock);
    int n = f->nconns;
    pthread_mutex_unlock(&f->lock);
    return n;
}

static inline const char *line(fake *f, int i)
{
    pthread_mutex_lock(&f->lock);
    const char *l = i < f->nlines ? f->lines[i] : "(no request)";
    pthread_mutex_unlock(&f->lock);
    return l;
}

typedef struct env {
    fake *f;
    scylla *s;
} env;

static inline int setup(void **state)
{
    env *v = calloc(1, sizeof(*v));
    v->f = fake_start();
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", v->f->port);
    cairn_err e;
    if (scylla_open(&v->s, url, 60000, &e) != 0)
        return -1;
    *state = v;
    return 0;
}

static inline int teardown(void **state)
{
    env *v = *state;
    scylla_close(v->s);
    fake_stop(v->f);
    free(v);
    return 0;
}

#endif
