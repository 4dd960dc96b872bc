/*
 * select - which tables an operation covers, from --keyspace and --exclude globs.
 *
 * A pattern without a dot matches keyspaces ("sales*"); one with a dot matches
 * keyspace.table ("sales.orders_*"). No --keyspace means every user table.
 */
#ifndef CAIRN_SELECT_H
#define CAIRN_SELECT_H

#include <stdbool.h>
#include <stddef.h>

typedef struct select_filter {
    const char **include;
    size_t n_include;
    const char **exclude;
    size_t n_exclude;
} select_filter;

bool select_match(const select_filter *f, const char *keyspace, const char *table);

/* Appends pattern to list (realloc'd); returns 0 or CAIRN_ENOMEM. */
int select_add(const char ***list, size_t *n, const char *pattern);

#endif
