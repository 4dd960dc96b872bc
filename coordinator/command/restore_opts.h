/*
 * restore_opts - the options of `cairn restore`, as the command line gives them.
 */
#ifndef CAIRN_RESTORE_OPTS_H
#define CAIRN_RESTORE_OPTS_H

#include <stdbool.h>

#include "cli/cliopt.h"
#include "command/restore_plan.h"

typedef struct restore_opts {
    const char *tag;
    const char *at; /* --at TIME, instead of a tag */
    uint64_t at_ms; /* at, parsed (relative to when the command started) */
    const char *metrics_file;
    const char *from_cluster;
    cliopt_common c;
    bool schema, no_data, into_nonempty, dry_run;
    bool auth; /* --auth: roles, service levels and grants too (alone without --schema) */
    restore_method method;
} restore_opts;

/* Parses argv into o (zeroed by the caller): 0, -1 after --help, or a CMD_ status after
 * printing what is wrong (a bad --at among them). The caller frees o->c with
 * cliopt_common_free either way. */
int restore_opts_parse(restore_opts *o, int argc, char **argv);

#endif
