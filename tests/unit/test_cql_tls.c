/*
 * The CQL client over TLS (node/cql_tls, node/cql_io): scylla.cql_tls as agent.yaml
 * gives it, the checks of its files, and connections to an in-test server that speaks
 * TLS (optionally requiring a client certificate), plain CQL, or nothing at all.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "agent_config.h"
#include "certs/certs.h"
#include "node/cql.h"
#include "testutil.h"

enum {
    OP_ERROR = 0x00,
    OP_STARTUP = 0x01,
    OP_READY = 0x02,
    OP_QUERY = 0x07,
    OP_RESULT = 0x08,
    OP_EVENT = 0x0C
};

/* Certificates made once for every test: CA "certs" with the server's certificate for
 * 127.0.0.1 and a client certificate, and CA "other" that signed neither. */
static char dir[64];
static char ca[128], other_ca[128], srv_crt[128], srv_key[128], cli_crt[128], cli_key[128];

static int make_certs(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/cairn-cqltls-XXXXXX");
    assert_non_null(mkdtemp(dir));
    char certs[96], other[96];
    snprintf(certs, sizeof(certs), "%s/certs", dir);
    snprintf(other, sizeof(other), "%s/other", dir);
    cairn_err e;
    assert_int_equal(certs_init(certs, &e), 0);
    assert_int_equal(certs_issue(certs, "127.0.0.1", true, &e), 0);
    assert_int_equal(certs_issue(certs, "client", false, &e), 0);
    assert_int_equal(certs_init(other, &e), 0);
    snprintf(ca, sizeof(ca), "%s/ca.crt", certs);
    snprintf(other_ca, sizeof(other_ca), "%s/ca.crt", other);
    snprintf(srv_crt, sizeof(srv_crt), "%s/127.0.0.1.crt", certs);
    snprintf(srv_key, sizeof(srv_key), "%s/127.0.0.1.key", certs);
    snprintf(cli_crt, sizeof(cli_crt), "%s/client.crt", certs);
    snprintf(cli_key, sizeof(cli_key), "%s/client.key", certs);
    /* A TLS write to a peer that hung up must fail, not kill the test (the agent
     * ignores SIGPIPE too). */
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static int remove_certs(void **state)
{
    (void)state;
    return scratch_remove(dir);
}

/* ---- the server ---- */

typedef enum {
    SRV_TLS,    /* TLS, then STARTUP -> READY and QUERY -> RESULT Void */
    SRV_CQL,    /* plain CQL as ScyllaDB answers a bad version: an ERROR, then close */
    SRV_SILENT, /* accepts and says nothing */
} srv_mode;

typedef struct server {
    int lfd, port;
    pthread_t th;
    atomic_int stop;
    srv_mode mode;
    bool client_auth;    /* require a client certificate signed by ca */
    bool coalesce;       /* READY goes out in one TLS record behind an EVENT */
    bool hang_startup;   /* read STARTUP, never answer */
    atomic_int answered; /* CQL requests answered */
    char sni[64];        /* the server name the client sent */
} server;

static void frame(uint8_t *out, uint8_t opcode, int16_t stream, uint32_t len)
{
    uint8_t h[9] = {0x84,
                    0,
                    (uint8_t)((uint16_t)stream >> 8),
                    (uint8_t)stream,
                    opcode,
                    (uint8_t)(len >> 24),
                    (uint8_t)(len >> 16),
                    (uint8_t)(len >> 8),
                    (uint8_t)len};
    memcpy(out, h, 9);
}

static bool ssl_read_all(SSL *ssl, uint8_t *p, int n)
{
    while (n > 0) {
        int k = SSL_read(ssl, p, n);
        if (k <= 0)
            return false;
        p += k;
        n -= k;
    }
    return true;
}

/* Answers CQL requests over ssl until the client leaves. */
static void serve_cql(server *s, SSL *ssl)
{
    uint8_t h[9], body[4096], out[64];
    while (!s->stop && ssl_read_all(ssl, h, 9)) {
        uint32_t len = (uint32_t)h[5] << 24 | (uint32_t)h[6] << 16 | (uint32_t)h[7] << 8 | h[8];
        int16_t stream = (int16_t)(h[2] << 8 | h[3]);
        if (len > sizeof(body) || !ssl_read_all(ssl, body, (int)len))
            return;
        if (h[4] == OP_STARTUP && s->hang_startup) {
            while (!s->stop)
                usleep(10000);
            return;
        }
        size_t n = 0;
        if (h[4] == OP_STARTUP && s->coalesce) {
            static const uint8_t ev[] = {0,   13,  'S', 'C', 'H', 'E', 'M', 'A',
                                         '_', 'C', 'H', 'A', 'N', 'G', 'E'};
            frame(out, OP_EVENT, -1, sizeof(ev));
            memcpy(out + 9, ev, sizeof(ev));
            n = 9 + sizeof(ev);
        }
        if (h[4] == OP_STARTUP) {
            frame(out + n, OP_READY, stream, 0);
            n += 9;
        } else {
            frame(out + n, OP_RESULT, stream, 4);
            memcpy(out + n + 9, "\0\0\0\1", 4); /* kind Void */
            n += 13;
        }
        s->answered++; /* before the client can see the answer */
        if (SSL_write(ssl, out, (int)n) != (int)n)
            return;
    }
}

/* Ends a connection without resetting it: what the client sent is read first. */
static void hang_up(int fd)
{
    uint8_t sink[4096];
    shutdown(fd, SHUT_WR);
    while (recv(fd, sink, sizeof(sink), 0) > 0)
        ;
    close(fd);
}

static void serve_tls(server *s, int fd)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    assert_int_equal(SSL_CTX_use_certificate_chain_file(ctx, srv_crt), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey_file(ctx, srv_key, SSL_FILETYPE_PEM), 1);
    if (s->client_auth) {
        assert_int_equal(SSL_CTX_load_verify_locations(ctx, ca, NULL), 1);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) == 1) {
        const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
        snprintf(s->sni, sizeof(s->sni), "%s", sni ? sni : "");
        serve_cql(s, ssl);
        SSL_shutdown(ssl);
    }
    ERR_clear_error();
    SSL_free(ssl);
    SSL_CTX_free(ctx);
}

