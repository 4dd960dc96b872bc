/*
 * Tests for agent/scylla: the REST client against an in-process fake HTTP server that
 * records every request line and answers from a script.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "node/scylla.h"
#include "status/describe.h"

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

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Reads one request head; returns its length (up to the blank line) or -1 at EOF/stop. */
static int read_head(fake *f, int fd, char *buf, size_t cap)
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

static void sleep_until_stop(fake *f)
{
    while (!f->stop)
        usleep(10000);
}

static void *serve_conn(void *arg)
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

static void *accept_loop(void *arg)
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

static int listen_loopback(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static fake *fake_start(void)
{
    fake *f = calloc(1, sizeof(*f));
    pthread_mutex_init(&f->lock, NULL);
    f->fallback = (step){REPLY_NORMAL, 500, "{\"message\": \"no scripted answer\", \"code\": 500}"};
    f->lfd = listen_loopback(&f->port);
    pthread_create(&f->acceptor, NULL, accept_loop, f);
    return f;
}

static void fake_push(fake *f, int status, const char *body)
{
    pthread_mutex_lock(&f->lock);
    f->steps[f->nsteps++] = (step){REPLY_NORMAL, status, body};
    pthread_mutex_unlock(&f->lock);
}

static void fake_push_kind(fake *f, reply_kind kind)
{
    pthread_mutex_lock(&f->lock);
    f->steps[f->nsteps++] = (step){kind, 0, NULL};
    pthread_mutex_unlock(&f->lock);
}

static void fake_stop(fake *f)
{
    f->stop = 1;
    pthread_join(f->acceptor, NULL);
    for (int i = 0; i < f->nconns; i++)
        pthread_join(f->conns[i], NULL);
    close(f->lfd);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

static int nconns(fake *f)
{
    pthread_mutex_lock(&f->lock);
    int n = f->nconns;
    pthread_mutex_unlock(&f->lock);
    return n;
}

static const char *line(fake *f, int i)
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

static int setup(void **state)
{
    env *v = calloc(1, sizeof(*v));
    v->f = fake_start();
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", v->f->port);
    cairn_err e;
    if (scylla_open(&v->s, url, 2000, &e) != 0)
        return -1;
    *state = v;
    return 0;
}

static int teardown(void **state)
{
    env *v = *state;
    scylla_close(v->s);
    fake_stop(v->f);
    free(v);
    return 0;
}

static void test_escape(void **state)
{
    char *x = scylla_escape("a b/c:d~_-.Z9?&=,\xc3\xa9");
    assert_string_equal(x, "a%20b%2Fc%3Ad~_-.Z9%3F%26%3D%2C%C3%A9");
    free(x);
    x = scylla_escape("");
    assert_string_equal(x, "");
    free(x);
    assert_null(scylla_escape(NULL));
}

static void test_open_rejects_bad_arguments(void **state)
{
    scylla *s = (scylla *)1;
    cairn_err e;
    assert_int_equal(scylla_open(&s, "127.0.0.1:10000", 1000, &e), CAIRN_ECONFIG);
    assert_null(s);
    assert_non_null(strstr(e.msg, "http://"));
    assert_int_equal(scylla_open(&s, "http://127.0.0.1:10000", 0, &e), CAIRN_EINVAL);
    assert_int_equal(scylla_open(&s, NULL, 1000, NULL), CAIRN_ECONFIG);
}

static void test_identity(void **state)
{
    env *v = *state;
    cairn_err e;
    char *s = NULL;
    fake_push(v->f, 200, "\"a4c3b5d6-1111-2222-3333-444455556666\"");
    fake_push(v->f, 200, "\"dc1\"");
    fake_push(v->f, 200, "\"rack-a\"");
    fake_push(v->f, 200, "\"2025.1.0-0.20250130.abc\"");
    fake_push(v->f, 200, "\"Test Cluster\"");

    assert_int_equal(scylla_host_id(v->s, &s, &e), 0);
    assert_string_equal(s, "a4c3b5d6-1111-2222-3333-444455556666");
    free(s);
    assert_int_equal(scylla_datacenter(v->s, &s, &e), 0);
    assert_string_equal(s, "dc1");
    free(s);
    assert_int_equal(scylla_rack(v->s, &s, &e), 0);
    assert_string_equal(s, "rack-a");
    free(s);
    assert_int_equal(scylla_release_version(v->s, &s, &e), 0);
    assert_string_equal(s, "2025.1.0-0.20250130.abc");
    free(s);
    assert_int_equal(scylla_cluster_name(v->s, &s, &e), 0);
    assert_string_equal(s, "Test Cluster");
    free(s);

    assert_string_equal(line(v->f, 0), "GET /storage_service/hostid/local HTTP/1.1");
    assert_string_equal(line(v->f, 1), "GET /snitch/datacenter HTTP/1.1");
    assert_string_equal(line(v->f, 2), "GET /snitch/rack HTTP/1.1");
    assert_string_equal(line(v->f, 3), "GET /storage_service/scylla_release_version HTTP/1.1");
    assert_string_equal(line(v->f, 4), "GET /storage_service/cluster_name HTTP/1.1");
    /* Keep-alive: five sequential calls, one TCP connection. */
    assert_int_equal(nconns(v->f), 1);
}

static void test_host_id_not_set(void **state)
{
    env *v = *state;
    cairn_err e;
    char *s = (char *)1;
    fake_push(v->f, 404, "{\"message\": \"Local host ID not set\", \"code\": 404}");
    assert_int_equal(scylla_host_id(v->s, &s, &e), CAIRN_ENOENT);
    assert_null(s);
    assert_int_equal(e.code, CAIRN_ENOENT);
    assert_non_null(strstr(e.msg, "no host id yet"));
    assert_non_null(strstr(e.msg, "Local host ID not set"));

    /* Any other failure on the same route stays a remote error. */
    fake_push(v->f, 500, "{\"message\": \"boom\", \"code\": 500}");
    assert_int_equal(scylla_host_id(v->s, &s, &e), CAIRN_EREMOTE);
    /* An empty host id is not one. */
    fake_push(v->f, 200, "\"\"");
    assert_int_equal(scylla_host_id(v->s, &s, &e), CAIRN_EPROTO);
}

static void test_data_dirs(void **state)
{
    env *v = *state;
    cairn_err e;
    char **items;
    size_t n;
    fake_push(v->f, 200, "[\"/var/lib/scylla/data\", \"/mnt/disk2/data\"]");
    assert_int_equal(scylla_data_dirs(v->s, &items, &n, &e), 0);
    assert_int_equal(n, 2);
    assert_string_equal(items[0], "/var/lib/scylla/data");
    assert_string_equal(items[1], "/mnt/disk2/data");
    scylla_strv_free(items, n);
    assert_string_equal(line(v->f, 0), "GET /storage_service/data_file/locations HTTP/1.1");

    fake_push(v->f, 200, "[]");
    assert_int_equal(scylla_data_dirs(v->s, &items, &n, &e), 0);
    assert_int_equal(n, 0);
    scylla_strv_free(items, n);
}

static void test_ring(void **state)
{
    env *v = *state;
    cairn_err e;
    scylla_endpoint *eps;
    size_t n;
    fake_push(v->f, 200,
              "[{\"key\": \"10.0.0.1\", \"value\": \"h1\"}, {\"key\": \"10.0.0.2\", \"value\": "
              "\"h2\"}, {\"key\": \"10.0.0.3\", \"value\": \"h3\"}, {\"key\": \"10.0.0.4\", "
              "\"value\": \"h4\"}]");
    fake_push(v->f, 200, "[\"10.0.0.1\", \"10.0.0.4\"]");
    fake_push(v->f, 200, "[\"10.0.0.2\", \"10.0.0.4\"]");
    assert_int_equal(scylla_ring(v->s, &eps, &n, &e), 0);
    assert_int_equal(n, 4);
    assert_string_equal(eps[0].address, "10.0.0.1");
    assert_string_equal(eps[0].host_id, "h1");
    assert_true(eps[0].up);
    assert_string_equal(eps[1].host_id, "h2");
    assert_false(eps[1].up); /* listed down */
    assert_string_equal(eps[2].host_id, "h3");
    assert_false(eps[2].up); /* in neither list */
    assert_false(eps[3].up); /* contradictory: treated as down */
    scylla_ring_free(eps, n);
    assert_string_equal(line(v->f, 0), "GET /storage_service/host_id HTTP/1.1");
    assert_string_equal(line(v->f, 1), "GET /gossiper/endpoint/live/ HTTP/1.1");
    assert_string_equal(line(v->f, 2), "GET /gossiper/endpoint/down/ HTTP/1.1");
}

static void test_ring_bad_shape(void **state)
{
    env *v = *state;
    cairn_err e;
    scylla_endpoint *eps = (scylla_endpoint *)1;
    size_t n = 7;
    fake_push(v->f, 200, "[{\"key\": \"10.0.0.1\", \"value\": \"h1\"}, {\"key\": \"10.0.0.2\"}]");
    fake_push(v->f, 200, "[]");
    fake_push(v->f, 200, "[]");
    assert_int_equal(scylla_ring(v->s, &eps, &n, &e), CAIRN_EPROTO);
    assert_null(eps);
    assert_int_equal(n, 0);
    assert_non_null(strstr(e.msg, "/storage_service/host_id"));

    /* A failure of the second call is reported, and nothing leaks. */
    fake_push(v->f, 200, "[]");
    fake_push(v->f, 500, "{\"message\": \"gossiper not ready\"}");
    assert_int_equal(scylla_ring(v->s, &eps, &n, &e), CAIRN_EREMOTE);
    assert_non_null(strstr(e.msg, "gossiper not ready"));
}

static void test_tokens(void **state)
{
    env *v = *state;
    cairn_err e;
    char **items;
    size_t n;
    fake_push(v->f, 200, "[\"-9223372036854775808\", \"0\", \"42\"]");
    assert_int_equal(scylla_tokens(v->s, NULL, &items, &n, &e), 0);
    assert_int_equal(n, 3);
    assert_string_equal(items[0], "-9223372036854775808");
    assert_string_equal(items[2], "42");
    scylla_strv_free(items, n);

    fake_push(v->f, 200, "[\"1\"]");
    assert_int_equal(scylla_tokens(v->s, "10.0.0.2", &items, &n, &e), 0);
    scylla_strv_free(items, n);
    fake_push(v->f, 200, "[\"2\"]");
    assert_int_equal(scylla_tokens(v->s, "fe80::1%eth0", &items, &n, &e), 0);
    scylla_strv_free(items, n);
    assert_int_equal(scylla_tokens(v->s, "", &items, &n, &e), CAIRN_EINVAL);

    assert_string_equal(line(v->f, 0), "GET /storage_service/tokens HTTP/1.1");
    assert_string_equal(line(v->f, 1), "GET /storage_service/tokens/10.0.0.2 HTTP/1.1");
    assert_string_equal(line(v->f, 2), "GET /storage_service/tokens/fe80::1%25eth0 HTTP/1.1");
}

static void test_keyspaces_and_tables(void **state)
{
    env *v = *state;
    cairn_err e;
    char **items;
    size_t n;
    fake_push(v->f, 200, "[\"ks1\", \"ks2\"]");
    assert_int_equal(scylla_keyspaces(v->s, "user", &items, &n, &e), 0);
    assert_int_equal(n, 2);
    assert_string_equal(items[1], "ks2");
    scylla_strv_free(items, n);
    fake_push(v->f, 200, "[\"system\"]");
    assert_int_equal(scylla_keyspaces(v->s, NULL, &items, &n, &e), 0);
    scylla_strv_free(items, n);
    assert_int_equal(scylla_keyspaces(v->s, "user&x=1", &items, &n, &e), CAIRN_EINVAL);
    assert_non_null(strstr(e.msg, "non_local_strategy"));

    fake_push(v->f, 200, "[\"ks1:t1\", \"ks1:t2\", \"system:local\"]");
    assert_int_equal(scylla_tables(v->s, &items, &n, &e), 0);
    assert_int_equal(n, 3);
    assert_string_equal(items[0], "ks1:t1");
    assert_string_equal(items[2], "system:local");
    scylla_strv_free(items, n);

    assert_string_equal(line(v->f, 0), "GET /storage_service/keyspaces?type=user HTTP/1.1");
    assert_string_equal(line(v->f, 1), "GET /storage_service/keyspaces HTTP/1.1");
    assert_string_equal(line(v->f, 2), "GET /column_family/name HTTP/1.1");
}

static void test_flush(void **state)
{
    env *v = *state;
    cairn_err e;
    const char *tables[] = {"t1", "t2"};
    fake_push(v->f, 200, "");
    fake_push(v->f, 200, "");
    assert_int_equal(scylla_flush(v->s, "ks1", tables, 2, &e), 0);
    assert_int_equal(scylla_flush(v->s, "ks1", NULL, 0, &e), 0);
    assert_string_equal(line(v->f, 0),
                        "POST /storage_service/keyspace_flush/ks1?cf=t1,t2 HTTP/1.1");
    assert_string_equal(line(v->f, 1), "POST /storage_service/keyspace_flush/ks1 HTTP/1.1");
    assert_int_equal(scylla_flush(v->s, "", NULL, 0, &e), CAIRN_EINVAL);
    const char *bad[] = {"t1", ""};
    assert_int_equal(scylla_flush(v->s, "ks1", bad, 2, &e), CAIRN_EINVAL);
}

static void test_snapshot(void **state)
{
    env *v = *state;
    cairn_err e;
    const char *tables[] = {"t1", "t2"};
    fake_push(v->f, 200, "");
    fake_push(v->f, 200, "");
    fake_push(v->f, 200, "");
    assert_int_equal(scylla_snapshot(v->s, "cairn-20250101", "ks1", tables, 2, true, &e), 0);
    assert_int_equal(scylla_snapshot(v->s, "tag 1", "ks1", NULL, 0, false, &e), 0);
    assert_int_equal(scylla_snapshot(v->s, "t", NULL, NULL, 0, true, &e), 0);
    assert_string_equal(
        line(v->f, 0), "POST /storage_service/snapshots?tag=cairn-20250101&kn=ks1&cf=t1,t2&sf=true "
                       "HTTP/1.1");
    assert_string_equal(line(v->f, 1),
                        "POST /storage_service/snapshots?tag=tag%201&kn=ks1 HTTP/1.1");
    assert_string_equal(line(v->f, 2), "POST /storage_service/snapshots?tag=t&sf=true HTTP/1.1");

    assert_int_equal(scylla_snapshot(v->s, "", "ks1", NULL, 0, true, &e), CAIRN_EINVAL);
    assert_int_equal(scylla_snapshot(v->s, NULL, "ks1", NULL, 0, true, &e), CAIRN_EINVAL);
    assert_int_equal(scylla_snapshot(v->s, "t", NULL, tables, 1, true, &e), CAIRN_EINVAL);

    fake_push(v->f, 500,
              "{\"message\": \"Keyspace ks1: snapshot cairn-20250101 already exists.\", \"code\": "
              "500}");
    assert_int_equal(scylla_snapshot(v->s, "cairn-20250101", "ks1", NULL, 0, true, &e),
                     CAIRN_EREMOTE);
    assert_string_equal(e.msg, "ScyllaDB answered POST "
                               "/storage_service/snapshots?tag=cairn-20250101&kn=ks1&sf=true with "
                               "500: Keyspace ks1: snapshot cairn-20250101 already exists.");
    assert_string_equal(line(v->f, 4), "(no request)");
}

static void test_snapshot_delete(void **state)
{
    env *v = *state;
    cairn_err e;
    fake_push(v->f, 200, "");
    fake_push(v->f, 200, "");
    fake_push(v->f, 200, "");
    assert_int_equal(scylla_snapshot_delete(v->s, "cairn-1", NULL, NULL, &e), 0);
    assert_int_equal(scylla_snapshot_delete(v->s, "cairn-1", "ks1", NULL, &e), 0);
    assert_int_equal(scylla_snapshot_delete(v->s, "cairn-1", "ks1", "t1", &e), 0);
    assert_string_equal(line(v->f, 0), "DELETE /storage_service/snapshots?tag=cairn-1 HTTP/1.1");
    assert_string_equal(line(v->f, 1),
                        "DELETE /storage_service/snapshots?tag=cairn-1&kn=ks1 HTTP/1.1");
    assert_string_equal(line(v->f, 2),
                        "DELETE /storage_service/snapshots?tag=cairn-1&kn=ks1&cf=t1 HTTP/1.1");
    /* Never "delete every snapshot" by accident. */
    assert_int_equal(scylla_snapshot_delete(v->s, NULL, NULL, NULL, &e), CAIRN_EINVAL);
    assert_int_equal(scylla_snapshot_delete(v->s, "", "ks1", NULL, &e), CAIRN_EINVAL);
    assert_int_equal(scylla_snapshot_delete(v->s, "x", NULL, "t1", &e), CAIRN_EINVAL);
    assert_string_equal(line(v->f, 3), "(no request)");
}

static void test_incremental_backups(void **state)
{
    env *v = *state;
    cairn_err e;
    bool on = true;
    fake_push(v->f, 200, "false");
    fake_push(v->f, 200, "");
    fake_push(v->f, 200, "");
    fake_push(v->f, 200, "\"yes\"");
    assert_int_equal(scylla_incremental_backups_get(v->s, &on, &e), 0);
    assert_false(on);
    assert_int_equal(scylla_incremental_backups_set(v->s, true, &e), 0);
    assert_int_equal(scylla_incremental_backups_set(v->s, false, &e), 0);
    assert_int_equal(scylla_incremental_backups_get(v->s, &on, &e), CAIRN_EPROTO);
    assert_string_equal(line(v->f, 0), "GET /storage_service/incremental_backups HTTP/1.1");
    assert_string_equal(line(v->f, 1),
                        "POST /storage_service/incremental_backups?value=true HTTP/1.1");
    assert_string_equal(line(v->f, 2),
                        "POST /storage_service/incremental_backups?value=false HTTP/1.1");
}

static void test_load_sstables(void **state)
{
    env *v = *state;
    cairn_err e;
    fake_push(v->f, 200, "");
    fake_push(v->f, 200, "");
    assert_int_equal(scylla_load_sstables(v->s, "ks1", "t1", false, false, &e), 0);
    assert_int_equal(scylla_load_sstables(v->s, "ks1", "t1", true, true, &e), 0);
    assert_string_equal(line(v->f, 0), "POST /storage_service/sstables/ks1?cf=t1 HTTP/1.1");
    assert_string_equal(line(v->f, 1),
                        "POST /storage_service/sstables/ks1?cf=t1&load_and_stream=true"
                        "&primary_replica_only=true HTTP/1.1");

    fake_push(v->f, 500,
              "{\"message\": \"Already loading SSTables. Try again later\", \"code\": 500}");
    assert_int_equal(scylla_load_sstables(v->s, "ks1", "t1", true, false, &e), CAIRN_EBUSY);
    assert_int_equal(e.code, CAIRN_EBUSY);
    assert_non_null(strstr(e.msg, "try again later"));

    fake_push(v->f, 500,
              "{\"message\": \"Failed to load new sstables: std::runtime_error (bad TOC)\", "
              "\"code\": 500}");
    assert_int_equal(scylla_load_sstables(v->s, "ks1", "t1", true, false, &e), CAIRN_EREMOTE);
    assert_non_null(strstr(e.msg, "with 500: Failed to load new sstables: std::runtime_error"));
    assert_int_equal(scylla_load_sstables(v->s, "ks1", NULL, true, false, &e), CAIRN_EINVAL);
}

static void test_error_bodies(void **state)
{
    env *v = *state;
    cairn_err e;
    fake_push(v->f, 400, "{\"message\": \"Can't find a keyspace nope\", \"code\": 400}");
    assert_int_equal(scylla_flush(v->s, "nope", NULL, 0, &e), CAIRN_EREMOTE);
    assert_string_equal(e.msg, "ScyllaDB answered POST /storage_service/keyspace_flush/nope with "
                               "400: Can't find a keyspace nope");

    fake_push(v->f, 503, "Service Unavailable\n");
    assert_int_equal(scylla_request(v->s, "GET", "/storage_service/cluster_name", NULL, &e),
                     CAIRN_EREMOTE);
    assert_string_equal(e.msg, "ScyllaDB answered GET /storage_service/cluster_name with 503: "
                               "Service Unavailable?");

    fake_push(v->f, 404, "");
    assert_int_equal(scylla_request(v->s, "GET", "/nothing", NULL, &e), CAIRN_EREMOTE);
    assert_non_null(strstr(e.msg, "with 404: (empty body)"));

    fake_push(v->f, 302, "");
    assert_int_equal(scylla_request(v->s, "GET", "/moved", NULL, &e), CAIRN_EPROTO);
}

static void test_bad_bodies(void **state)
{
    env *v = *state;
    cairn_err e;
    char *s = NULL;
    char **items;
    size_t n;
    fake_push(v->f, 200, "<html>hello</html>");
    assert_int_equal(scylla_datacenter(v->s, &s, &e), CAIRN_EPROTO);
    assert_null(s);
    assert_non_null(strstr(e.msg, "not JSON: <html>hello</html>"));

    fake_push(v->f, 200, "\"dc1\" trailing");
    assert_int_equal(scylla_datacenter(v->s, &s, &e), CAIRN_EPROTO);

    fake_push(v->f, 200, "42");
    assert_int_equal(scylla_datacenter(v->s, &s, &e), CAIRN_EPROTO);
    assert_non_null(strstr(e.msg, "with int where a string was expected"));

    fake_push(v->f, 200, "");
    assert_int_equal(scylla_datacenter(v->s, &s, &e), CAIRN_EPROTO);
    assert_non_null(strstr(e.msg, "an empty body"));

    fake_push(v->f, 200, "[\"ks1\", 7]");
    assert_int_equal(scylla_keyspaces(v->s, "all", &items, &n, &e), CAIRN_EPROTO);
    fake_push(v->f, 200, "{\"ks1\": 1}");
    assert_int_equal(scylla_tables(v->s, &items, &n, &e), CAIRN_EPROTO);
    assert_null(items);
    fake_push(v->f, 200, "[\"unterminated");
    assert_int_equal(scylla_tables(v->s, &items, &n, &e), CAIRN_EPROTO);
}

static void test_raw_request(void **state)
{
    env *v = *state;
    cairn_err e;
    json_object *o = (json_object *)1;
    fake_push(v->f, 200, "");
    assert_int_equal(
        scylla_request(v->s, "POST", "/storage_service/incremental_backups?value=true", &o, &e), 0);
    assert_null(o);
    fake_push(v->f, 200, "true");
    assert_int_equal(scylla_request(v->s, "GET", "/storage_service/incremental_backups", &o, &e),
                     0);
    assert_true(json_object_get_boolean(o));
    json_object_put(o);
    fake_push(v->f, 200, "not json but ignored");
    assert_int_equal(scylla_request(v->s, "POST", "/x", NULL, &e), 0);

    assert_int_equal(scylla_request(v->s, "PUT", "/x", NULL, &e), CAIRN_EINVAL);
    assert_int_equal(scylla_request(v->s, "GET", "x", NULL, &e), CAIRN_EINVAL);
    assert_string_equal(line(v->f, 0),
                        "POST /storage_service/incremental_backups?value=true HTTP/1.1");
    assert_string_equal(line(v->f, 1), "GET /storage_service/incremental_backups HTTP/1.1");
    assert_string_equal(line(v->f, 3), "(no request)");
}

static void test_connection_refused(void **state)
{
    int port;
    int fd = listen_loopback(&port);
    close(fd);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    scylla *s;
    cairn_err e;
    assert_int_equal(scylla_open(&s, url, 1000, &e), 0);
    char *dc = NULL;
    assert_int_equal(scylla_datacenter(s, &dc, &e), CAIRN_ECONN);
    assert_null(dc);
    char want[128];
    snprintf(want, sizeof(want), "cannot reach ScyllaDB's REST API at %s (is scylla-server", url);
    assert_non_null(strstr(e.msg, want));
    assert_non_null(strstr(e.msg, "api_address"));
    scylla_close(s);
}

static long elapsed_ms(struct timespec a)
{
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
}

static void test_timeout(void **state)
{
    fake *f = fake_start();
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", f->port);
    scylla *s;
    cairn_err e;
    assert_int_equal(scylla_open(&s, url, 300, &e), 0);
    fake_push_kind(f, REPLY_HANG);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char *dc = NULL;
    assert_int_equal(scylla_datacenter(s, &dc, &e), CAIRN_ETIMEDOUT);
    assert_true(elapsed_ms(t0) < 2000);
    assert_non_null(strstr(e.msg, "did not answer GET /snitch/datacenter within 300 ms"));

    /* Slow calls follow their own timeout. */
    scylla_set_slow_timeout(s, 200);
    fake_push_kind(f, REPLY_HANG);
    assert_int_equal(scylla_flush(s, "ks1", NULL, 0, &e), CAIRN_ETIMEDOUT);
    assert_non_null(strstr(e.msg, "within 200 ms"));

    /* Each kind has its own limit, and the message names the call and its setting. */
    scylla_set_limits(s, 150, 0, 5000);
    fake_push_kind(f, REPLY_HANG);
    assert_int_equal(scylla_flush(s, "ks1", NULL, 0, &e), CAIRN_ETIMEDOUT);
    assert_non_null(strstr(e.msg, "keyspace_flush/ks1 within 150 ms"));
    assert_non_null(strstr(e.msg, "scylla.flush_timeout"));
    fake_push_kind(f, REPLY_HANG);
    assert_int_equal(scylla_snapshot(s, "t", "ks1", NULL, 0, true, &e), CAIRN_ETIMEDOUT);
    assert_non_null(strstr(e.msg, "within 200 ms")); /* kept: 0 changes nothing */
    assert_non_null(strstr(e.msg, "scylla.snapshot_timeout"));

    /* The client recovers: a later call works on a fresh connection. */
    fake_push(f, 200, "\"dc2\"");
    assert_int_equal(scylla_datacenter(s, &dc, &e), 0);
    assert_string_equal(dc, "dc2");
    free(dc);
    scylla_close(s);
    fake_stop(f);
}

static void test_oversized_body(void **state)
{
    env *v = *state;
    cairn_err e;
    char **items = NULL;
    size_t n;
    fake_push_kind(v->f, REPLY_HUGE_LENGTH);
    assert_int_equal(scylla_tables(v->s, &items, &n, &e), CAIRN_EPROTO);
    assert_non_null(strstr(e.msg, "larger than the 64 MiB"));
    fake_push_kind(v->f, REPLY_HUGE_CHUNKED);
    assert_int_equal(scylla_tables(v->s, &items, &n, &e), CAIRN_EPROTO);
    assert_non_null(strstr(e.msg, "larger than the 64 MiB"));
    assert_null(items);
}

typedef struct worker {
    scylla *s;
    int ok;
} worker;

static void *call_many(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < 25; i++) {
        char *dc = NULL;
        if (scylla_datacenter(w->s, &dc, NULL) == 0 && strcmp(dc, "dc9") == 0)
            w->ok++;
        free(dc);
    }
    return NULL;
}

static void test_threads_share_a_handle(void **state)
{
    env *v = *state;
    v->f->fallback = (step){REPLY_NORMAL, 200, "\"dc9\""};
    pthread_t th[4];
    worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){v->s, 0};
        pthread_create(&th[i], NULL, call_many, &w[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].ok, 25);
    }
    /* Pooled handles keep their connections: far fewer connections than calls. */
    assert_true(nconns(v->f) <= 8);
}

