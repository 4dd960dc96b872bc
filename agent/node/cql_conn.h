/*
 * cql_conn - the connection half of the cql client: frames over the byte stream of
 * cql_io (plain or TLS, with deadlines), the STARTUP and SASL PLAIN handshake, and one
 * request/answer at a time. Private to
 * node/cql*; the queries (cql.c) build their requests with cql_wire and send them here.
 */
#ifndef CAIRN_CQL_CONN_H
#define CAIRN_CQL_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "node/cql.h"
#include "node/cql_wire.h"

/* Sends the request in w as opcode and returns its answer in f (free it with
 * cql_frame_free), skipping server events. */
int cql_roundtrip(cql_conn *c, uint8_t opcode, cql_wb *w, cql_frame *f, cairn_err *e);

/* Marks c unusable (its place in the byte stream is lost) and says what was wrong. */
int cql_malformed(cql_conn *c, cairn_err *e, const char *what);

/* An ERROR frame f in answer to what, as a cairn error; the code stays for
 * cql_conn_last_error. With redact, what the server quotes back is left out. */
int cql_server_error(cql_conn *c, const cql_frame *f, const char *what, bool redact, cairn_err *e);

/* Protocol error codes that callers tell apart. */
#define CQL_ERR_SYNTAX       0x2000
#define CQL_ERR_UNAUTHORIZED 0x2100

/* The protocol error code of the last ERROR answer on c, 0 if none came yet. */
int32_t cql_conn_last_error(const cql_conn *c);

/* An answer f of the wrong kind to what. */
int cql_unexpected(cql_conn *c, const cql_frame *f, const char *what, cairn_err *e);

#endif
