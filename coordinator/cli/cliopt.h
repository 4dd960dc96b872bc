/*
 * cliopt - options that several subcommands take in the same form.
 */
#ifndef CAIRN_CLIOPT_H
#define CAIRN_CLIOPT_H

#include "cli/select.h"

/* --parallel N: nodes at a time, 1 to 1024. Prints the problem under cmd's name. */
int cliopt_parallel(const char *cmd, const char *arg, unsigned *out);

/* --keyspace GLOB (include) or --exclude GLOB (!include) into f. */
int cliopt_filter(select_filter *f, bool include, const char *pattern);

#endif
