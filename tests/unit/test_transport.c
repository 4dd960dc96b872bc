/* net/transport: requests and answers over plain tcp and mutual TLS, and the errors a
 * person sees when an address, a peer or a certificate is wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <nng/nng.h>

#include "certs/certs.h"
#include "net/transport.h"
#include "testutil.h"

struct fixture {
    char dir[64];
    char url[64];
    char tls_url[64];
    char ca[128], agent_crt[128], agent_key[128], coord_crt[128], coord_key[128];
};

/* A port of its own for each test process; retried when taken. */
static unsigned next_port(void)
{
    static unsigned port;
    if (!port)
        port = 20000 + (unsigned)(getpid() % 20000);
    return port++;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/cairn-transport-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char certs[96];
    snprintf(certs, sizeof(certs), "%s/certs", f->dir);
    cairn_err e;
    assert_int_equal(certs_init(certs, &e), 0);
    assert_int_equal(certs_issue(certs, "127.0.0.1", true, &e), 0);
    assert_int_equal(certs_issue(certs, "coord", false, &e), 0);
    snprintf(f->ca, sizeof(f->ca), "%s/ca.crt", certs);
    snprintf(f->agent_crt, sizeof(f->agent_crt), "%s/127.0.0.1.crt", certs);
    snprintf(f->agent_key, sizeof(f->agent_key), "%s/127.0.0.1.key", certs);
    snprintf(f->coord_crt, sizeof(f->coord_crt), "%s/coord.crt", certs);
    snprintf(f->coord_key, sizeof(f->coord_key), "%s/coord.key", certs);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(scratch_remove(f->dir), 0);
    free(f);
    return 0;
}

/* Answers "re:" and the request; drops a request that says "drop". */
static int echo(void *ctx, const uint8_t *req, size_t len, uint8_t **resp, size_t *resp_len)
{
    int *calls = ctx;
    __atomic_fetch_add(calls, 1, __ATOMIC_SEQ_CST);
    if (len == 4 && memcmp(req, "drop", 4) == 0)
        return -1;
    *resp = malloc(len + 3);
    memcpy(*resp, "re:", 3);
    memcpy(*resp + 3, req, len);
    *resp_len = len + 3;
    return 0;
}

/* Starts a server on a free port; url receives its address. */
static transport_server *start(const char *scheme, const transport_tls *tls, int *calls, char *url,
                               size_t cap)
{
    for (int tries = 0; tries < 50; tries++) {
        snprintf(url, cap, "%s://127.0.0.1:%u", scheme, next_port());
        transport_server *s;
        cairn_err e;
        int rc = transport_server_start(&s, url, tls, 3, echo, calls, &e);
        if (rc == 0)
            return s;
        assert_non_null(strstr(e.msg, "in use"));
    }
    fail_msg("no free port");
    return NULL;
}

static void call_ok(transport_client *c, const char *msg)
{
    uint8_t *resp;
    size_t len;
    cairn_err e;
    assert_int_equal(transport_call(c, (const uint8_t *)msg, strlen(msg), &resp, &len, 5000, &e),
                     0);
    assert_int_equal(len, strlen(msg) + 3);
    assert_memory_equal(resp, "re:", 3);
    assert_memory_equal(resp + 3, msg, strlen(msg));
    free(resp);
}

static void test_plain_round_trip(void **state)
{
    int calls = 0;
    char url[64];
    transport_server *s = start("tcp", NULL, &calls, url, sizeof(url));
    transport_client *c;
    cairn_err e;
    assert_int_equal(transport_client_open(&c, url, NULL, NULL, 5000, &e), 0);
    call_ok(c, "hello");
    call_ok(c, "");
    call_ok(c, "again");
    /* A dropped request gets no answer: the caller's timeout tells. */
    uint8_t *resp = NULL;
    size_t len;
    assert_int_equal(transport_call(c, (const uint8_t *)"drop", 4, &resp, &len, 300, &e),
                     CAIRN_ETIMEDOUT);
    assert_non_null(strstr(e.msg, url));
    assert_null(resp);
    call_ok(c, "after");
    assert_int_equal(calls, 5);
    transport_client_close(c);
    transport_client_close(NULL);

    /* The address is taken while the server runs. */
    transport_server *again;
    assert_int_equal(transport_server_start(&again, url, NULL, 1, echo, &calls, &e), CAIRN_ECONN);
    assert_non_null(strstr(e.msg, "address already in use"));
    transport_server_stop(s);
    transport_server_stop(NULL);

    /* Nobody listens any more. */
    assert_int_equal(transport_client_open(&c, url, NULL, NULL, 5000, &e), CAIRN_ECONN);
    assert_non_null(strstr(e.msg, "connection refused"));
}