static void *serve(void *arg)
{
    server *s = arg;
    int fd = -1;
    while (!s->stop && fd < 0) {
        struct pollfd pf = {.fd = s->lfd, .events = POLLIN};
        if (poll(&pf, 1, 20) > 0)
            fd = accept(s->lfd, NULL, NULL);
    }
    if (fd < 0)
        return NULL;
    struct timeval tv = {.tv_sec = 5}; /* a hang guard, should the client misbehave */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    uint8_t h[9], out[64];
    switch (s->mode) {
    case SRV_TLS:
        serve_tls(s, fd);
        break;
    case SRV_CQL: /* the version byte of a ClientHello is 0x16: refused from the header */
        if (recv(fd, h, sizeof(h), MSG_WAITALL) == (ssize_t)sizeof(h)) {
            static const char msg[] = "Invalid or unsupported protocol version (22)";
            frame(out, OP_ERROR, 0, 4 + 2 + sizeof(msg) - 1);
            memcpy(out + 9, "\0\0\0\x0a\0", 5);
            out[14] = sizeof(msg) - 1;
            memcpy(out + 15, msg, sizeof(msg) - 1);
            send(fd, out, 15 + sizeof(msg) - 1, MSG_NOSIGNAL);
        }
        break;
    case SRV_SILENT:
        while (!s->stop)
            usleep(10000);
        break;
    }
    hang_up(fd);
    return NULL;
}

static server *server_start(srv_mode mode)
{
    server *s = calloc(1, sizeof(*s));
    s->mode = mode;
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s->lfd, 4), 0);
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &len), 0);
    s->port = ntohs(a.sin_port);
    return s;
}

static void server_run(server *s)
{
    assert_int_equal(pthread_create(&s->th, NULL, serve, s), 0);
}

static void server_done(server *s)
{
    s->stop = 1;
    pthread_join(s->th, NULL);
    close(s->lfd);
    free(s);
}

/* Connects to s (started with server_run) with t; the message in e. */
static int connect_with(server *s, const cql_tls *t, long timeout_ms, cql_conn **c, cairn_err *e)
{
    err_clear(e);
    return cql_connect(c, "127.0.0.1", s->port, NULL, NULL, t, timeout_ms, e);
}

static void assert_has(const cairn_err *e, const char *part)
{
    if (!strstr(e->msg, part))
        fail_msg("'%s' not in: %s", part, e->msg);
}

/* ---- connections ---- */

static void test_round_trip(void **state)
{
    (void)state;
    server *s = server_start(SRV_TLS);
    s->coalesce = true;
    server_run(s);
    cql_tls t = {.ca = ca};
    cql_conn *c = NULL;
    cairn_err e;
    /* READY sits behind an EVENT in one TLS record: were the socket polled before
     * OpenSSL's buffer is drained, this would wait for bytes that never come. */
    assert_int_equal(connect_with(s, &t, 5000, &c, &e), 0);
    assert_int_equal(cql_query(c, "SELECT key FROM system.local", NULL, NULL, &e), 0);
    assert_int_equal(s->answered, 2);
    assert_string_equal(s->sni, ""); /* an address is not sent as SNI */
    cql_close(c);
    server_done(s);
}

