#include "net/transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>

#include "base/buf.h"

int transport_err(cairn_err *e, int rv, const char *what, const char *url)
{
    switch (rv) {
    case NNG_ECONNREFUSED:
        return err_set(e, CAIRN_ECONN, "%s %s: connection refused (is cairn-agent running there?)",
                       what, url);
    case NNG_ETIMEDOUT:
        return err_set(e, CAIRN_ETIMEDOUT,
                       "%s %s: no answer in time (the agent is not answering: stopped, "
                       "overloaded or cut off?)",
                       what, url);
    case NNG_ECRYPTO:
    case NNG_EPEERAUTH:
        return err_set(e, CAIRN_EAUTH,
                       "%s %s: TLS handshake failed (the certificates are not signed by the same "
                       "cluster CA, do not name this host or are not meant for this use, or one "
                       "side expects plain tcp)",
                       what, url);
    case NNG_EADDRINVAL:
        return err_set(e, CAIRN_ECONFIG, "%s %s: invalid address", what, url);
    case NNG_EADDRINUSE:
        return err_set(e, CAIRN_ECONN, "%s %s: address already in use", what, url);
    case NNG_ECONNRESET:
    case NNG_ECONNSHUT:
    case NNG_ECLOSED:
        return err_set(e, CAIRN_ECONN, "%s %s: connection closed by the peer", what, url);
    case NNG_EUNREACHABLE:
        return err_set(e, CAIRN_ECONN, "%s %s: host unreachable", what, url);
    case NNG_ENOMEM:
        return err_set(e, CAIRN_ENOMEM, "%s %s: out of memory", what, url);
    default:
        return err_set(e, CAIRN_ECONN, "%s %s: %s", what, url, nng_strerror(rv));
    }
}

/* PEM files are small; the limit keeps a wrong path (a device, a log) from filling memory. */
#define PEM_MAX   ((1u << 20) - 1)
#define PEM_CHUNK 4096

static int read_pem(const char *path, char **out, cairn_err *e)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return err_sys(e, errno, "cannot read %s", path);
    buf b = BUF_INIT;
    b.limit = PEM_MAX;
    for (;;) {
        int rc = buf_reserve(&b, PEM_CHUNK, NULL);
        if (rc) {
            buf_free(&b);
            fclose(f);
            if (rc == CAIRN_EPROTO)
                return err_set(e, CAIRN_ECONFIG, "%s is too large for a PEM file", path);
            return err_set(e, CAIRN_ENOMEM, "out of memory reading %s", path);
        }
        size_t n = fread(b.data + b.len, 1, PEM_CHUNK, f);
        b.len += n;
        b.data[b.len] = '\0';
        if (n == 0)
            break;
    }
    fclose(f);
    *out = (char *)buf_steal(&b, NULL);
    return 0;
}

/* Builds a TLS configuration that requires and verifies the peer's certificate. */
static int tls_config_new(nng_tls_config **out, nng_tls_mode mode, const transport_tls *tls,
                          const char *server_name, cairn_err *e)
{
    char *ca = NULL, *cert = NULL, *key = NULL;
    nng_tls_config *cfg = NULL;
    int rc = read_pem(tls->ca, &ca, e);
    if (!rc)
        rc = read_pem(tls->cert, &cert, e);
    if (!rc)
        rc = read_pem(tls->key, &key, e);
    if (rc)
        goto done;
    int rv = nng_tls_config_alloc(&cfg, mode);
    if (rv) {
        rc = err_set(e, CAIRN_ENOMEM, "cannot set up TLS: %s", nng_strerror(rv));
        goto done;
    }
    if ((rv = nng_tls_config_ca_chain(cfg, ca, NULL)) != 0) {
        rc = err_set(e, CAIRN_ECONFIG, "cannot use %s as the cluster CA: %s", tls->ca,
                     nng_strerror(rv));
        goto done;
    }
    if ((rv = nng_tls_config_own_cert(cfg, cert, key, NULL)) != 0) {
        rc = err_set(e, CAIRN_ECONFIG, "cannot use certificate %s with key %s: %s", tls->cert,
                     tls->key, nng_strerror(rv));
        goto done;
    }
    nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED);
    if (server_name && (rv = nng_tls_config_server_name(cfg, server_name)) != 0) {
        rc = err_set(e, CAIRN_ECONFIG, "invalid TLS server name %s: %s", server_name,
                     nng_strerror(rv));
        goto done;
    }
    *out = cfg;
    cfg = NULL;
