/*
 * Design notes.
 *
 * The socket is non-blocking from the start: connect, the TLS handshake and every
 * transfer poll it with what is left of the deadline, so a node that stops answering
 * costs at most the timeout, in whichever phase it stops.
 *
 * With TLS, OpenSSL owns the socket's reads and writes. A transfer first calls
 * SSL_read or SSL_write and polls the socket only when OpenSSL says it wants to read
 * or write, which need not be the transfer's direction (a TLS 1.3 key update writes
 * during a read). Since SSL_read is always tried before poll, the bytes OpenSSL has
 * already decrypted and buffered (SSL_pending) are taken without waiting on a socket
 * that has nothing more to say. OpenSSL writes with write(2), not with MSG_NOSIGNAL:
 * the agent ignores SIGPIPE (main.c), so a node that hung up is an error, not a signal.
 *
 * The operator gets a different message for each way a TLS connection commonly
 * fails: a certificate the CA does not vouch for (check ca), one for another name
 * (set server_name), a node that refuses the client certificate (check cert and key),
 * and a port that does not speak TLS (a record OpenSSL cannot parse, or a close).
 */
#include "node/cql_io.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct cql_io {
    int fd;
    SSL *ssl;  /* NULL: plain */
    bool dead; /* OpenSSL failed: no close_notify */
    long timeout_ms;
    char peer[300];
};

long long cql_io_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool cql_io_tls(const cql_io *io)
{
    return io->ssl != NULL;
}

/* Polls fd for events until deadline; *err is errno's value on failure. */
static int poll_until(int fd, short events, long long deadline, int *err)
{
    for (;;) {
        long long left = deadline - cql_io_now_ms();
        if (left <= 0) {
            *err = ETIMEDOUT;
            return -1;
        }
        struct pollfd pfd = {.fd = fd, .events = events};
        int n = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR) {
            *err = errno;
            return -1;
        }
    }
}

static int wait_io(cql_io *io, short events, long long deadline, cairn_err *e)
{
    int err = 0;
    if (poll_until(io->fd, events, deadline, &err) == 0)
        return 0;
    if (err == ETIMEDOUT)
        return err_set(e, CAIRN_ETIMEDOUT, "ScyllaDB at %s did not answer over CQL within %ld ms",
                       io->peer, io->timeout_ms);
    return err_set(e, CAIRN_EIO, "waiting for ScyllaDB at %s: %s", io->peer, strerror(err));
}

static int closed(cql_io *io, cairn_err *e)
{
    return err_set(e, CAIRN_ECONN, "ScyllaDB at %s closed the CQL connection", io->peer);
}

/* An alert by which the node says it refused the client certificate. */
static bool refused_cert(int reason)
{
    switch (reason) {
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
        return true;
    default:
        return false;
    }
}

/* What the bytes or the close of a peer that is not a TLS server look like to OpenSSL. */
static bool not_tls(int reason)
{
    return reason == SSL_R_WRONG_VERSION_NUMBER || reason == SSL_R_UNKNOWN_PROTOCOL ||
           reason == SSL_R_PACKET_LENGTH_TOO_LONG || reason == SSL_R_UNEXPECTED_EOF_WHILE_READING;
}

/* A failed SSL_connect: err is SSL_get_error's answer; name, what was verified. */
static int handshake_failed(cql_io *io, int err, const char *name, cairn_err *e)
{
    unsigned long code = ERR_peek_last_error();
    int reason = ERR_GET_REASON(code);
    const char *why = code ? ERR_reason_error_string(code) : NULL;
    long v = SSL_get_verify_result(io->ssl);
    int sys = errno;
    ERR_clear_error();
    io->dead = true;
    if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED &&
        (v == X509_V_ERR_HOSTNAME_MISMATCH || v == X509_V_ERR_IP_ADDRESS_MISMATCH))
        return err_set(e, CAIRN_EAUTH,
                       "CQL TLS handshake with %s failed: certificate verify failed: the node's "
                       "certificate is not for %s: set scylla.cql_tls.server_name to a name it "
                       "holds",
                       io->peer, name);
    if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED)
        return err_set(e, CAIRN_EAUTH,
                       "CQL TLS handshake with %s failed: certificate verify failed (%s): check "
                       "scylla.cql_tls.ca",
                       io->peer, X509_verify_cert_error_string(v));
    if (refused_cert(reason))
        return err_set(e, CAIRN_EAUTH,
                       "CQL TLS handshake with %s failed: the node refused the client "
                       "certificate (%s): check scylla.cql_tls.cert and scylla.cql_tls.key",
                       io->peer, why);
    if (not_tls(reason) || (err == SSL_ERROR_SYSCALL && !code))
        return err_set(e, CAIRN_EPROTO,
                       "CQL TLS handshake with %s failed: %s: the node does not speak TLS on "
                       "this port; enable its client_encryption_options, or remove "
                       "scylla.cql_tls from the agent configuration",
                       io->peer,
                       why   ? why
                       : sys ? strerror(sys)
                             : "connection closed");
    return err_set(e, CAIRN_EPROTO, "CQL TLS handshake with %s failed: %s", io->peer,
                   why   ? why
                   : sys ? strerror(sys)
                         : "connection closed");
}

