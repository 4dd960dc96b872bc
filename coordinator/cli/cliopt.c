#include "cli/cliopt.h"

#include <stdio.h>
#include <stdlib.h>

#include "cmd.h"

int cliopt_parallel(const char *cmd, const char *arg, unsigned *out)
{
    char *end;
    unsigned long v = strtoul(arg, &end, 10);
    if (*end || *arg == '\0' || v == 0 || v > 1024) {
        fprintf(stderr, "cairn %s: --parallel takes a number of nodes, 1 to 1024\n", cmd);
        return CMD_USAGE;
    }
    *out = (unsigned)v;
    return 0;
}

int cliopt_filter(select_filter *f, bool include, const char *pattern)
{
    int rc = include ? select_add(&f->include, &f->n_include, pattern)
                     : select_add(&f->exclude, &f->n_exclude, pattern);
    if (rc) {
        fprintf(stderr, "cairn: out of memory\n");
        return CMD_FAILED;
    }
    return 0;
}