done:
    if (cfg)
        nng_tls_config_free(cfg);
    if (key) {
        /* The private key should not linger in freed heap memory. */
        explicit_bzero(key, strlen(key));
        free(key);
    }
    free(cert);
    free(ca);
    return rc;
}

struct transport_server {
    nng_socket sock;
    nng_listener listener;
    transport_handler handler;
    void *ctx;
    unsigned nworkers;
    pthread_t *threads;
};

static void *server_worker(void *arg)
{
    transport_server *s = arg;
    nng_ctx ctx;
    nng_aio *aio;
    if (nng_ctx_open(&ctx, s->sock) != 0)
        return NULL;
    if (nng_aio_alloc(&aio, NULL, NULL) != 0) {
        nng_ctx_close(ctx);
        return NULL;
    }
    for (;;) {
        nng_ctx_recv(ctx, aio);
        nng_aio_wait(aio);
        int rv = nng_aio_result(aio);
        if (rv == NNG_ECLOSED)
            break;
        if (rv != 0)
            continue;
        nng_msg *msg = nng_aio_get_msg(aio);
        uint8_t *resp = NULL;
        size_t resp_len = 0;
        s->handler(s->ctx, nng_msg_body(msg), nng_msg_len(msg), &resp, &resp_len);
        if (!resp) {
            nng_msg_free(msg);
            continue;
        }
        /* Reuse the request message: it already carries the REP routing header. */
        nng_msg_clear(msg);
        if (nng_msg_append(msg, resp, resp_len) != 0) {
            nng_msg_free(msg);
            free(resp);
            continue;
        }
        free(resp);
        nng_aio_set_msg(aio, msg);
        nng_ctx_send(ctx, aio);
        nng_aio_wait(aio);
        if (nng_aio_result(aio) != 0)
            nng_msg_free(nng_aio_get_msg(aio));
    }
    nng_aio_free(aio);
    nng_ctx_close(ctx);
    return NULL;
}

int transport_server_start(transport_server **out, const char *url, const transport_tls *tls,
                           unsigned nworkers, transport_handler handler, void *ctx, cairn_err *e)
{
    transport_server *s = calloc(1, sizeof(*s));
    if (!s)
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    s->handler = handler;
    s->ctx = ctx;
    int rc = 0, rv;
    nng_tls_config *cfg = NULL;
    if ((rv = nng_rep0_open(&s->sock)) != 0) {
        free(s);
        return transport_err(e, rv, "cannot open a socket for", url);
    }
    nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, 16u << 20);
    if ((rv = nng_listener_create(&s->listener, s->sock, url)) != 0) {
        rc = transport_err(e, rv, "cannot listen on", url);
        goto fail;
    }
    if (tls) {
        if ((rc = tls_config_new(&cfg, NNG_TLS_MODE_SERVER, tls, NULL, e)) != 0)
            goto fail;
        rv = nng_listener_set_ptr(s->listener, NNG_OPT_TLS_CONFIG, cfg);
        nng_tls_config_free(cfg); /* the listener holds its own reference */
        if (rv != 0) {
            rc = err_set(e, CAIRN_ECONFIG, "cannot use TLS on %s (use a tls+tcp:// address): %s",
                         url, nng_strerror(rv));
            goto fail;
        }
    }
    if ((rv = nng_listener_start(s->listener, 0)) != 0) {
        rc = transport_err(e, rv, "cannot listen on", url);
        goto fail;
    }
    s->threads = calloc(nworkers, sizeof(*s->threads));
    if (!s->threads) {
        rc = err_set(e, CAIRN_ENOMEM, "out of memory");
        goto fail;
    }
    for (unsigned i = 0; i < nworkers; i++) {
        if (pthread_create(&s->threads[i], NULL, server_worker, s) != 0) {
            rc = err_set(e, CAIRN_ENOMEM, "cannot start server threads");
            goto fail;
        }
        s->nworkers++;
    }
    *out = s;
    return 0;
fail:
    transport_server_stop(s);
    return rc;
}