static bool ip_literal(const char *s)
{
    unsigned char a[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

/* Checks the node's certificate against name; a host name also goes out as SNI. */
static int set_name(cql_io *io, const cql_tls *t, const char *name, cairn_err *e)
{
    int ok = 1;
    if (ip_literal(name)) {
        if (!t->skip_verify)
            ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(io->ssl), name);
    } else {
        ok = SSL_set_tlsext_host_name(io->ssl, name);
        if (ok && !t->skip_verify)
            ok = SSL_set1_host(io->ssl, name);
    }
    ERR_clear_error();
    return ok == 1 ? 0
                   : err_set(e, CAIRN_ECONFIG,
                             "scylla.cql_tls.server_name: '%s' cannot be checked against a "
                             "certificate",
                             name);
}

static int tls_start(cql_io *io, const char *host, const cql_tls *t, long long deadline,
                     cairn_err *e)
{
    SSL_CTX *ctx = NULL;
    int rc = cql_tls_context(t, &ctx, e);
    if (rc)
        return rc;
    io->ssl = SSL_new(ctx);
    SSL_CTX_free(ctx); /* the SSL holds its own reference */
    if (!io->ssl || SSL_set_fd(io->ssl, io->fd) != 1) {
        ERR_clear_error();
        io->dead = true;
        return err_set(e, CAIRN_ENOMEM, "out of memory for a TLS connection");
    }
    const char *name = t->server_name ? t->server_name : host;
    if ((rc = set_name(io, t, name, e)) != 0) {
        io->dead = true;
        return rc;
    }
    for (;;) {
        ERR_clear_error();
        int k = SSL_connect(io->ssl);
        if (k == 1)
            return 0;
        int err = SSL_get_error(io->ssl, k);
        if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
            return handshake_failed(io, err, name, e);
        int why = 0;
        if (poll_until(io->fd, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline, &why)) {
            io->dead = true;
            if (why != ETIMEDOUT)
                return err_set(e, CAIRN_EIO, "CQL TLS handshake with %s: %s", io->peer,
                               strerror(why));
            return err_set(e, CAIRN_ETIMEDOUT,
                           "CQL TLS handshake with %s did not finish within %ld ms: does the "
                           "node speak TLS on this port (client_encryption_options)?",
                           io->peer, io->timeout_ms);
        }
    }
}

/* Connects to one resolved address, waiting at most until deadline. */
static int connect_addr(const struct addrinfo *ai, long long deadline, int *err)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        *err = errno;
        return -1;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        return fd;
    if (errno != EINPROGRESS) {
        *err = errno;
        close(fd);
        return -1;
    }
    if (poll_until(fd, POLLOUT, deadline, err) == 0) {
        int so = 0;
        socklen_t sl = sizeof(so);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &sl) < 0)
            so = errno;
        if (so == 0)
            return fd;
        *err = so;
    }
    close(fd);
    return -1;
}

