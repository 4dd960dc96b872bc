/*
 * cql_split - cuts a CQL script into its statements.
 *
 * A CQL QUERY carries exactly one statement, but a schema object's create_statement
 * from DESCRIBE SCHEMA WITH INTERNALS may hold several (a table whose columns were
 * dropped is followed by ALTER TABLE ... DROP ... USING TIMESTAMP). Statements end at a
 * ';' outside '...' strings ('' inside is a quote), "..." identifiers ("" likewise),
 * $$...$$ bodies and -- , // and block comments. The text itself is never parsed
 * further.
 */
#ifndef CAIRN_CQL_SPLIT_H
#define CAIRN_CQL_SPLIT_H

#include "base/err.h"

#include <stddef.h>

/*
 * Called per statement, in order: stmt is NUL-terminated, without its ';' and the
 * whitespace around it, and lives only during the call. A negative return stops the
 * split and is returned by cql_split.
 */
typedef int (*cql_split_cb)(void *ctx, const char *stmt, cairn_err *e);

/*
 * Calls cb for every statement of text; pieces holding only whitespace and comments
 * are skipped. Text ending inside a string, identifier, $$ body or block comment is
 * CAIRN_EINVAL, before cb has seen the piece that holds it.
 */
int cql_split(const char *text, cql_split_cb cb, void *ctx, cairn_err *e);

#endif