static void test_verify_failures(void **state)
{
    (void)state;
    cql_conn *c = NULL;
    cairn_err e;
    server *s = server_start(SRV_TLS);
    server_run(s);
    cql_tls t = {.ca = other_ca};
    assert_int_equal(connect_with(s, &t, 5000, &c, &e), CAIRN_EAUTH);
    assert_null(c);
    char want[128];
    snprintf(want, sizeof(want),
             "CQL TLS handshake with 127.0.0.1:%d failed: certificate verify "
             "failed (",
             s->port);
    assert_has(&e, want);
    assert_has(&e, "): check scylla.cql_tls.ca");
    server_done(s);

    /* The certificate is for 127.0.0.1, not for the name asked for. */
    s = server_start(SRV_TLS);
    server_run(s);
    t = (cql_tls){.ca = ca, .server_name = "db1.example"};
    assert_int_equal(connect_with(s, &t, 5000, &c, &e), CAIRN_EAUTH);
    assert_has(&e, "the node's certificate is not for db1.example: set "
                   "scylla.cql_tls.server_name");
    assert_string_equal(s->sni, "");
    server_done(s);

    /* insecure_skip_verify takes any certificate, for any name; a host name goes as SNI. */
    s = server_start(SRV_TLS);
    server_run(s);
    t = (cql_tls){.ca = other_ca, .server_name = "db1.example", .skip_verify = true};
    assert_int_equal(connect_with(s, &t, 5000, &c, &e), 0);
    assert_string_equal(s->sni, "db1.example");
    cql_close(c);
    server_done(s);
}

static void test_client_certificate(void **state)
{
    (void)state;
    cql_conn *c = NULL;
    cairn_err e;
    server *s = server_start(SRV_TLS);
    s->client_auth = true;
    server_run(s);
    cql_tls t = {.ca = ca};
    assert_int_equal(connect_with(s, &t, 5000, &c, &e), CAIRN_EAUTH);
    assert_has(&e, "check scylla.cql_tls.cert and scylla.cql_tls.key");
    server_done(s);

    s = server_start(SRV_TLS);
    s->client_auth = true;
    server_run(s);
    t = (cql_tls){.ca = ca, .cert = cli_crt, .key = cli_key};
    assert_int_equal(connect_with(s, &t, 5000, &c, &e), 0);
    assert_int_equal(s->answered, 1);
    cql_close(c);
    server_done(s);
}

static void test_plain_and_tls_mixed_up(void **state)
{
    (void)state;
    cql_conn *c = NULL;
    cairn_err e;
    /* A plain client of a TLS port. */
    server *s = server_start(SRV_TLS);
    server_run(s);
    assert_int_not_equal(connect_with(s, NULL, 5000, &c, &e), 0);
    assert_has(&e, "client_encryption_options");
    assert_has(&e, "set scylla.cql_tls in the agent configuration");
    server_done(s);

    /* A TLS client of a plain port. */
    s = server_start(SRV_CQL);
    server_run(s);
    cql_tls t = {.ca = ca};
    assert_int_equal(connect_with(s, &t, 5000, &c, &e), CAIRN_EPROTO);
    assert_has(&e, "the node does not speak TLS on this port");
    assert_has(&e, "remove scylla.cql_tls");
    server_done(s);
}

static void test_deadlines(void **state)
{
    (void)state;
    cql_conn *c = NULL;
    cairn_err e;
    cql_tls t = {.ca = ca};
    server *s = server_start(SRV_SILENT);
    server_run(s);
    assert_int_equal(connect_with(s, &t, 300, &c, &e), CAIRN_ETIMEDOUT);
    assert_has(&e, "did not finish within 300 ms");
    server_done(s);

    s = server_start(SRV_TLS);
    s->hang_startup = true;
    server_run(s);
    assert_int_equal(connect_with(s, &t, 300, &c, &e), CAIRN_ETIMEDOUT);
    assert_has(&e, "did not answer over CQL within 300 ms");
    server_done(s);
}

/* ---- the settings and their files ---- */

