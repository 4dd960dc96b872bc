/*
 * cql - a minimal CQL native protocol v4 client for the agent's local ScyllaDB.
 *
 * The agent only needs the schema (DESCRIBE SCHEMA) and table ids, so this speaks the
 * few messages those take: STARTUP, SASL PLAIN authentication and QUERY with paging,
 * one request at a time over a plain or TLS connection (cql_io.h). Every length read
 * from the wire is checked, so a misbehaving server gives CAIRN_EPROTO and never a
 * crash.
 *
 * A connection is not thread-safe. After a transport or protocol error it is unusable
 * (its state on the wire is unknown); close it and connect again.
 */
#ifndef CAIRN_CQL_H
#define CAIRN_CQL_H

#include "base/err.h"
#include "node/cql_tls.h"

#include <stddef.h>
#include <stdint.h>

/* Frames larger than this are refused. */
#define CQL_MAX_FRAME (256u * 1024u * 1024u)

typedef struct cql_conn cql_conn;

/* One column value of a row; it points into the frame and lives only during the callback. */
typedef struct cql_value {
    const uint8_t *data;
    int32_t len; /* -1 = null */
} cql_value;

/* Called per row; a negative return stops the query and is returned by cql_query. */
typedef int (*cql_row_cb)(void *ctx, size_t ncols, const cql_value *cols, cairn_err *e);

/*
 * Connects and completes the handshake: TLS first when tls_or_null is on (cql_tls.h),
 * then CQL's. Credentials are used only if the server asks for authentication.
 * timeout_ms bounds the connect with its handshakes and every later request.
 */
int cql_connect(cql_conn **out, const char *host, int port, const char *user_or_null,
                const char *password_or_null, const cql_tls *tls_or_null, long timeout_ms,
                cairn_err *e);

/* Runs query at LOCAL_ONE, following pages until the last, calling cb per row. */
int cql_query(cql_conn *c, const char *query, cql_row_cb cb_or_null, void *ctx, cairn_err *e);

void cql_close(cql_conn *c);

/*
 * One object of DESCRIBE SCHEMA: keyspace is NULL for objects outside keyspaces
 * (roles, service levels); type is "keyspace", "table", "view", "index", "type",
 * "function", "aggregate", ...; name is "" if the server sent none.
 */
typedef int (*cql_schema_cb)(void *ctx, const char *keyspace_or_null, const char *type,
                             const char *name, const char *create_statement, cairn_err *e);

/* Runs DESCRIBE SCHEMA WITH INTERNALS (ScyllaDB 5.2+), calling cb per object. */
int cql_describe_schema(cql_conn *c, cql_schema_cb cb, void *ctx, cairn_err *e);

/*
 * The id of table ks.table as 32 lowercase hex digits (no dashes), as in the table's
 * data directory name. Names must pass names.h (NAME_KEYSPACE, NAME_TABLE) and are
 * quoted, so they cannot change the query. CAIRN_ENOENT if there is no such table.
 */
int cql_table_id(cql_conn *c, const char *ks, const char *table, char id32hex[33], cairn_err *e);

#endif