/* The whole node description, in the order describe_node asks. */
static void push_node(fake *f, const char *ring)
{
    fake_push(f, 200, "\"a4c3b5d6-1111-2222-3333-444455556666\"");
    fake_push(f, 200, "\"Test Cluster\"");
    fake_push(f, 200, "\"dc1\"");
    fake_push(f, 200, "\"rack-a\"");
    fake_push(f, 200, "\"2025.1.0\"");
    fake_push(f, 200, "[\"/var/lib/scylla/data\"]");
    fake_push(f, 200, ring);
    fake_push(f, 200, "[\"10.0.0.1\"]");
    fake_push(f, 200, "[]");
    fake_push(f, 200, "[\"-9000\", \"42\"]");
    fake_push(f, 200, "[\"ks1\", \"ks2\"]");
    /* System tables, a keyspace that is not a user's and a name that is not valid are
     * left out. */
    fake_push(f, 200,
              "[\"ks1:t1\", \"system:peers\", \"ks2:t2\", \"ks1:bad name\", \"nocolon\", "
              "\"other:t3\"]");
    fake_push(f, 200, "true");
}

static void test_describe_node(void **state)
{
    env *v = *state;
    cairn_err e;
    push_node(v->f,
              "[{\"key\": \"10.0.0.2\", \"value\": \"b4c3b5d6-1111-2222-3333-444455556666\"}, "
              "{\"key\": \"10.0.0.1\", \"value\": \"a4c3b5d6-1111-2222-3333-444455556666\"}]");
    Cairn__Rpc__NodeInfo *n = NULL;
    if (describe_node(v->s, &n, &e) != 0)
        fail_msg("%s", e.msg);
    assert_string_equal(n->host_id, "a4c3b5d6-1111-2222-3333-444455556666");
    assert_string_equal(n->address, "10.0.0.1");
    assert_string_equal(n->scylla_cluster, "Test Cluster");
    assert_string_equal(n->dc, "dc1");
    assert_string_equal(n->rack, "rack-a");
    assert_int_equal(n->n_data_dirs, 1);
    assert_int_equal(n->n_ring, 2);
    assert_false(n->ring[0]->up);
    assert_true(n->ring[1]->up);
    assert_int_equal(n->n_tokens, 2);
    assert_int_equal(n->n_tables, 2);
    assert_string_equal(n->tables[0]->keyspace, "ks1");
    assert_string_equal(n->tables[0]->name, "t1");
    assert_string_equal(n->tables[1]->keyspace, "ks2");
    assert_string_equal(n->tables[1]->name, "t2");
    assert_string_equal(n->agent_version, CAIRN_VERSION);
    assert_true(n->has_incremental_backups);
    assert_true(n->incremental_backups);
    assert_string_equal(line(v->f, 12), "GET /storage_service/incremental_backups HTTP/1.1");
    cairn__rpc__node_info__free_unpacked(n, NULL);
}

