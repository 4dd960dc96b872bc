/*
 * cliopt - the options that several subcommands take in the same form, and the one
 * parser that reads them: --keyspace and --exclude globs, --parallel, --json, --help.
 *
 * A command hands its own options to cliopt_parse as a getopt_long table and a
 * function that takes them; the values 'k', 'x', 'p', 'j' and 'h' are the common ones.
 * Commands that parse on their own use cliopt_getopt and cliopt_bad, so that every
 * command words a bad option the same way, and --help prints cmdhelp's text.
 */
#ifndef CAIRN_CLIOPT_H
#define CAIRN_CLIOPT_H

#include <getopt.h>
#include <stdbool.h>

#include "cli/cmdhelp.h"
#include "cli/select.h"

/* The parallelism a command gets when --parallel is not given. */
#define CLIOPT_PARALLEL_DEFAULT 16

typedef struct cliopt_common {
    select_filter filter; /* free with cliopt_common_free */
    unsigned parallel;
    bool json;
} cliopt_common;

/* Takes one of the command's own options (val as in its table); returns 0, or a CMD_
 * status after printing the problem. */
typedef int (*cliopt_fn)(void *arg, int val, const char *optarg);

/*
 * Parses argv (argv[0] the command) for `cairn cmd`: the common options into o, the
 * command's own (extra, NULL-terminated, at most 16) through fn. Returns 0 with optind
 * at the first positional argument, -1 after printing usage for --help, or a CMD_
 * status for a bad option.
 */
int cliopt_parse(const char *cmd, const struct option *extra, cliopt_fn fn, void *arg,
                 cliopt_common *o, int argc, char **argv);

/* getopt_long over opts with getopt's own messages off: returns as getopt_long does,
 * '?' for an unknown option and ':' for one that lacks its value. */
int cliopt_getopt(int argc, char **argv, const struct option *opts);

/* After cliopt_getopt returned c ('?' or ':'): prints "cairn CMD: unknown option
 * '--x'" (or "option '--tag' needs a value") and cmd's usage on stderr; returns
 * CMD_USAGE. */
int cliopt_bad(const char *cmd, int c, char **argv);

/*
 * Before the configuration is loaded: the options of argv (argv[0] the command, or the
 * subcommand h names) against those cmdhelp describes for h, so that a bad option is
 * named even where no configuration is, and no command takes an option its help does
 * not describe. Returns 0, or CMD_USAGE after cliopt_bad.
 */
int cliopt_precheck(const cmdhelp *h, int argc, char **argv);

/* --help: cmd's usage on stdout. Returns -1, as cliopt_parse does for it. */
int cliopt_help(const char *cmd);

void cliopt_common_free(cliopt_common *o);

/* --parallel N: nodes at a time, 1 to 1024. Prints the problem under cmd's name. */
int cliopt_parallel(const char *cmd, const char *arg, unsigned *out);

/* --keyspace GLOB (include) or --exclude GLOB (!include) into f. */
int cliopt_filter(select_filter *f, bool include, const char *pattern);

#endif
