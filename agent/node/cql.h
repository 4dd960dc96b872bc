/*
 * cql - a minimal CQL native protocol v4 client for the agent's local ScyllaDB.
 *
 * The agent only needs the schema (DESCRIBE SCHEMA, and the statements that create it)
 * and table ids, so this speaks the few messages those take: STARTUP, SASL PLAIN
 * authentication and QUERY with paging, one request at a time over a plain or TLS
 * connection (cql_io.h). Every length read from the wire is checked, so a misbehaving
 * server gives CAIRN_EPROTO and never a crash.
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

#define CQL_DESCRIBE_PASSWORDS_TEXT "DESCRIBE SCHEMA WITH INTERNALS AND PASSWORDS"
#define CQL_DESCRIBE_INTERNALS_TEXT "DESCRIBE SCHEMA WITH INTERNALS"

/* Which DESCRIBE answered, and so whether the roles (with their hashes) are in it. */
typedef enum cql_describe_form {
    CQL_DESCRIBE_PASSWORDS,     /* ... AND PASSWORDS: roles, grants, service levels */
    CQL_DESCRIBE_OLD_SCYLLA,    /* ... WITH INTERNALS: ScyllaDB before 2025.1 */
    CQL_DESCRIBE_NOT_SUPERUSER, /* ... WITH INTERNALS: the user may not read the hashes */
} cql_describe_form;

/*
 * Runs DESCRIBE SCHEMA WITH INTERNALS AND PASSWORDS (ScyllaDB 2025.1+: the schema, the
 * roles with their salted hashes, the grants and the service levels), calling cb per
 * object. When ScyllaDB refuses it (a syntax error before 2025.1, or a user that is no
 * superuser) it runs DESCRIBE SCHEMA WITH INTERNALS (5.2+) instead; *form says which,
 * and is set before cb sees the first object of either.
 */
int cql_describe_schema(cql_conn *c, cql_schema_cb cb, void *ctx, cql_describe_form *form,
                        cairn_err *e);

/*
 * Runs a statement that holds a secret (a role's salted hash), expecting no rows. An
 * error names it by label and leaves out what ScyllaDB quotes back of it, so the
 * secret reaches no message or log.
 */
int cql_query_secret(cql_conn *c, const char *query, const char *label, cairn_err *e);

/*
 * The id of table ks.table as 32 lowercase hex digits (no dashes), as in the table's
 * data directory name. Names must pass names.h (NAME_KEYSPACE, NAME_TABLE) and are
 * quoted, so they cannot change the query. CAIRN_ENOENT if there is no such table.
 */
int cql_table_id(cql_conn *c, const char *ks, const char *table, char id32hex[33], cairn_err *e);

#endif