static void test_describe_node_not_in_ring(void **state)
{
    env *v = *state;
    cairn_err e;
    push_node(v->f,
              "[{\"key\": \"10.0.0.2\", \"value\": \"b4c3b5d6-1111-2222-3333-444455556666\"}]");
    Cairn__Rpc__NodeInfo *n = NULL;
    assert_int_equal(describe_node(v->s, &n, &e), CAIRN_EPROTO);
    assert_null(n);
    assert_non_null(strstr(e.msg, "still joining"));

    /* A failure half-way frees what was gathered. */
    fake_push(v->f, 200, "\"a4c3b5d6-1111-2222-3333-444455556666\"");
    fake_push(v->f, 500, "{\"message\": \"boom\"}");
    assert_int_equal(describe_node(v->s, &n, &e), CAIRN_EREMOTE);
    assert_null(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_open_rejects_bad_arguments),
        cmocka_unit_test_setup_teardown(test_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_host_id_not_set, setup, teardown),
        cmocka_unit_test_setup_teardown(test_data_dirs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ring, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ring_bad_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keyspaces_and_tables, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incremental_backups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_sstables, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_bodies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_bodies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_raw_request, setup, teardown),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test_setup_teardown(test_oversized_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads_share_a_handle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_describe_node, setup, teardown),
        cmocka_unit_test_setup_teardown(test_describe_node_not_in_ring, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
