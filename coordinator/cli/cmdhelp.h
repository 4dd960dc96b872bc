/*
 * cmdhelp - what every `cairn` command and subcommand takes, in words: the one source
 * that `cairn --help`, `cairn CMD --help`, `cairn help CMD` and the messages about a
 * bad option print, so that help never needs a configuration and never drifts from
 * one place to another.
 */
#ifndef CAIRN_CMDHELP_H
#define CAIRN_CMDHELP_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* The help of name ("backup", or a subcommand as "certs issue"); NULL when there is
 * no such command. */
typedef struct cmdhelp cmdhelp;
const cmdhelp *cmdhelp_find(const char *name);

/* The help of the command argv names (argv[0] the command, argv[1] perhaps one of
 * its subcommands); NULL when argv[0] is no command. */
const cmdhelp *cmdhelp_of(int argc, char **argv);

/* The command's name, as cmdhelp_find takes it. */
const char *cmdhelp_name(const cmdhelp *h);

/*
 * The long options h describes, --help included, as getopt_long takes them: into opts
 * (room for cap, the last left all zero), their names copied into names (names_cap
 * bytes). Returns how many, or 0 when they do not fit. A value word after the flag
 * ("--tag T") makes it required_argument, "[=...]" optional_argument.
 */
size_t cmdhelp_getopt_table(const cmdhelp *h, struct option *opts, size_t cap, char *names,
                            size_t names_cap);

/* "usage: cairn NAME ARGS", what the command does, and every option with
 * one line on what it does. */
void cmdhelp_print(FILE *f, const cmdhelp *h);

/* cmdhelp_print of cmdhelp_find(name), which must exist. */
void cmdhelp_print_name(FILE *f, const char *name);

/* `cairn --help`: the global options and one entry per command. */
void cmdhelp_overview(FILE *f);

/* Whether argv (argv[0] the command) asks for help: -h or --help anywhere before a
 * `--`. Looked at before the configuration is loaded. */
bool cmdhelp_wanted(int argc, char **argv);

#endif
