/*
 * names - validation of names that arrive from the network or from users, before
 * they become part of a path or an object key.
 *
 * Every rule keeps "/", "\0", "." and ".." out, and every name fits one path
 * component (255 bytes), whatever the rest of the rule allows.
 */
#ifndef CAIRN_NAMES_H
#define CAIRN_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

typedef enum {
    /* ScyllaDB keyspaces and tables: letters, digits and "_", which is what CQL creates,
     * plus "." and "-", which Alternator tables have (keyspace "alternator_<table>").
     * Up to 222 bytes: recent ScyllaDB allows 192 in CQL (48 before), and Alternator
     * tables made by older versions reach 222. The names of Alternator's index views
     * ("t:gsi") are refused. */
    NAME_KEYSPACE,
    NAME_TABLE,
    NAME_TAG,          /* snapshot/backup tag: [A-Za-z0-9_.-]{1,128}, not leading "." or "-" */
    NAME_CLUSTER,      /* cairn's name for the cluster: [A-Za-z0-9][A-Za-z0-9_.-]{0,63} */
    NAME_HOST_ID,      /* ScyllaDB host id: lowercase UUID, 8-4-4-4-12 */
    NAME_TABLE_ID,     /* table id as in directory names: 32 lowercase hex digits */
    NAME_BLOB_ID,      /* SHA-256 in lowercase hex: 64 digits */
    NAME_SSTABLE_FILE, /* "<version>-<generation>-<format>-<component>", e.g. me-1-big-Data.db */
} name_kind;

bool name_valid(name_kind kind, const char *s);

/* Returns 0 when s is valid; otherwise CAIRN_EINVAL with a message that says what the
 * rule is ("invalid keyspace name 'x': use ..."). s may be NULL. */
int name_check(name_kind kind, const char *s, cairn_err *e);

/* name_check of a keyspace, then of a table in it: the pair a request names. */
int name_check_table(const char *keyspace, const char *table, cairn_err *e);

/* Writes s into buf (of cap bytes) fit for a message: non-printable bytes, quotes and
 * backslashes escaped as \xNN, cut after 64 characters with "...". */
void name_sanitize(const char *s, char *buf, size_t cap);

#endif
