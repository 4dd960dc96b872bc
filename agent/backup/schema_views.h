/*
 * schema_views - the materialized views and secondary indexes of the schema, gathered
 * while it is dumped: a backup leaves their tables out (ScyllaDB builds them from their
 * base tables and refuses their SSTables in a load) and records them instead.
 *
 * system_schema.views lists every view, the view behind each index ("<index>_index")
 * too, with its base table; DESCRIBE's "index" objects tell the two apart.
 */
#ifndef CAIRN_SCHEMA_VIEWS_H
#define CAIRN_SCHEMA_VIEWS_H

#include <stddef.h>

#include "base/err.h"
#include "node/cql.h"
#include "repo.pb-c.h"

/* More views or indexes than this fail the dump: the answer is bounded. */
#define SCHEMA_VIEWS_MAX 65536u

typedef struct schema_views {
    char **index_views; /* "<keyspace>.<index>_index" of every index */
    size_t n_index_views;
    Cairn__Repo__ViewEntry **views;
    size_t n_views;
} schema_views;

/* Notes an "index" object of DESCRIBE (ScyllaDB's own keyspaces are skipped). */
int schema_views_note_index(schema_views *v, const char *keyspace_or_null, const char *name,
                            cairn_err *e);

/* Reads system_schema.views into v->views (user keyspaces, names a table can have). */
int schema_views_query(schema_views *v, cql_conn *c, cairn_err *e);

void schema_views_free(schema_views *v);

#endif
