/*
 * cql_io - the byte stream under the CQL client: a TCP connection to the node, plain or
 * TLS (scylla.cql_tls), whose every transfer waits at most until a deadline. Private to
 * node/cql*; cql_conn frames the stream.
 */
#ifndef CAIRN_CQL_IO_H
#define CAIRN_CQL_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "node/cql_tls.h"

typedef struct cql_io cql_io;

/* Now on the monotonic clock, in ms: the scale of deadlines. */
long long cql_io_now_ms(void);

/* Connects to host:port and, when tls_or_null is on, completes the TLS handshake and
 * verifies the node's certificate, all within timeout_ms. peer names the node in
 * messages; timeout_ms is also what a later timeout reports. */
int cql_io_open(cql_io **out, const char *host, int port, const char *peer,
                const cql_tls *tls_or_null, long timeout_ms, cairn_err *e);

/* Sends (out) or receives all n bytes at p by deadline. After a failure the position
 * in the stream is unknown: the connection is of no more use. */
int cql_io_xfer(cql_io *io, bool out, uint8_t *p, size_t n, long long deadline, cairn_err *e);

/* Whether the connection is TLS. */
bool cql_io_tls(const cql_io *io);

void cql_io_close(cql_io *io);

#endif
