/* certs_cmd - `cairn certs init|issue`: the cluster CA and its certificates. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "certs/certs.h"
#include "cli/cliopt.h"
#include "cli/cmdhelp.h"
#include "cmd.h"

/* The subcommand's options, --dir into *dir: -1 to go on, or the exit status after
 * --help or a bad option. */
static int parse_args(const char *name, int argc, char **argv, const struct option *opts,
                      const char **dir)
{
    int c;
    /* First pass: options only, so that --dir may come after the names. */
    optind = 1;
    while ((c = cliopt_getopt(argc, argv, opts)) != -1) {
        if (c == 'd') {
            *dir = optarg;
        } else if (c == 'h') {
            cliopt_help(name);
            return CMD_OK;
        } else if (c == '?' || c == ':') {
            return cliopt_bad(name, c, argv);
        }
    }
    if (!*dir || optind != argc) {
        fprintf(stderr, "cairn %s: --dir is required and no positional arguments are taken\n",
                name);
        cmdhelp_print_name(stderr, name);
        return CMD_USAGE;
    }
    return -1;
}

int cmd_certs(int argc, char **argv)
{
    const char *sub = argc >= 2 ? argv[1] : "";
    bool init = strcmp(sub, "init") == 0;
    if (!init && strcmp(sub, "issue") != 0) {
        if (*sub)
            fprintf(stderr, "cairn certs: unknown subcommand '%s'\n", sub);
        cmdhelp_print_name(stderr, "certs");
        return CMD_USAGE;
    }
    static const struct option init_opts[] = {{"dir", required_argument, NULL, 'd'},
                                              {"help", no_argument, NULL, 'h'},
                                              {NULL, 0, NULL, 0}};
    static const struct option issue_opts[] = {{"dir", required_argument, NULL, 'd'},
                                               {"agent", required_argument, NULL, 'a'},
                                               {"coordinator", required_argument, NULL, 'c'},
                                               {"help", no_argument, NULL, 'h'},
                                               {NULL, 0, NULL, 0}};
    const struct option *opts = init ? init_opts : issue_opts;
    const char *dir = NULL;
    /* Parsed from the subcommand on: glibc's getopt keeps state that a start past 1
     * confuses. */
    argc--;
    argv++;
    int rc = parse_args(init ? "certs init" : "certs issue", argc, argv, opts, &dir);
    if (rc >= 0)
        return rc;
    cairn_err e;
    err_clear(&e);
    if (init) {
        if (certs_init(dir, &e) != 0) {
            fprintf(stderr, "cairn certs init: %s\n", e.msg);
            return CMD_FAILED;
        }
        printf("created the cluster CA in %s (keep ca.key off the nodes)\n", dir);
        return CMD_OK;
    }
    int issued = 0, c;
    optind = 1;
    while ((c = cliopt_getopt(argc, argv, opts)) != -1) {
        if (c != 'a' && c != 'c')
            continue;
        if (certs_issue(dir, optarg, c == 'a', &e) != 0) {
            fprintf(stderr, "cairn certs issue: %s\n", e.msg);
            return CMD_FAILED;
        }
        printf("issued %s/%s.crt and %s/%s.key\n", dir, optarg, dir, optarg);
        issued++;
    }
    if (!issued) {
        fprintf(stderr, "cairn certs issue: name at least one --agent or --coordinator\n");
        return CMD_USAGE;
    }
    return CMD_OK;
}
