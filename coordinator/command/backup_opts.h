/*
 * backup_opts - the options of `cairn backup`, as the command line gives them.
 */
#ifndef CAIRN_BACKUP_OPTS_H
#define CAIRN_BACKUP_OPTS_H

#include <stdbool.h>
#include <stdint.h>

#include "cli/cliopt.h"

typedef struct backup_opts {
    char tag[160];
    cliopt_common c;
    bool keep_snapshot;
    bool no_retention;
    bool incremental; /* --incremental: backups/ since the last backup, no snapshot */
    bool no_flush;
    uint64_t rate_limit;
    const char *metrics_file;
} backup_opts;

/* Parses argv into o (zeroed by the caller): 0, -1 after --help, or a CMD_ status after
 * printing what is wrong. A tag left out is the default one (backup_default_tag). The
 * caller frees o->c with cliopt_common_free either way. */
int backup_opts_parse(backup_opts *o, int argc, char **argv);

#endif
