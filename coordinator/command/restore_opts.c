#include "command/restore_opts.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli/human.h"
#include "cmd.h"
#include "command/chain.h"
#include "scylla/names.h"

static int take_option(void *arg, int c, const char *val)
{
    restore_opts *o = arg;
    switch (c) {
    case 'f':
        o->from_cluster = val;
        return 0;
    case 'a':
        o->at = val;
        return 0;
    case 's':
        o->schema = true;
        return 0;
    case 'A':
        o->auth = true;
        return 0;
    case 'n':
        o->no_data = true;
        return 0;
    case 'i':
        o->into_nonempty = true;
        return 0;
    case 'd':
        o->dry_run = true;
        return 0;
    case 'M':
        o->metrics_file = val;
        return 0;
    default: /* 'm' */
        if (strcmp(val, "auto") == 0)
            o->method = METHOD_AUTO;
        else if (strcmp(val, "refresh") == 0)
            o->method = METHOD_REFRESH;
        else if (strcmp(val, "load-and-stream") == 0)
            o->method = METHOD_LAS;
        else {
            fprintf(stderr, "cairn restore: --method is auto, refresh or load-and-stream\n");
            return CMD_USAGE;
        }
        return 0;
    }
}

int restore_opts_parse(restore_opts *o, int argc, char **argv)
{
    static const struct option opts[] = {{"from-cluster", required_argument, NULL, 'f'},
                                         {"at", required_argument, NULL, 'a'},
                                         {"schema", no_argument, NULL, 's'},
                                         {"auth", no_argument, NULL, 'A'},
                                         {"no-data", no_argument, NULL, 'n'},
                                         {"method", required_argument, NULL, 'm'},
                                         {"into-nonempty", no_argument, NULL, 'i'},
                                         {"dry-run", no_argument, NULL, 'd'},
                                         {"metrics-file", required_argument, NULL, 'M'},
                                         {NULL, 0, NULL, 0}};
    int rc = cliopt_parse("restore", opts, take_option, o, &o->c, argc, argv);
    if (rc)
        return rc;
    if (optind + (o->at ? 0 : 1) != argc) {
        fprintf(stderr, "cairn restore: name one backup: a tag, `latest`, or --at TIME\n");
        return CMD_USAGE;
    }
    o->tag = o->at ? NULL : argv[optind];
    cairn_err e;
    if (o->at && chain_parse_time(o->at, human_now_ms(), &o->at_ms, &e) != 0) {
        fprintf(stderr, "cairn restore: --at: %s\n", e.msg);
        return CMD_USAGE;
    }
    if (o->from_cluster && !name_valid(NAME_CLUSTER, o->from_cluster)) {
        fprintf(stderr, "cairn restore: invalid cluster name '%s'\n", o->from_cluster);
        return CMD_USAGE;
    }
    return 0;
}
