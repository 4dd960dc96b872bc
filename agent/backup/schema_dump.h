/*
 * schema_dump - the format of a schema dump, which backup/schema.c writes and
 * restore/schema_apply.c reads.
 *
 * The first line names the DESCRIBE that made the dump: only SCHEMA_DUMP_AUTH_LINE
 * promises roles with their salted hashes, grants and service levels. Then each object
 * is a header line, SCHEMA_DUMP_OBJECT "type keyspace name length", and its statement
 * of exactly length bytes. Keyspace and name are escaped (%XX for '%', spaces, control
 * bytes) since role names may hold anything; "-" stands for none. The length keeps a
 * statement from passing for headers (a role named "x\n-- cairn-object: ..." stays
 * inside its CREATE ROLE). Dumps of older cairn versions have no length: their
 * statements end at the next header.
 */
#ifndef CAIRN_SCHEMA_DUMP_H
#define CAIRN_SCHEMA_DUMP_H

#include <stdbool.h>
#include <stddef.h>

#define SCHEMA_DUMP_AUTH_LINE  "-- cairn schema dump (DESCRIBE SCHEMA WITH INTERNALS AND PASSWORDS)"
#define SCHEMA_DUMP_PLAIN_LINE "-- cairn schema dump (DESCRIBE SCHEMA WITH INTERNALS)"
#define SCHEMA_DUMP_OBJECT     "-- cairn-object: "
#define SCHEMA_DUMP_FIELD_MAX  1024 /* an escaped keyspace or name, with its NUL */

typedef struct schema_dump_header {
    char type[64];
    char keyspace[SCHEMA_DUMP_FIELD_MAX]; /* "-": none (roles, service levels) */
    char name[SCHEMA_DUMP_FIELD_MAX];
    bool has_length; /* false in dumps of older cairn versions */
    size_t length;
} schema_dump_header;

/* Escapes s into out (cap bytes); -1 if it does not fit. */
int schema_dump_encode(const char *s, char *out, size_t cap);

/* Parses the header line (without its newline) after SCHEMA_DUMP_OBJECT, unescaping
 * keyspace and name; -1 if it is malformed. */
int schema_dump_parse_header(const char *line, schema_dump_header *h);

/* Whether the dump that begins with text holds roles, grants and service levels. */
bool schema_dump_has_auth(const char *text);

#endif