static void test_check_files(void **state)
{
    (void)state;
    cairn_err e;
    char missing[160], garbage[160];
    snprintf(missing, sizeof(missing), "%s/none.crt", dir);
    snprintf(garbage, sizeof(garbage), "%s/garbage.crt", dir);
    FILE *f = fopen(garbage, "w");
    assert_non_null(f);
    fputs("not a certificate\n", f);
    fclose(f);

    assert_int_equal(cql_tls_check(&(cql_tls){.ca = ca, .cert = cli_crt, .key = cli_key}, &e), 0);
    assert_int_equal(cql_tls_check(&(cql_tls){0}, &e), 0); /* off: nothing to read */

    assert_int_equal(cql_tls_check(&(cql_tls){.ca = missing}, &e), CAIRN_ECONFIG);
    assert_has(&e, "scylla.cql_tls.ca");
    assert_has(&e, missing);
    assert_has(&e, "No such file");
    assert_int_equal(cql_tls_check(&(cql_tls){.ca = garbage}, &e), CAIRN_ECONFIG);
    assert_has(&e, "holds no PEM CA certificate");
    assert_int_equal(cql_tls_check(&(cql_tls){.ca = ca, .cert = garbage, .key = cli_key}, &e),
                     CAIRN_ECONFIG);
    assert_has(&e, "scylla.cql_tls.cert");
    assert_has(&e, "holds no PEM certificate");
    assert_int_equal(cql_tls_check(&(cql_tls){.ca = ca, .cert = cli_crt, .key = srv_key}, &e),
                     CAIRN_ECONFIG);
    assert_has(&e, "is not the key of scylla.cql_tls.cert");
    assert_int_equal(cql_tls_check(&(cql_tls){.ca = ca, .cert = cli_crt, .key = missing}, &e),
                     CAIRN_ECONFIG);
    assert_has(&e, "scylla.cql_tls.key");
}

/* agent.yaml at DIR/agent.yaml holding text. */
static int load_config(const char *text, agent_config *c, cairn_err *e)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/agent.yaml", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "cluster: c1\ninsecure: true\nscylla:\n  cql: db1:9042\n%s", text);
    fclose(f);
    err_clear(e);
    return agent_config_load(path, c, e);
}

static void test_config(void **state)
{
    (void)state;
    agent_config c;
    cairn_err e;
    assert_int_equal(load_config("", &c, &e), 0);
    assert_false(cql_tls_on(&c.scylla_cql_tls));
    agent_config_free(&c);

    /* A ca turns TLS on; paths are read from the file's directory. */
    assert_int_equal(load_config("  cql_tls:\n    ca: certs/ca.crt\n    cert: c.crt\n"
                                 "    key: /etc/k.key\n    server_name: db1.example\n",
                                 &c, &e),
                     0);
    assert_true(cql_tls_on(&c.scylla_cql_tls));
    char want[160];
    snprintf(want, sizeof(want), "%s/certs/ca.crt", dir);
    assert_string_equal(c.scylla_cql_tls.ca, want);
    snprintf(want, sizeof(want), "%s/c.crt", dir);
    assert_string_equal(c.scylla_cql_tls.cert, want);
    assert_string_equal(c.scylla_cql_tls.key, "/etc/k.key");
    assert_string_equal(c.scylla_cql_tls.server_name, "db1.example");
    assert_false(c.scylla_cql_tls.skip_verify);
    agent_config_free(&c);

    /* enabled alone: the system's CAs verify. */
    assert_int_equal(load_config("  cql_tls:\n    enabled: true\n    insecure_skip_verify: "
                                 "true\n",
                                 &c, &e),
                     0);
    assert_true(cql_tls_on(&c.scylla_cql_tls));
    assert_null(c.scylla_cql_tls.ca);
    assert_true(c.scylla_cql_tls.skip_verify);
    agent_config_free(&c);

    static const struct {
        const char *text, *says;
    } bad[] = {
        {"  cql_tls:\n    ca: ca.crt\n    cert: c.crt\n",
         "scylla.cql_tls.cert and scylla.cql_tls.key go together"},
        {"  cql_tls:\n    ca: ca.crt\n    key: c.key\n",
         "scylla.cql_tls.cert and scylla.cql_tls.key go together"},
        {"  cql_tls:\n    cert: c.crt\n    key: c.key\n",
         "scylla.cql_tls.cert is set but CQL TLS is off"},
        {"  cql_tls:\n    insecure_skip_verify: true\n",
         "scylla.cql_tls.insecure_skip_verify is set but CQL TLS is off"},
        {"  cql_tls:\n    ca: ca.crt\n    server_name: \"db1 example\"\n",
         "scylla.cql_tls.server_name must be a host name or an IP address"},
        {"  cql_tls:\n    enabled: maybe\n", "must be true or false"},
        {"  cql_tls:\n    cafile: ca.crt\n", "cafile"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (load_config(bad[i].text, &c, &e) == 0)
            fail_msg("accepted: %s", bad[i].text);
        assert_has(&e, bad[i].says);
        assert_has(&e, "agent.yaml");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_verify_failures),
        cmocka_unit_test(test_client_certificate),
        cmocka_unit_test(test_plain_and_tls_mixed_up),
        cmocka_unit_test(test_deadlines),
        cmocka_unit_test(test_check_files),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, make_certs, remove_certs);
}