static void test_bad_addresses(void **state)
{
    int calls = 0;
    transport_server *s;
    transport_client *c;
    cairn_err e;
    assert_int_equal(transport_server_start(&s, "tcp://no-port", NULL, 1, echo, &calls, &e),
                     CAIRN_ECONFIG);
    assert_non_null(strstr(e.msg, "invalid address"));
    assert_int_not_equal(transport_server_start(&s, "gopher://x:1", NULL, 1, echo, &calls, &e), 0);
    assert_non_null(strstr(e.msg, "gopher://x:1"));
    assert_int_not_equal(transport_client_open(&c, "gopher://x:1", NULL, NULL, 5000, &e), 0);
    assert_non_null(strstr(e.msg, "gopher://x:1"));
}

static void tls_of(const struct fixture *f, bool agent, transport_tls *t)
{
    t->ca = f->ca;
    t->cert = agent ? f->agent_crt : f->coord_crt;
    t->key = agent ? f->agent_key : f->coord_key;
}

static void test_tls_round_trip(void **state)
{
    struct fixture *f = *state;
    transport_tls server_tls, client_tls;
    tls_of(f, true, &server_tls);
    tls_of(f, false, &client_tls);
    int calls = 0;
    char url[64];
    transport_server *s = start("tls+tcp", &server_tls, &calls, url, sizeof(url));
    transport_client *c;
    cairn_err e;
    assert_int_equal(transport_client_open(&c, url, "127.0.0.1", &client_tls, 5000, &e), 0);
    call_ok(c, "secret");
    transport_client_close(c);

    /* A certificate of another CA is refused, and said to be. */
    char other[96];
    snprintf(other, sizeof(other), "%s/other", f->dir);
    assert_int_equal(certs_init(other, &e), 0);
    assert_int_equal(certs_issue(other, "coord", false, &e), 0);
    char crt[128], key[128];
    snprintf(crt, sizeof(crt), "%s/coord.crt", other);
    snprintf(key, sizeof(key), "%s/coord.key", other);
    transport_tls stranger = {.ca = f->ca, .cert = crt, .key = key};
    assert_int_equal(transport_client_open(&c, url, "127.0.0.1", &stranger, 5000, &e), CAIRN_EAUTH);
    assert_non_null(strstr(e.msg, "TLS handshake failed"));
    /* A server certificate that does not name the host it is reached at. */
    assert_int_equal(transport_client_open(&c, url, "10.9.9.9", &client_tls, 5000, &e),
                     CAIRN_EAUTH);

    /* Plain tcp to a TLS server fails; the call cannot get an answer. */
    char plain[64];
    snprintf(plain, sizeof(plain), "tcp://%s", url + strlen("tls+tcp://"));
    if (transport_client_open(&c, plain, NULL, NULL, 5000, &e) == 0) {
        uint8_t *resp;
        size_t len;
        assert_int_not_equal(transport_call(c, (const uint8_t *)"x", 1, &resp, &len, 300, &e), 0);
        transport_client_close(c);
    }
    transport_server_stop(s);
    assert_int_equal(calls, 1);

    /* TLS to a plain server: the peer hangs up mid-handshake, which is how a refused
     * certificate looks too. */
    s = start("tcp", NULL, &calls, url, sizeof(url));
    char tls_url[80];
    snprintf(tls_url, sizeof(tls_url), "tls+tcp://%s", url + strlen("tcp://"));
    assert_int_equal(transport_client_open(&c, tls_url, "127.0.0.1", &client_tls, 5000, &e),
                     CAIRN_EAUTH);
    transport_server_stop(s);
}

static void test_tls_files(void **state)
{
    struct fixture *f = *state;
    transport_tls t;
    tls_of(f, true, &t);
    int calls = 0;
    transport_server *s;
    transport_client *c;
    cairn_err e;
    char url[64];
    snprintf(url, sizeof(url), "tls+tcp://127.0.0.1:%u", next_port());

    /* A missing file is named. */
    t.ca = "/nonexistent/ca.crt";
    assert_int_equal(transport_server_start(&s, url, &t, 1, echo, &calls, &e), CAIRN_ENOENT);
    assert_non_null(strstr(e.msg, "/nonexistent/ca.crt"));

    /* A file that is not a certificate, as the CA and as our own. */
    char junk[128];
    snprintf(junk, sizeof(junk), "%s/junk.pem", f->dir);
    FILE *fp = fopen(junk, "w");
    fputs("not a certificate\n", fp);
    fclose(fp);
    tls_of(f, true, &t);
    t.ca = junk;
    assert_int_equal(transport_server_start(&s, url, &t, 1, echo, &calls, &e), CAIRN_ECONFIG);
    assert_non_null(strstr(e.msg, "as the cluster CA"));
    tls_of(f, true, &t);
    t.key = junk;
    assert_int_equal(transport_server_start(&s, url, &t, 1, echo, &calls, &e), CAIRN_ECONFIG);
    assert_non_null(strstr(e.msg, "cannot use certificate"));

    /* Something far too large to be a PEM file is not read whole. */
    char big[128];
    snprintf(big, sizeof(big), "%s/big.pem", f->dir);
    fp = fopen(big, "w");
    for (int i = 0; i < (1 << 20) / 64 + 1; i++)
        fputs("0123456789012345678901234567890123456789012345678901234567890123", fp);
    fclose(fp);
    tls_of(f, false, &t);
    t.cert = big;
    assert_int_equal(transport_client_open(&c, url, "127.0.0.1", &t, 5000, &e), CAIRN_ECONFIG);
    assert_non_null(strstr(e.msg, "too large for a PEM file"));

    /* TLS settings on a plain tcp address. */
    tls_of(f, true, &t);
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%u", next_port());
    assert_int_equal(transport_server_start(&s, url, &t, 1, echo, &calls, &e), CAIRN_ECONFIG);
    assert_non_null(strstr(e.msg, "tls+tcp://"));
    tls_of(f, false, &t);
    assert_int_equal(transport_client_open(&c, url, "127.0.0.1", &t, 5000, &e), CAIRN_ECONFIG);
    assert_non_null(strstr(e.msg, "tls+tcp://"));
}