int cql_io_open(cql_io **out, const char *host, int port, const char *peer,
                const cql_tls *tls_or_null, long timeout_ms, cairn_err *e)
{
    *out = NULL;
    cql_io *io = calloc(1, sizeof(*io));
    if (!io)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    io->fd = -1;
    io->timeout_ms = timeout_ms;
    snprintf(io->peer, sizeof(io->peer), "%s", peer);

    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", port);
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, portstr, &hints, &res);
    if (gai != 0) {
        err_set(e, CAIRN_ECONN, "cannot resolve ScyllaDB's CQL host '%s': %s", host,
                gai_strerror(gai));
        free(io);
        return CAIRN_ECONN;
    }
    long long deadline = cql_io_now_ms() + timeout_ms;
    int err = ECONNREFUSED;
    for (const struct addrinfo *ai = res; ai && io->fd < 0; ai = ai->ai_next)
        io->fd = connect_addr(ai, deadline, &err);
    freeaddrinfo(res);
    if (io->fd < 0) {
        int code = err == ETIMEDOUT ? CAIRN_ETIMEDOUT : CAIRN_ECONN;
        err_set(e, code,
                "cannot connect to ScyllaDB's CQL port at %s: %s (is scylla-server running and "
                "native_transport_port set?)",
                io->peer, strerror(err));
        free(io);
        return code;
    }
    int one = 1;
    setsockopt(io->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    int rc = cql_tls_on(tls_or_null) ? tls_start(io, host, tls_or_null, deadline, e) : 0;
    if (rc) {
        cql_io_close(io);
        return rc;
    }
    *out = io;
    return 0;
}

static int xfer_plain(cql_io *io, bool out, uint8_t *p, size_t n, long long deadline, cairn_err *e)
{
    while (n > 0) {
        ssize_t k = out ? send(io->fd, p, n, MSG_NOSIGNAL) : recv(io->fd, p, n, 0);
        if (k > 0) {
            p += k;
            n -= (size_t)k;
            continue;
        }
        if (k == 0 && !out)
            return closed(io, e);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int rc = wait_io(io, out ? POLLOUT : POLLIN, deadline, e);
            if (rc < 0)
                return rc;
            continue;
        }
        return err_set(e, CAIRN_ECONN, "CQL connection to ScyllaDB at %s broke: %s", io->peer,
                       strerror(errno));
    }
    return 0;
}

/* A transfer OpenSSL failed with err (not a want-read or want-write). */
static int tls_broke(cql_io *io, int err, cairn_err *e)
{
    unsigned long code = ERR_peek_last_error();
    int reason = ERR_GET_REASON(code);
    const char *why = code ? ERR_reason_error_string(code) : NULL;
    int sys = errno;
    ERR_clear_error();
    if (err != SSL_ERROR_ZERO_RETURN)
        io->dead = true;
    if (err == SSL_ERROR_ZERO_RETURN || reason == SSL_R_UNEXPECTED_EOF_WHILE_READING ||
        (err == SSL_ERROR_SYSCALL && !code && !sys))
        return closed(io, e);
    /* TLS 1.3 finishes the client's handshake before the node has judged the client
     * certificate: a refusal arrives as the answer to the first request. */
    if (refused_cert(reason))
        return err_set(e, CAIRN_EAUTH,
                       "ScyllaDB at %s refused the CQL TLS client certificate (%s): check "
                       "scylla.cql_tls.cert and scylla.cql_tls.key",
                       io->peer, why);
    return err_set(e, CAIRN_ECONN, "CQL TLS connection to ScyllaDB at %s broke: %s", io->peer,
                   why   ? why
                   : sys ? strerror(sys)
                         : "connection closed");
}

static int xfer_tls(cql_io *io, bool out, uint8_t *p, size_t n, long long deadline, cairn_err *e)
{
    while (n > 0) {
        /* A retry after a want-read or want-write must repeat the same arguments. */
        int chunk = n > INT_MAX / 2 ? INT_MAX / 2 : (int)n;
        ERR_clear_error();
        errno = 0;
        int k = out ? SSL_write(io->ssl, p, chunk) : SSL_read(io->ssl, p, chunk);
        if (k > 0) {
            p += k;
            n -= (size_t)k;
            continue;
        }
        int err = SSL_get_error(io->ssl, k);
        if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
            return tls_broke(io, err, e);
        int rc = wait_io(io, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline, e);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int cql_io_xfer(cql_io *io, bool out, uint8_t *p, size_t n, long long deadline, cairn_err *e)
{
    return io->ssl ? xfer_tls(io, out, p, n, deadline, e) : xfer_plain(io, out, p, n, deadline, e);
}

void cql_io_close(cql_io *io)
{
    if (!io)
        return;
    if (io->ssl) {
        /* One try at close_notify, without waiting for the node's: the socket is
         * non-blocking and closed next either way. */
        if (!io->dead)
            SSL_shutdown(io->ssl);
        ERR_clear_error();
        SSL_free(io->ssl);
    }
    if (io->fd >= 0)
        close(io->fd);
    free(io);
}