/* nng posts each accept ahead of the connection it will take, holding the TLS
 * configuration of that moment: after a swap, the next client would still meet the old
 * certificates. A connection of our own, closed at once, uses up that accept. Should it
 * fail, the change only comes one connection later. */
static void server_use_up_accept(transport_server *s)
{
    nng_sockaddr sa;
    if (nng_listener_get_addr(s->listener, NNG_OPT_LOCADDR, &sa) != 0)
        return;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t len;
    if (sa.s_family == NNG_AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        in->sin_port = sa.s_in.sa_port; /* both in network order */
        in->sin_addr.s_addr = sa.s_in.sa_addr ? sa.s_in.sa_addr : htonl(INADDR_LOOPBACK);
        len = sizeof(*in);
    } else if (sa.s_family == NNG_AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = sa.s_in6.sa_port;
        memcpy(&in6->sin6_addr, sa.s_in6.sa_addr, sizeof(in6->sin6_addr));
        if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr))
            in6->sin6_addr = in6addr_loopback;
        len = sizeof(*in6);
    } else {
        return;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    (void)connect(fd, (struct sockaddr *)&ss, len);
    close(fd);
}

int transport_server_reload_tls(transport_server *s, const transport_tls *tls, cairn_err *e)
{
    nng_tls_config *cfg = NULL;
    int rc = tls_config_new(&cfg, NNG_TLS_MODE_SERVER, tls, NULL, e);
    if (rc)
        return rc;
    /* The listener takes its own reference and drops the old configuration's; TLS
     * sessions already set up keep theirs. */
    int rv = nng_listener_set_ptr(s->listener, NNG_OPT_TLS_CONFIG, cfg);
    nng_tls_config_free(cfg);
    if (rv != 0)
        return err_set(e, CAIRN_ECONFIG, "cannot replace the TLS configuration: %s",
                       nng_strerror(rv));
    server_use_up_accept(s);
    return 0;
}

void transport_server_stop(transport_server *s)
{
    if (!s)
        return;
    nng_close(s->sock);
    for (unsigned i = 0; i < s->nworkers; i++)
        pthread_join(s->threads[i], NULL);
    free(s->threads);
    free(s);
}

struct transport_client {
    nng_socket sock;
    char *url;
};

/* The first dial, run on a helper thread: nng 1.5 has no connect or handshake timeout,
 * so the caller waits on cond for at most its timeout and then closes the socket,
 * which makes nng_dialer_start return. */
typedef struct dial_wait {
    nng_dialer d;
    int rv;
    bool done;
    pthread_mutex_t lock;
    pthread_cond_t cond;
} dial_wait;

