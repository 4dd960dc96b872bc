#include "command/backup_opts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/human.h"
#include "cmd.h"
#include "command/backup_guard.h"
#include "scylla/names.h"

static int take_option(void *arg, int c, const char *val)
{
    backup_opts *o = arg;
    char *end = NULL;
    switch (c) {
    case 't':
        if (!name_valid(NAME_TAG, val)) {
            fprintf(stderr,
                    "cairn backup: invalid tag '%s': use 1 to 128 letters, digits, "
                    "'_', '.' or '-'\n",
                    val);
            return CMD_USAGE;
        }
        snprintf(o->tag, sizeof(o->tag), "%s", val);
        return 0;
    case 's':
        o->keep_snapshot = true;
        return 0;
    case 'R':
        o->no_retention = true;
        return 0;
    case 'I':
        o->incremental = true;
        return 0;
    case 'F':
        o->no_flush = true;
        return 0;
    case 'M':
        o->metrics_file = val;
        return 0;
    default: { /* 'r' */
        double mib = strtod(val, &end);
        if (*end || mib <= 0) {
            fprintf(stderr, "cairn backup: --rate-limit takes MiB/s per node, e.g. 100\n");
            return CMD_USAGE;
        }
        o->rate_limit = (uint64_t)(mib * 1048576.0);
        return 0;
    }
    }
}

int backup_opts_parse(backup_opts *o, int argc, char **argv)
{
    static const struct option opts[] = {
        {"tag", required_argument, NULL, 't'},          {"keep-snapshot", no_argument, NULL, 's'},
        {"rate-limit", required_argument, NULL, 'r'},   {"no-retention", no_argument, NULL, 'R'},
        {"metrics-file", required_argument, NULL, 'M'}, {"incremental", no_argument, NULL, 'I'},
        {"no-flush", no_argument, NULL, 'F'},           {NULL, 0, NULL, 0}};
    int rc = cliopt_parse("backup", opts, take_option, o, &o->c, argc, argv);
    if (rc)
        return rc;
    if (optind != argc) {
        fprintf(stderr, "cairn backup: unexpected argument '%s'\n", argv[optind]);
        return CMD_USAGE;
    }
    if (o->no_flush && !o->incremental) {
        fprintf(stderr, "cairn backup: --no-flush is for --incremental: a full backup's "
                        "snapshot needs the memtables flushed\n");
        return CMD_USAGE;
    }
    if (!o->tag[0])
        backup_default_tag(human_now_ms(), o->tag, sizeof(o->tag));
    return 0;
}
