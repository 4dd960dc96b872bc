#include "cli/select.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

static bool match_one(const char *pattern, const char *keyspace, const char *table)
{
    if (!strchr(pattern, '.'))
        return fnmatch(pattern, keyspace, 0) == 0;
    char full[256];
    snprintf(full, sizeof(full), "%s.%s", keyspace, table);
    return fnmatch(pattern, full, 0) == 0;
}

static bool match_any(const char **patterns, size_t n, const char *keyspace, const char *table)
{
    for (size_t i = 0; i < n; i++)
        if (match_one(patterns[i], keyspace, table))
            return true;
    return false;
}

bool select_match(const select_filter *f, const char *keyspace, const char *table)
{
    if (f->n_include && !match_any(f->include, f->n_include, keyspace, table))
        return false;
    return !match_any(f->exclude, f->n_exclude, keyspace, table);
}

int select_add(const char ***list, size_t *n, const char *pattern)
{
    const char **nl = realloc(*list, (*n + 1) * sizeof(char *));
    if (!nl)
        return CAIRN_ENOMEM;
    nl[(*n)++] = pattern;
    *list = nl;
    return 0;
}