/* A TCP listener on loopback that never accepts; backlog 0, and with fill > 0 that
 * many connections queued first, so further SYNs are dropped as on a firewalled
 * address. Returns the socket; *port its port; fillers receives the queued ones. */
static int listen_silent(unsigned *port, int *fillers, int fill)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s, fill ? 0 : 16), 0);
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    for (int i = 0; i < fill; i++) {
        fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(fillers[i], (struct sockaddr *)&a, sizeof(a)); /* EINPROGRESS or queued */
    }
    usleep(200000);
    return s;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Dials that get no answer end with the timeout and say the agent is not answering. */
static void expect_not_answering(const char *url, const transport_tls *tls)
{
    transport_client *c = NULL;
    cairn_err e;
    double t0 = now_s();
    assert_int_equal(transport_client_open(&c, url, "127.0.0.1", tls, 700, &e), CAIRN_ETIMEDOUT);
    double took = now_s() - t0;
    assert_null(c);
    assert_non_null(strstr(e.msg, url));
    assert_non_null(strstr(e.msg, "not answering"));
    assert_true(took < 60.0); /* a guard against a hang, not a speed */
}

static void test_silent_listener(void **state)
{
    struct fixture *f = *state;
    transport_tls client_tls;
    tls_of(f, false, &client_tls);
    unsigned port;
    int s = listen_silent(&port, NULL, 0);
    char url[64];
    /* TCP is accepted by the kernel; the TLS handshake never gets an answer. */
    snprintf(url, sizeof(url), "tls+tcp://127.0.0.1:%u", port);
    expect_not_answering(url, &client_tls);
    /* Plain tcp: the SP header exchange never gets one either. */
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%u", port);
    expect_not_answering(url, NULL);
    close(s);
}

static void test_full_backlog_listener(void **state)
{
    struct fixture *f = *state;
    transport_tls client_tls;
    tls_of(f, false, &client_tls);
    unsigned port;
    int fillers[4];
    int s = listen_silent(&port, fillers, 4);
    char url[64];
    snprintf(url, sizeof(url), "tls+tcp://127.0.0.1:%u", port);
    expect_not_answering(url, &client_tls);
    for (int i = 0; i < 4; i++)
        close(fillers[i]);
    close(s);
}

static void test_err_mapping(void **state)
{
    static const struct {
        int nng, code;
        const char *says;
    } map[] = {
        {NNG_ECONNREFUSED, CAIRN_ECONN, "connection refused"},
        {NNG_ETIMEDOUT, CAIRN_ETIMEDOUT, "no answer in time"},
        {NNG_ECRYPTO, CAIRN_EAUTH, "TLS handshake failed"},
        {NNG_EPEERAUTH, CAIRN_EAUTH, "TLS handshake failed"},
        {NNG_EADDRINVAL, CAIRN_ECONFIG, "invalid address"},
        {NNG_EADDRINUSE, CAIRN_ECONN, "already in use"},
        {NNG_ECONNRESET, CAIRN_ECONN, "closed by the peer"},
        {NNG_ECONNSHUT, CAIRN_ECONN, "closed by the peer"},
        {NNG_ECLOSED, CAIRN_ECONN, "closed by the peer"},
        {NNG_EUNREACHABLE, CAIRN_ECONN, "unreachable"},
        {NNG_ENOMEM, CAIRN_ENOMEM, "out of memory"},
        {NNG_EPROTO, CAIRN_ECONN, "tcp://h:1"},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        cairn_err e;
        assert_int_equal(transport_err(&e, map[i].nng, "cannot reach", "tcp://h:1"), map[i].code);
        assert_non_null(strstr(e.msg, "cannot reach tcp://h:1: "));
        assert_non_null(strstr(e.msg, map[i].says));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_round_trip),
        cmocka_unit_test(test_bad_addresses),
        cmocka_unit_test_setup_teardown(test_tls_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_files, setup, teardown),
        cmocka_unit_test(test_err_mapping),
        cmocka_unit_test_setup_teardown(test_silent_listener, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_backlog_listener, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
