/*
 * transport - nng REQ/REP between the coordinator and the agents, with mutual TLS.
 *
 * The agent serves requests on several nng contexts at once, so a progress query is
 * answered while a slow request runs. The coordinator's REQ sockets never resend a
 * request on their own (a resend could run a request twice); callers time out and
 * retry only what is idempotent.
 */
#ifndef CAIRN_TRANSPORT_H
#define CAIRN_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* PEM files of the cluster CA and of this side's certificate and key. */
typedef struct transport_tls {
    const char *ca;
    const char *cert;
    const char *key;
} transport_tls;

typedef struct transport_server transport_server;

/* Handles one request; *resp is malloc'd and freed by the transport. A handler that
 * returns nonzero with no response makes the transport drop the request. */
typedef int (*transport_handler)(void *ctx, const uint8_t *req, size_t len, uint8_t **resp,
                                 size_t *resp_len);

/* Listens on url ("tls+tcp://host:port", or "tcp://..." when tls is NULL) with
 * nworkers contexts served by as many threads. */
int transport_server_start(transport_server **out, const char *url, const transport_tls *tls,
                           unsigned nworkers, transport_handler handler, void *ctx, cairn_err *e);

/* Reads tls's files again and uses them for the connections accepted from now on
 * (a renewed certificate, key or CA takes effect without a restart); connections
 * already open and the requests they carry are not touched. On failure (a file
 * unreadable, a key that does not match) the previous configuration stays in use. */
int transport_server_reload_tls(transport_server *s, const transport_tls *tls, cairn_err *e);

/* Stops listening, waits for the workers and frees s. */
void transport_server_stop(transport_server *s);

typedef struct transport_client transport_client;

/* Connects to url; with tls, verifies that the peer's certificate is signed by the CA
 * and names server_name, and presents this side's certificate. Fails with a message
 * that tells a refused connection from a refused certificate. The connection and the
 * TLS handshake together take at most timeout_ms (<= 0: unbounded), else
 * CAIRN_ETIMEDOUT with a message that says the agent is not answering. */
int transport_client_open(transport_client **out, const char *url, const char *server_name,
                          const transport_tls *tls, long timeout_ms, cairn_err *e);

/* Sends one request and waits up to timeout_ms for its answer; *resp is malloc'd. */
int transport_call(transport_client *c, const uint8_t *req, size_t len, uint8_t **resp,
                   size_t *resp_len, long timeout_ms, cairn_err *e);

void transport_client_close(transport_client *c);

/* Maps an nng error number to a cairn code and a message that names url. */
int transport_err(cairn_err *e, int nng_rv, const char *what, const char *url);

#endif