static void *dial_main(void *p)
{
    dial_wait *w = p;
    int rv = nng_dialer_start(w->d, 0);
    pthread_mutex_lock(&w->lock);
    w->rv = rv;
    w->done = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* Dials d within timeout_ms (<= 0: no bound); NNG_ETIMEDOUT when it did not complete,
 * in which case the socket is closed. */
static int dial_bounded(nng_socket sock, nng_dialer d, long timeout_ms)
{
    if (timeout_ms <= 0)
        return nng_dialer_start(d, 0);
    dial_wait w = {.d = d};
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_t t;
    int rv;
    if (pthread_create(&t, NULL, dial_main, &w) != 0) {
        rv = nng_dialer_start(d, 0); /* no thread to spare: dial unbounded */
    } else {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += timeout_ms / 1000;
        until.tv_nsec += (timeout_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&w.lock);
        while (!w.done && pthread_cond_timedwait(&w.cond, &w.lock, &until) != ETIMEDOUT)
            ;
        bool done = w.done;
        pthread_mutex_unlock(&w.lock);
        if (!done)
            nng_close(sock); /* aborts the dial; the thread returns soon */
        pthread_join(t, NULL);
        rv = done ? w.rv : NNG_ETIMEDOUT;
    }
    pthread_cond_destroy(&w.cond);
    pthread_mutex_destroy(&w.lock);
    return rv;
}

int transport_client_open(transport_client **out, const char *url, const char *server_name,
                          const transport_tls *tls, long timeout_ms, cairn_err *e)
{
    transport_client *c = calloc(1, sizeof(*c));
    if (!c || !(c->url = strdup(url))) {
        free(c);
        return err_set(e, CAIRN_ENOMEM, "out of memory");
    }
    int rc = 0, rv;
    nng_dialer d;
    nng_tls_config *cfg = NULL;
    if ((rv = nng_req0_open(&c->sock)) != 0) {
        free(c->url);
        free(c);
        return transport_err(e, rv, "cannot open a socket for", url);
    }
    nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, 16u << 20);
    nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 100);
    nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 2000);
    if ((rv = nng_dialer_create(&d, c->sock, url)) != 0) {
        rc = transport_err(e, rv, "cannot connect to", url);
        goto fail;
    }
    if (tls) {
        if ((rc = tls_config_new(&cfg, NNG_TLS_MODE_CLIENT, tls, server_name, e)) != 0)
            goto fail;
        rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg);
        nng_tls_config_free(cfg);
        if (rv != 0) {
            rc = err_set(e, CAIRN_ECONFIG, "cannot use TLS to %s (use a tls+tcp:// address): %s",
                         url, nng_strerror(rv));
            goto fail;
        }
    }
    /* A synchronous first dial reports a refused connection or certificate at once;
     * afterwards nng reconnects by itself if the agent restarts. It is bounded: a
     * stopped agent accepts TCP (the kernel does) and never answers TLS, and a
     * firewalled address drops the SYNs for minutes. */
    if ((rv = dial_bounded(c->sock, d, timeout_ms)) != 0) {
        if (rv == NNG_ETIMEDOUT) {
            rc = err_set(e, CAIRN_ETIMEDOUT,
                         "agent %s is not answering: it did not answer within %ld s "
                         "(connecting / TLS handshake); is it stopped, overloaded, or is the "
                         "address firewalled?",
                         url, (timeout_ms + 999) / 1000);
            goto fail;
        }
        /* A TLS peer that refuses our certificate may just hang up mid-handshake. */
        if (tls && (rv == NNG_ECONNSHUT || rv == NNG_ECONNRESET || rv == NNG_ECLOSED))
            rv = NNG_EPEERAUTH;
        rc = transport_err(e, rv, "cannot connect to agent", url);
        goto fail;
    }
    *out = c;
    return 0;
fail:
    transport_client_close(c);
    return rc;
}

int transport_call(transport_client *c, const uint8_t *req, size_t len, uint8_t **resp,
                   size_t *resp_len, long timeout_ms, cairn_err *e)
{
    nng_ctx ctx;
    nng_aio *aio = NULL;
    nng_msg *msg = NULL;
    int rv, rc = 0;
    if ((rv = nng_ctx_open(&ctx, c->sock)) != 0)
        return transport_err(e, rv, "cannot talk to agent", c->url);
    if ((rv = nng_aio_alloc(&aio, NULL, NULL)) != 0 || (rv = nng_msg_alloc(&msg, 0)) != 0 ||
        (rv = nng_msg_append(msg, req, len)) != 0) {
        rc = transport_err(e, rv, "cannot talk to agent", c->url);
        goto done;
    }
    nng_aio_set_timeout(aio, timeout_ms);
    nng_aio_set_msg(aio, msg);
    nng_ctx_send(ctx, aio);
    nng_aio_wait(aio);
    if ((rv = nng_aio_result(aio)) != 0) {
        rc = transport_err(e, rv, "cannot send to agent", c->url);
        goto done; /* msg is still ours */
    }
    msg = NULL;
    nng_ctx_recv(ctx, aio);
    nng_aio_wait(aio);
    if ((rv = nng_aio_result(aio)) != 0) {
        rc = transport_err(e, rv, "no answer from agent", c->url);
        goto done;
    }
    msg = nng_aio_get_msg(aio);
    *resp_len = nng_msg_len(msg);
    *resp = malloc(*resp_len ? *resp_len : 1);
    if (!*resp)
        rc = err_set(e, CAIRN_ENOMEM, "out of memory");
    else
        memcpy(*resp, nng_msg_body(msg), *resp_len);
done:
    if (msg)
        nng_msg_free(msg);
    if (aio)
        nng_aio_free(aio);
    nng_ctx_close(ctx);
    return rc;
}

void transport_client_close(transport_client *c)
{
    if (!c)
        return;
    nng_close(c->sock);
    free(c->url);
    free(c);
}
