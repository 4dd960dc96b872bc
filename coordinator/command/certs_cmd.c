/* certs_cmd - `cairn certs init|issue`: the cluster CA and its certificates. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "certs/certs.h"
#include "cmd.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: cairn certs init --dir DIR\n"
               "       cairn certs issue --dir DIR [--agent HOST]... [--coordinator NAME]...\n");
}

int cmd_certs(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CMD_USAGE;
    }
    const char *sub = argv[1];
    static const struct option opts[] = {{"dir", required_argument, NULL, 'd'},
                                         {"agent", required_argument, NULL, 'a'},
                                         {"coordinator", required_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *dir = NULL;
    int c;
    /* First pass: options only, so that --dir may come after the names. */
    optind = 2;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'd') {
            dir = optarg;
        } else if (c == 'h') {
            usage(stdout);
            return CMD_OK;
        } else if (c == '?') {
            usage(stderr);
            return CMD_USAGE;
        }
    }
    if (!dir || optind != argc) {
        fprintf(stderr, "cairn certs: --dir is required and no positional arguments are taken\n");
        usage(stderr);
        return CMD_USAGE;
    }
    cairn_err e;
    err_clear(&e);
    if (strcmp(sub, "init") == 0) {
        if (certs_init(dir, &e) != 0) {
            fprintf(stderr, "cairn certs init: %s\n", e.msg);
            return CMD_FAILED;
        }
        printf("created the cluster CA in %s (keep ca.key off the nodes)\n", dir);
        return CMD_OK;
    }
    if (strcmp(sub, "issue") != 0) {
        usage(stderr);
        return CMD_USAGE;
    }
    int issued = 0;
    optind = 2;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
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
