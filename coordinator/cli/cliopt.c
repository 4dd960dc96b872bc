#include "cli/cliopt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/debug.h"
#include "cli/cmdhelp.h"
#include "cmd.h"

#define CLIOPT_MAX_EXTRA 16

static const struct option common_opts[] = {
    {"keyspace", required_argument, NULL, 'k'}, {"exclude", required_argument, NULL, 'x'},
    {"parallel", required_argument, NULL, 'p'}, {"json", no_argument, NULL, 'j'},
    {"help", no_argument, NULL, 'h'},
};

#define N_COMMON (sizeof(common_opts) / sizeof(common_opts[0]))

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

int cliopt_getopt(int argc, char **argv, const struct option *opts)
{
    opterr = 0;
    return getopt_long(argc, argv, ":h", opts, NULL);
}

int cliopt_bad(const char *cmd, int c, char **argv)
{
    const char *arg = optind > 0 ? argv[optind - 1] : "";
    bool is_long = strncmp(arg, "--", 2) == 0;
    int name_len = (int)strcspn(arg, "=");
    if (c == ':' && is_long)
        fprintf(stderr, "cairn %s: option '%.*s' needs a value\n", cmd, name_len, arg);
    else if (c == ':')
        fprintf(stderr, "cairn %s: option '-%c' needs a value\n", cmd, optopt);
    else if (is_long && optopt && arg[name_len] == '=')
        fprintf(stderr, "cairn %s: option '%.*s' takes no value\n", cmd, name_len, arg);
    else if (is_long)
        fprintf(stderr, "cairn %s: unknown option '%.*s'\n", cmd, name_len, arg);
    else
        fprintf(stderr, "cairn %s: unknown option '-%c'\n", cmd, optopt);
    cmdhelp_print_name(stderr, cmd);
    return CMD_USAGE;
}

int cliopt_precheck(const cmdhelp *h, int argc, char **argv)
{
    struct option opts[32];
    char names[512];
    size_t n = cmdhelp_getopt_table(h, opts, sizeof(opts) / sizeof(opts[0]), names, sizeof(names));
    CAIRN_ASSERT(n > 0);
    int c;
    optind = 1;
    while ((c = cliopt_getopt(argc, argv, opts)) != -1)
        if (c == '?' || c == ':')
            return cliopt_bad(cmdhelp_name(h), c, argv);
    return 0;
}

int cliopt_help(const char *cmd)
{
    cmdhelp_print_name(stdout, cmd);
    return -1;
}

static int take_common(const char *cmd, int c, cliopt_common *o, char **argv)
{
    switch (c) {
    case 'k':
    case 'x':
        return cliopt_filter(&o->filter, c == 'k', optarg);
    case 'p':
        return cliopt_parallel(cmd, optarg, &o->parallel);
    case 'j':
        o->json = true;
        return 0;
    case 'h':
        return cliopt_help(cmd);
    default:
        return cliopt_bad(cmd, c, argv);
    }
}

int cliopt_parse(const char *cmd, const struct option *extra, cliopt_fn fn, void *arg,
                 cliopt_common *o, int argc, char **argv)
{
    struct option opts[N_COMMON + CLIOPT_MAX_EXTRA + 1];
    size_t n = 0;
    for (; n < N_COMMON; n++)
        opts[n] = common_opts[n];
    for (size_t i = 0; extra && extra[i].name; i++) {
        CAIRN_ASSERT(i < CLIOPT_MAX_EXTRA && !strchr("kxpjh", extra[i].val));
        opts[n++] = extra[i];
    }
    opts[n] = (struct option){NULL, 0, NULL, 0};
    o->parallel = CLIOPT_PARALLEL_DEFAULT;
    int c;
    optind = 1;
    while ((c = cliopt_getopt(argc, argv, opts)) != -1) {
        bool own = c != '?' && c != ':' && !strchr("kxpjh", c);
        int rc = own ? fn(arg, c, optarg) : take_common(cmd, c, o, argv);
        if (rc)
            return rc;
    }
    return 0;
}

void cliopt_common_free(cliopt_common *o)
{
    free(o->filter.include);
    free(o->filter.exclude);
    memset(&o->filter, 0, sizeof(o->filter));
}
